//! The shape of a batch of NCHW images, which the kernels of every loop (dreaming, saliency,
//! attacks and the shared update steps) take; each feature adds its kernels as methods.

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
}
