//! Helpers shared by the integration tests: the GPU, the data folder, reference tensors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use netlens::{GpuContext, GpuOptions};

pub mod ops_reference;
pub mod tensors;

/// One GPU context per test binary (adapter from NETLENS_BACKEND / NETLENS_ADAPTER).
pub fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        pollster::block_on(GpuContext::new(&GpuOptions::from_env()))
            .expect("a GPU adapter (lavapipe will do)")
    })
}

/// The shared data folder: $NETLENS_DATA, else ../shared beside the checkout.
pub fn data_dir() -> PathBuf {
    netlens::app::data::data_dir()
}

/// A reference file's tensors as f32 (integer tensors converted), with shapes.
pub fn reference(file: &str) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let path = data_dir().join("reference").join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tensors::parse(&bytes)
}

// Not every test binary uses both.
#[allow(unused_imports)]
pub use netlens::bench::numerics::{pseudo_random as random, rel_l2};

/// Asserts a relative L2 error at most `tol`, naming what was compared.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_l2(got, want);
    assert!(e <= tol, "{what}: relative L2 error {e:.3e} > {tol:.0e}");
    eprintln!("{what}: relative L2 error {e:.3e}");
}

/// Records `dispatches` into one encoder, submits it and waits.
pub fn run(dispatches: &[netlens::gpu::Dispatch]) {
    let ctx = ctx();
    let mut encoder = ctx.encoder("test");
    netlens::gpu::record_all(&mut encoder, "test", dispatches);
    ctx.submit(encoder);
    ctx.wait().unwrap();
}

/// The whole buffer, as f32.
pub fn read(buffer: &wgpu::Buffer) -> Vec<f32> {
    pollster::block_on(ctx().read_all(buffer)).unwrap()
}

/// A storage buffer holding `data`.
pub fn upload(data: &[f32]) -> wgpu::Buffer {
    ctx().upload("test data", data).unwrap()
}

/// A tensor of `shape` holding `data`.
pub fn tensor_of(shape: [usize; 4], data: &[f32]) -> netlens::gpu::Tensor {
    netlens::gpu::Tensor::upload(ctx(), "test tensor", shape, data).unwrap()
}

/// A zero-filled tensor of `shape`.
pub fn zeros(shape: [usize; 4]) -> netlens::gpu::Tensor {
    netlens::gpu::Tensor::zeros(ctx(), "test tensor", shape).unwrap()
}
