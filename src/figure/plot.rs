//! A small line plot drawn with the image crate and the figure fonts: categorical x axis, one
//! line with markers per series, a legend; for the sanity check's correlation curves, the
//! faithfulness curves and robust accuracy against the budget.

use image::{Rgb, RgbImage};

use crate::figure::{BLACK, Font, GRAY, WHITE};

/// Series colors (matplotlib's tab10).
pub const SERIES_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// A line plot: y values over categorical x positions.
#[derive(Clone, Debug, Default)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// Tick labels of the x positions, left to right.
    pub x_ticks: Vec<String>,
    /// The y range shown.
    pub y_range: (f64, f64),
    /// (name, y value at each x position) per series.
    pub series: Vec<(String, Vec<f64>)>,
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 560;
const TEXT_PX: f32 = 14.0;
/// The pixel row of the plot area's top edge (below the title and the y axis label).
const PLOT_TOP: u32 = 70;

impl LinePlot {
    /// Draws the plot.
    pub fn render(&self) -> RgbImage {
        let mut image = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb(WHITE));
        let line = Font::Regular.line_height(TEXT_PX) as i32;
        let (left, right, top) = (78i32, WIDTH as i32 - 190, PLOT_TOP as i32);
        let bottom = HEIGHT as i32 - 3 * line - 30;
        let title_px = TEXT_PX * 1.25;
        let title = Font::Bold.ellipsize(&self.title, title_px, WIDTH - 16);
        let title_width = Font::Bold.width(&title, title_px) as i32;
        Font::Bold.draw(
            &mut image,
            (WIDTH as i32 - title_width) / 2,
            12,
            &title,
            title_px,
            BLACK,
        );
        let (lo, hi) = self.y_range;
        // Positions spread over the axis; a single one in its middle.
        let n = self.x_ticks.len();
        let x_at = |i: usize| match n {
            0 | 1 => (left + right) / 2,
            _ => left + 20 + (i as i32 * (right - left - 40)) / (n as i32 - 1),
        };
        let y_at =
            |v: f64| bottom - ((v - lo) / (hi - lo) * f64::from(bottom - top)).round() as i32;

        // Horizontal grid lines and y ticks every 0.2.
        let mut tick = (lo / 0.2).ceil() * 0.2;
        while tick <= hi + 1e-9 {
            let y = y_at(tick);
            let shade = if tick.abs() < 1e-9 {
                GRAY
            } else {
                [225, 225, 225]
            };
            hline(&mut image, left, right, y, shade);
            let label = format!("{tick:.1}").replace('-', "\u{2212}");
            let w = Font::Regular.width(&label, TEXT_PX) as i32;
            Font::Regular.draw(
                &mut image,
                left - w - 8,
                y - line / 2,
                &label,
                TEXT_PX,
                BLACK,
            );
            tick += 0.2;
        }
        // Axes.
        hline(&mut image, left, right, bottom, GRAY);
        for y in top..=bottom {
            put(&mut image, left, y, GRAY);
        }
        // X ticks, labels staggered on two rows so long layer names do not collide.
        for (i, label) in self.x_ticks.iter().enumerate() {
            let x = x_at(i);
            for y in bottom..bottom + 5 {
                put(&mut image, x, y, GRAY);
            }
            let w = Font::Regular.width(label, TEXT_PX) as i32;
            let row = (i % 2) as i32;
            Font::Regular.draw(
                &mut image,
                x - w / 2,
                bottom + 7 + row * line,
                label,
                TEXT_PX,
                BLACK,
            );
        }
        let x_label_width = Font::Regular.width(&self.x_label, TEXT_PX) as i32;
        Font::Regular.draw(
            &mut image,
            (left + right - x_label_width) / 2,
            bottom + 12 + 2 * line,
            &self.x_label,
            TEXT_PX,
            BLACK,
        );
        // The y label, above the axis (the fonts draw horizontal text only).
        Font::Regular.draw(&mut image, 8, top - line - 6, &self.y_label, TEXT_PX, BLACK);

        for (s, (name, values)) in self.series.iter().enumerate() {
            let color = SERIES_COLORS[s % SERIES_COLORS.len()];
            let points: Vec<(i32, i32)> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| (x_at(i), y_at(v.clamp(lo, hi))))
                .collect();
            for pair in points.windows(2) {
                thick_line(&mut image, pair[0], pair[1], color);
            }
            for &(x, y) in &points {
                disc(&mut image, x, y, 4, color);
            }
            // Legend entry.
            let ly = top + 10 + s as i32 * (line + 6);
            thick_line(
                &mut image,
                (right + 20, ly + line / 2),
                (right + 50, ly + line / 2),
                color,
            );
            disc(&mut image, right + 35, ly + line / 2, 4, color);
            Font::Regular.draw(&mut image, right + 58, ly, name, TEXT_PX, BLACK);
        }
        image
    }
}

fn put(image: &mut RgbImage, x: i32, y: i32, color: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < image.width() && (y as u32) < image.height() {
        image.put_pixel(x as u32, y as u32, Rgb(color));
    }
}

fn hline(image: &mut RgbImage, x0: i32, x1: i32, y: i32, color: [u8; 3]) {
    for x in x0..=x1 {
        put(image, x, y, color);
    }
}

fn disc(image: &mut RgbImage, cx: i32, cy: i32, r: i32, color: [u8; 3]) {
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(image, cx + dx, cy + dy, color);
            }
        }
    }
}

/// A line about 2.5 pixels wide.
fn thick_line(image: &mut RgbImage, (x0, y0): (i32, i32), (x1, y1): (i32, i32), color: [u8; 3]) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for k in 0..=steps {
        let t = k as f32 / steps as f32;
        let x = (x0 as f32 + t * (x1 - x0) as f32).round() as i32;
        let y = (y0 as f32 + t * (y1 - y0) as f32).round() as i32;
        disc(image, x, y, 1, color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_drawn_in_their_colors_where_their_values_are() {
        let plot = LinePlot {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_ticks: vec!["a".into(), "b".into(), "c".into()],
            y_range: (0.0, 1.0),
            series: vec![
                ("high".into(), vec![1.0, 1.0, 1.0]),
                ("low".into(), vec![0.0, 0.5, 0.0]),
            ],
        };
        let image = plot.render();
        let count = |color: [u8; 3], rows: std::ops::Range<u32>| {
            rows.flat_map(|y| (0..WIDTH).map(move |x| (x, y)))
                .filter(|&(x, y)| image.get_pixel(x, y).0 == color)
                .count()
        };
        // The first series runs along the top of the plot area, the second dips to the bottom.
        let top = PLOT_TOP - 5..PLOT_TOP + 6;
        assert!(count(SERIES_COLORS[0], top.clone()) > 500);
        assert_eq!(count(SERIES_COLORS[1], top), 0);
        assert!(count(SERIES_COLORS[1], 300..500) > 200);
    }
}
