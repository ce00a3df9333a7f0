//! Figures of dreaming results: snapshot strips, sweeps and class grids.

use image::RgbImage;

use super::run::{DreamResult, Snapshot};
use crate::figure::{BLACK, Cell, Figure, GRAY};

/// Side of a figure cell in pixels.
const CELL: u32 = 224;

/// The score caption of a snapshot: the class probability, else the objective.
fn score(s: &Snapshot) -> String {
    match s.probability {
        Some(p) => format!("p = {p:.3}"),
        None => format!("mean activation {:.3}", s.objective),
    }
}

/// Draws `result`. When every run has one snapshot and there is no `start` image, one row with a
/// cell per run (its label and score under it): the grid of classes. Otherwise one row per run,
/// labelled with the run's label, with the `start` image first (when given) and a column per
/// snapshot step (titled "step k", each cell captioned with its score): snapshot strips and
/// sweeps.
pub fn draw(result: &DreamResult, title: &str, start: Option<&RgbImage>) -> RgbImage {
    let single = result.runs.iter().all(|r| r.snapshots.len() == 1);
    let mut figure = Figure::new(CELL, CELL).title(title);
    if single && start.is_none() {
        let cells = result.runs.iter().map(|r| {
            let s = r.last();
            Cell::new(s.rgb())
                .caption(r.label.clone(), BLACK)
                .caption(score(s), GRAY)
        });
        return figure.row(cells).render();
    }
    let steps = result.runs.first().map_or(Vec::new(), |r| {
        r.snapshots.iter().map(|s| s.step).collect::<Vec<_>>()
    });
    let mut titles: Vec<String> = Vec::new();
    if start.is_some() {
        titles.push("start".into());
    }
    titles.extend(steps.iter().map(|s| format!("step {s}")));
    figure = figure.column_titles(titles);
    for run in &result.runs {
        let mut cells: Vec<Cell> = Vec::new();
        if let Some(img) = start {
            cells.push(Cell::new(img.clone()));
        }
        cells.extend(
            run.snapshots
                .iter()
                .map(|s| Cell::new(s.rgb()).caption(score(s), GRAY)),
        );
        figure = figure.labelled_row(run.label.clone(), cells);
    }
    figure.render()
}
