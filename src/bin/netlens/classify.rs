//! `netlens classify`: top-5 classes of images.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use netlens::classes::ClassNames;
use netlens::classify::{logits_of_files, softmax, top_k};
use netlens::merge::JobKind;
use netlens::model::Network;

use crate::args::{Global, ModelArgs, ShardArgs, expand_images, shard_results, weights_identity};

/// The input size images are classified at.
const SIZE: usize = 224;

/// Arguments of `netlens classify`.
#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print only a JSON array of {"file", "top5": [{"index", "name", "prob"}]} on stdout (an
    /// image that cannot be read gets {"file", "error"} instead); with --shard, an object
    /// {"job", "settings", "shard", "results": that array} for `netlens merge`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    shard: ShardArgs,
    /// Images per GPU batch (lowered to what the device allows); images are read one batch at a
    /// time.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Image files or folders of images.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(serde::Serialize)]
struct Entry {
    index: usize,
    name: String,
    prob: f32,
}

#[derive(serde::Serialize)]
struct FileResult {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    top5: Option<Vec<Entry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Classifies every image that can be read; the unreadable ones are reported with the others'
/// results and make the command fail at the end.
pub fn run(global: &Global, args: ClassifyArgs) -> Result<()> {
    let (files, shard) = args.shard.select(expand_images(&args.images)?)?;
    let classes = ClassNames::load_default()?;
    let weights = args.model.load_weights()?;
    let ctx = global.context()?;
    let net = Network::new(&ctx, args.model.model.arch(), &weights)?;
    let bar = netlens::app::progress_bar::bar(files.len() as u64, "classify", global.quiet);
    let all = pollster::block_on(logits_of_files(&net, &files, SIZE, args.batch, &bar))?;
    bar.finish_and_clear();
    let results: Vec<FileResult> = files
        .iter()
        .zip(all)
        .map(|(file, logits)| {
            let file = file.display().to_string();
            match logits {
                Ok(l) => FileResult {
                    file,
                    top5: Some(
                        top_k(&softmax(&l), 5)
                            .into_iter()
                            .map(|p| Entry {
                                index: p.index,
                                name: classes.name(p.index).to_string(),
                                prob: p.prob,
                            })
                            .collect(),
                    ),
                    error: None,
                },
                Err(e) => FileResult {
                    file,
                    top5: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect();
    if args.json {
        let settings = serde_json::json!({
            "model": args.model.model.name(),
            "weights": weights_identity(&weights),
            "size": SIZE,
        });
        let json = shard_results(JobKind::Classify, settings, shard, &results)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for r in &results {
            println!("{}", r.file);
            if let Some(error) = &r.error {
                println!("  error: {error}");
            }
            for (rank, e) in r.top5.iter().flatten().enumerate() {
                println!(
                    "  {}. {:<30} {:>6.2}%  (class {})",
                    rank + 1,
                    e.name,
                    e.prob * 100.0,
                    e.index
                );
            }
        }
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} images could not be read (see their entries above)",
            results.len()
        );
    }
    Ok(())
}
