//! The GPU commands that a forward pass, a forward + input-gradient pass and a
//! class-visualization step record, counted as they are recorded and submitted, against counts
//! derived from the architecture.

mod common;

use common::ctx;
use netlens::bench::bench;
use netlens::dream::{DreamSettings, Objective, Request, Run, dream};
use netlens::gpu::CommandCounts;
use netlens::gpu::counts::count;
use netlens::model::{Arch, GradientRule, Layer, Network, Weights};

/// (forward, backward) dispatches of a layer of a network without linear layers.
fn layer_dispatches(layer: &Layer) -> (u64, u64) {
    match layer {
        // Convolution, bias and ReLU in one kernel; backward: the ReLU's mask of dy (when the
        // layer has one), then the input gradient.
        Layer::Conv { relu, .. } => (1, 1 + *relu as u64),
        // Squeeze and both expands; backward: the mask of the concatenation's gradient, the
        // two expands' input gradients (the 3x3 one applying the squeeze's ReLU as it adds the
        // last part), the squeeze's input gradient.
        Layer::Fire { .. } => (3, 4),
        Layer::MaxPool(_) | Layer::Relu | Layer::AdaptiveAvgPool { .. } => (1, 1),
        Layer::Dropout => (0, 0),
        Layer::Linear { .. } => panic!("linear layers split into row chunks per device"),
    }
}

/// Forward and backward dispatches of the whole network.
fn network_dispatches(arch: &Arch) -> (u64, u64) {
    arch.layers
        .iter()
        .map(layer_dispatches)
        .fold((0, 0), |(f, b), (lf, lb)| (f + lf, b + lb))
}

fn squeezenet() -> Network {
    let arch = Arch::squeezenet1_1(1000);
    let weights = Weights::formula(&arch.tensor_specs());
    Network::new(ctx(), arch, &weights).unwrap()
}

/// A forward pass is one compute pass of one dispatch per kernel the architecture needs, and a
/// forward + input gradient one compute pass too; `bench` reports those counts with the one
/// submission of each run.
#[test]
fn squeezenet_passes_record_one_compute_pass_each() {
    let net = squeezenet();
    let (forward, backward) = network_dispatches(net.arch());
    let plan = net.plan(1, (64, 64)).unwrap();
    let (_, recorded) = count(|| {
        let mut encoder = ctx().encoder("count");
        plan.record_forward(&mut encoder);
    });
    let one_pass = |dispatches| CommandCounts {
        dispatches,
        passes: 1,
        copies: 0,
        submits: 0,
    };
    assert_eq!(recorded, one_pass(forward));
    let (_, recorded) = count(|| {
        let mut encoder = ctx().encoder("count");
        plan.record_gradient(&mut encoder, GradientRule::Guided);
    });
    assert_eq!(recorded, one_pass(forward + backward));

    let r = pollster::block_on(bench(&net, 1, (64, 64), 0, 1)).unwrap();
    let submitted = |dispatches| CommandCounts {
        submits: 1,
        ..one_pass(dispatches)
    };
    assert_eq!(r.forward_commands, submitted(forward));
    assert_eq!(r.forward_backward_commands, submitted(forward + backward));
}

/// Commands of a class-visualization loop of `steps` steps, all in one submission.
fn dream_commands(net: &Network, steps: usize, blur_every: usize) -> CommandCounts {
    let mut request = Request::new(vec![Run {
        objective: Objective::Class(1),
        settings: DreamSettings {
            blur_every,
            ..DreamSettings::default()
        },
        label: "count".into(),
    }]);
    request.size = 64;
    request.iterations = steps;
    request.steps_per_submit = steps;
    let hidden = indicatif::ProgressBar::hidden();
    pollster::block_on(dream(net, &request, &hidden))
        .unwrap()
        .timing
        .commands
}

/// Each step is one copy (its schedule row) and one compute pass: the jitter roll, the whole
/// network forward and backward, the un-roll, the penalties, the gradient's norm, the step and
/// the clamp (6 dispatches besides the network's), and a two-dispatch separable blur when due.
#[test]
fn dream_step_is_one_copy_and_one_compute_pass() {
    let net = squeezenet();
    let (forward, backward) = network_dispatches(net.arch());
    let steps = 4;
    let plain = dream_commands(&net, steps, 0);
    assert_eq!(
        plain,
        CommandCounts {
            dispatches: steps as u64 * (forward + backward + 6),
            passes: steps as u64,
            copies: steps as u64,
            submits: 1,
        }
    );
    // Blurs after steps 2 and 4.
    let blurred = dream_commands(&net, steps, 2);
    assert_eq!(
        blurred,
        CommandCounts {
            dispatches: plain.dispatches + 2 * 2,
            ..plain
        }
    );
}
