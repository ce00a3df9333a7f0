//! netlens on a device the caller created (as `examples/embed.rs` does at full size): its passes
//! recorded into the caller's encoder, and its gradient buffer copied by the caller's commands.

mod common;

use common::{data_dir, rel_l2};
use netlens::app::manifest::Manifest;
use netlens::model::{Arch, GradientRule, Network, Weights};
use netlens::{GpuContext, GpuOptions};

#[test]
fn a_callers_device_runs_netlens_passes_in_the_callers_encoder() {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = GpuOptions::from_env()
        .backends
        .unwrap_or(wgpu::Backends::PRIMARY);
    let instance = wgpu::Instance::new(desc);
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application"),
        required_limits: wgpu::Limits::default(),
        ..Default::default()
    }))
    .unwrap();

    let ctx = GpuContext::from_device(device.clone(), queue.clone()).unwrap();
    assert_eq!(ctx.adapter_name(), "external device");
    let ctx = ctx.with_adapter_info(adapter.get_info());
    assert!(ctx.adapter_name().starts_with(&adapter.get_info().name));
    assert_eq!(Manifest::new(&ctx).adapter, ctx.adapter_name());

    let weights = Weights::load(&data_dir().join("weights/squeezenet1_1.safetensors")).unwrap();
    let net = Network::new(&ctx, Arch::squeezenet1_1(1000), &weights).unwrap();
    assert!(net.context().device() == &device);
    let plan = net.plan(1, (64, 64)).unwrap();
    let x = common::random(3 * 64 * 64, 11, 2.0);
    let mut seed = vec![0.0f32; 1000];
    seed[145] = 1.0;

    // The caller's commands: its queue writes, its encoder records netlens's passes and a copy
    // of the gradient into the caller's own buffer, its submission, its mapping.
    queue.write_buffer(&plan.input().buffer, 0, bytemuck::cast_slice(&x));
    queue.write_buffer(&plan.logits_grad().buffer, 0, bytemuck::cast_slice(&seed));
    let bytes = plan.input_grad().buffer.size();
    let mine = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("application's copy"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    plan.record_forward(&mut encoder);
    plan.record_backward(&mut encoder, GradientRule::Plain);
    encoder.copy_buffer_to_buffer(&plan.input_grad().buffer, 0, &mine, 0, bytes);
    queue.submit([encoder.finish()]);
    mine.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let copied: Vec<f32> = bytemuck::cast_slice(&mine.get_mapped_range(..).unwrap()).to_vec();

    // netlens's own host path on the same plan gives the same gradient.
    let (logits, grad) = pollster::block_on(plan.gradient(&x, &seed, GradientRule::Plain)).unwrap();
    assert_eq!(logits.len(), 1000);
    assert!(grad.iter().any(|&g| g != 0.0));
    assert_eq!(rel_l2(&copied, &grad), 0.0);
}
