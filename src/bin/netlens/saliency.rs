//! `netlens saliency`: saliency maps and other attribution maps as labelled figures, class
//! means, and the model-randomization sanity check.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use netlens::app::saliency_job::{Job, Mode};
use netlens::model::ModelKind;
use netlens::saliency::figures::Scale;
use netlens::saliency::{Baseline, Method, Reduce, Settings};

use crate::args::{Global, expand_images};

/// Which networks to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Models {
    Squeezenet,
    Vgg16,
    /// SqueezeNet's and VGG16's maps side by side (VGG16 needs its weights file).
    Both,
}

/// Arguments of `netlens saliency`.
#[derive(Args)]
pub struct SaliencyArgs {
    /// The network(s).
    #[arg(long, short, value_enum, default_value = "squeezenet")]
    model: Models,
    /// SqueezeNet weights (safetensors) [default: $NETLENS_WEIGHTS or
    /// ../shared/weights/squeezenet1_1.safetensors]
    #[arg(long, short)]
    weights: Option<PathBuf>,
    /// VGG16 weights (safetensors, torchvision key names) [default: $NETLENS_VGG16_WEIGHTS or
    /// ../shared/weights/vgg16.safetensors]
    #[arg(long)]
    vgg16_weights: Option<PathBuf>,
    /// Attribution methods, comma separated: vanilla, smoothgrad, ig, gradcam, guided (or all).
    /// One method draws photos with maps under them; several draw one column per method.
    #[arg(long, default_value = "vanilla")]
    method: String,
    /// Explain this class for every image (index, synset or name) instead of each image's label
    /// from its `synset_name` file name (or, without one, its predicted class).
    #[arg(long)]
    class: Option<String>,
    /// Channel reduction of gradients: max |g| or sum |g|.
    #[arg(long, default_value = "max")]
    reduce: Reduce,
    /// One fixed color scale per method over all maps, shown by a colorbar (default: each map
    /// scaled to its own maximum).
    #[arg(long)]
    shared_scale: bool,
    /// SmoothGrad: noisy samples per image.
    #[arg(long, default_value_t = 25)]
    samples: usize,
    /// SmoothGrad: noise sigma as a fraction of the image's value range.
    #[arg(long, default_value_t = 0.15)]
    noise: f32,
    /// SmoothGrad noise seed, and the seed of the sanity check's random weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Integrated Gradients: steps along the path from the baseline.
    #[arg(long, default_value_t = 64)]
    steps: usize,
    /// Integrated Gradients: black, zero (the mean color) or blur (blur:SIGMA in pixels).
    #[arg(long, default_value = "black")]
    baseline: Baseline,
    /// Grad-CAM layer [default: the last convolutional block: features.12 for SqueezeNet,
    /// features.28 for VGG16]
    #[arg(long)]
    cam_layer: Option<String>,
    /// Draw the mean normalized map of each target class over its images instead.
    #[arg(long)]
    class_mean: bool,
    /// Views per photo: 1 is the centre crop; up to 10 adds mirrored and shifted (16 px) crops,
    /// whose maps --class-mean aligns back onto the centre crop.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10))]
    views: u64,
    /// Run the model-randomization sanity check (Adebayo et al. 2018) instead: randomize layers
    /// from the top and plot the rank correlation of each method's maps with the originals.
    #[arg(long)]
    sanity_check: bool,
    /// Sanity check: how many parameterized layers to randomize from the top [default: all].
    #[arg(long)]
    sanity_layers: Option<usize>,
    /// Photos per row of the figure.
    #[arg(long, default_value_t = 5)]
    per_row: usize,
    /// Most images (or samples) per GPU pass.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// The figure (PNG); raw maps (.npy), tables and the manifest (.json) are written beside it.
    #[arg(long, short)]
    out: PathBuf,
    /// Image files or folders of images [default: the bundled gallery of 25 photos].
    images: Vec<PathBuf>,
}

pub fn run(global: &Global, args: SaliencyArgs) -> Result<()> {
    if args.class_mean && args.sanity_check {
        bail!("choose one of --class-mean and --sanity-check");
    }
    let images = if args.images.is_empty() {
        expand_images(&[netlens::app::data::gallery_dir()])?
    } else {
        expand_images(&args.images)?
    };
    let squeezenet = (ModelKind::SqueezeNet, args.weights.clone());
    let vgg16 = (ModelKind::Vgg16, args.vgg16_weights.clone());
    let models = match args.model {
        Models::Squeezenet => vec![squeezenet],
        Models::Vgg16 => vec![vgg16],
        Models::Both => vec![squeezenet, vgg16],
    };
    let mode = if args.sanity_check {
        Mode::Sanity {
            layers: args.sanity_layers,
            seed: args.seed,
        }
    } else if args.class_mean {
        Mode::ClassMean
    } else {
        Mode::Figure
    };
    let job = Job {
        images,
        models,
        methods: Method::parse_list(&args.method)?,
        settings: Settings {
            reduce: args.reduce,
            samples: args.samples,
            noise: args.noise,
            seed: args.seed,
            steps: args.steps,
            baseline: args.baseline,
            cam_layer: args.cam_layer,
        },
        class: args.class,
        views: args.views as usize,
        scale: if args.shared_scale {
            Scale::Shared
        } else {
            Scale::PerMap
        },
        per_row: args.per_row,
        batch: args.batch,
        out: args.out,
        mode,
        quiet: global.quiet,
    };
    let plan = job.plan()?;
    let ctx = global.context()?;
    let outcome = pollster::block_on(netlens::app::saliency_job::run_planned(&ctx, &job, plan))?;
    if !global.quiet {
        print!("{}", outcome.report);
    }
    if let Some(table) = &outcome.table {
        print!("{table}");
    }
    for path in &outcome.written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
