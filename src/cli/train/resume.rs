//! Starting a run, resuming one exactly where it stopped, and saving it.

use super::{default_shape, TrainArgs, MAX_RESUME_STEP, MODEL_FILE, STATE_FILE};
use crate::cli::{checkpoint, write_file, CliResult};
use kgpt::checkpoint::Extras;
use kgpt::model::Model;
use kgpt::text::Tokenizer;
use kgpt::train::Trainer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run in progress: its directory, settings, model, vocabulary, optimizer and step.
pub(super) struct Run {
    pub dir: PathBuf,
    pub args: TrainArgs,
    pub model: Model,
    pub tok: Tokenizer,
    pub trainer: Trainer,
    pub step: u64,
    /// The step of the checkpoint on disk (a resumed run starts from one).
    pub saved_step: Option<u64>,
}

/// A new run in `--out` (refused if it already holds one), vocabulary from the training text.
pub(super) fn start(a: TrainArgs, text: &str) -> CliResult<Run> {
    let dir = a.out.clone().ok_or("give --out DIR (or --resume DIR)")?;
    if dir.join(STATE_FILE).exists() {
        return Err(format!(
            "{} already holds a run: use --resume {} or another --out",
            dir.display(),
            dir.display()
        ));
    }
    let tok = Tokenizer::from_text(text);
    if tok.vocab_size() < 2 {
        return Err(format!(
            "{}: need at least 2 distinct characters",
            a.data.display()
        ));
    }
    let cfg = a.shape.config(tok.vocab_size())?;
    let model = Model::init(cfg, a.seed);
    let trainer = Trainer::new(&model, a.threads);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(Run {
        dir,
        args: a,
        model,
        tok,
        trainer,
        step: 0,
        saved_step: None,
    })
}

/// The run in `dir`, with its saved settings (this invocation's data, threads, --stop-after,
/// --allow-vocab-mismatch, and --steps when `steps_given`), weights and AdamW state.
pub(super) fn resume(dir: &Path, a: TrainArgs, steps_given: bool) -> CliResult<Run> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot resume: cannot read {}: {e}", path.display()))?;
    let prefixes = ["adamw.m.", "adamw.v."];
    let (l, extras) = checkpoint::load_with_extras(&bytes, None, &prefixes)
        .map_err(|e| format!("cannot resume from {}: {e}", path.display()))?;
    let saved: TrainArgs = l
        .metadata
        .get("train_args")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| format!("{} has no training settings", path.display()))?;
    let args = TrainArgs {
        data: a.data,
        val: a.val,
        out: Some(dir.to_path_buf()),
        resume: Some(dir.to_path_buf()),
        steps: if steps_given { a.steps } else { saved.steps },
        threads: a.threads,
        allow_vocab_mismatch: a.allow_vocab_mismatch,
        stop_after: a.stop_after,
        shape: default_shape(),
        ..saved
    };
    let step = resume_counter(&l.metadata, "step", &path)?;
    let mut trainer = Trainer::new(&l.model, args.threads);
    trainer.opt.step = resume_counter(&l.metadata, "adamw_step", &path)?;
    load_moments(&mut trainer, &l.model, &extras, &path)?;
    eprintln!(
        "resuming {} at step {step} of {}",
        dir.display(),
        args.steps
    );
    Ok(Run {
        dir: dir.to_path_buf(),
        args,
        model: l.model,
        tok: l.tokenizer,
        trainer,
        step,
        saved_step: Some(step),
    })
}

/// AdamW's first and second moments of every tensor, from the training state's extras.
fn load_moments(
    trainer: &mut Trainer,
    model: &Model,
    extras: &Extras,
    path: &Path,
) -> CliResult<()> {
    for t in &model.layout.tensors {
        for (prefix, buf) in [
            ("adamw.m.", &mut trainer.opt.m),
            ("adamw.v.", &mut trainer.opt.v),
        ] {
            let name = format!("{prefix}{}", t.name);
            let v = extras
                .get(&name)
                .ok_or_else(|| format!("{}: missing optimizer tensor {name}", path.display()))?;
            if v.len() != t.len() {
                return Err(format!(
                    "{}: optimizer tensor {name} has the wrong size",
                    path.display()
                ));
            }
            buf[t.range()].copy_from_slice(v);
        }
    }
    Ok(())
}

/// A step counter from a training state's metadata: present, a whole number, not absurd.
fn resume_counter(metadata: &HashMap<String, String>, key: &str, path: &Path) -> CliResult<u64> {
    let raw = metadata.get(key).ok_or_else(|| {
        format!(
            "cannot resume from {}: the training state has no '{key}' (not written by kgpt train?)",
            path.display()
        )
    })?;
    match raw.trim().parse::<u64>() {
        Ok(n) if n <= MAX_RESUME_STEP => Ok(n),
        Ok(n) => Err(format!(
            "cannot resume from {}: '{key}' is {n}, above the largest supported {MAX_RESUME_STEP}",
            path.display()
        )),
        Err(_) => Err(format!(
            "cannot resume from {}: '{key}' is {raw:?}, not a step count",
            path.display()
        )),
    }
}

/// Writes the resumable state (weights + AdamW moments + step + settings) and the plain model.
pub(super) fn save_run(
    dir: &Path,
    model: &Model,
    tok: &Tokenizer,
    trainer: &Trainer,
    args: &TrainArgs,
    step: u64,
) -> CliResult<()> {
    let extras: Vec<(String, Vec<usize>, &[f32])> = model
        .layout
        .tensors
        .iter()
        .flat_map(|t| {
            [
                (
                    format!("adamw.m.{}", t.name),
                    t.shape.clone(),
                    &trainer.opt.m[t.range()],
                ),
                (
                    format!("adamw.v.{}", t.name),
                    t.shape.clone(),
                    &trainer.opt.v[t.range()],
                ),
            ]
        })
        .collect();
    let meta = [
        ("step", step.to_string()),
        ("adamw_step", trainer.opt.step.to_string()),
        (
            "train_args",
            serde_json::to_string(args).map_err(|e| e.to_string())?,
        ),
    ];
    let state =
        checkpoint::to_bytes_with_extras(model, tok, &extras, &meta).map_err(|e| e.to_string())?;
    // The plain model first: a run killed in between then always has a model to load.
    write_file(
        &dir.join(MODEL_FILE),
        &checkpoint::to_bytes(model, tok).map_err(|e| e.to_string())?,
    )?;
    write_file(&dir.join(STATE_FILE), &state)
}

impl Run {
    /// Saves the run at its current step.
    pub fn save(&mut self) -> CliResult<()> {
        save_run(
            &self.dir,
            &self.model,
            &self.tok,
            &self.trainer,
            &self.args,
            self.step,
        )?;
        self.saved_step = Some(self.step);
        Ok(())
    }
}
