//! Running the `kgpt` binary from the native test crates (cli, training_faults, hostile_files):
//! each crate uses what it needs of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `kgpt args…` and returns its output.
pub fn kgpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgpt"))
        .args(args)
        .output()
        .expect("run kgpt")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = kgpt(args);
    assert!(
        out.status.success(),
        "kgpt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must fail cleanly: non-zero exit, an "error: " message, no panic.
/// Returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = kgpt(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "kgpt {args:?} should fail: {err}");
    assert!(!err.contains("panicked"), "kgpt {args:?} panicked: {err}");
    assert!(err.contains("error: "), "kgpt {args:?}: {err}");
    err
}

/// A fresh, empty temporary folder for this test crate, process and `name`.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kgpt-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `kgpt init` of a tiny model (C=8, H=2, L=1, the given block size) whose vocabulary is the
/// characters of `vocab_from`, written to `out`.
pub fn init_tiny(vocab_from: &Path, block_size: &str, out: &Path) {
    ok(&[
        "init",
        "--vocab-from",
        s(vocab_from),
        "--n-embd",
        "8",
        "--n-head",
        "2",
        "--n-layer",
        "1",
        "--block-size",
        block_size,
        "--out",
        s(out),
    ]);
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
