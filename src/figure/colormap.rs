//! Colormaps that turn scalar maps (saliency, differences) into RGB images, built the way
//! matplotlib builds its 256-entry lookup tables so `Hot`, `Gray` and `Seismic` match it byte for
//! byte.

use std::sync::LazyLock;

use image::RgbImage;

/// Entries in a lookup table, as in matplotlib's default colormaps.
const LUT_SIZE: usize = 256;

/// A lookup table: `LUT_SIZE` colors from t = 0 to t = 1.
type Lut = [[u8; 3]; LUT_SIZE];

/// One channel of a piecewise-linear colormap in matplotlib's segment form: rows of
/// `(x, value left of x, value right of x)` with x rising from 0 to 1.
type Segments = &'static [(f64, f64, f64)];

/// matplotlib's `_hot_data`: red rises first, then green, then blue.
const HOT: [Segments; 3] = [
    &[(0.0, 0.0416, 0.0416), (0.365079, 1.0, 1.0), (1.0, 1.0, 1.0)],
    &[
        (0.0, 0.0, 0.0),
        (0.365079, 0.0, 0.0),
        (0.746032, 1.0, 1.0),
        (1.0, 1.0, 1.0),
    ],
    &[(0.0, 0.0, 0.0), (0.746032, 0.0, 0.0), (1.0, 1.0, 1.0)],
];

/// matplotlib's `_binary_data` reversed, i.e. `gray`.
const GRAY: [Segments; 3] = [
    &[(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)],
    &[(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)],
    &[(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)],
];

/// matplotlib's `_seismic_data`: dark blue, blue, white, red, dark red at even spacing.
const SEISMIC: [Segments; 3] = [
    &[
        (0.0, 0.0, 0.0),
        (0.25, 0.0, 0.0),
        (0.5, 1.0, 1.0),
        (0.75, 1.0, 1.0),
        (1.0, 0.5, 0.5),
    ],
    &[
        (0.0, 0.0, 0.0),
        (0.25, 0.0, 0.0),
        (0.5, 1.0, 1.0),
        (0.75, 0.0, 0.0),
        (1.0, 0.0, 0.0),
    ],
    &[
        (0.0, 0.3, 0.3),
        (0.25, 1.0, 1.0),
        (0.5, 1.0, 1.0),
        (0.75, 0.0, 0.0),
        (1.0, 0.0, 0.0),
    ],
];

/// matplotlib's `viridis` sampled at 33 evenly spaced points (every 8th entry of its table);
/// linear interpolation between them stays within 2 levels of the full table.
const VIRIDIS_STOPS: [[u8; 3]; 33] = [
    [68, 1, 84],
    [71, 13, 96],
    [72, 24, 106],
    [72, 35, 116],
    [71, 45, 123],
    [69, 55, 129],
    [66, 64, 134],
    [62, 73, 137],
    [59, 82, 139],
    [55, 91, 141],
    [51, 99, 141],
    [47, 107, 142],
    [44, 114, 142],
    [41, 122, 142],
    [38, 130, 142],
    [35, 137, 142],
    [33, 145, 140],
    [31, 151, 139],
    [31, 159, 136],
    [33, 166, 133],
    [39, 173, 129],
    [49, 181, 123],
    [61, 188, 116],
    [76, 194, 108],
    [92, 200, 99],
    [110, 206, 88],
    [129, 211, 77],
    [149, 216, 64],
    [170, 220, 50],
    [192, 223, 37],
    [213, 226, 26],
    [234, 229, 26],
    [253, 231, 37],
];

static HOT_LUT: LazyLock<Lut> = LazyLock::new(|| segmented_lut(&HOT.map(<[_]>::to_vec)));
static GRAY_LUT: LazyLock<Lut> = LazyLock::new(|| segmented_lut(&GRAY.map(<[_]>::to_vec)));
static SEISMIC_LUT: LazyLock<Lut> = LazyLock::new(|| segmented_lut(&SEISMIC.map(<[_]>::to_vec)));
static VIRIDIS_LUT: LazyLock<Lut> = LazyLock::new(|| {
    let last = (VIRIDIS_STOPS.len() - 1) as f64;
    let channel = |c: usize| -> Vec<(f64, f64, f64)> {
        VIRIDIS_STOPS
            .iter()
            .enumerate()
            .map(|(i, stop)| {
                let value = f64::from(stop[c]) / 255.0;
                (i as f64 / last, value, value)
            })
            .collect()
    };
    segmented_lut(&[channel(0), channel(1), channel(2)])
});

/// Builds a lookup table the way matplotlib's `_create_lookup_table` does (gamma 1), then
/// converts to bytes by truncation as `Colormap.__call__(bytes=True)` does.
fn segmented_lut(channels: &[Vec<(f64, f64, f64)>; 3]) -> Lut {
    let n = LUT_SIZE - 1;
    let step = 1.0 / n as f64;
    let mut lut = [[0u8; 3]; LUT_SIZE];
    for (c, segments) in channels.iter().enumerate() {
        let xs: Vec<f64> = segments.iter().map(|s| s.0 * n as f64).collect();
        for (i, entry) in lut.iter_mut().enumerate() {
            let value = if i == 0 {
                segments[0].2
            } else if i == n {
                segments[segments.len() - 1].1
            } else {
                let x = n as f64 * (i as f64 * step);
                // First breakpoint at or right of x (numpy's searchsorted, side left).
                let k = xs
                    .iter()
                    .position(|&b| b >= x)
                    .unwrap_or(xs.len() - 1)
                    .max(1);
                let distance = (x - xs[k - 1]) / (xs[k] - xs[k - 1]);
                distance * (segments[k].1 - segments[k - 1].2) + segments[k - 1].2
            };
            entry[c] = (value.clamp(0.0, 1.0) * 255.0) as u8;
        }
    }
    lut
}

/// A colormap: a function from t in [0, 1] to an sRGB color.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colormap {
    /// matplotlib's `hot`: black, red, yellow, white. The classic saliency-map colormap.
    Hot,
    /// matplotlib's `gray`: black to white.
    Gray,
    /// matplotlib's `viridis`: perceptually uniform dark blue, green, yellow, for magnitudes.
    Viridis,
    /// matplotlib's `seismic`: dark blue, blue, white, red, dark red; a diverging map for signed
    /// values, white at t = 0.5.
    Seismic,
}

impl Colormap {
    /// The color at `t`, clamped to [0, 1]; NaN maps like 0. Like matplotlib, t picks one of 256
    /// table entries (`floor(256 t)`, with t = 1 taking the last).
    pub fn map(&self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let index = ((f64::from(t) * LUT_SIZE as f64) as usize).min(LUT_SIZE - 1);
        self.lut()[index]
    }

    /// Whether the map is diverging (centred on a neutral middle color), i.e. meant for signed
    /// values around zero.
    pub fn is_diverging(&self) -> bool {
        matches!(self, Colormap::Seismic)
    }

    /// Colors a row-major `width` × `height` scalar map. `range` is the value shown at t = 0 and
    /// t = 1; `None` takes it from the finite values: their min..max, or for a diverging map
    /// -m..m with m the largest magnitude, so zero stays at the neutral middle. A flat map (empty
    /// range) is drawn in the map's t = 0 color, or its middle for a diverging map.
    ///
    /// # Panics
    /// If `values.len() != width * height`.
    pub fn render(
        &self,
        values: &[f32],
        width: usize,
        height: usize,
        range: Option<(f32, f32)>,
    ) -> RgbImage {
        assert_eq!(
            values.len(),
            width * height,
            "a {width}x{height} map needs {} values",
            width * height
        );
        let (lo, hi) = range.unwrap_or_else(|| self.data_range(values));
        let span = hi - lo;
        let flat = if self.is_diverging() { 0.5 } else { 0.0 };
        let lut = self.lut();
        let mut image = RgbImage::new(width as u32, height as u32);
        for (pixel, &v) in image.pixels_mut().zip(values) {
            let t = if span > 0.0 && span.is_finite() {
                (v - lo) / span
            } else {
                flat
            };
            let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
            let index = ((f64::from(t) * LUT_SIZE as f64) as usize).min(LUT_SIZE - 1);
            pixel.0 = lut[index];
        }
        image
    }

    /// The range `render` uses when given none.
    pub fn data_range(&self, values: &[f32]) -> (f32, f32) {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        if self.is_diverging() {
            let m = finite.fold(0.0f32, |m, v| m.max(v.abs()));
            (-m, m)
        } else {
            let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            if lo <= hi { (lo, hi) } else { (0.0, 0.0) }
        }
    }

    fn lut(&self) -> &'static Lut {
        match self {
            Colormap::Hot => &HOT_LUT,
            Colormap::Gray => &GRAY_LUT,
            Colormap::Viridis => &VIRIDIS_LUT,
            Colormap::Seismic => &SEISMIC_LUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table entries of matplotlib 3.11's colormaps, from `cmap(i / 256, bytes=True)`.
    const MATPLOTLIB: &[(Colormap, usize, [u8; 3])] = &[
        (Colormap::Hot, 0, [10, 0, 0]),
        (Colormap::Hot, 1, [13, 0, 0]),
        (Colormap::Hot, 92, [252, 0, 0]),
        (Colormap::Hot, 93, [254, 0, 0]),
        (Colormap::Hot, 94, [255, 2, 0]),
        (Colormap::Hot, 127, [255, 89, 0]),
        (Colormap::Hot, 128, [255, 91, 0]),
        (Colormap::Hot, 190, [255, 254, 0]),
        (Colormap::Hot, 191, [255, 255, 2]),
        (Colormap::Hot, 255, [255, 255, 255]),
        (Colormap::Gray, 32, [32, 32, 32]),
        (Colormap::Gray, 33, [32, 32, 32]),
        (Colormap::Gray, 255, [255, 255, 255]),
        (Colormap::Seismic, 0, [0, 0, 76]),
        (Colormap::Seismic, 63, [0, 0, 252]),
        (Colormap::Seismic, 127, [253, 253, 255]),
        (Colormap::Seismic, 128, [255, 253, 253]),
        (Colormap::Seismic, 255, [127, 0, 0]),
        (Colormap::Viridis, 0, [68, 1, 84]),
        (Colormap::Viridis, 128, [33, 145, 140]),
        (Colormap::Viridis, 255, [253, 231, 36]),
    ];

    fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
        a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
    }

    #[test]
    fn tables_match_matplotlib() {
        for &(map, index, expected) in MATPLOTLIB {
            let t = (index as f32 + 0.5) / 256.0;
            let tolerance = if map == Colormap::Viridis { 2 } else { 0 };
            let got = map.map(t);
            assert!(
                close(got, expected, tolerance),
                "{map:?}[{index}] = {got:?}, matplotlib {expected:?}"
            );
        }
    }

    #[test]
    fn hot_runs_black_red_yellow_white() {
        let hot = Colormap::Hot;
        // matplotlib's hot starts at red 0.0416, i.e. (10, 0, 0): black to the eye.
        assert_eq!(hot.map(0.0), [10, 0, 0]);
        assert_eq!(hot.map(1.0), [255, 255, 255]);
        // At 0.5 red is full, green a third of the way up (0.359), blue still off.
        assert_eq!(hot.map(0.5), [255, 91, 0]);
        assert_eq!(hot.map(0.6), [255, 157, 0]);
        assert_eq!(hot.map(-3.0), hot.map(0.0));
        assert_eq!(hot.map(7.0), hot.map(1.0));
        assert_eq!(hot.map(f32::NAN), hot.map(0.0));
    }

    #[test]
    fn render_spans_the_data_or_the_given_range() {
        let values = [2.0, 3.0, 4.0, f32::NAN];
        let image = Colormap::Gray.render(&values, 2, 2, None);
        assert_eq!(image.dimensions(), (2, 2));
        assert_eq!(image.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(image.get_pixel(1, 0).0, Colormap::Gray.map(0.5));
        assert_eq!(image.get_pixel(0, 1).0, [255, 255, 255]);
        assert_eq!(image.get_pixel(1, 1).0, [0, 0, 0]);

        let image = Colormap::Gray.render(&values, 4, 1, Some((0.0, 8.0)));
        assert_eq!(image.get_pixel(2, 0).0, Colormap::Gray.map(0.5));
        assert_eq!(image.get_pixel(0, 0).0, Colormap::Gray.map(0.25));
    }

    #[test]
    fn flat_maps_do_not_divide_by_zero() {
        let flat = [5.0; 6];
        let image = Colormap::Hot.render(&flat, 3, 2, None);
        assert!(image.pixels().all(|p| p.0 == Colormap::Hot.map(0.0)));
        let image = Colormap::Seismic.render(&[0.0; 4], 2, 2, None);
        assert!(image.pixels().all(|p| p.0 == Colormap::Seismic.map(0.5)));
        let image = Colormap::Hot.render(&[1.0, 2.0], 2, 1, Some((3.0, 3.0)));
        assert!(image.pixels().all(|p| p.0 == Colormap::Hot.map(0.0)));
    }

    #[test]
    fn diverging_maps_centre_zero() {
        assert_eq!(Colormap::Seismic.data_range(&[-1.0, 0.5, 3.0]), (-3.0, 3.0));
        let image = Colormap::Seismic.render(&[-1.0, 0.0, 3.0], 3, 1, None);
        assert_eq!(image.get_pixel(1, 0).0, Colormap::Seismic.map(0.5));
        assert_eq!(image.get_pixel(2, 0).0, Colormap::Seismic.map(1.0));
        assert_eq!(Colormap::Viridis.data_range(&[-1.0, 0.5, 3.0]), (-1.0, 3.0));
    }
}
