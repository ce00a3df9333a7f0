//! Views of one photo (mirrored and shifted 224 crops) and their maps brought back to the centre
//! crop's frame, so maps of several views can be averaged pixel by pixel.

use image::RgbImage;
use image::imageops;
use serde::Serialize;

use crate::error::Result;
use crate::preprocess::{resized_for_crop, to_input};

/// A crop of the photo resized as for the network (shorter side 256 for 224 inputs): the centre
/// crop moved by (`dx`, `dy`) pixels, optionally mirrored left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct View {
    /// Horizontal shift of the crop from the centre, in pixels (positive: right).
    pub dx: i32,
    /// Vertical shift of the crop from the centre, in pixels (positive: down).
    pub dy: i32,
    /// Whether the crop is mirrored left to right.
    pub mirrored: bool,
}

/// The shift of the shifted views: what a 224 crop of a 256 image leaves on each side.
pub const SHIFT: i32 = 16;

impl View {
    /// The centre crop, as the network normally sees the photo.
    pub const CENTRE: View = View {
        dx: 0,
        dy: 0,
        mirrored: false,
    };

    /// The first `count` of: centre, mirrored, shifted right, left, down, up, and mirrored
    /// shifted right, left, down, up (shifts of [`SHIFT`] pixels).
    pub fn standard(count: usize) -> Vec<View> {
        let shifts = [(0, 0), (SHIFT, 0), (-SHIFT, 0), (0, SHIFT), (0, -SHIFT)];
        let plain = shifts.iter().map(|&(dx, dy)| View {
            dx,
            dy,
            mirrored: false,
        });
        let mirrored = shifts.iter().map(|&(dx, dy)| View {
            dx,
            dy,
            mirrored: true,
        });
        let mut all: Vec<View> = plain.zip(mirrored).flat_map(|(a, b)| [a, b]).collect();
        // centre, mirrored centre, then the shifts with plain ones first.
        all[2..].sort_by_key(|v| v.mirrored);
        all.truncate(count);
        all
    }

    /// A short description for captions: "centre", "mirrored, right 16 px".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.mirrored {
            parts.push("mirrored".to_string());
        }
        let shift = |v: i32, pos: &str, neg: &str| match v.signum() {
            1 => Some(format!("{pos} {v} px")),
            -1 => Some(format!("{neg} {} px", -v)),
            _ => None,
        };
        parts.extend(shift(self.dx, "right", "left"));
        parts.extend(shift(self.dy, "down", "up"));
        if parts.is_empty() {
            "centre crop".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The view's `size` x `size` crop of `photo` and its network input. Shifts are limited to what
/// the resized photo holds; the view actually taken is returned.
pub fn crop(photo: &RgbImage, view: View, size: usize) -> Result<(View, RgbImage, Vec<f32>)> {
    let image = resized_for_crop(photo, size)?;
    let (w, h) = (image.width() as i32, image.height() as i32);
    let s = size as i32;
    let (cx, cy) = ((w - s) / 2, (h - s) / 2);
    let x = (cx + view.dx).clamp(0, (w - s).max(0));
    let y = (cy + view.dy).clamp(0, (h - s).max(0));
    let mut cropped =
        imageops::crop_imm(image.as_ref(), x as u32, y as u32, size as u32, size as u32).to_image();
    if view.mirrored {
        imageops::flip_horizontal_in_place(&mut cropped);
    }
    let taken = View {
        dx: x - cx,
        dy: y - cy,
        mirrored: view.mirrored,
    };
    let input = to_input(&cropped, size)?;
    Ok((taken, cropped, input))
}

/// A view's `size` x `size` map moved back into the centre crop's frame: values where the view
/// covers it, and a 0/1 coverage mask.
pub fn to_centre_frame(map: &[f32], view: View, size: usize) -> (Vec<f32>, Vec<f32>) {
    let mut values = vec![0.0; size * size];
    let mut covered = vec![0.0; size * size];
    for y in 0..size {
        for x in 0..size {
            let crop_x = if view.mirrored { size - 1 - x } else { x } as i32;
            let (fx, fy) = (crop_x + view.dx, y as i32 + view.dy);
            if fx >= 0 && fy >= 0 && (fx as usize) < size && (fy as usize) < size {
                let j = fy as usize * size + fx as usize;
                values[j] = map[y * size + x];
                covered[j] = 1.0;
            }
        }
    }
    (values, covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_views_start_with_centre_and_mirror() {
        let views = View::standard(4);
        assert_eq!(views[0], View::CENTRE);
        assert!(views[1].mirrored && views[1].dx == 0);
        assert_eq!((views[2].dx, views[2].mirrored), (SHIFT, false));
        assert_eq!(View::standard(20).len(), 10);
        assert_eq!(views[1].describe(), "mirrored");
        assert_eq!(
            View {
                dx: -16,
                dy: 0,
                mirrored: true
            }
            .describe(),
            "mirrored, left 16 px"
        );
    }

    #[test]
    fn maps_of_shifted_and_mirrored_views_land_on_the_photo_pixels() {
        // A photo whose pixel values encode their position in the resized frame.
        let photo = RgbImage::from_fn(40, 36, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for view in View::standard(10) {
            // Shifts are clamped to the margins the resized photo has (9 x 5 px here).
            let (taken, cropped, _) = crop(&photo, view, 32).unwrap();
            assert!(taken.dx.abs() <= 5 && taken.dy.abs() <= 3, "{taken:?}");
            assert_eq!(taken.dx.signum(), view.dx.signum());
            // The "map" of a view is its red channel: the resized photo's x coordinate.
            let map: Vec<f32> = cropped.pixels().map(|p| f32::from(p[0])).collect();
            let (values, covered) = to_centre_frame(&map, taken, 32);
            let resized = resized_for_crop(&photo, 32).unwrap();
            let (cx, cy) = (
                (resized.width() as usize - 32) / 2,
                (resized.height() as usize - 32) / 2,
            );
            for (j, (&v, &c)) in values.iter().zip(&covered).enumerate() {
                if c > 0.0 {
                    let (x, y) = (j % 32, j / 32);
                    let want = resized.get_pixel((cx + x) as u32, (cy + y) as u32)[0];
                    assert_eq!(v, f32::from(want), "{view:?} at {x},{y}");
                }
            }
            assert!(covered.iter().sum::<f32>() >= (32.0 - 16.0) * 32.0);
        }
    }

    /// The centre view of a photo far longer than 4:1 is the network input of the photo itself:
    /// views are cut from the same narrowed, resized image as `to_input`'s.
    #[test]
    fn centre_view_of_an_elongated_photo_is_the_plain_input() {
        let photo = RgbImage::from_fn(9, 200, |x, y| image::Rgb([x as u8 * 20, y as u8, 7]));
        let (taken, _, input) = crop(&photo, View::CENTRE, 32).unwrap();
        assert_eq!(taken, View::CENTRE);
        assert_eq!(input, to_input(&photo, 32).unwrap());
        let resized = resized_for_crop(&photo, 32).unwrap();
        assert_eq!((resized.width(), resized.height()), (37, 37 * 4));
    }
}
