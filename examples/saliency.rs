//! Saliency maps of two gallery photos with the library API: load SqueezeNet, compute the
//! gradient and Grad-CAM maps for each photo's true class, and draw them under the photos.
//!
//! `cargo run --release --example saliency [-- OUT.png]` (default `out/saliency_example.png`).

use std::path::PathBuf;

use netlens::classes::ClassNames;
use netlens::classify::{argmax, logits};
use netlens::figure::{BEIGE, BLACK, Cell, Colormap, Figure};
use netlens::model::ModelKind;
use netlens::preprocess::{load_input, to_rgb};
use netlens::progress::Silent;
use netlens::saliency::stats::normalized;
use netlens::saliency::{AttributionRequest, Attributor, Method, Settings};
use netlens::{GpuContext, GpuOptions};

fn main() -> netlens::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("out/saliency_example.png"));
    let ctx = pollster::block_on(GpuContext::new(&GpuOptions::from_env()))?;
    let net = ModelKind::SqueezeNet.network(&ctx, None)?;
    let classes = ClassNames::load_default()?;

    let gallery = netlens::app::data::gallery_dir();
    let files = [
        gallery.join("n02510455_giant_panda.jpg"),
        gallery.join("n02056570_king_penguin.jpg"),
    ];
    let inputs = files
        .iter()
        .map(|f| load_input(f, 224))
        .collect::<netlens::Result<Vec<_>>>()?;
    // The true class from the file name (`synset_name.jpg`), else the predicted one.
    let predicted: Vec<usize> = pollster::block_on(logits(&net, &inputs, (224, 224), 16))?
        .iter()
        .map(|l| argmax(l))
        .collect();
    let targets: Vec<usize> = files
        .iter()
        .zip(&predicted)
        .map(|(f, &p)| classes.label_from_path(f).unwrap_or(p))
        .collect();

    let attributor = Attributor::new(&net, (224, 224), 16)?;
    let settings = Settings::default();
    let request = AttributionRequest::new(&settings, &inputs, &targets, &Silent);
    let methods = [Method::Vanilla, Method::GradCam];
    let maps = methods
        .iter()
        .map(|&m| pollster::block_on(attributor.maps(m, &request)))
        .collect::<netlens::Result<Vec<_>>>()?;

    let plane = 224 * 224;
    let mut figure = Figure::new(224, 224)
        .title("SqueezeNet: gradient and Grad-CAM maps")
        .column_titles(["photo", methods[0].title(), methods[1].title()]);
    for (i, input) in inputs.iter().enumerate() {
        let mut row = vec![
            Cell::new(to_rgb(input, 224))
                .caption(classes.name(targets[i]), BLACK)
                .caption(classes.name(predicted[i]), BEIGE),
        ];
        for m in &maps {
            let map = normalized(&m[i * plane..(i + 1) * plane]);
            row.push(Cell::new(Colormap::Hot.render(
                &map,
                224,
                224,
                Some((0.0, 1.0)),
            )));
        }
        figure = figure.row(row);
    }
    netlens::app::output::save_png(&figure.render(), &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
