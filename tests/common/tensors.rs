//! Reference tensors from the bytes of a safetensors file (no file access, so that the browser
//! tests can use it on embedded data too).

use std::collections::HashMap;

/// The file's tensors as f32 (integer tensors converted), with shapes, by name.
pub fn parse(bytes: &[u8]) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).expect("a safetensors file");
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => bytemuck::pod_collect_to_vec(view.data()),
                safetensors::Dtype::I64 => bytemuck::pod_collect_to_vec::<u8, i64>(view.data())
                    .into_iter()
                    .map(|v| v as f32)
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, (view.shape().to_vec(), data))
        })
        .collect()
}
