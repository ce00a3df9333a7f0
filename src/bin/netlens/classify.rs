//! `netlens classify`: top-5 classes of images.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use netlens::classes::ClassNames;
use netlens::classify::{logits, softmax, top_k};
use netlens::preprocess::load_input;

use crate::args::{Global, ModelArgs, expand_images};

/// Arguments of `netlens classify`.
#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print a JSON array of {"file", "top5": [{"index", "name", "prob"}]}.
    #[arg(long)]
    json: bool,
    /// Images per GPU batch.
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
    top5: Vec<Entry>,
}

pub fn run(global: &Global, args: ClassifyArgs) -> Result<()> {
    let files = expand_images(&args.images)?;
    let classes = ClassNames::load_default()?;
    let inputs = files
        .iter()
        .map(|f| load_input(f, 224))
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = global.context()?;
    let net = args.model.network(&ctx)?;
    let all = logits(&net, &inputs, (224, 224), args.batch)?;
    let results: Vec<FileResult> = files
        .iter()
        .zip(&all)
        .map(|(file, l)| FileResult {
            file: file.display().to_string(),
            top5: top_k(&softmax(l), 5)
                .into_iter()
                .map(|p| Entry {
                    index: p.index,
                    name: classes.name(p.index).to_string(),
                    prob: p.prob,
                })
                .collect(),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            println!("{}", r.file);
            for (rank, e) in r.top5.iter().enumerate() {
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
    Ok(())
}
