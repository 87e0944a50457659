//! The `kgpt` command line. Every error is printed to stderr with a non-zero exit, never a panic.

//!
//! One file per command group: `model.rs` (init, forward, grads, step), `sample.rs`, `eval.rs`,
//! `bench.rs`, `train/` (the training run: settings, resume, loop, logging); `ids.rs` parses
//! `--ids`/`--targets`. The flags of every command are declared here, in one place.

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use kgpt::checkpoint::{self, write_atomic, Loaded};
use kgpt::config::Config;
use kgpt::text::Tokenizer;
use std::path::{Path, PathBuf};
use train::TrainArgs;

mod eval;
mod ids;
mod inside;
mod model;
mod sample;
mod train;

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
    /// What each attention head does on a text: scores, role, cost of knocking it out.
    Heads(HeadsArgs),
    /// The token embedding map (2-D principal components, character classes) and the
    /// position-embedding similarity, as JSON.
    Embeddings(EmbeddingsArgs),
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
    /// Also print "logit_lens": [layer][t][v], lm_head(ln_f(x)) of the residual stream after
    /// each block (the last layer's is the logits).
    #[arg(long)]
    logit_lens: bool,
    /// Knock out these heads: L.H[,L.H...] (0-based layer.head).
    #[arg(long)]
    ablate: Option<String>,
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
    /// Knock out these heads: L.H[,L.H...] (0-based layer.head); the intact model's figure and
    /// the difference are printed too.
    #[arg(long)]
    ablate: Option<String>,
}

#[derive(Args)]
struct HeadsArgs {
    #[command(flatten)]
    w: WeightsArgs,
    /// Text whose first --windows windows of block_size characters are measured.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 64)]
    windows: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EmbeddingsArgs {
    #[command(flatten)]
    w: WeightsArgs,
    /// Print JSON (the only output format; accepted for clarity).
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

/// A batch given on the command line (`grads`, `step`).
#[derive(Args)]
struct BatchArgs {
    /// Ids, rows separated by ';' (e.g. "1,2,3;4,5,6").
    #[arg(long)]
    ids: String,
    #[arg(long)]
    targets: String,
}

#[derive(Args)]
struct GradsArgs {
    #[command(flatten)]
    w: WeightsArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct StepArgs {
    #[command(flatten)]
    w: WeightsArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[arg(long, default_value_t = 1)]
    steps: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long)]
    out: PathBuf,
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // On resume, the saved --steps is kept unless --steps was given on this command line.
    let steps_given = matches
        .subcommand_matches("train")
        .is_some_and(|m| m.value_source("steps") == Some(ValueSource::CommandLine));
    let result = match cli.command {
        Command::Init(a) => model::cmd_init(a),
        Command::Forward(a) => model::cmd_forward(a),
        Command::Sample(a) => sample::cmd_sample(a),
        Command::Eval(a) => eval::cmd_eval(a),
        Command::Count(a) => a
            .shape
            .config(a.vocab_size)
            .map(|c| println!("{}", c.param_count())),
        Command::Grads(a) => model::cmd_grads(a),
        Command::Step(a) => model::cmd_step(a),
        Command::Train(a) => train::cmd_train(a, steps_given),
        Command::Bench(a) => bench::cmd_bench(a.json_out, a.threads, a.quick, a.vocab_size),
        Command::Heads(a) => inside::cmd_heads(a),
        Command::Embeddings(a) => inside::cmd_embeddings(a),
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
    checkpoint::load(&bytes, vocab.as_ref()).map_err(|e| {
        let hint = if e.is_missing_vocabulary() {
            "; use --vocab-from FILE (the training text)"
        } else {
            ""
        };
        format!("{}: {e}{hint}", w.weights.display())
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> CliResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_atomic(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The heads of `--ablate SPEC` for this model (an empty list is an error here).
fn parse_ablate(spec: &str, cfg: &Config) -> CliResult<kgpt::model::Knockout> {
    if spec.trim().is_empty() {
        return Err("--ablate needs at least one head: L.H[,L.H...] (0-based layer.head)".into());
    }
    kgpt::model::Knockout::parse(spec, cfg).map_err(|e| format!("--ablate: {e}"))
}

/// Most worker threads accepted by `kgpt train` and `kgpt eval`.
const MAX_THREADS: usize = 256;
