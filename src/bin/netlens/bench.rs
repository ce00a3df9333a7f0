//! `netlens bench`: ms per forward and per forward + input gradient, GFLOP/s, GPU time per
//! kernel, and the convolution and linear-layer variants harnesses.

use anyhow::Result;
use clap::Args;
use netlens::bench::{
    BenchResult, DreamBench, VariantResult, bench, check_batch, check_reps, conv_variants,
    dream_steps, linear_variants,
};
use netlens::dream::{DreamSettings, Parameterization};
use netlens::model::{ModelKind, Network, Weights};
use netlens::ops::conv::ConvAlgorithm;

use crate::args::Global;

/// Arguments of `netlens bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Models to time (comma list).
    #[arg(long, short, value_delimiter = ',', default_value = "squeezenet,vgg16")]
    model: Vec<ModelKind>,
    /// Convolution algorithms to time whole passes with (comma list): auto, winograd (3x3
    /// stride-1 layers), tiled, blocked1, blocked2, blocked4.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    conv: Vec<ConvAlgorithm>,
    /// Batch sizes (comma list).
    #[arg(long, short, value_delimiter = ',', default_value = "1,8,25")]
    batch: Vec<usize>,
    /// Input height and width.
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 20)]
    reps: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also check every convolution kernel variant against the CPU reference and time it per
    /// layer (first model, first batch size).
    #[arg(long)]
    conv_variants: bool,
    /// Also check every linear-layer kernel against the CPU reference and time it per layer
    /// (first model with linear layers, first batch size).
    #[arg(long)]
    linear_variants: bool,
    /// Also time this many class-visualization steps per model (batch 1, 224 x 224, the
    /// model's default settings, every step on the GPU); 0 skips it.
    #[arg(long, default_value_t = 0)]
    dream_steps: usize,
}

/// The model's real weights when present, else the formula weights of `../shared/README.md`
/// (timings do not depend on the values).
fn weights(kind: ModelKind, quiet: bool) -> Weights {
    match kind.load_weights(None) {
        Ok(w) => w,
        Err(e) => {
            if !quiet {
                eprintln!("note: {kind}: {e}\nnote: timing {kind} with formula weights instead");
            }
            Weights::formula(&kind.arch().tensor_specs())
        }
    }
}

pub fn run(global: &Global, args: BenchArgs) -> Result<()> {
    check_reps(args.reps)?;
    let ctx = global.context()?;
    let hw = (args.size, args.size);
    // Every model and batch is checked against the device's limits before anything is timed.
    for &kind in &args.model {
        for &batch in &args.batch {
            check_batch(&ctx, &kind.arch(), batch, hw)?;
        }
    }
    let mut results: Vec<BenchResult> = Vec::new();
    let mut variants = Vec::new();
    let mut linear = Vec::new();
    let mut dreams: Vec<DreamBench> = Vec::new();
    for &kind in &args.model {
        let weights = weights(kind, global.quiet);
        for &conv in &args.conv {
            let net = Network::with_conv_algorithm(&ctx, kind.arch(), &weights, conv)?;
            for &batch in &args.batch {
                let r = pollster::block_on(bench(&net, batch, hw, args.warmup, args.reps))?;
                if !args.json {
                    print_result(&r);
                }
                results.push(r);
            }
            if args.conv_variants && variants.is_empty() {
                let batch = args.batch.first().copied().unwrap_or(1);
                variants = pollster::block_on(conv_variants(
                    &ctx,
                    net.arch(),
                    batch,
                    hw,
                    args.warmup,
                    args.reps,
                ))?;
                if !args.json {
                    println!(
                        "convolution variants (error vs CPU reference at <= 8x8; time at full size):"
                    );
                    print_variants(&variants);
                }
            }
            if args.linear_variants && linear.is_empty() {
                let batch = args.batch.first().copied().unwrap_or(1);
                linear = pollster::block_on(linear_variants(
                    &ctx,
                    net.arch(),
                    batch,
                    args.warmup,
                    args.reps,
                ))?;
                if !args.json && !linear.is_empty() {
                    println!(
                        "linear kernels (error vs CPU reference at batch 1; time at batch {batch}):"
                    );
                    print_variants(&linear);
                }
            }
            if args.dream_steps > 0 {
                let settings = DreamSettings::for_model(kind, Parameterization::Pixels);
                let d = pollster::block_on(dream_steps(
                    &net,
                    settings,
                    args.dream_steps,
                    args.reps.clamp(1, 5),
                ))?;
                if !args.json {
                    let c = d.commands_per_step;
                    println!(
                        "{:<14} {:<9} {} dream steps (batch 1, 224x224): {:>9.1} ms ({:.3} ms/step)\n    \
                         per step: {} dispatches, {} passes, {} copies, {:.3} submits",
                        d.model,
                        d.conv,
                        d.steps,
                        d.loop_ms,
                        d.ms_per_step(),
                        c.dispatches,
                        c.passes,
                        c.copies,
                        c.submits
                    );
                }
                dreams.push(d);
            }
        }
    }
    if args.json {
        let out = serde_json::json!({
            "adapter": ctx.adapter_name(),
            "results": results,
            "conv_variants": variants,
            "linear_variants": linear,
            "dream": dreams,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("adapter: {}", ctx.adapter_name());
    }
    Ok(())
}

fn print_result(r: &BenchResult) {
    println!(
        "{:<14} {:<9} batch {:>3} {}x{}: forward {:>9.3} ms ({:>8.1} GFLOP/s) | forward + input gradient {:>9.3} ms ({:>8.1} GFLOP/s)",
        r.model,
        r.conv,
        r.batch,
        r.input.0,
        r.input.1,
        r.forward_ms,
        r.forward_gflops(),
        r.forward_backward_ms,
        r.forward_backward_gflops()
    );
    println!(
        "    commands: forward {} | forward + input gradient {}",
        r.forward_commands, r.forward_backward_commands
    );
    if !r.gpu_ms_per_kernel.is_empty() {
        let total: f64 = r.gpu_ms_per_kernel.values().sum();
        let parts: Vec<String> = r
            .gpu_ms_per_kernel
            .iter()
            .map(|(k, ms)| format!("{k} {ms:.3} ms ({:.0}%)", 100.0 * ms / total))
            .collect();
        println!(
            "    GPU time per kernel (one pass, timestamps): {}",
            parts.join(", ")
        );
    }
}

fn print_variants(variants: &[VariantResult]) {
    for v in variants {
        println!(
            "  {:<22} {:<22} {:>3}x{:<3} {:<34} fwd {:>8.3} ms {:>7.1} GFLOP/s err {:.1e} | bwd {:>8.3} ms {:>7.1} GFLOP/s err {:.1e}",
            v.layer,
            v.shape,
            v.input.0,
            v.input.1,
            v.algorithm,
            v.forward_ms,
            v.gflop / (v.forward_ms / 1e3),
            v.forward_error,
            v.backward_ms,
            v.gflop / (v.backward_ms / 1e3),
            v.backward_error
        );
    }
}
