//! Benchmarks: timing of whole forward and forward + input-gradient passes (`passes`) and of
//! class-visualization steps (`dream`), the kernel variants harnesses (`variants`), on the
//! submission timer of `timing`; `numerics` holds the error measure and the pseudo-random
//! inputs that the harnesses and the tests share.

mod dream;
pub mod numerics;
mod passes;
mod timing;
mod variants;

pub use dream::{DreamBench, dream_steps};
pub use passes::{BenchResult, bench, check_batch, profile};
pub use timing::{check_reps, median, time_submissions};
pub use variants::{VariantResult, conv_variants, linear_variants};
