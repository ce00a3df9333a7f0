//! `netlens fool` (alias `attack`): fooling images and standard attacks on a batch of images ×
//! targets, with the figure, the numbers and the fooled PNGs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use netlens::app::manifest::Manifest;
use netlens::app::output::{Format, OutputPlan, unique_names};
use netlens::classes::ClassNames;
use netlens::classify::{argmax, logits};
use netlens::fooling::figure::fooling_figure;
use netlens::fooling::report::{outcomes_csv, records};
use netlens::fooling::{
    AttackConfig, AttackMethod, AttackOutcome, Attacker, Verdict, balanced_batch,
};
use netlens::gpu::GpuContext;
use netlens::merge::JobKind;
use netlens::model::{Network, Weights};
use netlens::preprocess::{STD, load_input, to_rgb};

use crate::args::{Global, ModelArgs, ShardArgs, expand_images, shard_results, weights_identity};
use crate::attack_settings::{AttackJob, AttackSettings};

/// The input size of the networks.
const SIZE: usize = 224;

/// Arguments of `netlens fool`.
#[derive(Args)]
pub struct FoolArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    job: AttackJob,
    #[command(flatten)]
    shard: ShardArgs,
    /// Also write each fooled image alone as a 224×224 PNG: this file for one image, else
    /// FILE_<image>_<target>.png for each (FILE_<image>.png without a target; a repeated name
    /// gets -2, -3, …).
    #[arg(long)]
    save_fooled: Option<PathBuf>,
    /// The figure (PNG). Beside it: FIG.json (manifest), FIG_results.json and .csv (numbers),
    /// FIG_perturbation.npy (fooled − original in pixel levels, N×3×224×224). With --shard,
    /// FIG_results.json wraps the records with the job, settings and slice for `netlens merge`.
    #[arg(long)]
    out: PathBuf,
}

/// The part of a gallery file name after its synset: `n07802026_hay.jpg` → `hay`.
pub fn short_label(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.split_once('_') {
        Some((synset, rest)) if synset.starts_with('n') && synset.len() == 9 => rest.to_string(),
        _ => stem,
    }
}

/// The manifest of an attack run of `model` with `weights` on `files`: the GPU, the weights,
/// `config` and the images.
pub fn attack_manifest(
    ctx: &GpuContext,
    model: &ModelArgs,
    weights: &Weights,
    config: &impl serde::Serialize,
    files: &[PathBuf],
) -> Manifest {
    let mut manifest = Manifest::new(ctx);
    manifest
        .weights(model.model.name(), weights)
        .param("config", config)
        .param("images", files);
    manifest
}

/// `path` with `suffix` added to its stem and extension `ext`.
pub fn sibling(path: &Path, suffix: &str, ext: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}.{ext}"))
}

/// Resolves target names, indices or synsets.
pub fn resolve_targets(classes: &ClassNames, targets: &[String]) -> Result<Vec<Option<usize>>> {
    if targets.is_empty() {
        return Ok(vec![None]);
    }
    targets
        .iter()
        .map(|t| Ok(Some(classes.resolve(t)?)))
        .collect()
}

fn describe(classes: &ClassNames, label: &str, o: &AttackOutcome) -> String {
    let goal = netlens::fooling::figure::goal_label(classes, o.goal);
    let r = &o.rounded;
    format!(
        "{label} {goal}: {}; as 8-bit PNG: {} ({:.3}), p({}) = {:.3}, L2 {:.1}, L\u{221e} {:.2} \
         levels",
        o.verdict.describe(o.iterations),
        classes.name(r.prediction.index),
        r.prediction.prob,
        classes.name(o.goal.class()),
        r.goal_prob,
        r.l2_px,
        r.linf_px,
    )
}

/// The paths of the fooled images: `base` for one, else `base_<image>_<target>.png` for each
/// image × target, numbered where repeated.
fn fooled_paths(
    base: &Path,
    labels: &[String],
    targets: &[Option<usize>],
    classes: &ClassNames,
) -> Vec<PathBuf> {
    if labels.len() == 1 {
        return vec![base.to_path_buf()];
    }
    let named = labels.iter().zip(targets).map(|(label, t)| {
        let goal = t.map_or(String::new(), |c| {
            format!("_{}", classes.name(c).replace([' ', '/'], "_"))
        });
        sibling(base, &format!("_{label}{goal}"), "png")
    });
    unique_names(named.collect())
}

/// Writes each fooled image as a PNG, reads it back and checks the network's prediction;
/// returns a line on each to print once the run's files are in place.
fn save_fooled(
    paths: &[PathBuf],
    plan: &mut OutputPlan,
    net: &Network,
    outcomes: &[AttackOutcome],
    classes: &ClassNames,
    manifest: &mut Manifest,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (path, o) in paths.iter().zip(outcomes) {
        written.push(plan.save_png(path, &to_rgb(&o.image, SIZE))?);
        manifest.output(path);
    }
    let reloaded = written
        .iter()
        .map(|p| load_input(p, SIZE))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = Vec::new();
    for ((path, o), l) in
        paths
            .iter()
            .zip(outcomes)
            .zip(pollster::block_on(logits(net, &reloaded, (SIZE, SIZE), 8))?)
    {
        let top = argmax(&l);
        lines.push(format!(
            "saved {}: read back, the network says {} ({})",
            path.display(),
            classes.name(top),
            if o.goal.reached_by(top) {
                "still reaches the goal"
            } else {
                "no longer reaches the goal"
            }
        ));
    }
    Ok(lines)
}

pub fn run(global: &Global, args: FoolArgs) -> Result<()> {
    let config = args.job.config()?;
    let (files, shard) = args.shard.select(expand_images(&args.job.images)?)?;
    let classes = ClassNames::load_default()?;
    let targets = resolve_targets(&classes, &args.job.targets)?;
    let mut ts = Vec::new();
    let mut labels = Vec::new();
    for file in &files {
        for &t in &targets {
            ts.push(t);
            labels.push(short_label(file));
        }
    }
    let mut plan = OutputPlan::new(&files);
    plan.add("the figure (--out)", &args.out, Format::Png)?;
    let results_json = plan.add(
        "the results",
        sibling(&args.out, "_results", "json"),
        Format::Json,
    )?;
    let results_csv = plan.add(
        "the results",
        sibling(&args.out, "_results", "csv"),
        Format::Csv,
    )?;
    let npy = plan.add(
        "the perturbations",
        sibling(&args.out, "_perturbation", "npy"),
        Format::Npy,
    )?;
    let fooled = match &args.save_fooled {
        Some(base) => fooled_paths(base, &labels, &ts, &classes),
        None => Vec::new(),
    };
    for path in &fooled {
        plan.add("a fooled image (--save-fooled)", path, Format::Png)?;
    }
    let manifest_path =
        plan.add_last("the manifest", Manifest::path_for(&args.out), Format::Json)?;
    let weights = args
        .model
        .model
        .load_weights(args.model.weights.as_deref())?;
    let originals = files
        .iter()
        .map(|f| load_input(f, SIZE))
        .collect::<Result<Vec<_>, _>>()?;
    let xs: Vec<Vec<f32>> = originals
        .iter()
        .flat_map(|x| std::iter::repeat_n(x, targets.len()).cloned())
        .collect();

    let ctx = global.context()?;
    let mut manifest = attack_manifest(&ctx, &args.model, &weights, &config, &files);
    manifest
        .param("targets", &ts)
        .param("batch", args.job.batch)
        .param("shard", shard);
    manifest.seed = config.random_start.then_some(config.seed);
    let net = Network::new(&ctx, args.model.model.arch(), &weights)?;
    let batch = balanced_batch(xs.len(), args.job.batch);
    let attacker = Attacker::new(&net, batch, SIZE, config.clone())?;
    let bar = netlens::app::progress_bar::bar(0, config.method.name(), global.quiet);
    let result = pollster::block_on(attacker.run(&xs, &ts, &bar))?;
    let outcomes = &result.outcomes;
    for (label, o) in labels.iter().zip(outcomes) {
        println!("{}", describe(&classes, label, o));
    }
    let seconds = result.elapsed.as_secs_f64();
    println!(
        "{} attacks in {seconds:.1} s on {} ({} GPU steps in batches of {}, {:.0} ms per step)",
        outcomes.len(),
        ctx.adapter_name(),
        result.steps_run,
        attacker.batch(),
        1000.0 * seconds / result.steps_run.max(1) as f64
    );
    manifest
        .timing("attack", 1000.0 * seconds)
        .param("steps_run", result.steps_run);

    let started = Instant::now();
    let originals_per_row = xs;
    let title = format!(
        "Fooling images: {} ({})",
        args.model.model.title(),
        AttackSettings::describe(&config)
    );
    let figure = fooling_figure(
        &title,
        &labels,
        &originals_per_row,
        outcomes,
        SIZE,
        &classes,
    );
    plan.save_png(&args.out, &figure)?;
    manifest.output(&args.out);
    let settings = serde_json::json!({
        "model": args.model.model.name(),
        "weights": weights_identity(&weights),
        "config": &config,
        "targets": &targets,
    });
    let records = records(&labels, outcomes, &classes);
    let results = shard_results(JobKind::Fool, settings, shard, &records)?;
    plan.save_json(&results_json, &results)?;
    plan.write(
        &results_csv,
        outcomes_csv(&labels, outcomes, &classes).as_bytes(),
    )?;
    let plane = SIZE * SIZE;
    let perturbation: Vec<f32> = outcomes
        .iter()
        .zip(&originals_per_row)
        .flat_map(|(o, x0)| {
            o.image
                .iter()
                .zip(x0)
                .enumerate()
                .map(|(i, (a, b))| (a - b) * 255.0 * STD[i / plane])
                .collect::<Vec<_>>()
        })
        .collect();
    plan.save_npy(&npy, &perturbation, &[outcomes.len(), 3, SIZE, SIZE])?;
    for p in [&results_json, &results_csv, &npy] {
        manifest.output(p);
    }
    let saved = save_fooled(&fooled, &mut plan, &net, outcomes, &classes, &mut manifest)?;
    manifest.timing("outputs", 1000.0 * started.elapsed().as_secs_f64());
    plan.save_json(&manifest_path, &manifest)?;
    plan.commit()?;
    for line in saved {
        println!("{line}");
    }
    println!(
        "wrote {}, {}, {}, {}, {}",
        args.out.display(),
        results_json.display(),
        results_csv.display(),
        npy.display(),
        manifest_path.display()
    );
    check_verdicts(&config, &labels, outcomes)
}

/// Counts the images whose 8-bit result reaches its goal; fails when a fooling image does not
/// (a budgeted attack that fails is a result, not an error).
fn check_verdicts(
    config: &AttackConfig,
    labels: &[String],
    outcomes: &[AttackOutcome],
) -> Result<()> {
    let missed: Vec<String> = labels
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.verdict != Verdict::Fooled)
        .map(|(label, o)| format!("{label} ({})", o.verdict.describe(o.iterations)))
        .collect();
    let n = outcomes.len();
    println!(
        "{} of {n} images reach their goal as 8-bit PNGs",
        n - missed.len()
    );
    if config.method == AttackMethod::Fool && !missed.is_empty() {
        let remedy = if config.survive_rounding {
            "raise --steps or --lr"
        } else {
            "drop --no-survive-rounding, or raise --steps or --lr"
        };
        bail!(
            "{} of {n} fooling images do not fool the network as saved: {}; {remedy}",
            missed.len(),
            missed.join(", ")
        );
    }
    Ok(())
}
