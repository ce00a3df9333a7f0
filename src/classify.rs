//! Class probabilities for batches of images.

use crate::error::Result;
use crate::model::Network;

/// One class and its probability.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Class index.
    pub index: usize,
    /// Softmax probability.
    pub prob: f32,
}

/// Softmax of one row of logits (computed stably in f64).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = logits.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}

/// The `k` most probable classes, most probable first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|index| Prediction {
            index,
            prob: probs[index],
        })
        .collect()
}

/// The index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> usize {
    top_k(values, 1).first().map_or(0, |p| p.index)
}

/// Logits for every input (each a normalized CHW image of `hw`), in GPU batches of at most
/// `max_batch` images (fewer when the device's binding limit demands).
pub fn logits(
    net: &Network,
    inputs: &[Vec<f32>],
    hw: (usize, usize),
    max_batch: usize,
) -> Result<Vec<Vec<f32>>> {
    let batch = max_batch
        .min(net.max_batch(hw)?)
        .clamp(1, inputs.len().max(1));
    let plan = net.plan(batch, hw)?;
    let per_image = 3 * hw.0 * hw.1;
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(batch) {
        let mut x = vec![0.0; batch * per_image];
        for (slot, input) in x.chunks_mut(per_image).zip(chunk) {
            slot.copy_from_slice(input);
        }
        let logits = plan.forward(&x)?;
        let classes = logits.len() / batch;
        out.extend(
            logits
                .chunks(classes)
                .take(chunk.len())
                .map(<[f32]>::to_vec),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0, 1000.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 3);
        let q = softmax(&[1.0, 3.0, 2.0]);
        assert_eq!(
            top_k(&q, 3).iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![1, 2, 0]
        );
        assert!((q[1] - 0.665_240_9).abs() < 1e-6);
    }
}
