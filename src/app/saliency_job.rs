//! A whole saliency run as the `netlens saliency` command makes it: photos (or views of them)
//! and their classes, maps of every model and method, the figure, the raw maps as `.npy`, and
//! the manifest. Four kinds of run: the figure of photos and maps (one method: the classic
//! layout; several: one column per method), class means, the randomization sanity check, and
//! the faithfulness curves (deletion and insertion).

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;

use crate::app::manifest::Manifest;
use crate::app::output::{Format, OutputPlan};
use crate::app::progress_bar::bar;
use crate::classes::ClassNames;
use crate::classify::{argmax, logits};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{ModelKind, Network, Weights};
use crate::preprocess::load_rgb;
use crate::saliency::faithfulness::{self, Protocol};
use crate::saliency::figures::{self, ClassGroup, MapSet, ModelMaps, Photo, Scale};
use crate::saliency::method::{Method, Settings};
use crate::saliency::run::{AttributionRequest, Attributor};
use crate::saliency::sanity::{Cascade, SanityReport, cascading_randomization};
use crate::saliency::views::{View, crop, to_centre_frame};

/// The input size of every run.
pub const SIZE: usize = 224;

/// What to make besides the maps.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Photos with their maps: the classic layout for one method, one column per method for
    /// several.
    Figure,
    /// The mean normalized map of each target class over its images (and their views).
    ClassMean,
    /// Cascading randomization of the layers from the top, first `layers` of them (all when
    /// `None`), random weights seeded with `seed`.
    Sanity {
        /// How many parameterized layers to randomize, from the top.
        layers: Option<usize>,
        /// Seed of the random weights.
        seed: u64,
    },
    /// Deletion and insertion curves of every method's maps and of a random order, each image
    /// scored for its predicted class (or the forced `class`).
    Faithfulness(Protocol),
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Job {
    /// Image files.
    pub images: Vec<PathBuf>,
    /// Models and their weights files (`None`: the default file).
    pub models: Vec<(ModelKind, Option<PathBuf>)>,
    /// Methods, in column order.
    pub methods: Vec<Method>,
    /// Method settings.
    pub settings: Settings,
    /// A class every image is explained for (index, synset or name); else each image's label
    /// from its `synset_name` file name, else its predicted class.
    pub class: Option<String>,
    /// Views per photo: 1 is the centre crop; more add mirrored and shifted crops.
    pub views: usize,
    /// How maps are colored.
    pub scale: Scale,
    /// Photos per row of the classic layout.
    pub per_row: usize,
    /// Most images (or samples) per GPU pass.
    pub batch: usize,
    /// The figure's path; other outputs go beside it.
    pub out: PathBuf,
    /// The kind of run.
    pub mode: Mode,
    /// Hide progress bars.
    pub quiet: bool,
}

/// What a run wrote and what it has to say.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Files written, the figure first.
    pub written: Vec<PathBuf>,
    /// Per-image lines for the terminal: file, view, target and predicted classes.
    pub report: String,
    /// The sanity check's or the faithfulness table, for such a run.
    pub table: Option<String>,
}

/// The photos (or views) a run explains.
struct Subjects {
    /// For each subject: the file it came from.
    files: Vec<PathBuf>,
    /// The view of the photo.
    views: Vec<View>,
    /// The crop the network sees.
    crops: Vec<RgbImage>,
    /// Normalized CHW inputs.
    inputs: Vec<Vec<f32>>,
    /// The label from the file name.
    labels: Vec<Option<usize>>,
}

fn load_subjects(files: &[PathBuf], views: usize, classes: &ClassNames) -> Result<Subjects> {
    let mut s = Subjects {
        files: Vec::new(),
        views: Vec::new(),
        crops: Vec::new(),
        inputs: Vec::new(),
        labels: Vec::new(),
    };
    for file in files {
        let photo = load_rgb(file)?;
        for view in View::standard(views.max(1)) {
            let (taken, image, input) = crop(&photo, view, SIZE).map_err(|e| Error::Image {
                path: file.clone(),
                reason: e.to_string(),
            })?;
            s.files.push(file.clone());
            s.views.push(taken);
            s.crops.push(image);
            s.inputs.push(input);
            s.labels.push(classes.label_from_path(file));
        }
    }
    Ok(s)
}

/// One model of the run, ready.
struct Model {
    kind: ModelKind,
    weights: Weights,
    net: Network,
}

/// A path beside `figure`: `out/fig.png` + `saliency.npy` -> `out/fig.saliency.npy`.
pub fn beside(figure: &Path, suffix: &str) -> PathBuf {
    let stem = figure
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "saliency".into());
    figure.with_file_name(format!("{stem}.{suffix}"))
}

/// What the maps' values are, for colorbar labels.
fn unit(methods: &[Method], settings: &Settings) -> String {
    let reduce = match settings.reduce {
        crate::saliency::Reduce::Max => "max",
        crate::saliency::Reduce::Sum => "sum",
    };
    let of = |what: &str| format!("{reduce} over channels of |{what}|");
    match methods {
        [Method::Vanilla] => of("d score / d input"),
        [Method::SmoothGrad] => of("mean gradient over noisy copies"),
        [Method::IntegratedGradients] => of("attribution"),
        [Method::GradCam] => "Grad-CAM value".into(),
        [Method::Guided] => of("guided backpropagation signal"),
        [Method::GradCamPlusPlus] => "Grad-CAM++ value".into(),
        [Method::ScoreCam] => "Score-CAM value".into(),
        [Method::Occlusion] => "mean drop of the class logit when occluded".into(),
        _ => "value".into(),
    }
}

impl Job {
    /// Checks the job and plans its outputs (see [`OutputPlan`]), before any work: the figure,
    /// the raw maps (`FIG.saliency.npy`, `FIG.MODEL.METHOD.npy`, `FIG.class_mean.npy`), the
    /// sanity check's `FIG.csv` and `FIG.sanity.json` or the curves' `FIG.faithfulness.json`,
    /// and the manifest `FIG.json`.
    pub fn plan(&self) -> Result<OutputPlan> {
        self.settings.check()?;
        if self.images.is_empty() {
            return Err(Error::InvalidInput("no images given".into()));
        }
        let check = match self.mode {
            Mode::Sanity { .. } => Some("the sanity check"),
            Mode::Faithfulness(protocol) => {
                protocol.check()?;
                Some("the faithfulness measure")
            }
            _ => None,
        };
        if let Some(what) = check.filter(|_| self.models.len() != 1) {
            return Err(Error::InvalidInput(format!(
                "{what} runs on one model at a time: choose --model squeezenet or vgg16"
            )));
        }
        if self.mode == Mode::ClassMean && (self.models.len() != 1 || self.methods.len() != 1) {
            return Err(Error::InvalidInput(
                "class means are drawn for one model and one method: choose --model squeezenet \
                 or vgg16 and a single --method"
                    .into(),
            ));
        }
        let figure = &self.out;
        let mut plan = OutputPlan::new(&self.images);
        plan.add("the figure (--out)", figure, Format::Png)?;
        if matches!(self.mode, Mode::Faithfulness(_)) {
            plan.add(
                "the faithfulness record",
                beside(figure, "faithfulness.json"),
                Format::Json,
            )?;
        } else if matches!(self.mode, Mode::Sanity { .. }) {
            plan.add("the sanity table", beside(figure, "csv"), Format::Csv)?;
            plan.add(
                "the sanity record",
                beside(figure, "sanity.json"),
                Format::Json,
            )?;
        } else {
            plan.add("the maps", beside(figure, "saliency.npy"), Format::Npy)?;
            for (kind, _) in &self.models {
                for method in &self.methods {
                    let suffix = format!("{kind}.{method}.npy");
                    plan.add("the maps", beside(figure, &suffix), Format::Npy)?;
                }
            }
            if self.mode == Mode::ClassMean {
                plan.add(
                    "the class means",
                    beside(figure, "class_mean.npy"),
                    Format::Npy,
                )?;
            }
        }
        plan.add_last("the manifest", Manifest::path_for(figure), Format::Json)?;
        Ok(plan)
    }
}

/// Runs a job on `ctx`: [`Job::plan`], then [`run_planned`].
pub async fn run(ctx: &GpuContext, job: &Job) -> Result<Outcome> {
    run_planned(ctx, job, job.plan()?).await
}

/// Runs a job on `ctx`, writing through `plan`, the job's [`Job::plan`].
pub async fn run_planned(ctx: &GpuContext, job: &Job, mut plan: OutputPlan) -> Result<Outcome> {
    let started = Instant::now();
    let classes = ClassNames::load_default()?;
    let forced = job
        .class
        .as_deref()
        .map(|c| classes.resolve(c))
        .transpose()?;
    let figure_path = job.out.clone();

    let mut manifest = Manifest::new(ctx);
    // Every model is loaded before any work, so a missing weights file fails at once.
    let mut models = Vec::new();
    for (kind, path) in &job.models {
        let weights = kind.load_weights(path.as_deref())?;
        let net = Network::new(ctx, kind.arch(), &weights)?;
        manifest.weights(kind.name(), &weights);
        models.push(Model {
            kind: *kind,
            weights,
            net,
        });
    }
    let subjects = load_subjects(&job.images, job.views, &classes)?;
    let n = subjects.inputs.len();
    manifest
        .param("methods", &job.methods)
        .param("settings", &job.settings)
        .param("class", forced)
        .param("views", job.views)
        .param("scale", job.scale)
        .param("batch", job.batch)
        .param("input_size", SIZE)
        .param(
            "images",
            subjects
                .files
                .iter()
                .zip(&subjects.views)
                .map(|(f, v)| format!("{} ({})", f.display(), v.describe()))
                .collect::<Vec<_>>(),
        );
    if job.methods.contains(&Method::SmoothGrad) {
        manifest.seed = Some(job.settings.seed);
    }
    manifest.timing("load", started.elapsed().as_secs_f64() * 1e3);

    let hw = (SIZE, SIZE);
    let plane = SIZE * SIZE;
    let mut results = Vec::new();
    let mut report = String::new();
    let mut table = None;
    for model in &models {
        let attributor = Attributor::new(&model.net, hw, job.batch)?;
        let t = Instant::now();
        let predicted: Vec<usize> = logits(&model.net, &subjects.inputs, hw, attributor.batch())
            .await?
            .iter()
            .map(|l| argmax(l))
            .collect();
        manifest.timing(
            &format!("{}.classify", model.kind),
            t.elapsed().as_secs_f64() * 1e3,
        );
        // Faithfulness scores the class the network sees, not the file name's label.
        let faithful = matches!(job.mode, Mode::Faithfulness(_));
        let targets: Vec<usize> = (0..n)
            .map(|i| {
                let label = subjects.labels[i].filter(|_| !faithful);
                forced.or(label).unwrap_or(predicted[i])
            })
            .collect();
        report.push_str(&format!("{}:\n", model.kind.title()));
        for i in 0..n {
            report.push_str(&format!(
                "  {} ({}): target {} {}, predicted {} {}\n",
                subjects.files[i].display(),
                subjects.views[i].describe(),
                targets[i],
                classes.name(targets[i]),
                predicted[i],
                classes.name(predicted[i])
            ));
        }
        manifest.param(&format!("{}.targets", model.kind), &targets);
        manifest.param(&format!("{}.predicted", model.kind), &predicted);

        if let Mode::Sanity { layers, seed } = job.mode {
            let steps = layers
                .unwrap_or(usize::MAX)
                .min(crate::saliency::sanity::layers_from_top(&attributor).len())
                + 1;
            let progress = bar(
                (steps * job.methods.len()) as u64,
                "sanity check",
                job.quiet,
            );
            let t = Instant::now();
            let cascade = Cascade {
                original: &model.weights,
                depth: layers,
                seed,
            };
            let sanity = cascading_randomization(
                &attributor,
                cascade,
                &job.methods,
                &job.settings,
                &subjects.inputs,
                &targets,
                &progress,
            )
            .await?;
            progress.finish_and_clear();
            manifest.timing("sanity", t.elapsed().as_secs_f64() * 1e3);
            manifest.seed = Some(seed);
            table = Some(sanity.table());
            write_sanity(&mut plan, &sanity, model.kind.title(), &figure_path)?;
            continue;
        }
        if let Mode::Faithfulness(protocol) = job.mode {
            let report = measure_faithfulness(
                &attributor,
                job,
                &protocol,
                &subjects,
                &targets,
                &mut manifest,
            )
            .await?;
            table = Some(report.table());
            plan.save_png(
                &figure_path,
                &figures::faithfulness_plot(&report, model.kind.title()),
            )?;
            plan.save_json(&beside(&figure_path, "faithfulness.json"), &report)?;
            continue;
        }

        let mut maps = Vec::new();
        let total: u64 = job
            .methods
            .iter()
            .map(|&m| attributor.passes(m, &job.settings, n))
            .sum();
        let progress = bar(total, model.kind.name(), job.quiet);
        let request = AttributionRequest::new(&job.settings, &subjects.inputs, &targets, &progress);
        for &method in &job.methods {
            let t = Instant::now();
            let m = attributor.maps(method, &request).await?;
            manifest.timing(
                &format!("{}.{}", model.kind, method),
                t.elapsed().as_secs_f64() * 1e3,
            );
            let path = beside(&figure_path, &format!("{}.{}.npy", model.kind, method));
            plan.save_npy(&path, &m, &[n, SIZE, SIZE])?;
            maps.push((method, m));
        }
        progress.finish_and_clear();
        results.push((model, predicted, targets, maps));
    }

    if !results.is_empty() {
        let (_, _, targets, maps) = &results[0];
        plan.save_npy(
            &beside(&figure_path, "saliency.npy"),
            &maps[0].1,
            &[n, SIZE, SIZE],
        )?;
        let name = |c: usize| classes.name(c).to_string();
        let photos: Vec<Photo> = (0..n)
            .map(|i| Photo {
                image: subjects.crops[i].clone(),
                truth: subjects.labels[i].map(name),
            })
            .collect();
        let t = Instant::now();
        let image = match job.mode {
            Mode::ClassMean => {
                let (groups, means) = class_groups(&subjects, targets, &maps[0].1, plane, &name);
                plan.save_npy(
                    &beside(&figure_path, "class_mean.npy"),
                    &means,
                    &[groups.len(), SIZE, SIZE],
                )?;
                let title = format!(
                    "{} class means: {} of {}, mean of max-normalized maps per target class",
                    results[0].0.kind.title(),
                    maps[0].0.title(),
                    if job.views > 1 {
                        "each photo's views (mirrored, shifted) aligned to its centre crop"
                    } else {
                        "the photos of each class"
                    }
                );
                figures::class_means(&title, &groups, job.per_row + 1, hw)
            }
            _ if job.methods.len() == 1 => {
                let sets: Vec<MapSet> = results
                    .iter()
                    .map(|(model, predicted, _, maps)| MapSet {
                        label: format!("{}\n{}", model.kind.title(), maps[0].0.title()),
                        maps: maps[0].1.clone(),
                        predicted: predicted.iter().map(|&c| name(c)).collect(),
                    })
                    .collect();
                let models: Vec<&str> = results.iter().map(|r| r.0.kind.title()).collect();
                let title = format!(
                    "{} maps of {} (true class black, prediction beige)",
                    job.methods[0].title(),
                    models.join(" and ")
                );
                figures::gallery(
                    &title,
                    &photos,
                    &sets,
                    job.per_row,
                    job.scale,
                    &unit(&job.methods, &job.settings),
                    hw,
                )
            }
            _ => {
                let models: Vec<ModelMaps> = results
                    .iter()
                    .map(|(model, predicted, _, maps)| ModelMaps {
                        model: model.kind.title().to_string(),
                        maps: maps.clone(),
                        predicted: predicted.iter().map(|&c| name(c)).collect(),
                    })
                    .collect();
                let names: Vec<&str> = results.iter().map(|r| r.0.kind.title()).collect();
                let title = format!(
                    "Attribution maps of {} (true class black, prediction beige)",
                    names.join(" and ")
                );
                figures::methods(
                    &title,
                    &photos,
                    &models,
                    job.scale,
                    &unit(&job.methods, &job.settings),
                    hw,
                )
            }
        };
        plan.save_png(&figure_path, &image)?;
        manifest.timing("figure", t.elapsed().as_secs_f64() * 1e3);
    }
    manifest.timing("total", started.elapsed().as_secs_f64() * 1e3);
    let manifest_path = Manifest::path_for(&figure_path);
    manifest.outputs = plan.paths().filter(|p| *p != manifest_path).collect();
    plan.save_json(&manifest_path, &manifest)?;
    let written = plan.commit()?;
    Ok(Outcome {
        written,
        report,
        table,
    })
}

/// Every method's maps of the subjects, then their deletion and insertion curves and the
/// random order's, timed into the manifest.
async fn measure_faithfulness(
    attributor: &Attributor<'_>,
    job: &Job,
    protocol: &Protocol,
    subjects: &Subjects,
    targets: &[usize],
    manifest: &mut Manifest,
) -> Result<faithfulness::FaithfulnessReport> {
    let n = subjects.inputs.len();
    let orders = (job.methods.len() + 1) as u64;
    let total = job
        .methods
        .iter()
        .map(|&m| attributor.passes(m, &job.settings, n))
        .sum::<u64>()
        + orders * faithfulness::passes(attributor, n, protocol.steps);
    let progress = bar(total, "faithfulness", job.quiet);
    let mut maps = Vec::new();
    let request = AttributionRequest::new(&job.settings, &subjects.inputs, targets, &progress);
    for &method in &job.methods {
        let t = Instant::now();
        maps.push(attributor.maps(method, &request).await?);
        manifest.timing(&method.to_string(), t.elapsed().as_secs_f64() * 1e3);
    }
    let names: Vec<String> = job.methods.iter().map(|m| m.to_string()).collect();
    let images: Vec<String> = subjects
        .files
        .iter()
        .zip(&subjects.views)
        .map(|(f, v)| {
            let file = f.file_name().unwrap_or_default().to_string_lossy();
            if *v == View::CENTRE {
                file.into_owned()
            } else {
                format!("{file} ({})", v.describe())
            }
        })
        .collect();
    let t = Instant::now();
    let report = faithfulness::evaluate(
        attributor,
        protocol,
        &images,
        &subjects.inputs,
        targets,
        faithfulness::MethodMaps {
            names: &names,
            maps: &maps,
        },
        &progress,
    )
    .await?;
    progress.finish_and_clear();
    manifest.timing("curves", t.elapsed().as_secs_f64() * 1e3);
    manifest.param("faithfulness", protocol);
    Ok(report)
}

/// Groups the subjects by target class: each member's map max-normalized and moved into its
/// photo's centre-crop frame, the class mean averaged over the members covering each pixel.
fn class_groups(
    subjects: &Subjects,
    targets: &[usize],
    maps: &[f32],
    plane: usize,
    name: &dyn Fn(usize) -> String,
) -> (Vec<ClassGroup>, Vec<f32>) {
    let mut order: Vec<usize> = Vec::new();
    for &t in targets {
        if !order.contains(&t) {
            order.push(t);
        }
    }
    let mut groups = Vec::new();
    let mut means = Vec::new();
    for class in order {
        let members: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i] == class)
            .collect();
        let mut sum = vec![0.0f32; plane];
        let mut count = vec![0.0f32; plane];
        for &i in &members {
            let map = crate::saliency::stats::normalized(&maps[i * plane..(i + 1) * plane]);
            let (values, covered) = to_centre_frame(&map, subjects.views[i], SIZE);
            for j in 0..plane {
                sum[j] += values[j];
                count[j] += covered[j];
            }
        }
        let mean: Vec<f32> = sum
            .iter()
            .zip(&count)
            .map(|(s, c)| if *c > 0.0 { s / c } else { 0.0 })
            .collect();
        let first = members[0];
        let reference = subjects
            .views
            .iter()
            .zip(&subjects.files)
            .position(|(v, f)| *v == View::CENTRE && *f == subjects.files[first])
            .unwrap_or(first);
        means.extend_from_slice(&mean);
        groups.push(ClassGroup {
            class: name(class),
            members: members
                .iter()
                .map(|&i| {
                    let file = subjects.files[i]
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let caption = if subjects.views[i] == View::CENTRE {
                        file
                    } else {
                        subjects.views[i].describe()
                    };
                    (
                        subjects.crops[i].clone(),
                        caption,
                        maps[i * plane..(i + 1) * plane].to_vec(),
                    )
                })
                .collect(),
            reference: subjects.crops[reference].clone(),
            mean,
        });
    }
    (groups, means)
}

/// Writes the sanity check's plot, CSV and JSON through `plan`.
fn write_sanity(
    plan: &mut OutputPlan,
    report: &SanityReport,
    model: &str,
    figure: &Path,
) -> Result<()> {
    plan.save_png(figure, &figures::sanity_plot(report, model))?;
    plan.write(&beside(figure, "csv"), report.csv().as_bytes())?;
    plan.save_json(&beside(figure, "sanity.json"), report)?;
    Ok(())
}
