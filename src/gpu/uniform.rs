//! Uniform blocks declared once, in Rust: the `#[repr(C)]` struct the host fills and its WGSL
//! declaration, which [`Shader::source`](crate::gpu::Shader::source) puts before the shaders
//! that read it.

/// Declares a uniform block: the Rust struct (`Pod`, `Zeroable`, `Default`) and `Name::WGSL`,
/// the same struct in WGSL. Fields are 4-byte scalars (`u32`, `i32`, `f32`), so the two layouts
/// agree field for field.
macro_rules! uniform_block {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ident ),* $(,)?
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
                $( "    ", stringify!($field), ": ", stringify!($ty), ",\n", )*
                "}\n"
            );
        }
    };
}

pub(crate) use uniform_block;

#[cfg(test)]
mod tests {
    uniform_block! {
        /// A block for the test.
        struct Example {
            /// A count.
            count: u32,
            rate: f32,
        }
    }

    #[test]
    fn the_wgsl_declaration_lists_the_fields_in_order() {
        assert_eq!(
            Example::WGSL,
            "struct Example {\n    count: u32,\n    rate: f32,\n}\n"
        );
        let example = Example {
            count: 3,
            ..Example::default()
        };
        assert_eq!(bytemuck::bytes_of(&example).len(), 8);
        assert_eq!(example.rate, 0.0);
    }
}
