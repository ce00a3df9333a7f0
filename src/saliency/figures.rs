//! The saliency figures: photos with their maps under them (matplotlib's `hot` colormap, true
//! class in black, prediction in beige), method comparisons, class means, the sanity plot and
//! the faithfulness curves.

use image::RgbImage;
use image::imageops::FilterType;

use crate::figure::LinePlot;
use crate::figure::{BEIGE, BLACK, Cell, Colormap, Figure};
use crate::saliency::faithfulness::FaithfulnessReport;
use crate::saliency::method::Method;
use crate::saliency::sanity::SanityReport;
use crate::saliency::stats::normalized;

/// A photo as the network saw it (the centre crop) and its true class, if known.
#[derive(Clone, Debug)]
pub struct Photo {
    /// The crop the network saw.
    pub image: RgbImage,
    /// The true class's name.
    pub truth: Option<String>,
}

/// One model's maps of one method for every photo, and its predictions.
#[derive(Clone, Debug)]
pub struct MapSet {
    /// Row label ("SqueezeNet").
    pub label: String,
    /// Maps [photos, h, w].
    pub maps: Vec<f32>,
    /// The predicted class's name per photo.
    pub predicted: Vec<String>,
}

/// One model's maps of several methods, and its predictions.
#[derive(Clone, Debug)]
pub struct ModelMaps {
    /// The model's name for labels.
    pub model: String,
    /// (method, maps [photos, h, w]) in column order.
    pub maps: Vec<(Method, Vec<f32>)>,
    /// The predicted class's name per photo.
    pub predicted: Vec<String>,
}

/// How maps are colored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Each map from 0 to its own largest value (like the classic figure's `imshow`).
    #[default]
    PerMap,
    /// One fixed scale per method over all maps (all photos and models), with a colorbar.
    Shared,
}

/// Maps of one method scaled for display to 0..1, and the colorbar that reads them.
struct Scaled {
    maps: Vec<Vec<f32>>,
    colorbar: ((f32, f32), String),
}

/// Scales groups of maps (one group per method, each a list of map sets [n, plane]).
fn scale_groups(groups: &[Vec<&[f32]>], plane: usize, scale: Scale, unit: &str) -> Scaled {
    let mut maps = Vec::new();
    let group_max: Vec<f32> = groups
        .iter()
        .map(|sets| {
            sets.iter()
                .flat_map(|s| s.iter().copied())
                .fold(0.0f32, f32::max)
        })
        .collect();
    for (sets, &max) in groups.iter().zip(&group_max) {
        for set in sets {
            for map in set.chunks(plane) {
                maps.push(match scale {
                    Scale::PerMap => normalized(map),
                    Scale::Shared if max > 0.0 => map.iter().map(|v| v / max).collect(),
                    Scale::Shared => vec![0.0; map.len()],
                });
            }
        }
    }
    let colorbar = match (scale, groups.len()) {
        (Scale::PerMap, _) => (
            (0.0, 1.0),
            "fraction of each map's own largest value".into(),
        ),
        (Scale::Shared, 1) => (
            (0.0, group_max[0]),
            format!("{unit} (one scale for all maps)"),
        ),
        (Scale::Shared, _) => (
            (0.0, 1.0),
            "value / the method's largest value over all maps".into(),
        ),
    };
    Scaled { maps, colorbar }
}

fn map_cell(map: &[f32], hw: (usize, usize)) -> Cell {
    Cell::new(Colormap::Hot.render(map, hw.1, hw.0, Some((0.0, 1.0)))).filter(FilterType::Nearest)
}

fn photo_cell(photo: &Photo) -> Cell {
    let cell = Cell::new(photo.image.clone());
    match &photo.truth {
        Some(t) => cell.caption(t.clone(), BLACK),
        None => cell.caption("(class unknown)", BLACK),
    }
}

/// The classic figure: photos in rows of `per_row`, each with its maps under it (one map row
/// per set: one model, or SqueezeNet and VGG16), true class in black under the photo and each
/// model's prediction in beige (under the photo for a single model, under its map otherwise).
pub fn gallery(
    title: &str,
    photos: &[Photo],
    sets: &[MapSet],
    per_row: usize,
    scale: Scale,
    unit: &str,
    hw: (usize, usize),
) -> RgbImage {
    let plane = hw.0 * hw.1;
    let group: Vec<&[f32]> = sets.iter().map(|s| s.maps.as_slice()).collect();
    let scaled = scale_groups(&[group], plane, scale, unit);
    let n = photos.len();
    let per_row = per_row.max(1);
    let mut figure = Figure::new(hw.1 as u32, hw.0 as u32).title(title);
    for first in (0..n).step_by(per_row) {
        let range = first..(first + per_row).min(n);
        let photo_row = range.clone().map(|i| {
            let cell = photo_cell(&photos[i]);
            match sets {
                [only] => cell.caption(only.predicted[i].clone(), BEIGE),
                _ => cell,
            }
        });
        figure = figure.labelled_row("photo", photo_row);
        for (s, set) in sets.iter().enumerate() {
            let cells = range.clone().map(|i| {
                let cell = map_cell(&scaled.maps[s * n + i], hw);
                if sets.len() > 1 {
                    cell.caption(set.predicted[i].clone(), BEIGE)
                } else {
                    cell
                }
            });
            figure = figure.labelled_row(set.label.clone(), cells);
        }
    }
    let ((lo, hi), label) = scaled.colorbar;
    figure.colorbar(Colormap::Hot, (lo, hi), label).render()
}

/// Methods side by side: one row per photo and model, the photo then one map per method.
pub fn methods(
    title: &str,
    photos: &[Photo],
    models: &[ModelMaps],
    scale: Scale,
    unit: &str,
    hw: (usize, usize),
) -> RgbImage {
    let plane = hw.0 * hw.1;
    let n = photos.len();
    let methods: Vec<Method> = models
        .first()
        .map(|m| m.maps.iter().map(|(method, _)| *method).collect())
        .unwrap_or_default();
    let groups: Vec<Vec<&[f32]>> = (0..methods.len())
        .map(|k| models.iter().map(|m| m.maps[k].1.as_slice()).collect())
        .collect();
    let scaled = scale_groups(&groups, plane, scale, unit);
    // scaled.maps is ordered method, model, photo.
    let at = |k: usize, model: usize, i: usize| &scaled.maps[(k * models.len() + model) * n + i];
    let mut titles = vec!["photo".to_string()];
    titles.extend(methods.iter().map(|m| m.title().to_string()));
    let mut figure = Figure::new(hw.1 as u32, hw.0 as u32)
        .title(title)
        .column_titles(titles);
    for (i, photo) in photos.iter().enumerate() {
        for (j, model) in models.iter().enumerate() {
            let photo = photo_cell(photo).caption(model.predicted[i].clone(), BEIGE);
            let mut cells = vec![photo];
            cells.extend((0..methods.len()).map(|k| map_cell(at(k, j, i), hw)));
            figure = if models.len() > 1 {
                figure.labelled_row(model.model.clone(), cells)
            } else {
                figure.row(cells)
            };
        }
    }
    let ((lo, hi), label) = scaled.colorbar;
    figure.colorbar(Colormap::Hot, (lo, hi), label).render()
}

/// One class of a class-mean figure: its members (photo or view, caption, map) and the mean of
/// their normalized maps in the reference frame.
#[derive(Clone, Debug)]
pub struct ClassGroup {
    /// The class's name.
    pub class: String,
    /// The members: image, caption, map [h, w].
    pub members: Vec<(RgbImage, String, Vec<f32>)>,
    /// The image whose frame the mean is drawn in.
    pub reference: RgbImage,
    /// Mean of the members' normalized maps [h, w].
    pub mean: Vec<f32>,
}

/// Class means: per class, a row of its members' photos and a row of their maps, the last
/// column holding the frame photo and the mean map. At most `columns - 1` members are drawn;
/// the mean covers all of them.
pub fn class_means(
    title: &str,
    groups: &[ClassGroup],
    columns: usize,
    hw: (usize, usize),
) -> RgbImage {
    let shown = columns.max(2) - 1;
    let mut figure = Figure::new(hw.1 as u32, hw.0 as u32).title(title);
    for group in groups {
        let mut photos: Vec<Cell> = group
            .members
            .iter()
            .take(shown)
            .map(|(image, caption, _)| Cell::new(image.clone()).caption(caption.clone(), BLACK))
            .collect();
        let mut maps: Vec<Cell> = group
            .members
            .iter()
            .take(shown)
            .map(|(_, _, map)| map_cell(&normalized(map), hw))
            .collect();
        photos.push(Cell::new(group.reference.clone()).caption("reference frame", BLACK));
        maps.push(
            map_cell(&normalized(&group.mean), hw)
                .caption(format!("mean of {} maps", group.members.len()), BEIGE),
        );
        figure = figure
            .labelled_row(group.class.clone(), photos)
            .labelled_row("maps", maps);
    }
    figure
        .colorbar(
            Colormap::Hot,
            (0.0, 1.0),
            "value / the map's own largest value",
        )
        .render()
}

/// The sanity check's curves: Spearman's rho against layers randomized from the top, one line
/// per method.
pub fn sanity_plot(report: &SanityReport, model: &str) -> RgbImage {
    let lowest = report
        .steps
        .iter()
        .flat_map(|s| s.rho.iter().copied())
        .fold(0.0f64, f64::min);
    LinePlot {
        title: format!("Cascading randomization of {model}'s layers (Adebayo et al. 2018)"),
        x_label: "layers randomized, from the top (cumulative)".into(),
        y_label: "Spearman rho with the original maps (mean over images)".into(),
        x_ticks: report.steps.iter().map(|s| s.layer.clone()).collect(),
        y_range: (((lowest - 0.05) / 0.2).floor() * 0.2, 1.0),
        series: report
            .methods
            .iter()
            .enumerate()
            .map(|(k, m)| {
                (
                    m.title().to_string(),
                    report.steps.iter().map(|s| s.rho[k]).collect(),
                )
            })
            .collect(),
    }
    .render()
}

/// The mean deletion curves (top) and insertion curves (bottom) of every method and the random
/// order, each named with its mean area under the curve.
pub fn faithfulness_plot(report: &FaithfulnessReport, model: &str) -> RgbImage {
    let steps = report.protocol.steps;
    // Fractions as tick labels where they are exact in two decimals (one when that makes too
    // many), the other ticks unlabelled.
    let exact = |scale: usize| {
        (0..=steps)
            .filter(|i| (i * scale).is_multiple_of(steps))
            .count()
    };
    let scale = if exact(100) <= 11 { 100 } else { 10 };
    let ticks: Vec<String> = (0..=steps)
        .map(|i| {
            if (i * scale).is_multiple_of(steps) {
                format!("{}", (i * scale / steps) as f64 / scale as f64)
            } else {
                String::new()
            }
        })
        .collect();
    let plot = |insertion: bool| {
        let (kind, how, better) = if insertion {
            (
                "Insertion",
                "photo's pixels revealed on a blurred copy",
                "higher",
            )
        } else {
            ("Deletion", "pixels replaced by a blurred copy's", "lower")
        };
        LinePlot {
            title: format!("{kind} curves of {model}'s maps (mean over images)"),
            x_label: format!("fraction of pixels, most important first ({how})"),
            y_label: format!(
                "target probability; legend: area under the curve ({better} is better)"
            ),
            x_ticks: ticks.clone(),
            y_range: (0.0, 1.0),
            series: report
                .methods
                .iter()
                .map(|(name, curves)| {
                    let area = if insertion {
                        curves.insertion_auc
                    } else {
                        curves.deletion_auc
                    };
                    (format!("{name} {area:.3}"), curves.mean_curve(insertion))
                })
                .collect(),
        }
        .render()
    };
    let (top, bottom) = (plot(false), plot(true));
    let mut image = RgbImage::new(top.width(), top.height() + bottom.height());
    image::imageops::replace(&mut image, &top, 0, 0);
    image::imageops::replace(&mut image, &bottom, 0, i64::from(top.height()));
    image
}
