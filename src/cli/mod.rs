//! The `kgpt` command line. Every error is printed to stderr with a non-zero exit, never a panic.

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kgpt::checkpoint::{self, write_atomic, Loaded};
use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::sample::{generate, SampleSettings};
use kgpt::text::Tokenizer;
use kgpt::train::adamw::{DecayScope, Schedule};
use kgpt::train::{bits_per_char, predicted_units, sample_batch, Batch, Trainer};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod bench;

type CliResult<T> = Result<T, String>;

#[derive(Parser)]
#[command(
    name = "kgpt",
    version,
    about = "Micro-KannadaGPT: a tiny character-level GPT for Kannada (gpt.py's architecture)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write freshly initialised weights (gpt.py's init) to a safetensors file.
    Init(InitArgs),
    /// Run one forward pass and print logits, attention and loss as JSON.
    Forward(ForwardArgs),
    /// Generate text from a prompt.
    Sample(SampleArgs),
    /// Bits per character of a text file.
    Eval(EvalArgs),
    /// Print the parameter count of a config.
    Count(CountArgs),
    /// Gradients of the loss (dropout off) for every parameter, as safetensors.
    Grads(GradsArgs),
    /// N AdamW steps on one batch (dropout off), writing the updated weights.
    Step(StepArgs),
    /// Train on a text file, with progress, evaluation, CSV log, checkpoints and resume.
    Train(TrainArgs),
    /// Benchmark forward, generation and training; JSON out (keys as torch_gpt.py bench).
    Bench(BenchArgs),
}

#[derive(Args)]
struct WeightsArgs {
    /// Weights (safetensors: ours, or a gpt.py state dict together with --vocab-from).
    #[arg(long)]
    weights: PathBuf,
    /// Build the vocabulary from this text (gpt.py's sorted set of characters); needed for
    /// gpt.py files, which carry no vocabulary.
    #[arg(long)]
    vocab_from: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct ModelShape {
    #[arg(long, default_value_t = 64)]
    n_embd: usize,
    #[arg(long, default_value_t = 4)]
    n_head: usize,
    #[arg(long, default_value_t = 4)]
    n_layer: usize,
    #[arg(long, default_value_t = 128)]
    block_size: usize,
    #[arg(long, default_value_t = 0.1)]
    dropout: f32,
}

impl ModelShape {
    fn config(&self, vocab_size: usize) -> CliResult<Config> {
        let c = Config {
            vocab_size,
            n_embd: self.n_embd,
            n_head: self.n_head,
            n_layer: self.n_layer,
            block_size: self.block_size,
            dropout: self.dropout,
        };
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

#[derive(Args)]
struct InitArgs {
    /// Vocabulary from a text file (sorted set of its characters).
    #[arg(
        long,
        conflicts_with = "vocab_size",
        required_unless_present = "vocab_size"
    )]
    vocab_from: Option<PathBuf>,
    /// Vocabulary of N placeholder characters (U+E000.., private use) when no text is given.
    #[arg(long)]
    vocab_size: Option<usize>,
    #[command(flatten)]
    shape: ModelShape,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ForwardArgs {
    #[command(flatten)]
    w: WeightsArgs,
    /// Comma-separated token ids.
    #[arg(long, conflicts_with = "text", required_unless_present = "text")]
    ids: Option<String>,
    /// Text to encode (NFC; unknown characters are skipped and reported on stderr).
    #[arg(long)]
    text: Option<String>,
    /// Comma-separated target ids (same length as the input) for the loss.
    #[arg(long)]
    targets: Option<String>,
    /// Print JSON (the only output format; accepted for clarity).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SampleArgs {
    #[command(flatten)]
    w: WeightsArgs,
    #[arg(long, default_value = "")]
    prompt: String,
    /// Number of characters to generate.
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Keep only the k most likely characters (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    w: WeightsArgs,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CountArgs {
    #[arg(long, default_value_t = 65)]
    vocab_size: usize,
    #[command(flatten)]
    shape: ModelShape,
}

#[derive(Args)]
struct GradsArgs {
    #[command(flatten)]
    w: WeightsArgs,
    /// Ids, rows separated by ';' (e.g. "1,2,3;4,5,6").
    #[arg(long)]
    ids: String,
    #[arg(long)]
    targets: String,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct StepArgs {
    #[command(flatten)]
    w: WeightsArgs,
    /// Ids, rows separated by ';' (e.g. "1,2,3;4,5,6").
    #[arg(long)]
    ids: String,
    #[arg(long)]
    targets: String,
    #[arg(long, default_value_t = 1)]
    steps: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long)]
    out: PathBuf,
}

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
struct TrainArgs {
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

#[derive(Args)]
struct BenchArgs {
    /// Write the JSON here too.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Thread counts to measure, e.g. 1,2.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Few repetitions (for CI smoke runs; the numbers are not meaningful).
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 90)]
    vocab_size: usize,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => cmd_init(a),
        Command::Forward(a) => cmd_forward(a),
        Command::Sample(a) => cmd_sample(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Count(a) => a
            .shape
            .config(a.vocab_size)
            .map(|c| println!("{}", c.param_count())),
        Command::Grads(a) => cmd_grads(a),
        Command::Step(a) => cmd_step(a),
        Command::Train(a) => cmd_train(a),
        Command::Bench(a) => bench::cmd_bench(a.json_out, a.threads, a.quick, a.vocab_size),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("error: {msg}");
            1
        }
    }
}

fn read_text(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn load_weights(w: &WeightsArgs) -> CliResult<Loaded> {
    let bytes = std::fs::read(&w.weights)
        .map_err(|e| format!("cannot read {}: {e}", w.weights.display()))?;
    let vocab = match &w.vocab_from {
        Some(p) => Some(Tokenizer::from_text(&read_text(p)?)),
        None => None,
    };
    checkpoint::load(&bytes, vocab.as_ref()).map_err(|e| format!("{}: {e}", w.weights.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> CliResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_atomic(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn parse_ids(s: &str) -> CliResult<Vec<u32>> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<u32>()
                .map_err(|_| format!("'{x}' is not a token id (expected comma-separated integers)"))
        })
        .collect()
}

/// "1,2,3;4,5,6" → a batch; every row the same length.
fn parse_batch(ids: &str, targets: &str) -> CliResult<Batch> {
    let rows: Vec<Vec<u32>> = ids.split(';').map(parse_ids).collect::<CliResult<_>>()?;
    let trows: Vec<Vec<u32>> = targets
        .split(';')
        .map(parse_ids)
        .collect::<CliResult<_>>()?;
    if rows.len() != trows.len() {
        return Err(format!(
            "{} id rows but {} target rows",
            rows.len(),
            trows.len()
        ));
    }
    let t = rows[0].len();
    if t == 0 {
        return Err("empty id row".into());
    }
    for (i, (r, tr)) in rows.iter().zip(&trows).enumerate() {
        if r.len() != t || tr.len() != t {
            return Err(format!(
                "row {i}: {} ids and {} targets, expected {t} of each (all rows the same length)",
                r.len(),
                tr.len()
            ));
        }
    }
    Ok(Batch {
        inputs: rows.concat(),
        targets: trows.concat(),
        b: rows.len(),
        t,
    })
}

fn cmd_init(a: InitArgs) -> CliResult<()> {
    let tok = match (&a.vocab_from, a.vocab_size) {
        (Some(p), _) => Tokenizer::from_text(&read_text(p)?),
        (None, Some(n)) => {
            if n == 0 || n > kgpt::config::MAX_VOCAB {
                return Err(format!(
                    "--vocab-size {n} must be in 1..={}",
                    kgpt::config::MAX_VOCAB
                ));
            }
            let chars: Vec<String> = (0..n)
                .map(|i| {
                    char::from_u32(0xE000 + i as u32)
                        .unwrap_or('\u{FFFD}')
                        .to_string()
                })
                .collect();
            Tokenizer::from_entries(&chars).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("give --vocab-from FILE or --vocab-size N".into()),
    };
    if tok.vocab_size() == 0 {
        return Err("the vocabulary is empty (empty --vocab-from file?)".into());
    }
    let cfg = a.shape.config(tok.vocab_size())?;
    let model = Model::init(cfg, a.seed);
    write_file(
        &a.out,
        &checkpoint::to_bytes(&model, &tok).map_err(|e| e.to_string())?,
    )?;
    eprintln!(
        "wrote {} ({} parameters, vocab {})",
        a.out.display(),
        cfg.param_count(),
        tok.vocab_size()
    );
    Ok(())
}

fn cmd_forward(a: ForwardArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let ids = match (&a.ids, &a.text) {
        (Some(s), _) => parse_ids(s)?,
        (None, Some(text)) => {
            let enc = l.tokenizer.encode(text);
            if !enc.unknown.is_empty() {
                let list: Vec<String> = enc
                    .unknown
                    .iter()
                    .map(|u| format!("{:?} at {}", u.ch, u.index))
                    .collect();
                eprintln!(
                    "skipped {} character(s) outside the vocabulary: {}",
                    enc.unknown.len(),
                    list.join(", ")
                );
            }
            enc.ids
        }
        (None, None) => return Err("give --ids or --text".into()),
    };
    let targets = a.targets.as_deref().map(parse_ids).transpose()?;
    let out = l
        .model
        .forward_eval(&ids, targets.as_deref())
        .map_err(|e| e.to_string())?;
    let cfg = l.model.config;
    let t = out.ids.len();
    let logits: Vec<&[f32]> = out.logits.chunks(cfg.vocab_size).collect();
    let attention: Vec<Vec<Vec<&[f32]>>> = out
        .attention
        .chunks(cfg.n_head * t * t)
        .map(|layer| {
            layer
                .chunks(t * t)
                .map(|head| head.chunks(t).collect())
                .collect()
        })
        .collect();
    let doc = json!({
        "config": cfg,
        "ids": out.ids,
        "logits": logits,
        "attention": attention,
        "loss": out.loss,
    });
    let _ = a.json;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &doc).map_err(|e| e.to_string())?;
    writeln!(stdout).map_err(|e| e.to_string())
}

fn cmd_sample(a: SampleArgs) -> CliResult<()> {
    if !a.temperature.is_finite() || a.temperature < 0.0 {
        return Err(format!(
            "--temperature {} must be a number ≥ 0",
            a.temperature
        ));
    }
    let l = load_weights(&a.w)?;
    let enc = l.tokenizer.encode(&a.prompt);
    if !enc.unknown.is_empty() {
        eprintln!(
            "skipped {} prompt character(s) outside the vocabulary",
            enc.unknown.len()
        );
    }
    let settings = SampleSettings {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", l.tokenizer.decode(&enc.ids));
    let tok = &l.tokenizer;
    generate(&l.model, &enc.ids, a.n, settings, |id| {
        let _ = write!(stdout, "{}", tok.decode(&[id]));
        let _ = stdout.flush();
        true
    })
    .map_err(|e| e.to_string())?;
    let _ = writeln!(stdout);
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let text = read_text(&a.data)?;
    let enc = l.tokenizer.encode(&text);
    let start = Instant::now();
    if a.threads == 0 || a.threads > MAX_THREADS {
        return Err(format!(
            "--threads {} must be in 1..={MAX_THREADS}",
            a.threads
        ));
    }
    let r = bits_per_char(&l.model, &enc.ids, a.threads)
        .ok_or_else(|| format!("{}: need at least 2 known characters", a.data.display()))?;
    let units = predicted_units(&l.tokenizer.decode(&enc.ids).chars().collect::<Vec<_>>());
    let (per_akshara, per_byte) = (r.bits_per(units.aksharas), r.bits_per(units.bytes));
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"bits_per_char": r.bits_per_char, "nats_per_char": r.nats_per_char,
                   "bits_per_akshara": per_akshara, "bits_per_byte": per_byte,
                   "predicted": r.predicted, "aksharas": units.aksharas, "bytes": units.bytes,
                   "skipped_oov": enc.unknown.len(), "seconds": secs})
        );
    } else {
        println!(
            "{:.4} bits per character ({:.4} nats) over {} predicted characters; {} out-of-vocabulary character(s) skipped ({secs:.1} s)",
            r.bits_per_char, r.nats_per_char, r.predicted, enc.unknown.len()
        );
        println!(
            "{per_akshara:.4} bits per akshara over {} aksharas; {per_byte:.4} bits per UTF-8 byte over {} bytes",
            units.aksharas, units.bytes
        );
    }
    Ok(())
}

fn cmd_grads(a: GradsArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let batch = parse_batch(&a.ids, &a.targets)?;
    let mut trainer = Trainer::new(&l.model, 1);
    let loss = trainer
        .compute_grads(&l.model, &batch, None)
        .map_err(|e| e.to_string())?;
    let mut g = l.model.clone();
    g.params.copy_from_slice(&trainer.grads);
    let bytes =
        checkpoint::to_bytes_with_extras(&g, &l.tokenizer, &[], &[("loss", loss.to_string())])
            .map_err(|e| e.to_string())?;
    write_file(&a.out, &bytes)?;
    eprintln!("loss {loss:.6}; wrote gradients to {}", a.out.display());
    Ok(())
}

fn cmd_step(a: StepArgs) -> CliResult<()> {
    let mut l = load_weights(&a.w)?;
    let batch = parse_batch(&a.ids, &a.targets)?;
    let mut trainer = Trainer::new(&l.model, 1);
    for i in 0..a.steps {
        let info = trainer
            .step(&mut l.model, &batch, a.lr, None)
            .map_err(|e| format!("step {}: {e}", i + 1))?;
        eprintln!("step {} loss {:.6}", i + 1, info.loss);
    }
    write_file(
        &a.out,
        &checkpoint::to_bytes(&l.model, &l.tokenizer).map_err(|e| e.to_string())?,
    )
}

// ---------------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------------

/// Largest batch accepted by `kgpt train`, in tokens (batch × block_size).
const MAX_BATCH_TOKENS: usize = 1 << 20;
/// Most worker threads accepted by `kgpt train` and `kgpt eval`.
const MAX_THREADS: usize = 256;

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

/// A step counter from a training state's metadata: present, a whole number, not absurd.
fn resume_counter(
    metadata: &std::collections::HashMap<String, String>,
    key: &str,
    path: &Path,
) -> CliResult<u64> {
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

/// Keeps the header and the complete rows with `step <= last_step` of a training log.
fn trim_log(path: &Path, last_step: u64) -> CliResult<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut kept = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break; // torn by a kill mid-write
        }
        let row_step = line.split(',').next().and_then(|x| x.parse::<u64>().ok());
        if i == 0 || row_step.is_some_and(|s| s <= last_step) {
            kept.push_str(line);
        }
    }
    if kept.len() != text.len() {
        write_file(path, kept.as_bytes())?;
    }
    Ok(())
}

/// Writes the resumable state (weights + AdamW moments + step + settings) and the plain model.
fn save_run(
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

/// Mean loss over `iters` fixed batches (eval mode), gpt.py's `estimate_loss`.
fn estimate_loss(model: &Model, trainer: &mut Trainer, data: &[u32], a: &TrainArgs) -> Option<f32> {
    let t = model.config.block_size;
    let mut total = 0.0f64;
    for k in 0..a.eval_iters.max(1) {
        let b = sample_batch(
            data,
            a.batch_size,
            t.min(data.len().saturating_sub(1)),
            a.seed ^ 0xE7A1,
            k,
        )?;
        total += trainer.compute_grads(model, &b, None).ok()? as f64;
    }
    Some((total / a.eval_iters.max(1) as f64) as f32)
}

fn cmd_train(mut a: TrainArgs) -> CliResult<()> {
    let text = read_text(&a.data)?;
    let val_text = a.val.as_deref().map(read_text).transpose()?;
    let threads = a.threads;
    if threads == 0 || threads > MAX_THREADS {
        return Err(format!("--threads {threads} must be in 1..={MAX_THREADS}"));
    }
    let allow_mismatch = a.allow_vocab_mismatch;

    let (dir, mut model, tok, mut trainer, mut step) = if let Some(dir) = a.resume.clone() {
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
        let steps_override = std::env::args().any(|x| x == "--steps" || x.starts_with("--steps="));
        let steps = if steps_override { a.steps } else { saved.steps };
        let (data, val) = (a.data.clone(), a.val.clone());
        a = TrainArgs {
            data,
            val,
            out: Some(dir.clone()),
            resume: Some(dir.clone()),
            steps,
            threads,
            allow_vocab_mismatch: allow_mismatch,
            stop_after: a.stop_after,
            shape: default_shape(),
            ..saved
        };
        let step = resume_counter(&l.metadata, "step", &path)?;
        let mut trainer = Trainer::new(&l.model, threads);
        trainer.opt.step = resume_counter(&l.metadata, "adamw_step", &path)?;
        for t in &l.model.layout.tensors {
            for (prefix, buf) in [
                ("adamw.m.", &mut trainer.opt.m),
                ("adamw.v.", &mut trainer.opt.v),
            ] {
                let v = extras.get(&format!("{prefix}{}", t.name)).ok_or_else(|| {
                    format!(
                        "{}: missing optimizer tensor {prefix}{}",
                        path.display(),
                        t.name
                    )
                })?;
                if v.len() != t.len() {
                    return Err(format!(
                        "{}: optimizer tensor {prefix}{} has the wrong size",
                        path.display(),
                        t.name
                    ));
                }
                buf[t.range()].copy_from_slice(v);
            }
        }
        eprintln!("resuming {} at step {step} of {}", dir.display(), a.steps);
        (dir, l.model, l.tokenizer, trainer, step)
    } else {
        let dir = a.out.clone().ok_or("give --out DIR (or --resume DIR)")?;
        if dir.join(STATE_FILE).exists() {
            return Err(format!(
                "{} already holds a run: use --resume {} or another --out",
                dir.display(),
                dir.display()
            ));
        }
        let tok = Tokenizer::from_text(&text);
        if tok.vocab_size() < 2 {
            return Err(format!(
                "{}: need at least 2 distinct characters",
                a.data.display()
            ));
        }
        let cfg = a.shape.config(tok.vocab_size())?;
        let model = Model::init(cfg, a.seed);
        let trainer = Trainer::new(&model, threads);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        (dir, model, tok, trainer, 0u64)
    };
    trainer.clip = a.clip;
    trainer.max_update_ratio = a.max_update_ratio;
    trainer
        .opt
        .set_decay(a.weight_decay, a.decay_scope.into(), &model.layout.tensors);

    let enc = tok.encode(&text);
    if !enc.unknown.is_empty() && !allow_mismatch {
        return Err(format!(
            "{}: {} character(s) are not in the checkpoint's vocabulary (first: {:?}); \
             pass --allow-vocab-mismatch to skip them",
            a.data.display(),
            enc.unknown.len(),
            enc.unknown[0].ch
        ));
    }
    let data = enc.ids;
    let val = val_text.map(|v| tok.encode(&v).ids);
    let t = model.config.block_size;
    if data.len() <= t {
        return Err(format!(
            "{}: {} characters, need more than block_size ({t})",
            a.data.display(),
            data.len()
        ));
    }
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
    if !(a.weight_decay.is_finite() && a.weight_decay >= 0.0 && a.lr * a.weight_decay < 1.0) {
        return Err(format!(
            "--weight-decay {} must be a number ≥ 0 with lr × weight decay < 1 (--lr {})",
            a.weight_decay, a.lr
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
    let schedule = schedule_of(&a);

    let log_path = dir.join(LOG_FILE);
    if step > 0 {
        // A run killed between its log line and its checkpoint logged steps that the resumed
        // run repeats: keep only the rows up to the checkpoint (and no torn last line).
        trim_log(&log_path, step)?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    if step == 0 {
        let _ = log.set_len(0);
        let _ = writeln!(
            log,
            "step,lr,batch_loss,train_loss,val_loss,tokens_per_s,elapsed_s"
        );
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    eprintln!(
        "training {} parameters (V={} C={} H={} L={} T={} dropout {}) on {} characters, {} threads, batch {}, {} steps, lr {} ({:?})",
        model.config.param_count(),
        model.config.vocab_size,
        model.config.n_embd,
        model.config.n_head,
        model.config.n_layer,
        t,
        model.config.dropout,
        data.len(),
        trainer.threads(),
        a.batch_size,
        a.steps,
        a.lr,
        a.schedule
    );

    let pb = ProgressBar::new(a.steps);
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  loss {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_position(step);
    let run_start = Instant::now();
    let mut window_start = Instant::now();
    let mut window_tokens = 0usize;

    // Step of the checkpoint on disk (a resumed run starts from one).
    let mut saved_step = if a.resume.is_some() { Some(step) } else { None };
    let stop_at = a.stop_after.map_or(a.steps, |n| (step + n).min(a.steps));
    while step < stop_at {
        if interrupted.load(Ordering::SeqCst) {
            save_run(&dir, &model, &tok, &trainer, &a, step)?;
            pb.abandon();
            eprintln!(
                "interrupted: checkpoint saved at step {step} in {} (resume with --resume)",
                dir.display()
            );
            return Err("interrupted".into());
        }
        let lr = schedule.lr(a.lr, step);
        let batch = sample_batch(&data, a.batch_size, t, a.seed, step).ok_or("data too short")?;
        let last_loss = match trainer.step(&mut model, &batch, lr, Some((a.seed, step))) {
            Ok(info) => info.loss,
            Err(e) => {
                pb.abandon();
                let kept = match saved_step {
                    Some(k) => format!(
                        "the last good checkpoint (step {k}) is kept in {}",
                        dir.display()
                    ),
                    None => "no checkpoint was written yet".to_string(),
                };
                return Err(format!("step {step}: {e}; {kept}"));
            }
        };
        step += 1;
        window_tokens += a.batch_size * t;
        let tps = window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
        pb.set_position(step);
        pb.set_message(format!("{last_loss:.4}  {tps:.0} tok/s"));

        if step % a.eval_interval.max(1) == 0 || step == stop_at {
            let train_loss = estimate_loss(&model, &mut trainer, &data, &a);
            let val_loss = val
                .as_ref()
                .and_then(|v| estimate_loss(&model, &mut trainer, v, &a));
            let fmt = |x: Option<f32>| x.map_or(String::new(), |v| format!("{v:.5}"));
            let bits = |x: Option<f32>| {
                x.map_or("-".to_string(), |v| {
                    format!("{:.3}", v / std::f32::consts::LN_2)
                })
            };
            let elapsed = run_start.elapsed().as_secs_f64();
            let _ = writeln!(
                log,
                "{step},{lr:.6e},{last_loss:.5},{},{},{tps:.0},{elapsed:.1}",
                fmt(train_loss),
                fmt(val_loss)
            );
            let _ = log.flush();
            save_run(&dir, &model, &tok, &trainer, &a, step)?;
            saved_step = Some(step);
            let line = format!(
                "step {step}: train loss {} val loss {} ({} / {} bits/char), lr {lr:.2e}, {tps:.0} tok/s, checkpoint saved",
                fmt(train_loss),
                fmt(val_loss),
                bits(train_loss),
                bits(val_loss),
            );
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
            window_start = Instant::now();
            window_tokens = 0;
        }
    }
    pb.finish();
    if step < a.steps {
        eprintln!(
            "stopped at step {step} of {} (checkpoint saved; continue with --resume {})",
            a.steps,
            dir.display()
        );
        return Ok(());
    }
    eprintln!(
        "done: {step} steps in {:.1} s; model in {}",
        run_start.elapsed().as_secs_f64(),
        dir.join(MODEL_FILE).display()
    );
    Ok(())
}
