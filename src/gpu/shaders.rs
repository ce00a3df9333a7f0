//! The WGSL sources, embedded in the binary; one file per op family, compiled after the shared
//! helpers of `shaders/prelude.wgsl` and of the other shared files each one names.

/// The text of `shaders/prelude.wgsl` (the helpers several shaders share) followed by the named
/// files of `shaders/` (without extension), in order: one WGSL module. Module-scope declarations
/// may come in any order, so a shared file may use what the files after it declare.
macro_rules! wgsl {
    ($($file:literal),+) => {
        concat!(
            include_str!("../../shaders/prelude.wgsl"),
            $(include_str!(concat!("../../shaders/", $file, ".wgsl"))),+
        )
    };
}

/// A WGSL module: an op family's file of `shaders/` (or a file extending another), after the
/// shared files it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// Convolution forward and input gradient.
    Conv,
    /// 3×3 stride-1 convolution by Winograd F(2×2, 3×3), forward and input gradient.
    Winograd,
    /// Bias + ReLU forward and input gradient.
    Relu,
    /// Max and adaptive average pooling forward and input gradient.
    Pool,
    /// Fully connected layer forward and input gradient.
    Linear,
    /// `Linear` plus a forward reduced with subgroup operations (`linear.wgsl` followed by
    /// `linear_subgroups.wgsl`).
    LinearSubgroups,
    /// Per-image norms and update steps of the gradient loops.
    Update,
    /// Attribution maps: channel reduction, sampled methods, Grad-CAM.
    Saliency,
    /// Goal checks, loss seeds, sign steps, projections and momentum of the adversarial loops.
    Fooling,
    /// Class visualization: jitter, penalties, blur, Fourier image parameterization, resize.
    Dream,
    /// Bilinear resizing of image planes.
    Resample,
}

impl Shader {
    /// Every shader, for validation.
    pub const ALL: [Shader; 11] = [
        Shader::Conv,
        Shader::Winograd,
        Shader::Relu,
        Shader::Pool,
        Shader::Linear,
        Shader::LinearSubgroups,
        Shader::Update,
        Shader::Saliency,
        Shader::Fooling,
        Shader::Dream,
        Shader::Resample,
    ];

    /// The file name without extension.
    pub fn name(self) -> &'static str {
        match self {
            Shader::Conv => "conv",
            Shader::Winograd => "winograd",
            Shader::Relu => "relu",
            Shader::Pool => "pool",
            Shader::Linear => "linear",
            Shader::LinearSubgroups => "linear_subgroups",
            Shader::Update => "update",
            Shader::Saliency => "saliency",
            Shader::Fooling => "fooling",
            Shader::Dream => "dream",
            Shader::Resample => "resample",
        }
    }

    /// Whether the shader is compiled without runtime bounds checks. Every index of these
    /// shaders is guarded in the WGSL against the sizes in its parameters, and the Rust side
    /// builds a dispatch only over buffers that hold those sizes (`Tensor::check_capacity`).
    /// `NETLENS_SHADER_CHECKS=1` turns the checks back on for all shaders.
    pub fn trusted(self) -> bool {
        matches!(
            self,
            Shader::Conv
                | Shader::Winograd
                | Shader::Relu
                | Shader::Pool
                | Shader::Linear
                | Shader::LinearSubgroups
        )
    }

    /// The WGSL source: the declarations of the uniform blocks the shader reads (declared in
    /// Rust with `uniform_block!`), `shaders/prelude.wgsl`, then the
    /// shader's files, read as one module.
    pub fn source(self) -> String {
        let mut source: String = self.uniform_blocks().concat();
        source.push_str(self.files());
        source
    }

    /// The WGSL declarations of the uniform blocks declared in Rust that the shader reads.
    fn uniform_blocks(self) -> &'static [&'static str] {
        use crate::{dream, fooling, ops, saliency, update};
        match self {
            Shader::Conv => &[ops::conv::ConvParams::WGSL],
            Shader::Winograd => &[ops::conv::winograd::WinogradParams::WGSL],
            Shader::Relu => &[ops::relu::ReluParams::WGSL],
            Shader::Pool => &[ops::pool::PoolParams::WGSL],
            Shader::Linear | Shader::LinearSubgroups => &[ops::linear::LinearParams::WGSL],
            Shader::Update => &[update::UpdateParams::WGSL],
            Shader::Resample => &[ops::resample::ResampleParams::WGSL],
            Shader::Dream => &[
                dream::kernels::PixelParams::WGSL,
                dream::fourier::MatmulParams::WGSL,
                dream::fourier::PlaneParams::WGSL,
                dream::fourier::ColourParams::WGSL,
                dream::diversity::GramParams::WGSL,
            ],
            Shader::Fooling => &[
                fooling::kernels::LogitsParams::WGSL,
                fooling::kernels::ImageParams::WGSL,
            ],
            Shader::Saliency => &[
                saliency::kernels::AttributionParams::WGSL,
                saliency::kernels::CamParams::WGSL,
                saliency::kernels::SampleParams::WGSL,
                saliency::kernels::PerturbParams::WGSL,
            ],
        }
    }

    /// `shaders/prelude.wgsl` and the shader's files.
    fn files(self) -> &'static str {
        match self {
            Shader::Conv => wgsl!("layer_bindings", "relu_backward", "conv"),
            Shader::Winograd => wgsl!("layer_bindings", "relu_backward", "winograd"),
            Shader::Relu => wgsl!("relu"),
            Shader::Pool => wgsl!("pool"),
            Shader::Linear => wgsl!("layer_bindings", "linear"),
            // Appended to linear.wgsl, whose declarations and helpers it uses.
            Shader::LinearSubgroups => wgsl!("layer_bindings", "linear", "linear_subgroups"),
            Shader::Update => wgsl!("workgroup_sum", "image_batch", "update"),
            Shader::Saliency => wgsl!("bilinear", "saliency"),
            Shader::Fooling => wgsl!("workgroup_sum", "image_batch", "fooling"),
            Shader::Dream => wgsl!("workgroup_sum", "dream"),
            Shader::Resample => wgsl!("bilinear", "resample"),
        }
    }

    /// The device features the shader needs beyond WebGPU's defaults.
    pub fn required_features(self) -> wgpu::Features {
        match self {
            Shader::LinearSubgroups => wgpu::Features::SUBGROUP,
            _ => wgpu::Features::empty(),
        }
    }

    /// The naga capabilities matching [`Shader::required_features`].
    fn capabilities(self) -> naga::valid::Capabilities {
        if self.required_features().contains(wgpu::Features::SUBGROUP) {
            naga::valid::Capabilities::SUBGROUP
        } else {
            naga::valid::Capabilities::empty()
        }
    }
}

/// Parses and validates a shader with naga, as wgpu does before compiling it.
pub fn validate(shader: Shader) -> Result<naga::valid::ModuleInfo, String> {
    let source = shader.source();
    let module = naga::front::wgsl::parse_str(&source).map_err(|e| e.emit_to_string(&source))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), shader.capabilities())
        .validate(&module)
        .map_err(|e| e.emit_to_string(&source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_passes_naga_validation() {
        for shader in Shader::ALL {
            if let Err(e) = validate(shader) {
                panic!(
                    "{shader:?} (shaders/{}.wgsl after the shared files) is invalid:\n{e}",
                    shader.name()
                );
            }
        }
    }

    /// Browsers' WGSL compilers refuse a decimal literal that rounds to a value above f32::MAX
    /// (`3.4028235e38`, say), which naga accepts: every decimal float literal must be below it.
    #[test]
    fn decimal_float_literals_are_representable_in_f32() {
        for shader in Shader::ALL {
            let source = shader.source();
            let literals = source
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-'))
                .filter(|t| t.contains('e') && t.contains('.') && !t.contains("0x"))
                .filter_map(|t| t.trim_start_matches(['-', '+']).parse::<f64>().ok());
            for value in literals {
                assert!(
                    value <= f32::MAX as f64,
                    "{shader:?} has the literal {value:e}, above f32::MAX"
                );
            }
        }
    }

    #[test]
    fn every_shader_file_is_compiled() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
        let files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
        for file in &files {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert!(
                Shader::ALL.iter().any(|s| s.source().contains(&text)),
                "shaders/{file} is part of no shader"
            );
        }
        for shader in Shader::ALL {
            let file = format!("{}.wgsl", shader.name());
            assert!(
                files.contains(&file),
                "{shader:?} has no file shaders/{file}"
            );
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert!(
                shader.source().ends_with(&text),
                "{shader:?} does not end with {file}"
            );
        }
    }
}
