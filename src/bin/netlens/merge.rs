//! `netlens merge`: the JSON results of a sharded job's shards joined into those of one run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use image::RgbImage;
use netlens::app::input_file::{SizeLimit, read_limited};
use netlens::app::output::{Format, OutputPlan};
use netlens::classes::ClassNames;
use netlens::fooling::Norm;
use netlens::fooling::robustness::{Summary, plot, plot_title};
use netlens::merge::JobKind;
use netlens::model::ModelKind;
use netlens::shard::ShardOutput;
use serde_json::Value;

/// The largest shard result read.
const RESULTS_FILE_LIMIT: SizeLimit = SizeLimit {
    bytes: 1 << 30,
    what: "result files",
};

/// Arguments of `netlens merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The shards' JSON results (`classify --json --shard K/N` output, `fool --shard K/N`'s
    /// FIG_results.json), one per shard, in any order.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// The merged results (JSON): what the run without --shard writes.
    #[arg(long, short)]
    out: PathBuf,
    /// For `robustness` results: also draw the plot of robust accuracy against eps (PNG), as the
    /// run without --shard draws it.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Reads, checks and merges the shards, and writes the result atomically.
pub fn run(args: MergeArgs) -> Result<()> {
    let mut plan = OutputPlan::new(&args.results);
    let out = plan.add("the merged results (--out)", &args.out, Format::Json)?;
    let plot_out = args
        .plot
        .as_ref()
        .map(|p| plan.add("the plot (--plot)", p, Format::Png))
        .transpose()?;
    let shards = args
        .results
        .iter()
        .map(|path| {
            let bytes = read_limited(path, RESULTS_FILE_LIMIT)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let shard: ShardOutput = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not the JSON results of a shard (written with --shard K/N)",
                    path.display()
                )
            })?;
            Ok((path.display().to_string(), shard))
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = netlens::merge::merge(&shards)?;
    if let Some(path) = &plot_out {
        plan.save_png(path, &robustness_plot(&shards[0].1, &merged)?)?;
    }
    plan.save_json(&out, &merged)?;
    plan.commit()?;
    println!("merged {} shards into {}", shards.len(), out.display());
    Ok(())
}

/// The plot `netlens robustness` draws, from merged robustness results and the settings of one
/// of their shards.
fn robustness_plot(shard: &ShardOutput, merged: &Value) -> Result<RgbImage> {
    if shard.job != JobKind::Robustness.name() {
        bail!(
            "--plot draws the results of `robustness`; these are results of `{}`",
            shard.job
        );
    }
    let summary: Summary = serde_json::from_value(merged.clone())
        .context("the merged results hold no robustness summary")?;
    let config = &merged["settings"];
    let norm: Norm = serde_json::from_value(config["norm"].clone())
        .context("the merged results name no norm")?;
    let model: ModelKind = shard.settings["model"]
        .as_str()
        .context("the shards name no model")?
        .parse()?;
    let classes;
    let target = match config["target"].as_u64() {
        Some(t) => {
            classes = ClassNames::load_default()?;
            Some(classes.name(t as usize))
        }
        None => None,
    };
    let title = plot_title(model.title(), summary.images, norm, target);
    Ok(plot(&summary, &title, norm))
}
