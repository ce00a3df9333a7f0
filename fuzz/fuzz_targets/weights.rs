//! Safetensors weights parsed from arbitrary bytes: every input gives weights or an error, never
//! a panic, and every tensor loaded holds as many values as its shape says.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use netlens::model::Weights;

fuzz_target!(|data: &[u8]| {
    let Ok(weights) = Weights::from_bytes(data, Path::new("fuzz.safetensors")) else {
        return;
    };
    for name in weights.names() {
        let tensor = weights.get(name).expect("a listed tensor exists");
        assert_eq!(
            tensor.data.len(),
            tensor.shape.iter().product::<usize>(),
            "tensor `{name}`"
        );
        let _ = weights.expect(name, &tensor.shape);
    }
});
