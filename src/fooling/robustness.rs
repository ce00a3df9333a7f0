//! Robust accuracy: every chosen attack at every budget on a set of labelled images, as
//! per-image records (what each attack found, at what distance, for how many queries), the
//! summary pooled from them by counts (so that shards' records can be merged), its table and
//! its plot of accuracy against ε.
//!
//! An image counts as correct under an attack and budget when the attack found no image within
//! the budget (pixel levels, in the run's norm, up to [`TOLERANCE`]) that the network classifies
//! otherwise than its label (or, targeted, as the target). Images the network already gets
//! wrong are not attacked and count as incorrect. The budgets are run in ascending order and an
//! image broken at one budget is broken at every larger one (the same image is within them), so
//! only the images still standing are attacked again. Carlini-Wagner looks for the smallest L2
//! change once, without a budget, and its result is judged against each budget.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use crate::progress::Progress;
use image::RgbImage;

use crate::classify::argmax;
use crate::error::{Error, Result};
use crate::figure::LinePlot;
use crate::fooling::apgd::{ApgdConfig, apgd};
use crate::fooling::config::{AttackConfig, AttackMethod, Norm};
use crate::fooling::cw::{CwConfig, carlini_wagner};
use crate::fooling::kernels::Goal;
use crate::fooling::oracle::{NetworkOracle, Scores};
use crate::fooling::pixels::{distances, from_input, to_input};
use crate::fooling::run::Attacker;
use crate::fooling::square::{SquareConfig, square};
use crate::model::Network;

/// Slack (pixel levels) on the budget check, for the float rounding of projections.
pub const TOLERANCE: f32 = 1e-3;

/// An attack of the robustness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RobustAttack {
    /// FGSM, one step of ε ([`AttackMethod::Fgsm`]).
    Fgsm,
    /// PGD from a random start ([`AttackMethod::Pgd`]).
    Pgd,
    /// APGD-CE ([`crate::fooling::apgd`]).
    Apgd,
    /// Square, score-based ([`crate::fooling::square`]).
    Square,
    /// Carlini-Wagner L2 ([`crate::fooling::cw`]).
    Cw,
}

impl RobustAttack {
    /// Every attack.
    pub const ALL: [RobustAttack; 5] = [
        RobustAttack::Fgsm,
        RobustAttack::Pgd,
        RobustAttack::Apgd,
        RobustAttack::Square,
        RobustAttack::Cw,
    ];

    /// The name on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            RobustAttack::Fgsm => "fgsm",
            RobustAttack::Pgd => "pgd",
            RobustAttack::Apgd => "apgd",
            RobustAttack::Square => "square",
            RobustAttack::Cw => "cw",
        }
    }
}

impl FromStr for RobustAttack {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let key = s.to_ascii_lowercase().replace(['-', '_'], "");
        let key = match key.as_str() {
            "apgdce" => "apgd",
            "cwl2" => "cw",
            k => k,
        };
        RobustAttack::ALL
            .into_iter()
            .find(|a| a.name() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown attack `{s}`; choose fgsm, pgd, apgd, square or cw"
                ))
            })
    }
}

/// The settings of a robustness run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RobustnessConfig {
    /// The attacks, in order.
    pub attacks: Vec<RobustAttack>,
    /// Norm of the budgets.
    pub norm: Norm,
    /// Budgets in pixel levels, ascending.
    pub eps: Vec<f32>,
    /// Targeted: the class every image is driven to; untargeted (away from the label) without.
    pub target: Option<usize>,
    /// PGD's steps (of 2.5 ε / steps).
    pub pgd_steps: usize,
    /// APGD's iterations.
    pub apgd_iterations: usize,
    /// Square's forward passes per image.
    pub queries: usize,
    /// Carlini-Wagner's settings.
    pub cw: CwConfig,
    /// Images per GPU batch.
    pub batch: usize,
    /// Seed of the random starts and searches.
    pub seed: u64,
}

impl RobustnessConfig {
    /// Fails, naming the setting, when the settings do not make a run.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(what));
        if self.attacks.is_empty() {
            return bad("no attack given; choose from fgsm, pgd, apgd, square, cw".into());
        }
        if self.eps.is_empty() {
            return bad("no budget given (--eps, pixel levels)".into());
        }
        if let Some(e) = self.eps.iter().find(|e| !(e.is_finite() && **e > 0.0)) {
            return bad(format!("budgets must be positive pixel levels, got {e}"));
        }
        if self.eps.windows(2).any(|w| w[0] >= w[1]) {
            return bad(format!(
                "budgets must be given in ascending order without repeats, got {:?}",
                self.eps
            ));
        }
        if self.attacks.contains(&RobustAttack::Square) && self.norm != Norm::Linf {
            return bad(
                "the Square attack is implemented for L∞ budgets only; use --norm linf, or \
                 leave square out of --attack for L2"
                    .into(),
            );
        }
        let counts = [
            ("PGD steps", self.pgd_steps),
            ("APGD iterations", self.apgd_iterations),
            ("Square queries", self.queries),
            ("CW binary search steps", self.cw.binary_steps),
            ("CW iterations", self.cw.iterations),
        ];
        if let Some((what, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return bad(format!("{what} must be at least 1"));
        }
        if !(self.cw.lr.is_finite() && self.cw.lr > 0.0 && self.cw.initial_const > 0.0) {
            return bad("CW's learning rate and initial constant must be positive".into());
        }
        Ok(())
    }
}

/// An image an attack found that reaches its goal, in the pixel domain.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// CHW values in [0, 1].
    pub image: Vec<f32>,
}

impl Found {
    /// The found `image`.
    pub fn new(image: Vec<f32>) -> Self {
        Self { image }
    }
}

/// One attack at one budget on one image.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttackResult {
    /// Whether the network still classifies the image correctly under this attack and budget.
    pub correct: bool,
    /// When broken: the distance of the image found, in the run's norm (pixel levels).
    pub distance: Option<f32>,
    /// When broken: its L2 distance (pixel levels).
    pub l2: Option<f32>,
    /// When broken: its L∞ distance (pixel levels).
    pub linf: Option<f32>,
    /// Network queries (gradients, or forward passes for Square) spent on the image at this
    /// budget (0 when broken at a smaller budget, or not attacked; Carlini-Wagner, which runs
    /// once, counts its queries at the first budget).
    pub queries: usize,
}

/// Everything measured on one image.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// The image's name.
    pub image: String,
    /// The class it should have.
    pub label: usize,
    /// The network's class on the clean image.
    pub prediction: usize,
    /// Whether that is the label.
    pub clean_correct: bool,
    /// Attack name → budget (pixel levels, as text) → result.
    pub attacks: BTreeMap<String, BTreeMap<String, AttackResult>>,
}

/// What one attack did at one budget over all images.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Broken {
    /// Images correct when clean and not under the attack.
    pub count: usize,
    /// Their mean L2 distance (pixel levels).
    pub mean_l2: Option<f64>,
    /// Their mean L∞ distance (pixel levels).
    pub mean_linf: Option<f64>,
}

/// The summary of per-image records (read back from a report's JSON to draw merged shards).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Share of images the network classifies correctly.
    pub clean_accuracy: f64,
    /// Attack → budget → share of images still correct.
    pub attacks: BTreeMap<String, BTreeMap<String, f64>>,
    /// Attack → budget → the images it broke.
    pub broken: BTreeMap<String, BTreeMap<String, Broken>>,
    /// Number of images.
    pub images: usize,
}

/// A budget as the records name it: `8`, `0.5`.
pub fn eps_key(eps: f32) -> String {
    format!("{eps}")
}

/// The summary of `records`, pooled by counts: accuracies are correct images over all images,
/// whatever shard each record came from. Every record must hold the same attacks and budgets.
pub fn summarize(records: &[ImageRecord]) -> Result<Summary> {
    let first = records
        .first()
        .ok_or_else(|| Error::InvalidInput("no image records to summarize".into()))?;
    let shape = |r: &ImageRecord| -> Vec<(String, Vec<String>)> {
        r.attacks
            .iter()
            .map(|(a, m)| (a.clone(), m.keys().cloned().collect()))
            .collect()
    };
    let expected = shape(first);
    if let Some(r) = records.iter().find(|r| shape(r) != expected) {
        return Err(Error::InvalidInput(format!(
            "image {} holds other attacks or budgets than image {}; records to pool must come \
             from runs with the same --attack and --eps",
            r.image, first.image
        )));
    }
    let n = records.len() as f64;
    let mut attacks = BTreeMap::new();
    let mut broken = BTreeMap::new();
    for (attack, budgets) in &expected {
        let (mut acc, mut br) = (BTreeMap::new(), BTreeMap::new());
        for key in budgets {
            let results: Vec<(&ImageRecord, &AttackResult)> = records
                .iter()
                .map(|r| (r, &r.attacks[attack][key]))
                .collect();
            let correct = results.iter().filter(|(_, a)| a.correct).count();
            let hit: Vec<&AttackResult> = results
                .iter()
                .filter(|(r, a)| r.clean_correct && !a.correct)
                .map(|(_, a)| *a)
                .collect();
            let mean = |f: fn(&AttackResult) -> Option<f32>| {
                let v: Vec<f64> = hit.iter().filter_map(|a| f(a)).map(f64::from).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            acc.insert(key.clone(), correct as f64 / n);
            br.insert(
                key.clone(),
                Broken {
                    count: hit.len(),
                    mean_l2: mean(|a| a.l2),
                    mean_linf: mean(|a| a.linf),
                },
            );
        }
        attacks.insert(attack.clone(), acc);
        broken.insert(attack.clone(), br);
    }
    Ok(Summary {
        clean_accuracy: records.iter().filter(|r| r.clean_correct).count() as f64 / n,
        attacks,
        broken,
        images: records.len(),
    })
}

/// The budgets of a summary in ascending order, as their keys.
fn budgets(summary: &Summary) -> Vec<String> {
    let mut keys: Vec<String> = summary
        .attacks
        .values()
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort_by(|a, b| {
        let (x, y) = (a.parse::<f64>(), b.parse::<f64>());
        match (x, y) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.cmp(b),
        }
    });
    keys.dedup();
    keys
}

/// The summary as a Markdown table: one row per attack and budget with the robust accuracy,
/// the images broken and their mean L2 and L∞ distances in pixel levels.
pub fn table(summary: &Summary) -> String {
    let mut out = format!(
        "clean accuracy {:.3} on {} images\n\n| attack | eps | robust accuracy | broken | mean L2 | mean Linf |\n|---|---|---|---|---|---|\n",
        summary.clean_accuracy, summary.images
    );
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for (attack, accs) in &summary.attacks {
        for key in budgets(summary) {
            let (Some(acc), Some(b)) = (accs.get(&key), summary.broken[attack].get(&key)) else {
                continue;
            };
            out.push_str(&format!(
                "| {attack} | {key} | {acc:.3} | {} | {} | {} |\n",
                b.count,
                show(b.mean_l2),
                show(b.mean_linf)
            ));
        }
    }
    out
}

/// The title of [`plot`]: the model's title, the number of images, the norm and the class the
/// attacks were targeted to, if any.
pub fn plot_title(model: &str, images: usize, norm: Norm, target: Option<&str>) -> String {
    let target_text = target.map_or(String::new(), |t| format!(", targeted to {t}"));
    format!("Robust accuracy of {model} ({images} images, {norm}{target_text})")
}

/// Robust accuracy against ε, one line per attack and the clean accuracy as a flat line.
pub fn plot(summary: &Summary, title: &str, norm: Norm) -> RgbImage {
    let keys = budgets(summary);
    let mut series = vec![(
        "clean".to_string(),
        vec![summary.clean_accuracy; keys.len()],
    )];
    for (attack, accs) in &summary.attacks {
        let ys = keys
            .iter()
            .map(|k| accs.get(k).copied().unwrap_or(f64::NAN))
            .collect();
        series.push((attack.clone(), ys));
    }
    LinePlot {
        title: title.to_string(),
        x_label: format!("eps ({norm}, pixel levels)"),
        y_label: "accuracy".into(),
        x_ticks: keys,
        y_range: (0.0, 1.0),
        series,
    }
    .render()
}

/// The images of a robustness run: names, pixel-domain CHW images of `size`² and their labels
/// (`None`: the network's clean predictions serve as labels).
#[derive(Clone, Debug)]
pub struct LabelledImages {
    /// A name per image.
    pub names: Vec<String>,
    /// Pixel-domain CHW images in [0, 1].
    pub images: Vec<Vec<f32>>,
    /// The class each image should have.
    pub labels: Option<Vec<usize>>,
    /// Side of the images.
    pub size: usize,
}

/// What one attack found at one budget on the images it ran on: image found (if any) and
/// queries.
type Findings = Vec<(Option<Found>, usize)>;

/// An attack's result on one image after the check on the network.
#[derive(Clone, Copy, Debug)]
struct Checked {
    /// The image's index in the run.
    index: usize,
    /// (L2, L∞) in pixel levels of the image found, when it reaches its goal.
    distances: Option<(f32, f32)>,
    /// Queries spent.
    queries: usize,
}

/// Runs every attack of `config` at every budget on `set`; returns one record per image.
/// `progress` advances once per attack and budget; each is also logged with its time.
pub async fn evaluate(
    net: &Network,
    set: &LabelledImages,
    config: &RobustnessConfig,
    progress: &dyn Progress,
) -> Result<Vec<ImageRecord>> {
    config.validate()?;
    let n = set.images.len();
    if n == 0 {
        return Err(Error::InvalidInput("no images to attack".into()));
    }
    if let Some(labels) = &set.labels
        && labels.len() != n
    {
        return Err(Error::InvalidInput(format!(
            "{n} images but {} labels",
            labels.len()
        )));
    }
    let mut oracle = NetworkOracle::new(net, config.batch, set.size)?;
    let predictions: Vec<usize> = oracle
        .logits(&set.originals(0..n))
        .await?
        .iter()
        .map(|l| argmax(l))
        .collect();
    let labels = set.labels.clone().unwrap_or_else(|| predictions.clone());
    let attacked: Vec<usize> = (0..n)
        .filter(|&i| predictions[i] == labels[i] && config.target != Some(labels[i]))
        .collect();
    let mut records: Vec<ImageRecord> = (0..n)
        .map(|i| ImageRecord {
            image: set.names[i].clone(),
            label: labels[i],
            prediction: predictions[i],
            clean_correct: predictions[i] == labels[i],
            attacks: BTreeMap::new(),
        })
        .collect();
    let mut run = RobustnessRun {
        net,
        oracle,
        set,
        labels,
        config,
    };
    progress.set_length((config.attacks.len() * config.eps.len()) as u64);
    for &attack in &config.attacks {
        let mut broken: BTreeMap<usize, (f32, f32)> = BTreeMap::new();
        let cw = match attack {
            RobustAttack::Cw => {
                let started = Instant::now();
                let found = run.carlini_wagner(&attacked).await?;
                log::info!("cw: {:.1} s", started.elapsed().as_secs_f64());
                Some(run.verified(&attacked, found).await?)
            }
            _ => None,
        };
        for &eps in &config.eps {
            let key = eps_key(eps);
            let started = Instant::now();
            let standing: Vec<usize> = attacked
                .iter()
                .copied()
                .filter(|i| !broken.contains_key(i))
                .collect();
            let mut queries = BTreeMap::new();
            let results: Vec<Checked> = match &cw {
                Some(cw) => cw
                    .iter()
                    .map(|&c| Checked {
                        queries: if eps == config.eps[0] { c.queries } else { 0 },
                        ..c
                    })
                    .collect(),
                None => {
                    let found = run.attack(attack, &standing, eps).await?;
                    run.verified(&standing, found).await?
                }
            };
            for Checked {
                index: i,
                distances: d,
                queries: q,
            } in results
            {
                queries.insert(i, q);
                let within = d.is_some_and(|(l2, linf)| {
                    let d = if config.norm == Norm::Linf { linf } else { l2 };
                    d <= eps + TOLERANCE
                });
                if within && let Some(d) = d {
                    broken.entry(i).or_insert(d);
                }
            }
            for (i, record) in records.iter_mut().enumerate() {
                let hit = broken.get(&i);
                let distance = hit.map(|&(l2, linf)| match config.norm {
                    Norm::Linf => linf,
                    Norm::L2 => l2,
                });
                record
                    .attacks
                    .entry(attack.name().into())
                    .or_default()
                    .insert(
                        key.clone(),
                        AttackResult {
                            correct: record.clean_correct && hit.is_none(),
                            distance,
                            l2: hit.map(|d| d.0),
                            linf: hit.map(|d| d.1),
                            queries: queries.get(&i).copied().unwrap_or(0),
                        },
                    );
            }
            log::info!(
                "{} eps {key}: {} of {} attacked images broken, {:.1} s",
                attack.name(),
                broken.len(),
                attacked.len(),
                started.elapsed().as_secs_f64()
            );
            progress.inc(1);
        }
    }
    progress.finish();
    Ok(records)
}

impl LabelledImages {
    /// The images `indices`.
    fn originals(&self, indices: impl IntoIterator<Item = usize>) -> Vec<&[f32]> {
        indices
            .into_iter()
            .map(|i| self.images[i].as_slice())
            .collect()
    }
}

/// What the attacks of a robustness run work with: the network and its oracle, the images and
/// their labels, and the settings.
struct RobustnessRun<'a> {
    net: &'a Network,
    oracle: NetworkOracle,
    set: &'a LabelledImages,
    /// The class each image should have (its label, or the network's clean prediction).
    labels: Vec<usize>,
    config: &'a RobustnessConfig,
}

impl RobustnessRun<'_> {
    /// The goals of the images `indices`: the target, or away from each one's label.
    fn goals(&self, indices: &[usize]) -> Vec<Goal> {
        indices.iter().map(|&i| self.goal(i)).collect()
    }

    /// The goal of image `i`.
    fn goal(&self, i: usize) -> Goal {
        match self.config.target {
            Some(t) => Goal::Target(t),
            None => Goal::Away(self.labels[i]),
        }
    }

    /// Checks each found image on the network (one forward pass each, not counted as a
    /// query): only an image that really reaches its goal counts.
    async fn verified(&mut self, indices: &[usize], found: Findings) -> Result<Vec<Checked>> {
        let hits: Vec<(usize, &Found)> = found
            .iter()
            .enumerate()
            .filter_map(|(k, (f, _))| f.as_ref().map(|f| (k, f)))
            .collect();
        let images: Vec<&[f32]> = hits.iter().map(|(_, f)| f.image.as_slice()).collect();
        let logits = if images.is_empty() {
            Vec::new()
        } else {
            self.oracle.logits(&images).await?
        };
        let mut confirmed = vec![None; found.len()];
        for ((k, f), l) in hits.iter().zip(&logits) {
            let i = indices[*k];
            if self.goal(i).reached_by(argmax(l)) {
                confirmed[*k] = Some(distances(&f.image, &self.set.images[i]));
            }
        }
        Ok(indices
            .iter()
            .zip(confirmed)
            .zip(&found)
            .map(|((&index, distances), (_, queries))| Checked {
                index,
                distances,
                queries: *queries,
            })
            .collect())
    }

    /// Carlini-Wagner, which has no budget, on the images `indices`.
    async fn carlini_wagner(&mut self, indices: &[usize]) -> Result<Findings> {
        let x0s = self.set.originals(indices.iter().copied());
        let goals = self.goals(indices);
        let out = carlini_wagner(&mut self.oracle, &x0s, &goals, &self.config.cw).await?;
        Ok(out.into_iter().map(|(f, q, _)| (f, q)).collect())
    }

    /// Runs one budgeted attack at `eps` on the images `indices`.
    async fn attack(
        &mut self,
        attack: RobustAttack,
        indices: &[usize],
        eps: f32,
    ) -> Result<Findings> {
        if indices.is_empty() {
            return Ok(Vec::new());
        }
        let (config, set) = (self.config, self.set);
        let x0s = set.originals(indices.iter().copied());
        let goals = self.goals(indices);
        let seed = config.seed ^ u64::from(eps.to_bits());
        match attack {
            RobustAttack::Fgsm | RobustAttack::Pgd => {
                let method = if attack == RobustAttack::Fgsm {
                    AttackMethod::Fgsm
                } else {
                    AttackMethod::Pgd
                };
                let mut c = AttackConfig::standard(method, config.norm, eps);
                if method == AttackMethod::Pgd {
                    c.steps = config.pgd_steps;
                    c.step = 2.5 * eps / config.pgd_steps as f32;
                }
                c.stop_when_reached = true;
                c.seed = seed;
                let batch = crate::fooling::run::balanced_batch(indices.len(), config.batch);
                let attacker = Attacker::new(self.net, batch, set.size, c)?;
                let inputs: Vec<Vec<f32>> = x0s.iter().map(|x| to_input(x)).collect();
                let targets: Vec<Option<usize>> = vec![config.target; indices.len()];
                let run = attacker
                    .run(&inputs, &targets, &crate::progress::Silent)
                    .await?;
                Ok(run
                    .outcomes
                    .into_iter()
                    .map(|o| {
                        let found = o.reached.then(|| Found::new(from_input(&o.image)));
                        (found, o.iterations.max(1))
                    })
                    .collect())
            }
            RobustAttack::Apgd => {
                let c = ApgdConfig {
                    norm: config.norm,
                    eps,
                    iterations: config.apgd_iterations,
                    seed,
                };
                apgd(&mut self.oracle, &x0s, &goals, &c).await
            }
            RobustAttack::Square => {
                let mut c = SquareConfig::standard(config.norm, eps, config.queries);
                c.seed = seed;
                square(&mut self.oracle, &x0s, &goals, set.size, &c).await
            }
            RobustAttack::Cw => Err(Error::InvalidInput(
                "Carlini-Wagner has no budget; it runs once per image".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(correct: bool, l2: Option<f32>) -> AttackResult {
        AttackResult {
            correct,
            distance: l2,
            l2,
            linf: l2.map(|d| d / 4.0),
            queries: 3,
        }
    }

    fn record(name: &str, clean: bool, pgd: [(bool, Option<f32>); 2]) -> ImageRecord {
        let mut m = BTreeMap::new();
        m.insert("2".to_string(), result(pgd[0].0, pgd[0].1));
        m.insert("8".to_string(), result(pgd[1].0, pgd[1].1));
        ImageRecord {
            image: name.into(),
            label: 1,
            prediction: if clean { 1 } else { 2 },
            clean_correct: clean,
            attacks: BTreeMap::from([("pgd".to_string(), m)]),
        }
    }

    #[test]
    fn summary_pools_counts() {
        let records = vec![
            record("a", true, [(true, None), (false, Some(6.0))]),
            record("b", true, [(false, Some(2.0)), (false, Some(2.0))]),
            record("c", false, [(false, None), (false, None)]),
            record("d", true, [(true, None), (true, None)]),
        ];
        let s = summarize(&records).unwrap();
        assert_eq!(s.images, 4);
        assert_eq!(s.clean_accuracy, 0.75);
        assert_eq!(s.attacks["pgd"]["2"], 0.5);
        assert_eq!(s.attacks["pgd"]["8"], 0.25);
        let b8 = &s.broken["pgd"]["8"];
        assert_eq!(b8.count, 2);
        assert_eq!(b8.mean_l2, Some(4.0));
        assert_eq!(b8.mean_linf, Some(1.0));
        assert_eq!(s.broken["pgd"]["2"].count, 1);
        // Shards pool by counts: two halves merged give the whole.
        let (left, right) = records.split_at(1);
        let merged: Vec<ImageRecord> = right.iter().chain(left).cloned().collect();
        assert_eq!(summarize(&merged).unwrap(), s);
        // Records of different runs do not pool.
        let mut other = records.clone();
        other[2].attacks.get_mut("pgd").unwrap().remove("8");
        assert!(
            summarize(&other)
                .unwrap_err()
                .to_string()
                .contains("same --attack")
        );
        assert!(summarize(&[]).is_err());
        let t = table(&s);
        assert!(t.contains("| pgd | 8 | 0.250 | 2 | 4.00 | 1.00 |"), "{t}");
        let json = serde_json::to_value(&records[0]).unwrap();
        assert_eq!(json["attacks"]["pgd"]["8"]["distance"], 6.0);
        let back: ImageRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, records[0]);
    }

    #[test]
    fn settings_are_validated() {
        let mut c = RobustnessConfig {
            attacks: vec![RobustAttack::Pgd, RobustAttack::Square],
            norm: Norm::Linf,
            eps: vec![1.0, 2.0],
            target: None,
            pgd_steps: 10,
            apgd_iterations: 10,
            queries: 100,
            cw: CwConfig::default(),
            batch: 4,
            seed: 0,
        };
        assert!(c.validate().is_ok());
        c.norm = Norm::L2;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("L∞ budgets only")
        );
        c.norm = Norm::Linf;
        c.eps = vec![2.0, 1.0];
        assert!(c.validate().unwrap_err().to_string().contains("ascending"));
        c.eps = vec![0.0];
        assert!(c.validate().is_err());
        assert_eq!(
            "APGD-CE".parse::<RobustAttack>().unwrap(),
            RobustAttack::Apgd
        );
        assert!("deepfool".parse::<RobustAttack>().is_err());
    }
}
