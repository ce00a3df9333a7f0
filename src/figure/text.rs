//! Anti-aliased text in RGB images with the embedded DejaVu Sans subsets (printable ASCII,
//! Latin-1, dashes, quotes, ellipsis, right arrow and minus sign): drawing, measuring,
//! shortening with an ellipsis and wrapping.

use std::sync::LazyLock;

use ab_glyph::{Font as _, FontRef, Glyph, PxScale, ScaleFont as _, point};
use image::RgbImage;

static REGULAR: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    FontRef::try_from_slice(include_bytes!("../../assets/fonts/DejaVuSans.ttf"))
        .expect("the embedded DejaVu Sans subset parses")
});

static BOLD: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    FontRef::try_from_slice(include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf"))
        .expect("the embedded DejaVu Sans Bold subset parses")
});

/// Drawn for characters the embedded fonts lack.
const REPLACEMENT: char = '?';

/// Ends text shortened to fit a width.
const ELLIPSIS: &str = "\u{2026}";

/// One of the embedded typefaces. Sizes (`px`) are em sizes in pixels, like CSS `font-size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Font {
    /// DejaVu Sans.
    #[default]
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

impl Font {
    fn face(self) -> &'static FontRef<'static> {
        match self {
            Font::Regular => &REGULAR,
            Font::Bold => &BOLD,
        }
    }

    /// ab_glyph scales so that ascent - descent spans the scale; convert from an em size.
    fn scale(self, px: f32) -> PxScale {
        let face = self.face();
        let units_per_em = face.units_per_em().unwrap_or(2048.0);
        PxScale::from(px * face.height_unscaled() / units_per_em)
    }

    /// Lays `text` out on one line from x = 0 with the baseline at y = 0, kerned; returns the
    /// glyphs and the advance width.
    fn layout(self, text: &str, px: f32) -> (Vec<Glyph>, f32) {
        let face = self.face().as_scaled(self.scale(px));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut caret = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let c = if c.is_control() { ' ' } else { c };
            let mut id = face.glyph_id(c);
            if id.0 == 0 {
                id = face.glyph_id(REPLACEMENT);
            }
            if let Some(previous) = previous {
                caret += face.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(face.scale(), point(caret, 0.0)));
            caret += face.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret)
    }

    /// The advance width of `text` on one line, in whole pixels (rounded up).
    pub fn width(self, text: &str, px: f32) -> u32 {
        self.layout(text, px).1.ceil() as u32
    }

    /// The distance from the top of a line to its baseline, in pixels.
    pub fn ascent(self, px: f32) -> f32 {
        self.face().as_scaled(self.scale(px)).ascent()
    }

    /// The height of one line (ascent + descent + line gap), in whole pixels.
    pub fn line_height(self, px: f32) -> u32 {
        let face = self.face().as_scaled(self.scale(px));
        (face.ascent() - face.descent() + face.line_gap()).ceil() as u32
    }

    /// Draws one line of `text` with its line box's top-left corner at (`x`, `y`), blending
    /// the glyphs' coverage over what is there. Parts outside the image are clipped.
    pub fn draw(self, image: &mut RgbImage, x: i32, y: i32, text: &str, px: f32, color: [u8; 3]) {
        let face = self.face();
        let baseline = (y as f32 + self.ascent(px)).round();
        let (glyphs, _) = self.layout(text, px);
        let (width, height) = (image.width() as i64, image.height() as i64);
        for mut glyph in glyphs {
            glyph.position.x += x as f32;
            glyph.position.y = baseline;
            let Some(outlined) = face.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outlined.px_bounds();
            let (left, top) = (bounds.min.x as i64, bounds.min.y as i64);
            outlined.draw(|gx, gy, coverage| {
                let (px_x, px_y) = (left + i64::from(gx), top + i64::from(gy));
                if px_x < 0 || px_y < 0 || px_x >= width || px_y >= height {
                    return;
                }
                let alpha = coverage.clamp(0.0, 1.0);
                let pixel = image.get_pixel_mut(px_x as u32, px_y as u32);
                for (channel, &ink) in pixel.0.iter_mut().zip(&color) {
                    let blended =
                        f32::from(*channel) + (f32::from(ink) - f32::from(*channel)) * alpha;
                    *channel = blended.round() as u8;
                }
            });
        }
    }

    /// `text` if it fits in `max_width` pixels, else its longest prefix that fits with an
    /// ellipsis appended, trailing spaces and commas dropped (empty if not even the ellipsis
    /// fits).
    pub fn ellipsize(self, text: &str, px: f32, max_width: u32) -> String {
        if self.width(text, px) <= max_width {
            return text.to_string();
        }
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let prefix = |count: usize| &text[..cuts.get(count).copied().unwrap_or(text.len())];
        let shortened = |count: usize| {
            let kept = prefix(count).trim_end_matches(|c: char| c.is_whitespace() || c == ',');
            format!("{kept}{ELLIPSIS}")
        };
        let fits = |count: usize| self.width(&shortened(count), px) <= max_width;
        if !fits(0) {
            return String::new();
        }
        // The longest prefix that fits, by bisection: widths grow with the prefix.
        let (mut lo, mut hi) = (0, cuts.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        shortened(lo)
    }

    /// `word` cut into pieces of at most `max_width` pixels (one character at the least).
    fn split_word(self, word: &str, px: f32, max_width: u32) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut piece = String::new();
        for c in word.chars() {
            if !piece.is_empty() && self.width(&format!("{piece}{c}"), px) > max_width {
                pieces.push(std::mem::take(&mut piece));
            }
            piece.push(c);
        }
        pieces.push(piece);
        pieces
    }

    /// Breaks `text` into lines of at most `max_width` pixels at spaces (and at explicit
    /// newlines; a word wider than a line is cut), keeping at most `max_lines` lines: what does
    /// not fit goes on the last line, shortened with an ellipsis.
    pub fn wrap(self, text: &str, px: f32, max_width: u32, max_lines: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            let words = paragraph
                .split_whitespace()
                .flat_map(|w| self.split_word(w, px, max_width));
            for word in words {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if line.is_empty() || self.width(&candidate, px) <= max_width {
                    line = candidate;
                } else {
                    lines.push(std::mem::take(&mut line));
                    line = word.to_string();
                }
            }
            lines.push(line);
        }
        if lines.len() > max_lines {
            let rest = lines.split_off(max_lines.saturating_sub(1)).join(" ");
            if max_lines > 0 {
                lines.push(rest);
            }
        }
        lines
            .into_iter()
            .map(|line| self.ellipsize(&line, px, max_width))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_size() {
        let font = Font::Regular;
        assert_eq!(font.width("", 14.0), 0);
        let short = font.width("cat", 14.0);
        let long = font.width("tabby cat", 14.0);
        assert!(short > 10 && long > short, "{short} {long}");
        assert!(font.width("tabby cat", 28.0) >= 2 * long - 2);
        assert!(Font::Bold.width("tabby cat", 14.0) > long);
        // DejaVu Sans: ascent + descent is 1.164 em.
        assert_eq!(font.line_height(20.0), 24);
    }

    #[test]
    fn kerning_tightens_pairs() {
        let font = Font::Regular;
        let apart = font.width("A", 40.0) + font.width("V", 40.0);
        assert!(font.width("AV", 40.0) < apart);
    }

    #[test]
    fn ellipsize_keeps_what_fits() {
        let font = Font::Regular;
        assert_eq!(font.ellipsize("goldfish", 14.0, 500), "goldfish");
        let cut = font.ellipsize("great white shark, white shark", 14.0, 100);
        assert!(cut.ends_with('\u{2026}'), "{cut}");
        assert!(cut.starts_with("great"), "{cut}");
        assert!(font.width(&cut, 14.0) <= 100);
        // A cut right after a comma drops it.
        let width = font.width("great white shark,\u{2026}", 14.0);
        assert_eq!(
            font.ellipsize("great white shark, white shark", 14.0, width),
            "great white shark\u{2026}"
        );
        assert_eq!(font.ellipsize("goldfish", 14.0, 2), "");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_caps_lines() {
        let font = Font::Regular;
        let lines = font.wrap("learning rate 25, l2 weight 1e-3", 14.0, 110, 3);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(
            lines.iter().all(|l| font.width(l, 14.0) <= 110),
            "{lines:?}"
        );
        assert_eq!(lines.join(" "), "learning rate 25, l2 weight 1e-3");
        let capped = font.wrap("one two three four five six seven eight", 14.0, 60, 2);
        assert_eq!(capped.len(), 2);
        assert!(capped[1].ends_with('\u{2026}'), "{capped:?}");
        assert_eq!(font.wrap("a\nb", 14.0, 500, 5), ["a", "b"]);
        assert_eq!(font.wrap("a\nb", 14.0, 500, 1), ["a b"]);
        assert!(font.wrap("a b", 14.0, 500, 0).is_empty());
        let long = "/a/path/far/too/long/for/one/line.jpg";
        let cut = font.wrap(&format!("from {long}, 5 steps"), 14.0, 60, usize::MAX);
        assert!(cut.len() > 3, "{cut:?}");
        assert!(cut.iter().all(|l| font.width(l, 14.0) <= 60), "{cut:?}");
        assert_eq!(cut.concat().replace(' ', ""), format!("from{long},5steps"));
    }

    #[test]
    fn draw_inks_inside_the_line_box() {
        let mut image = RgbImage::from_pixel(80, 30, image::Rgb([255, 255, 255]));
        Font::Regular.draw(&mut image, 4, 4, "Hg", 16.0, [0, 0, 0]);
        let inked: Vec<(u32, u32)> = image
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0 != [255, 255, 255])
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(inked.len() > 30);
        let line = Font::Regular.line_height(16.0);
        assert!(inked.iter().all(|&(x, y)| x >= 4 && y >= 4 && y < 4 + line));
        assert!(image.pixels().any(|p| p.0 == [0, 0, 0]));
        // Clipping: drawing off the edges must not panic.
        Font::Bold.draw(&mut image, -10, -8, "clipped text", 16.0, [0, 0, 0]);
    }
}
