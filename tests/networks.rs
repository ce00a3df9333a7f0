//! Whole networks on the GPU against the plain-Rust reference, and the input gradient against
//! finite differences.

mod common;

use common::{assert_close, ctx, random};
use netlens::model::{Arch, GradientRule, Layer, Network, Weights, reference};
use netlens::ops::conv::ConvGeometry;
use netlens::ops::pool::MaxPoolGeometry;

/// VGG16 with seeded random weights at 32 x 32 (the smallest input its five poolings take),
/// batch 2: logits and input gradient against the CPU reference.
#[test]
fn vgg16_random_weights_match_cpu_reference() {
    let arch = Arch::vgg16(1000);
    let weights = Weights::random(&arch.tensor_specs(), 7);
    let (batch, hw) = (2, (32, 32));
    let input = random(batch * 3 * 32 * 32, 1, 2.0);
    let seed = random(batch * 1000, 2, 1.0);
    let (logits_ref, grad_ref) =
        reference::forward_backward(&arch, &weights, batch, hw, &input, &seed).unwrap();
    let net = Network::new(ctx(), arch, &weights).unwrap();
    let (logits, grad) = pollster::block_on(net.plan(batch, hw).unwrap().gradient(
        &input,
        &seed,
        GradientRule::Plain,
    ))
    .unwrap();
    assert_close("vgg16 logits", &logits, &logits_ref, 1e-4);
    assert_close("vgg16 input gradient", &grad, &grad_ref, 1e-4);
}

/// A small network with every layer kind: conv, max pool, fire, standalone ReLU, adaptive
/// average pool, dropout, linear.
fn small_arch() -> Arch {
    Arch {
        name: "small".into(),
        input_channels: 3,
        layers: vec![
            Layer::Conv {
                name: "conv".into(),
                geometry: ConvGeometry::new(3, 6, 3, 1, 1),
                relu: true,
            },
            Layer::MaxPool(MaxPoolGeometry {
                kernel: 3,
                stride: 2,
                pad: 0,
                ceil_mode: true,
            }),
            Layer::Fire {
                name: "fire".into(),
                in_channels: 6,
                squeeze: 3,
                expand1x1: 4,
                expand3x3: 4,
            },
            Layer::Conv {
                name: "head".into(),
                geometry: ConvGeometry {
                    in_channels: 8,
                    out_channels: 5,
                    kernel_h: 2,
                    kernel_w: 3,
                    stride: 2,
                    pad: 1,
                },
                relu: false,
            },
            Layer::Relu,
            Layer::AdaptiveAvgPool { out_h: 2, out_w: 2 },
            Layer::Dropout,
            Layer::Linear {
                name: "fc".into(),
                in_features: 20,
                out_features: 7,
                relu: false,
            },
        ],
    }
}

#[test]
fn small_network_matches_cpu_reference() {
    let arch = small_arch();
    let weights = Weights::random(&arch.tensor_specs(), 3);
    let (batch, hw) = (3, (11, 10));
    let input = random(batch * 3 * 110, 4, 1.0);
    let seed = random(batch * 7, 5, 1.0);
    let net = Network::new(ctx(), arch.clone(), &weights).unwrap();
    let plan = net.plan(batch, hw).unwrap();
    for rule in [GradientRule::Plain, GradientRule::Guided] {
        let (logits_ref, grad_ref) =
            reference::forward_backward_with(&arch, &weights, batch, hw, &input, &seed, rule)
                .unwrap();
        let (logits, grad) = pollster::block_on(plan.gradient(&input, &seed, rule)).unwrap();
        assert_close("small net logits", &logits, &logits_ref, 1e-5);
        assert_close(
            &format!("small net input gradient ({rule:?})"),
            &grad,
            &grad_ref,
            1e-5,
        );
    }
}

/// The input gradient of L = <r, logits> against central differences of L, one input element
/// at a time, all on the GPU in f32. A step can cross a ReLU or max-pool kink, which makes that
/// element's difference quotient meaningless, so one element in ten may miss.
#[test]
fn input_gradient_matches_finite_differences() {
    let arch = small_arch();
    let weights = Weights::random(&arch.tensor_specs(), 11);
    let (batch, hw) = (2, (11, 10));
    let net = Network::new(ctx(), arch, &weights).unwrap();
    let plan = net.plan(batch, hw).unwrap();
    let x = random(batch * 3 * 110, 12, 1.0);
    let r = random(batch * 7, 13, 1.0);
    let loss = |input: &[f32]| -> f64 {
        let logits = pollster::block_on(plan.forward(input)).unwrap();
        logits
            .iter()
            .zip(&r)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let (_, grad) = pollster::block_on(plan.gradient(&x, &r, GradientRule::Plain)).unwrap();
    let h = 3e-3f32;
    let elements: Vec<usize> = random(40, 14, 1.0)
        .iter()
        .map(|v| ((v + 1.0) / 2.0 * x.len() as f32) as usize)
        .collect();
    let mut misses = Vec::new();
    for &i in &elements {
        let (mut plus, mut minus) = (x.clone(), x.clone());
        plus[i] += h;
        minus[i] -= h;
        let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
        let analytic = grad[i] as f64;
        if (numeric - analytic).abs() > 1e-3 + 1e-2 * analytic.abs() {
            misses.push((i, analytic, numeric));
        }
    }
    let nonzero = elements.iter().filter(|&&i| grad[i].abs() > 1e-3).count();
    eprintln!(
        "finite differences: {} of {} elements off ({nonzero} with a gradient above 1e-3): {misses:?}",
        misses.len(),
        elements.len()
    );
    assert!(
        nonzero >= elements.len() / 2,
        "too few elements with a gradient to test"
    );
    assert!(
        misses.len() <= elements.len() / 10,
        "gradient disagrees with finite differences: {misses:?}"
    );
}
