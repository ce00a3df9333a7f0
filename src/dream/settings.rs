//! What one dreaming run optimizes and with which step size and regularization.

use crate::error::{Error, Result};
use crate::model::ModelKind;

/// The step size and regularization of one run. Each image of a batch has its own, so that a
/// sweep runs as one GPU batch.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DreamSettings {
    /// Length of each normalized gradient step: I += lr · g / ‖g‖ (in the image, or in the
    /// Fourier coefficients).
    pub lr: f32,
    /// Weight λ of the L2 penalty λ‖I − target‖².
    pub l2: f32,
    /// Weight of the total-variation penalty Σ (neighbour differences)².
    pub tv: f32,
    /// Blur after every this many steps (0: never; ignored by the Fourier parameterization).
    pub blur_every: usize,
    /// Standard deviation of the Gaussian blur, in pixels.
    pub blur_sigma: f32,
    /// The largest random roll, in pixels, each way.
    pub jitter: usize,
}

impl Default for DreamSettings {
    /// The classic SqueezeNet settings: 25, 1e-3, no TV, blur σ 0.5 every 10 steps, jitter 16.
    fn default() -> Self {
        Self {
            lr: 25.0,
            l2: 1e-3,
            tv: 0.0,
            blur_every: 10,
            blur_sigma: 0.5,
            jitter: 16,
        }
    }
}

/// The random scale and rotation applied to the image each step, on top of the jitter, so that
/// what it shows survives small changes of size and angle (transformation robustness, as Lucid's
/// standard set: scales in [0.9, 1.1], angles in ±10 degrees). Zero: off.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Transforms {
    /// Each step scales by a uniform factor in [1 − scale, 1 + scale].
    pub scale: f32,
    /// Each step rotates by a uniform angle in [−rotate, rotate] degrees.
    pub rotate: f32,
}

impl Transforms {
    /// Whether a step is neither scaled nor rotated.
    pub fn is_off(&self) -> bool {
        self.scale == 0.0 && self.rotate == 0.0
    }

    /// Fails, naming the parameter, on a scale outside [0, 0.5] or an angle outside [0, 180].
    pub fn validate(&self) -> Result<()> {
        for (what, v, most) in [
            ("random scale", self.scale, 0.5),
            ("random rotation", self.rotate, 180.0),
        ] {
            if !(v.is_finite() && (0.0..=most).contains(&v)) {
                return Err(Error::InvalidInput(format!(
                    "{what} = {v} is not valid: it must be a number from 0 to {most}"
                )));
            }
        }
        Ok(())
    }
}

/// The diversity term (see [`super::diversity`]): the images of one objective in a batch pushed
/// apart in the Gram space of a layer's output.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Diversity {
    /// The layer's index in [`crate::model::Arch::layers`]; at or below every objective's layer.
    pub layer: usize,
    /// Weight of the mean pairwise cosine similarity subtracted from the objective.
    pub weight: f32,
}

/// How the optimized image is represented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Parameterization {
    /// The normalized pixels themselves (clamped to the valid range, blurred now and then).
    #[default]
    Pixels,
    /// Decorrelated colours and 1/frequency-scaled Fourier coefficients (see [`super::fourier`]).
    Fourier,
}

impl std::str::FromStr for Parameterization {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pixels" | "pixel" => Ok(Self::Pixels),
            "fourier" | "fft" => Ok(Self::Fourier),
            _ => Err(Error::InvalidInput(format!(
                "unknown parameterization `{s}`; choose pixels or fourier"
            ))),
        }
    }
}

impl DreamSettings {
    /// The starting settings for a model and parameterization. SqueezeNet with pixels: the
    /// classic values ([`DreamSettings::default`]). VGG16 with pixels: a lower rate and more
    /// regularization (lr 10, λ 5e-3), as the classic study found VGG16 needs; a starting point
    /// only, not tuned here for want of VGG16 weights. Fourier: lr 150 and no L2 (the step is
    /// taken in coefficient space, where the 1/f scale shrinks all but the coarsest part of it;
    /// on SqueezeNet at 112 × 112, lr 20 and 50 reach p 0.14 and 0.47 in 20 steps, 120 reaches 1).
    pub fn for_model(model: ModelKind, parameterization: Parameterization) -> Self {
        match (model, parameterization) {
            (ModelKind::SqueezeNet, Parameterization::Pixels) => Self::default(),
            (ModelKind::Vgg16, Parameterization::Pixels) => Self {
                lr: 10.0,
                l2: 5e-3,
                ..Self::default()
            },
            (_, Parameterization::Fourier) => Self {
                lr: 150.0,
                l2: 0.0,
                ..Self::default()
            },
        }
    }

    /// The suggested number of steps for a model: 100 for SqueezeNet, 200 for VGG16.
    pub fn iterations_for(model: ModelKind) -> usize {
        match model {
            ModelKind::SqueezeNet => 100,
            ModelKind::Vgg16 => 200,
        }
    }

    /// Fails, naming the parameter, on a non-positive or non-finite rate, a negative or
    /// non-finite penalty or blur.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f32, need: &str| {
            Err(Error::InvalidInput(format!(
                "{what} = {v} is not valid: it must be {need}"
            )))
        };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr, "a finite number > 0");
        }
        for (what, v) in [
            ("l2", self.l2),
            ("tv", self.tv),
            ("blur-sigma", self.blur_sigma),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(what, v, "a finite number >= 0");
            }
        }
        if self.blur_sigma > 64.0 {
            return bad("blur-sigma", self.blur_sigma, "at most 64 pixels");
        }
        Ok(())
    }
}

/// A parameter a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SweepParam {
    /// [`DreamSettings::lr`].
    Lr,
    /// [`DreamSettings::l2`].
    L2,
    /// [`DreamSettings::tv`].
    Tv,
    /// [`DreamSettings::blur_sigma`].
    BlurSigma,
    /// [`DreamSettings::blur_every`].
    BlurEvery,
    /// [`DreamSettings::jitter`].
    Jitter,
}

impl SweepParam {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lr => "lr",
            Self::L2 => "l2",
            Self::Tv => "tv",
            Self::BlurSigma => "blur-sigma",
            Self::BlurEvery => "blur-every",
            Self::Jitter => "jitter",
        }
    }

    const ALL: [SweepParam; 6] = [
        Self::Lr,
        Self::L2,
        Self::Tv,
        Self::BlurSigma,
        Self::BlurEvery,
        Self::Jitter,
    ];
}

/// One parameter and the values it takes, one run (one figure row) per value.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sweep {
    /// The parameter.
    pub param: SweepParam,
    /// The values as given (for labels) and parsed.
    pub values: Vec<(String, f32)>,
}

impl std::str::FromStr for Sweep {
    type Err = Error;

    /// `name=v1,v2,…`, e.g. `lr=10,5,2,0.5` or `l2=1e-5,0.1,0.5,1`.
    fn from_str(s: &str) -> Result<Self> {
        let names: Vec<_> = SweepParam::ALL.iter().map(|p| p.name()).collect();
        let (name, list) = s.split_once('=').ok_or_else(|| {
            Error::InvalidInput(format!(
                "sweep `{s}`: expected name=v1,v2,… with name one of {}",
                names.join(", ")
            ))
        })?;
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        let param = SweepParam::ALL
            .into_iter()
            .find(|p| p.name() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "sweep `{s}`: unknown parameter `{name}`; choose one of {}",
                    names.join(", ")
                ))
            })?;
        let values = list
            .split(',')
            .map(|v| {
                let v = v.trim();
                let parsed: f32 = v.parse().map_err(|_| {
                    Error::InvalidInput(format!("sweep `{s}`: `{v}` is not a number"))
                })?;
                let integral = matches!(param, SweepParam::BlurEvery | SweepParam::Jitter);
                if integral && (parsed < 0.0 || parsed.fract() != 0.0) {
                    return Err(Error::InvalidInput(format!(
                        "sweep `{s}`: {} takes whole numbers >= 0, not `{v}`",
                        param.name()
                    )));
                }
                Ok((v.to_string(), parsed))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { param, values })
    }
}

impl Sweep {
    /// `base` with the parameter set to value `i`.
    pub fn apply(&self, base: &DreamSettings, i: usize) -> DreamSettings {
        let v = self.values[i].1;
        let mut s = *base;
        match self.param {
            SweepParam::Lr => s.lr = v,
            SweepParam::L2 => s.l2 = v,
            SweepParam::Tv => s.tv = v,
            SweepParam::BlurSigma => s.blur_sigma = v,
            SweepParam::BlurEvery => s.blur_every = v as usize,
            SweepParam::Jitter => s.jitter = v as usize,
        }
        s
    }

    /// The label of value `i`: `lr = 10`.
    pub fn label(&self, i: usize) -> String {
        format!("{} = {}", self.param.name(), self.values[i].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_apply_and_label() {
        let s: Sweep = "l2=1e-5,0.1".parse().unwrap();
        assert_eq!(s.param, SweepParam::L2);
        assert_eq!(s.apply(&DreamSettings::default(), 0).l2, 1e-5);
        assert_eq!(s.label(1), "l2 = 0.1");
        let s: Sweep = "blur_every=5,20".parse().unwrap();
        assert_eq!(s.apply(&DreamSettings::default(), 1).blur_every, 20);
        for bad in ["lr", "speed=1", "lr=1,x", "jitter=1.5"] {
            assert!(bad.parse::<Sweep>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn validation_names_the_parameter() {
        let e = DreamSettings {
            lr: 0.0,
            ..DreamSettings::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("lr"), "{e}");
        let e = DreamSettings {
            tv: f32::NAN,
            ..DreamSettings::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("tv"), "{e}");
        assert!(DreamSettings::default().validate().is_ok());
    }
}
