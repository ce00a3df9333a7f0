//! Horizontal colorbars with round-number tick labels, for figures whose maps share one color
//! scale.

use image::{Rgb, RgbImage};

use super::colormap::Colormap;
use super::palette::{BLACK, GRAY, WHITE};
use super::text::Font;

/// Most ticks on a bar; fewer where their labels would crowd.
const MAX_TICKS: usize = 7;

/// A `width`-pixel-wide horizontal colorbar of `colormap` over `range`, with ticks and labels
/// under it and an optional `label` below those; text is `px` pixels (em size). The bar is
/// inset so the end labels fit. An empty range draws the map's flat color (as
/// [`Colormap::render`] does) with a single tick.
pub fn colorbar(
    colormap: Colormap,
    range: (f32, f32),
    width: u32,
    label: Option<&str>,
    px: f32,
) -> RgbImage {
    let (lo, hi) = (f64::from(range.0), f64::from(range.1));
    let font = Font::Regular;
    // The most ticks whose labels, a third of an em apart at least, fit the bar.
    let (ticks, labels, widest) = (1..=MAX_TICKS)
        .rev()
        .map(|count| {
            let ticks = ticks(lo, hi, count);
            let labels: Vec<String> = ticks.iter().map(|&v| tick_label(v, &ticks)).collect();
            let widest = labels.iter().map(|l| font.width(l, px)).max().unwrap_or(0);
            (ticks, labels, widest)
        })
        .find(|(ticks, _, widest)| {
            let spacing = *widest as f32 + px * 1.3;
            ticks.len() <= 1 || spacing * (ticks.len() - 1) as f32 <= width as f32 - *widest as f32
        })
        .unwrap_or_else(|| (Vec::new(), Vec::new(), 0));
    let inset = widest.div_ceil(2) + 1;
    let bar_width = width.saturating_sub(2 * inset).max(2);
    let width = bar_width + 2 * inset;
    let bar_height = (px * 0.9).round().max(4.0) as u32;
    let tick_length = (px * 0.3).round().max(2.0) as u32;
    let line = font.line_height(px);
    let labels_top = bar_height + tick_length + 2;
    let label_top = labels_top + line + (px * 0.2).round() as u32;
    let height = if label.is_some() {
        label_top + line
    } else {
        labels_top + line
    };
    let mut image = RgbImage::from_pixel(width, height, Rgb(WHITE));

    let span = hi - lo;
    let flat = !(span > 0.0 && span.is_finite());
    for i in 0..bar_width {
        let t = if flat {
            if colormap.is_diverging() { 0.5 } else { 0.0 }
        } else {
            (i as f32 + 0.5) / bar_width as f32
        };
        let color = Rgb(colormap.map(t));
        for y in 0..bar_height {
            image.put_pixel(inset + i, y, color);
        }
    }
    outline(&mut image, inset, bar_width, bar_height);

    for (&value, text) in ticks.iter().zip(&labels) {
        let fraction = if flat { 0.5 } else { (value - lo) / span };
        let x = inset + (fraction * f64::from(bar_width - 1)).round() as u32;
        for y in bar_height..bar_height + tick_length {
            image.put_pixel(x, y, Rgb(GRAY));
        }
        let text_x = x as i32 - (font.width(text, px) / 2) as i32;
        font.draw(&mut image, text_x, labels_top as i32, text, px, BLACK);
    }
    if let Some(label) = label {
        let label = font.ellipsize(label, px, width);
        let x = (width - font.width(&label, px)) / 2;
        font.draw(&mut image, x as i32, label_top as i32, &label, px, BLACK);
    }
    image
}

/// A one-pixel gray frame around the bar.
fn outline(image: &mut RgbImage, left: u32, width: u32, height: u32) {
    for x in left..left + width {
        image.put_pixel(x, 0, Rgb(GRAY));
        image.put_pixel(x, height - 1, Rgb(GRAY));
    }
    for y in 0..height {
        image.put_pixel(left, y, Rgb(GRAY));
        image.put_pixel(left + width - 1, y, Rgb(GRAY));
    }
}

/// At most `max_count` (at least 1) round-number ticks inside `lo..=hi`: multiples of the
/// finest step of 1, 2 or 5 times a power of ten that gives few enough.
fn ticks(lo: f64, hi: f64, max_count: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) || max_count < 2 {
        let middle = if span.is_finite() {
            lo + span.max(0.0) / 2.0
        } else {
            0.0
        };
        return vec![if middle.is_finite() { middle } else { 0.0 }];
    }
    let multiples = |step: f64| {
        let first = (lo / step - 1e-9).ceil() as i64;
        let last = (hi / step + 1e-9).floor() as i64;
        (first..=last).map(move |k| k as f64 * step)
    };
    let power = 10f64.powf((span / max_count as f64).log10().floor());
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| multiples(step).count() <= max_count)
        .map(|step| multiples(step).collect())
        .unwrap_or_else(|| vec![lo])
}

/// `value` written with as many decimals as the tick spacing needs, scientific notation for
/// very small or large scales, and a true minus sign.
fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => value.abs(),
    };
    let largest = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let value = if value.abs() < step * 1e-6 {
        0.0
    } else {
        value
    };
    let text = if value == 0.0 {
        "0".to_string()
    } else if step < 1e-3 || largest >= 1e5 {
        format!("{value:.1e}")
    } else {
        let decimals = if step > 0.0 {
            (-step.log10().floor()).max(0.0) as usize
        } else {
            2
        };
        format!("{value:.decimals$}")
    };
    text.replace('-', "\u{2212}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let unit = ticks(0.0, 1.0, 7);
        let expected = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        assert_eq!(unit.len(), expected.len());
        assert!(
            unit.iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        assert_eq!(ticks(-3.0, 3.0, 7), [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(-3.0, 3.0, 4), [-2.0, 0.0, 2.0]);
        let small = ticks(0.013, 0.087, 7);
        assert_eq!(small.len(), 7);
        assert!((small[0] - 0.02).abs() < 1e-12 && (small[6] - 0.08).abs() < 1e-12);
        assert_eq!(ticks(2.0, 2.0, 7), [2.0]);
        assert_eq!(ticks(0.0, 4.0, 1), [2.0]);
    }

    #[test]
    fn tick_labels_use_needed_decimals() {
        let t = ticks(0.0, 1.0, 7);
        let labels: Vec<String> = t.iter().map(|&v| tick_label(v, &t)).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = ticks(-40.0, 40.0, 5);
        assert_eq!(tick_label(t[0], &t), "\u{2212}40");
        let t = ticks(0.0, 4e-5, 5);
        assert_eq!(tick_label(t[1], &t), "1.0e\u{2212}5");
    }

    #[test]
    fn colorbar_has_the_asked_width_and_the_map_colors() {
        let bar = colorbar(Colormap::Hot, (0.0, 1.0), 300, Some("saliency"), 14.0);
        assert_eq!(bar.width(), 300);
        let middle = bar.get_pixel(150, 6).0;
        assert_eq!(middle[0], 255, "hot is full red mid-bar: {middle:?}");
        assert!(bar.height() > 30);
        // Tick labels put ink under the bar.
        let ink = (20..bar.height())
            .flat_map(|y| (0..bar.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| bar.get_pixel(x, y).0 == BLACK)
            .count();
        assert!(ink > 20);
    }
}
