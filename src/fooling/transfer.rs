//! Transfer of fooling images between networks: attack on each network in turn, round the
//! results to 8-bit images (what a saved PNG gives) and classify them with every network; the
//! table counts, for each (source, evaluated-on) pair, how often the goal is reached.

use std::time::Duration;

use crate::progress::Progress;

use crate::classes::ClassNames;
use crate::classify::{Prediction, batch_size, logits, logits_with, softmax, top_k};
use crate::error::{Error, Result};
use crate::fooling::config::AttackConfig;
use crate::fooling::kernels::Goal;
use crate::fooling::report::csv_line;
use crate::fooling::run::{AttackOutcome, Attacker, balanced_batch};
use crate::model::Network;
use crate::preprocess::{to_input, to_rgb};

/// A network taking part in a transfer run, with the name the table gives it.
#[derive(Clone, Copy, Debug)]
pub struct TransferModel<'a> {
    /// Its name in the table.
    pub name: &'a str,
    /// The network.
    pub net: &'a Network,
}

/// One attack: an image and a goal, made on one network, classified by every network.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransferAttempt {
    /// Index of the image among the inputs.
    pub image: usize,
    /// The target class, or `None` for an untargeted attack.
    pub target: Option<usize>,
    /// Index of the network the image was made on.
    pub source: usize,
    /// The attack's outcome on the source network.
    pub outcome: AttackOutcome,
    /// Every network's top class on the rounded fooled image, in model order.
    pub predictions: Vec<Prediction>,
    /// Every network's probability of the goal's class on it.
    pub goal_probs: Vec<f32>,
    /// Whether each network's prediction reaches the goal: the target, or for an untargeted
    /// attack a class other than that network's own prediction on the original image.
    pub fooled: Vec<bool>,
}

/// One cell of the transfer table: images made on `source`, classified by `evaluated_on`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TransferCell {
    /// The network the images were made on.
    pub source: String,
    /// The network that classified them.
    pub evaluated_on: String,
    /// Attacks made (images × targets).
    pub attempts: usize,
    /// Attacks whose rounded image reaches the goal on `evaluated_on`.
    pub fooled: usize,
    /// fooled / attempts.
    pub rate: f64,
    /// Attacks whose rounded image reaches the goal on the source network.
    pub source_fooled: usize,
    /// Attacks that reach the goal on both networks.
    pub fooled_given_source: usize,
    /// Attacks whose original image already reached the goal on `evaluated_on`.
    pub already: usize,
    /// Mean steps the source attack took.
    pub mean_iterations: f64,
    /// Mean L2 distance of the rounded images to the originals, in pixel levels.
    pub mean_l2_px: f64,
    /// Mean L∞ distance of the rounded images to the originals, in pixel levels.
    pub mean_linf_px: f64,
    /// Mean probability `evaluated_on` gives the goal's class.
    pub mean_goal_prob: f64,
}

/// The result of a transfer run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransferTable {
    /// The networks, in order.
    pub models: Vec<String>,
    /// Cells row-major: source `i`, evaluated on `j` at `i * models.len() + j`.
    pub cells: Vec<TransferCell>,
    /// Every attack.
    pub attempts: Vec<TransferAttempt>,
    /// Wall time of each source's attacks.
    pub elapsed: Vec<Duration>,
}

impl TransferTable {
    /// The cell of images made on `source`, classified by `evaluated_on`.
    pub fn cell(&self, source: usize, evaluated_on: usize) -> &TransferCell {
        &self.cells[source * self.models.len() + evaluated_on]
    }

    /// The table as CSV, one row per cell.
    pub fn csv(&self) -> String {
        let mut out = csv_line([
            "source",
            "evaluated_on",
            "attempts",
            "fooled",
            "rate",
            "source_fooled",
            "fooled_given_source",
            "already",
            "mean_iterations",
            "mean_l2_px",
            "mean_linf_px",
            "mean_goal_prob",
        ]);
        for c in &self.cells {
            out += &csv_line([
                c.source.clone(),
                c.evaluated_on.clone(),
                c.attempts.to_string(),
                c.fooled.to_string(),
                format!("{:.4}", c.rate),
                c.source_fooled.to_string(),
                c.fooled_given_source.to_string(),
                c.already.to_string(),
                format!("{:.2}", c.mean_iterations),
                format!("{:.3}", c.mean_l2_px),
                format!("{:.3}", c.mean_linf_px),
                format!("{:.4}", c.mean_goal_prob),
            ]);
        }
        out
    }

    /// Every attack as CSV: image label, target, source, steps, distances, and for each
    /// network its prediction and whether it was fooled.
    pub fn attempts_csv(&self, labels: &[String], classes: &ClassNames) -> String {
        let mut header = vec![
            "image".to_string(),
            "target".into(),
            "source".into(),
            "iterations".into(),
            "l2_px".into(),
            "linf_px".into(),
        ];
        for m in &self.models {
            header.extend([format!("{m}_prediction"), format!("{m}_fooled")]);
        }
        let mut out = csv_line(&header);
        for a in &self.attempts {
            let mut row = vec![
                labels[a.image].clone(),
                a.target
                    .map_or("untargeted".into(), |t| classes.name(t).to_string()),
                self.models[a.source].clone(),
                a.outcome.iterations.to_string(),
                format!("{:.3}", a.outcome.rounded.l2_px),
                format!("{:.3}", a.outcome.rounded.linf_px),
            ];
            for (p, f) in a.predictions.iter().zip(&a.fooled) {
                row.extend([classes.name(p.index).to_string(), f.to_string()]);
            }
            out += &csv_line(&row);
        }
        out
    }

    /// The table as aligned text: rows are sources, columns the networks classifying.
    pub fn text(&self) -> String {
        let width = self
            .models
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(14);
        let mut out = format!("{:<width$}", "made on \\ fools");
        for m in &self.models {
            out += &format!("  {m:>width$}");
        }
        out += &format!("  {:>10}  {:>9}  {:>9}\n", "iterations", "L2 px", "Linf px");
        for (i, source) in self.models.iter().enumerate() {
            out += &format!("{source:<width$}");
            for j in 0..self.models.len() {
                let c = self.cell(i, j);
                let text = format!("{}/{} ({:.0}%)", c.fooled, c.attempts, 100.0 * c.rate);
                out += &format!("  {text:>width$}");
            }
            let c = self.cell(i, i);
            out += &format!(
                "  {:>10.1}  {:>9.1}  {:>9.1}\n",
                c.mean_iterations, c.mean_l2_px, c.mean_linf_px
            );
        }
        out
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Attacks every input toward every target (`None`: untargeted) on each model in turn, with
/// `config`, in batches of `batch` images of `size`×`size`; then classifies the rounded results
/// with every model. `bar` makes the progress bar of each source's attacks from its name.
pub async fn transfer(
    models: &[TransferModel<'_>],
    inputs: &[Vec<f32>],
    targets: &[Option<usize>],
    size: usize,
    batch: usize,
    config: &AttackConfig,
    bar: impl Fn(&str) -> Box<dyn Progress>,
) -> Result<TransferTable> {
    if models.is_empty() || inputs.is_empty() || targets.is_empty() {
        return Err(Error::InvalidInput(format!(
            "a transfer run needs models, images and targets (got {}, {}, {})",
            models.len(),
            inputs.len(),
            targets.len()
        )));
    }
    let pairs: Vec<(usize, Option<usize>)> = (0..inputs.len())
        .flat_map(|i| targets.iter().map(move |&t| (i, t)))
        .collect();
    let mut clean: Vec<Vec<Prediction>> = Vec::with_capacity(models.len());
    for m in models {
        let rows = logits(m.net, inputs, (size, size), batch).await?;
        clean.push(rows.iter().map(|l| top_k(&softmax(l), 1)[0]).collect());
    }
    // Every source's fakes are evaluated in batches of the same size: one plan per model.
    let hw = (size, size);
    let eval_plans = models
        .iter()
        .map(|m| m.net.plan(batch_size(m.net, hw, batch, pairs.len())?, hw))
        .collect::<Result<Vec<_>>>()?;
    let mut attempts = Vec::with_capacity(models.len() * pairs.len());
    let mut elapsed = Vec::with_capacity(models.len());
    for (s, source) in models.iter().enumerate() {
        let attacker = Attacker::new(
            source.net,
            balanced_batch(pairs.len(), batch),
            size,
            config.clone(),
        )?;
        let xs: Vec<Vec<f32>> = pairs.iter().map(|&(i, _)| inputs[i].clone()).collect();
        let ts: Vec<Option<usize>> = pairs.iter().map(|&(_, t)| t).collect();
        let run = attacker.run(&xs, &ts, &*bar(source.name)).await?;
        elapsed.push(run.elapsed);
        let rounded: Vec<Vec<f32>> = run
            .outcomes
            .iter()
            .map(|o| to_input(&to_rgb(&o.image, size), size))
            .collect::<Result<_>>()?;
        let mut evaluated: Vec<Vec<Vec<f32>>> = Vec::with_capacity(eval_plans.len());
        for plan in &eval_plans {
            evaluated.push(logits_with(plan, &rounded).await?);
        }
        for (k, (&(image, target), outcome)) in pairs.iter().zip(run.outcomes).enumerate() {
            let goal_for = |e: usize| match target {
                Some(t) => Goal::Target(t),
                None => Goal::Away(clean[e][image].index),
            };
            let probs: Vec<Vec<f32>> = (0..models.len())
                .map(|e| softmax(&evaluated[e][k]))
                .collect();
            let predictions: Vec<Prediction> = probs.iter().map(|p| top_k(p, 1)[0]).collect();
            attempts.push(TransferAttempt {
                image,
                target,
                source: s,
                goal_probs: (0..models.len())
                    .map(|e| probs[e][goal_for(e).class()])
                    .collect(),
                fooled: (0..models.len())
                    .map(|e| goal_for(e).reached_by(predictions[e].index))
                    .collect(),
                predictions,
                outcome,
            });
        }
    }
    let mut cells = Vec::with_capacity(models.len() * models.len());
    for (s, source) in models.iter().enumerate() {
        let made: Vec<&TransferAttempt> = attempts.iter().filter(|a| a.source == s).collect();
        for (e, evaluated) in models.iter().enumerate() {
            let fooled = made.iter().filter(|a| a.fooled[e]).count();
            cells.push(TransferCell {
                source: source.name.to_string(),
                evaluated_on: evaluated.name.to_string(),
                attempts: made.len(),
                fooled,
                rate: fooled as f64 / made.len().max(1) as f64,
                source_fooled: made.iter().filter(|a| a.fooled[s]).count(),
                fooled_given_source: made.iter().filter(|a| a.fooled[s] && a.fooled[e]).count(),
                already: made
                    .iter()
                    .filter(|a| a.target == Some(clean[e][a.image].index))
                    .count(),
                mean_iterations: mean(made.iter().map(|a| a.outcome.iterations as f64)),
                mean_l2_px: mean(made.iter().map(|a| a.outcome.rounded.l2_px as f64)),
                mean_linf_px: mean(made.iter().map(|a| a.outcome.rounded.linf_px as f64)),
                mean_goal_prob: mean(made.iter().map(|a| a.goal_probs[e] as f64)),
            });
        }
    }
    Ok(TransferTable {
        models: models.iter().map(|m| m.name.to_string()).collect(),
        cells,
        attempts,
        elapsed,
    })
}
