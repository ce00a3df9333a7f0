//! The `fool` and `transfer` commands run as a user runs them, on argument errors caught before
//! any GPU work: missing VGG16 weights, a missing target, a missing budget.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `netlens` with `args` and extra environment; returns (success, stderr).
fn netlens(args: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netlens"));
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("netlens runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hay() -> String {
    common::data_dir()
        .join("data/gallery/n07802026_hay.jpg")
        .display()
        .to_string()
}

#[test]
fn transfer_without_vgg16_weights_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no_vgg16.safetensors");
    let out = dir.path().join("transfer.csv");
    let image = hay();
    let args = [
        "transfer",
        "--image",
        &image,
        "--target",
        "stingray",
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, err) = netlens(&args, &[("NETLENS_VGG16_WEIGHTS", &missing)]);
    assert!(!ok);
    for part in [
        missing.to_str().unwrap(),
        "not found",
        "export_weights.py --model vgg16",
        "NETLENS_VGG16_WEIGHTS",
    ] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    let flag = dir.path().join("other.safetensors");
    let mut with_flag = args.to_vec();
    with_flag.extend(["--vgg16-weights", flag.to_str().unwrap()]);
    let (ok, err) = netlens(&with_flag, &[("NETLENS_VGG16_WEIGHTS", &missing)]);
    assert!(!ok && err.contains(flag.to_str().unwrap()), "{err}");
    assert!(!out.exists());
}

#[test]
fn fool_needs_a_target_and_attacks_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig.png");
    let out = out.to_str().unwrap();
    let image = hay();
    let (ok, err) = netlens(&["fool", "--image", &image, "--out", out], &[]);
    assert!(!ok && err.contains("--target"), "{err}");
    let (ok, err) = netlens(
        &["attack", "--method", "pgd", "--image", &image, "--out", out],
        &[],
    );
    assert!(!ok && err.contains("--eps"), "{err}");
    let (ok, err) = netlens(
        &[
            "attack", "--method", "fgsm", "--eps", "4", "--steps", "3", "--image", &image, "--out",
            out,
        ],
        &[],
    );
    assert!(!ok && err.contains("FGSM takes one step"), "{err}");
    assert!(!Path::new(out).exists());
}
