//! The model-randomization sanity check of Adebayo et al. (2018): randomize the network's layers
//! one after another from the top (cascading) and measure how much each method's maps change.
//! A method that explains the model must give different maps once the model is destroyed: its
//! rank correlation with the original maps must drop.

use crate::progress::Progress;
use serde::Serialize;

use crate::error::Result;
use crate::model::Weights;
use crate::saliency::method::{Method, Settings};
use crate::saliency::run::{AttributionRequest, Attributor};
use crate::saliency::stats::spearman;

/// One step of the cascade: the layers randomized so far and each method's correlation with
/// its original maps.
#[derive(Clone, Debug, Serialize)]
pub struct SanityStep {
    /// How many parameterized layers are randomized, counted from the top (0: none).
    pub randomized: usize,
    /// The layer randomized at this step (`"none"` for step 0).
    pub layer: String,
    /// Mean over images of Spearman's rho between original and current maps, per method (in
    /// [`SanityReport::methods`] order).
    pub rho: Vec<f64>,
    /// rho per method, per image.
    pub rho_per_image: Vec<Vec<f64>>,
}

/// The whole cascade.
#[derive(Clone, Debug, Serialize)]
pub struct SanityReport {
    /// The methods, in column order.
    pub methods: Vec<Method>,
    /// The steps, from no layer randomized to all of them.
    pub steps: Vec<SanityStep>,
    /// Seed of the random weights.
    pub seed: u64,
}

impl SanityReport {
    /// The table as CSV: `randomized,layer,<method>...`, one line per step.
    pub fn csv(&self) -> String {
        let mut out = String::from("randomized,layer");
        for m in &self.methods {
            out.push(',');
            out.push_str(m.name());
        }
        out.push('\n');
        for step in &self.steps {
            out.push_str(&format!("{},{}", step.randomized, step.layer));
            for rho in &step.rho {
                out.push_str(&format!(",{rho:.4}"));
            }
            out.push('\n');
        }
        out
    }

    /// The table as aligned text, for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!("{:>10}  {:<14}", "randomized", "layer");
        for m in &self.methods {
            out.push_str(&format!("{:>12}", m.name()));
        }
        out.push('\n');
        for step in &self.steps {
            out.push_str(&format!("{:>10}  {:<14}", step.randomized, step.layer));
            for rho in &step.rho {
                out.push_str(&format!("{rho:>12.3}"));
            }
            out.push('\n');
        }
        out
    }
}

/// The parameterized layers of the attributor's network, from the top (output) down.
pub fn layers_from_top(attributor: &Attributor) -> Vec<usize> {
    let layers = &attributor.network().arch().layers;
    (0..layers.len())
        .rev()
        .filter(|&i| !layers[i].tensor_specs().is_empty())
        .collect()
}

/// How far the cascade goes and with which weights.
#[derive(Clone, Copy, Debug)]
pub struct Cascade<'a> {
    /// The network's weights, given back after the cascade.
    pub original: &'a Weights,
    /// Parameterized layers randomized, from the top (all of them when `None`).
    pub depth: Option<usize>,
    /// Layer i's random weights are seeded `seed` + i.
    pub seed: u64,
}

/// Runs the cascade over the first `cascade.depth` parameterized layers from the top: after
/// each layer is given seeded random weights (`Weights::random`, He-uniform like an untrained
/// network), every method's maps are recomputed and compared with the original ones by
/// Spearman's rank correlation. The network gets its `cascade.original` weights back
/// afterwards, also when a step fails. The progress bar moves once per method and step.
pub async fn cascading_randomization(
    attributor: &Attributor<'_>,
    cascade: Cascade<'_>,
    methods: &[Method],
    settings: &Settings,
    inputs: &[Vec<f32>],
    targets: &[usize],
    progress: &dyn Progress,
) -> Result<SanityReport> {
    let Cascade {
        original,
        depth,
        seed,
    } = cascade;
    let net = attributor.network();
    let mut layers = layers_from_top(attributor);
    layers.truncate(depth.unwrap_or(layers.len()));
    let request = AttributionRequest::new(settings, inputs, targets, &crate::progress::Silent);
    let all_maps = async || -> Result<Vec<Vec<f32>>> {
        let mut maps = Vec::with_capacity(methods.len());
        for &m in methods {
            maps.push(attributor.maps(m, &request).await?);
            progress.inc(1);
        }
        Ok(maps)
    };
    let reference = all_maps().await?;
    let plane = reference[0].len() / inputs.len().max(1);
    let compare = |current: &[Vec<f32>]| -> Vec<Vec<f64>> {
        reference
            .iter()
            .zip(current)
            .map(|(a, b)| {
                (0..inputs.len())
                    .map(|n| spearman(&a[n * plane..][..plane], &b[n * plane..][..plane]))
                    .collect()
            })
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let step = |randomized: usize, layer: &str, per_image: Vec<Vec<f64>>| SanityStep {
        randomized,
        layer: layer.to_string(),
        rho: per_image.iter().map(|r| mean(r)).collect(),
        rho_per_image: per_image,
    };
    let mut steps = vec![step(0, "none", compare(&reference))];
    let mut randomized = Vec::new();
    let result = async {
        for (k, &i) in layers.iter().enumerate() {
            let layer = &net.arch().layers[i];
            let random = Weights::random(&layer.tensor_specs(), seed.wrapping_add(i as u64));
            randomized.push(i);
            net.set_layer_weights(i, &random)?;
            let current = all_maps().await?;
            steps.push(step(k + 1, layer.name(), compare(&current)));
        }
        Ok::<(), crate::Error>(())
    }
    .await;
    for &i in &randomized {
        net.set_layer_weights(i, original)?;
    }
    result?;
    Ok(SanityReport {
        methods: methods.to_vec(),
        steps,
        seed,
    })
}
