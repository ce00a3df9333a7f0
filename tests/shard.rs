//! `--shard K/N` and `netlens merge` as a user runs them: two shards split the images with no
//! overlap and no gap, and merging their JSON results gives the unsharded run's results exactly
//! (`classify --json`, `attack --method fgsm`'s FIG_results.json, and `robustness`'s report, whose
//! accuracies are pooled by counts, and its plot drawn again from the merged report). Batches of one image keep the arithmetic of every image the
//! same whatever the shard.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `netlens --quiet ARGS`.
fn netlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netlens"))
        .arg("--quiet")
        .args(args)
        .output()
        .expect("netlens runs")
}

/// Runs `netlens ARGS`, expecting success; returns stdout.
fn succeed(args: &[&str]) -> Vec<u8> {
    let out = netlens(args);
    assert!(
        out.status.success(),
        "netlens {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Three gallery photos.
fn photos() -> Vec<String> {
    [
        "n01443537_goldfish.jpg",
        "n07802026_hay.jpg",
        "n01558993_robin.jpg",
    ]
    .iter()
    .map(|f| {
        common::data_dir()
            .join("data/gallery")
            .join(f)
            .display()
            .to_string()
    })
    .collect()
}

/// `netlens merge SHARDS --out OUT`, returning the merged JSON.
fn merge(shards: &[PathBuf], out: &Path) -> Value {
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    succeed(&args);
    read_json(out)
}

#[test]
fn classify_shards_merge_into_the_unsharded_results() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos();
    let classify = |shard: Option<&str>| -> Value {
        let mut args = vec!["classify", "--json", "--batch", "1"];
        args.extend(shard.map(|s| ["--shard", s]).into_iter().flatten());
        args.extend(photos.iter().map(String::as_str));
        serde_json::from_slice(&succeed(&args)).unwrap()
    };
    let whole = classify(None);
    assert_eq!(whole.as_array().unwrap().len(), 3);
    let mut shards = Vec::new();
    let mut files = Vec::new();
    for (k, want) in [("0/2", 0..1), ("1/2", 1..3)] {
        let out = classify(Some(k));
        assert_eq!(out["job"], "classify");
        assert_eq!(out["shard"]["start"], want.start);
        assert_eq!(out["shard"]["end"], want.end);
        files.extend(
            out["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["file"].as_str().unwrap().to_string()),
        );
        let path = dir.path().join(format!("classify_{}.json", &k[..1]));
        std::fs::write(&path, serde_json::to_vec(&out).unwrap()).unwrap();
        shards.push(path);
    }
    assert_eq!(files, photos, "no overlap, no gap, the order kept");
    let merged = merge(
        &[shards[1].clone(), shards[0].clone()],
        &dir.path().join("all.json"),
    );
    assert_eq!(merged, whole);

    // A shard given twice, or one missing, is refused and nothing is written.
    let out = dir.path().join("bad.json");
    for given in [vec![&shards[0], &shards[0]], vec![&shards[1]]] {
        let mut args = vec!["merge"];
        args.extend(given.iter().map(|p| p.to_str().unwrap()));
        args.extend(["--out", out.to_str().unwrap()]);
        let run = netlens(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{given:?} merged");
        assert!(
            err.contains("both shard 0/2") || err.contains("shards missing: 0/2"),
            "{err}"
        );
        assert!(!out.exists());
    }
    // A plot is drawn for robustness results only; nothing is written for others.
    let plot = dir.path().join("bad.png");
    let (s0, s1) = (shards[0].to_str().unwrap(), shards[1].to_str().unwrap());
    let (out_arg, plot_arg) = (out.to_str().unwrap(), plot.to_str().unwrap());
    let run = netlens(&["merge", s0, s1, "--out", out_arg, "--plot", plot_arg]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("--plot draws the results of `robustness`"),
        "{err}"
    );
    assert!(!out.exists() && !plot.exists());
    let run = netlens(&["classify", "--shard", "2/2", &photos[0]]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("K must be less than N"), "{err}");
}

#[test]
fn attack_shards_merge_into_the_unsharded_results() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos();
    let attack = |name: &str, shard: Option<&str>| -> Value {
        let fig = dir.path().join(format!("{name}.png"));
        let mut args = vec![
            "attack", "--method", "fgsm", "--eps", "2", "--batch", "1", "--out",
        ];
        args.push(fig.to_str().unwrap());
        args.extend(shard.map(|s| ["--shard", s]).into_iter().flatten());
        for p in &photos {
            args.extend(["--image", p.as_str()]);
        }
        succeed(&args);
        read_json(&dir.path().join(format!("{name}_results.json")))
    };
    let whole = attack("whole", None);
    assert_eq!(whole.as_array().unwrap().len(), 3);
    let a = attack("a", Some("0/2"));
    let b = attack("b", Some("1/2"));
    assert_eq!(a["job"], "fool");
    assert_eq!(
        (a["shard"]["end"].clone(), b["shard"]["start"].clone()),
        (1.into(), 1.into())
    );
    let merged = merge(
        &[
            dir.path().join("a_results.json"),
            dir.path().join("b_results.json"),
        ],
        &dir.path().join("all.json"),
    );
    assert_eq!(merged, whole);
}

#[test]
fn robustness_shards_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos();
    let robustness = |name: &str, shard: Option<&str>| -> Value {
        let plot = dir.path().join(format!("{name}.png"));
        let mut args = vec![
            "robustness",
            "--attack",
            "fgsm",
            "--eps",
            "1,8",
            "--batch",
            "1",
            "--out",
            plot.to_str().unwrap(),
        ];
        args.extend(shard.map(|s| ["--shard", s]).into_iter().flatten());
        args.extend(photos.iter().map(String::as_str));
        succeed(&args);
        read_json(&dir.path().join(format!("{name}.json")))
    };
    let whole = robustness("whole", None);
    assert_eq!(whole["images"], 3);
    let a = robustness("a", Some("0/2"));
    let b = robustness("b", Some("1/2"));
    assert_eq!(a["job"], "robustness");
    assert_eq!(a["results"]["images"], 1);
    assert_eq!(b["results"]["images"], 2);
    let merged = merge(
        &[dir.path().join("a.json"), dir.path().join("b.json")],
        &dir.path().join("all.json"),
    );
    // Accuracies pooled by counts over the three images, not the mean of the shards' accuracies.
    assert_eq!(merged, whole);
    // With --plot, merge draws the unsharded run's figure, pixel for pixel.
    let plot = dir.path().join("all.png");
    succeed(&[
        "merge",
        dir.path().join("b.json").to_str().unwrap(),
        dir.path().join("a.json").to_str().unwrap(),
        "--out",
        dir.path().join("all-again.json").to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let pixels = |p: &Path| image::open(p).unwrap().to_rgb8();
    assert_eq!(pixels(&plot), pixels(&dir.path().join("whole.png")));
}
