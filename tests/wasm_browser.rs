//! The library compiled to wasm32 and run in a browser on its WebGPU (wasm-bindgen-test in
//! headless Chromium; `.ci/run` shows how), held to the numbers native runs are held to:
//! SqueezeNet's logits and input gradient against PyTorch's
//! (`reference/squeezenet1_1_reference.safetensors`, relative L2 error <= 1e-3 as in
//! tests/squeezenet.rs), and a fooling run that reaches its target on the 8-bit image.
//!
//! A browser test cannot read files: the weights and the reference are embedded at compile time
//! from the data folder beside the checkout (`../shared`), and are never committed.
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;

#[path = "common/tensors.rs"]
mod tensors;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use netlens::bench::numerics::rel_l2;
use netlens::fooling::config::AttackConfig;
use netlens::fooling::run::{Attacker, Verdict};
use netlens::model::{Arch, GradientRule, Network, Weights};
use netlens::progress::Silent;
use netlens::{GpuContext, GpuOptions};

wasm_bindgen_test_configure!(run_in_browser);

const WEIGHTS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/weights/squeezenet1_1.safetensors"
));
const REFERENCE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/squeezenet1_1_reference.safetensors"
));

/// Stingray, the classic fooling target.
const STINGRAY: usize = 6;

/// The reference tensors as f32 (labels converted), by name.
fn reference() -> HashMap<String, Vec<f32>> {
    tensors::parse(REFERENCE)
        .into_iter()
        .map(|(name, (_, data))| (name, data))
        .collect()
}

async fn squeezenet() -> Network {
    let ctx = GpuContext::new(&GpuOptions::default())
        .await
        .expect("a WebGPU adapter (start Chromium with --enable-unsafe-webgpu)");
    web_sys::console::log_1(&format!("adapter: {}", ctx.adapter_name()).into());
    let weights = Weights::from_bytes(WEIGHTS, "squeezenet1_1.safetensors".as_ref()).unwrap();
    Network::new(&ctx, Arch::squeezenet1_1(1000), &weights).unwrap()
}

/// Milliseconds since the page started.
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .expect("a window with a performance clock")
        .now()
}

#[wasm_bindgen_test]
async fn logits_and_input_gradient_match_pytorch() {
    let refs = reference();
    let net = squeezenet().await;
    let labels = &refs["label"];
    let batch = labels.len();
    let plan = net.plan(batch, (224, 224)).unwrap();
    let mut seed = vec![0.0; batch * 1000];
    for (n, &label) in labels.iter().enumerate() {
        seed[n * 1000 + label as usize] = 1.0;
    }
    let (logits, grad) = plan
        .gradient(&refs["input"], &seed, GradientRule::Plain)
        .await
        .unwrap();
    let e = rel_l2(&logits, &refs["logits"]);
    web_sys::console::log_1(&format!("logits: relative L2 error {e:.3e}").into());
    assert!(e <= 1e-3, "logits: relative L2 error {e:.3e} > 1e-3");

    // As in tests/squeezenet.rs: exact per image but for the goldfish's max-pool near-tie.
    let per_image = grad.len() / batch;
    let errors: Vec<f64> = (0..batch)
        .map(|n| {
            let range = n * per_image..(n + 1) * per_image;
            rel_l2(&grad[range.clone()], &refs["input_grad"][range])
        })
        .collect();
    let shown: Vec<String> = errors.iter().map(|e| format!("{e:.2e}")).collect();
    web_sys::console::log_1(
        &format!(
            "input gradient: relative L2 error per image {}",
            shown.join(", ")
        )
        .into(),
    );
    assert!(
        errors.iter().filter(|&&e| e <= 1e-3).count() >= batch - 1,
        "more than one image off by over 1e-3: {errors:?}"
    );
    assert!(
        errors.iter().all(|&e| e <= 1e-2),
        "an image off by over 1e-2: {errors:?}"
    );

    // Time per forward + input gradient of one image (after a warm-up pass).
    let plan = net.plan(1, (224, 224)).unwrap();
    let input = &refs["input"][..per_image];
    let seed = &seed[..1000];
    let mut times = Vec::new();
    for _ in 0..6 {
        let t = now_ms();
        plan.gradient(input, seed, GradientRule::Plain)
            .await
            .unwrap();
        times.push(now_ms() - t);
    }
    let mut timed = times[1..].to_vec();
    timed.sort_by(f64::total_cmp);
    web_sys::console::log_1(
        &format!(
            "squeezenet forward + input gradient, batch 1: median {:.0} ms of {} runs",
            timed[timed.len() / 2],
            timed.len()
        )
        .into(),
    );
}

#[wasm_bindgen_test]
async fn fooling_reaches_its_target() {
    let refs = reference();
    let net = squeezenet().await;
    let per_image = refs["input"].len() / refs["label"].len();
    // The robin (reference image 1) made a stingray, checked on its 8-bit rounding.
    let robin = refs["input"][per_image..2 * per_image].to_vec();
    let attacker = Attacker::new(&net, 1, 224, AttackConfig::fool(1.0, 100)).unwrap();
    let run = attacker
        .run(&[robin], &[Some(STINGRAY)], &Silent)
        .await
        .unwrap();
    let o = &run.outcomes[0];
    web_sys::console::log_1(
        &format!("robin -> stingray: {}", o.verdict.describe(o.iterations)).into(),
    );
    assert_eq!(o.verdict, Verdict::Fooled);
    assert_eq!(o.rounded.prediction.index, STINGRAY);
}
