//! `netlens transfer`: fooling images made on each of two (or more) networks, classified by all
//! of them; the transfer table as text, CSV and JSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use netlens::app::manifest::Manifest;
use netlens::app::output::{Format, OutputPlan};
use netlens::classes::ClassNames;
use netlens::fooling::{TransferModel, transfer};
use netlens::model::{ModelKind, Network, Weights};
use netlens::preprocess::load_input;

use crate::args::{Global, expand_images};
use crate::attack_settings::{AttackJob, AttackSettings};
use crate::fool::{resolve_targets, short_label, sibling};

/// The input size of the networks.
const SIZE: usize = 224;

/// Arguments of `netlens transfer`.
#[derive(Args)]
pub struct TransferArgs {
    /// The networks, comma-separated: NAME or NAME=WEIGHTS_FILE (squeezenet, vgg16); each
    /// attacks and is attacked by the others.
    #[arg(long, value_delimiter = ',', default_value = "squeezenet,vgg16")]
    models: Vec<String>,
    /// VGG16 weights for a `vgg16` entry without its own file [default: $NETLENS_VGG16_WEIGHTS
    /// or ../shared/weights/vgg16.safetensors].
    #[arg(long)]
    vgg16_weights: Option<PathBuf>,
    /// SqueezeNet weights for a `squeezenet` entry without its own file [default:
    /// $NETLENS_WEIGHTS or ../shared/weights/squeezenet1_1.safetensors].
    #[arg(long)]
    squeezenet_weights: Option<PathBuf>,
    #[command(flatten)]
    job: AttackJob,
    /// The table as CSV. Beside it: OUT.json (manifest), OUT_table.json (cells and every
    /// attack), OUT_attempts.csv (every attack).
    #[arg(long)]
    out: PathBuf,
}

/// A network named on the command line, with its weights loaded.
struct Entry {
    name: String,
    kind: ModelKind,
    weights: Weights,
}

impl TransferArgs {
    /// Parses `--models` and loads every network's weights (before any GPU work, so that a
    /// missing file fails at once with how to get it).
    fn entries(&self) -> Result<Vec<Entry>> {
        if self.models.len() < 2 {
            bail!(
                "--models needs at least two networks, got {:?}",
                self.models
            );
        }
        let mut entries = Vec::new();
        for spec in &self.models {
            let (name, file) = match spec.split_once('=') {
                Some((n, f)) => (n.trim(), Some(PathBuf::from(f.trim()))),
                None => (spec.trim(), None),
            };
            let kind: ModelKind = name.parse()?;
            let file = file.or_else(|| match kind {
                ModelKind::Vgg16 => self.vgg16_weights.clone(),
                ModelKind::SqueezeNet => self.squeezenet_weights.clone(),
            });
            let weights = kind.load_weights(file.as_deref())?;
            let mut label = kind.name().to_string();
            if entries.iter().any(|e: &Entry| e.name == label) {
                label = format!("{label}#{}", entries.len() + 1);
            }
            entries.push(Entry {
                name: label,
                kind,
                weights,
            });
        }
        Ok(entries)
    }
}

pub fn run(global: &Global, args: TransferArgs) -> Result<()> {
    let config = args.job.config()?;
    let files = expand_images(&args.job.images)?;
    let mut plan = OutputPlan::new(&files);
    plan.add("the table (--out)", &args.out, Format::Csv)?;
    let table_json = plan.add(
        "the table",
        sibling(&args.out, "_table", "json"),
        Format::Json,
    )?;
    let attempts_csv = plan.add(
        "the attempts",
        sibling(&args.out, "_attempts", "csv"),
        Format::Csv,
    )?;
    let manifest_path =
        plan.add_last("the manifest", Manifest::path_for(&args.out), Format::Json)?;
    let entries = args.entries()?;
    let classes = ClassNames::load_default()?;
    let targets = resolve_targets(&classes, &args.job.targets)?;
    let inputs = files
        .iter()
        .map(|f| load_input(f, SIZE))
        .collect::<Result<Vec<_>, _>>()?;
    let labels: Vec<String> = files.iter().map(|f| short_label(f)).collect();

    let ctx = global.context()?;
    let mut manifest = Manifest::new(&ctx);
    for e in &entries {
        manifest.weights(&e.name, &e.weights);
    }
    manifest
        .param("config", &config)
        .param("images", &files)
        .param("targets", &targets)
        .param("batch", args.job.batch);
    manifest.seed = config.random_start.then_some(config.seed);
    let nets = entries
        .iter()
        .map(|e| Network::new(&ctx, e.kind.arch(), &e.weights))
        .collect::<Result<Vec<_>, _>>()?;
    let models: Vec<TransferModel> = entries
        .iter()
        .zip(&nets)
        .map(|(e, net)| TransferModel { name: &e.name, net })
        .collect();
    let started = Instant::now();
    let table = pollster::block_on(transfer(
        &models,
        &inputs,
        &targets,
        SIZE,
        args.job.batch,
        &config,
        |name| Box::new(netlens::app::progress_bar::bar(0, name, global.quiet)),
    ))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} images x {} targets, {} ({}):",
        inputs.len(),
        targets.len(),
        config.method,
        AttackSettings::describe(&config)
    );
    print!("{}", table.text());
    for (m, t) in table.models.iter().zip(&table.elapsed) {
        println!("attacks on {m}: {:.1} s", t.as_secs_f64());
        manifest.timing(&format!("attacks on {m}"), 1000.0 * t.as_secs_f64());
    }
    println!("total {seconds:.1} s on {}", ctx.adapter_name());
    manifest.timing("total", 1000.0 * seconds);

    plan.write(&args.out, table.csv().as_bytes())?;
    plan.save_json(&table_json, &table)?;
    plan.write(
        &attempts_csv,
        table.attempts_csv(&labels, &classes).as_bytes(),
    )?;
    for p in [&args.out, &table_json, &attempts_csv] {
        manifest.output(p);
    }
    plan.save_json(&manifest_path, &manifest)?;
    plan.commit()?;
    println!(
        "wrote {}, {}, {}, {}",
        args.out.display(),
        table_json.display(),
        attempts_csv.display(),
        manifest_path.display()
    );
    Ok(())
}
