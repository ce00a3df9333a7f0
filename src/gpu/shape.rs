//! The shape of a batch of NCHW images, which the kernels of every loop (dreaming, saliency,
//! attacks and the shared update steps) take; each feature adds its kernels as methods. The
//! loops check the images they are given against it.

use crate::error::{Error, Result};

/// A batch of `batch` images of `channels` planes of `h` × `w` values, stored NCHW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageBatch {
    /// Number of images.
    pub batch: usize,
    /// Channels per image.
    pub channels: usize,
    /// Height of a plane.
    pub h: usize,
    /// Width of a plane.
    pub w: usize,
}

impl ImageBatch {
    /// Values per channel (h × w).
    pub fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Values per image (channels × h × w).
    pub fn per_image(&self) -> usize {
        self.channels * self.plane()
    }

    /// Values in the whole batch.
    pub fn values(&self) -> usize {
        self.batch * self.per_image()
    }

    /// Whether the batch holds no values.
    pub fn is_empty(&self) -> bool {
        self.values() == 0
    }

    /// Fails unless `inputs` (one image each) can go through a loop on this shape toward
    /// `targets` (a class for each image, or `None` where the loop picks one): as many targets
    /// as images, each image of channels × h × w values, each target class below `classes`.
    pub fn check_inputs<T: Copy + Into<Option<usize>>>(
        &self,
        inputs: &[Vec<f32>],
        targets: &[T],
        classes: usize,
    ) -> Result<()> {
        if inputs.len() != targets.len() {
            return Err(Error::InvalidInput(format!(
                "{} images but {} target classes",
                inputs.len(),
                targets.len()
            )));
        }
        let len = self.per_image();
        if let Some((i, x)) = inputs.iter().enumerate().find(|(_, x)| x.len() != len) {
            return Err(Error::InvalidInput(format!(
                "image {i} has {} values; a {}x{}x{} input has {len}",
                x.len(),
                self.channels,
                self.h,
                self.w
            )));
        }
        let mut given = targets.iter().filter_map(|&t| t.into());
        if let Some(t) = given.find(|&t| t >= classes) {
            return Err(Error::UnknownClass(format!(
                "target class {t} does not exist: the network has {classes} classes"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ImageBatch;
    use crate::error::Error;

    #[test]
    fn inputs_are_checked_against_the_shape_and_classes() {
        let rgb = ImageBatch {
            batch: 2,
            channels: 3,
            h: 2,
            w: 2,
        };
        let images = vec![vec![0.0; 12], vec![0.0; 12]];
        assert!(rgb.check_inputs(&images, &[0usize, 9], 10).is_ok());
        assert!(rgb.check_inputs(&images, &[None, Some(9)], 10).is_ok());
        let e = rgb.check_inputs(&images, &[0usize], 10).unwrap_err();
        assert!(e.to_string().contains("2 images but 1 target"), "{e}");
        let short = vec![vec![0.0; 12], vec![0.0; 5]];
        let e = rgb
            .check_inputs(&short, &[None::<usize>; 2], 10)
            .unwrap_err();
        assert!(e.to_string().contains("image 1 has 5 values"), "{e}");
        let e = rgb
            .check_inputs(&images, &[None, Some(10)], 10)
            .unwrap_err();
        assert!(matches!(e, Error::UnknownClass(_)), "{e}");
    }
}
