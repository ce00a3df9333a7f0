//! Photos handed over by the page as RGBA pixels (decoded by the browser), made network inputs
//! by the library's own preprocessing, and images handed back as RGBA.

use std::rc::Rc;

use image::RgbImage;
use wasm_bindgen::prelude::*;

use netlens::preprocess::{to_input, to_rgb};

/// The input side of both networks.
pub const SIZE: usize = 224;

/// A photo: the decoded image and its network input (resized, center cropped, normalized).
#[wasm_bindgen]
#[derive(Clone)]
pub struct Photo {
    pub(crate) image: Rc<RgbImage>,
    pub(crate) input: Rc<Vec<f32>>,
}

#[wasm_bindgen]
impl Photo {
    /// A photo from `width`×`height` RGBA pixels, row-major, not premultiplied; alpha is dropped
    /// as the command line's decoder drops it.
    #[wasm_bindgen(constructor)]
    pub fn new(rgba: &[u8], width: u32, height: u32) -> Result<Photo, JsError> {
        let pixels = width as usize * height as usize;
        if rgba.len() != 4 * pixels {
            return Err(JsError::new(&format!(
                "{} bytes are not {width}x{height} RGBA pixels ({} bytes)",
                rgba.len(),
                4 * pixels
            )));
        }
        let rgb: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let image = RgbImage::from_raw(width, height, rgb)
            .ok_or_else(|| JsError::new("the pixels do not make an image"))?;
        let input = to_input(&image, SIZE).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Photo {
            image: Rc::new(image),
            input: Rc::new(input),
        })
    }

    /// The 224×224 crop the network sees, as RGBA.
    pub fn crop(&self) -> Vec<u8> {
        input_rgba(&self.input)
    }
}

/// A normalized CHW input of [`SIZE`]² as 8-bit RGBA (opaque).
pub fn input_rgba(input: &[f32]) -> Vec<u8> {
    rgba(&to_rgb(input, SIZE))
}

/// An RGB image as RGBA bytes (opaque).
pub fn rgba(image: &RgbImage) -> Vec<u8> {
    image
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}
