//! The `netlens` command line: a thin layer over the library.

mod args;
mod attack_settings;
mod bench;
mod classify;
mod dream;
mod fool;
mod info;
mod saliency;
mod transfer;

use clap::{Parser, Subcommand};

/// Look inside image classifiers on any GPU: saliency maps, fooling images, class visualization.
#[derive(Parser)]
#[command(name = "netlens", version)]
struct Cli {
    #[command(flatten)]
    global: args::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters, the one chosen and the limits that matter.
    Info(info::InfoArgs),
    /// Print the top-5 classes of images.
    Classify(classify::ClassifyArgs),
    /// Time forward and forward + input-gradient passes (ms, GFLOP/s, GPU time per kernel).
    Bench(bench::BenchArgs),
    /// Saliency and attribution maps of photos as labelled figures; class means; sanity check.
    Saliency(saliency::SaliencyArgs),
    /// Fooling images and attacks (fool, fgsm, pgd, mifgsm) toward target classes.
    #[command(visible_alias = "attack")]
    Fool(Box<fool::FoolArgs>),
    /// Fooling images made on one network, tried on the others: the transfer table.
    Transfer(Box<transfer::TransferArgs>),
    /// Visualize a class (or channel) by gradient ascent from noise or a photo, with sweeps.
    Dream(Box<dream::DreamArgs>),
}

fn main() {
    let cli = Cli::parse();
    // wgpu-hal reports failed probes of backends it then skips (EGL without a display, say) as
    // errors; they are not ours to show unless asked for with RUST_LOG.
    let default_level = if cli.global.quiet {
        "error,wgpu_hal=off"
    } else {
        "warn,wgpu_hal=off"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    let data = match cli.command {
        Command::Info(_) => Ok(()),
        _ => netlens::app::data::check_data_env().map_err(anyhow::Error::from),
    };
    let result = data.and_then(|()| match cli.command {
        Command::Info(a) => info::run(&cli.global, a),
        Command::Classify(a) => classify::run(&cli.global, a),
        Command::Bench(a) => bench::run(&cli.global, a),
        Command::Saliency(a) => saliency::run(&cli.global, a),
        Command::Fool(a) => fool::run(&cli.global, *a),
        Command::Transfer(a) => transfer::run(&cli.global, *a),
        Command::Dream(a) => dream::run(&cli.global, *a),
    });
    if let Err(e) = result {
        eprintln!("error: {}", message(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, each cause once: a cause whose text the message
/// already holds (an I/O error that the library's error also prints) is not repeated.
fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}
