//! A network's weights on the GPU, and plans: the buffers and dispatches of a forward and an
//! input-gradient pass for one batch size and input size, recorded into the caller's encoder.

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, GpuContext, StepOp, Tensor, record_all};
use crate::model::arch::{Arch, Chw, Layer};
use crate::model::weights::Weights;
use crate::ops::BackwardMode;
use crate::ops::conv::{BackwardIo, Conv2d, ConvAlgorithm, ReluMask};
use crate::ops::fire::{Fire, FireTensors};
use crate::ops::linear::Linear;
use crate::ops::pool::{AdaptiveAvgPool, MaxPool, MaxPoolGeometry};
use crate::ops::relu::BiasRelu;

/// A layer's GPU objects.
#[derive(Debug)]
enum GpuLayer {
    Conv(Conv2d),
    Fire(Box<Fire>),
    MaxPool(MaxPoolGeometry),
    Relu(BiasRelu),
    AvgPool((usize, usize)),
    Linear(Linear),
    Identity,
}

/// What a layer records into a plan: its input and output slots (values and gradients) and the
/// buffers layers share.
struct LayerIo<'a> {
    ctx: &'a GpuContext,
    /// Names the layer's buffers in errors.
    what: &'a str,
    input: &'a Slot,
    output: &'a Slot,
    /// Scratch as large as the largest tensor: a gradient masked by a ReLU.
    masked: &'a wgpu::Buffer,
    /// A plain ReLU, for masking gradients.
    relu: &'a BiasRelu,
}

/// A layer's dispatches in a plan: the forward, and the backward under each [`GradientRule`].
type Recorded = (Vec<Dispatch>, [Vec<Dispatch>; 2]);

impl GpuLayer {
    /// The layer's forward and backward dispatches over the slots of `io`.
    fn record(&self, io: &LayerIo<'_>) -> Result<Recorded> {
        let ctx = io.ctx;
        let (x, y) = (&io.input.value, &io.output.value);
        let (dx, dy) = (&io.input.grad, &io.output.grad);
        // The scratch seen as the output's shape: dy masked by a ReLU.
        let masked = Tensor::over(io.masked.clone(), y.shape)?;
        // The gradient a conv or linear layer's backward reads: dy masked once by the layer's
        // ReLU into `masked` (that dispatch pushed to `d`), or dy itself.
        let masked_dy = |has_relu: bool, mode, d: &mut Vec<Dispatch>| -> Result<&Tensor> {
            if has_relu {
                d.push(io.relu.backward(ctx, dy, y, &masked, mode)?);
                Ok(&masked)
            } else {
                Ok(dy)
            }
        };
        let per_rule = |backward: &dyn Fn(BackwardMode) -> Result<Vec<Dispatch>>| {
            Ok::<_, Error>([
                backward(GradientRule::Plain.mode())?,
                backward(GradientRule::Guided.mode())?,
            ])
        };
        Ok(match self {
            GpuLayer::Conv(conv) => (
                vec![conv.forward(ctx, x, y)?],
                per_rule(&|mode| {
                    let mut d = Vec::new();
                    let dz = masked_dy(conv.relu(), mode, &mut d)?;
                    let io = BackwardIo {
                        dy: dz.into(),
                        dx,
                        mask: ReluMask::None,
                        mode,
                    };
                    d.push(conv.backward_input(ctx, io)?);
                    Ok(d)
                })?,
            ),
            GpuLayer::Fire(fire) => {
                let [batch, _, h, w] = x.shape;
                let squeezed = Slot::new(
                    ctx,
                    &format!("{} squeeze", io.what),
                    [batch, fire.squeeze.geometry().out_channels, h, w],
                )?;
                let tensors = FireTensors {
                    x,
                    dx,
                    squeezed: (&squeezed.value, &squeezed.grad),
                    y,
                    dy,
                    masked: &masked,
                };
                (
                    fire.forward(ctx, &tensors)?,
                    per_rule(&|mode| fire.backward_input(ctx, &tensors, io.relu, mode))?,
                )
            }
            GpuLayer::MaxPool(geometry) => {
                let pool = MaxPool {
                    geometry: *geometry,
                };
                let argmax = ctx.storage(&format!("{} argmax", io.what), y.len())?;
                (
                    vec![pool.forward(ctx, x, y, &argmax)?],
                    per_rule(&|mode| Ok(vec![pool.backward(ctx, dy, &argmax, dx, mode)?]))?,
                )
            }
            GpuLayer::Relu(relu) => (
                vec![relu.forward(ctx, x, y)?],
                per_rule(&|mode| Ok(vec![relu.backward(ctx, dy, y, dx, mode)?]))?,
            ),
            GpuLayer::AvgPool(out_hw) => {
                let pool = AdaptiveAvgPool { out_hw: *out_hw };
                (
                    vec![pool.forward(ctx, x, y)?],
                    per_rule(&|mode| Ok(vec![pool.backward(ctx, dy, dx, mode)?]))?,
                )
            }
            GpuLayer::Linear(linear) => (
                linear.forward(ctx, x, y)?,
                per_rule(&|mode| {
                    let mut d = Vec::new();
                    let dz = masked_dy(linear.relu(), mode, &mut d)?;
                    d.extend(linear.backward_input(ctx, dz, dx, mode)?);
                    Ok(d)
                })?,
            ),
            GpuLayer::Identity => (Vec::new(), [Vec::new(), Vec::new()]),
        })
    }
}

/// How the input gradient treats ReLUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradientRule {
    /// The true gradient.
    #[default]
    Plain,
    /// Guided backpropagation: ReLUs also drop negative incoming gradients.
    Guided,
}

impl GradientRule {
    fn mode(self) -> BackwardMode {
        BackwardMode {
            accumulate: false,
            guided: self == GradientRule::Guided,
        }
    }
}

/// A network with its weights uploaded to the GPU.
#[derive(Debug)]
pub struct Network {
    ctx: GpuContext,
    arch: Arch,
    layers: Vec<GpuLayer>,
    conv_algorithm: ConvAlgorithm,
}

/// The weight and bias of `prefix`, which the caller has checked for presence, shape and
/// finite values (each tensor is scanned once).
fn weight_and_bias<'w>(weights: &'w Weights, prefix: &str) -> (&'w [f32], &'w [f32]) {
    let data = |suffix: &str| {
        weights
            .get(&format!("{prefix}.{suffix}"))
            .map(|t| t.data.as_slice())
            .expect("weights are checked before they are read")
    };
    (data("weight"), data("bias"))
}

impl Network {
    /// Uploads `weights` for `arch`. Every tensor the architecture needs is checked for presence,
    /// shape and finiteness first; an error names the tensor.
    pub fn new(ctx: &GpuContext, arch: Arch, weights: &Weights) -> Result<Self> {
        Self::with_conv_algorithm(ctx, arch, weights, ConvAlgorithm::default())
    }

    /// [`Network::new`] with every convolution computed by `conv_algorithm`.
    pub fn with_conv_algorithm(
        ctx: &GpuContext,
        arch: Arch,
        weights: &Weights,
        conv_algorithm: ConvAlgorithm,
    ) -> Result<Self> {
        let specs = arch.tensor_specs();
        for (name, shape) in &specs {
            if let Err(mut e) = weights.expect(name, shape) {
                if let Error::MissingTensor { hint, .. } = &mut e {
                    let missing = specs.iter().filter(|(n, _)| weights.get(n).is_none());
                    let count = missing.count();
                    if count > 1 {
                        hint.push_str(&format!(
                            "; {count} of the {} tensors of {} are missing (weights of another \
                             model?)",
                            specs.len(),
                            arch.name
                        ));
                    }
                }
                return Err(e);
            }
        }
        let conv = |name: &str, g: crate::ops::conv::ConvGeometry, relu: bool| -> Result<Conv2d> {
            let (w, b) = weight_and_bias(weights, name);
            Conv2d::with_algorithm(ctx, name, g, w, b, relu, conv_algorithm)
        };
        let layers = arch
            .layers
            .iter()
            .map(|layer| {
                Ok(match layer {
                    Layer::Conv {
                        name,
                        geometry,
                        relu,
                    } => GpuLayer::Conv(conv(name, *geometry, *relu)?),
                    Layer::Fire { .. } => {
                        let convs = layer.convolutions();
                        GpuLayer::Fire(Box::new(Fire {
                            squeeze: conv(&convs[0].0, convs[0].1, true)?,
                            expand1x1: conv(&convs[1].0, convs[1].1, true)?,
                            expand3x3: conv(&convs[2].0, convs[2].1, true)?,
                        }))
                    }
                    Layer::MaxPool(g) => GpuLayer::MaxPool(*g),
                    Layer::Relu => GpuLayer::Relu(BiasRelu::new(ctx, 1, None)?),
                    Layer::AdaptiveAvgPool { out_h, out_w } => GpuLayer::AvgPool((*out_h, *out_w)),
                    Layer::Linear { name, relu, .. } => {
                        let (w, b) = weight_and_bias(weights, name);
                        GpuLayer::Linear(Linear::new(ctx, name, w, b, *relu)?)
                    }
                    Layer::Dropout => GpuLayer::Identity,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            ctx: ctx.clone(),
            arch,
            layers,
            conv_algorithm,
        })
    }

    /// The algorithm computing the convolutions.
    pub fn conv_algorithm(&self) -> ConvAlgorithm {
        self.conv_algorithm
    }

    /// The architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The GPU context the network lives on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Replaces the parameters of layer `index` with those in `weights` (same names and shapes),
    /// in place: plans made earlier use the new values.
    pub fn set_layer_weights(&self, index: usize, weights: &Weights) -> Result<()> {
        let layer = &self.arch.layers[index];
        for (name, shape) in layer.tensor_specs() {
            weights.expect(&name, &shape)?;
        }
        let set_conv = |conv: &Conv2d, name: &str| {
            let (w, b) = weight_and_bias(weights, name);
            conv.set_weights(&self.ctx, w, b);
        };
        match &self.layers[index] {
            GpuLayer::Conv(c) => set_conv(c, layer.name()),
            GpuLayer::Fire(fire) => {
                let names = layer.convolutions();
                set_conv(&fire.squeeze, &names[0].0);
                set_conv(&fire.expand1x1, &names[1].0);
                set_conv(&fire.expand3x3, &names[2].0);
            }
            GpuLayer::Linear(l) => {
                let (w, b) = weight_and_bias(weights, layer.name());
                l.set_weights(&self.ctx, w, b);
            }
            _ => {}
        }
        Ok(())
    }

    /// The largest batch whose every buffer fits one storage binding at input size `hw`.
    pub fn max_batch(&self, hw: (usize, usize)) -> Result<usize> {
        Ok((self.ctx.max_binding() / self.arch.largest_buffer_per_image(hw)?) as usize)
    }

    /// Buffers and dispatches for `batch` images of `hw`.
    pub fn plan(&self, batch: usize, hw: (usize, usize)) -> Result<Plan> {
        Plan::new(self, batch, hw)
    }
}

/// An activation and its gradient.
#[derive(Clone, Debug)]
struct Slot {
    value: Tensor,
    grad: Tensor,
}

impl Slot {
    /// Zeroed value and gradient tensors of `shape`, named after `what`.
    fn new(ctx: &GpuContext, what: &str, shape: [usize; 4]) -> Result<Self> {
        Ok(Self {
            value: Tensor::zeros(ctx, &format!("{what} output"), shape)?,
            grad: Tensor::zeros(ctx, &format!("{what} gradient"), shape)?,
        })
    }
}

/// The buffers and dispatches of one network for one batch size and input size. Recording a
/// forward and a backward pass costs only the dispatch calls: nothing is allocated per step.
#[derive(Debug)]
pub struct Plan {
    ctx: GpuContext,
    batch: usize,
    hw: (usize, usize),
    /// slots[0] is the input, slots[i + 1] the output of layer i.
    slots: Vec<Slot>,
    forward: Vec<Vec<Dispatch>>,
    backward: [Vec<Vec<Dispatch>>; 2],
}

impl Plan {
    fn new(net: &Network, batch: usize, hw: (usize, usize)) -> Result<Self> {
        if batch == 0 {
            return Err(Error::InvalidInput(
                "a plan needs a batch of at least one image".into(),
            ));
        }
        let ctx = &net.ctx;
        let shapes = net.arch.shapes(hw)?;
        let slot = |what: String, [c, h, w]: Chw| Slot::new(ctx, &what, [batch, c, h, w]);
        let mut slots = vec![slot("input".into(), shapes[0])?];
        // A convolution's ReLU is applied to its output gradient once per tensor, into this
        // buffer, and its input-gradient kernel reads the result: one read per tap instead of
        // two (dy and y). One buffer, as large as the largest tensor, serves every layer. It is
        // made after the first layer's output, the largest tensor of SqueezeNet and VGG16, so
        // that a batch too large for the device is reported on that tensor.
        let masked_len = batch * (net.arch.largest_buffer_per_image(hw)? / 4) as usize;
        let mut masked = None;
        let relu = BiasRelu::new(ctx, 1, None)?;
        let mut forward = Vec::new();
        let mut backward: [Vec<Vec<Dispatch>>; 2] = [Vec::new(), Vec::new()];
        for (i, (layer, gpu)) in net.arch.layers.iter().zip(&net.layers).enumerate() {
            let what = format!("layer {i} ({})", layer.name());
            let input = slots[i].clone();
            let output = match gpu {
                GpuLayer::Identity => input.clone(),
                _ => slot(what.clone(), shapes[i + 1])?,
            };
            if masked.is_none() {
                masked = Some(ctx.storage("ReLU-masked gradient", masked_len)?);
            }
            let io = LayerIo {
                ctx,
                what: &what,
                input: &input,
                output: &output,
                masked: masked.as_ref().unwrap(),
                relu: &relu,
            };
            let (layer_forward, [plain, guided]) = gpu.record(&io)?;
            forward.push(layer_forward);
            backward[GradientRule::Plain as usize].push(plain);
            backward[GradientRule::Guided as usize].push(guided);
            slots.push(output);
        }
        Ok(Self {
            ctx: ctx.clone(),
            batch,
            hw,
            slots,
            forward,
            backward,
        })
    }

    /// Images per pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Input height and width.
    pub fn input_size(&self) -> (usize, usize) {
        self.hw
    }

    /// The input images [batch, 3, h, w], normalized.
    pub fn input(&self) -> &Tensor {
        &self.slots[0].value
    }

    /// The gradient with respect to the input, written by a backward pass.
    pub fn input_grad(&self) -> &Tensor {
        &self.slots[0].grad
    }

    /// The logits [batch, classes, 1, 1], written by a forward pass.
    pub fn logits(&self) -> &Tensor {
        &self.slots.last().unwrap().value
    }

    /// The gradient on the logits a backward pass starts from; fill it before recording one.
    pub fn logits_grad(&self) -> &Tensor {
        &self.slots.last().unwrap().grad
    }

    /// The output of layer `index` (see [`Arch::layers`]).
    pub fn activation(&self, index: usize) -> &Tensor {
        &self.slots[index + 1].value
    }

    /// The gradient with respect to the output of layer `index`; a backward pass fills it, or a
    /// caller seeds it before [`Plan::record_backward_from`] that layer.
    pub fn activation_grad(&self, index: usize) -> &Tensor {
        &self.slots[index + 1].grad
    }

    /// The forward pass's dispatches, in order.
    pub fn forward_dispatches(&self) -> impl Iterator<Item = &Dispatch> {
        self.forward.iter().flatten()
    }

    /// The backward pass's dispatches (logits to input), in order.
    pub fn backward_dispatches(&self, rule: GradientRule) -> impl Iterator<Item = &Dispatch> {
        self.backward_dispatches_from(self.forward.len() - 1, rule)
    }

    /// The forward pass's dispatches from the input to the output of layer `index`, in order.
    pub fn forward_dispatches_to(&self, index: usize) -> impl Iterator<Item = &Dispatch> {
        self.forward[..=index].iter().flatten()
    }

    /// The backward pass's dispatches from the gradient of layer `index`'s output to the
    /// input's, in order.
    pub fn backward_dispatches_from(
        &self,
        index: usize,
        rule: GradientRule,
    ) -> impl Iterator<Item = &Dispatch> {
        self.backward[rule as usize][..=index]
            .iter()
            .rev()
            .flatten()
    }

    /// The forward pass (input -> logits) as one compute pass of a loop's step.
    pub fn forward_op(&self) -> StepOp {
        StepOp::Pass("forward", self.forward_dispatches().cloned().collect())
    }

    /// The forward pass from the input to the output of layer `index` as one compute pass of a
    /// loop's step.
    pub fn forward_op_to(&self, index: usize) -> StepOp {
        StepOp::Pass(
            "forward",
            self.forward_dispatches_to(index).cloned().collect(),
        )
    }

    /// The backward pass (logits' gradient -> input's) as one compute pass of a loop's step.
    pub fn backward_op(&self, rule: GradientRule) -> StepOp {
        StepOp::Pass(
            "backward",
            self.backward_dispatches(rule).cloned().collect(),
        )
    }

    /// Records the forward pass: input -> logits.
    pub fn record_forward(&self, encoder: &mut wgpu::CommandEncoder) {
        record_all(encoder, "forward", self.forward_dispatches());
    }

    /// Records the forward pass from the input to the output of layer `index` only.
    pub fn record_forward_to(&self, encoder: &mut wgpu::CommandEncoder, index: usize) {
        record_all(encoder, "forward", self.forward_dispatches_to(index));
    }

    /// Records the forward pass and the backward pass from the logits' gradient to the input's,
    /// in one compute pass.
    pub fn record_gradient(&self, encoder: &mut wgpu::CommandEncoder, rule: GradientRule) {
        let backward = self.backward_dispatches(rule);
        record_all(
            encoder,
            "forward and backward",
            self.forward_dispatches().chain(backward),
        );
    }

    /// Records the backward pass from the logits' gradient to the input's.
    pub fn record_backward(&self, encoder: &mut wgpu::CommandEncoder, rule: GradientRule) {
        self.record_backward_from(encoder, self.forward.len() - 1, rule);
    }

    /// Records the backward pass from the gradient of layer `index`'s output to the input's.
    pub fn record_backward_from(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        index: usize,
        rule: GradientRule,
    ) {
        record_all(
            encoder,
            "backward",
            self.backward_dispatches_from(index, rule),
        );
    }

    /// Records the backward pass from the logits' gradient down to the gradient of layer
    /// `index`'s output ([`Plan::activation_grad`]) and no further.
    pub fn record_backward_to(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        index: usize,
        rule: GradientRule,
    ) {
        let layers = &self.backward[rule as usize][index + 1..];
        record_all(encoder, "backward", layers.iter().rev().flatten());
    }

    /// Uploads `input`, runs the forward pass and returns the logits.
    pub async fn forward(&self, input: &[f32]) -> Result<Vec<f32>> {
        self.input().write(&self.ctx, input)?;
        let mut encoder = self.ctx.encoder("forward");
        self.record_forward(&mut encoder);
        self.ctx.submit(encoder);
        self.logits().read(&self.ctx).await
    }

    /// Uploads `input` and the logits' gradient, runs forward and backward in one compute pass
    /// and returns (logits, input gradient).
    pub async fn gradient(
        &self,
        input: &[f32],
        logits_grad: &[f32],
        rule: GradientRule,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.input().write(&self.ctx, input)?;
        self.logits_grad().write(&self.ctx, logits_grad)?;
        let mut encoder = self.ctx.encoder("forward and backward");
        self.record_gradient(&mut encoder, rule);
        self.ctx.submit(encoder);
        Ok((
            self.logits().read(&self.ctx).await?,
            self.input_grad().read(&self.ctx).await?,
        ))
    }
}
