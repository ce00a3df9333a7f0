//! Network architectures as lists of layers, with torchvision's state-dict names.

use crate::error::{Error, Result};
use crate::ops::conv::ConvGeometry;
use crate::ops::pool::MaxPoolGeometry;

/// One layer of a sequential network. Convolutions and linear layers carry the ReLU that follows
/// them in torchvision (it is fused into their kernels).
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Convolution with bias; `name` is the state-dict prefix (`features.0`).
    Conv {
        /// State-dict prefix of `.weight` and `.bias`.
        name: String,
        /// Kernel, stride, padding, channels.
        geometry: ConvGeometry,
        /// A ReLU follows.
        relu: bool,
    },
    /// Max pooling.
    MaxPool(MaxPoolGeometry),
    /// SqueezeNet's fire module: squeeze 1x1 + ReLU, then expand 1x1 and 3x3 (+ ReLU) concatenated.
    Fire {
        /// State-dict prefix (`features.3`), holding `squeeze`, `expand1x1`, `expand3x3`.
        name: String,
        /// Input channels.
        in_channels: usize,
        /// Squeeze channels.
        squeeze: usize,
        /// Expand 1x1 channels.
        expand1x1: usize,
        /// Expand 3x3 channels.
        expand3x3: usize,
    },
    /// A ReLU on its own (one that no convolution or linear layer absorbs).
    Relu,
    /// Adaptive average pooling to a fixed output size (1 x 1 is global pooling).
    AdaptiveAvgPool {
        /// Output height.
        out_h: usize,
        /// Output width.
        out_w: usize,
    },
    /// Fully connected layer with bias.
    Linear {
        /// State-dict prefix.
        name: String,
        /// Input features (the flattened C x H x W of its input).
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// A ReLU follows.
        relu: bool,
    },
    /// Dropout: the identity at inference, kept so the layer list reads like torchvision's.
    Dropout,
}

/// Shape of an activation: channels, height, width (per image; linear outputs are C x 1 x 1).
pub type Chw = [usize; 3];

impl Layer {
    /// The layer's name for messages and lookups: its state-dict prefix, or its kind.
    pub fn name(&self) -> &str {
        match self {
            Layer::Conv { name, .. } | Layer::Fire { name, .. } | Layer::Linear { name, .. } => {
                name
            }
            Layer::MaxPool(_) => "maxpool",
            Layer::Relu => "relu",
            Layer::AdaptiveAvgPool { .. } => "avgpool",
            Layer::Dropout => "dropout",
        }
    }

    /// The output shape for an input of shape `chw`, or an error naming the layer.
    pub fn output(&self, chw: Chw) -> Result<Chw> {
        let [c, h, w] = chw;
        let fail = |why: String| Error::InvalidInput(format!("layer {}: {why}", self.name()));
        let expect_channels = |want: usize| {
            if c == want {
                Ok(())
            } else {
                Err(fail(format!("expects {want} input channels, gets {c}")))
            }
        };
        Ok(match self {
            Layer::Conv { geometry, .. } => {
                expect_channels(geometry.in_channels)?;
                let (oh, ow) = geometry
                    .output_size(h, w)
                    .ok_or_else(|| fail(format!("a {h}x{w} input is smaller than the kernel")))?;
                [geometry.out_channels, oh, ow]
            }
            Layer::MaxPool(g) => {
                let (oh, ow) = g
                    .output_size(h, w)
                    .ok_or_else(|| fail(format!("a {h}x{w} input is smaller than the window")))?;
                [c, oh, ow]
            }
            Layer::Fire {
                in_channels,
                expand1x1,
                expand3x3,
                ..
            } => {
                expect_channels(*in_channels)?;
                [expand1x1 + expand3x3, h, w]
            }
            Layer::Relu | Layer::Dropout => chw,
            Layer::AdaptiveAvgPool { out_h, out_w } => [c, *out_h, *out_w],
            Layer::Linear {
                in_features,
                out_features,
                ..
            } => {
                if c * h * w != *in_features {
                    return Err(fail(format!(
                        "expects {in_features} input features, gets {}",
                        c * h * w
                    )));
                }
                [*out_features, 1, 1]
            }
        })
    }

    /// The convolutions of this layer (a fire module has three), with their state-dict prefixes.
    pub fn convolutions(&self) -> Vec<(String, ConvGeometry)> {
        match self {
            Layer::Conv { name, geometry, .. } => vec![(name.clone(), *geometry)],
            Layer::Fire {
                name,
                in_channels,
                squeeze,
                expand1x1,
                expand3x3,
            } => vec![
                (
                    format!("{name}.squeeze"),
                    ConvGeometry::new(*in_channels, *squeeze, 1, 1, 0),
                ),
                (
                    format!("{name}.expand1x1"),
                    ConvGeometry::new(*squeeze, *expand1x1, 1, 1, 0),
                ),
                (
                    format!("{name}.expand3x3"),
                    ConvGeometry::new(*squeeze, *expand3x3, 3, 1, 1),
                ),
            ],
            _ => Vec::new(),
        }
    }

    /// The parameter tensors this layer reads, in state-dict order: (name, shape).
    pub fn tensor_specs(&self) -> Vec<(String, Vec<usize>)> {
        let mut specs = Vec::new();
        for (name, g) in self.convolutions() {
            specs.push((format!("{name}.weight"), g.weight_shape().to_vec()));
            specs.push((format!("{name}.bias"), vec![g.out_channels]));
        }
        if let Layer::Linear {
            name,
            in_features,
            out_features,
            ..
        } = self
        {
            specs.push((format!("{name}.weight"), vec![*out_features, *in_features]));
            specs.push((format!("{name}.bias"), vec![*out_features]));
        }
        specs
    }

    /// Multiply-adds of this layer's forward pass for one image of input shape `chw`.
    pub fn macs(&self, chw: Chw) -> u64 {
        let [_, h, w] = chw;
        match self {
            Layer::Conv { geometry, .. } => geometry.macs(h, w),
            Layer::Fire { .. } => {
                let convs = self.convolutions();
                let squeeze = convs[0].1.macs(h, w);
                squeeze + convs[1..].iter().map(|(_, g)| g.macs(h, w)).sum::<u64>()
            }
            Layer::Linear {
                in_features,
                out_features,
                ..
            } => (in_features * out_features) as u64,
            _ => 0,
        }
    }
}

/// A sequential network: its layers, input channels and name.
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    /// The model's name (`squeezenet1_1`, `vgg16`, or a caller's).
    pub name: String,
    /// Input channels (3 for RGB).
    pub input_channels: usize,
    /// The layers in order; the last one's output is the logits.
    pub layers: Vec<Layer>,
}

fn conv(name: &str, in_c: usize, out_c: usize, kernel: usize, stride: usize, pad: usize) -> Layer {
    Layer::Conv {
        name: name.to_string(),
        geometry: ConvGeometry::new(in_c, out_c, kernel, stride, pad),
        relu: true,
    }
}

fn fire(index: usize, in_channels: usize, squeeze: usize, expand: usize) -> Layer {
    Layer::Fire {
        name: format!("features.{index}"),
        in_channels,
        squeeze,
        expand1x1: expand,
        expand3x3: expand,
    }
}

const CEIL_POOL: Layer = Layer::MaxPool(MaxPoolGeometry {
    kernel: 3,
    stride: 2,
    pad: 0,
    ceil_mode: true,
});

const HALVING_POOL: Layer = Layer::MaxPool(MaxPoolGeometry {
    kernel: 2,
    stride: 2,
    pad: 0,
    ceil_mode: false,
});

impl Arch {
    /// torchvision's `squeezenet1_1` for `classes` classes.
    pub fn squeezenet1_1(classes: usize) -> Self {
        Self {
            name: "squeezenet1_1".into(),
            input_channels: 3,
            layers: vec![
                conv("features.0", 3, 64, 3, 2, 0),
                CEIL_POOL,
                fire(3, 64, 16, 64),
                fire(4, 128, 16, 64),
                CEIL_POOL,
                fire(6, 128, 32, 128),
                fire(7, 256, 32, 128),
                CEIL_POOL,
                fire(9, 256, 48, 192),
                fire(10, 384, 48, 192),
                fire(11, 384, 64, 256),
                fire(12, 512, 64, 256),
                Layer::Dropout,
                conv("classifier.1", 512, classes, 1, 1, 0),
                Layer::AdaptiveAvgPool { out_h: 1, out_w: 1 },
            ],
        }
    }

    /// torchvision's `vgg16` (no batch norm) for `classes` classes.
    pub fn vgg16(classes: usize) -> Self {
        let mut layers = Vec::new();
        let mut index = 0;
        let mut in_c = 3;
        for (out_c, convs) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
            for _ in 0..convs {
                layers.push(conv(&format!("features.{index}"), in_c, out_c, 3, 1, 1));
                in_c = out_c;
                index += 2;
            }
            layers.push(HALVING_POOL);
            index += 1;
        }
        let linear =
            |name: &str, in_features: usize, out_features: usize, relu: bool| Layer::Linear {
                name: name.to_string(),
                in_features,
                out_features,
                relu,
            };
        layers.extend([
            Layer::AdaptiveAvgPool { out_h: 7, out_w: 7 },
            linear("classifier.0", 512 * 7 * 7, 4096, true),
            Layer::Dropout,
            linear("classifier.3", 4096, 4096, true),
            Layer::Dropout,
            linear("classifier.6", 4096, classes, false),
        ]);
        Self {
            name: "vgg16".into(),
            input_channels: 3,
            layers,
        }
    }

    /// Every parameter tensor, in state-dict order: (name, shape).
    pub fn tensor_specs(&self) -> Vec<(String, Vec<usize>)> {
        self.layers.iter().flat_map(Layer::tensor_specs).collect()
    }

    /// The activation shapes for an input of `h` x `w`: entry 0 is the input, entry i + 1 the
    /// output of layer i. Fails, naming the layer, when the input is too small.
    pub fn shapes(&self, (h, w): (usize, usize)) -> Result<Vec<Chw>> {
        let mut shapes = vec![[self.input_channels, h, w]];
        for layer in &self.layers {
            let next = layer.output(*shapes.last().unwrap())?;
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// Classes: the size of the last layer's output.
    pub fn classes(&self, hw: (usize, usize)) -> Result<usize> {
        let [c, h, w] = *self.shapes(hw)?.last().unwrap();
        Ok(c * h * w)
    }

    /// Multiply-adds of one forward pass over one image of `h` x `w`.
    pub fn macs(&self, hw: (usize, usize)) -> Result<u64> {
        let shapes = self.shapes(hw)?;
        Ok(self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, &s)| l.macs(s))
            .sum())
    }

    /// Bytes of the largest buffer (activation or gradient, a fire module's squeeze output
    /// included) one image needs at input size `hw`: a batch fits the device while batch * this
    /// stays within its storage binding limit.
    pub fn largest_buffer_per_image(&self, hw: (usize, usize)) -> Result<u64> {
        let shapes = self.shapes(hw)?;
        let squeezes = self
            .layers
            .iter()
            .zip(&shapes)
            .filter_map(|(layer, &[_, h, w])| {
                let Layer::Fire { squeeze, .. } = layer else {
                    return None;
                };
                Some(squeeze * h * w)
            });
        let largest = shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .chain(squeezes)
            .max()
            .unwrap_or(1);
        Ok(largest as u64 * 4)
    }

    /// The index of the layer whose name is `name`.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezenet_shapes_and_names() {
        let arch = Arch::squeezenet1_1(1000);
        let shapes = arch.shapes((224, 224)).unwrap();
        assert_eq!(shapes[1], [64, 111, 111]);
        assert_eq!(shapes[2], [64, 55, 55]);
        assert_eq!(shapes[12], [512, 13, 13]);
        assert_eq!(*shapes.last().unwrap(), [1000, 1, 1]);
        let specs = arch.tensor_specs();
        assert_eq!(specs.len(), 52);
        assert_eq!(specs[2].0, "features.3.squeeze.weight");
        assert_eq!(specs[51], ("classifier.1.bias".to_string(), vec![1000]));
        // 0.35 GMAC per 224 x 224 image, as usually quoted.
        let macs = arch.macs((224, 224)).unwrap();
        assert!((340_000_000..370_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn vgg16_shapes_and_names() {
        let arch = Arch::vgg16(1000);
        let specs = arch.tensor_specs();
        assert_eq!(specs.len(), 32);
        assert_eq!(specs[24].0, "features.28.weight");
        assert_eq!(specs[26].0, "classifier.0.weight");
        assert_eq!(
            specs[28],
            ("classifier.3.weight".to_string(), vec![4096, 4096])
        );
        assert_eq!(arch.classes((224, 224)).unwrap(), 1000);
        assert_eq!(arch.classes((64, 64)).unwrap(), 1000);
        let macs = arch.macs((224, 224)).unwrap();
        assert!((15_400_000_000..15_600_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn too_small_input_names_the_layer() {
        let err = Arch::vgg16(10).shapes((16, 16)).unwrap_err().to_string();
        assert!(err.contains("maxpool") && err.contains("1x1"), "{err}");
    }
}
