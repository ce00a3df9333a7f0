//! The small JSON record written next to every figure, so that a result can be reproduced:
//! command, model, weights hash, parameters, seed, adapter and timings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::gpu::GpuContext;
use crate::model::Weights;

/// The weights a run used.
#[derive(Clone, Debug, Serialize)]
pub struct WeightsRecord {
    /// Model name.
    pub model: String,
    /// Where the weights came from (a path, or "formula"/"random").
    pub source: String,
    /// SHA-256 of the weights file, when read from one.
    pub sha256: Option<String>,
}

/// A run's record. Build it as the run goes; plan it at [`Manifest::path_for`] the figure with
/// [`crate::app::output::OutputPlan::add_last`] and write it with the plan's `save_json`.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// The command line, program name first.
    pub command: Vec<String>,
    /// netlens version.
    pub version: String,
    /// The adapter that ran it.
    pub adapter: String,
    /// The models and weights used.
    pub weights: Vec<WeightsRecord>,
    /// The run's parameters, by name.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Random seed, when the run draws random numbers.
    pub seed: Option<u64>,
    /// Wall-clock milliseconds of the run's phases.
    pub timings_ms: BTreeMap<String, f64>,
    /// Files written, besides the manifest.
    pub outputs: Vec<PathBuf>,
}

impl Manifest {
    /// A record of the current process's command line on `ctx`'s adapter.
    pub fn new(ctx: &GpuContext) -> Self {
        Self {
            command: std::env::args().collect(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            adapter: ctx.adapter_name(),
            weights: Vec::new(),
            parameters: BTreeMap::new(),
            seed: None,
            timings_ms: BTreeMap::new(),
            outputs: Vec::new(),
        }
    }

    /// Records the weights of a model.
    pub fn weights(&mut self, model: &str, weights: &Weights) -> &mut Self {
        self.weights.push(WeightsRecord {
            model: model.to_string(),
            source: weights.source().to_string(),
            sha256: weights.sha256().map(str::to_string),
        });
        self
    }

    /// Records a parameter.
    pub fn param(&mut self, name: &str, value: impl Serialize) -> &mut Self {
        self.parameters.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
        self
    }

    /// Records a timing in milliseconds.
    pub fn timing(&mut self, name: &str, ms: f64) -> &mut Self {
        self.timings_ms.insert(name.to_string(), ms);
        self
    }

    /// Records an output file.
    pub fn output(&mut self, path: &Path) -> &mut Self {
        self.outputs.push(path.to_path_buf());
        self
    }

    /// The manifest's path for a figure: `fig.png` -> `fig.json`.
    pub fn path_for(figure: &Path) -> PathBuf {
        figure.with_extension("json")
    }
}
