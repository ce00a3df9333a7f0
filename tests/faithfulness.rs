//! Grad-CAM++, Score-CAM and occlusion on SqueezeNet 1.1 (real weights, small inputs) against
//! CPU computations from the network's own activations and logits; the deletion and insertion
//! curves against inputs made on the CPU and scored through the same network; and a whole
//! `--faithfulness` run writing its figure, record and manifest.

mod common;

use common::{assert_close, ctx, data_dir};
use indicatif::ProgressBar;
use netlens::app::saliency_job::{Job, Mode, beside, run};
use netlens::classify::{logits, softmax};
use netlens::gpu::ImageBatch;
use netlens::model::{Arch, GradientRule, ModelKind, Network};
use netlens::preprocess::load_input;
use netlens::saliency::faithfulness::{self, Protocol, auc, curves, random_ranks, ranks};
use netlens::saliency::kernels::{Patches, cpu};
use netlens::saliency::{AttributionRequest, Attributor, Baseline, Method, Settings};

fn squeezenet() -> Network {
    ModelKind::SqueezeNet.network(ctx(), None).unwrap()
}

/// A gallery photo at a reduced input size (cheap on a software GPU).
fn photo(name: &str, size: usize) -> Vec<f32> {
    load_input(&data_dir().join("data/gallery").join(name), size).unwrap()
}

const PANDA: (&str, usize) = ("n02510455_giant_panda.jpg", 388);
const VOLCANO: (&str, usize) = ("n09472597_volcano.jpg", 980);

#[test]
fn grad_cam_plus_plus_matches_cpu_from_activations() {
    let net = squeezenet();
    let size = 112;
    let inputs = vec![photo(PANDA.0, size), photo(VOLCANO.0, size)];
    let targets = [PANDA.1, VOLCANO.1];
    let attributor = Attributor::new(&net, (size, size), 16).unwrap();
    let maps = pollster::block_on(attributor.maps(
        Method::GradCamPlusPlus,
        &AttributionRequest::new(
            &Settings::default(),
            &inputs,
            &targets,
            &ProgressBar::hidden(),
        ),
    ))
    .unwrap();
    assert!(maps.iter().all(|&v| v >= 0.0 && v.is_finite()));
    assert!(maps.chunks(size * size).all(|m| m.iter().any(|&v| v > 0.0)));

    // The same from layer 11's activation and gradient read back, on the CPU.
    let plan = net.plan(2, (size, size)).unwrap();
    let mut seed = vec![0.0; 2000];
    seed[targets[0]] = 1.0;
    seed[1000 + targets[1]] = 1.0;
    pollster::block_on(plan.gradient(&inputs.concat(), &seed, GradientRule::Plain)).unwrap();
    let act = plan.activation(11);
    let [_, channels, h, w] = act.shape;
    let shape = ImageBatch {
        batch: 2,
        channels,
        h,
        w,
    };
    let act = pollster::block_on(act.read(ctx())).unwrap();
    let grad = pollster::block_on(plan.activation_grad(11).read(ctx())).unwrap();
    let alpha = cpu::campp_weights(shape, &grad, &act);
    let cam = cpu::cam_map(shape, &act, &alpha);
    let want = netlens::ops::resample::cpu::resize_bilinear(2, (h, w), (size, size), &cam);
    assert_close(
        "Grad-CAM++ (GPU) vs CPU from activations",
        &maps,
        &want,
        1e-5,
    );
    // Its weights are not Grad-CAM's: the maps differ.
    let grad_cam = pollster::block_on(attributor.maps(
        Method::GradCam,
        &AttributionRequest::new(
            &Settings::default(),
            &inputs,
            &targets,
            &ProgressBar::hidden(),
        ),
    ))
    .unwrap();
    assert!(common::rel_l2(&grad_cam, &maps) > 1e-2);
}

#[test]
fn score_cam_matches_cpu_masks_scored_by_the_network() {
    let net = squeezenet();
    let size = 64;
    let hw = (size, size);
    // features.3 (the first fire module, 128 x 15 x 15 here) keeps the masked passes few.
    let settings = Settings {
        cam_layer: Some("features.3".into()),
        ..Settings::default()
    };
    let inputs = vec![photo(PANDA.0, size)];
    let attributor = Attributor::new(&net, hw, 32).unwrap();
    let maps = pollster::block_on(attributor.maps(
        Method::ScoreCam,
        &AttributionRequest::new(&settings, &inputs, &[PANDA.1], &ProgressBar::hidden()),
    ))
    .unwrap();

    let layer = Arch::squeezenet1_1(1000).layer_index("features.3").unwrap();
    let plan = net.plan(1, hw).unwrap();
    pollster::block_on(plan.forward(&inputs[0])).unwrap();
    let act = plan.activation(layer);
    let [_, channels, h, w] = act.shape;
    let act = pollster::block_on(act.read(ctx())).unwrap();
    let shape = ImageBatch {
        batch: 1,
        channels,
        h,
        w,
    };
    let range = cpu::mask_range(shape, (h, w), hw, &act);
    let masked: Vec<Vec<f32>> = (0..channels)
        .map(|c| {
            let (lo, hi) = (range[2 * c], range[2 * c + 1]);
            let up = netlens::ops::resample::cpu::resize_bilinear(
                1,
                (h, w),
                hw,
                &act[c * h * w..(c + 1) * h * w],
            );
            inputs[0]
                .iter()
                .enumerate()
                .map(|(e, &x)| {
                    let mask = if hi > lo {
                        (up[e % (size * size)] - lo) / (hi - lo)
                    } else {
                        0.0
                    };
                    x * mask
                })
                .collect()
        })
        .collect();
    let scores: Vec<f32> = pollster::block_on(logits(&net, &masked, hw, 32))
        .unwrap()
        .iter()
        .map(|l| softmax(l)[PANDA.1])
        .collect();
    let alpha = cpu::score_weights(&range, &scores);
    let flat = alpha.iter().filter(|&&a| a == 0.0).count();
    eprintln!("{flat} of {channels} channels flat");
    let cam = cpu::cam_map(shape, &act, &alpha);
    let want = netlens::ops::resample::cpu::resize_bilinear(1, (h, w), hw, &cam);
    assert!(want.iter().any(|&v| v > 0.0));
    assert_close(
        "Score-CAM (GPU) vs CPU masks and scores",
        &maps,
        &want,
        1e-4,
    );
}

#[test]
fn occlusion_matches_cpu_patches_scored_by_the_network() {
    let net = squeezenet();
    let size = 64;
    let hw = (size, size);
    let settings = Settings {
        patch: 24,
        stride: 18,
        ..Settings::default()
    };
    let inputs = vec![photo(VOLCANO.0, size)];
    let attributor = Attributor::new(&net, hw, 16).unwrap();
    let maps = pollster::block_on(attributor.maps(
        Method::Occlusion,
        &AttributionRequest::new(&settings, &inputs, &[VOLCANO.1], &ProgressBar::hidden()),
    ))
    .unwrap();
    // Patches at 0, 18, 36 on each axis: 9 of them, the last 4 rows and columns uncovered.
    let patches = Patches {
        hw,
        patch: 24,
        stride: 18,
    };
    assert_eq!(patches.count().unwrap(), 9);
    let mut occluded: Vec<Vec<f32>> = Vec::new();
    for top in [0, 18, 36] {
        for left in [0, 18, 36] {
            let mut x = inputs[0].clone();
            for (e, v) in x.iter_mut().enumerate() {
                let (y, xx) = ((e % (size * size)) / size, e % size);
                if (top..top + 24).contains(&y) && (left..left + 24).contains(&xx) {
                    *v = 0.0;
                }
            }
            occluded.push(x);
        }
    }
    occluded.push(inputs[0].clone());
    let scores: Vec<f32> = pollster::block_on(logits(&net, &occluded, hw, 16))
        .unwrap()
        .iter()
        .map(|l| l[VOLCANO.1])
        .collect();
    let want = cpu::occlusion_map(1, &patches, &scores);
    assert_close("occlusion (GPU) vs CPU patches", &maps, &want, 1e-5);
    assert_eq!(maps[size * size - 1], 0.0, "the uncovered corner");
}

#[test]
fn curves_match_inputs_made_on_the_cpu_and_scored_by_the_network() {
    let net = squeezenet();
    let size = 48;
    let hw = (size, size);
    let plane = size * size;
    let steps = 3;
    let inputs = vec![photo(PANDA.0, size), photo(VOLCANO.0, size)];
    let targets = [PANDA.1, VOLCANO.1];
    let blurred: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| Baseline::Blur(4.0).of(x, hw))
        .collect();
    let orders = vec![
        ranks(&common::random(plane, 71, 1.0)),
        random_ranks(plane, 72),
    ];
    // Batches of 5 split the 2 x 2 x 4 inputs over passes that mix curves and images.
    let attributor = Attributor::new(&net, hw, 5).unwrap();
    let got = pollster::block_on(curves(
        &attributor,
        &inputs,
        &blurred,
        &targets,
        &orders,
        steps,
        &ProgressBar::hidden(),
    ))
    .unwrap();
    for n in 0..2 {
        // The k pixels first in the order, k = round(s * plane / steps).
        let mut order: Vec<usize> = (0..plane).collect();
        order.sort_by_key(|&p| orders[n][p]);
        let step_input = |s: usize, insertion: bool| {
            let k = (s as f64 * plane as f64 / steps as f64).round() as usize;
            let (mut x, from) = if insertion {
                (blurred[n].clone(), &inputs[n])
            } else {
                (inputs[n].clone(), &blurred[n])
            };
            for &p in &order[..k] {
                for c in 0..3 {
                    x[c * plane + p] = from[c * plane + p];
                }
            }
            x
        };
        for (insertion, curve) in [(false, &got[n].0), (true, &got[n].1)] {
            let xs: Vec<Vec<f32>> = (0..=steps).map(|s| step_input(s, insertion)).collect();
            let want: Vec<f32> = pollster::block_on(logits(&net, &xs, hw, 8))
                .unwrap()
                .iter()
                .map(|l| softmax(l)[targets[n]])
                .collect();
            assert_close(
                &format!("image {n} insertion {insertion}"),
                curve,
                &want,
                1e-5,
            );
        }
        // Deletion starts where insertion ends (the photo) and ends where it starts.
        let (deletion, insertion) = &got[n];
        assert!((deletion[0] - insertion[steps]).abs() < 1e-6);
        assert!((deletion[steps] - insertion[0]).abs() < 1e-6);
    }
}

#[test]
fn a_faithfulness_run_writes_its_curves_record_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("faith.png");
    let job = Job {
        images: vec![data_dir().join("data/gallery").join(PANDA.0)],
        models: vec![(ModelKind::SqueezeNet, None)],
        methods: vec![Method::GradCam],
        settings: Settings::default(),
        class: None,
        views: 1,
        scale: netlens::saliency::figures::Scale::PerMap,
        per_row: 5,
        batch: 16,
        out: out.clone(),
        mode: Mode::Faithfulness(Protocol {
            steps: 4,
            ..Protocol::default()
        }),
        quiet: true,
    };
    let outcome = pollster::block_on(run(ctx(), &job)).unwrap();
    let record = beside(&out, "faithfulness.json");
    assert_eq!(
        outcome.written,
        [out.clone(), record.clone(), beside(&out, "json")]
    );
    let figure = image::open(&out).unwrap();
    assert_eq!((figure.width(), figure.height()), (1000, 1120));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(json["steps"], 4);
    let methods = json["methods"].as_object().unwrap();
    assert_eq!(
        methods.keys().collect::<Vec<_>>(),
        ["gradcam", faithfulness::RANDOM]
    );
    for (name, m) in methods {
        let image = &m["per_image"][0];
        assert_eq!(image["target"], PANDA.1, "{name}: the predicted class");
        let deletion: Vec<f32> = serde_json::from_value(image["deletion"].clone()).unwrap();
        assert_eq!(deletion.len(), 5);
        assert!((m["deletion_auc"].as_f64().unwrap() - auc(&deletion)).abs() < 1e-9);
    }
    let table = outcome.table.unwrap();
    assert!(
        table.contains("gradcam") && table.contains("random"),
        "{table}"
    );

    // Two models, or too many steps, fail before any work and write nothing.
    for bad in [
        Job {
            models: vec![(ModelKind::SqueezeNet, None), (ModelKind::Vgg16, None)],
            out: dir.path().join("two.png"),
            ..job.clone()
        },
        Job {
            mode: Mode::Faithfulness(Protocol {
                steps: 0,
                ..Protocol::default()
            }),
            out: dir.path().join("zero.png"),
            ..job.clone()
        },
    ] {
        let err = pollster::block_on(run(ctx(), &bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("one model") || err.contains("steps"), "{err}");
        assert!(!bad.out.exists());
    }
}
