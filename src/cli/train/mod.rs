//! `kgpt train`: a training run in a directory (model, training state, CSV log), resumable.
//!
//! `mod.rs` holds the settings and their checks, `resume.rs` starts or resumes a run and saves
//! it, `run_loop.rs` is the step loop (with evaluation, checkpoints and Ctrl-C), `logging.rs`
//! the CSV log, progress bar and status lines.

use super::{default_threads, read_text, CliResult, ModelShape, MAX_THREADS};
use clap::{Args, ValueEnum};
use kgpt::train::adamw::{DecayScope, Schedule};
use std::path::PathBuf;

mod logging;
mod resume;
mod run_loop;

#[derive(Clone, Copy, ValueEnum, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
enum ScheduleKind {
    Constant,
    Cosine,
}

/// `--decay-scope`: which parameters AdamW's weight decay applies to ([`DecayScope`]).
#[derive(
    Clone, Copy, ValueEnum, serde::Serialize, serde::Deserialize, PartialEq, Debug, Default,
)]
#[serde(rename_all = "lowercase")]
enum DecayScopeArg {
    /// every parameter (gpt.py, torch.optim.AdamW's default)
    #[default]
    All,
    /// tensors with ≥ 2 dimensions: linear weights and embeddings (nanoGPT)
    Matrices,
    /// linear-layer weights only (no embeddings, LayerNorm or biases)
    Linear,
}

impl From<DecayScopeArg> for DecayScope {
    fn from(a: DecayScopeArg) -> DecayScope {
        match a {
            DecayScopeArg::All => DecayScope::All,
            DecayScopeArg::Matrices => DecayScope::Matrices,
            DecayScopeArg::Linear => DecayScope::Linear,
        }
    }
}

#[derive(Args, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct TrainArgs {
    /// Training text.
    #[arg(long)]
    data: PathBuf,
    /// Validation text (only evaluated, never trained on).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Run directory: model.safetensors, train-state.safetensors, log.csv.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this directory exactly where it stopped (its settings are used;
    /// --steps may extend it).
    #[arg(long)]
    #[serde(skip)]
    resume: Option<PathBuf>,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 5000)]
    steps: u64,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, value_enum, default_value_t = ScheduleKind::Constant)]
    schedule: ScheduleKind,
    /// Warm-up steps of the cosine schedule.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Final learning rate of the cosine schedule, as a fraction of --lr.
    #[arg(long, default_value_t = 0.1)]
    min_lr_ratio: f32,
    /// AdamW weight decay (decoupled, PyTorch's default 0.01).
    #[arg(long, default_value_t = 0.01)]
    #[serde(default = "default_weight_decay")]
    weight_decay: f32,
    /// Which parameters the weight decay applies to.
    #[arg(long, value_enum, default_value_t = DecayScopeArg::All)]
    #[serde(default)]
    decay_scope: DecayScopeArg,
    /// Clip the gradient norm to this value (off by default, as gpt.py).
    #[arg(long)]
    clip: Option<f32>,
    /// Divergence guard: refuse (and stop at) a step whose update is larger than this multiple
    /// of the weights' own norm. Raise it to train with a learning rate the guard rejects.
    #[arg(long, default_value_t = 2.0)]
    #[serde(default = "default_max_update_ratio")]
    max_update_ratio: f32,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Evaluate train/val loss (and write a checkpoint) every N steps.
    #[arg(long, default_value_t = 250)]
    eval_interval: u64,
    /// Batches averaged per loss estimate.
    #[arg(long, default_value_t = 20)]
    eval_iters: u64,
    #[arg(long, default_value_t = default_threads())]
    #[serde(skip, default = "default_threads")]
    threads: usize,
    #[command(flatten)]
    #[serde(skip, default = "default_shape")]
    shape: ModelShape,
    /// Stop (saving a checkpoint) after this many steps in this invocation; resume later.
    #[arg(long)]
    #[serde(skip)]
    stop_after: Option<u64>,
    /// Train even if the data has characters outside a resumed checkpoint's vocabulary
    /// (they are skipped).
    #[arg(long)]
    #[serde(skip)]
    allow_vocab_mismatch: bool,
}

fn default_shape() -> ModelShape {
    ModelShape {
        n_embd: 64,
        n_head: 4,
        n_layer: 4,
        block_size: 128,
        dropout: 0.1,
    }
}

const MAX_BATCH_TOKENS: usize = 1 << 20;

const STATE_FILE: &str = "train-state.safetensors";
const MODEL_FILE: &str = "model.safetensors";
const LOG_FILE: &str = "log.csv";

fn schedule_of(a: &TrainArgs) -> Schedule {
    match a.schedule {
        ScheduleKind::Constant => Schedule::Constant,
        ScheduleKind::Cosine => Schedule::Cosine {
            warmup: a.warmup,
            total: a.steps,
            min_lr_ratio: a.min_lr_ratio,
        },
    }
}

fn default_weight_decay() -> f32 {
    0.01
}

fn default_max_update_ratio() -> f32 {
    2.0
}

/// Largest step counter a training state may hold: AdamW's bias correction raises β to the
/// step as an `i32` power, so a larger count would wrap.
const MAX_RESUME_STEP: u64 = i32::MAX as u64;

/// Trains: starts or resumes the run, checks the settings, then runs the loop. `steps_given`:
/// whether --steps was on the command line (a resumed run otherwise keeps its saved total).
pub(super) fn cmd_train(a: TrainArgs, steps_given: bool) -> CliResult<()> {
    let text = read_text(&a.data)?;
    let val_text = a.val.as_deref().map(read_text).transpose()?;
    if a.threads == 0 || a.threads > MAX_THREADS {
        return Err(format!(
            "--threads {} must be in 1..={MAX_THREADS}",
            a.threads
        ));
    }
    let mut run = match a.resume.clone() {
        Some(dir) => resume::resume(&dir, a, steps_given)?,
        None => resume::start(a, &text)?,
    };
    let a = &run.args;
    run.trainer.clip = a.clip;
    run.trainer.max_update_ratio = a.max_update_ratio;
    let tensors = &run.model.layout.tensors;
    run.trainer
        .opt
        .set_decay(a.weight_decay, a.decay_scope.into(), tensors);
    let data = encode_training_text(&run, &text)?;
    let val = val_text.map(|v| run.tok.encode(&v).ids);
    check_settings(&run.args, run.model.config.block_size)?;
    run_loop::train(&mut run, &data, val.as_deref())
}

/// The training text's ids; characters outside a resumed vocabulary are refused unless
/// --allow-vocab-mismatch, and the text must be longer than block_size.
fn encode_training_text(run: &resume::Run, text: &str) -> CliResult<Vec<u32>> {
    let a = &run.args;
    let enc = run.tok.encode(text);
    if !enc.unknown.is_empty() && !a.allow_vocab_mismatch {
        return Err(format!(
            "{}: {} character(s) are not in the checkpoint's vocabulary (first: {:?}); \
             pass --allow-vocab-mismatch to skip them",
            a.data.display(),
            enc.unknown.len(),
            enc.unknown[0].ch
        ));
    }
    let t = run.model.config.block_size;
    if enc.ids.len() <= t {
        return Err(format!(
            "{}: {} characters, need more than block_size ({t})",
            a.data.display(),
            enc.ids.len()
        ));
    }
    Ok(enc.ids)
}

/// Refuses settings that cannot train (each message names its flag).
fn check_settings(a: &TrainArgs, t: usize) -> CliResult<()> {
    if !(a.lr.is_finite() && a.lr > 0.0) {
        return Err(format!("--lr {} must be a positive number", a.lr));
    }
    if let Some(c) = a.clip.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(format!("--clip {c} must be a positive number"));
    }
    if !(a.max_update_ratio.is_finite() && a.max_update_ratio > 0.0) {
        return Err(format!(
            "--max-update-ratio {} must be a positive number",
            a.max_update_ratio
        ));
    }
    // Above 1 a step would take more than lr × 100 % off every weight: no recipe wants that,
    // and a huge learning rate is the divergence guard's business, not this check's.
    if !(0.0..=1.0).contains(&a.weight_decay) {
        return Err(format!(
            "--weight-decay {} must be a number in [0, 1]",
            a.weight_decay
        ));
    }
    if !(0.0..=1.0).contains(&a.min_lr_ratio) {
        return Err(format!(
            "--min-lr-ratio {} must be in [0, 1]",
            a.min_lr_ratio
        ));
    }
    if a.batch_size == 0 || a.batch_size.saturating_mul(t) > MAX_BATCH_TOKENS {
        return Err(format!(
            "--batch-size {} must be at least 1 and batch × block_size at most {MAX_BATCH_TOKENS}",
            a.batch_size
        ));
    }
    Ok(())
}
