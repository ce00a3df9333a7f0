//! The `netlens` command line: a thin layer over the library.

mod args;
mod classify;
mod dream;
mod info;

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
    let result = match cli.command {
        Command::Info(a) => info::run(&cli.global, a),
        Command::Classify(a) => classify::run(&cli.global, a),
        Command::Dream(a) => dream::run(&cli.global, *a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
