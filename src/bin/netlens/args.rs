//! Arguments shared by several commands.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use netlens::merge::JobKind;
use netlens::model::{ModelKind, Weights};
use netlens::shard::{Shard, ShardInfo, ShardOutput};
use netlens::{GpuContext, GpuOptions};

/// Options every command takes: adapter choice and verbosity.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Backends to search: vulkan, metal, dx12, gl (comma list) [env: NETLENS_BACKEND]
    #[arg(long, global = true)]
    pub backend: Option<String>,
    /// Adapter index (as `netlens info` lists them) or part of its name [env: NETLENS_ADAPTER]
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    /// Print only results and errors (no progress bars or notes).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

impl Global {
    /// The adapter options: flags over environment.
    pub fn options(&self) -> GpuOptions {
        GpuOptions::from_env().overridden(self.backend.as_deref(), self.adapter.as_deref())
    }

    /// Opens the device.
    pub fn context(&self) -> Result<GpuContext> {
        Ok(pollster::block_on(GpuContext::new(&self.options()))?)
    }
}

/// Model choice.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// The network: squeezenet or vgg16.
    #[arg(long, short, default_value = "squeezenet")]
    pub model: ModelKind,
    /// Weights file (safetensors, torchvision key names) [default: $NETLENS_WEIGHTS or
    /// ../shared/weights/squeezenet1_1.safetensors; $NETLENS_VGG16_WEIGHTS or
    /// ../shared/weights/vgg16.safetensors]
    #[arg(long, short)]
    pub weights: Option<PathBuf>,
}

impl ModelArgs {
    /// Reads and checks the weights (before any device is opened, so that a bad file is the
    /// error named first).
    pub fn load_weights(&self) -> Result<Weights> {
        Ok(self.model.load_weights(self.weights.as_deref())?)
    }
}

/// Image files from arguments that are files or folders (a folder gives its images, sorted).
pub fn expand_images(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in args {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(
                            e.to_ascii_lowercase().as_str(),
                            "jpg" | "jpeg" | "png" | "bmp" | "gif" | "webp" | "tif" | "tiff"
                        )
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(path.clone());
        }
    }
    if out.is_empty() {
        anyhow::bail!("no images given");
    }
    Ok(out)
}

/// `--shard K/N`, for the commands that process images one by one.
#[derive(Args, Clone, Debug)]
pub struct ShardArgs {
    /// Process only the K-th of N contiguous slices of the images (K from 0), in the order given
    /// with folders expanded and sorted; `netlens merge` joins the slices' JSON results (of
    /// classify --json, fool and robustness).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

impl ShardArgs {
    /// The images of this shard (all of them without `--shard`) and the shard's record.
    pub fn select(&self, images: Vec<PathBuf>) -> Result<(Vec<PathBuf>, Option<ShardInfo>)> {
        match self.shard {
            None => Ok((images, None)),
            Some(shard) => {
                let (mine, info) = shard.select(&images)?;
                Ok((mine, Some(info)))
            }
        }
    }
}

/// The JSON results to write: `results` as they are, or, for a shard, wrapped with the job, the
/// settings that must agree between shards and the slice, for `netlens merge`.
pub fn shard_results(
    job: JobKind,
    settings: serde_json::Value,
    shard: Option<ShardInfo>,
    results: impl serde::Serialize,
) -> Result<serde_json::Value> {
    let results = serde_json::to_value(results)?;
    Ok(match shard {
        None => results,
        Some(shard) => serde_json::to_value(ShardOutput {
            job: job.name().to_string(),
            settings,
            shard,
            results,
        })?,
    })
}

/// The identity of a model's weights for comparing runs: the file's SHA-256, or where they came
/// from.
pub fn weights_identity(weights: &Weights) -> String {
    weights
        .sha256()
        .map_or_else(|| weights.source().to_string(), str::to_string)
}
