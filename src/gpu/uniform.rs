//! Uniform blocks declared once, in Rust: the `#[repr(C)]` struct the host fills and its WGSL
//! declaration, which [`Shader::source`](crate::gpu::Shader::source) puts before the shaders
//! that read it.

/// Declares a uniform block: the Rust struct (`Pod`, `Zeroable`, `Default`) and `Name::WGSL`,
/// the same struct in WGSL. Fields are 4-byte scalars (`u32`, `i32`, `f32`) or `[f32; 4]`
/// (WGSL's `vec4<f32>`); the build fails unless every field sits at an offset WGSL's alignment
/// allows (16 bytes for a vector), so the two layouts agree field for field.
macro_rules! uniform_block {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:tt ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $( $(#[$field_meta])* $field_vis $field: $ty ),*
        }

        impl $name {
            /// The block's declaration in WGSL.
            pub(crate) const WGSL: &'static str = concat!(
                "struct ", stringify!($name), " {\n",
                $( "    ", stringify!($field), ": ", $crate::gpu::uniform::wgsl_type!($ty), ",\n", )*
                "}\n"
            );
        }

        const _: () = {
            $( assert!(
                core::mem::offset_of!($name, $field) % $crate::gpu::uniform::wgsl_align!($ty) == 0,
                "a uniform field is not aligned as WGSL aligns it"
            ); )*
        };
    };
}

/// The WGSL spelling of a uniform field's Rust type.
macro_rules! wgsl_type {
    ([f32; 4]) => {
        "vec4<f32>"
    };
    ($scalar:ident) => {
        stringify!($scalar)
    };
}

/// The alignment in bytes WGSL gives a uniform field of this Rust type.
macro_rules! wgsl_align {
    ([f32; 4]) => {
        16
    };
    ($scalar:ident) => {
        4
    };
}

pub(crate) use {uniform_block, wgsl_align, wgsl_type};

#[cfg(test)]
mod tests {
    uniform_block! {
        /// A block for the test.
        struct Example {
            /// A count.
            count: u32,
            rate: f32,
            _pad0: u32,
            _pad1: u32,
            /// A vector.
            colour: [f32; 4],
        }
    }

    #[test]
    fn the_wgsl_declaration_lists_the_fields_in_order() {
        assert_eq!(
            Example::WGSL,
            "struct Example {\n    count: u32,\n    rate: f32,\n    _pad0: u32,\n    _pad1: u32,\n    colour: vec4<f32>,\n}\n"
        );
        let example = Example {
            count: 3,
            ..Example::default()
        };
        assert_eq!(bytemuck::bytes_of(&example).len(), 32);
        assert_eq!(example.rate, 0.0);
    }
}
