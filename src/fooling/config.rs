//! What an adversarial loop does: the method (classic fooling image, FGSM, PGD, MI-FGSM), the
//! norm of its budget, step sizes in pixel levels, and how it stops; and the conversions
//! between pixel levels (0-255) and the network's normalized inputs.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::preprocess::{MEAN, STD};

/// The update rule of an adversarial loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackMethod {
    /// The classic fooling image: x += lr · g / ‖g‖₂ in normalized units, no budget, until the
    /// prediction (top-1) is the target.
    Fool,
    /// Fast gradient sign method: one step of ε (L∞: ε · sign(g); L2: ε · g / ‖g‖₂) from the
    /// original image.
    Fgsm,
    /// Projected gradient descent: steps of `step` pixel levels, each projected back onto the
    /// ε-ball around the original image, optionally from a random start.
    Pgd,
    /// Momentum iterative FGSM: steps along the sign (L∞) or direction (L2) of a decaying sum of
    /// L1-normalized gradients, projected onto the ε-ball.
    MiFgsm,
}

impl AttackMethod {
    /// Every method.
    pub const ALL: [AttackMethod; 4] = [
        AttackMethod::Fool,
        AttackMethod::Fgsm,
        AttackMethod::Pgd,
        AttackMethod::MiFgsm,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttackMethod::Fool => "fool",
            AttackMethod::Fgsm => "fgsm",
            AttackMethod::Pgd => "pgd",
            AttackMethod::MiFgsm => "mifgsm",
        }
    }
}

impl FromStr for AttackMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let key = s.to_ascii_lowercase().replace(['-', '_'], "");
        AttackMethod::ALL
            .into_iter()
            .find(|m| m.name() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown attack method `{s}`; choose fool, fgsm, pgd or mifgsm"
                ))
            })
    }
}

impl std::fmt::Display for AttackMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The loss whose gradient a step ascends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// The target's logit (the classic fooling image), or minus the logit of the class to leave.
    #[default]
    Logit,
    /// The target's log-probability, or the cross-entropy of the class to leave.
    CrossEntropy,
}

impl FromStr for Loss {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "logit" => Ok(Loss::Logit),
            "crossentropy" | "ce" => Ok(Loss::CrossEntropy),
            _ => Err(Error::InvalidInput(format!(
                "unknown loss `{s}`; choose logit or cross-entropy"
            ))),
        }
    }
}

/// The norm of an attack's budget and steps, measured in pixel levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Largest change of any pixel channel.
    #[default]
    Linf,
    /// Euclidean length of the change over all pixel channels.
    L2,
}

impl FromStr for Norm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "linf" | "inf" | "l-inf" => Ok(Norm::Linf),
            "l2" | "2" => Ok(Norm::L2),
            _ => Err(Error::InvalidInput(format!(
                "unknown norm `{s}`; choose linf or l2"
            ))),
        }
    }
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        })
    }
}

/// An adversarial loop's settings. Distances (`eps`, `step`) are in pixel levels (0-255) of the
/// image; the network sees normalized inputs, where one level of channel c is
/// 1 / (255 · `std[c]`) (see [`pixel_unit`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AttackConfig {
    /// The update rule.
    pub method: AttackMethod,
    /// Norm of the budget and of the steps (ignored by [`AttackMethod::Fool`]).
    pub norm: Norm,
    /// The loss whose gradient is ascended.
    pub loss: Loss,
    /// Budget: the radius of the ball around the original image (ignored by [`AttackMethod::Fool`]).
    pub eps: f32,
    /// Step size: the learning rate in normalized units for [`AttackMethod::Fool`], pixel levels for
    /// the others ([`AttackMethod::Fgsm`] always steps by `eps`).
    pub step: f32,
    /// Most steps (1 for [`AttackMethod::Fgsm`]).
    pub steps: usize,
    /// Start from a random point of the ε-ball ([`AttackMethod::Pgd`] only).
    pub random_start: bool,
    /// Momentum decay μ of [`AttackMethod::MiFgsm`].
    pub decay: f32,
    /// Freeze each image once it reaches its goal (the classic fooling loop); otherwise every
    /// image takes every step.
    pub stop_when_reached: bool,
    /// Check goals (and take gradients) on the image rounded to 8 bits, so that a saved PNG
    /// reaches the goal whenever the loop does; otherwise on the unrounded image.
    pub survive_rounding: bool,
    /// Steps between reads of the per-image flags (to stop early and report progress).
    pub check_every: usize,
    /// Seed of the random start.
    pub seed: u64,
}

impl AttackConfig {
    /// The classic fooling image: steps of `lr · g / ‖g‖₂` on the target's logit, at most
    /// `max_iters`, each image stopping when its 8-bit rounding (what a PNG stores) is classified
    /// as its target.
    pub fn fool(lr: f32, max_iters: usize) -> Self {
        Self {
            method: AttackMethod::Fool,
            norm: Norm::L2,
            loss: Loss::Logit,
            eps: f32::INFINITY,
            step: lr,
            steps: max_iters,
            random_start: false,
            decay: 0.0,
            stop_when_reached: true,
            survive_rounding: true,
            check_every: 5,
            seed: 0,
        }
    }

    /// The usual settings of `method` for a budget of `eps` levels in `norm`: cross-entropy loss;
    /// FGSM one step of ε; PGD 10 steps of 2.5 ε / 10 from a random start (Madry et al.);
    /// MI-FGSM 10 steps of ε / 10 with μ = 1 (Dong et al.); every step taken, on the unrounded
    /// image as these attacks are defined (the 8-bit result is checked after the loop). For
    /// [`AttackMethod::Fool`], [`AttackConfig::fool`] with lr 1 and 100 iterations.
    pub fn standard(method: AttackMethod, norm: Norm, eps: f32) -> Self {
        let steps = 10;
        let base = Self {
            method,
            norm,
            loss: Loss::CrossEntropy,
            eps,
            step: eps,
            steps: 1,
            random_start: false,
            decay: 0.0,
            stop_when_reached: false,
            survive_rounding: false,
            check_every: 5,
            seed: 0,
        };
        match method {
            AttackMethod::Fool => Self::fool(1.0, 100),
            AttackMethod::Fgsm => base,
            AttackMethod::Pgd => Self {
                step: 2.5 * eps / steps as f32,
                steps,
                random_start: true,
                ..base
            },
            AttackMethod::MiFgsm => Self {
                step: eps / steps as f32,
                steps,
                decay: 1.0,
                ..base
            },
        }
    }

    /// Fails, naming the setting, when the settings do not make a loop.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(what));
        if self.steps == 0 {
            return bad("an attack needs at least one step (steps = 0)".into());
        }
        if self.check_every == 0 {
            return bad("check_every must be at least 1".into());
        }
        if self.method != AttackMethod::Fool && !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!(
                "{} needs a positive finite budget eps (pixel levels), got {}",
                self.method, self.eps
            ));
        }
        if !(self.step.is_finite() && self.step > 0.0) {
            return bad(format!("the step size must be positive, got {}", self.step));
        }
        if self.method == AttackMethod::Fgsm && self.steps != 1 {
            return bad(format!("FGSM takes one step, not {}", self.steps));
        }
        if self.random_start && self.method != AttackMethod::Pgd {
            return bad(format!("{} has no random start (PGD has)", self.method));
        }
        if !self.decay.is_finite() || self.decay < 0.0 {
            return bad(format!(
                "the momentum decay must be >= 0, got {}",
                self.decay
            ));
        }
        Ok(())
    }

    /// The step the update applies, in its units (FGSM steps by the whole budget).
    pub fn step_size(&self) -> f32 {
        match self.method {
            AttackMethod::Fgsm => self.eps,
            _ => self.step,
        }
    }
}

/// One pixel level (1/255 of the 0..1 range) of each channel in normalized units:
/// 1 / (255 · `std[c]`).
pub fn pixel_unit() -> [f32; 3] {
    std::array::from_fn(|c| 1.0 / (255.0 * STD[c]))
}

/// The normalized value of every pixel level of every channel, `[3][256]`, computed as
/// [`crate::preprocess::to_input`] computes it.
pub fn level_table() -> Vec<f32> {
    (0..3)
        .flat_map(|c| (0..256).map(move |p| (p as f32 / 255.0 - MEAN[c]) / STD[c]))
        .collect()
}

/// Distances between two normalized CHW images in pixel levels: (L2, L∞).
pub fn pixel_distances(x: &[f32], x0: &[f32]) -> (f32, f32) {
    let plane = x.len() / 3;
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    for (i, (&a, &b)) in x.iter().zip(x0).enumerate() {
        let d = ((a - b) as f64 * 255.0 * STD[i / plane.max(1)] as f64).abs();
        sum += d * d;
        max = max.max(d);
    }
    (sum.sqrt() as f32, max as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{to_input, to_rgb};

    #[test]
    fn level_table_matches_preprocessing() {
        let img = image::RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([
                (x * 16 + y) as u8,
                255 - (x * 16 + y) as u8,
                (x * 7 + y * 3) as u8,
            ])
        });
        let input = to_input(&img, 16).unwrap();
        let table = level_table();
        for (i, &v) in input.iter().enumerate() {
            let c = i / 256;
            let p = img.get_pixel((i % 256 % 16) as u32, (i % 256 / 16) as u32)[c];
            assert_eq!(v, table[c * 256 + p as usize]);
        }
        assert_eq!(to_rgb(&input, 16), img);
        let bounds = crate::preprocess::image_bounds();
        assert_eq!(bounds[1], (table[256], table[511]));
    }

    #[test]
    fn distances_are_in_pixel_levels() {
        let x0 = vec![0.0; 12];
        let mut x = x0.clone();
        let unit = pixel_unit();
        x[0] = 3.0 * unit[0];
        x[8] = -4.0 * unit[2];
        let (l2, linf) = pixel_distances(&x, &x0);
        assert!((l2 - 5.0).abs() < 1e-5, "{l2}");
        assert!((linf - 4.0).abs() < 1e-5, "{linf}");
    }

    #[test]
    fn settings_are_validated() {
        assert!(AttackConfig::fool(1.0, 100).validate().is_ok());
        for m in AttackMethod::ALL {
            assert!(
                AttackConfig::standard(m, Norm::Linf, 8.0)
                    .validate()
                    .is_ok()
            );
            assert_eq!(m.name().parse::<AttackMethod>().unwrap(), m);
        }
        let mut c = AttackConfig::standard(AttackMethod::Pgd, Norm::L2, 0.0);
        assert!(c.validate().unwrap_err().to_string().contains("eps"));
        c.eps = 100.0;
        c.steps = 0;
        assert!(c.validate().is_err());
        let mut f = AttackConfig::standard(AttackMethod::Fgsm, Norm::Linf, 4.0);
        f.random_start = true;
        assert!(
            f.validate()
                .unwrap_err()
                .to_string()
                .contains("random start")
        );
        assert_eq!(
            "MI-FGSM".parse::<AttackMethod>().unwrap(),
            AttackMethod::MiFgsm
        );
        assert!("foo".parse::<Norm>().is_err());
    }
}
