//! The recipe options of `kgpt train` (`--weight-decay`, `--decay-scope`) and the units of
//! `kgpt eval` (bits per character, akshara and UTF-8 byte), through the binary.
#![cfg(not(target_arch = "wasm32"))]

mod kgpt_cli;
use kgpt_cli::{fails, init_tiny, ok, s, tmp};
use std::path::Path;

const TEXT: &str = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ.\n";

const SHAPE: [&str; 16] = [
    "--batch-size",
    "4",
    "--eval-interval",
    "5",
    "--eval-iters",
    "1",
    "--n-embd",
    "16",
    "--n-head",
    "2",
    "--n-layer",
    "1",
    "--block-size",
    "8",
    "--lr",
    "1e-2",
];

fn train(data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["train", "--data", s(data), "--out", s(out), "--steps", "12"];
    args.extend(SHAPE);
    args.extend(extra);
    ok(&args);
}

fn params(run: &Path) -> Vec<f32> {
    let bytes = std::fs::read(run.join("model.safetensors")).expect("model written");
    kgpt::checkpoint::load(&bytes, None)
        .expect("loads")
        .model
        .params
}

#[test]
fn decay_flags_change_training_and_survive_resume_bit_for_bit() {
    let dir = tmp("decay-resume");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(30)).unwrap();
    let decay = ["--weight-decay", "0.5", "--decay-scope", "linear"];
    let (plain, whole, parts) = (dir.join("plain"), dir.join("whole"), dir.join("parts"));
    train(&data, &plain, &[]);
    train(&data, &whole, &decay);
    train(
        &data,
        &parts,
        &[&decay[..], &["--stop-after", "7"]].concat(),
    );
    // The resumed half gets no decay flags: they must come back from the training state.
    ok(&["train", "--data", s(&data), "--resume", s(&parts)]);
    assert_eq!(params(&whole), params(&parts), "resumed = uninterrupted");
    assert_ne!(
        params(&whole),
        params(&plain),
        "the decay flags had no effect"
    );
    let state = std::fs::read(whole.join("train-state.safetensors")).unwrap();
    let (loaded, _) =
        kgpt::checkpoint::load_with_extras(&state, None, &["adamw.m.", "adamw.v."]).unwrap();
    let settings = loaded.metadata["train_args"].clone();
    assert!(
        settings.contains("\"weight_decay\":0.5")
            && settings.contains("\"decay_scope\":\"linear\""),
        "{settings}"
    );
}

#[test]
fn bad_weight_decay_is_refused_with_the_flag_named() {
    let dir = tmp("decay-bad");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(30)).unwrap();
    for wd in [
        "--weight-decay=-0.1",
        "--weight-decay=NaN",
        "--weight-decay=inf",
        "--weight-decay=1.5",
        "--weight-decay=200",
    ] {
        let mut args = vec!["train", "--data", s(&data), "--out", s(&dir), wd];
        args.extend(SHAPE);
        let err = fails(&args);
        assert!(err.contains("--weight-decay"), "{wd}: {err}");
    }
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&dir),
        "--decay-scope",
        "some",
    ];
    args.extend(SHAPE);
    assert!(fails(&args).contains("--decay-scope"));
}

#[test]
fn eval_reports_one_total_over_characters_aksharas_and_bytes() {
    let dir = tmp("eval-units");
    let data = dir.join("text.txt");
    // Counted by hand: one line is 40 characters in 23 aksharas
    // (ಜ್ಞಾ ನ ವೇ ␠ ಶ್ರೇ ಷ್ಠ . ␠ ಕ ನ್ನ ಡ ␠ ನಾ ಡು ␠ ಕ ನ್ನ ಡ ␠ ನು ಡಿ . ⏎) and 104 UTF-8 bytes
    // (32 Kannada characters × 3 + 8 ASCII). Two lines: 79 predicted characters, 46 aksharas
    // (the first, ಜ್ಞಾ, holds predicted characters), 208 − 3 bytes (the first character's).
    std::fs::write(&data, TEXT.repeat(2)).unwrap();
    let w = dir.join("w.safetensors");
    init_tiny(&data, "16", &w);
    let out = ok(&["eval", "--weights", s(&w), "--data", s(&data), "--json"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    let num = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} in {out}"));
    assert_eq!(num("predicted"), 79.0);
    assert_eq!(num("aksharas"), 46.0);
    assert_eq!(num("bytes"), 205.0);
    let total = num("bits_per_char") * 79.0;
    assert!(
        (num("bits_per_akshara") * 46.0 - total).abs() < 1e-9,
        "{out}"
    );
    assert!((num("bits_per_byte") * 205.0 - total).abs() < 1e-9, "{out}");
    let text = ok(&["eval", "--weights", s(&w), "--data", s(&data)]);
    assert!(text.contains("bits per akshara over 46 aksharas"), "{text}");
    assert!(
        text.contains("bits per UTF-8 byte over 205 bytes"),
        "{text}"
    );
}
