//! A whole network forward and input gradient in plain Rust, composed of the ops' CPU
//! references: the yardstick for the GPU plans on small inputs.

use crate::error::Result;
use crate::model::GradientRule;
use crate::model::arch::{Arch, Layer};
use crate::model::weights::Weights;
use crate::ops::{conv, fire, linear, pool, relu};

/// What the backward pass of one layer needs from its forward pass.
enum Saved {
    Conv { output: Vec<f32> },
    Fire(fire::cpu::Saved),
    MaxPool { argmax: Vec<usize> },
    Relu { output: Vec<f32> },
    Linear { output: Vec<f32> },
    Nothing,
}

/// Runs `batch` images of `hw` forward, then backward from `logits_grad` under a gradient
/// rule; returns (logits, input gradient). ReLU masks, pooling winners and window rules are the
/// GPU's. With [`GradientRule::Guided`], every ReLU also drops negative incoming gradients
/// (guided backpropagation).
pub fn forward_backward(
    arch: &Arch,
    weights: &Weights,
    batch: usize,
    hw: (usize, usize),
    input: &[f32],
    logits_grad: &[f32],
    rule: GradientRule,
) -> Result<(Vec<f32>, Vec<f32>)> {
    // The gradient a ReLU's mask is applied to: under the guided rule, its negative parts go.
    let at_relu = |g: &[f32]| -> Vec<f32> {
        match rule {
            GradientRule::Plain => g.to_vec(),
            GradientRule::Guided => g.iter().map(|v| v.max(0.0)).collect(),
        }
    };
    let shapes = arch.shapes(hw)?;
    let mut x = input.to_vec();
    let mut saved = Vec::new();
    for (layer, &[c, h, w]) in arch.layers.iter().zip(&shapes) {
        let (y, s) = match layer {
            Layer::Conv {
                name,
                geometry,
                relu,
            } => {
                let wt = weights.expect(&format!("{name}.weight"), &geometry.weight_shape())?;
                let b = weights.expect(&format!("{name}.bias"), &[geometry.out_channels])?;
                let y = conv::cpu::forward(geometry, batch, (h, w), &x, wt, b, *relu);
                (y.clone(), Saved::Conv { output: y })
            }
            Layer::Fire { .. } => {
                let convs = fire_weights(layer, weights)?;
                let (y, saved) = fire::cpu::forward(&convs, batch, (h, w), &x);
                (y, Saved::Fire(saved))
            }
            Layer::MaxPool(g) => {
                let (y, argmax) = pool::cpu::max_forward(g, batch * c, (h, w), &x);
                (y, Saved::MaxPool { argmax })
            }
            Layer::Relu => {
                let y = relu::cpu::forward(&x, c, h * w, &[]);
                (y.clone(), Saved::Relu { output: y })
            }
            Layer::AdaptiveAvgPool { out_h, out_w } => (
                pool::cpu::avg_forward(batch * c, (h, w), (*out_h, *out_w), &x),
                Saved::Nothing,
            ),
            Layer::Linear {
                name,
                in_features,
                out_features,
                relu,
            } => {
                let wt =
                    weights.expect(&format!("{name}.weight"), &[*out_features, *in_features])?;
                let b = weights.expect(&format!("{name}.bias"), &[*out_features])?;
                let y = linear::cpu::forward(batch, &x, wt, b, *relu);
                (y.clone(), Saved::Linear { output: y })
            }
            Layer::Dropout => (x.clone(), Saved::Nothing),
        };
        saved.push(s);
        x = y;
    }
    let logits = x;

    let mut g = logits_grad.to_vec();
    for ((layer, s), &[c, h, w]) in arch.layers.iter().zip(&saved).zip(&shapes).rev() {
        let input_len = batch * c * h * w;
        g = match (layer, s) {
            (
                Layer::Conv {
                    name,
                    geometry,
                    relu,
                },
                Saved::Conv { output },
            ) => {
                let wt = weights.expect(&format!("{name}.weight"), &geometry.weight_shape())?;
                let g = if *relu { at_relu(&g) } else { g };
                conv::cpu::backward_input(
                    geometry,
                    batch,
                    (h, w),
                    &g,
                    relu.then_some(output.as_slice()),
                    wt,
                )
            }
            (Layer::Fire { .. }, Saved::Fire(saved)) => {
                let convs = fire_weights(layer, weights)?;
                fire::cpu::backward_input(&convs, batch, (h, w), &g, saved, at_relu)
            }
            (Layer::MaxPool(_), Saved::MaxPool { argmax }) => {
                pool::cpu::max_backward(&g, argmax, input_len)
            }
            (Layer::Relu, Saved::Relu { output }) => relu::cpu::backward(&at_relu(&g), output),
            (Layer::AdaptiveAvgPool { out_h, out_w }, _) => {
                pool::cpu::avg_backward(batch * c, (h, w), (*out_h, *out_w), &g)
            }
            (
                Layer::Linear {
                    name,
                    in_features,
                    out_features,
                    relu,
                },
                Saved::Linear { output },
            ) => {
                let wt =
                    weights.expect(&format!("{name}.weight"), &[*out_features, *in_features])?;
                let g = if *relu { at_relu(&g) } else { g };
                linear::cpu::backward_input(
                    batch,
                    &g,
                    relu.then_some(output.as_slice()),
                    wt,
                    *in_features,
                )
            }
            _ => g,
        };
    }
    Ok((logits, g))
}

/// A fire module's three convolutions (squeeze, expand 1x1, expand 3x3) with their weights.
fn fire_weights<'w>(
    layer: &Layer,
    weights: &'w Weights,
) -> Result<[fire::cpu::ConvWeights<'w>; 3]> {
    let convs = layer.convolutions();
    let conv = |i: usize| -> Result<fire::cpu::ConvWeights<'w>> {
        let (name, g) = &convs[i];
        Ok((
            *g,
            weights.expect(&format!("{name}.weight"), &g.weight_shape())?,
            weights.expect(&format!("{name}.bias"), &[g.out_channels])?,
        ))
    };
    Ok([conv(0)?, conv(1)?, conv(2)?])
}
