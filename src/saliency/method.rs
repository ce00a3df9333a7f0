//! The attribution methods by name, and their settings.

use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Arch, Layer};
use crate::preprocess::{MEAN, STD};
use crate::saliency::kernels::Reduce;

/// An attribution method: how a map of "which pixels matter for class c" is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The gradient of the class score with respect to the input (Simonyan et al., 2014).
    Vanilla,
    /// The gradient averaged over noisy copies of the input (Smilkov et al., 2017).
    SmoothGrad,
    /// (x − x') times the gradient averaged along the path from a baseline x' to x (Sundararajan
    /// et al., 2017).
    #[serde(rename = "ig")]
    IntegratedGradients,
    /// The ReLU of the last convolutional block's channels weighted by their mean gradient,
    /// upsampled to the image (Selvaraju et al., 2017).
    GradCam,
    /// The gradient with ReLUs that also drop negative incoming gradients (Springenberg et al.,
    /// 2015).
    Guided,
    /// Grad-CAM with channel weights from the positive gradients, weighted by second- and
    /// third-order terms of exp(score) (Chattopadhay et al., 2018).
    #[serde(rename = "gradcam++")]
    GradCamPlusPlus,
    /// The last convolutional block's channels weighted by the class probability of the input
    /// masked by each channel's upsampled, normalized map (Wang et al., 2020).
    ScoreCam,
    /// The drop of the class score when a square patch of the input is set to the mean color,
    /// averaged over the patches covering each pixel (Zeiler and Fergus, 2014).
    Occlusion,
}

impl Method {
    /// Every method, in the order figures show them.
    pub const ALL: [Method; 8] = [
        Method::Vanilla,
        Method::SmoothGrad,
        Method::IntegratedGradients,
        Method::GradCam,
        Method::Guided,
        Method::GradCamPlusPlus,
        Method::ScoreCam,
        Method::Occlusion,
    ];

    /// The names every list of methods accepts, for messages.
    const NAMES: &'static str =
        "vanilla, smoothgrad, ig, gradcam, guided, gradcam++, scorecam, occlusion";

    /// The short name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Method::Vanilla => "vanilla",
            Method::SmoothGrad => "smoothgrad",
            Method::IntegratedGradients => "ig",
            Method::GradCam => "gradcam",
            Method::Guided => "guided",
            Method::GradCamPlusPlus => "gradcam++",
            Method::ScoreCam => "scorecam",
            Method::Occlusion => "occlusion",
        }
    }

    /// The name figures show.
    pub fn title(self) -> &'static str {
        match self {
            Method::Vanilla => "Gradient",
            Method::SmoothGrad => "SmoothGrad",
            Method::IntegratedGradients => "Integrated Gradients",
            Method::GradCam => "Grad-CAM",
            Method::Guided => "Guided Backprop",
            Method::GradCamPlusPlus => "Grad-CAM++",
            Method::ScoreCam => "Score-CAM",
            Method::Occlusion => "Occlusion",
        }
    }

    /// Whether the method attributes to every input value (channels reduced into a map
    /// afterwards) rather than making one map per image directly.
    pub fn per_channel(self) -> bool {
        matches!(
            self,
            Method::Vanilla | Method::SmoothGrad | Method::IntegratedGradients | Method::Guided
        )
    }

    /// Parses a comma list of method names (`vanilla,smoothgrad,ig,gradcam,guided,gradcam++,
    /// scorecam,occlusion`, or `all`).
    pub fn parse_list(list: &str) -> Result<Vec<Method>> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name.eq_ignore_ascii_case("all") {
                out.extend(Method::ALL);
            } else {
                out.push(name.parse()?);
            }
        }
        let mut seen = Vec::new();
        out.retain(|m| {
            let new = !seen.contains(m);
            seen.push(*m);
            new
        });
        if out.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no attribution method given; choose from {}",
                Method::NAMES
            )));
        }
        Ok(out)
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s
            .to_ascii_lowercase()
            .replace(['-', '_', ' '], "")
            .replace("++", "pp")
            .as_str()
        {
            "vanilla" | "gradient" | "saliency" => Ok(Method::Vanilla),
            "smoothgrad" | "smooth" => Ok(Method::SmoothGrad),
            "ig" | "integratedgradients" => Ok(Method::IntegratedGradients),
            "gradcam" | "cam" => Ok(Method::GradCam),
            "guided" | "guidedbackprop" => Ok(Method::Guided),
            "gradcampp" | "gradcamplusplus" | "campp" => Ok(Method::GradCamPlusPlus),
            "scorecam" => Ok(Method::ScoreCam),
            "occlusion" => Ok(Method::Occlusion),
            _ => Err(Error::InvalidInput(format!(
                "unknown attribution method `{s}`; choose from {}",
                Method::NAMES
            ))),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The default blur of the `blur` baseline, in pixels (Gaussian sigma).
pub const DEFAULT_BLUR_SIGMA: f32 = 16.0;

/// Integrated Gradients' starting point x'.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// A black image (pixel value 0 in every channel).
    Black,
    /// Zero in the normalized input: the ImageNet mean color.
    Zero,
    /// The image blurred with a Gaussian of this sigma in pixels: keeps the colors, drops the
    /// detail.
    Blur(f32),
}

impl Baseline {
    /// The baseline for one normalized CHW input of `hw`.
    pub fn of(self, input: &[f32], hw: (usize, usize)) -> Vec<f32> {
        let plane = hw.0 * hw.1;
        match self {
            Baseline::Black => (0..input.len())
                .map(|i| -MEAN[(i / plane) % 3] / STD[(i / plane) % 3])
                .collect(),
            Baseline::Zero => vec![0.0; input.len()],
            Baseline::Blur(sigma) => input
                .chunks(plane)
                .flat_map(|channel| gaussian_blur(channel, hw, sigma))
                .collect(),
        }
    }
}

impl FromStr for Baseline {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let (name, arg) = match lower.split_once([':', '=']) {
            Some((n, a)) => (n, Some(a)),
            None => (lower.as_str(), None),
        };
        match (name, arg) {
            ("black", None) => Ok(Baseline::Black),
            ("zero", None) => Ok(Baseline::Zero),
            ("blur", None) => Ok(Baseline::Blur(DEFAULT_BLUR_SIGMA)),
            ("blur", Some(a)) => match a.parse::<f32>() {
                Ok(sigma) if sigma > 0.0 && sigma.is_finite() => Ok(Baseline::Blur(sigma)),
                _ => Err(Error::InvalidInput(format!(
                    "blur baseline `{s}`: the sigma must be a positive number of pixels"
                ))),
            },
            _ => Err(Error::InvalidInput(format!(
                "unknown baseline `{s}`; choose black, zero or blur (blur:SIGMA for another \
                 sigma in pixels)"
            ))),
        }
    }
}

/// One channel blurred by a separable Gaussian of `sigma` pixels, edges clamped.
fn gaussian_blur(channel: &[f32], (h, w): (usize, usize), sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let blur = |src: &[f32], len: usize, at: &dyn Fn(usize, usize) -> usize, lines: usize| {
        let mut out = vec![0.0; src.len()];
        for line in 0..lines {
            for i in 0..len {
                let mut acc = 0.0;
                for (k, &g) in kernel.iter().enumerate() {
                    let j = (i as isize + k as isize - radius).clamp(0, len as isize - 1) as usize;
                    acc += g * src[at(line, j)];
                }
                out[at(line, i)] = acc / total;
            }
        }
        out
    };
    let rows = blur(channel, w, &|y, x| y * w + x, h);
    blur(&rows, h, &|x, y| y * w + x, w)
}

/// The settings of every method (each reads its own).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// How gradient channels become a map.
    pub reduce: Reduce,
    /// SmoothGrad: noisy samples per image.
    pub samples: usize,
    /// SmoothGrad: noise sigma as a fraction of the image's value range (max − min).
    pub noise: f32,
    /// SmoothGrad: seed of the noise.
    pub seed: u64,
    /// Integrated Gradients: steps along the path.
    pub steps: usize,
    /// Integrated Gradients: the baseline.
    pub baseline: Baseline,
    /// Grad-CAM: the layer whose output is weighted, by name (`features.12`); `None` for
    /// [`default_cam_layer`]. Grad-CAM++ and Score-CAM use the same layer.
    pub cam_layer: Option<String>,
    /// Occlusion: the side of the square patch, in pixels.
    pub patch: usize,
    /// Occlusion: the step between patches, in pixels.
    pub stride: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reduce: Reduce::Max,
            samples: 25,
            noise: 0.15,
            seed: 0,
            steps: 64,
            baseline: Baseline::Black,
            cam_layer: None,
            patch: DEFAULT_PATCH,
            stride: DEFAULT_STRIDE,
        }
    }
}

/// Occlusion's default patch side in pixels: 13 x 13 patches tile a 224 x 224 input exactly
/// with the default stride.
pub const DEFAULT_PATCH: usize = 32;

/// Occlusion's default step between patches in pixels (half a patch: each pixel lies under up
/// to four patches).
pub const DEFAULT_STRIDE: usize = 16;

impl Settings {
    /// Fails when a setting is out of range, naming it.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(what));
        if self.samples == 0 {
            return bad("SmoothGrad needs at least one sample (--samples)".into());
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return bad(format!(
                "SmoothGrad noise {} must be a finite fraction >= 0 (--noise)",
                self.noise
            ));
        }
        if self.steps == 0 {
            return bad("Integrated Gradients needs at least one step (--steps)".into());
        }
        if self.patch == 0 || self.stride == 0 {
            return bad(format!(
                "occlusion needs a patch and a stride of at least one pixel (--patch {}, \
                 --stride {})",
                self.patch, self.stride
            ));
        }
        Ok(())
    }

    /// The index of the Grad-CAM layer in `arch`.
    pub fn cam_layer_index(&self, arch: &Arch) -> Result<usize> {
        match &self.cam_layer {
            Some(name) => arch.layer_index(name).ok_or_else(|| {
                let names: Vec<&str> = arch
                    .layers
                    .iter()
                    .filter(|l| matches!(l, Layer::Conv { .. } | Layer::Fire { .. }))
                    .map(Layer::name)
                    .collect();
                Error::InvalidInput(format!(
                    "Grad-CAM layer `{name}` is not a layer of {}; its convolutional layers are {}",
                    arch.name,
                    names.join(", ")
                ))
            }),
            None => default_cam_layer(arch),
        }
    }
}

/// The last convolutional block of the feature extractor: the last convolution or fire module
/// named `features.*` (SqueezeNet 1.1: `features.12`, layer 11, 512 x 13 x 13; VGG16:
/// `features.28` with its ReLU, 512 x 14 x 14), else the last convolution or fire module.
pub fn default_cam_layer(arch: &Arch) -> Result<usize> {
    let convs: Vec<usize> = arch
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Conv { .. } | Layer::Fire { .. }))
        .map(|(i, _)| i)
        .collect();
    convs
        .iter()
        .rev()
        .find(|&&i| arch.layers[i].name().starts_with("features."))
        .or(convs.last())
        .copied()
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} has no convolutional layer for Grad-CAM",
                arch.name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_lists_parse_and_reject_unknown_names() {
        assert_eq!(
            Method::parse_list("vanilla, IG,grad-cam,vanilla").unwrap(),
            [
                Method::Vanilla,
                Method::IntegratedGradients,
                Method::GradCam
            ]
        );
        assert_eq!(Method::parse_list("all").unwrap(), Method::ALL);
        let err = Method::parse_list("vanilla,lime").unwrap_err().to_string();
        assert!(
            err.contains("`lime`") && err.contains("smoothgrad"),
            "{err}"
        );
        assert!(Method::parse_list(" , ").is_err());
    }

    #[test]
    fn perturbation_and_cam_methods_parse_by_their_names() {
        assert_eq!(
            Method::parse_list("gradcam++,Grad-CAM-PP,score-cam,Occlusion").unwrap(),
            [Method::GradCamPlusPlus, Method::ScoreCam, Method::Occlusion]
        );
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        let per_channel: Vec<Method> = Method::ALL
            .into_iter()
            .filter(|m| m.per_channel())
            .collect();
        assert_eq!(
            per_channel,
            [
                Method::Vanilla,
                Method::SmoothGrad,
                Method::IntegratedGradients,
                Method::Guided
            ]
        );
        let bad = Settings {
            stride: 0,
            ..Settings::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("--stride 0"));
    }

    #[test]
    fn baselines_parse_and_build() {
        assert_eq!("black".parse::<Baseline>().unwrap(), Baseline::Black);
        assert_eq!("blur:4".parse::<Baseline>().unwrap(), Baseline::Blur(4.0));
        assert!("blur:-1".parse::<Baseline>().is_err());
        assert!("white".parse::<Baseline>().is_err());
        let input: Vec<f32> = (0..3 * 8 * 8).map(|i| (i % 7) as f32).collect();
        let black = Baseline::Black.of(&input, (8, 8));
        assert!((black[0] - (-0.485 / 0.229)).abs() < 1e-6);
        assert!((black[2 * 64] - (-0.406 / 0.225)).abs() < 1e-6);
        // A blur keeps each channel's mean (edges clamped: nearly) and flattens it.
        let blurred = Baseline::Blur(2.0).of(&input, (8, 8));
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean(&blurred[..64]) - mean(&input[..64])).abs() < 0.3);
        let spread = |v: &[f32]| v.iter().map(|x| (x - mean(v)).abs()).sum::<f32>();
        assert!(spread(&blurred[..64]) < 0.5 * spread(&input[..64]));
    }

    #[test]
    fn default_cam_layers_are_the_last_feature_blocks() {
        let squeezenet = Arch::squeezenet1_1(1000);
        assert_eq!(default_cam_layer(&squeezenet).unwrap(), 11);
        let vgg = Arch::vgg16(1000);
        let i = default_cam_layer(&vgg).unwrap();
        assert_eq!(vgg.layers[i].name(), "features.28");
        let settings = Settings {
            cam_layer: Some("features.99".into()),
            ..Settings::default()
        };
        let err = settings.cam_layer_index(&vgg).unwrap_err().to_string();
        assert!(
            err.contains("features.99") && err.contains("features.28"),
            "{err}"
        );
    }
}
