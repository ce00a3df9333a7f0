//! JPEGs decode to exactly the pixels PIL decodes (`Image.open(f).convert("RGB")`, libjpeg-turbo
//! with its defaults), compared by the SHA-256 of the RGB bytes: the 125 shared photos
//! (`reference/jpeg_decode_reference.json`) and small generated JPEGs of every layout
//! (`tests/data/jpeg`, written with their expected hashes by `tests/data/jpeg/generate.py`).

mod common;

use std::path::Path;

use netlens::preprocess::load_rgb;
use sha2::{Digest, Sha256};

/// Decodes every file listed in the JSON at `reference` (`{"files": {name: {width, height,
/// sha256}}}`, names relative to `root`) and returns the number checked and the mismatches.
fn check_against(reference: &Path, root: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(reference)
        .unwrap_or_else(|e| panic!("{}: {e}", reference.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = json["files"].as_object().expect("a `files` object");
    let mut mismatches = Vec::new();
    for (name, want) in files {
        let image = match load_rgb(&root.join(name)) {
            Ok(image) => image,
            Err(e) => {
                mismatches.push(format!("{name}: {e}"));
                continue;
            }
        };
        let size = (u64::from(image.width()), u64::from(image.height()));
        let want_size = (
            want["width"].as_u64().unwrap(),
            want["height"].as_u64().unwrap(),
        );
        let digest: String = Sha256::digest(image.as_raw())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if size != want_size || digest != want["sha256"].as_str().unwrap() {
            mismatches.push(format!(
                "{name}: {size:?} sha256 {digest}, PIL {want_size:?} {}",
                want["sha256"]
            ));
        }
    }
    (files.len(), mismatches)
}

#[test]
fn shared_photos_decode_as_pil_does() {
    let data = common::data_dir();
    let (checked, mismatches) =
        check_against(&data.join("reference/jpeg_decode_reference.json"), &data);
    eprintln!(
        "{} of {checked} photos decode to PIL's pixels",
        checked - mismatches.len()
    );
    assert_eq!(checked, 125);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn every_jpeg_layout_decodes_as_pil_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jpeg");
    let (checked, mismatches) = check_against(&dir.join("expected.json"), &dir);
    // Grayscale; 4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1; progressive; restart intervals; arithmetic
    // coding; Adobe CMYK and YCCK; junk before the end marker.
    assert_eq!(checked, 12);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
