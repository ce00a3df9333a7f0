//! `netlens dream`: class (or channel) visualization from noise or a photo, with sweeps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use netlens::app::manifest::Manifest;
use netlens::app::output::{Format, OutputPlan};
use netlens::classes::ClassNames;
use netlens::dream::{
    self, Diversity, DreamSettings, Objective, Parameterization, PenaltyTarget, Request, Run,
    Start, Sweep, Transforms,
};
use netlens::model::Arch;
use netlens::preprocess::load_rgb;

use crate::args::{Global, ModelArgs};

/// Arguments of `netlens dream`.
#[derive(Args)]
pub struct DreamArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Classes to visualize: names, indices or synsets (comma list, or repeat the flag).
    #[arg(long = "class", value_delimiter = ',')]
    classes: Vec<String>,
    /// Channels to visualize instead: LAYER:CHANNEL, the layer by name (features.12) or index
    /// (comma list, or repeat the flag); maximizes the channel's mean activation.
    #[arg(long = "channel", value_delimiter = ',')]
    channels: Vec<String>,
    /// Neurons to visualize instead: LAYER:CHANNEL for the unit at the centre of the layer's
    /// output, LAYER:CHANNEL@X,Y for the one at column X, row Y (repeat the flag for several);
    /// maximizes that one activation. The jitter moves the image under the unit at each step:
    /// --jitter 0 holds it still.
    #[arg(long = "neuron")]
    neurons: Vec<String>,
    /// Start from `noise` or from a photo (a file).
    #[arg(long, default_value = "noise")]
    init: String,
    /// What the L2 penalty pulls toward: `zero`, or `init` (the starting photo).
    #[arg(long = "l2-to", default_value = "zero", value_parser = ["zero", "init"])]
    l2_to: String,
    /// Steps per octave [default: 100 for squeezenet, 200 for vgg16].
    #[arg(long)]
    iters: Option<usize>,
    /// Step length: I += lr · g/‖g‖ [default: 25 (vgg16: 10; fourier: 150)].
    #[arg(long)]
    lr: Option<f32>,
    /// L2 penalty weight λ [default: 1e-3 (vgg16: 5e-3; fourier: 0)].
    #[arg(long)]
    l2: Option<f32>,
    /// Total-variation penalty weight [default: 0].
    #[arg(long)]
    tv: Option<f32>,
    /// Blur every this many steps, 0 for never [default: 10].
    #[arg(long)]
    blur_every: Option<usize>,
    /// Gaussian blur standard deviation in pixels [default: 0.5].
    #[arg(long)]
    blur_sigma: Option<f32>,
    /// Largest random roll in pixels [default: 16].
    #[arg(long)]
    jitter: Option<usize>,
    /// Scale the image each step by a random factor in [1 - F, 1 + F] (after the jitter, by
    /// bilinear sampling about its centre; Lucid's standard set uses 0.1) [default: 0, off].
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    random_scale: f32,
    /// Rotate the image each step by a random angle within ±DEG degrees (Lucid's standard set
    /// uses 10) [default: 0, off].
    #[arg(long, value_name = "DEG", default_value_t = 0.0)]
    random_rotate: f32,
    /// Images per class, channel or neuron, each from its own noise; with --diversity pushed
    /// apart.
    #[arg(long, default_value_t = 1)]
    copies: usize,
    /// Weight of the diversity term (Lucid's `diversity`): the mean cosine similarity of the
    /// copies' Gram matrices at --diversity-layer is subtracted from the objective, times this
    /// (needs --copies 2 or more) [default: off].
    #[arg(long, value_name = "WEIGHT")]
    diversity: Option<f32>,
    /// The layer whose Gram matrices --diversity compares, by name or index; at or before the
    /// objectives' layers [default: the last convolutional block (features.12 for SqueezeNet,
    /// features.28 for VGG16), or the objective's layer if that comes first].
    #[arg(long, value_name = "LAYER")]
    diversity_layer: Option<String>,
    /// Seed of the starting noise, the jitter and the random scales and rotations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps at which to show the image (comma list; 0 is the start); the last step always is.
    #[arg(long, value_delimiter = ',')]
    snapshots: Vec<usize>,
    /// Vary one parameter, one row per value: lr=10,5,2,0.5 or l2=1e-5,0.1,0.5,1 (also tv,
    /// blur-sigma, blur-every, jitter).
    #[arg(long)]
    sweep: Option<Sweep>,
    /// Image parameterization: `pixels`, or `fourier` (decorrelated colours, 1/f spectrum).
    #[arg(long, default_value = "pixels")]
    param: Parameterization,
    /// Number of octaves (image sizes, smallest first, each --octave-scale times the last).
    #[arg(long, default_value_t = 1)]
    octaves: usize,
    /// Size ratio between octaves.
    #[arg(long, default_value_t = 1.4)]
    octave_scale: f32,
    /// Input size (of the last octave).
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Most images per GPU batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Figure title [default: what was run].
    #[arg(long)]
    title: Option<String>,
    /// Also write each final image alone, at the input size (several runs: FILE-1.png, …).
    #[arg(long)]
    save_image: Option<PathBuf>,
    /// The figure (PNG); the manifest (.json), final images (.npy) and scores (.scores.csv) go
    /// beside it.
    #[arg(long)]
    out: PathBuf,
}

/// One objective and its label.
struct Target {
    objective: Objective,
    label: String,
}

/// Parses `LAYER:CHANNEL` into (layer index, channel); `what` ("channel", "neuron") and `spec`
/// name the flag's value in errors.
fn parse_unit(arch: &Arch, what: &str, spec: &str, unit: &str) -> Result<(usize, usize)> {
    let (layer, channel) = unit
        .rsplit_once(':')
        .with_context(|| format!("{what} `{spec}`: expected LAYER:CHANNEL, e.g. features.12:5"))?;
    let index = parse_layer(arch, what, spec, layer)?;
    let channel: usize = channel
        .parse()
        .with_context(|| format!("{what} `{spec}`: `{channel}` is not a channel number"))?;
    Ok((index, channel))
}

/// Parses a layer by index or name; `what` and `spec` name the flag's value in errors.
fn parse_layer(arch: &Arch, what: &str, spec: &str, layer: &str) -> Result<usize> {
    Ok(match layer.parse::<usize>() {
        Ok(i) if i < arch.layers.len() => i,
        Ok(i) => bail!(
            "{what} `{spec}`: layer {i} does not exist ({} has {} layers)",
            arch.name,
            arch.layers.len()
        ),
        Err(_) => arch.layer_index(layer).with_context(|| {
            let names: Vec<_> = arch
                .layers
                .iter()
                .map(|l| l.name())
                .filter(|n| n.contains('.'))
                .collect();
            format!(
                "{what} `{spec}`: no layer named `{layer}`; layers: {}",
                names.join(", ")
            )
        })?,
    })
}

/// Parses `LAYER:CHANNEL`.
fn parse_channel(arch: &Arch, spec: &str) -> Result<Target> {
    let (layer, channel) = parse_unit(arch, "channel", spec, spec)?;
    Ok(Target {
        objective: Objective::Channel { layer, channel },
        label: format!("{} channel {channel}", arch.layers[layer].name()),
    })
}

/// Parses `LAYER:CHANNEL` or `LAYER:CHANNEL@X,Y`.
fn parse_neuron(arch: &Arch, spec: &str) -> Result<Target> {
    let (unit, position) = match spec.split_once('@') {
        None => (spec, None),
        Some((unit, at)) => {
            let parsed = at.split_once(',').and_then(|(x, y)| {
                Some((
                    x.trim().parse::<usize>().ok()?,
                    y.trim().parse::<usize>().ok()?,
                ))
            });
            let xy = parsed.with_context(|| {
                format!("neuron `{spec}`: `{at}` is not a position X,Y (whole numbers >= 0)")
            })?;
            (unit, Some(xy))
        }
    };
    let (layer, channel) = parse_unit(arch, "neuron", spec, unit)?;
    let at = position.map_or("centre".into(), |(x, y)| format!("({x}, {y})"));
    Ok(Target {
        objective: Objective::Neuron {
            layer,
            channel,
            position,
        },
        label: format!("{} neuron {channel} at {at}", arch.layers[layer].name()),
    })
}

/// The diversity term of the flags: its layer (given, or the default) and weight.
fn diversity_of(
    arch: &Arch,
    args: &DreamArgs,
    targets: &[Target],
    weight: f32,
) -> Result<Diversity> {
    let layer = match &args.diversity_layer {
        Some(l) => parse_layer(arch, "diversity layer", l, l)?,
        None => {
            let lowest = targets
                .iter()
                .map(|t| t.objective.target(arch).0)
                .min()
                .unwrap_or(0);
            netlens::saliency::method::default_cam_layer(arch)?.min(lowest)
        }
    };
    Ok(Diversity { layer, weight })
}

/// The settings the flags give, over the model's defaults.
fn settings(args: &DreamArgs) -> DreamSettings {
    let base = DreamSettings::for_model(args.model.model, args.param);
    DreamSettings {
        lr: args.lr.unwrap_or(base.lr),
        l2: args.l2.unwrap_or(base.l2),
        tv: args.tv.unwrap_or(base.tv),
        blur_every: args.blur_every.unwrap_or(base.blur_every),
        blur_sigma: args.blur_sigma.unwrap_or(base.blur_sigma),
        jitter: args.jitter.unwrap_or(base.jitter),
    }
}

/// The settings in words, leaving out the swept parameter.
fn describe(s: &DreamSettings, sweep: Option<&Sweep>, param: Parameterization) -> String {
    let swept = sweep.map(|s| s.param.name());
    let mut parts = Vec::new();
    let mut add = |name: &str, text: String| {
        if swept != Some(name) {
            parts.push(text);
        }
    };
    add("lr", format!("lr {}", s.lr));
    add("l2", format!("L2 {}", s.l2));
    if s.tv > 0.0 {
        add("tv", format!("TV {}", s.tv));
    }
    if param == Parameterization::Pixels {
        add("blur-sigma", format!("blur sigma {}", s.blur_sigma));
        add("blur-every", format!("every {}", s.blur_every));
    }
    add("jitter", format!("jitter {}", s.jitter));
    parts.join(", ")
}

/// `FILE.png` for one run, `FILE-1.png`, `FILE-2.png`, … for several.
fn numbered(path: &Path, i: usize, count: usize) -> PathBuf {
    if count == 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path
        .extension()
        .map_or("png".into(), |e| e.to_string_lossy());
    path.with_file_name(format!("{stem}-{}.{ext}", i + 1))
}

pub fn run(global: &Global, args: DreamArgs) -> Result<()> {
    let started = Instant::now();
    let arch = args.model.model.arch();
    let classes = ClassNames::load_default()?;
    let mut targets = Vec::new();
    for c in &args.classes {
        let index = classes.resolve(c)?;
        targets.push(Target {
            objective: Objective::Class(index),
            label: classes.name(index).to_string(),
        });
    }
    for c in &args.channels {
        targets.push(parse_channel(&arch, c)?);
    }
    for n in &args.neurons {
        targets.push(parse_neuron(&arch, n)?);
    }
    if targets.is_empty() {
        bail!("give at least one --class, --channel or --neuron");
    }
    match (args.copies, args.diversity) {
        (0, _) => bail!("--copies must be at least 1"),
        (1, Some(_)) => bail!("--diversity needs --copies 2 or more: images to push apart"),
        (c, None) if c > 1 => bail!("--copies {c} without --diversity gives {c} like images"),
        _ => {}
    }
    let diversity = args
        .diversity
        .map(|weight| diversity_of(&arch, &args, &targets, weight))
        .transpose()?;
    let targets: Vec<Target> = targets
        .iter()
        .flat_map(|t| {
            (0..args.copies).map(|c| Target {
                objective: t.objective,
                label: if args.copies > 1 {
                    format!("{} #{}", t.label, c + 1)
                } else {
                    t.label.clone()
                },
            })
        })
        .collect();
    let base = settings(&args);
    let mut runs = Vec::new();
    for t in &targets {
        match &args.sweep {
            None => runs.push(Run {
                objective: t.objective,
                settings: base,
                label: t.label.clone(),
            }),
            Some(sweep) => {
                for i in 0..sweep.values.len() {
                    let label = if targets.len() == 1 {
                        sweep.label(i)
                    } else {
                        format!("{}, {}", t.label, sweep.label(i))
                    };
                    runs.push(Run {
                        objective: t.objective,
                        settings: sweep.apply(&base, i),
                        label,
                    });
                }
            }
        }
    }

    let mut inputs = Vec::new();
    let (start, start_name) = if args.init == "noise" {
        (Start::Noise, "noise".to_string())
    } else {
        let path = PathBuf::from(&args.init);
        let img = load_rgb(&path)?;
        inputs.push(path.clone());
        let name = classes
            .label_from_path(&path)
            .map(|i| format!("a {} photo", classes.name(i)))
            .unwrap_or_else(|| path.display().to_string());
        (Start::Image(img), name)
    };
    let mut request = Request::new(runs);
    request.size = args.size;
    request.iterations = args
        .iters
        .unwrap_or_else(|| DreamSettings::iterations_for(args.model.model));
    request.start = start;
    request.penalty_target = if args.l2_to == "init" {
        PenaltyTarget::Start
    } else {
        PenaltyTarget::Zero
    };
    request.parameterization = args.param;
    request.octaves = args.octaves;
    request.octave_scale = args.octave_scale;
    request.transforms = Transforms {
        scale: args.random_scale,
        rotate: args.random_rotate,
    };
    request.diversity = diversity;
    let diversity_label = diversity.map(|d| (d.weight, arch.layers[d.layer].name().to_string()));
    request.seed = args.seed;
    request.snapshots = args.snapshots.clone();
    request.max_batch = args.batch;
    request.validate(&arch)?;

    let figure_path = &args.out;
    let mut plan = OutputPlan::new(&inputs);
    plan.add("the figure (--out)", figure_path, Format::Png)?;
    let npy_path = plan.add(
        "the final images",
        figure_path.with_extension("npy"),
        Format::Npy,
    )?;
    let csv_path = plan.add(
        "the scores",
        figure_path.with_extension("scores.csv"),
        Format::Csv,
    )?;
    let mut images = Vec::new();
    if let Some(p) = &args.save_image {
        for i in 0..request.runs.len() {
            let path = numbered(p, i, request.runs.len());
            images.push(plan.add("an image (--save-image)", path, Format::Png)?);
        }
    }
    let manifest_path = plan.add_last(
        "the manifest",
        Manifest::path_for(figure_path),
        Format::Json,
    )?;

    let ctx = global.context()?;
    let weights = args
        .model
        .model
        .load_weights(args.model.weights.as_deref())?;
    let net = netlens::model::Network::new(&ctx, arch, &weights)?;
    let progress = netlens::app::progress_bar::bar(0, "dreaming", global.quiet);
    let result = pollster::block_on(dream::dream(&net, &request, &progress))?;

    let title = args.title.clone().unwrap_or_else(|| {
        let mut t = format!(
            "{}, from {start_name}, {} steps{}: {}",
            args.model.model.title(),
            request.total_steps(),
            if request.octaves > 1 {
                format!(" over {} octaves", request.octaves)
            } else {
                String::new()
            },
            describe(&base, args.sweep.as_ref(), args.param)
        );
        if request.penalty_target == PenaltyTarget::Start {
            t.push_str(" (L2 towards the photo)");
        }
        if args.param == Parameterization::Fourier {
            t.push_str(", Fourier parameterization");
        }
        if let Some((weight, layer)) = &diversity_label {
            t.push_str(&format!(", diversity {weight} at {layer}"));
        }
        if !request.transforms.is_off() {
            t.push_str(&format!(
                ", random scale ±{} and rotation ±{} deg",
                request.transforms.scale, request.transforms.rotate
            ));
        }
        t
    });
    let start_rgb = match &request.start {
        Start::Image(img) => Some(netlens::preprocess::to_rgb(
            &netlens::preprocess::to_input(img, request.size)?,
            request.size,
        )),
        Start::Noise => None,
    };
    plan.save_png(
        figure_path,
        &dream::figure::draw(&result, &title, start_rgb.as_ref()),
    )?;

    let finals: Vec<f32> = result
        .runs
        .iter()
        .flat_map(|r| r.last().image.iter().copied())
        .collect();
    plan.save_npy(
        &npy_path,
        &finals,
        &[result.runs.len(), 3, request.size, request.size],
    )?;
    let mut csv = String::from("run,label,step,size,objective,probability,top1\n");
    for (i, r) in result.runs.iter().enumerate() {
        for s in &r.snapshots {
            let opt = |v: Option<String>| v.unwrap_or_default();
            csv.push_str(&format!(
                "{i},\"{}\",{},{},{},{},{}\n",
                r.label.replace('"', "'"),
                s.step,
                s.size,
                s.objective,
                opt(s.probability.map(|p| p.to_string())),
                opt(s.top1.map(|t| classes.name(t).to_string())),
            ));
        }
    }
    plan.write(&csv_path, csv.as_bytes())?;
    for (path, r) in images.iter().zip(&result.runs) {
        plan.save_png(path, &r.last().rgb())?;
    }

    let mut manifest = Manifest::new(&ctx);
    manifest
        .weights(args.model.model.name(), &weights)
        .param("runs", &request.runs)
        .param("iterations", request.iterations)
        .param("size", request.size)
        .param("init", &args.init)
        .param("l2_to", &args.l2_to)
        .param("parameterization", request.parameterization)
        .param("octaves", request.octaves)
        .param("octave_scale", request.octave_scale)
        .param("transforms", request.transforms)
        .param("diversity", request.diversity)
        .param("snapshots", request.snapshot_steps())
        .param("sweep", &args.sweep)
        .param("max_batch", request.max_batch)
        .param("results", &result.runs)
        .timing("setup", result.timing.setup_ms)
        .timing("loop", result.timing.loop_ms)
        .timing("snapshots", result.timing.snapshot_ms)
        .timing("per_step", result.timing.ms_per_step())
        .timing("total", started.elapsed().as_secs_f64() * 1e3);
    manifest.seed = Some(request.seed);
    for o in [figure_path, &npy_path, &csv_path]
        .into_iter()
        .chain(&images)
    {
        manifest.output(o);
    }
    plan.save_json(&manifest_path, &manifest)?;
    plan.commit()?;

    for r in &result.runs {
        let s = r.last();
        let similarity = s.similarity.map_or(String::new(), |v| {
            format!(", Gram similarity to the other copies {v:.3}")
        });
        match (s.probability, s.top1) {
            (Some(p), Some(top)) => println!(
                "{:<32} step {:>4}: p = {p:.4}, logit {:.2}, top-1 {}{similarity}",
                r.label,
                s.step,
                s.objective,
                classes.name(top)
            ),
            _ => println!(
                "{:<32} step {:>4}: activation {:.4}{similarity}",
                r.label, s.step, s.objective
            ),
        }
    }
    let t = &result.timing;
    println!(
        "{} batch(es) of up to {} images, {} steps each: loop {:.1} s ({:.0} ms/step), \
         setup {:.1} s, snapshots {:.1} s, total {:.1} s on {}",
        t.batches,
        t.batch_size,
        request.total_steps(),
        t.loop_ms / 1e3,
        t.ms_per_step(),
        t.setup_ms / 1e3,
        t.snapshot_ms / 1e3,
        started.elapsed().as_secs_f64(),
        ctx.adapter_name()
    );
    println!("wrote {}", figure_path.display());
    Ok(())
}
