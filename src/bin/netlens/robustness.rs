//! `netlens robustness`: robust accuracy of a network under several attacks and budgets, as a
//! table, a plot of accuracy against ε and a JSON file with the per-image records.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use netlens::app::output::{Format, OutputPlan};
use netlens::classes::ClassNames;
use netlens::fooling::Norm;
use netlens::fooling::cw::CwConfig;
use netlens::fooling::pixels::from_input;
use netlens::fooling::robustness::{
    ImageRecord, LabelledImages, RobustAttack, RobustnessConfig, Summary, evaluate, plot,
    plot_title, summarize, table,
};
use netlens::merge::JobKind;
use netlens::model::Network;
use netlens::preprocess::load_input;

use crate::args::{Global, ModelArgs, ShardArgs, expand_images, shard_results, weights_identity};
use crate::fool::{attack_manifest, sibling};

/// The input size of the networks.
const SIZE: usize = 224;

/// Arguments of `netlens robustness`.
#[derive(Args)]
pub struct RobustnessArgs {
    /// Image files or folders of images. Files named `synset_name.jpg` are judged against that
    /// label; when any file lacks one, against the network's predictions on the clean images.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    shard: ShardArgs,
    /// Attacks, comma-separated: fgsm, pgd, apgd (APGD-CE), square (L∞ only), cw
    /// (Carlini-Wagner L2).
    #[arg(long, value_delimiter = ',', default_value = "fgsm,pgd,apgd,square,cw")]
    attack: Vec<RobustAttack>,
    /// Norm of the budgets: linf or l2.
    #[arg(long, default_value = "linf")]
    norm: Norm,
    /// Budgets in pixel levels (0-255), comma-separated: the L∞ or L2 radius around each image
    /// (L2 over all 3·224·224 channel values, as `attack --norm l2` measures it).
    #[arg(long, value_delimiter = ',', required = true)]
    eps: Vec<f32>,
    /// Drive every image to this class (index, synset or name) instead of away from its label.
    #[arg(long)]
    targeted: Option<String>,
    /// Square's query budget: forward passes per image and budget.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// PGD's steps (each of 2.5·eps/steps levels, from a random start).
    #[arg(long, default_value_t = 10)]
    pgd_steps: usize,
    /// APGD's iterations.
    #[arg(long, default_value_t = 100)]
    apgd_steps: usize,
    /// Carlini-Wagner's binary search steps on the constant c.
    #[arg(long, default_value_t = 5)]
    cw_steps: usize,
    /// Carlini-Wagner's Adam iterations per search step.
    #[arg(long, default_value_t = 20)]
    cw_iterations: usize,
    /// Carlini-Wagner's Adam learning rate (tanh space).
    #[arg(long, default_value_t = 0.01)]
    cw_lr: f32,
    /// Carlini-Wagner's first constant c.
    #[arg(long, default_value_t = 1.0)]
    cw_const: f32,
    /// Images per GPU batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Seed of the random starts and of Square's search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The plot (PNG). Beside it: OUT.json (summary and per-image records) and
    /// OUT_manifest.json.
    #[arg(long)]
    out: PathBuf,
}

/// The JSON file: the summary's fields, what was run, and the per-image records.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    labels: &'static str,
    settings: &'a RobustnessConfig,
    per_image: &'a [ImageRecord],
}

pub fn run(global: &Global, args: RobustnessArgs) -> Result<()> {
    let (files, shard) = args.shard.select(expand_images(&args.images)?)?;
    let classes = ClassNames::load_default()?;
    let target = args
        .targeted
        .as_deref()
        .map(|t| classes.resolve(t))
        .transpose()?;
    let mut eps = args.eps.clone();
    eps.sort_by(f32::total_cmp);
    eps.dedup();
    let mut attacks = args.attack.clone();
    attacks.dedup();
    let config = RobustnessConfig {
        attacks,
        norm: args.norm,
        eps,
        target,
        pgd_steps: args.pgd_steps,
        apgd_iterations: args.apgd_steps,
        queries: args.queries,
        cw: CwConfig {
            binary_steps: args.cw_steps,
            iterations: args.cw_iterations,
            lr: args.cw_lr,
            initial_const: args.cw_const,
            ..CwConfig::default()
        },
        batch: args.batch,
        seed: args.seed,
    };
    config.validate()?;
    let mut plan = OutputPlan::new(&files);
    plan.add("the plot (--out)", &args.out, Format::Png)?;
    let json = plan.add("the results", args.out.with_extension("json"), Format::Json)?;
    let manifest_path = plan.add_last(
        "the manifest",
        sibling(&args.out, "_manifest", "json"),
        Format::Json,
    )?;
    let weights = args.model.load_weights()?;
    let labels: Vec<Option<usize>> = files.iter().map(|f| classes.label_from_path(f)).collect();
    let unlabelled: Vec<String> = files
        .iter()
        .zip(&labels)
        .filter(|(_, l)| l.is_none())
        .map(|(f, _)| f.display().to_string())
        .collect();
    let labels: Option<Vec<usize>> = labels.into_iter().collect();
    if !unlabelled.is_empty() && !global.quiet {
        eprintln!(
            "note: {} file name(s) do not start with a synset ({}); accuracy is measured \
             against the network's predictions on the clean images",
            unlabelled.len(),
            unlabelled.join(", ")
        );
    }
    let images = files
        .iter()
        .map(|f| Ok(from_input(&load_input(f, SIZE)?)))
        .collect::<Result<Vec<_>>>()?;
    let names = files
        .iter()
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let set = LabelledImages {
        names,
        images,
        labels,
        size: SIZE,
    };

    let ctx = global.context()?;
    let mut manifest = attack_manifest(&ctx, &args.model, &weights, &config, &files);
    manifest.param("shard", shard);
    manifest.seed = Some(config.seed);
    let net = Network::new(&ctx, args.model.model.arch(), &weights)?;
    let bar = netlens::app::progress_bar::bar(0, "robustness", global.quiet);
    let started = Instant::now();
    let records = pollster::block_on(evaluate(&net, &set, &config, &bar))?;
    let seconds = started.elapsed().as_secs_f64();
    manifest.timing("attacks", 1000.0 * seconds);
    let summary = summarize(&records)?;
    let labels_from = if set.labels.is_some() {
        "file names"
    } else {
        "clean predictions"
    };
    let target_text = target.map_or(String::new(), |t| {
        format!(", targeted to {}", classes.name(t))
    });
    let target_name = target.map(|t| classes.name(t));
    let title = plot_title(
        args.model.model.title(),
        records.len(),
        config.norm,
        target_name,
    );
    plan.save_png(&args.out, &plot(&summary, &title, config.norm))?;
    manifest.output(&args.out);
    let report = Report {
        summary: &summary,
        labels: labels_from,
        settings: &config,
        per_image: &records,
    };
    let settings = serde_json::json!({
        "model": args.model.model.name(),
        "weights": weights_identity(&weights),
        "config": &config,
    });
    plan.save_json(
        &json,
        &shard_results(JobKind::Robustness, settings, shard, &report)?,
    )?;
    manifest.output(&json);
    plan.save_json(&manifest_path, &manifest)?;
    plan.commit()?;
    println!(
        "{} images, labels from {labels_from}, {} budgets in pixel levels{target_text}; {seconds:.1} s on {}",
        records.len(),
        config.norm,
        ctx.adapter_name()
    );
    print!("{}", table(&summary));
    println!(
        "wrote {}, {}, {}",
        args.out.display(),
        json.display(),
        manifest_path.display()
    );
    Ok(())
}
