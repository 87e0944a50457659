//! Training faults: NaN/Inf from the weights or an absurd learning rate is detected in the step,
//! the update is not applied, `kgpt train`/`kgpt step` stop with a message and the last
//! checkpoint stays loadable; a checkpoint from another vocabulary refuses other data unless
//! `--allow-vocab-mismatch`.
#![cfg(not(target_arch = "wasm32"))]

mod kgpt_cli;
use kgpt::checkpoint;
use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::text::Tokenizer;
use kgpt::train::{sample_batch, TrainError, Trainer};
use kgpt_cli::{fails, ok, s, tmp};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TEXT: &str = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ.\n";

/// A fresh folder with `train.txt` (TEXT × 20) and the path of a run inside it.
fn run_dir(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tmp(name);
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(20)).unwrap();
    let run = dir.join("run");
    (dir, data, run)
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

/// `kgpt train --data DATA --out RUN --steps STEPS <extra…>` with the small TRAIN_SHAPE model.
fn train_args<'a>(
    data: &'a Path,
    run: &'a Path,
    steps: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--out",
        s(run),
        "--steps",
        steps,
    ];
    args.extend_from_slice(extra);
    args.extend(TRAIN_SHAPE);
    args
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
    let (_, data, run) = run_dir("nan");
    let args = train_args(
        &data,
        &run,
        "50",
        &["--stop-after", "3", "--eval-interval", "1"],
    );
    ok(&args);

    // Poison the weights of the saved state, keeping its AdamW moments and settings.
    let state_path = run.join("train-state.safetensors");
    let poisoned = rewrite_state(&run, |model, _| {
        model.params.iter_mut().for_each(|p| *p *= 1e19)
    });

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

/// lr 1000 with the update-size guard off drives the loss to NaN or past the loss limit within
/// a few steps; with a checkpoint every step the state on disk is the last good one and loads.
#[test]
fn kgpt_train_with_absurd_lr_stops_and_the_last_checkpoint_loads() {
    let (_, data, run) = run_dir("lr1000");
    let args = train_args(
        &data,
        &run,
        "200",
        &[
            "--lr",
            "1000",
            "--eval-interval",
            "1",
            "--schedule",
            "cosine",
            "--warmup",
            "100000",
            "--max-update-ratio",
            "1e30",
        ],
    );
    let err = fails(&args);
    assert!(
        err.contains("non-finite") || err.contains("diverged"),
        "{err}"
    );
    assert!(err.contains("is kept"), "{err}");
    let state = std::fs::read(run.join("train-state.safetensors")).unwrap();
    let (l, _) = checkpoint::load_with_extras(&state, None, &["adamw.m.", "adamw.v."]).unwrap();
    assert!(l.model.params.iter().all(|p| p.is_finite()));
    checkpoint::load(&std::fs::read(run.join("model.safetensors")).unwrap(), None).unwrap();
}

/// lr 10 does not produce NaN: unguarded, the loss climbs to hundreds of nats and stays
/// finite. The update-size guard refuses the first step, says why, and writes nothing.
#[test]
fn kgpt_train_with_lr_10_stops_with_a_message() {
    let (_, data, run) = run_dir("lr10");
    let mut args = train_args(&data, &run, "100", &["--lr", "10", "--eval-interval", "10"]);
    let err = fails(&args);
    assert!(err.contains("step 0: training diverged"), "{err}");
    assert!(err.contains("lower the learning rate"), "{err}");
    assert!(err.contains("no checkpoint was written yet"), "{err}");
    assert!(!run.join("model.safetensors").exists());

    // Unguarded, the same run is stopped by the loss rule instead (loss > 3 ln V).
    let _ = std::fs::remove_dir_all(&run);
    args.extend(["--max-update-ratio", "1e30"]);
    let err = fails(&args);
    assert!(err.contains("training diverged: loss"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The guards in the library: a too-large update is undone (weights and AdamW state bit for
/// bit), a diverged loss is refused before the update, and `undo_last_update` restores the
/// state before the last applied step.
#[test]
fn divergence_guards_leave_the_model_and_optimizer_untouched() {
    let (mut m, _, data) = tiny();
    let batch = sample_batch(&data, 2, 8, 1, 0).unwrap();
    let mut trainer = Trainer::new(&m, 1);
    trainer.step(&mut m, &batch, 1e-3, Some((1, 0))).unwrap();
    let (params, opt) = (m.params.clone(), trainer.opt.clone());

    let e = trainer
        .step(&mut m, &batch, 10.0, Some((1, 1)))
        .unwrap_err();
    assert!(matches!(e, TrainError::UpdateTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("not applied"), "{e}");
    assert_eq!(m.params, params);
    assert_eq!(
        (trainer.opt.step, &trainer.opt.m, &trainer.opt.v),
        (opt.step, &opt.m, &opt.v)
    );

    // The loss rule: ln V ≈ 2.9 here, so the limit is 3 ln V ≈ 8.6 nats. Make the model
    // confidently wrong by scaling the logits: the loss jumps far above it.
    let limit = trainer.loss_limit(m.config.vocab_size);
    let v = m.config.vocab_size as f32;
    assert!((limit - 3.0 * v.ln()).abs() < 1e-4, "{limit}");
    let mut wrong = m.clone();
    let lm = wrong.layout.lm_head.weight_range();
    wrong.params[lm].iter_mut().for_each(|p| *p *= 1e4);
    let before = wrong.params.clone();
    let e = trainer
        .step(&mut wrong, &batch, 1e-3, Some((1, 1)))
        .unwrap_err();
    assert!(
        matches!(e, TrainError::LossDiverged { loss, .. } if loss > limit),
        "{e}"
    );
    assert_eq!(wrong.params, before);
    // A fresh trainer takes its reference from its own first step: a model that starts badly
    // (loaded, say) can still be trained.
    let mut fresh = Trainer::new(&wrong, 1);
    let first = fresh
        .step(&mut wrong, &batch, 1e-3, Some((1, 1)))
        .expect("the first step of a trainer is never refused for its loss");
    assert!(first.loss > limit, "{}", first.loss);
    assert!(fresh.loss_limit(m.config.vocab_size) >= 2.0 * first.loss);

    // Undo: back to the weights and moments before the last applied update.
    let (params_before, opt_before) = (m.params.clone(), trainer.opt.clone());
    trainer.step(&mut m, &batch, 1e-3, Some((1, 1))).unwrap();
    assert_ne!(m.params, params_before);
    assert!(trainer.undo_last_update(&mut m));
    assert_eq!(m.params, params_before);
    assert_eq!(trainer.opt.step, opt_before.step);
    assert!(trainer.opt.m == opt_before.m && trainer.opt.v == opt_before.v);
    assert!(!trainer.undo_last_update(&mut m), "only one level of undo");
}

/// When training stops before the first checkpoint, the message must not claim one was kept.
#[test]
fn kgpt_train_does_not_claim_a_checkpoint_it_never_wrote() {
    let (_, data, run) = run_dir("noclaim");
    let args = train_args(
        &data,
        &run,
        "200",
        &["--lr", "1000", "--eval-interval", "1000"],
    );
    let err = fails(&args);
    assert!(err.contains("diverged"), "{err}");
    if !run.join("train-state.safetensors").exists() {
        assert!(!err.contains("is kept"), "no checkpoint exists: {err}");
    }
}

#[test]
fn resume_on_other_vocabulary_needs_allow_vocab_mismatch() {
    let (dir, data, run) = run_dir("vocab");
    let args = train_args(
        &data,
        &run,
        "20",
        &["--stop-after", "2", "--eval-interval", "1"],
    );
    ok(&args);
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
    ok(&[
        "train",
        "--data",
        s(&other),
        "--resume",
        s(&run),
        "--threads",
        "1",
        "--allow-vocab-mismatch",
    ]);
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

/// `kgpt train --data DATA --resume RUN --steps STEPS`.
fn resume_args<'a>(data: &'a Path, run: &'a Path, steps: &'a str) -> [&'a str; 7] {
    [
        "train",
        "--data",
        s(data),
        "--resume",
        s(run),
        "--steps",
        steps,
    ]
}

/// Rewrites a run's training state after `edit` changed its weights and/or metadata (config
/// and vocab are written from the model); the AdamW moments are kept. Returns the new bytes.
fn rewrite_state(
    run: &Path,
    edit: impl FnOnce(&mut Model, &mut HashMap<String, String>),
) -> Vec<u8> {
    let path = run.join("train-state.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let (mut l, extras) =
        checkpoint::load_with_extras(&bytes, None, &["adamw.m.", "adamw.v."]).unwrap();
    edit(&mut l.model, &mut l.metadata);
    let mut names: Vec<&String> = extras.keys().collect();
    names.sort();
    let shaped: Vec<(String, Vec<usize>, &[f32])> = names
        .iter()
        .map(|n| ((*n).clone(), vec![extras[*n].len()], extras[*n].as_slice()))
        .collect();
    let meta: Vec<(&str, String)> = l
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "config" && k.as_str() != "vocab")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let out = checkpoint::to_bytes_with_extras(&l.model, &l.tokenizer, &shaped, &meta).unwrap();
    std::fs::write(&path, &out).unwrap();
    out
}

/// A training state whose step counters are missing, garbled or absurd is refused on resume
/// (AdamW's bias correction takes the step as an i32 power: 2^31 and above would wrap).
#[test]
fn resume_refuses_missing_or_garbled_step_counters() {
    let (_, data, run) = run_dir("counters");
    let args = train_args(&data, &run, "4", &["--eval-interval", "2"]);
    ok(&args);
    let good = std::fs::read(run.join("train-state.safetensors")).unwrap();
    let resume = resume_args(&data, &run, "6");
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("step", None, "has no 'step'"),
        ("step", Some("four"), "'step' is \"four\", not a step count"),
        ("step", Some("-1"), "not a step count"),
        ("adamw_step", None, "has no 'adamw_step'"),
        (
            "adamw_step",
            Some("2147483648"),
            "above the largest supported",
        ),
        (
            "step",
            Some("99999999999999"),
            "above the largest supported",
        ),
    ];
    for (key, value, expected) in cases {
        std::fs::write(run.join("train-state.safetensors"), &good).unwrap();
        rewrite_state(&run, |_, meta| match value {
            Some(v) => {
                meta.insert(key.to_string(), v.to_string());
            }
            None => {
                meta.remove(key);
            }
        });
        let err = fails(&resume);
        assert!(err.contains("cannot resume from"), "{key}={value:?}: {err}");
        assert!(err.contains(expected), "{key}={value:?}: {err}");
    }
    // The intact state still resumes.
    std::fs::write(run.join("train-state.safetensors"), &good).unwrap();
    ok(&resume);
}

/// A run killed between writing a log row and its checkpoint logged a step the resumed run
/// repeats (and maybe a torn line): resuming keeps one row per step.
#[test]
fn resume_keeps_one_log_row_per_step() {
    let (_, data, run) = run_dir("logrows");
    let args = train_args(&data, &run, "4", &["--eval-interval", "2"]);
    ok(&args);
    // What a kill after the step-6 log line, before its checkpoint, leaves behind.
    let log = run.join("log.csv");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("6,1.0e-3,2.5,2.5,,100,1.0\n8,1.0e-3,2.");
    std::fs::write(&log, text).unwrap();
    let resume = resume_args(&data, &run, "8");
    ok(&resume);
    let text = std::fs::read_to_string(&log).unwrap();
    let steps: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["2", "4", "6", "8"], "{text}");
    assert!(text.starts_with("step,lr,"), "{text}");
    assert!(
        !text.contains(",2.5,2.5,"),
        "the stale row survived: {text}"
    );
}
