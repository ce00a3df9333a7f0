//! Class visualization with the library API: dream a class from seeded noise with SqueezeNet and
//! save a snapshot strip.
//!
//! ```sh
//! cargo run --release --example dream -- "king penguin" out/penguin.png
//! ```

use netlens::app::output::save_png;
use netlens::classes::ClassNames;
use netlens::dream::{self, DreamSettings, Objective, Request, Run};
use netlens::model::ModelKind;
use netlens::{GpuContext, GpuOptions};

fn main() -> netlens::Result<()> {
    let mut args = std::env::args().skip(1);
    let class = args.next().unwrap_or_else(|| "tarantula".into());
    let out = args
        .next()
        .unwrap_or_else(|| "out/dream_example.png".into());

    let classes = ClassNames::load_default()?;
    let index = classes.resolve(&class)?;
    let ctx = pollster::block_on(GpuContext::new(&GpuOptions::from_env()))?;
    let net = ModelKind::SqueezeNet.network(&ctx, None)?;

    // The classic settings: 100 steps, lr 25, L2 1e-3, blur sigma 0.5 every 10 steps, jitter 16.
    let mut request = Request::new(vec![Run {
        objective: Objective::Class(index),
        settings: DreamSettings::default(),
        label: classes.name(index).to_string(),
    }]);
    request.snapshots = vec![25, 50, 75];
    request.seed = 0;

    let progress = netlens::app::progress_bar::bar(0, "dreaming", false);
    let result = pollster::block_on(dream::dream(&net, &request, &progress))?;
    for s in &result.runs[0].snapshots {
        println!(
            "step {:>3}: p({}) = {:.3}",
            s.step,
            classes.name(index),
            s.probability.unwrap_or(0.0)
        );
    }
    println!(
        "{:.0} ms per step on {}",
        result.timing.ms_per_step(),
        ctx.adapter_name()
    );
    let title = format!("{} from noise, SqueezeNet", classes.name(index));
    save_png(
        &dream::figure::draw(&result, &title, None),
        std::path::Path::new(&out),
    )?;
    println!("wrote {out}");
    Ok(())
}
