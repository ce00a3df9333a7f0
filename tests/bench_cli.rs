//! `netlens bench` refuses what it cannot measure before timing anything: a batch or an input
//! size over the device's storage binding limit, no repetitions.

use std::process::Command;

/// Runs `netlens bench` with `args`; returns (exit code, stdout, stderr).
fn bench(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netlens"))
        .args(["bench", "--quiet", "--model", "squeezenet"])
        .args(args)
        .output()
        .expect("netlens runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_refuses_what_it_cannot_measure() {
    for (args, cause) in [
        (&["--batch", "1,100000"][..], "at batch 100000 of 224x224"),
        (&["--size", "100000"][..], "at batch 1 of 100000x100000"),
        (&["--reps", "0"][..], "at least 1 repetition"),
    ] {
        let (code, stdout, stderr) = bench(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} measured something: {stdout}");
        assert_eq!(stderr.matches(cause).count(), 1, "{args:?}: {stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{args:?}: {stderr}");
        if args[0] != "--reps" {
            assert!(
                stderr.contains("max_storage_buffer_binding_size")
                    || stderr.contains("max_buffer_size"),
                "{args:?}: {stderr}"
            );
        }
    }
}
