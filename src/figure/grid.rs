//! The [`Figure`] builder: a titled grid of image cells with captions under each cell, column
//! titles, row labels and an optional shared colorbar, rendered on white.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use super::colorbar::colorbar;
use super::colormap::Colormap;
use super::palette::{BLACK, GRAY, WHITE};
use super::text::Font;

/// Most lines a row label wraps to.
const ROW_LABEL_LINES: usize = 4;

/// One line of text under a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caption {
    /// The text; shortened with an ellipsis if wider than the cell.
    pub text: String,
    /// Its color.
    pub color: [u8; 3],
}

impl Caption {
    /// A caption line.
    pub fn new(text: impl Into<String>, color: [u8; 3]) -> Self {
        Caption {
            text: text.into(),
            color,
        }
    }
}

/// One image of the grid and the caption lines under it.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The image, scaled to fit the cell keeping its aspect ratio and centred.
    pub image: RgbImage,
    /// Caption lines, top to bottom.
    pub captions: Vec<Caption>,
    /// The filter used when the image is not already the cell's size: `Nearest` keeps the
    /// pixels of small maps sharp, `Triangle` or `Lanczos3` (the default) suit photos.
    pub filter: FilterType,
}

impl Cell {
    /// A cell without captions, scaled with Lanczos3.
    pub fn new(image: RgbImage) -> Self {
        Cell {
            image,
            captions: Vec::new(),
            filter: FilterType::Lanczos3,
        }
    }

    /// Adds a caption line under the previous ones.
    pub fn caption(mut self, text: impl Into<String>, color: [u8; 3]) -> Self {
        self.captions.push(Caption::new(text, color));
        self
    }

    /// Sets the scaling filter.
    pub fn filter(mut self, filter: FilterType) -> Self {
        self.filter = filter;
        self
    }
}

/// A row of cells with an optional label at its left.
#[derive(Clone, Debug)]
struct Row {
    label: Option<String>,
    cells: Vec<Cell>,
}

/// A colorbar drawn under the grid.
#[derive(Clone, Debug)]
struct ColorbarSpec {
    colormap: Colormap,
    range: (f32, f32),
    label: String,
}

/// A figure: rows × columns of equally sized cells on white, like a matplotlib subplot grid
/// with the axes turned off. Build it with the chained methods, then [`Figure::render`]:
///
/// ```
/// use netlens::figure::{BEIGE, BLACK, Cell, Figure};
/// let photo = image::RgbImage::new(224, 224);
/// let figure = Figure::new(224, 224)
///     .title("Saliency maps")
///     .row(vec![Cell::new(photo).caption("hay", BLACK).caption("hay", BEIGE)])
///     .render();
/// assert!(figure.width() > 224);
/// ```
#[derive(Clone, Debug)]
pub struct Figure {
    cell_width: u32,
    cell_height: u32,
    text_px: f32,
    title: Option<String>,
    column_titles: Vec<String>,
    rows: Vec<Row>,
    colorbar: Option<ColorbarSpec>,
}

/// Where everything goes, in pixels.
struct Layout {
    margin: u32,
    column_gap: u32,
    row_gap: u32,
    caption_gap: u32,
    label_width: u32,
    label_gap: u32,
    columns: u32,
    width: u32,
}

impl Layout {
    /// Left edge of the cells.
    fn grid_left(&self) -> u32 {
        self.margin + self.label_width + self.label_gap
    }

    /// Width of the cells with the gaps between them.
    fn grid_width(&self, cell_width: u32) -> u32 {
        (self.columns * cell_width + self.columns.saturating_sub(1) * self.column_gap).max(1)
    }

    /// Left edge of column `c`.
    fn column_left(&self, c: u32, cell_width: u32) -> u32 {
        self.grid_left() + c * (cell_width + self.column_gap)
    }
}

impl Figure {
    /// An empty figure whose cells are `cell_width` × `cell_height` pixels; text sizes follow
    /// the cell width (about 15 px captions for 224 px cells).
    pub fn new(cell_width: u32, cell_height: u32) -> Self {
        let cell_width = cell_width.max(1);
        Figure {
            cell_width,
            cell_height: cell_height.max(1),
            text_px: (cell_width as f32 * 0.066).clamp(11.0, 16.0),
            title: None,
            column_titles: Vec::new(),
            rows: Vec::new(),
            colorbar: None,
        }
    }

    /// Sets the caption text size in pixels (em size); titles and labels scale with it.
    pub fn text_size(mut self, px: f32) -> Self {
        self.text_px = px.max(4.0);
        self
    }

    /// Sets the bold title above the grid, wrapped to the figure's width (never cut: a figure
    /// says how it was made).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the titles above the columns, left to right.
    pub fn column_titles<S: Into<String>>(mut self, titles: impl IntoIterator<Item = S>) -> Self {
        self.column_titles = titles.into_iter().map(Into::into).collect();
        self
    }

    /// Appends a row of cells without a label; a row shorter than others leaves blanks at
    /// its right.
    pub fn row(mut self, cells: impl IntoIterator<Item = Cell>) -> Self {
        self.rows.push(Row {
            label: None,
            cells: cells.into_iter().collect(),
        });
        self
    }

    /// Appends a row of cells with a label at its left (wrapped; `\n` breaks lines).
    pub fn labelled_row(
        mut self,
        label: impl Into<String>,
        cells: impl IntoIterator<Item = Cell>,
    ) -> Self {
        self.rows.push(Row {
            label: Some(label.into()),
            cells: cells.into_iter().collect(),
        });
        self
    }

    /// Adds a horizontal colorbar of `colormap` over `range` under the grid, with `label`
    /// under its ticks (empty for none): the key to maps drawn on a shared scale.
    pub fn colorbar(
        mut self,
        colormap: Colormap,
        range: (f32, f32),
        label: impl Into<String>,
    ) -> Self {
        self.colorbar = Some(ColorbarSpec {
            colormap,
            range,
            label: label.into(),
        });
        self
    }

    fn caption_px(&self) -> f32 {
        self.text_px
    }

    fn column_title_px(&self) -> f32 {
        self.text_px * 1.15
    }

    fn title_px(&self) -> f32 {
        self.text_px * 1.4
    }

    /// Spacing scaled with the text size.
    fn space(&self, ems: f32) -> u32 {
        (self.text_px * ems).round() as u32
    }

    fn layout(&self) -> Layout {
        let columns = self
            .rows
            .iter()
            .map(|row| row.cells.len())
            .max()
            .unwrap_or(0)
            .max(self.column_titles.len()) as u32;
        let px = self.caption_px();
        let natural_label_width = self
            .rows
            .iter()
            .filter_map(|row| row.label.as_deref())
            .flat_map(|label| label.split('\n'))
            .map(|line| Font::Regular.width(line.trim(), px))
            .max();
        let label_width = natural_label_width.map_or(0, |w| w.min(self.cell_width));
        let label_gap = if label_width > 0 { self.space(0.9) } else { 0 };
        let margin = self.space(1.2);
        let mut layout = Layout {
            margin,
            column_gap: self.space(0.7),
            row_gap: self.space(0.9),
            caption_gap: self.space(0.35),
            label_width,
            label_gap,
            columns,
            width: 0,
        };
        layout.width = layout.grid_left() + layout.grid_width(self.cell_width) + margin;
        layout
    }

    fn title_lines(&self, layout: &Layout) -> Vec<String> {
        let width = layout.width - 2 * layout.margin;
        self.title
            .as_deref()
            .map(|t| Font::Bold.wrap(t, self.title_px(), width, usize::MAX))
            .unwrap_or_default()
    }

    fn row_label_lines(&self, layout: &Layout, row: &Row) -> Vec<String> {
        row.label
            .as_deref()
            .map(|l| Font::Regular.wrap(l, self.caption_px(), layout.label_width, ROW_LABEL_LINES))
            .unwrap_or_default()
    }

    /// Height of a row: the cells, then the captions of its most captioned cell.
    fn row_height(&self, layout: &Layout, row: &Row) -> u32 {
        let captions = row
            .cells
            .iter()
            .map(|c| c.captions.len())
            .max()
            .unwrap_or(0) as u32;
        let caption_block = if captions > 0 {
            layout.caption_gap + captions * Font::Regular.line_height(self.caption_px())
        } else {
            0
        };
        let label_lines = self.row_label_lines(layout, row).len() as u32;
        let label_block = label_lines * Font::Regular.line_height(self.caption_px());
        (self.cell_height + caption_block).max(label_block)
    }

    fn colorbar_image(&self, layout: &Layout) -> Option<RgbImage> {
        self.colorbar.as_ref().map(|spec| {
            let grid = layout.grid_width(self.cell_width);
            let width = (grid / 2).max(self.cell_width).min(grid);
            let label = (!spec.label.is_empty()).then_some(spec.label.as_str());
            colorbar(spec.colormap, spec.range, width, label, self.caption_px())
        })
    }

    /// Draws the figure.
    pub fn render(&self) -> RgbImage {
        let layout = self.layout();
        let title_lines = self.title_lines(&layout);
        let title_line = Font::Bold.line_height(self.title_px());
        let column_title_line = Font::Regular.line_height(self.column_title_px());
        let colorbar = self.colorbar_image(&layout);

        let mut height = layout.margin;
        if !title_lines.is_empty() {
            height += title_lines.len() as u32 * title_line + self.space(0.8);
        }
        let has_column_titles = self.column_titles.iter().any(|t| !t.is_empty());
        if has_column_titles {
            height += column_title_line + self.space(0.35);
        }
        let grid_top = height;
        let row_heights: Vec<u32> = self
            .rows
            .iter()
            .map(|row| self.row_height(&layout, row))
            .collect();
        height += row_heights.iter().sum::<u32>();
        height += row_heights.len().saturating_sub(1) as u32 * layout.row_gap;
        if let Some(bar) = &colorbar {
            height += self.space(1.3) + bar.height();
        }
        height += layout.margin;

        let mut image = RgbImage::from_pixel(layout.width, height, Rgb(WHITE));
        let grid_centre = layout.grid_left() + layout.grid_width(self.cell_width) / 2;

        let mut y = layout.margin;
        for line in &title_lines {
            let width = Font::Bold.width(line, self.title_px());
            let x = centred(
                grid_centre,
                width,
                layout.margin,
                layout.width - layout.margin,
            );
            Font::Bold.draw(&mut image, x, y as i32, line, self.title_px(), BLACK);
            y += title_line;
        }

        if has_column_titles {
            let px = self.column_title_px();
            for (c, title) in self.column_titles.iter().enumerate() {
                let title = Font::Regular.ellipsize(title, px, self.cell_width);
                let left = layout.column_left(c as u32, self.cell_width);
                let x = left + (self.cell_width - Font::Regular.width(&title, px)) / 2;
                let y = grid_top - self.space(0.35) - column_title_line;
                Font::Regular.draw(&mut image, x as i32, y as i32, &title, px, BLACK);
            }
        }

        let mut top = grid_top;
        for (row, &row_height) in self.rows.iter().zip(&row_heights) {
            self.draw_row(&mut image, &layout, row, top);
            top += row_height + layout.row_gap;
        }

        if let Some(bar) = colorbar {
            let x = centred(grid_centre, bar.width(), 0, layout.width);
            let y = top - layout.row_gap + self.space(1.3);
            imageops::replace(&mut image, &bar, i64::from(x), i64::from(y));
        }
        image
    }

    fn draw_row(&self, image: &mut RgbImage, layout: &Layout, row: &Row, top: u32) {
        let px = self.caption_px();
        let line = Font::Regular.line_height(px);

        let label_lines = self.row_label_lines(layout, row);
        let block = label_lines.len() as u32 * line;
        let mut y = top + self.cell_height.saturating_sub(block) / 2;
        let right = layout.grid_left() - layout.label_gap;
        for text in &label_lines {
            let x = right - Font::Regular.width(text, px);
            Font::Regular.draw(image, x as i32, y as i32, text, px, GRAY);
            y += line;
        }

        for (c, cell) in row.cells.iter().enumerate() {
            let left = layout.column_left(c as u32, self.cell_width);
            let fitted = self.fit(cell);
            let x = left + (self.cell_width - fitted.width()) / 2;
            let y = top + (self.cell_height - fitted.height()) / 2;
            imageops::replace(image, &fitted, i64::from(x), i64::from(y));

            let mut y = top + self.cell_height + layout.caption_gap;
            for caption in &cell.captions {
                let text = Font::Regular.ellipsize(&caption.text, px, self.cell_width);
                let x = left + (self.cell_width - Font::Regular.width(&text, px)) / 2;
                Font::Regular.draw(image, x as i32, y as i32, &text, px, caption.color);
                y += line;
            }
        }
    }

    /// The cell's image scaled to fit the cell, keeping its aspect ratio.
    fn fit(&self, cell: &Cell) -> RgbImage {
        let (w, h) = cell.image.dimensions();
        if w == 0 || h == 0 {
            return RgbImage::new(0, 0);
        }
        let scale = (self.cell_width as f32 / w as f32).min(self.cell_height as f32 / h as f32);
        let fitted_w = ((w as f32 * scale).round() as u32).clamp(1, self.cell_width);
        let fitted_h = ((h as f32 * scale).round() as u32).clamp(1, self.cell_height);
        if (fitted_w, fitted_h) == (w, h) {
            cell.image.clone()
        } else {
            imageops::resize(&cell.image, fitted_w, fitted_h, cell.filter)
        }
    }
}

/// The left edge that centres `width` pixels on `centre`, kept within `min..max` where it fits.
fn centred(centre: u32, width: u32, min: u32, max: u32) -> i32 {
    let x = centre as i32 - (width / 2) as i32;
    x.min(max as i32 - width as i32).max(min as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::palette::BEIGE;

    const PHOTO: [u8; 3] = [40, 90, 200];

    fn photo(width: u32, height: u32) -> RgbImage {
        RgbImage::from_pixel(width, height, Rgb(PHOTO))
    }

    /// Hue in degrees of an RGB color.
    fn hue(c: [u8; 3]) -> f32 {
        let [r, g, b] = c.map(f32::from);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let d = max - min;
        let h = if max == r {
            ((g - b) / d).rem_euclid(6.0)
        } else if max == g {
            (b - r) / d + 2.0
        } else {
            (r - g) / d + 4.0
        };
        h * 60.0
    }

    fn two_by_three() -> Figure {
        let cell = |i: usize| {
            Cell::new(photo(100, 80))
                .caption(format!("true {i}"), BLACK)
                .caption(format!("predicted {i}"), BEIGE)
        };
        Figure::new(100, 80)
            .title("A figure")
            .column_titles(["first", "second", "third"])
            .row((0..3).map(cell))
            .row((3..6).map(cell))
    }

    #[test]
    fn grid_dimensions_follow_the_layout() {
        let figure = two_by_three();
        let image = figure.render();
        // 100 px cells: 11 px text, 13 px margins, 8 px column gaps, 10 px row gaps.
        assert_eq!(figure.text_px, 11.0);
        assert_eq!(image.width(), 13 + 3 * 100 + 2 * 8 + 13);
        let title = Font::Bold.line_height(11.0 * 1.4);
        let column_title = Font::Regular.line_height(11.0 * 1.15);
        let caption = Font::Regular.line_height(11.0);
        let row = 80 + 4 + 2 * caption;
        let expected = 13 + title + 9 + column_title + 4 + 2 * row + 10 + 13;
        assert_eq!(image.height(), expected);
    }

    #[test]
    fn captions_are_drawn_in_their_colors() {
        let image = two_by_three().render();
        // The first cell's photo, then its caption band down to the next row's photo.
        let (left, right) = (13, 113);
        let photo_rows: Vec<u32> = (0..image.height())
            .filter(|&y| image.get_pixel(left + 50, y).0 == PHOTO)
            .collect();
        let first_bottom = photo_rows
            .iter()
            .take_while(|&&y| y < photo_rows[0] + 80)
            .max();
        let band_top = first_bottom.unwrap() + 1;
        let band_bottom = *photo_rows.iter().find(|&&y| y > band_top).unwrap();
        let mut neutral = Vec::new();
        let mut warm = Vec::new();
        for y in band_top..band_bottom {
            for x in left..right {
                // Clearly inked pixels only: faint edges of either color round to near-white grays.
                let p = image.get_pixel(x, y).0;
                if p[0] == p[1] && p[1] == p[2] && p[0] < 200 {
                    neutral.push((y, p));
                } else if u32::from(p[0]) > u32::from(p[2]) + 30 {
                    warm.push((y, p));
                }
            }
        }
        assert!(
            neutral.len() > 40 && warm.len() > 40,
            "{} {}",
            neutral.len(),
            warm.len()
        );
        let last_black_row = neutral.iter().map(|&(y, _)| y).max().unwrap();
        let first_beige_row = warm.iter().map(|&(y, _)| y).min().unwrap();
        assert!(
            last_black_row < first_beige_row,
            "black line sits above the beige one"
        );
        assert!(
            neutral.iter().any(|&(_, p)| p[0] < 60),
            "black text reaches near black"
        );
        let darkest = warm
            .iter()
            .map(|&(_, p)| p)
            .min_by_key(|p| p.iter().map(|&c| u32::from(c)).sum::<u32>());
        let darkest = darkest.unwrap();
        assert!(
            (hue(darkest) - hue(BEIGE)).abs() < 6.0,
            "{darkest:?} vs {BEIGE:?}"
        );
        assert!(
            warm.iter().all(|&(_, p)| p[0] >= p[1] && p[1] >= p[2]),
            "beige stays warm"
        );
    }

    #[test]
    fn titles_labels_and_colorbar_add_room() {
        let plain = Figure::new(64, 64).row([Cell::new(photo(64, 64))]).render();
        // 64 px cells get the smallest text, 11 px, and 13 px margins.
        assert_eq!(plain.dimensions(), (13 + 64 + 13, 13 + 64 + 13));
        let labelled = Figure::new(64, 64)
            .labelled_row("lr 25", [Cell::new(photo(64, 64))])
            .render();
        assert!(labelled.width() > plain.width());
        assert_eq!(labelled.height(), plain.height());
        let with_bar = Figure::new(64, 64)
            .row([Cell::new(photo(64, 64))])
            .colorbar(Colormap::Hot, (0.0, 1.0), "")
            .render();
        assert!(with_bar.height() > plain.height() + 20);
        assert_eq!(with_bar.width(), plain.width());
    }

    #[test]
    fn long_titles_wrap_to_the_width_whole() {
        let title = "SqueezeNet 1.1, from noise, 100 steps: lr 25, L2 0.001, blur sigma 0.5, \
                     every 10, jitter 16";
        let figure = Figure::new(64, 64)
            .title(title)
            .row([Cell::new(photo(64, 64))]);
        let layout = figure.layout();
        let lines = figure.title_lines(&layout);
        assert!(lines.len() > 2, "{lines:?}");
        // Every word is there, cut only where a word is wider than the figure.
        assert_eq!(lines.concat().replace(' ', ""), title.replace(' ', ""));
        assert!(
            lines
                .iter()
                .all(|l| Font::Bold.width(l, figure.title_px()) <= layout.width)
        );
        let line = Font::Bold.line_height(figure.title_px());
        let plain = Figure::new(64, 64).row([Cell::new(photo(64, 64))]).render();
        let image = figure.render();
        assert!(image.height() >= plain.height() + lines.len() as u32 * line);
        assert_eq!(image.width(), plain.width());
    }

    #[test]
    fn small_maps_scale_up_with_the_chosen_filter() {
        let map = Colormap::Hot.render(&[0.0, 1.0, 0.5, 0.25], 2, 2, None);
        let image = Figure::new(64, 64)
            .row([Cell::new(map.clone()).filter(FilterType::Nearest)])
            .render();
        let margin = 13;
        assert_eq!(
            image.get_pixel(margin + 10, margin + 10),
            map.get_pixel(0, 0)
        );
        assert_eq!(
            image.get_pixel(margin + 50, margin + 10),
            map.get_pixel(1, 0)
        );
        assert_eq!(
            image.get_pixel(margin + 50, margin + 50),
            map.get_pixel(1, 1)
        );
        // A wide image keeps its aspect ratio: letterboxed in white.
        let wide = Figure::new(64, 64)
            .row([Cell::new(photo(128, 32))])
            .render();
        assert_eq!(wide.get_pixel(margin + 32, margin + 5).0, WHITE);
        assert_eq!(wide.get_pixel(margin + 32, margin + 32).0, PHOTO);
    }

    #[test]
    fn long_captions_are_shortened_to_the_cell() {
        let image = Figure::new(64, 64)
            .row([Cell::new(photo(64, 64))
                .caption("a caption far too long to fit under a small cell", BLACK)])
            .row([Cell::new(photo(64, 64))])
            .render();
        // No ink in the column gap or the margins beside the caption.
        for y in 13 + 64..image.height() {
            for x in (0..13).chain(13 + 64..image.width()) {
                assert_eq!(image.get_pixel(x, y).0, WHITE, "ink at {x},{y}");
            }
        }
    }
}
