//! Every output of a command is planned and checked before any work, and written whole or not at
//! all: outputs over inputs, outputs over each other, wrong extensions, folders that cannot be
//! written, names made from inputs that would repeat; and the messages of bad weights, data
//! folders and adapter choices. The refusals run with an adapter that does not exist and weights
//! that do not exist, so a check made after loading weights or opening the GPU would fail
//! differently: they prove the check comes first and need no GPU.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of `netlens` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `netlens` with `args` and extra environment.
fn netlens(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netlens"));
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("netlens runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("netlens {}\n{}", args.join(" "), run.stderr);
    run
}

/// `fool` of `images` toward tench for two steps, the figure at `out`, the fooled images at
/// `base`.
fn fool_two_steps<'a>(images: [&'a str; 2], out: &'a str, base: &'a str) -> Vec<&'a str> {
    let [a, b] = images;
    vec![
        "fool",
        "--image",
        a,
        "--image",
        b,
        "--target",
        "tench",
        "--steps",
        "2",
        "--out",
        out,
        "--save-fooled",
        base,
    ]
}

/// A gallery photo.
fn photo(name: &str) -> PathBuf {
    common::data_dir().join("data/gallery").join(name)
}

/// The names in `dir`, sorted (hidden ones too).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `args` for a command that must be refused before any work: weights that do not exist and an
/// adapter that does not exist come after them.
fn refused(args: &[&str], weights: &Path) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let flag = if args[0] == "transfer" {
        "--squeezenet-weights"
    } else {
        "--weights"
    };
    all.extend([flag.into(), weights.display().to_string()]);
    all.extend(["--adapter".into(), "no-such-adapter".into()]);
    all
}

/// Asserts that `args` fail with exit code 1 and a message holding every one of `parts`, before
/// touching weights or the GPU, writing nothing in `dir`.
#[track_caller]
fn assert_refused(dir: &Path, args: &[&str], parts: &[&str]) {
    let before = listing(dir);
    let weights = dir.join("absent.safetensors");
    let args = refused(args, &weights);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = netlens(&args, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for part in parts {
        assert!(
            run.stderr.contains(part),
            "`{part}` missing from: {}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("absent.safetensors"), "{}", run.stderr);
    assert!(!run.stderr.contains("no-such-adapter"), "{}", run.stderr);
    assert_eq!(listing(dir), before, "{args:?} wrote something");
}

#[test]
fn side_files_and_wrong_extensions_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let image = photo("n01558993_robin.jpg").display().to_string();
    for out in ["d.npy", "d.json", "d.scores.csv", "x.xyz", "x.jpg", "noext"] {
        let out = d(out);
        let commands: [Vec<&str>; 3] = [
            vec!["dream", "--class", "76", "--out", &out],
            vec![
                "fool", "--image", &image, "--target", "tench", "--out", &out,
            ],
            vec!["saliency", "--out", &out, &image],
        ];
        for args in &commands {
            assert_refused(dir.path(), args, &["--out", &out, "must end in .png"]);
        }
    }
    let out = d("t.png");
    assert_refused(
        dir.path(),
        &[
            "transfer", "--image", &image, "--target", "tench", "--out", &out,
        ],
        &["the table (--out)", "must end in .csv"],
    );
    // Images saved alone are PNG files too.
    let (out, bad) = (d("d.png"), d("image.jpg"));
    assert_refused(
        dir.path(),
        &[
            "dream",
            "--class",
            "76",
            "--save-image",
            &bad,
            "--out",
            &out,
        ],
        &["--save-image", &bad, "must end in .png"],
    );
}

#[test]
fn outputs_that_collide_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.png").display().to_string();
    let image = photo("n01558993_robin.jpg").display().to_string();
    assert_refused(
        dir.path(),
        &["dream", "--class", "76", "--save-image", &x, "--out", &x],
        &[
            "an image (--save-image)",
            "the figure (--out) is written there too",
        ],
    );
    let args = [
        "fool",
        "--image",
        &image,
        "--target",
        "tench",
        "--save-fooled",
        &x,
        "--out",
        &x,
    ];
    assert_refused(
        dir.path(),
        &args,
        &["the figure (--out) is written there too"],
    );
    // Several dream runs number their images: x-1.png is also the figure.
    let x1 = dir.path().join("x-1.png").display().to_string();
    assert_refused(
        dir.path(),
        &["dream", "--class", "76,1", "--save-image", &x, "--out", &x1],
        &[&x1, "written there too"],
    );
}

#[test]
fn fooled_images_never_replace_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let sf = dir.path().join("sf");
    std::fs::create_dir(&sf).unwrap();
    let robin = std::fs::read(photo("n01558993_robin.jpg")).unwrap();
    let a = sf.join("a.jpg");
    let victim = sf.join("s_a_tench.png");
    std::fs::write(&a, &robin).unwrap();
    std::fs::write(&victim, &robin).unwrap();
    let (a, victim_s) = (a.display().to_string(), victim.display().to_string());
    let out = sf.join("fig2.png").display().to_string();
    let base = sf.join("s.png").display().to_string();
    let args = fool_two_steps([&a, &victim_s], &out, &base);
    assert_refused(
        &sf,
        &args,
        &[
            &victim_s,
            "a fooled image (--save-fooled)",
            "one of the inputs",
        ],
    );
    assert_eq!(std::fs::read(&victim).unwrap(), robin);

    // A hard link to an input is the input.
    #[cfg(unix)]
    {
        let link = sf.join("link.png");
        std::fs::hard_link(&victim, &link).unwrap();
        let link = link.display().to_string();
        assert_refused(
            &sf,
            &[
                "dream", "--class", "76", "--init", &victim_s, "--out", &link,
            ],
            &["one of the inputs", &victim_s],
        );
    }
}

#[cfg(unix)]
#[test]
fn unwritable_places_are_refused_before_any_work() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let image = photo("n01558993_robin.jpg").display().to_string();
    // --out a folder.
    let folder = dir.path().join("fig.png");
    std::fs::create_dir(&folder).unwrap();
    let f = folder.display().to_string();
    assert_refused(
        dir.path(),
        &["dream", "--class", "76", "--out", &f],
        &[&f, "it is a folder"],
    );
    // A folder given as a file's parent.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("fig.png").display().to_string();
    assert_refused(
        dir.path(),
        &["saliency", "--out", &out, &image],
        &["is not a folder"],
    );
    // A symbolic link loop on the way.
    let looped = dir.path().join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let out = looped.join("fig.png").display().to_string();
    assert_refused(
        dir.path(),
        &[
            "fool", "--image", &image, "--target", "tench", "--out", &out,
        ],
        &["symbolic link that leads nowhere"],
    );
    // A folder without write permission; permissions do not bind root, for whom Linux's /sys
    // serves.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let sys = Path::new("/sys");
    let unwritable = [locked.as_path(), sys]
        .into_iter()
        .find(|d| d.is_dir() && std::fs::write(d.join("netlens-probe"), b"").is_err());
    let Some(unwritable) = unwritable else {
        eprintln!("no folder this user cannot write: the last case is not run");
        return;
    };
    let out = unwritable.join("sub/fig.png").display().to_string();
    assert_refused(
        dir.path(),
        &["dream", "--class", "76", "--out", &out],
        &["cannot create files in", &unwritable.display().to_string()],
    );
    assert!(!unwritable.join("sub").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn stale_temporary_files_of_killed_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    // No process has this id (above Linux's largest).
    let stale = dir.path().join(".fig.png.tmp-4294967295-0");
    std::fs::write(&stale, b"half a figure").unwrap();
    let out = dir.path().join("fig.png").display().to_string();
    let run = netlens(
        &[
            "dream",
            "--class",
            "76",
            "--out",
            &out,
            "--adapter",
            "no-such-adapter",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no-such-adapter"), "{}", run.stderr);
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

/// Writes a safetensors file of `header` (JSON) and `data` to `path`; returns the path.
fn weights_file(path: &Path, header: &str, data: &[u8]) -> String {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn bad_weights_data_and_adapters_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let image = photo("n01558993_robin.jpg").display().to_string();
    let out = dir.path().join("fig.png").display().to_string();
    let fool = |weights: &str| {
        netlens(
            &[
                "fool",
                "--image",
                &image,
                "--target",
                "tench",
                "--out",
                &out,
                "--weights",
                weights,
            ],
            &[],
        )
    };
    // A folder as weights: the folder and the cause, once each.
    let folder = dir.path().display().to_string();
    let run = fool(&folder);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stderr.matches(&folder).count(), 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("is a directory").count(),
        1,
        "{}",
        run.stderr
    );
    // A header whose shape disagrees with the tensor's bytes.
    let header =
        r#"{"features.0.weight":{"dtype":"F32","shape":[64,3,3,3],"data_offsets":[0,16]}}"#;
    let bad = weights_file(&dir.path().join("bad.safetensors"), header, &[0; 16]);
    let run = fool(&bad);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("tensor `features.0.weight`: shape [64, 3, 3, 3] of F32 needs 6912"),
        "{}",
        run.stderr
    );
    // All-zero weights.
    let header = r#"{"features.0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"classifier.1.weight":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}"#;
    let zeros = weights_file(&dir.path().join("zeros.safetensors"), header, &[0; 32]);
    let run = fool(&zeros);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("zeros.safetensors"), "{}", run.stderr);
    assert!(
        run.stderr.contains("every weight tensor is all zeros"),
        "{}",
        run.stderr
    );
    assert!(
        listing(dir.path())
            .iter()
            .all(|n| n.ends_with(".safetensors"))
    );

    // A data folder that is not there.
    let nowhere = dir.path().join("nowhere");
    let run = netlens(&["classify", &image], &[("NETLENS_DATA", &nowhere)]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("NETLENS_DATA is {}", nowhere.display())),
        "{}",
        run.stderr
    );

    // An adapter index past the last one lists the adapters and gives no install advice when
    // there are some.
    let run = netlens(&["classify", "--adapter", "99", &image], &[]);
    assert_eq!(run.code, Some(1));
    if run.stderr.contains("none matches `99`") {
        assert!(run.stderr.contains("[0] "), "{}", run.stderr);
        assert!(!run.stderr.contains("lavapipe"), "{}", run.stderr);
    } else {
        assert!(
            run.stderr.contains("no GPU adapter found"),
            "{}",
            run.stderr
        );
    }
}

/// `classify` reads its weights before it opens a device: a missing weights file is the error
/// named, whatever the adapter.
#[test]
fn classify_names_bad_weights_before_any_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let image = photo("n01558993_robin.jpg").display().to_string();
    let missing = dir.path().join("missing.safetensors").display().to_string();
    let run = netlens(
        &[
            "classify",
            "--weights",
            &missing,
            "--adapter",
            "no-such-adapter",
            &image,
        ],
        &[],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains(&missing), "{}", run.stderr);
    assert!(!run.stderr.contains("no-such-adapter"), "{}", run.stderr);
}

/// The smallest fooling run: two photos with the same name in different folders, two steps. Two
/// steps do not fool the network, so `fool` exits 1 after writing every output.
#[test]
fn a_run_writes_every_output_whole_with_unique_names() {
    let dir = tempfile::tempdir().unwrap();
    let robin = std::fs::read(photo("n01558993_robin.jpg")).unwrap();
    let hay = std::fs::read(photo("n07802026_hay.jpg")).unwrap();
    for (sub, bytes) in [("one", &robin), ("two", &hay)] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("x.jpg"), bytes).unwrap();
    }
    let out_dir = dir.path().join("out");
    let one = dir.path().join("one/x.jpg").display().to_string();
    let two = dir.path().join("two/x.jpg").display().to_string();
    let out = out_dir.join("fig.png").display().to_string();
    let base = out_dir.join("s.png").display().to_string();
    let mut args = fool_two_steps([&one, &two], &out, &base);
    args.push("--quiet");
    let run = netlens(&args, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("2 of 2 fooling images do not fool the network as saved"),
        "{}",
        run.stderr
    );
    let names = [
        "fig.json",
        "fig.png",
        "fig_perturbation.npy",
        "fig_results.csv",
        "fig_results.json",
        "s_x_tench-2.png",
        "s_x_tench.png",
    ];
    assert_eq!(listing(&out_dir), names);
    for name in ["s_x_tench.png", "s_x_tench-2.png"] {
        assert_eq!(
            run.stdout
                .matches(&format!("saved {}", out_dir.join(name).display()))
                .count(),
            1
        );
        let saved = image::open(out_dir.join(name)).unwrap();
        assert_eq!((saved.width(), saved.height()), (224, 224));
    }
    // The two fooled images are of the two photos.
    let a = image::open(out_dir.join("s_x_tench.png"))
        .unwrap()
        .into_rgb8();
    let b = image::open(out_dir.join("s_x_tench-2.png"))
        .unwrap()
        .into_rgb8();
    assert_ne!(a, b);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("fig.json")).unwrap()).unwrap();
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), names.len() - 1, "{outputs:?}");
    assert_eq!(std::fs::read(dir.path().join("one/x.jpg")).unwrap(), robin);
}
