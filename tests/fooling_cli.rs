//! The `fool` and `transfer` commands run as a user runs them: argument errors caught before any
//! GPU work (missing VGG16 weights, a missing target, a missing budget), and a fooling image whose
//! saved PNG fools the network, or an exit status of 1 when the iterations run out.

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

/// The `verdict` of every row of a run's FIG_results.json.
fn verdicts(results: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(results).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    rows.iter()
        .map(|r| r["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// `netlens fool --image husky --target 6 --out f.png --save-fooled fooled.png`: the saved PNG,
/// read back and classified, is a stingray, and the results say so; with one iteration the
/// outputs are written, say the iterations ran out, and the command exits with status 1.
#[test]
fn fooled_png_read_back_is_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let husky = common::data_dir().join("data/gallery/n02110185_Siberian_husky.jpg");
    let fig = dir.path().join("f.png");
    let fooled = dir.path().join("fooled.png");
    let args = [
        "--quiet",
        "fool",
        "--image",
        husky.to_str().unwrap(),
        "--target",
        "6",
        "--out",
        fig.to_str().unwrap(),
        "--save-fooled",
        fooled.to_str().unwrap(),
    ];
    let (ok, err) = netlens(&args, &[]);
    assert!(ok, "{err}");
    let net = netlens::model::ModelKind::SqueezeNet
        .network(common::ctx(), None)
        .unwrap();
    let x = netlens::preprocess::load_input(&fooled, 224).unwrap();
    let l = pollster::block_on(netlens::classify::logits(&net, &[x], (224, 224), 1)).unwrap();
    assert_eq!(
        netlens::classify::argmax(&l[0]),
        6,
        "the saved PNG is a stingray"
    );
    let results = dir.path().join("f_results.json");
    assert_eq!(verdicts(&results), ["fooled"]);

    let short = dir.path().join("short.png");
    let mut one_step = args.to_vec();
    one_step[7] = short.to_str().unwrap();
    one_step.truncate(8);
    one_step.extend(["--steps", "1"]);
    let (ok, err) = netlens(&one_step, &[]);
    assert!(!ok, "a fooling image that does not fool fails");
    assert!(
        err.contains("do not fool the network") && err.contains("1 iteration ran out"),
        "{err}"
    );
    assert!(short.exists(), "the figure is written all the same");
    assert_eq!(
        verdicts(&dir.path().join("short_results.json")),
        ["iterations-ran-out"]
    );
}
