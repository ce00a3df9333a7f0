//! The bundled models by name, and where their weights are found.

#[cfg(feature = "cli")]
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
#[cfg(feature = "cli")]
use crate::gpu::GpuContext;
use crate::model::Arch;
#[cfg(feature = "cli")]
use crate::model::{Network, Weights};

/// A model netlens knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// torchvision's `squeezenet1_1`.
    SqueezeNet,
    /// torchvision's `vgg16`.
    Vgg16,
}

impl ModelKind {
    /// Both models.
    pub const ALL: [ModelKind; 2] = [ModelKind::SqueezeNet, ModelKind::Vgg16];

    /// The short name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SqueezeNet => "squeezenet",
            ModelKind::Vgg16 => "vgg16",
        }
    }

    /// The name figures show ("SqueezeNet 1.1", "VGG16").
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::SqueezeNet => "SqueezeNet 1.1",
            ModelKind::Vgg16 => "VGG16",
        }
    }

    /// The architecture for ImageNet's 1000 classes.
    pub fn arch(self) -> Arch {
        match self {
            ModelKind::SqueezeNet => Arch::squeezenet1_1(1000),
            ModelKind::Vgg16 => Arch::vgg16(1000),
        }
    }

    /// The default weights file: `$NETLENS_WEIGHTS` (SqueezeNet) or `$NETLENS_VGG16_WEIGHTS`
    /// (VGG16), else `<data>/weights/squeezenet1_1.safetensors` or `vgg16.safetensors`.
    #[cfg(feature = "cli")]
    pub fn default_weights(self) -> PathBuf {
        let (var, file) = match self {
            ModelKind::SqueezeNet => ("NETLENS_WEIGHTS", "squeezenet1_1.safetensors"),
            ModelKind::Vgg16 => ("NETLENS_VGG16_WEIGHTS", "vgg16.safetensors"),
        };
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::app::data::data_dir().join("weights").join(file))
    }

    /// Loads the weights from `path` (or the default file), telling how to export them when the
    /// file does not exist.
    #[cfg(feature = "cli")]
    pub fn load_weights(self, path: Option<&Path>) -> Result<Weights> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.default_weights());
        match Weights::load(&path) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::WeightsFile {
                    path,
                    reason: format!(
                        "not found. Export torchvision's {} weights with \
                         `python3 weights/export_weights.py --model {}` (needs PyTorch and \
                         torchvision) and pass the file with --weights, or set {}",
                        self.arch().name,
                        self.name(),
                        match self {
                            ModelKind::SqueezeNet => "NETLENS_WEIGHTS",
                            ModelKind::Vgg16 => "NETLENS_VGG16_WEIGHTS",
                        }
                    ),
                })
            }
            loaded => loaded,
        }
    }

    /// Loads the weights and uploads the network.
    #[cfg(feature = "cli")]
    pub fn network(self, ctx: &GpuContext, weights: Option<&Path>) -> Result<Network> {
        Network::new(ctx, self.arch(), &self.load_weights(weights)?)
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace(['-', '_', '.'], "").as_str() {
            "squeezenet" | "squeezenet11" => Ok(ModelKind::SqueezeNet),
            "vgg16" | "vgg" => Ok(ModelKind::Vgg16),
            _ => Err(Error::InvalidInput(format!(
                "unknown model `{s}`; choose squeezenet or vgg16"
            ))),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
