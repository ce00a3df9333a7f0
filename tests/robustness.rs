//! The loaders against thousands of broken files: real safetensors, PNG and JPEG bytes mutated by
//! proptest (bit flips, truncations, spliced garbage, header edits with huge shapes, offsets and
//! dimensions, wrong dtypes) must load or fail with an error, never panic, and never ask for an
//! absurd amount of memory (a counting allocator records the largest request and refuses any
//! over 2 GiB).
//!
//! Case counts: `NETLENS_FUZZ_CASES` (per seed file; default below); the generator is seeded,
//! so a failure reproduces.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgba};
use netlens::model::Weights;
use netlens::preprocess::{load_rgb, rgb_from_bytes, to_input};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

mod common;

/// A single allocation over this is absurd for files of a few kilobytes.
const ABSURD: usize = 1 << 30;
/// Requests over this are refused outright (the process aborts with a message).
const REFUSED: usize = 2 << 30;

/// The system allocator, recording the largest single request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn admit(size: usize) -> bool {
        LARGEST.fetch_max(size, Ordering::Relaxed);
        if size > REFUSED {
            // No allocation here: the message is a static string.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"robustness: an allocation over 2 GiB was requested\n",
            );
            return false;
        }
        true
    }
}

// SAFETY: forwards to the system allocator; refusing a request by returning null is allowed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::admit(new_size) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Cases per seed file.
fn cases(default: u32) -> u32 {
    std::env::var("NETLENS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runner with a fixed seed (so that failures reproduce) and no persistence files.
fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Outcomes of one loader over many inputs.
#[derive(Default)]
struct Tally {
    tried: AtomicUsize,
    ok: AtomicUsize,
    err: AtomicUsize,
    panics: AtomicUsize,
}

impl Tally {
    /// Runs `load` on one input, counting its outcome; `Err(message)` when it panicked.
    fn run<T, E>(&self, load: impl FnOnce() -> Result<T, E>) -> Result<(), String> {
        self.tried.fetch_add(1, Ordering::Relaxed);
        match catch_unwind(AssertUnwindSafe(load)) {
            Ok(Ok(_)) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(_)) => {
                self.err.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(payload) => {
                self.panics.fetch_add(1, Ordering::Relaxed);
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(message)
            }
        }
    }

    fn report(&self, what: &str) -> usize {
        let panics = self.panics.load(Ordering::Relaxed);
        println!(
            "{what}: {} inputs tried, {} loaded, {} refused with an error, {panics} panics",
            self.tried.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.err.load(Ordering::Relaxed),
        );
        panics
    }
}

/// A mutation of a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip these bits (byte index modulo the length, bit 0..8).
    FlipBits(Vec<(usize, u8)>),
    /// Keep only this many bytes (modulo the length + 1).
    Truncate(usize),
    /// Overwrite bytes from `at` (modulo the length) with `with`.
    Splice { at: usize, with: Vec<u8> },
    /// Insert bytes at `at` (modulo the length + 1).
    Insert { at: usize, with: Vec<u8> },
    /// A format-aware edit of the header (see each fuzzer).
    Header(HeaderEdit),
    /// Replace the whole file.
    Random(Vec<u8>),
}

/// Header fields to change: which entry (modulo their number), and the new values.
#[derive(Clone, Debug)]
enum HeaderEdit {
    /// A tensor's shape, or an image's width and height.
    Dims(usize, Vec<u64>),
    /// A tensor's data offsets.
    Offsets(usize, u64, u64),
    /// A tensor's dtype string, or an image's bit depth and colour type / component count.
    Kind(usize, String),
    /// The 8-byte header length of a safetensors file, or an image's first chunk length.
    Length(u64),
    /// A tensor entry removed, or (image) an extra chunk or marker appended after the header.
    Remove(usize),
}

/// Interesting numbers: small, around powers of two, and huge.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..70,
        (0u32..64).prop_map(|k| 1u64 << k),
        (0u32..64).prop_map(|k| (1u64 << k).wrapping_sub(1)),
        any::<u64>(),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        Just(u16::MAX as u64),
    ]
}

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let dtype = prop_oneof![
        prop::sample::select(vec![
            "F32", "F16", "BF16", "F64", "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64",
            "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64",
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9_]{0,8}",
    ];
    prop_oneof![
        (any::<usize>(), prop::collection::vec(number(), 0..6))
            .prop_map(|(i, d)| HeaderEdit::Dims(i, d)),
        (any::<usize>(), number(), number()).prop_map(|(i, a, b)| HeaderEdit::Offsets(i, a, b)),
        (any::<usize>(), dtype).prop_map(|(i, k)| HeaderEdit::Kind(i, k)),
        number().prop_map(HeaderEdit::Length),
        any::<usize>().prop_map(HeaderEdit::Remove),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        3 => prop::collection::vec((any::<usize>(), 0u8..8), 1..8).prop_map(Mutation::FlipBits),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), bytes()).prop_map(|(at, with)| Mutation::Splice { at, with }),
        1 => (any::<usize>(), bytes()).prop_map(|(at, with)| Mutation::Insert { at, with }),
        5 => header_edit().prop_map(Mutation::Header),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::Random),
    ]
}

/// Applies the format-independent mutations; `Header` edits go to `edit_header`.
fn mutate(
    seed: &[u8],
    m: &Mutation,
    edit_header: impl Fn(&[u8], &HeaderEdit) -> Vec<u8>,
) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    let n = bytes.len();
    match m {
        Mutation::FlipBits(flips) => {
            for &(i, bit) in flips {
                bytes[i % n] ^= 1 << bit;
            }
        }
        Mutation::Truncate(len) => bytes.truncate(len % (n + 1)),
        Mutation::Splice { at, with } => {
            for (k, b) in with.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at % n + k) {
                    *slot = *b;
                }
            }
        }
        Mutation::Insert { at, with } => {
            let at = at % (n + 1);
            bytes.splice(at..at, with.iter().copied());
        }
        Mutation::Header(edit) => bytes = edit_header(seed, edit),
        Mutation::Random(random) => bytes = random.clone(),
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Weights

/// Small safetensors files made from the real SqueezeNet weights (its first fire module), in
/// each dtype the loader converts, with the metadata torch writes.
fn weights_seeds() -> Vec<(String, Vec<u8>)> {
    let path = common::data_dir().join("weights/squeezenet1_1.safetensors");
    let real = Weights::load(&path).unwrap();
    let names = [
        "features.0.weight",
        "features.0.bias",
        "features.3.squeeze.weight",
        "features.3.squeeze.bias",
        "features.3.expand1x1.bias",
    ];
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64]
        .into_iter()
        .map(|dtype| {
            let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = names
                .iter()
                .map(|&name| {
                    let t = real.get(name).unwrap();
                    let bytes = match dtype {
                        Dtype::F32 => t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        Dtype::F16 => t
                            .data
                            .iter()
                            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                            .collect(),
                        Dtype::BF16 => t
                            .data
                            .iter()
                            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                            .collect(),
                        _ => t
                            .data
                            .iter()
                            .flat_map(|v| (*v as f64).to_le_bytes())
                            .collect(),
                    };
                    (name.to_string(), t.shape.clone(), bytes)
                })
                .collect();
            let views: Vec<(&str, TensorView)> = encoded
                .iter()
                .map(|(n, s, b)| (n.as_str(), TensorView::new(dtype, s.clone(), b).unwrap()))
                .collect();
            let file = safetensors::serialize(views, Some(metadata.clone())).unwrap();
            (format!("{dtype}"), file)
        })
        .collect()
}

/// Rewrites a safetensors header: parse the JSON, change one entry, serialize, fix the length.
fn edit_safetensors_header(seed: &[u8], edit: &HeaderEdit) -> Vec<u8> {
    let n = u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&seed[8..8 + n]).unwrap();
    let data = &seed[8 + n..];
    let names: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let entry = |i: usize| names[i % names.len()].clone();
    let mut length_override = None;
    match edit {
        HeaderEdit::Dims(i, dims) => {
            header[&entry(*i)]["shape"] = serde_json::json!(dims);
        }
        HeaderEdit::Offsets(i, a, b) => {
            header[&entry(*i)]["data_offsets"] = serde_json::json!([a, b]);
        }
        HeaderEdit::Kind(i, dtype) => {
            header[&entry(*i)]["dtype"] = serde_json::json!(dtype);
        }
        HeaderEdit::Length(len) => length_override = Some(*len),
        HeaderEdit::Remove(i) => {
            header.remove(&entry(*i));
        }
    }
    let json = serde_json::to_vec(&header).unwrap();
    let mut out = length_override
        .unwrap_or(json.len() as u64)
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

#[test]
fn mutated_weights_files_load_or_fail_cleanly() {
    let seeds = weights_seeds();
    // The seeds themselves load, with the real values.
    for (dtype, bytes) in &seeds {
        let w = Weights::from_bytes(bytes, Path::new("seed.safetensors")).unwrap();
        assert_eq!(w.len(), 5, "{dtype}");
        w.expect("features.0.weight", &[64, 3, 3, 3]).unwrap();
    }
    let tally = Tally::default();
    let per_seed = cases(4000);
    for (dtype, seed) in &seeds {
        let mut runner = runner(per_seed);
        let result = runner.run(&mutation(), |m| {
            let bytes = mutate(seed, &m, edit_safetensors_header);
            let outcome = tally.run(|| {
                let w = Weights::from_bytes(&bytes, Path::new("fuzz.safetensors"))?;
                // Exercise the checked access on whatever loaded.
                for name in w.names() {
                    let shape = w.get(name).unwrap().shape.clone();
                    let _ = w.expect(name, &shape);
                }
                Ok::<_, netlens::Error>(w.len())
            });
            prop_assert!(outcome.is_ok(), "{dtype} seed, {m:?}: panic {outcome:?}");
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let panics = tally.report("weights (Weights::from_bytes)");
    assert_eq!(panics, 0);
    assert!(tally.err.load(Ordering::Relaxed) > 0 && tally.ok.load(Ordering::Relaxed) > 0);
    let largest = LARGEST.load(Ordering::Relaxed);
    println!("largest single allocation so far in this test binary: {largest} bytes");
    assert!(largest < ABSURD, "an allocation of {largest} bytes");
}

// ---------------------------------------------------------------------------------------------
// Images

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A real gallery photo as it is (JPEG), and a small crop of it as 8-bit RGB, 16-bit gray and
/// RGBA PNG and as RGB and gray JPEG.
fn image_seeds() -> Vec<(String, Vec<u8>)> {
    let path = netlens::app::data::gallery_dir().join("n01443537_goldfish.jpg");
    let original = std::fs::read(&path).unwrap();
    let photo = load_rgb(&path).unwrap();
    let small =
        DynamicImage::ImageRgb8(image::imageops::crop_imm(&photo, 100, 80, 40, 30).to_image());
    let gray16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(24, 20, |x, y| {
        Luma([small.to_luma16().get_pixel(x, y)[0]])
    }));
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(24, 20, |x, y| {
        let p = small.to_rgb8().get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], (x * 10) as u8])
    }));
    vec![
        ("gallery jpeg".to_string(), original),
        ("rgb png".to_string(), encode(&small, ImageFormat::Png)),
        ("gray16 png".to_string(), encode(&gray16, ImageFormat::Png)),
        ("rgba png".to_string(), encode(&rgba, ImageFormat::Png)),
        ("rgb jpeg".to_string(), encode(&small, ImageFormat::Jpeg)),
        (
            "gray jpeg".to_string(),
            encode(
                &DynamicImage::ImageLuma8(small.to_luma8()),
                ImageFormat::Jpeg,
            ),
        ),
    ]
}

/// The CRC-32 (IEEE) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Edits a PNG's IHDR (dimensions, bit depth, colour type; CRC fixed so the decoder reads on) or
/// a JPEG's start-of-frame (dimensions, precision, component count).
fn edit_image_header(seed: &[u8], edit: &HeaderEdit) -> Vec<u8> {
    let mut out = seed.to_vec();
    if seed.starts_with(b"\x89PNG") {
        // Signature (8), IHDR length (4), "IHDR" (4), width, height, depth, colour, ..., CRC.
        let ihdr = 16;
        match edit {
            HeaderEdit::Dims(_, dims) => {
                let w = dims.first().copied().unwrap_or(0) as u32;
                let h = dims.get(1).copied().unwrap_or(1) as u32;
                out[ihdr..ihdr + 4].copy_from_slice(&w.to_be_bytes());
                out[ihdr + 4..ihdr + 8].copy_from_slice(&h.to_be_bytes());
            }
            HeaderEdit::Offsets(_, depth, colour) => {
                out[ihdr + 8] = *depth as u8;
                out[ihdr + 9] = *colour as u8;
            }
            HeaderEdit::Kind(i, text) => {
                // Compression, filter, interlace methods.
                out[ihdr + 10 + i % 3] = text.len() as u8;
            }
            HeaderEdit::Length(len) => {
                out[8..12].copy_from_slice(&(*len as u32).to_be_bytes());
            }
            HeaderEdit::Remove(i) => {
                // An extra chunk of a random-ish type right after IHDR.
                let chunk_type = [b"tEXt", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA"][i % 6];
                let data = vec![(*i >> 8) as u8; i % 40];
                let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
                chunk.extend_from_slice(chunk_type);
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
                out.splice(33..33, chunk);
            }
        }
        let crc = crc32(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        return out;
    }
    // JPEG: find the start-of-frame marker (baseline C0, progressive C2).
    let Some(sof) = out
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
    else {
        return out;
    };
    // FF Cx, length (2), precision, height (2), width (2), components, then per component.
    match edit {
        HeaderEdit::Dims(_, dims) => {
            let h = dims.first().copied().unwrap_or(0) as u16;
            let w = dims.get(1).copied().unwrap_or(1) as u16;
            out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
            out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        }
        HeaderEdit::Offsets(_, precision, components) => {
            out[sof + 4] = *precision as u8;
            out[sof + 9] = *components as u8;
        }
        HeaderEdit::Kind(i, text) => {
            // A component's sampling factors or quantization table.
            out[sof + 10 + (i % 6)] = text.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        }
        HeaderEdit::Length(len) => {
            out[sof + 2..sof + 4].copy_from_slice(&(*len as u16).to_be_bytes());
        }
        HeaderEdit::Remove(i) => {
            // Drop a whole marker segment after the frame header, or cut at it.
            let at = sof + 2 + i % (out.len() - sof - 2);
            if let Some(next) = out[at..]
                .windows(2)
                .position(|w| w[0] == 0xFF && w[1] > 0xC0)
            {
                let start = at + next;
                let len = out
                    .get(start + 2..start + 4)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
                let end = (start + 2 + len).min(out.len());
                out.drain(start..end);
            }
        }
    }
    out
}

#[test]
fn mutated_image_files_load_or_fail_cleanly() {
    let seeds = image_seeds();
    for (what, bytes) in &seeds {
        let img = rgb_from_bytes(bytes, Path::new(what)).unwrap();
        assert!(img.width() > 0, "{what}");
    }
    let tally = Tally::default();
    let per_seed = cases(4000);
    for (what, seed) in &seeds {
        // The full-size photo costs more to decode: fewer cases.
        let n = if seed.len() > 10_000 {
            per_seed / 4
        } else {
            per_seed
        };
        let mut runner = runner(n);
        let result = runner.run(&mutation(), |m| {
            let bytes = mutate(seed, &m, edit_image_header);
            let outcome = tally.run(|| {
                let img = rgb_from_bytes(&bytes, Path::new("fuzz.img"))?;
                // Whatever decodes must also make a network input (tiny, huge, odd shapes).
                to_input(&img, 224).map(|x| x.len())
            });
            prop_assert!(outcome.is_ok(), "{what} seed, {m:?}: panic {outcome:?}");
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let panics = tally.report("images (preprocess::rgb_from_bytes + to_input)");
    assert_eq!(panics, 0);
    assert!(tally.err.load(Ordering::Relaxed) > 0 && tally.ok.load(Ordering::Relaxed) > 0);
    let largest = LARGEST.load(Ordering::Relaxed);
    println!("largest single allocation so far in this test binary: {largest} bytes");
    assert!(largest < ABSURD, "an allocation of {largest} bytes");
}

#[test]
fn mutated_image_files_on_disk_load_or_fail_cleanly() {
    // The same through the file path (`load_rgb`), fewer cases: it only adds the file reading.
    let dir = tempfile::tempdir().unwrap();
    let seeds = image_seeds();
    let tally = Tally::default();
    let mut runner = runner(cases(4000) / 5);
    let strategy = (0..seeds.len(), mutation());
    let result = runner.run(&strategy, |(k, m)| {
        let bytes = mutate(&seeds[k].1, &m, edit_image_header);
        let path = dir.path().join(format!("case{k}.png"));
        std::fs::write(&path, &bytes).unwrap();
        let outcome = tally.run(|| match load_rgb(&path) {
            // Errors name the file.
            Err(e) if !e.to_string().contains("case") => panic!("error without the file: {e}"),
            r => r,
        });
        prop_assert!(outcome.is_ok(), "{m:?}: panic {outcome:?}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(tally.report("image files (preprocess::load_rgb)"), 0);
}
