//! VGG16 with the formula weights of `../shared/README.md` against PyTorch (float64):
//! logits and the input gradient of logit[label], at 64 x 64 and 224 x 224, and at 64 x 64 with
//! Winograd's kernels for the thirteen 3x3 layers.
//!
//! At 224 x 224 the gradient differs from float64 by about 1e-2 (logits by 2e-6): thirteen ReLU
//! layers and five max-poolings over 50k pixels meet many values within f32 rounding of zero or
//! of each other, and each such decision routes gradient differently. Every layer's backward
//! matches the CPU reference to 1e-6 when fed the GPU's own forward values, so the gradient is
//! the exact gradient of the f32 forward pass; the tolerance there is 2e-2.

mod common;

use common::{assert_close, ctx, reference};
use netlens::model::{Arch, GradientRule, Network, Weights};
use netlens::ops::conv::ConvAlgorithm;

fn check(size: usize, grad_tol: f64, algorithm: ConvAlgorithm) {
    let refs = reference("vgg16_formula_reference.safetensors");
    let (_, input) = &refs[&format!("input{size}")];
    let (_, logits_ref) = &refs[&format!("logits{size}")];
    let (_, grad_ref) = &refs[&format!("input_grad{size}")];
    let label = refs["label"].1[0] as usize;

    let arch = Arch::vgg16(1000);
    let weights = Weights::formula(&arch.tensor_specs());
    let net = Network::with_conv_algorithm(ctx(), arch, &weights, algorithm).unwrap();
    let plan = net.plan(1, (size, size)).unwrap();
    let mut seed = vec![0.0; 1000];
    seed[label] = 1.0;
    let (logits, grad) =
        pollster::block_on(plan.gradient(input, &seed, GradientRule::Plain)).unwrap();
    assert_close(
        &format!("vgg16 logits at {size} ({algorithm})"),
        &logits,
        logits_ref,
        1e-3,
    );
    assert_close(
        &format!("vgg16 input gradient at {size} ({algorithm})"),
        &grad,
        grad_ref,
        grad_tol,
    );
}

#[test]
fn formula_weights_64() {
    check(64, 1e-3, ConvAlgorithm::Auto);
}

#[test]
fn formula_weights_64_winograd() {
    check(64, 1e-3, ConvAlgorithm::Winograd);
}

#[test]
fn formula_weights_224() {
    check(224, 2e-2, ConvAlgorithm::Auto);
}
