//! Fooling images with the library API: a gallery photo made to be classified as a chosen class
//! by SqueezeNet (checked on the 8-bit image a PNG stores), then an untargeted PGD attack within
//! 4 pixel levels, both drawn in one figure.
//!
//! `cargo run --release --example fooling -- [PHOTO] [TARGET] [OUT.png]`
//! (defaults: the gallery's hay photo, "stingray", fooling_example.png).

use std::path::PathBuf;

use netlens::app::output::save_png;
use netlens::classes::ClassNames;
use netlens::fooling::figure::fooling_figure;
use netlens::fooling::{AttackConfig, AttackMethod, Attacker, Norm};
use netlens::model::ModelKind;
use netlens::preprocess::load_input;
use netlens::{GpuContext, GpuOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let photo = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| netlens::app::data::gallery_dir().join("n07802026_hay.jpg"));
    let target = args.next().unwrap_or_else(|| "stingray".to_string());
    let out = PathBuf::from(args.next().unwrap_or_else(|| "fooling_example.png".into()));

    let classes = ClassNames::load_default()?;
    let target = classes.resolve(&target)?;
    let x0 = load_input(&photo, 224)?;
    let ctx = pollster::block_on(GpuContext::new(&GpuOptions::from_env()))?;
    let net = ModelKind::SqueezeNet.network(&ctx, None)?;

    // The classic fooling image: x += g/‖g‖ on the target's logit until it is the top class,
    // judged on the image rounded to 8 bits.
    let fool = AttackConfig::fool(1.0, 100);
    let bar = netlens::app::progress_bar::bar(0, "fool", false);
    let fooled = pollster::block_on(Attacker::new(&net, 1, 224, fool)?.run(
        std::slice::from_ref(&x0),
        &[Some(target)],
        &bar,
    ))?;

    // PGD, untargeted, L∞ budget of 4 levels, 10 steps from a random start.
    let pgd = AttackConfig::standard(AttackMethod::Pgd, Norm::Linf, 4.0);
    let bar = netlens::app::progress_bar::bar(0, "pgd", false);
    let attacked = pollster::block_on(Attacker::new(&net, 1, 224, pgd)?.run(
        std::slice::from_ref(&x0),
        &[None],
        &bar,
    ))?;

    let outcomes = [fooled.outcomes[0].clone(), attacked.outcomes[0].clone()];
    for (what, o, run) in [
        ("fool", &outcomes[0], &fooled),
        ("pgd", &outcomes[1], &attacked),
    ] {
        println!(
            "{what}: {} -> {} after {} iterations ({:.1} s), L2 {:.1}, Linf {:.2} levels, 8-bit \
             image {}",
            classes.name(o.clean.index),
            classes.name(o.prediction.index),
            o.iterations,
            run.elapsed.as_secs_f64(),
            o.rounded.l2_px,
            o.rounded.linf_px,
            if o.rounded.reached {
                "reaches the goal"
            } else {
                "misses the goal"
            }
        );
    }
    let figure = fooling_figure(
        "Fooling image and PGD (SqueezeNet 1.1)",
        &["fool".into(), "pgd, 4 levels".into()],
        &[x0.clone(), x0],
        &outcomes,
        224,
        &classes,
    );
    save_png(&figure, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
