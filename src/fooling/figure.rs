//! The fooling figure: one row per attacked image with the original, the fooled image, their
//! difference and the difference magnified ×10, captioned with the predictions.
//!
//! Differences are drawn as "difference + 0.5": each channel's change in pixel levels added to
//! mid-gray (level 128) and clamped, so gray means unchanged and the three channels keep their
//! own signs (a change of +d red and −d blue shows as a tint, which a single-scalar diverging
//! colormap would have to average away). Both difference columns use the same fixed mapping of
//! one level to one level (×1) and to ten levels (×10), so the ×1 column shows what the eye can
//! see of the change, usually nothing, and the ×10 column its pattern.

use image::{Rgb, RgbImage};

use crate::classes::ClassNames;
use crate::figure::{BEIGE, BLACK, Cell, Figure};
use crate::fooling::kernels::Goal;
use crate::fooling::run::AttackOutcome;
use crate::preprocess::to_rgb;

/// The gains of the two difference columns.
pub const DIFFERENCE_GAINS: [f32; 2] = [1.0, 10.0];

/// The difference between `x` and `x0` (normalized CHW of `size`×`size`) as 8-bit images, the
/// ones a PNG stores and the figure shows, times `gain`, drawn around mid-gray: each channel
/// `128 + gain · Δ` in pixel levels, rounded and clamped to 0..=255.
pub fn difference_image(x: &[f32], x0: &[f32], size: usize, gain: f32) -> RgbImage {
    let (x, x0) = (to_rgb(x, size), to_rgb(x0, size));
    RgbImage::from_fn(size as u32, size as u32, |u, v| {
        let (a, b) = (x.get_pixel(u, v), x0.get_pixel(u, v));
        Rgb(std::array::from_fn(|c| {
            let d = f32::from(a[c]) - f32::from(b[c]);
            (128.0 + gain * d).round().clamp(0.0, 255.0) as u8
        }))
    })
}

/// The goal in words: "→ target" or "away from class".
pub fn goal_label(classes: &ClassNames, goal: Goal) -> String {
    match goal {
        Goal::Target(t) => format!("\u{2192} {}", classes.name(t)),
        Goal::Away(c) => format!("away from {}", classes.name(c)),
    }
}

/// What a row of the figure says, computed from its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct RowCaptions {
    /// Under the original: the network's top class on it and its probability.
    pub original: String,
    /// Under the fooled image: the network's top class and its probability on the 8-bit image,
    /// the one a PNG stores and the one drawn.
    pub fooled: String,
    /// Under the fooled image: the verdict on the 8-bit image ("fooled", "NOT fooled", "NOT
    /// fooled once rounded").
    pub verdict: String,
    /// Whether the 8-bit image reaches the goal (its captions are drawn in beige, else black).
    pub reached: bool,
    /// Under the difference: its L2 and L∞ size in pixel levels.
    pub difference: String,
    /// Under the difference ×10: the iterations taken ("12 iterations", "100 iterations ran
    /// out").
    pub iterations: String,
}

impl RowCaptions {
    /// The captions of `o`'s row.
    pub fn of(o: &AttackOutcome, classes: &ClassNames) -> Self {
        let percent = |p: f32| format!("{:.1}%", 100.0 * p);
        let shown = &o.rounded;
        RowCaptions {
            original: format!("{} {}", classes.name(o.clean.index), percent(o.clean.prob)),
            fooled: format!(
                "{} {}",
                classes.name(shown.prediction.index),
                percent(shown.prediction.prob)
            ),
            verdict: o.verdict.summary().to_string(),
            reached: shown.reached,
            difference: format!("L2 {:.0}, Linf {:.0} levels", shown.l2_px, shown.linf_px),
            iterations: o.verdict.iterations(o.iterations),
        }
    }
}

/// The figure of `outcomes` (each from `originals[i]`, normalized CHW of `size`×`size`),
/// rows labelled with `labels[i]`. The fooled column shows each image rounded to 8 bits, as a
/// PNG stores it, with the network's verdict on it ([`RowCaptions`]).
pub fn fooling_figure(
    title: &str,
    labels: &[String],
    originals: &[Vec<f32>],
    outcomes: &[AttackOutcome],
    size: usize,
    classes: &ClassNames,
) -> RgbImage {
    let cell = size.clamp(64, 224) as u32;
    let mut figure = Figure::new(cell, cell).title(title).column_titles([
        "original",
        "fooled",
        "difference",
        "difference \u{d7}10",
    ]);
    for ((label, x0), o) in labels.iter().zip(originals).zip(outcomes) {
        let captions = RowCaptions::of(o, classes);
        let fooled_color = if captions.reached { BEIGE } else { BLACK };
        let [diff1, diff10] =
            DIFFERENCE_GAINS.map(|g| Cell::new(difference_image(&o.image, x0, size, g)));
        figure = figure.labelled_row(
            format!("{label} {}", goal_label(classes, o.goal)),
            [
                Cell::new(to_rgb(x0, size)).caption(captions.original, BLACK),
                Cell::new(to_rgb(&o.image, size))
                    .caption(captions.fooled, fooled_color)
                    .caption(captions.verdict, fooled_color),
                diff1.caption(captions.difference, BLACK),
                diff10.caption(captions.iterations, BLACK),
            ],
        );
    }
    figure.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_is_drawn_around_gray_in_pixel_levels() {
        let size = 2;
        let x0 = vec![0.0; 12];
        let mut x = x0.clone();
        let unit = crate::fooling::config::pixel_unit();
        x[0] = 3.0 * unit[0];
        x[4 + 1] = -2.0 * unit[1];
        x[8 + 3] = 40.0 * unit[2];
        let one = difference_image(&x, &x0, size, 1.0);
        assert_eq!(one.get_pixel(0, 0).0, [131, 128, 128]);
        assert_eq!(one.get_pixel(1, 0).0, [128, 126, 128]);
        let ten = difference_image(&x, &x0, size, 10.0);
        assert_eq!(ten.get_pixel(0, 0).0, [158, 128, 128]);
        assert_eq!(ten.get_pixel(1, 1).0, [128, 128, 255]);
    }

    #[test]
    fn difference_is_that_of_the_8_bit_images() {
        let size = 2;
        let gray = RgbImage::from_pixel(2, 2, Rgb([100, 100, 100]));
        let x0 = crate::preprocess::to_input(&gray, size).unwrap();
        let unit = crate::fooling::config::pixel_unit();
        let mut x = x0.clone();
        // A change under half a level is gone once rounded; one over half a level is one level.
        x[0] += 0.3 * unit[0];
        x[1] += 0.7 * unit[0];
        let ten = difference_image(&x, &x0, size, 10.0);
        assert_eq!(ten.get_pixel(0, 0).0, [128, 128, 128]);
        assert_eq!(ten.get_pixel(1, 0).0, [138, 128, 128]);
    }
}
