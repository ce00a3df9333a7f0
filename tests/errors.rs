//! Every way a run can go wrong ends in an error that names its cause: broken weights files,
//! images that need converting (and must work), no adapter, buffers over the device's limits,
//! GPU errors and lost devices, loops that diverge. (Loader-only cases without a GPU are unit
//! tests beside the code: `model::weights`, `preprocess`, `classes`, `error`.)

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{ctx, data_dir, rel_l2};
use image::{DynamicImage, ImageBuffer, Luma, Rgb, Rgba};
use indicatif::ProgressBar;
use netlens::classify::{argmax, logits, logits_of_files};
use netlens::error::check_finite;
use netlens::gpu::ImageBatch;
use netlens::gpu::{Kernel, Shader};
use netlens::model::{Arch, GradientRule, ModelKind, Network, Weights};
use netlens::preprocess::{load_input, load_rgb};
use netlens::{Error, GpuContext, GpuOptions};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn squeezenet_file() -> PathBuf {
    data_dir().join("weights/squeezenet1_1.safetensors")
}

fn squeezenet_weights() -> &'static Weights {
    static W: OnceLock<Weights> = OnceLock::new();
    W.get_or_init(|| Weights::load(&squeezenet_file()).unwrap())
}

/// One tensor of a weights file being written: name, dtype, shape, little-endian bytes.
type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

/// The real SqueezeNet tensors as f32 entries.
fn squeezenet_entries() -> Vec<Entry> {
    let w = squeezenet_weights();
    w.names()
        .map(|name| {
            let t = w.get(name).unwrap();
            let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.to_string(), Dtype::F32, t.shape.clone(), bytes)
        })
        .collect()
}

/// Writes the SqueezeNet tensors, changed by `edit`, to `dir/name`.
fn write_variant(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<Entry>)) -> PathBuf {
    let mut entries = squeezenet_entries();
    edit(&mut entries);
    let views: Vec<(String, TensorView)> = entries
        .iter()
        .map(|(n, dtype, shape, bytes)| {
            (
                n.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

/// The entry called `name`.
fn entry<'e>(entries: &'e mut [Entry], name: &str) -> &'e mut Entry {
    entries.iter_mut().find(|e| e.0 == name).unwrap()
}

/// The error of loading SqueezeNet from `path`, as text.
fn network_error(path: &Path) -> String {
    let err = ModelKind::SqueezeNet
        .network(ctx(), Some(path))
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    err
}

#[test]
fn broken_weights_files_name_file_tensor_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let shape_of = |name: &str| squeezenet_weights().get(name).unwrap().shape.clone();

    // Missing tensor.
    let path = write_variant(dir.path(), "missing.safetensors", |e| {
        e.retain(|e| e.0 != "features.9.expand3x3.weight")
    });
    let err = network_error(&path);
    let expected = shape_of("features.9.expand3x3.weight");
    assert!(
        err.starts_with(&format!("weights file {}", path.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "tensor `features.9.expand3x3.weight` is missing (expected shape {expected:?})"
        )),
        "{err}"
    );
    assert!(err.ends_with("the set holds 51 other tensors"), "{err}");
    // A typo in a key is answered with the closest name.
    let path = write_variant(dir.path(), "typo.safetensors", |e| {
        entry(e, "classifier.1.weight").0 = "clasifier.1.weight".into()
    });
    let err = network_error(&path);
    assert!(err.contains("did you mean `clasifier.1.weight`?"), "{err}");
    // VGG16 weights given to SqueezeNet (the first convolutions have the same shape).
    let vgg = Weights::formula(&Arch::vgg16(10).tensor_specs()[..4]);
    let err = Network::new(ctx(), Arch::squeezenet1_1(1000), &vgg)
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(
        err.starts_with("formula weights: tensor `features.3.squeeze.weight` is missing")
            && err.ends_with(
                "; 50 of the 52 tensors of squeezenet1_1 are missing (weights of another model?)"
            ),
        "{err}"
    );

    // Keys saved under a wrapper module.
    let path = write_variant(dir.path(), "prefixed.safetensors", |e| {
        e.iter_mut().for_each(|e| e.0 = format!("module.{}", e.0))
    });
    let err = network_error(&path);
    assert!(err.contains("strip the prefix `module.`"), "{err}");

    // Wrong shape: the classifier stored as a matrix, and a 10-class classifier.
    let path = write_variant(dir.path(), "matrix.safetensors", |e| {
        entry(e, "classifier.1.weight").2 = vec![1000, 512]
    });
    let err = network_error(&path);
    assert!(
        err.contains("matrix.safetensors")
            && err.contains(
                "tensor `classifier.1.weight` has shape [1000, 512], expected [1000, 512, 1, 1]"
            ),
        "{err}"
    );
    let path = write_variant(dir.path(), "ten_classes.safetensors", |e| {
        let w = entry(e, "classifier.1.weight");
        w.2 = vec![10, 512, 1, 1];
        w.3.truncate(10 * 512 * 4);
    });
    let err = network_error(&path);
    assert!(
        err.contains("has shape [10, 512, 1, 1], expected [1000, 512, 1, 1]"),
        "{err}"
    );

    // NaN and infinity.
    let path = write_variant(dir.path(), "nan.safetensors", |e| {
        entry(e, "features.0.bias").3[20..24].copy_from_slice(&f32::NAN.to_le_bytes())
    });
    let err = network_error(&path);
    assert!(
        err.contains(
            "nan.safetensors: tensor `features.0.bias` holds a non-finite value (NaN) at element 5"
        ),
        "{err}"
    );
    let path = write_variant(dir.path(), "inf.safetensors", |e| {
        entry(e, "features.12.squeeze.weight").3[..4]
            .copy_from_slice(&f32::NEG_INFINITY.to_le_bytes())
    });
    let err = network_error(&path);
    assert!(
        err.contains(
            "tensor `features.12.squeeze.weight` holds a non-finite value (-inf) at element 0"
        ),
        "{err}"
    );

    // An integer dtype.
    let path = write_variant(dir.path(), "int.safetensors", |e| {
        entry(e, "features.0.bias").1 = Dtype::I32
    });
    let err = network_error(&path);
    assert!(
        err.contains("int.safetensors: tensor `features.0.bias` has dtype I32"),
        "{err}"
    );

    // Truncated, and not a weights file at all.
    let bytes = std::fs::read(squeezenet_file()).unwrap();
    let path = dir.path().join("cut.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let err = network_error(&path);
    assert!(
        err.contains("cut.safetensors: truncated: header says") && err.contains("bytes of data"),
        "{err}"
    );
    let photo = netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg");
    let err = network_error(&photo);
    assert!(
        err.contains("n01443537_goldfish.jpg: not a safetensors file"),
        "{err}"
    );
    // A missing file says how to get one.
    let err = network_error(&dir.path().join("absent.safetensors"));
    assert!(err.contains("absent.safetensors: not found"), "{err}");
}

#[test]
fn half_precision_weights_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_variant(dir.path(), "f16.safetensors", |entries| {
        for e in entries.iter_mut() {
            e.1 = Dtype::F16;
            e.3 =
                e.3.chunks_exact(4)
                    .flat_map(|b| {
                        half::f16::from_f32(f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes()
                    })
                    .collect();
        }
    });
    let net = ModelKind::SqueezeNet.network(ctx(), Some(&path)).unwrap();
    let reference = Network::new(ctx(), Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let x = load_input(
        &netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg"),
        224,
    )
    .unwrap();
    let got = pollster::block_on(net.plan(1, (224, 224)).unwrap().forward(&x)).unwrap();
    let want = pollster::block_on(reference.plan(1, (224, 224)).unwrap().forward(&x)).unwrap();
    // The file's weights went through fp16 once already: converting again changes little.
    let e = rel_l2(&got, &want);
    eprintln!("f16 weights: logits relative L2 error {e:.2e}");
    assert!(e < 1e-3, "{e}");
    assert_eq!(argmax(&got), 1);
}

/// Saves `img` as PNG in `dir` and returns the path.
fn save(dir: &Path, name: &str, img: DynamicImage) -> PathBuf {
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

#[test]
fn gray_rgba_16_bit_and_tiny_images_work() {
    let dir = tempfile::tempdir().unwrap();
    let photo =
        load_rgb(&netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg")).unwrap();
    let gray = DynamicImage::ImageRgb8(photo.clone()).to_luma8();
    let (w, h) = photo.dimensions();
    let files = [
        save(
            dir.path(),
            "rgb.png",
            DynamicImage::ImageRgb8(photo.clone()),
        ),
        save(
            dir.path(),
            "rgba.png",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| {
                let p = photo.get_pixel(x, y).0;
                Rgba([p[0], p[1], p[2], (x + y) as u8])
            })),
        ),
        save(
            dir.path(),
            "rgb16.png",
            DynamicImage::ImageRgb16(ImageBuffer::from_fn(w, h, |x, y| {
                Rgb(photo.get_pixel(x, y).0.map(|v| v as u16 * 257))
            })),
        ),
        save(
            dir.path(),
            "gray_as_rgb.png",
            DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
                Rgb([gray.get_pixel(x, y)[0]; 3])
            })),
        ),
        save(
            dir.path(),
            "gray8.png",
            DynamicImage::ImageLuma8(gray.clone()),
        ),
        save(
            dir.path(),
            "gray16.png",
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(w, h, |x, y| {
                Luma([gray.get_pixel(x, y)[0] as u16 * 257])
            })),
        ),
        save(
            dir.path(),
            "tiny.png",
            DynamicImage::ImageRgb8(image::imageops::thumbnail(&photo, 5, 4)),
        ),
    ];
    let net = Network::new(ctx(), Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let bar = ProgressBar::hidden();
    let results = pollster::block_on(logits_of_files(&net, &files, 224, 8, &bar)).unwrap();
    assert_eq!(bar.position(), files.len() as u64);
    let l: Vec<Vec<f32>> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(argmax(&l[0]), 1, "the RGB photo is a goldfish");
    // Alpha dropped and 16 bits scaled give the very same input as the 8-bit RGB photo.
    assert!(rel_l2(&l[1], &l[0]) < 1e-6, "rgba");
    assert!(rel_l2(&l[2], &l[0]) < 1e-6, "rgb16");
    // Gray, 8 or 16 bits, is the gray replicated into three channels.
    assert!(rel_l2(&l[4], &l[3]) < 1e-6, "gray8");
    assert!(rel_l2(&l[5], &l[3]) < 1e-6, "gray16");
    assert!(rel_l2(&l[3], &l[0]) > 1e-3, "gray differs from colour");
    // A 5x4 thumbnail is upscaled to the crop and classified.
    assert!(l[6].iter().all(|v| v.is_finite()));
    eprintln!(
        "top-1: rgb {}, gray {}, tiny {}",
        argmax(&l[0]),
        argmax(&l[3]),
        argmax(&l[6])
    );
}

#[test]
fn unreadable_images_are_reported_and_the_others_classified() {
    let dir = tempfile::tempdir().unwrap();
    let good = netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg");
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"no pixels here").unwrap();
    let missing = dir.path().join("missing.jpg");
    let net = Network::new(ctx(), Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let files = [empty.clone(), good, text, missing];
    let results = pollster::block_on(logits_of_files(
        &net,
        &files,
        224,
        4,
        &ProgressBar::hidden(),
    ))
    .unwrap();
    assert_eq!(argmax(results[1].as_ref().unwrap()), 1);
    for (i, reason) in [
        (0, "empty.jpg: the file is empty"),
        (2, "notes.png: not an image"),
        (3, "missing.jpg: cannot read the file"),
    ] {
        let err = results[i].as_ref().unwrap_err().to_string();
        assert!(err.contains(reason), "{err}");
    }
}

#[test]
fn no_adapter_lists_what_was_found_and_how_to_get_lavapipe() {
    let available = pollster::block_on(netlens::gpu::list_adapters(&GpuOptions::default()));
    let options = |backends, adapter: Option<&str>| GpuOptions {
        backends,
        adapter: adapter.map(str::to_string),
    };
    // A backend this platform does not have.
    #[cfg(not(windows))]
    {
        let err = pollster::block_on(GpuContext::new(&options(Some(wgpu::Backends::DX12), None)))
            .unwrap_err();
        assert!(matches!(err, Error::NoAdapter { .. }), "{err:?}");
        let m = err.to_string();
        eprintln!("{m}");
        assert!(
            m.starts_with("no GPU adapter found (backends tried: dx12)"),
            "{m}"
        );
        assert!(m.contains("on the other backends"), "{m}");
        if let Some(first) = available.first() {
            assert!(m.contains(&first.name), "{m}");
            assert!(m.contains("choose one with --backend"), "{m}");
        }
        assert!(m.contains("mesa-vulkan-drivers"), "{m}");
    }
    // A backend name that means nothing.
    let err = pollster::block_on(GpuContext::new(&options(
        Some(wgpu::Backends::from_comma_list("vulcan")),
        None,
    )))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("names no known backend (vulkan, metal, dx12, gl)"),
        "{err}"
    );
    // An adapter name that matches nothing.
    let err = pollster::block_on(GpuContext::new(&options(None, Some("nonexistent"))))
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("none matches `nonexistent`"), "{err}");
    for (i, info) in available.iter().enumerate() {
        assert!(err.contains(&format!("[{i}] {}", info.name)), "{err}");
    }
}

#[test]
fn no_adapter_from_the_command_line() {
    let run = |args: &[&str], backend: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_netlens"));
        command.args(args);
        if let Some(b) = backend {
            command.env("NETLENS_BACKEND", b);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    #[cfg(not(windows))]
    {
        for (args, env) in [
            (&["info", "--backend", "dx12"][..], None),
            (&["info"][..], Some("dx12")),
        ] {
            let (code, stderr) = run(args, env);
            assert_eq!(code, Some(1), "{stderr}");
            assert!(
                stderr.contains("error: no GPU adapter found (backends tried: dx12)"),
                "{stderr}"
            );
            assert!(stderr.contains("lavapipe"), "{stderr}");
        }
    }
    let photo = netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg");
    let photo = photo.to_str().unwrap();
    let (code, stderr) = run(&["classify", "--adapter", "nonexistent", photo], None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("none matches `nonexistent`"), "{stderr}");
}

#[test]
fn a_batch_over_the_binding_limit_names_the_limit() {
    let net = Network::new(ctx(), Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let max = net.max_batch((224, 224)).unwrap();
    let err = net.plan(max + 1, (224, 224)).unwrap_err();
    let Error::BufferTooLarge {
        limit, max: bytes, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*bytes, ctx().max_binding());
    let m = err.to_string();
    eprintln!("{m}");
    assert!(m.contains(limit) && m.contains(&bytes.to_string()), "{m}");
    assert!(m.contains("layer 0 (features.0) output"), "{m}");
    assert!(m.ends_with("use a smaller batch or input size"), "{m}");
}

/// An adapter of the caller's own (as an application embedding netlens would have).
fn own_adapter() -> wgpu::Adapter {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = GpuOptions::from_env()
        .backends
        .unwrap_or(wgpu::Backends::PRIMARY);
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("an adapter")
}

/// A device of the caller's own with `limits`.
fn own_device(adapter: &wgpu::Adapter, limits: wgpu::Limits) -> (wgpu::Device, wgpu::Queue) {
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: limits,
        ..Default::default()
    }))
    .unwrap()
}

#[test]
fn classify_splits_into_batches_the_device_allows() {
    // A device whose storage bindings hold 4 MiB: one SqueezeNet image at 224 (the first
    // convolution's output is 3.2 MB) but not two.
    let adapter = own_adapter();
    let small = wgpu::Limits {
        max_storage_buffer_binding_size: 4 << 20,
        max_buffer_size: 4 << 20,
        ..adapter.limits()
    };
    let (device, queue) = own_device(&adapter, small);
    let tiny_ctx = GpuContext::from_device(device, queue).unwrap();
    let net = Network::new(&tiny_ctx, Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    assert_eq!(net.max_batch((224, 224)).unwrap(), 1);
    let err = net.plan(2, (224, 224)).unwrap_err().to_string();
    assert!(
        err.contains("over the device's max_storage_buffer_binding_size of 4194304 bytes"),
        "{err}"
    );

    let files: Vec<PathBuf> = [
        "n01443537_goldfish.jpg",
        "n01558993_robin.jpg",
        "n02056570_king_penguin.jpg",
    ]
    .iter()
    .map(|f| netlens::app::data::gallery_dir().join(f))
    .collect();
    let bar = ProgressBar::hidden();
    let split = pollster::block_on(logits_of_files(&net, &files, 224, 16, &bar)).unwrap();
    assert_eq!(bar.position(), 3);
    // The same as one batch of three on the usual device.
    let inputs: Vec<Vec<f32>> = files.iter().map(|f| load_input(f, 224).unwrap()).collect();
    let usual = Network::new(ctx(), Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let together = pollster::block_on(logits(&usual, &inputs, (224, 224), 16)).unwrap();
    for (a, b) in split.iter().zip(&together) {
        let a = a.as_ref().unwrap();
        assert!(rel_l2(a, b) < 1e-5, "{}", rel_l2(a, b));
    }
    assert_eq!(
        split
            .iter()
            .map(|l| argmax(l.as_ref().unwrap()))
            .collect::<Vec<_>>(),
        [1, 15, 145]
    );
}

#[test]
fn a_device_below_the_needed_limits_is_refused() {
    let adapter = own_adapter();
    let (device, queue) = own_device(&adapter, wgpu::Limits::downlevel_defaults());
    let err = GpuContext::from_device(device, queue).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::AdapterLimit {
                limit: "max_storage_buffers_per_shader_stage",
                offered: 4,
                needed: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("offers max_storage_buffers_per_shader_stage = 4"),
        "{err}"
    );
}

/// Runs `f` on another thread and fails if it takes longer than a minute (a hang).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the call hung or panicked")
}

#[test]
fn gpu_validation_errors_become_gpu_errors() {
    let ctx = pollster::block_on(GpuContext::new(&GpuOptions::from_env())).unwrap();
    let ok = ctx.upload("x", &[1.0f32; 4]).unwrap();
    ctx.wait().unwrap();
    // Bind a storage buffer where the kernel's binding 0 is a uniform block.
    let dispatch = ctx.dispatch(
        Kernel::new(Shader::Update, "axpy"),
        &[
            ok.as_entire_buffer_binding(),
            ok.as_entire_buffer_binding(),
            ok.as_entire_buffer_binding(),
        ],
        [1, 1, 1],
    );
    let mut encoder = ctx.encoder("bad");
    netlens::gpu::record_all(&mut encoder, "bad", [&dispatch]);
    ctx.submit(encoder);
    let err = ctx.wait().unwrap_err();
    let Error::Gpu(reason) = &err else {
        panic!("{err:?}")
    };
    eprintln!("{err}");
    assert!(
        reason.to_lowercase().contains("usage") || reason.contains("Validation"),
        "{reason}"
    );
    // The error stays: later calls report it rather than compute on a broken device.
    assert!(ctx.check().is_err());
    assert!(pollster::block_on(ctx.read::<f32>(&ok, 0..4)).is_err());
}

#[test]
fn a_lost_device_fails_readbacks_instead_of_hanging() {
    let err = within_a_minute(|| {
        let ctx = pollster::block_on(GpuContext::new(&GpuOptions::from_env())).unwrap();
        let buffer = ctx.upload("x", &[1.0f32, 2.0, 3.0]).unwrap();
        assert_eq!(
            pollster::block_on(ctx.read::<f32>(&buffer, 0..3)).unwrap(),
            [1.0, 2.0, 3.0]
        );
        ctx.device().destroy();
        pollster::block_on(ctx.read::<f32>(&buffer, 0..3)).unwrap_err()
    });
    eprintln!("{err}");
    let Error::Gpu(reason) = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("device lost"), "{reason}");
    assert!(reason.contains("Destroyed"), "{reason}");
}

#[test]
fn a_lost_embedded_device_fails_readbacks_too() {
    let err = within_a_minute(|| {
        let adapter = own_adapter();
        let (device, queue) = own_device(&adapter, adapter.limits());
        let ctx = GpuContext::from_device(device.clone(), queue).unwrap();
        let buffer = ctx.upload("x", &[1.0f32, 2.0]).unwrap();
        device.destroy();
        pollster::block_on(ctx.read::<f32>(&buffer, 0..2)).unwrap_err()
    });
    eprintln!("{err}");
    assert!(matches!(err, Error::Gpu(_)), "{err:?}");
}

#[test]
fn a_diverging_loop_stops_naming_the_step() {
    // Gradient ascent on a logit whose update also adds 1e6 times the image itself (an L2 term
    // with the wrong sign and far too large a weight): the image grows a millionfold per step
    // and overflows f32 within a few steps.
    let ctx = ctx();
    let net = Network::new(ctx, Arch::squeezenet1_1(1000), squeezenet_weights()).unwrap();
    let plan = net.plan(1, (64, 64)).unwrap();
    plan.input()
        .write(ctx, &common::random(3 * 64 * 64, 3, 1.0))
        .unwrap();
    let mut seed = vec![0.0; 1000];
    seed[145] = 1.0;
    plan.logits_grad().write(ctx, &seed).unwrap();
    let images = ImageBatch {
        batch: 1,
        channels: 3,
        h: 64,
        w: 64,
    };
    let previous = ctx.storage("previous input", images.per_image()).unwrap();
    let input = &plan.input().buffer;
    let update = [
        images.axpy(ctx, 1.0, &plan.input_grad().buffer, input),
        images.axpy(ctx, 1e6, &previous, input),
    ];
    let run = || -> netlens::Result<usize> {
        for i in 0..20 {
            let mut encoder = ctx.encoder("ascent step");
            plan.record_forward(&mut encoder);
            plan.record_backward(&mut encoder, GradientRule::Plain);
            encoder.copy_buffer_to_buffer(input, 0, &previous, 0, input.size());
            netlens::gpu::record_all(&mut encoder, "update", &update);
            ctx.submit(encoder);
            // Check the image itself: a GPU's max() may turn NaN into 0, so ReLUs can hide a
            // NaN image from the logits (lavapipe gives finite logits for an infinite image).
            check_finite(
                "gradient ascent",
                i,
                &pollster::block_on(plan.input().read(ctx))?,
            )?;
        }
        Ok(20)
    };
    let err = run().unwrap_err();
    let Error::Diverged { what, step, why } = &err else {
        panic!("{err:?}")
    };
    eprintln!("{err}");
    assert_eq!(what, "gradient ascent");
    // The image starts within ±1; 1e6^7 passes f32's 3.4e38, after the update of step 6.
    assert!((5..=7).contains(step), "step {step}");
    assert!(why.contains("learning rate"), "{why}");
    assert!(
        err.to_string()
            .contains(&format!("at step {step}: element ")),
        "{err}"
    );
}
