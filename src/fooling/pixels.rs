//! The pixel domain of the robustness attacks (APGD, Square, Carlini-Wagner): images as CHW
//! values in [0, 1] before normalization, budgets in pixel levels (1 level = 1/255), the
//! projections that keep an iterate in its ball and in the valid range, and the conversions to
//! and from the network's normalized inputs.

use crate::fooling::config::Norm;
use crate::preprocess::{MEAN, STD};

/// A budget given in pixel levels in the [0, 1] units of the pixel domain.
pub fn eps_unit(eps_levels: f32) -> f32 {
    eps_levels / 255.0
}

/// Distances between two pixel-domain images in pixel levels: (L2 over every channel value,
/// L∞).
pub fn distances(x: &[f32], x0: &[f32]) -> (f32, f32) {
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(x0) {
        let d = ((a - b) as f64 * 255.0).abs();
        sum += d * d;
        max = max.max(d);
    }
    (sum.sqrt() as f32, max as f32)
}

/// The distance of `x` from `x0` in `norm`, pixel levels.
pub fn distance(x: &[f32], x0: &[f32], norm: Norm) -> f32 {
    let (l2, linf) = distances(x, x0);
    match norm {
        Norm::Linf => linf,
        Norm::L2 => l2,
    }
}

/// Moves `x` into the ball of radius `eps` ([0, 1] units) around `x0` in `norm`, then into
/// [0, 1]. Clamping moves each value toward `x0` (which lies in [0, 1]), so the result stays
/// in the ball.
pub fn project(x: &mut [f32], x0: &[f32], eps: f32, norm: Norm) {
    match norm {
        Norm::Linf => {
            for (v, &o) in x.iter_mut().zip(x0) {
                *v = v.clamp(o - eps, o + eps);
            }
        }
        Norm::L2 => {
            let norm = l2_norm(x.iter().zip(x0).map(|(&a, &b)| a - b));
            if norm > eps as f64 {
                let factor = (eps as f64 / norm) as f32;
                for (v, &o) in x.iter_mut().zip(x0) {
                    *v = o + (*v - o) * factor;
                }
            }
        }
    }
    for v in x.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
}

/// The Euclidean length of `values`, in f64.
pub fn l2_norm(values: impl Iterator<Item = f32>) -> f64 {
    values.map(|v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

/// A normalized CHW input (what the network reads) back in the pixel domain.
pub fn from_input(input: &[f32]) -> Vec<f32> {
    let plane = input.len() / 3;
    input
        .iter()
        .enumerate()
        .map(|(i, &v)| v * STD[i / plane.max(1)] + MEAN[i / plane.max(1)])
        .collect()
}

/// A pixel-domain CHW image as the network's normalized input.
pub fn to_input(x: &[f32]) -> Vec<f32> {
    let plane = x.len() / 3;
    x.iter()
        .enumerate()
        .map(|(i, &v)| (v - MEAN[i / plane.max(1)]) / STD[i / plane.max(1)])
        .collect()
}

/// A gradient with respect to the normalized input as one with respect to the pixels
/// (d input / d pixel = 1 / `std[c]`), in place.
pub fn gradient_to_pixels(g: &mut [f32]) {
    let plane = g.len() / 3;
    for (i, v) in g.iter_mut().enumerate() {
        *v /= STD[i / plane.max(1)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_keep_the_ball_and_the_range() {
        let x0 = vec![0.0, 0.5, 1.0, 0.2];
        let mut x = vec![-0.3, 0.9, 1.2, 0.21];
        project(&mut x, &x0, 0.1, Norm::Linf);
        assert_eq!(x, vec![0.0, 0.6, 1.0, 0.21]);
        let mut x = vec![0.3, 0.9, 0.6, 0.2];
        project(&mut x, &x0, 0.1, Norm::L2);
        let (l2, _) = distances(&x, &x0);
        assert!(l2 <= 0.1 * 255.0 * (1.0 + 1e-5), "{l2}");
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        // Inside the ball nothing moves.
        let mut y = vec![0.01, 0.5, 0.99, 0.2];
        project(&mut y, &x0, 0.1, Norm::L2);
        assert_eq!(y, vec![0.01, 0.5, 0.99, 0.2]);
    }

    #[test]
    fn inputs_round_trip() {
        let x: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
        let back = from_input(&to_input(&x));
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-6);
        }
        let (l2, linf) = distances(&[0.0, 3.0 / 255.0], &[4.0 / 255.0, 0.0]);
        assert!((l2 - 5.0).abs() < 1e-4 && (linf - 4.0).abs() < 1e-4);
    }
}
