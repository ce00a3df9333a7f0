//! Figures: labelled grids of images (photos, saliency maps, fooling images, class
//! visualizations) with captions, titles and colorbars, drawn into `image::RgbImage`s with an
//! embedded font.

pub mod colormap;
pub mod palette;
pub mod text;

pub use colormap::Colormap;
pub use palette::{BEIGE, BLACK, GRAY, WHITE};
pub use text::Font;
