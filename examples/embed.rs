//! Embedding netlens in an application that already has its own wgpu instance, adapter, device
//! and queue (a renderer, say): netlens creates no device, runs SqueezeNet on a photo, returns
//! the logits on the host, and leaves the input gradient in a `wgpu::Buffer` that the
//! application uses directly with its own encoder and its own compute shader, which turns it into
//! a saliency map in the application's own texture.
//!
//! ```sh
//! cargo run --release --example embed -- [photo.jpg] [saliency.png]
//! ```
//! (defaults: the king penguin of the gallery, `out/embed-saliency.png`).

use std::path::PathBuf;

use netlens::classes::ClassNames;
use netlens::classify::{argmax, softmax, top_k};
use netlens::figure::Colormap;
use netlens::model::{GradientRule, ModelKind};
use netlens::preprocess::load_input;
use netlens::{GpuContext, GpuOptions};

/// The application's own shader: saliency = max over the three channels of |gradient|, written
/// to an r32float storage texture.
const SALIENCY_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var saliency: texture_storage_2d<r32float, write>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = textureDimensions(saliency);
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    let plane = size.x * size.y;
    let i = id.y * size.x + id.x;
    let m = max(abs(grad[i]), max(abs(grad[plane + i]), abs(grad[2u * plane + i])));
    textureStore(saliency, vec2<i32>(id.xy), vec4<f32>(m, 0.0, 0.0, 1.0));
}
"#;

const SIZE: u32 = 224;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let photo = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| netlens::app::data::gallery_dir().join("n02056570_king_penguin.jpg"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("out/embed-saliency.png"));

    // ---- The application's own wgpu setup: netlens is not involved. ----
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    if let Some(backends) = GpuOptions::from_env().backends {
        desc.backends = backends;
    }
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("my application"),
        // Whatever the application needs; netlens checks that it is enough for its kernels.
        required_limits: wgpu::Limits::default(),
        ..Default::default()
    }))?;
    println!("application device on {}", adapter.get_info().name);

    // ---- Hand the device and queue to netlens (clones are handles to the same device). ----
    let ctx = GpuContext::from_device(device.clone(), queue.clone())?
        .with_adapter_info(adapter.get_info());
    let net = ModelKind::SqueezeNet.network(&ctx, None)?;
    assert!(
        net.context().device() == &device,
        "netlens works on the application's device"
    );
    let plan = net.plan(1, (SIZE as usize, SIZE as usize))?;
    let classes = ClassNames::load_default()?;
    let x = load_input(&photo, SIZE as usize)?;

    // 1. Logits on the host, through netlens's own submission and readback.
    let logits = pollster::block_on(plan.forward(&x))?;
    println!("{}:", photo.display());
    for p in top_k(&softmax(&logits), 5) {
        println!("  {:<28} {:6.2}%", classes.name(p.index), 100.0 * p.prob);
    }
    let class = argmax(&logits);

    // 2. The input gradient stays on the GPU: the application seeds d(logit of the top class),
    //    records netlens's forward and backward passes into ITS OWN encoder, then its own
    //    compute pass reads `plan.input_grad().buffer` and writes its own texture.
    let mut one_hot = vec![0.0f32; logits.len()];
    one_hot[class] = 1.0;
    queue.write_buffer(&plan.input().buffer, 0, bytemuck::cast_slice(&x));
    queue.write_buffer(
        &plan.logits_grad().buffer,
        0,
        bytemuck::cast_slice(&one_hot),
    );

    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("saliency texture"),
        size: wgpu::Extent3d {
            width: SIZE,
            height: SIZE,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::R32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("saliency"),
        source: wgpu::ShaderSource::Wgsl(SALIENCY_WGSL.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("saliency"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let view = texture.create_view(&Default::default());
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("saliency"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: plan.input_grad().buffer.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&view),
            },
        ],
    });
    // Rows of a texture copy are padded to 256 bytes.
    let row_bytes = (SIZE * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("saliency readback"),
        size: u64::from(row_bytes * SIZE),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    let mut encoder = device.create_command_encoder(&Default::default());
    plan.record_forward(&mut encoder);
    plan.record_backward(&mut encoder, GradientRule::Plain);
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(SIZE.div_ceil(16), SIZE.div_ceil(16), 1);
    }
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row_bytes),
                rows_per_image: None,
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);
    readback.map_async(wgpu::MapMode::Read, .., |r| {
        r.expect("map the readback buffer")
    });
    device.poll(wgpu::PollType::wait_indefinitely())?;
    let saliency: Vec<f32> = {
        let mapped = readback.get_mapped_range(..)?;
        mapped
            .chunks(row_bytes as usize)
            .flat_map(|row| bytemuck::cast_slice::<u8, f32>(&row[..SIZE as usize * 4]).to_vec())
            .collect()
    };
    readback.unmap();

    // The same map through netlens's host path, to show the two agree.
    let (_, grad) = pollster::block_on(plan.gradient(&x, &one_hot, GradientRule::Plain))?;
    let plane = (SIZE * SIZE) as usize;
    let host: Vec<f32> = (0..plane)
        .map(|i| {
            (0..3)
                .map(|c| grad[c * plane + i].abs())
                .fold(0.0, f32::max)
        })
        .collect();
    let max_diff = saliency
        .iter()
        .zip(&host)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let peak = host.iter().copied().fold(0.0, f32::max);
    println!(
        "saliency for `{}` made by the application's shader from netlens's gradient buffer: \
         peak {peak:.3e}, largest difference from the host path {max_diff:.1e}",
        classes.name(class)
    );
    if max_diff > 1e-6 * peak {
        return Err("the texture and the host path disagree".into());
    }

    let picture = Colormap::Hot.render(&saliency, SIZE as usize, SIZE as usize, None);
    netlens::app::output::save_png(&picture, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
