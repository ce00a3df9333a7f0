//! Host-side weight tensors: loaded from safetensors files (F32, F16, BF16 or F64, converted to
//! f32) or generated (the deterministic formula weights of the VGG16 reference, seeded random
//! weights for small test networks).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use sha2::{Digest, Sha256};

#[cfg(feature = "cli")]
use crate::app::input_file::{SizeLimit, read_limited};
use crate::error::{Error, Result};
use crate::hash::splitmix64;

/// The largest weights file read: room for VGG16 stored in F64 (1056 MiB), the largest file of a
/// supported network.
#[cfg(feature = "cli")]
const WEIGHTS_FILE_LIMIT: SizeLimit = SizeLimit {
    bytes: 1536 << 20,
    what: "weights files (VGG16 stored as F64 takes 1056 MiB)",
};

/// One tensor in host memory: its shape and its elements in row-major order.
#[derive(Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl fmt::Debug for HostTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self.data[..self.data.len().min(3)];
        write!(f, "HostTensor {{ shape: {:?}, data: {head:?}", self.shape)?;
        if self.data.len() > head.len() {
            write!(f, " … ({} elements)", self.data.len())?;
        }
        write!(f, " }}")
    }
}

/// A named set of tensors (state-dict keys such as `features.0.weight`) and where they came from.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: BTreeMap<String, HostTensor>,
    source: String,
    sha256: Option<String>,
}

impl Weights {
    /// Reads a safetensors file; F32, F16, BF16 and F64 tensors are converted to f32. Only a
    /// regular file of at most 1536 MiB is read (see [`read_limited`]).
    #[cfg(feature = "cli")]
    pub fn load(path: &Path) -> Result<Weights> {
        let bytes = read_limited(path, WEIGHTS_FILE_LIMIT).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Weights::from_bytes(&bytes, path)
    }

    /// Parses the bytes of a safetensors file; `path` only names the file in errors and in
    /// [`Weights::source`].
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Weights> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| Error::WeightsFile {
            path: path.to_path_buf(),
            reason: describe_format_error(bytes, &e),
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.iter() {
            let data =
                to_f32(view.dtype(), view.data()).ok_or_else(|| Error::UnsupportedDtype {
                    weights: format!("weights file {}", path.display()),
                    name: name.to_string(),
                    dtype: view.dtype().to_string(),
                })?;
            let shape = view.shape().to_vec();
            tensors.insert(name.to_string(), HostTensor { shape, data });
        }
        if let Some(reason) = constant_weights(&tensors) {
            return Err(Error::WeightsFile {
                path: path.to_path_buf(),
                reason,
            });
        }
        Ok(Weights {
            tensors,
            source: path.display().to_string(),
            sha256: Some(hex_sha256(bytes)),
        })
    }

    /// Where the tensors came from: the file path, `"formula"`, `"random"`, or `""` for a set
    /// built with [`Weights::default`] and [`Weights::insert`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Lower-case hex sha256 of the file's bytes, when the weights were read from a file.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// Adds (or replaces) a tensor.
    ///
    /// # Panics
    /// When `data.len()` is not the product of `shape`.
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) {
        let name = name.into();
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor `{name}`: shape {shape:?} does not match {} elements",
            data.len()
        );
        self.tensors.insert(name, HostTensor { shape, data });
    }

    /// The tensor called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&HostTensor> {
        self.tensors.get(name)
    }

    /// The tensor names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// What errors call these weights: `weights file PATH`, `formula weights`, `random
    /// weights`, or `weights` for a set built by hand.
    pub fn describe(&self) -> String {
        match self.source.as_str() {
            "" => "weights".to_string(),
            "formula" | "random" => format!("{} weights", self.source),
            path => format!("weights file {path}"),
        }
    }

    /// The elements of tensor `name`, checked to exist, to have exactly `shape` and to be finite.
    /// Errors name the weights (file), the tensor and the shapes; a missing tensor comes with the
    /// closest name in the set when there is a plausible one.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&[f32]> {
        let tensor = self.get(name).ok_or_else(|| Error::MissingTensor {
            weights: self.describe(),
            name: name.to_string(),
            expected: shape.to_vec(),
            hint: self.missing_hint(name),
        })?;
        if tensor.shape != shape {
            return Err(Error::ShapeMismatch {
                weights: self.describe(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: tensor.shape.clone(),
            });
        }
        if let Some((index, &value)) = tensor.data.iter().enumerate().find(|(_, v)| !v.is_finite())
        {
            return Err(Error::NonFiniteWeight {
                weights: self.describe(),
                name: name.to_string(),
                index,
                value,
            });
        }
        Ok(&tensor.data)
    }

    /// A hint for a missing tensor, starting with "; ": the name that ends with it (a model
    /// saved inside a wrapper), else a name a couple of edits away (names that differ only in
    /// their numbers are other layers, not typos), else how many tensors there are.
    fn missing_hint(&self, missing: &str) -> String {
        let suffix = format!(".{missing}");
        if let Some(name) = self.names().find(|n| n.ends_with(&suffix)) {
            let prefix = &name[..name.len() - missing.len()];
            return format!("; it has `{name}`: strip the prefix `{prefix}` from the key names");
        }
        let digits = |s: &str| {
            let mut out = String::new();
            for c in s.chars() {
                if !c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('#') {
                    out.push('#');
                }
            }
            out
        };
        let closest = self
            .names()
            .filter(|n| digits(n) != digits(missing))
            .map(|n| (strsim::levenshtein(n, missing), n))
            .min();
        match closest {
            Some((edits, name)) if edits <= 2.max(missing.len() / 10) => {
                format!("; did you mean `{name}`?")
            }
            _ => format!("; the set holds {} other tensors", self.len()),
        }
    }

    /// The deterministic "formula weights" of the VGG16 whole-network reference (see the data
    /// README): tensor `t` (position in `specs`), element `j` (row-major) is
    /// `s = 2·(splitmix64((t << 40) + j) >> 40) / 2^24 − 1`, times 0.01 for a tensor whose name ends
    /// with `bias` and `sqrt(6 / fan_in)` otherwise (fan_in = product of all dims but the first),
    /// computed in f64 and rounded to f32.
    pub fn formula(specs: &[(String, Vec<usize>)]) -> Weights {
        generate(specs, 0, "formula")
    }

    /// Seeded uniform He-style weights, the same for the same `specs` and `seed`: weights in
    /// ±sqrt(6 / fan_in), biases in ±0.01 (the formula scheme with a seed-dependent stream).
    pub fn random(specs: &[(String, Vec<usize>)], seed: u64) -> Weights {
        generate(specs, splitmix64(seed ^ 0x6E65_746C_656E_7321), "random")
    }
}

/// A readable reason for a safetensors parse failure.
fn describe_format_error(bytes: &[u8], error: &SafeTensorError) -> String {
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    match error {
        SafeTensorError::HeaderTooSmall => format!(
            "not a safetensors file: {} bytes, too short for the 8-byte header length",
            bytes.len()
        ),
        SafeTensorError::HeaderTooLarge => format!(
            "not a safetensors file: the first 8 bytes give a header length of {} bytes \
             (at most 100000000 allowed)",
            header_len.unwrap_or(0)
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "not a safetensors file, or truncated: the header length field says {} bytes, \
             the file has {}",
            header_len.unwrap_or(0),
            bytes.len()
        ),
        SafeTensorError::InvalidHeader(e) => {
            format!("not a safetensors file: the header is not UTF-8 ({e})")
        }
        SafeTensorError::InvalidHeaderStart
        | SafeTensorError::InvalidHeaderDeserialization(_)
        | SafeTensorError::JsonError(_) => {
            format!("not a safetensors file: the header is not valid JSON ({error})")
        }
        SafeTensorError::TensorInvalidInfo => {
            let header_len = header_len.unwrap_or(0) as usize;
            bytes
                .get(8..8 + header_len)
                .and_then(invalid_tensor_info)
                .unwrap_or_else(|| format!("bad header: {error}"))
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            let header_len = header_len.unwrap_or(0) as usize;
            let have = bytes.len() - 8 - header_len;
            match declared_data_len(&bytes[8..8 + header_len]) {
                Some(want) if want > have => {
                    format!("truncated: header says {want} bytes of data, file has {have}")
                }
                Some(want) => {
                    format!("header says {want} bytes of data, file has {have} (trailing bytes)")
                }
                None => format!("bad header: {error}"),
            }
        }
        _ => format!("bad header: {error}"),
    }
}

/// The first tensor of a (valid JSON) header whose shape and dtype need another number of bytes
/// than its `data_offsets` span, described.
fn invalid_tensor_info(header: &[u8]) -> Option<String> {
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .find_map(|(name, info)| {
            let info: TensorInfo = serde_json::from_value(info).ok()?;
            let elements = info
                .shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))?;
            let need = elements.checked_mul(info.dtype.bitsize())? / 8;
            let (start, end) = info.data_offsets;
            let span = end.checked_sub(start)?;
            (need != span).then(|| {
                format!(
                    "tensor `{name}`: shape {:?} of {} needs {need} bytes, but its data_offsets \
                     [{start}, {end}] span {span}",
                    info.shape, info.dtype
                )
            })
        })
}

/// Why a file's tensors cannot be trained weights, if every weight tensor (`*.weight`) is
/// constant (all zeros, say): such a network scores every class alike, whatever the image.
fn constant_weights(tensors: &BTreeMap<String, HostTensor>) -> Option<String> {
    let weights: Vec<(&String, &HostTensor)> = tensors
        .iter()
        .filter(|(name, _)| name.ends_with("weight"))
        .collect();
    let (first, tensor) = *weights.first()?;
    if !weights
        .iter()
        .all(|(_, t)| t.data.windows(2).all(|w| w[0] == w[1]))
    {
        return None;
    }
    let all_zero = weights
        .iter()
        .all(|(_, t)| t.data.first().is_none_or(|&v| v == 0.0));
    Some(format!(
        "every weight tensor is {} (`{first}` is all {}): these are no trained weights, and the \
         network would give every class the same score",
        if all_zero { "all zeros" } else { "constant" },
        tensor.data.first().copied().unwrap_or(0.0)
    ))
}

/// The end of the last tensor's data according to a (valid JSON) header.
fn declared_data_len(header: &[u8]) -> Option<usize> {
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    header
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(_, info)| info.get("data_offsets")?.get(1)?.as_u64())
        .try_fold(0usize, |end, e| Some(end.max(e? as usize)))
}

/// Little-endian tensor bytes as f32, or `None` for a dtype the loader does not convert.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    fn convert<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunk of N bytes")))
            .collect()
    }
    Some(match dtype {
        Dtype::F32 => convert(bytes, f32::from_le_bytes),
        Dtype::F16 => convert(bytes, |b| half::f16::from_le_bytes(b).to_f32()),
        Dtype::BF16 => convert(bytes, |b| half::bf16::from_le_bytes(b).to_f32()),
        Dtype::F64 => convert(bytes, |b| f64::from_le_bytes(b) as f32),
        _ => return None,
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Elements per unit of work when generating weights on several threads.
const CHUNK: usize = 1 << 20;

/// The formula scheme with the counter of element `j` of tensor `t` being `key ^ ((t << 40) + j)`
/// (`+` and `^` agree there since no tensor reaches 2^40 elements).
fn generate(specs: &[(String, Vec<usize>)], key: u64, source: &str) -> Weights {
    let mut data: Vec<Vec<f32>> = specs
        .iter()
        .map(|(_, shape)| vec![0.0; shape.iter().product()])
        .collect();
    // Split every tensor into chunks so that one huge tensor (VGG16's first classifier layer
    // holds 103M of its 138M values) still spreads over all threads.
    let mut jobs = Vec::new();
    for (t, ((name, shape), values)) in specs.iter().zip(&mut data).enumerate() {
        let scale = if name.ends_with("bias") {
            0.01
        } else {
            let fan_in: usize = shape.iter().skip(1).product();
            (6.0 / fan_in as f64).sqrt()
        };
        let base = key ^ ((t as u64) << 40);
        for (c, chunk) in values.chunks_mut(CHUNK).enumerate() {
            jobs.push((base, (c * CHUNK) as u64, scale, chunk));
        }
    }
    let jobs = Mutex::new(jobs);
    let work = || {
        loop {
            let job = jobs
                .lock()
                .expect("no thread panics holding the lock")
                .pop();
            let Some((base, start, scale, chunk)) = job else {
                break;
            };
            for (j, v) in (start..).zip(chunk.iter_mut()) {
                let z = splitmix64(base ^ j);
                let s = 2.0 * ((z >> 40) as f64 / (1u64 << 24) as f64) - 1.0;
                *v = (s * scale) as f32;
            }
        }
    };
    // A browser's main thread cannot spawn threads: there the values are drawn on this one.
    if cfg!(target_arch = "wasm32") {
        work();
    } else {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    let tensors = specs
        .iter()
        .zip(data)
        .map(|((name, shape), data)| {
            (
                name.clone(),
                HostTensor {
                    shape: shape.clone(),
                    data,
                },
            )
        })
        .collect();
    Weights {
        tensors,
        source: source.to_string(),
        sha256: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use safetensors::tensor::TensorView;

    use super::*;

    /// A fresh empty directory for one test.
    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    const VALUES: [f32; 6] = [0.5, -1.25, 3.0, 0.0, -0.75, 1024.0];

    /// A safetensors file holding `VALUES` as a [2, 3] tensor `w` of `dtype` plus a [3] tensor
    /// `b`; returns its path.
    fn write_file(dir: &Path, dtype: Dtype) -> PathBuf {
        let bytes: Vec<u8> = match dtype {
            Dtype::F32 => VALUES.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F16 => VALUES
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            Dtype::BF16 => VALUES
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            Dtype::F64 => VALUES
                .iter()
                .flat_map(|v| (*v as f64).to_le_bytes())
                .collect(),
            Dtype::I32 => VALUES
                .iter()
                .flat_map(|v| (*v as i32).to_le_bytes())
                .collect(),
            _ => unreachable!("not used by the tests"),
        };
        let bias: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let tensors = HashMap::from([
            ("w", TensorView::new(dtype, vec![2, 3], &bytes).unwrap()),
            ("b", TensorView::new(Dtype::F32, vec![3], &bias).unwrap()),
        ]);
        let path = dir.join(format!("{dtype}.safetensors"));
        std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
        path
    }

    #[test]
    fn loads_and_converts_float_dtypes() {
        let dir = temp_dir();
        for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64] {
            let path = write_file(dir.path(), dtype);
            let w = Weights::load(&path).unwrap();
            assert_eq!(w.len(), 2);
            assert_eq!(w.names().collect::<Vec<_>>(), ["b", "w"]);
            assert_eq!(w.expect("w", &[2, 3]).unwrap(), VALUES, "{dtype}");
            assert_eq!(w.expect("b", &[3]).unwrap(), [1.0, 2.0, 3.0]);
            assert_eq!(w.source(), path.display().to_string());
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(w.sha256(), Some(hex_sha256(&bytes).as_str()));
        }
    }

    #[test]
    fn sha256_is_hex_of_the_bytes() {
        // The standard test vector for "abc".
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn truncated_file_is_reported() {
        let dir = temp_dir();
        let path = write_file(dir.path(), Dtype::F32);
        let bytes = std::fs::read(&path).unwrap();
        let err = Weights::from_bytes(&bytes[..bytes.len() - 5], &path).unwrap_err();
        let Error::WeightsFile { path: p, reason } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(p, &path);
        assert_eq!(
            reason,
            "truncated: header says 36 bytes of data, file has 31"
        );
        assert!(err.to_string().contains("F32.safetensors"), "{err}");

        // Cut inside the header.
        let err = Weights::from_bytes(&bytes[..20], &path).unwrap_err();
        assert!(err.to_string().contains("the file has 20"), "{err}");
    }

    #[test]
    fn garbage_file_is_not_safetensors() {
        let path = Path::new("garbage.bin");
        for garbage in [
            &b"hello, this is certainly not a weights file"[..],
            b"abc",
            b"",
        ] {
            let err = Weights::from_bytes(garbage, path).unwrap_err();
            let Error::WeightsFile { reason, .. } = &err else {
                panic!("{err:?}")
            };
            assert!(reason.starts_with("not a safetensors file"), "{reason}");
        }
        // A plausible header length followed by something that is not JSON.
        let mut bytes = 10u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"[not json]");
        let err = Weights::from_bytes(&bytes, path).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn missing_file_is_io_error() {
        let path = Path::new("/nonexistent/dir/weights.safetensors");
        let err = Weights::load(path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == path),
            "{err:?}"
        );
    }

    #[test]
    fn integer_dtype_is_unsupported() {
        let dir = temp_dir();
        let err = Weights::load(&write_file(dir.path(), Dtype::I32)).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedDtype { name, dtype, .. } if name == "w" && dtype == "I32"),
            "{err:?}"
        );
    }

    #[test]
    fn expect_checks_presence_shape_and_finiteness() {
        let mut w = Weights::default();
        w.insert("conv.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        w.insert("conv.bias", vec![3], vec![0.0, f32::NAN, f32::INFINITY]);
        assert_eq!(
            w.expect("conv.weight", &[2, 2]).unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(w.get("conv.weight").unwrap().shape, [2, 2]);
        assert!(w.get("other").is_none());

        let err = w.expect("fc.weight", &[10, 4]).unwrap_err();
        assert!(
            matches!(&err, Error::MissingTensor { name, expected, .. } if name == "fc.weight" && expected == &[10, 4]),
            "{err:?}"
        );
        let err = w.expect("conv.weight", &[4]).unwrap_err();
        assert!(
            matches!(&err, Error::ShapeMismatch { name, expected, found, .. }
                if name == "conv.weight" && expected == &[4] && found == &[2, 2]),
            "{err:?}"
        );
        let err = w.expect("conv.bias", &[3]).unwrap_err();
        assert!(
            matches!(&err, Error::NonFiniteWeight { name, index: 1, value, .. } if name == "conv.bias" && value.is_nan()),
            "{err:?}"
        );
    }

    #[test]
    fn errors_name_the_file_tensor_and_shapes() {
        let dir = temp_dir();
        let path = write_file(dir.path(), Dtype::F32);
        let w = Weights::load(&path).unwrap();
        let file = path.display().to_string();

        let err = w.expect("w", &[3, 2]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "weights file {file}: tensor `w` has shape [2, 3], expected [3, 2] \
                 (weights of another model or another number of classes?)"
            )
        );
        let err = w.expect("features.0.weight", &[64, 3, 3, 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "weights file {file}: tensor `features.0.weight` is missing (expected shape \
                 [64, 3, 3, 3]); the set holds 2 other tensors"
            )
        );

        let err = Weights::load(&write_file(dir.path(), Dtype::I32))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("weights file ") && err.contains("I32.safetensors"),
            "{err}"
        );
        assert!(err.contains("tensor `w` has dtype I32"), "{err}");
    }

    #[test]
    fn missing_tensors_suggest_close_names() {
        let mut w = Weights::default();
        w.insert("model.features.0.weight", vec![1], vec![0.0]);
        w.insert("classifer.1.weight", vec![1], vec![0.0]);
        let err = w.expect("features.0.weight", &[1]).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "it has `model.features.0.weight`: strip the prefix `model.` from the key names"
            ),
            "{err}"
        );
        let err = w
            .expect("classifier.1.weight", &[1])
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("did you mean `classifer.1.weight`?"), "{err}");
        assert!(
            err.starts_with("weights: tensor `classifier.1.weight`"),
            "{err}"
        );
        // Another layer's tensor, or the bias of the same layer, is no typo.
        for name in ["features.1.weight", "model.features.0.bias"] {
            let err = w.expect(name, &[1]).unwrap_err().to_string();
            assert!(err.ends_with("the set holds 2 other tensors"), "{err}");
        }
    }

    #[test]
    fn non_finite_values_in_a_file_are_named() {
        let dir = temp_dir();
        let path = dir.path().join("nan.safetensors");
        let values: Vec<u8> = [1.0f32, f32::INFINITY, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = TensorView::new(Dtype::F32, vec![3], &values).unwrap();
        std::fs::write(
            &path,
            safetensors::serialize([("fc.bias", view)], None).unwrap(),
        )
        .unwrap();
        let err = Weights::load(&path)
            .unwrap()
            .expect("fc.bias", &[3])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "weights file {}: tensor `fc.bias` holds a non-finite value (inf) at element 1",
                path.display()
            )
        );
    }

    #[test]
    fn generated_weights_are_named_by_origin() {
        let specs = vec![("a".to_string(), vec![2])];
        assert_eq!(Weights::formula(&specs).describe(), "formula weights");
        assert_eq!(Weights::random(&specs, 1).describe(), "random weights");
        assert_eq!(Weights::default().describe(), "weights");
        let err = Weights::formula(&specs).expect("a", &[3]).unwrap_err();
        assert!(
            err.to_string().starts_with("formula weights: tensor `a`"),
            "{err}"
        );
    }

    #[test]
    #[should_panic(expected = "does not match 3 elements")]
    fn insert_rejects_wrong_length() {
        Weights::default().insert("x", vec![2, 2], vec![0.0; 3]);
    }

    #[test]
    fn loads_squeezenet() {
        let path = crate::app::data::data_dir().join("weights/squeezenet1_1.safetensors");
        let w = Weights::load(&path).unwrap();
        assert_eq!(w.get("features.0.weight").unwrap().shape, [64, 3, 3, 3]);
        assert_eq!(
            w.expect("classifier.1.weight", &[1000, 512, 1, 1])
                .unwrap()
                .len(),
            512_000
        );
        assert_eq!(
            w.sha256(),
            Some("281e1667647e74b385f1b0584f7719346609f3e130c6a181e50698ae7e632bd8")
        );
    }

    #[test]
    fn formula_matches_vgg16_reference() {
        let path = crate::app::data::data_dir().join("reference/vgg16_formula_weights_check.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let check: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        let mut entries: Vec<_> = check.iter().collect();
        entries.sort_by_key(|(_, v)| v["index"].as_u64().unwrap());
        assert_eq!(entries.len(), 32);
        let specs: Vec<(String, Vec<usize>)> = entries
            .iter()
            .map(|(name, v)| {
                let shape = v["shape"].as_array().unwrap();
                let shape = shape.iter().map(|d| d.as_u64().unwrap() as usize).collect();
                (name.to_string(), shape)
            })
            .collect();

        let w = Weights::formula(&specs);
        assert_eq!(w.source(), "formula");
        assert_eq!(w.sha256(), None);
        for ((name, shape), (_, v)) in specs.iter().zip(&entries) {
            let data = w.expect(name, shape).unwrap();
            for (k, first) in v["first"].as_array().unwrap().iter().enumerate() {
                assert_eq!(data[k], first.as_f64().unwrap() as f32, "{name}[{k}]");
            }
            let sum: f64 = data.iter().map(|&x| x as f64).sum();
            let want = v["sum"].as_f64().unwrap();
            assert!(
                (sum - want).abs() <= 1e-6 * want.abs(),
                "{name}: sum {sum}, reference {want}"
            );
        }
    }

    #[test]
    fn random_is_seeded_and_bounded() {
        let specs = vec![
            ("conv.weight".to_string(), vec![8, 4, 3, 3]),
            ("conv.bias".to_string(), vec![8]),
        ];
        let a = Weights::random(&specs, 7);
        let b = Weights::random(&specs, 7);
        let c = Weights::random(&specs, 8);
        assert_eq!(a.source(), "random");
        let weight = a.expect("conv.weight", &[8, 4, 3, 3]).unwrap();
        assert_eq!(weight, b.get("conv.weight").unwrap().data);
        assert_ne!(weight, c.get("conv.weight").unwrap().data);
        assert_ne!(
            weight,
            Weights::formula(&specs).get("conv.weight").unwrap().data
        );

        let bound = (6.0f32 / 36.0).sqrt();
        assert!(weight.iter().all(|x| x.abs() <= bound));
        assert!(weight.iter().any(|x| x.abs() > 0.8 * bound));
        let mean = weight.iter().sum::<f32>() / weight.len() as f32;
        assert!(mean.abs() < 0.1 * bound, "mean {mean}");
        let bias = a.expect("conv.bias", &[8]).unwrap();
        assert!(bias.iter().all(|x| x.abs() <= 0.01));
    }

    /// A safetensors file of `header` (JSON) and `data`.
    fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn a_shape_that_disagrees_with_its_bytes_names_the_tensor() {
        let header = r#"{"a.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,16]}}"#;
        let err = Weights::from_bytes(&raw_file(header, &[1; 16]), Path::new("x.safetensors"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "weights file x.safetensors: tensor `b.weight`: shape [2, 3] of F32 needs 24 bytes, \
             but its data_offsets [8, 16] span 8"
        );
    }

    #[test]
    fn constant_weights_are_refused() {
        let dir = temp_dir();
        let file = |name: &str, values: [f32; 4]| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let tensors = HashMap::from([
                (
                    "conv.weight",
                    TensorView::new(Dtype::F32, vec![4], &bytes).unwrap(),
                ),
                (
                    "fc.weight",
                    TensorView::new(Dtype::F32, vec![2, 2], &bytes).unwrap(),
                ),
            ]);
            let path = dir.path().join(name);
            std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
            Weights::load(&path).map(|_| ()).map_err(|e| e.to_string())
        };
        let zeros = file("zeros.safetensors", [0.0; 4]).unwrap_err();
        assert!(zeros.contains("zeros.safetensors"), "{zeros}");
        assert!(
            zeros.contains("every weight tensor is all zeros (`conv.weight` is all 0)"),
            "{zeros}"
        );
        let ones = file("ones.safetensors", [0.5; 4]).unwrap_err();
        assert!(ones.contains("every weight tensor is constant"), "{ones}");
        assert!(file("varied.safetensors", [0.5, 0.5, 0.5, 0.25]).is_ok());
    }
}
