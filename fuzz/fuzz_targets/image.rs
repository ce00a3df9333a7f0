//! Image files decoded from arbitrary bytes: every input gives an 8-bit RGB image within the
//! decoder's limits or an error, never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// The largest side `rgb_from_bytes` accepts.
const MAX_SIDE: u32 = 16384;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = netlens::preprocess::rgb_from_bytes(data, Path::new("fuzz.img")) else {
        return;
    };
    let (w, h) = image.dimensions();
    assert!(w > 0 && h > 0, "an empty image was accepted");
    assert!(w.max(h) <= MAX_SIDE, "{w}x{h} is over the side limit");
    assert_eq!(image.as_raw().len(), 3 * w as usize * h as usize);
});
