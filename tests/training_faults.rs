//! Training faults: NaN/Inf from the weights or an absurd learning rate is detected in the step,
//! the update is not applied, `kgpt train`/`kgpt step` stop with a message and the last
//! checkpoint stays loadable; a checkpoint from another vocabulary refuses other data unless
//! `--allow-vocab-mismatch`.
#![cfg(not(target_arch = "wasm32"))]

use kgpt::checkpoint;
use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::tokenizer::Tokenizer;
use kgpt::train::{sample_batch, TrainError, Trainer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TEXT: &str = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ.\n";

fn kgpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgpt"))
        .args(args)
        .output()
        .expect("run kgpt")
}

/// Fails cleanly: non-zero exit, "error: " message, no panic. Returns stderr.
fn fails(args: &[&str]) -> String {
    let out = kgpt(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "kgpt {args:?} should fail: {err}");
    assert!(!err.contains("panicked"), "kgpt {args:?} panicked: {err}");
    assert!(err.contains("error: "), "kgpt {args:?}: {err}");
    err
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kgpt-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tiny() -> (Model, Tokenizer, Vec<u32>) {
    let tok = Tokenizer::from_text(TEXT);
    let data = tok.encode(&TEXT.repeat(20)).ids;
    let cfg = Config {
        vocab_size: tok.vocab_size(),
        n_embd: 8,
        n_head: 2,
        n_layer: 1,
        block_size: 8,
        dropout: 0.1,
    };
    (Model::init(cfg, 3), tok, data)
}

const TRAIN_SHAPE: [&str; 14] = [
    "--batch-size",
    "2",
    "--eval-iters",
    "1",
    "--n-embd",
    "8",
    "--n-head",
    "2",
    "--n-layer",
    "1",
    "--block-size",
    "8",
    "--threads",
    "1",
];

#[test]
fn non_finite_steps_are_detected_and_not_applied() {
    let (mut m, _, data) = tiny();
    let batch = sample_batch(&data, 2, 8, 1, 0).unwrap();
    let mut trainer = Trainer::new(&m, 1);
    // Finite but huge weights: the forward pass overflows to Inf/NaN.
    m.params.iter_mut().for_each(|p| *p *= 1e19);
    let before = m.params.clone();
    let e = trainer
        .step(&mut m, &batch, 1e-3, Some((1, 0)))
        .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { .. }), "{e}");
    assert!(e.to_string().contains("not applied"), "{e}");
    assert_eq!(m.params, before, "the update was applied");
    assert_eq!(trainer.opt.step, 0, "AdamW counted a rejected step");

    // A learning rate that overflows the weights themselves.
    let (mut m, _, _) = tiny();
    let mut trainer = Trainer::new(&m, 2);
    let before = m.params.clone();
    assert!(matches!(
        trainer.step(&mut m, &batch, 1e38, Some((1, 0))),
        Err(TrainError::NonFinite { .. })
    ));
    assert_eq!(m.params, before);
}

/// A step rejected after the update (the weights overflowed) puts the weights back, but today
/// AdamW's moments and step counter keep the rejected gradient, so training continued after the
/// rejection (the page's "restore the last good weights") is not the run that never took it.
#[test]
fn rejected_update_leaves_adamw_state_untouched() {
    let (mut m, _, data) = tiny();
    let batch = sample_batch(&data, 2, 8, 1, 0).unwrap();
    let mut trainer = Trainer::new(&m, 1);
    trainer.step(&mut m, &batch, 1e-3, Some((1, 0))).unwrap();
    let opt = trainer.opt.clone();
    assert!(trainer.step(&mut m, &batch, 1e38, Some((1, 1))).is_err());
    assert_eq!(
        trainer.opt.step, opt.step,
        "AdamW step counter advanced by a rejected step"
    );
    assert!(
        trainer.opt.m == opt.m && trainer.opt.v == opt.v,
        "AdamW moments changed"
    );
}

#[test]
fn kgpt_step_refuses_weights_that_overflow() {
    let dir = tmp("step");
    let (mut m, tok, _) = tiny();
    m.params.iter_mut().for_each(|p| *p *= 1e19);
    let w = dir.join("huge.safetensors");
    std::fs::write(&w, checkpoint::to_bytes(&m, &tok).unwrap()).unwrap();
    let out = dir.join("out.safetensors");
    let err = fails(&[
        "step",
        "--weights",
        s(&w),
        "--ids",
        "1,2,3",
        "--targets",
        "2,3,4",
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("non-finite") && err.contains("not applied"),
        "{err}"
    );
    assert!(!out.exists(), "wrote weights after a failed step");
}

/// A run whose training state is poisoned (finite weights that overflow in the forward pass)
/// stops at the first step with a message, and leaves the checkpoint exactly as it was.
#[test]
fn kgpt_train_stops_on_nan_and_keeps_the_checkpoint() {
    let dir = tmp("nan");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--steps",
        "50",
    ];
    args.extend(["--stop-after", "3", "--eval-interval", "1"]);
    args.extend(TRAIN_SHAPE);
    let out = kgpt(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Poison the weights of the saved state, keeping its AdamW moments and settings.
    let state_path = run.join("train-state.safetensors");
    let bytes = std::fs::read(&state_path).unwrap();
    let (mut l, extras) =
        checkpoint::load_with_extras(&bytes, None, &["adamw.m.", "adamw.v."]).unwrap();
    l.model.params.iter_mut().for_each(|p| *p *= 1e19);
    let extras: Vec<(String, Vec<usize>, &[f32])> = extras
        .iter()
        .map(|(k, v)| (k.clone(), vec![v.len()], v.as_slice()))
        .collect();
    let meta: Vec<(&str, String)> = l
        .metadata
        .iter()
        .filter(|(k, _)| *k != "config" && *k != "vocab")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let poisoned =
        checkpoint::to_bytes_with_extras(&l.model, &l.tokenizer, &extras, &meta).unwrap();
    std::fs::write(&state_path, &poisoned).unwrap();

    let err = fails(&[
        "train",
        "--data",
        s(&data),
        "--resume",
        s(&run),
        "--threads",
        "1",
    ]);
    assert!(
        err.contains("step 3") && err.contains("non-finite"),
        "{err}"
    );
    assert!(err.contains("lower the learning rate"), "{err}");
    assert_eq!(
        std::fs::read(&state_path).unwrap(),
        poisoned,
        "checkpoint rewritten"
    );
    assert!(checkpoint::load_with_extras(&poisoned, None, &["adamw.m.", "adamw.v."]).is_ok());
}

/// lr 1000 drives the loss to NaN within a few steps; with a checkpoint every step the state
/// on disk is the last good one and loads.
#[test]
fn kgpt_train_with_absurd_lr_stops_and_the_last_checkpoint_loads() {
    let dir = tmp("lr1000");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--steps",
        "200",
    ];
    args.extend(["--lr", "1000", "--eval-interval", "1"]);
    args.extend(TRAIN_SHAPE);
    let err = fails(&args);
    assert!(err.contains("non-finite"), "{err}");
    let state = std::fs::read(run.join("train-state.safetensors")).unwrap();
    let (l, _) = checkpoint::load_with_extras(&state, None, &["adamw.m.", "adamw.v."]).unwrap();
    assert!(l.model.params.iter().all(|p| p.is_finite()));
    checkpoint::load(&std::fs::read(run.join("model.safetensors")).unwrap(), None).unwrap();
}

/// lr 10 does not produce NaN: the loss climbs to hundreds of nats (ln V ≈ 2.9) and stays
/// finite, so today's NaN/Inf check never fires and the run "completes". Needs the divergence
/// check described in docs/reliability.md (train.rs / cli.rs).
#[test]
#[ignore = "needs divergence detection in Trainer::step (train.rs), see docs/reliability.md"]
fn kgpt_train_with_lr_10_stops_with_a_message() {
    let dir = tmp("lr10");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--steps",
        "100",
    ];
    args.extend(["--lr", "10", "--eval-interval", "10"]);
    args.extend(TRAIN_SHAPE);
    let err = fails(&args);
    assert!(err.contains("learning rate"), "{err}");
}

/// When training stops before the first checkpoint, the message must not claim one was kept.
#[test]
fn kgpt_train_does_not_claim_a_checkpoint_it_never_wrote() {
    let dir = tmp("noclaim");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--steps",
        "200",
    ];
    args.extend(["--lr", "1000", "--eval-interval", "1000"]);
    args.extend(TRAIN_SHAPE);
    let err = fails(&args);
    assert!(err.contains("non-finite"), "{err}");
    if !run.join("train-state.safetensors").exists() {
        assert!(!err.contains("is kept"), "no checkpoint exists: {err}");
    }
}

#[test]
fn resume_on_other_vocabulary_needs_allow_vocab_mismatch() {
    let dir = tmp("vocab");
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--steps",
        "20",
    ];
    args.extend(["--stop-after", "2", "--eval-interval", "1"]);
    args.extend(TRAIN_SHAPE);
    assert!(kgpt(&args).status.success());
    // Other data: the same Kannada text with Latin mixed in.
    let other = dir.join("other.txt");
    std::fs::write(&other, format!("{TEXT}latin text here\n").repeat(20)).unwrap();
    let before = std::fs::read(run.join("train-state.safetensors")).unwrap();
    let err = fails(&[
        "train",
        "--data",
        s(&other),
        "--resume",
        s(&run),
        "--threads",
        "1",
    ]);
    assert!(err.contains("not in the checkpoint's vocabulary"), "{err}");
    assert!(err.contains("--allow-vocab-mismatch"), "{err}");
    assert_eq!(
        std::fs::read(run.join("train-state.safetensors")).unwrap(),
        before
    );
    // Asked for: the unknown characters are skipped and training goes on.
    let out = kgpt(&[
        "train",
        "--data",
        s(&other),
        "--resume",
        s(&run),
        "--threads",
        "1",
        "--allow-vocab-mismatch",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (l, _) = checkpoint::load_with_extras(
        &std::fs::read(run.join("train-state.safetensors")).unwrap(),
        None,
        &["adamw.m.", "adamw.v."],
    )
    .unwrap();
    assert_eq!(l.metadata["step"], "20");
    assert_eq!(
        l.tokenizer,
        Tokenizer::from_text(TEXT),
        "vocabulary unchanged"
    );
}
