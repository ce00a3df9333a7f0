//! Faithfulness of attribution maps: the deletion and insertion curves of Petsiuk et al. (RISE,
//! 2018). Pixels are changed in the order of a map, most important first, in `steps` equal
//! steps: deletion starts from the photo and replaces its pixels by those of a blurred copy,
//! insertion starts from the blurred copy and reveals the photo's pixels. Each step's input is
//! scored by the softmax probability of the target class; a faithful map makes the deletion
//! curve fall fast (small area under it) and the insertion curve rise fast (large area). A
//! random pixel order is the baseline. The perturbed inputs are made on the GPU and scored in
//! batched forward passes; the orders, areas and averages are plain Rust.

use crate::progress::Progress;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::hash::splitmix64;
use crate::saliency::kernels::PerturbKernel;
use crate::saliency::method::{Baseline, DEFAULT_BLUR_SIGMA};
use crate::saliency::perturbation::upload_targets;
use crate::saliency::run::{Attributor, IMAGES_PER_JOB};

/// Steps of the default curves (each curve has steps + 1 points, from 0 to every pixel).
pub const DEFAULT_STEPS: usize = 28;

/// The most steps a curve may have.
pub const MAX_STEPS: usize = 1000;

/// How the curves are made.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Protocol {
    /// Steps from no pixel to every pixel changed.
    pub steps: usize,
    /// Sigma in pixels of the Gaussian blur of the copy pixels are taken from or revealed on.
    pub blur: f32,
    /// Seed of the random baseline's pixel orders.
    pub seed: u64,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            steps: DEFAULT_STEPS,
            blur: DEFAULT_BLUR_SIGMA,
            seed: 0,
        }
    }
}

impl Protocol {
    /// Fails when a setting is out of range, naming it.
    pub fn check(&self) -> Result<()> {
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(Error::InvalidInput(format!(
                "the deletion and insertion curves need 1 to {MAX_STEPS} steps, not {} \
                 (--faithfulness-steps)",
                self.steps
            )));
        }
        if !(self.blur > 0.0 && self.blur.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "the faithfulness blur must be a positive number of pixels, not {} \
                 (--faithfulness-blur)",
                self.blur
            )));
        }
        Ok(())
    }
}

/// The place of every pixel in the order of `map`, largest value first (ties: lower index
/// first): `rank[pixel]` = how many pixels come before it.
pub fn ranks(map: &[f32]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..map.len()).collect();
    order.sort_by(|&a, &b| map[b].total_cmp(&map[a]).then(a.cmp(&b)));
    places(&order)
}

/// The places of a seeded uniformly random order of `pixels` pixels (Fisher-Yates driven by
/// splitmix64).
pub fn random_ranks(pixels: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<usize> = (0..pixels).collect();
    let mut state = seed;
    for i in (1..pixels).rev() {
        state = splitmix64(state);
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    places(&order)
}

/// Inverts an order (pixel at each place) into places (place of each pixel).
fn places(order: &[usize]) -> Vec<u32> {
    let mut rank = vec![0u32; order.len()];
    for (place, &pixel) in order.iter().enumerate() {
        rank[pixel] = place as u32;
    }
    rank
}

/// The area under a curve sampled at fractions 0, 1/N, ..., 1 (N = len - 1), by the trapezoid
/// rule; 0 for fewer than two points.
pub fn auc(curve: &[f32]) -> f64 {
    let n = curve.len().saturating_sub(1);
    if n == 0 {
        return 0.0;
    }
    curve
        .windows(2)
        .map(|w| (f64::from(w[0]) + f64::from(w[1])) / 2.0)
        .sum::<f64>()
        / n as f64
}

/// One image's curves under one order.
#[derive(Clone, Debug, Serialize)]
pub struct ImageCurves {
    /// The image, as the caller names it.
    pub image: String,
    /// The class scored.
    pub target: usize,
    /// Area under the deletion curve.
    pub deletion_auc: f64,
    /// Area under the insertion curve.
    pub insertion_auc: f64,
    /// The target's probability after each step of deletion (steps + 1 values).
    pub deletion: Vec<f32>,
    /// The target's probability after each step of insertion.
    pub insertion: Vec<f32>,
}

/// One method's (or the random order's) curves over the images.
#[derive(Clone, Debug, Serialize)]
pub struct MethodCurves {
    /// Mean area under the deletion curves.
    pub deletion_auc: f64,
    /// Mean area under the insertion curves.
    pub insertion_auc: f64,
    /// Each image's curves.
    pub per_image: Vec<ImageCurves>,
}

impl MethodCurves {
    fn new(per_image: Vec<ImageCurves>) -> Self {
        let mean = |f: fn(&ImageCurves) -> f64| {
            per_image.iter().map(f).sum::<f64>() / per_image.len().max(1) as f64
        };
        MethodCurves {
            deletion_auc: mean(|c| c.deletion_auc),
            insertion_auc: mean(|c| c.insertion_auc),
            per_image,
        }
    }

    /// The mean curve over the images: deletion (`insertion` false) or insertion.
    pub fn mean_curve(&self, insertion: bool) -> Vec<f64> {
        let n = self.per_image.len().max(1) as f64;
        let mut mean = Vec::new();
        for c in &self.per_image {
            let curve = if insertion { &c.insertion } else { &c.deletion };
            mean.resize(curve.len(), 0.0);
            for (m, &v) in mean.iter_mut().zip(curve) {
                *m += f64::from(v) / n;
            }
        }
        mean
    }
}

/// The name of the random baseline in a [`FaithfulnessReport`].
pub const RANDOM: &str = "random";

/// Every method's curves and the random baseline's, last.
#[derive(Clone, Debug)]
pub struct FaithfulnessReport {
    /// How the curves were made.
    pub protocol: Protocol,
    /// (method name, curves), in the order given, then ([`RANDOM`], curves).
    pub methods: Vec<(String, MethodCurves)>,
}

impl Serialize for FaithfulnessReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        /// The methods as a map, in their order.
        struct Methods<'a>(&'a [(String, MethodCurves)]);
        impl Serialize for Methods<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (name, curves) in self.0 {
                    map.serialize_entry(name, curves)?;
                }
                map.end()
            }
        }
        let mut report = serializer.serialize_struct("FaithfulnessReport", 5)?;
        report.serialize_field("steps", &self.protocol.steps)?;
        report.serialize_field("score", "softmax probability of the target class")?;
        report.serialize_field("blur_sigma", &self.protocol.blur)?;
        report.serialize_field("random_seed", &self.protocol.seed)?;
        report.serialize_field("methods", &Methods(&self.methods))?;
        report.end()
    }
}

impl FaithfulnessReport {
    /// The mean areas as aligned text, for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<12}{:>14}{:>15}   ({} steps; deletion: lower is better, insertion: higher)\n",
            "method", "deletion AUC", "insertion AUC", self.protocol.steps
        );
        for (name, c) in &self.methods {
            out.push_str(&format!(
                "{name:<12}{:>14.4}{:>15.4}\n",
                c.deletion_auc, c.insertion_auc
            ));
        }
        out
    }
}

/// GPU passes [`curves`] makes for `images` images: what a progress bar counts per order.
pub fn passes(attributor: &Attributor, images: usize, steps: usize) -> u64 {
    (0..images)
        .step_by(IMAGES_PER_JOB)
        .map(|first| {
            let pairs = 2 * IMAGES_PER_JOB.min(images - first) * (steps + 1);
            pairs.div_ceil(attributor.batch().min(pairs)) as u64
        })
        .sum()
}

/// The deletion and insertion curves (steps + 1 softmax probabilities of `targets[n]` each) of
/// every image `inputs[n]` (normalized CHW) under the pixel order `ranks[n]` (see [`ranks`]),
/// pixels taken from or revealed on `blurred[n]`. Returns (deletion, insertion) per image.
pub async fn curves(
    attributor: &Attributor<'_>,
    inputs: &[Vec<f32>],
    blurred: &[Vec<f32>],
    targets: &[usize],
    ranks: &[Vec<u32>],
    steps: usize,
    progress: &dyn Progress,
) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
    let (h, w) = attributor.input_size();
    let plane = h * w;
    let counts = [blurred.len(), targets.len(), ranks.len()];
    if counts.iter().any(|&c| c != inputs.len()) {
        return Err(Error::InvalidInput(format!(
            "{} images but {} blurred copies, {} targets and {} orders",
            inputs.len(),
            counts[0],
            counts[1],
            counts[2]
        )));
    }
    if let Some(r) = ranks.iter().find(|r| r.len() != plane) {
        return Err(Error::InvalidInput(format!(
            "a pixel order of {} pixels for a {h}x{w} input",
            r.len()
        )));
    }
    let ctx = attributor.context();
    let mut out = Vec::with_capacity(inputs.len());
    for first in (0..inputs.len()).step_by(IMAGES_PER_JOB) {
        let end = (first + IMAGES_PER_JOB).min(inputs.len());
        let m = end - first;
        let perturbed = attributor.perturbation_job(2 * m, steps + 1)?;
        let photo = ctx.upload("faithfulness photos", &inputs[first..end].concat())?;
        let blur = ctx.upload("faithfulness blurred", &blurred[first..end].concat())?;
        let rank = ctx.upload("faithfulness orders", &ranks[first..end].concat())?;
        let make = perturbed.inputs(ctx, PerturbKernel::RevealInputs, &[&photo, &blur, &rank])?;
        let curve_targets: Vec<usize> = targets[first..end].iter().flat_map(|&t| [t, t]).collect();
        let curve_targets = upload_targets(attributor, &curve_targets)?;
        let scores = attributor.score_passes(&perturbed, make, &curve_targets, true, progress)?;
        let scores: Vec<f32> = ctx.read_all(&scores).await?;
        if let Some(i) = scores.iter().position(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                what: "deletion and insertion curves".into(),
                step: i % (steps + 1),
                why: format!(
                    "image {} scores {} at this step; the network's output may overflow",
                    first + i / (2 * (steps + 1)),
                    scores[i]
                ),
            });
        }
        let mut pairs = scores.chunks(steps + 1);
        while let (Some(deletion), Some(insertion)) = (pairs.next(), pairs.next()) {
            out.push((deletion.to_vec(), insertion.to_vec()));
        }
    }
    Ok(out)
}

/// Each method's maps: `maps[k]`, [images, h, w], made by the method named `names[k]`.
#[derive(Clone, Copy, Debug)]
pub struct MethodMaps<'a> {
    /// The methods' names.
    pub names: &'a [String],
    /// Their maps.
    pub maps: &'a [Vec<f32>],
}

/// The curves of every method's maps and of random orders (seeded `protocol.seed` + image
/// index) for the images `inputs` named `images`, each scored for its `targets` class. The
/// progress bar moves by [`passes`] per order.
pub async fn evaluate(
    attributor: &Attributor<'_>,
    protocol: &Protocol,
    images: &[String],
    inputs: &[Vec<f32>],
    targets: &[usize],
    methods: MethodMaps<'_>,
    progress: &dyn Progress,
) -> Result<FaithfulnessReport> {
    protocol.check()?;
    let hw = attributor.input_size();
    let plane = hw.0 * hw.1;
    let blurred: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| Baseline::Blur(protocol.blur).of(x, hw))
        .collect();
    let mut orders: Vec<(String, Vec<Vec<u32>>)> = Vec::new();
    for (name, map) in methods.names.iter().zip(methods.maps) {
        if map.len() != inputs.len() * plane {
            return Err(Error::InvalidInput(format!(
                "{name}: {} map values for {} images of {}x{}",
                map.len(),
                inputs.len(),
                hw.0,
                hw.1
            )));
        }
        orders.push((name.clone(), map.chunks(plane).map(ranks).collect()));
    }
    let random = (0..inputs.len())
        .map(|n| random_ranks(plane, protocol.seed.wrapping_add(n as u64)))
        .collect();
    orders.push((RANDOM.to_string(), random));
    let mut per_method = Vec::new();
    for (name, ranks) in orders {
        let per_image = curves(
            attributor,
            inputs,
            &blurred,
            targets,
            &ranks,
            protocol.steps,
            progress,
        )
        .await?
        .into_iter()
        .enumerate()
        .map(|(n, (deletion, insertion))| ImageCurves {
            image: images.get(n).cloned().unwrap_or_else(|| n.to_string()),
            target: targets[n],
            deletion_auc: auc(&deletion),
            insertion_auc: auc(&insertion),
            deletion,
            insertion,
        })
        .collect();
        per_method.push((name, MethodCurves::new(per_image)));
    }
    Ok(FaithfulnessReport {
        protocol: *protocol,
        methods: per_method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_put_the_largest_value_first_and_break_ties_by_index() {
        assert_eq!(ranks(&[0.5, 2.0, -1.0, 2.0]), [2, 0, 3, 1]);
        assert_eq!(ranks(&[]), Vec::<u32>::new());
    }

    #[test]
    fn random_ranks_are_seeded_permutations() {
        let a = random_ranks(1000, 7);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &r)| r as usize == i));
        assert_eq!(a, random_ranks(1000, 7));
        assert_ne!(a, random_ranks(1000, 8));
        // Not the identity, and roughly uniform: the first half of the pixels holds about half
        // of the first half of the places.
        let early = a[..500].iter().filter(|&&r| r < 500).count();
        assert!((200..300).contains(&early), "{early}");
    }

    #[test]
    fn auc_is_the_trapezoid_area_over_the_unit_interval() {
        assert_eq!(auc(&[1.0, 1.0, 1.0]), 1.0);
        // A straight line from 1 to 0: one half, whatever the steps.
        assert!((auc(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
        let line: Vec<f32> = (0..=28).map(|i| i as f32 / 28.0).collect();
        assert!((auc(&line) - 0.5).abs() < 1e-6);
        // By hand: (0 + 1) / 2 / 2 + (1 + 0) / 2 / 2 = 0.5; a step up at the start: 0.75.
        assert!((auc(&[0.0, 1.0, 0.0]) - 0.5).abs() < 1e-12);
        assert!((auc(&[0.0, 1.0, 1.0]) - 0.75).abs() < 1e-12);
        assert_eq!(auc(&[0.3]), 0.0);
    }

    #[test]
    fn protocols_out_of_range_are_refused() {
        assert!(Protocol::default().check().is_ok());
        for bad in [
            Protocol {
                steps: 0,
                ..Protocol::default()
            },
            Protocol {
                steps: MAX_STEPS + 1,
                ..Protocol::default()
            },
            Protocol {
                blur: f32::NAN,
                ..Protocol::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reports_serialize_their_methods_in_order_with_the_means() {
        let curves = |d: f32, i: f32| ImageCurves {
            image: "a.jpg".into(),
            target: 3,
            deletion_auc: f64::from(d),
            insertion_auc: f64::from(i),
            deletion: vec![1.0, d],
            insertion: vec![0.0, i],
        };
        let report = FaithfulnessReport {
            protocol: Protocol::default(),
            methods: vec![
                (
                    "vanilla".into(),
                    MethodCurves::new(vec![curves(0.2, 0.6), curves(0.4, 0.8)]),
                ),
                (RANDOM.into(), MethodCurves::new(vec![curves(0.5, 0.5)])),
            ],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["steps"], DEFAULT_STEPS);
        let methods = json["methods"].as_object().unwrap();
        assert_eq!(methods.len(), 2);
        assert!((json["methods"]["vanilla"]["deletion_auc"].as_f64().unwrap() - 0.3).abs() < 1e-6);
        assert!(
            (json["methods"]["vanilla"]["insertion_auc"]
                .as_f64()
                .unwrap()
                - 0.7)
                .abs()
                < 1e-6
        );
        assert_eq!(
            json["methods"]["vanilla"]["per_image"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.find("\"vanilla\"").unwrap() < text.find("\"random\"").unwrap());
        let mean = report.methods[0].1.mean_curve(true);
        assert_eq!(mean.len(), 2);
        assert!((mean[1] - 0.7).abs() < 1e-6);
        assert!(report.table().contains("random"));
    }
}
