//! Class probabilities for batches of images.

#[cfg(feature = "cli")]
use std::path::PathBuf;

#[cfg(feature = "cli")]
use crate::progress::Progress;

use crate::error::Result;
use crate::model::{Network, Plan};
#[cfg(feature = "cli")]
use crate::preprocess::load_input;

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

/// The batch to run `count` inputs of `hw` in: `max_batch`, lowered to what the device's binding
/// limit allows ([`Network::max_batch`]) and to `count`, at least 1.
pub fn batch_size(
    net: &Network,
    hw: (usize, usize),
    max_batch: usize,
    count: usize,
) -> Result<usize> {
    Ok(max_batch.min(net.max_batch(hw)?).clamp(1, count.max(1)))
}

/// Runs the forward pass on up to `plan.batch()` inputs (the rest of the batch is zeros) and
/// returns one row of logits per input.
async fn forward_rows(plan: &Plan, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
    let (h, w) = plan.input_size();
    let per_image = 3 * h * w;
    let mut x = vec![0.0; plan.batch() * per_image];
    for (slot, input) in x.chunks_mut(per_image).zip(inputs) {
        slot.copy_from_slice(input);
    }
    let logits = plan.forward(&x).await?;
    let classes = logits.len() / plan.batch();
    Ok(logits
        .chunks(classes)
        .take(inputs.len())
        .map(<[f32]>::to_vec)
        .collect())
}

/// Logits for every input (each a normalized CHW image of `hw`), in GPU batches of at most
/// `max_batch` images (fewer when the device's binding limit demands).
pub async fn logits(
    net: &Network,
    inputs: &[Vec<f32>],
    hw: (usize, usize),
    max_batch: usize,
) -> Result<Vec<Vec<f32>>> {
    let plan = net.plan(batch_size(net, hw, max_batch, inputs.len())?, hw)?;
    logits_with(&plan, inputs).await
}

/// Logits for every input through an existing `plan`, one plan batch at a time.
pub async fn logits_with(plan: &Plan, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(plan.batch()) {
        let refs: Vec<&[f32]> = chunk.iter().map(Vec::as_slice).collect();
        out.extend(forward_rows(plan, &refs).await?);
    }
    Ok(out)
}

/// Logits for every image file at `size`×`size` (see [`crate::preprocess::load_input`]), reading
/// only one GPU batch of images at a time so that memory stays bounded however many files there
/// are. Batches hold at most `max_batch` images, fewer when the device's binding limit demands.
///
/// A file that cannot be read or decoded gets its own [`crate::Error::Image`] in the result and
/// the others are still classified; the outer error is for failures of the GPU. `bar` advances
/// by one per file.
#[cfg(feature = "cli")]
pub async fn logits_of_files(
    net: &Network,
    files: &[PathBuf],
    size: usize,
    max_batch: usize,
    bar: &dyn Progress,
) -> Result<Vec<Result<Vec<f32>>>> {
    let hw = (size, size);
    let plan = net.plan(batch_size(net, hw, max_batch, files.len())?, hw)?;
    log::info!(
        "classifying {} images in batches of {}",
        files.len(),
        plan.batch()
    );
    let mut out: Vec<Option<Result<Vec<f32>>>> = files.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, Vec<f32>)> = Vec::with_capacity(plan.batch());
    let run = async |pending: &mut Vec<(usize, Vec<f32>)>,
                     out: &mut Vec<Option<Result<Vec<f32>>>>| {
        let inputs: Vec<&[f32]> = pending.iter().map(|(_, x)| x.as_slice()).collect();
        let rows = forward_rows(&plan, &inputs).await?;
        for ((i, _), row) in pending.drain(..).zip(rows) {
            out[i] = Some(Ok(row));
            bar.inc(1);
        }
        Result::Ok(())
    };
    for (i, file) in files.iter().enumerate() {
        match load_input(file, size) {
            Ok(x) => pending.push((i, x)),
            Err(e) => {
                out[i] = Some(Err(e));
                bar.inc(1);
            }
        }
        if pending.len() == plan.batch() {
            run(&mut pending, &mut out).await?;
        }
    }
    if !pending.is_empty() {
        run(&mut pending, &mut out).await?;
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every file has a result"))
        .collect())
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
