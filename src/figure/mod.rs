//! Figures: labelled grids of images (photos, saliency maps, fooling images, class
//! visualizations) with captions, titles and colorbars, drawn into `image::RgbImage`s with an
//! embedded font.

pub mod colorbar;
pub mod colormap;
pub mod grid;
pub mod palette;
pub mod plot;
pub mod text;

pub use colorbar::colorbar;
pub use colormap::Colormap;
pub use grid::{Caption, Cell, Figure};
pub use palette::{BEIGE, BLACK, GRAY, WHITE};
pub use plot::LinePlot;
pub use text::Font;

#[cfg(test)]
mod demo;
