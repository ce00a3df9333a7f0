//! Channel concatenation (the fire modules' expand outputs). On the GPU it costs nothing: each
//! expand convolution writes its channels of the concatenated tensor directly and its backward
//! pass reads its channels of the gradient ([`crate::gpu::ChannelView`]); this module holds
//! the plain-Rust reference the tests compare that against.

/// Plain-Rust reference implementations.
pub mod cpu {
    /// Concatenates tensors [n, c_i, plane] along channels.
    pub fn forward(parts: &[(&[f32], usize)], batch: usize, plane: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for n in 0..batch {
            for &(data, c) in parts {
                out.extend_from_slice(&data[n * c * plane..(n + 1) * c * plane]);
            }
        }
        out
    }

    /// Splits the concatenation's gradient back into one gradient per part.
    pub fn backward(
        d_whole: &[f32],
        channels: &[usize],
        batch: usize,
        plane: usize,
    ) -> Vec<Vec<f32>> {
        let total: usize = channels.iter().sum();
        let mut offset = 0;
        channels
            .iter()
            .map(|&c| {
                let mut part = Vec::with_capacity(batch * c * plane);
                for n in 0..batch {
                    let start = (n * total + offset) * plane;
                    part.extend_from_slice(&d_whole[start..start + c * plane]);
                }
                offset += c;
                part
            })
            .collect()
    }
}
