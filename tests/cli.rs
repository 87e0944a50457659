//! End-to-end tests of the `kgpt` binary: outputs, reproducibility, exact resume, clean errors.
#![cfg(not(target_arch = "wasm32"))]

mod kgpt_cli;
use kgpt_cli::{fails, init_tiny, ok, s, tmp};
use std::path::{Path, PathBuf};

const TEXT: &str = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ.\n";

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("train.txt");
    std::fs::write(&p, TEXT.repeat(40)).unwrap();
    p
}

/// `corpus(dir)` and `kgpt init` of a tiny model (C=8, H=2, L=1, T=4) with its vocabulary:
/// (training text, weights).
fn tiny_weights(dir: &Path) -> (PathBuf, PathBuf) {
    let data = corpus(dir);
    let w = dir.join("w.safetensors");
    init_tiny(&data, "4", &w);
    (data, w)
}

#[test]
fn count_matches_gpt_py() {
    assert_eq!(
        ok(&["count", "--vocab-size", "65", "--block-size", "32"]).trim(),
        "209729"
    );
    fails(&["count", "--n-head", "3"]);
}

#[test]
fn init_forward_sample_eval() {
    let dir = tmp("ifse");
    let data = corpus(&dir);
    let w = dir.join("w.safetensors");
    ok(&[
        "init",
        "--vocab-from",
        s(&data),
        "--n-embd",
        "16",
        "--n-head",
        "2",
        "--n-layer",
        "2",
        "--block-size",
        "16",
        "--seed",
        "3",
        "--out",
        s(&w),
    ]);
    let out = ok(&["forward", "--weights", s(&w), "--text", "ಕನ್ನಡx", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = v["ids"].as_array().unwrap().len();
    assert_eq!(t, 5, "x is unknown and skipped");
    let vocab = v["config"]["vocab_size"].as_u64().unwrap() as usize;
    assert_eq!(v["logits"].as_array().unwrap().len(), t);
    assert_eq!(v["logits"][0].as_array().unwrap().len(), vocab);
    let att = &v["attention"];
    assert_eq!(att.as_array().unwrap().len(), 2);
    assert_eq!(att[1].as_array().unwrap().len(), 2);
    assert_eq!(att[1][1][4].as_array().unwrap().len(), t);
    assert_eq!(att[1][1][0][1].as_f64().unwrap(), 0.0, "causal");
    assert!(v["loss"].is_null());
    let with_loss = ok(&[
        "forward",
        "--weights",
        s(&w),
        "--ids",
        "1,2",
        "--targets",
        "2,3",
    ]);
    let v: serde_json::Value = serde_json::from_str(&with_loss).unwrap();
    assert!(v["loss"].as_f64().unwrap() > 0.0);

    let a = ok(&[
        "sample",
        "--weights",
        s(&w),
        "--prompt",
        "ಕ",
        "--n",
        "30",
        "--seed",
        "7",
    ]);
    let b = ok(&[
        "sample",
        "--weights",
        s(&w),
        "--prompt",
        "ಕ",
        "--n",
        "30",
        "--seed",
        "7",
    ]);
    let c = ok(&[
        "sample",
        "--weights",
        s(&w),
        "--prompt",
        "ಕ",
        "--n",
        "30",
        "--seed",
        "8",
    ]);
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed, another text");
    assert_eq!(a.trim_end_matches('\n').chars().count(), 31);
    let g1 = ok(&[
        "sample",
        "--weights",
        s(&w),
        "--n",
        "10",
        "--temperature",
        "0",
        "--seed",
        "1",
    ]);
    let g2 = ok(&[
        "sample",
        "--weights",
        s(&w),
        "--n",
        "10",
        "--temperature",
        "0",
        "--seed",
        "2",
    ]);
    assert_eq!(g1, g2, "greedy ignores the seed");

    let e = ok(&["eval", "--weights", s(&w), "--data", s(&data), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&e).unwrap();
    let bpc = v["bits_per_char"].as_f64().unwrap();
    assert!(
        (bpc - (vocab as f64).log2()).abs() < 0.5,
        "untrained ≈ uniform: {bpc}"
    );
    assert_eq!(
        v["predicted"].as_u64().unwrap() as usize,
        TEXT.chars().count() * 40 - 1
    );
}

#[test]
fn train_resume_is_exact_and_learns() {
    let dir = tmp("resume");
    let data = corpus(&dir);
    let common = [
        "--data",
        s(&data),
        "--steps",
        "30",
        "--batch-size",
        "4",
        "--eval-interval",
        "10",
        "--eval-iters",
        "2",
        "--n-embd",
        "16",
        "--n-head",
        "2",
        "--n-layer",
        "2",
        "--block-size",
        "16",
        "--lr",
        "3e-3",
        "--schedule",
        "cosine",
        "--warmup",
        "5",
        "--threads",
        "2",
    ];
    let (a, b) = (dir.join("a"), dir.join("b"));
    let mut args: Vec<&str> = vec!["train", "--out", s(&a)];
    args.extend(common);
    ok(&args);
    let mut args: Vec<&str> = vec!["train", "--out", s(&b), "--stop-after", "13"];
    args.extend(common);
    ok(&args);
    // an existing run is never overwritten by accident
    let mut args: Vec<&str> = vec!["train", "--out", s(&b)];
    args.extend(common);
    assert!(fails(&args).contains("--resume"));
    ok(&[
        "train",
        "--data",
        s(&data),
        "--resume",
        s(&b),
        "--threads",
        "2",
    ]);
    let wa =
        kgpt::checkpoint::load(&std::fs::read(a.join("model.safetensors")).unwrap(), None).unwrap();
    let wb =
        kgpt::checkpoint::load(&std::fs::read(b.join("model.safetensors")).unwrap(), None).unwrap();
    assert_eq!(
        wa.model.params, wb.model.params,
        "resumed run = uninterrupted run"
    );
    let log = std::fs::read_to_string(a.join("log.csv")).unwrap();
    let rows: Vec<&str> = log.lines().collect();
    assert_eq!(rows.len(), 4, "{log}");
    let loss = |row: &str| row.split(',').nth(3).unwrap().parse::<f64>().unwrap();
    assert!(loss(rows[3]) < loss(rows[1]), "{log}");
    // The interrupted run logged an extra row at its stop; every other row has the same losses
    // (tokens/s and elapsed time differ).
    let log_b = std::fs::read_to_string(b.join("log.csv")).unwrap();
    let cut = |r: &str| r.split(',').take(5).collect::<Vec<_>>().join(",");
    let rows_b: Vec<String> = log_b
        .lines()
        .filter(|r| !r.starts_with("13,"))
        .map(cut)
        .collect();
    assert_eq!(rows.iter().map(|r| cut(r)).collect::<Vec<_>>(), rows_b);
    // a resumed run refuses data with characters outside its vocabulary
    let other = dir.join("other.txt");
    std::fs::write(&other, "abcdefghijklmnopqrstuvwxyz".repeat(10)).unwrap();
    assert!(fails(&[
        "train",
        "--data",
        s(&other),
        "--resume",
        s(&b),
        "--steps",
        "40"
    ])
    .contains("vocabulary"));
}

#[test]
fn grads_and_step_write_named_tensors() {
    let dir = tmp("grads");
    let (_, w) = tiny_weights(&dir);
    let g = dir.join("g.safetensors");
    ok(&[
        "grads",
        "--weights",
        s(&w),
        "--ids",
        "1,2,3;4,5,6",
        "--targets",
        "2,3,4;5,6,7",
        "--out",
        s(&g),
    ]);
    let grads = kgpt::checkpoint::load(&std::fs::read(&g).unwrap(), None).unwrap();
    assert!(grads.model.params.iter().any(|&x| x != 0.0));
    let w2 = dir.join("w2.safetensors");
    ok(&[
        "step",
        "--weights",
        s(&w),
        "--ids",
        "1,2,3;4,5,6",
        "--targets",
        "2,3,4;5,6,7",
        "--steps",
        "3",
        "--lr",
        "1e-2",
        "--out",
        s(&w2),
    ]);
    let before = kgpt::checkpoint::load(&std::fs::read(&w).unwrap(), None).unwrap();
    let after = kgpt::checkpoint::load(&std::fs::read(&w2).unwrap(), None).unwrap();
    assert_ne!(before.model.params, after.model.params);
    assert!(fails(&[
        "step",
        "--weights",
        s(&w),
        "--ids",
        "1,2;3",
        "--targets",
        "2,3;4",
        "--out",
        s(&w2)
    ])
    .contains("row"));
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = tmp("bad");
    let (data, w) = tiny_weights(&dir);
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ").unwrap();
    assert!(fails(&["forward", "--weights", s(&junk), "--ids", "1"]).contains("safetensors"));
    let bytes = std::fs::read(&w).unwrap();
    let trunc = dir.join("trunc.safetensors");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    fails(&["forward", "--weights", s(&trunc), "--ids", "1"]);
    fails(&[
        "forward",
        "--weights",
        s(&dir.join("missing.safetensors")),
        "--ids",
        "1",
    ]);
    assert!(fails(&["forward", "--weights", s(&w), "--ids", "1,999"])
        .contains("outside the vocabulary"));
    assert!(fails(&["forward", "--weights", s(&w), "--ids", "1,x"]).contains("not a token id"));
    // An empty id is an error, not skipped (exit 1 with a message naming it).
    assert!(fails(&["forward", "--weights", s(&w), "--ids", "1,,2"]).contains("empty token id"));
    assert!(fails(&["forward", "--weights", s(&w), "--text", "abc"]).contains("empty"));
    fails(&["sample", "--weights", s(&w), "--temperature", "-1"]);
    fails(&[
        "init",
        "--vocab-size",
        "10",
        "--n-embd",
        "10",
        "--n-head",
        "3",
        "--out",
        s(&dir.join("x")),
    ]);
    fails(&[
        "train",
        "--data",
        s(&dir.join("nope.txt")),
        "--out",
        s(&dir.join("r")),
    ]);
    fails(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&dir.join("r2")),
        "--lr",
        "NaN",
        "--block-size",
        "4",
    ]);
}

/// `kgpt heads`, `eval --ablate`, `forward --logit-lens --ablate`, `kgpt embeddings`: outputs
/// with the documented keys and shapes, and clear errors for bad head lists and short texts.
#[test]
fn inside_the_model_commands() {
    let dir = tmp("inside");
    let (data, w) = tiny_weights(&dir);
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "heads",
        "--weights",
        s(&w),
        "--data",
        s(&data),
        "--windows",
        "5",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["windows"], 5);
    let heads = json["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 2, "1 layer × 2 heads");
    for key in [
        "layer",
        "head",
        "prev_char",
        "self",
        "first",
        "mean_distance",
        "entropy_bits",
        "same_akshara",
        "conjunct",
        "word_start",
        "induction",
        "knockout_bits",
        "role",
    ] {
        assert!(heads[1].get(key).is_some(), "heads[1] lacks {key}");
    }
    let table = ok(&["heads", "--weights", s(&w), "--data", s(&data)]);
    assert!(
        table.contains("0.1 ") && table.contains("ko bits"),
        "{table}"
    );

    let eval: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--weights",
        s(&w),
        "--data",
        s(&data),
        "--ablate",
        "0.1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(eval["ablated"], "0.1");
    assert!(
        eval["bits_per_char"].as_f64().unwrap() != eval["intact_bits_per_char"].as_f64().unwrap()
    );

    let fwd: serde_json::Value = serde_json::from_str(&ok(&[
        "forward",
        "--weights",
        s(&w),
        "--ids",
        "1,2,3",
        "--logit-lens",
        "--ablate",
        "0.0",
    ]))
    .unwrap();
    let lens = fwd["logit_lens"].as_array().unwrap();
    assert_eq!(lens.len(), 1);
    assert_eq!(lens[0].as_array().unwrap().len(), 3);
    assert_eq!(lens[0][2], fwd["logits"][2], "last layer's lens = logits");
    assert_eq!(fwd["knocked_out"], "0.0");

    let emb: serde_json::Value =
        serde_json::from_str(&ok(&["embeddings", "--weights", s(&w), "--json"])).unwrap();
    let points = emb["points"].as_array().unwrap();
    assert!(points
        .iter()
        .any(|p| p["char"] == "ಕ" && p["class"] == "consonant"));
    assert!(points
        .iter()
        .any(|p| p["char"] == "್" && p["class"] == "virama"));
    assert_eq!(emb["position_similarity"].as_array().unwrap().len(), 4);

    for (spec, needle) in [
        ("9.9", "layers 0..=0 and heads 0..=1"),
        ("x", "is not a head"),
        ("", "at least one head"),
        ("0.0,,0.1", "empty entry"),
        ("0.1,0.1", "listed twice"),
    ] {
        let err = fails(&[
            "eval",
            "--weights",
            s(&w),
            "--data",
            s(&data),
            "--ablate",
            spec,
        ]);
        assert!(err.contains(needle), "--ablate {spec:?}: {err}");
    }
    let err = fails(&[
        "heads",
        "--weights",
        s(&w),
        "--data",
        s(&data),
        "--windows",
        "0",
    ]);
    assert!(err.contains("at least 1"), "{err}");
    let short = dir.join("short.txt");
    std::fs::write(&short, "ಕನ್ನ").unwrap();
    let err = fails(&["heads", "--weights", s(&w), "--data", s(&short)]);
    assert!(err.contains("one window needs block_size + 1 = 5"), "{err}");
}
