//! `netlens merge`: the JSON results of a sharded job's shards joined into those of one run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use netlens::app::input_file::{SizeLimit, read_limited};
use netlens::app::output::{Format, OutputPlan};
use netlens::shard::ShardOutput;

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
}

/// Reads, checks and merges the shards, and writes the result atomically.
pub fn run(args: MergeArgs) -> Result<()> {
    let mut plan = OutputPlan::new(&args.results);
    let out = plan.add("the merged results (--out)", &args.out, Format::Json)?;
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
    plan.save_json(&out, &merged)?;
    plan.commit()?;
    println!("merged {} shards into {}", shards.len(), out.display());
    Ok(())
}
