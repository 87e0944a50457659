//! The benchmark shared by `kgpt bench` (native) and the wasm build (Node and the page):
//! the same measurements and JSON keys as `torch_gpt.py bench`, so one table compares them.
//! The clock is passed in (std `Instant` natively, `performance.now()` in JS).

use crate::config::Config;
use crate::model::{Model, RunState};
use crate::rng::Rng;
use crate::sample::{generate, SampleSettings};
use crate::train::{Batch, Trainer};
use serde_json::{json, Value};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub threads: Vec<usize>,
    pub quick: bool,
    pub vocab_size: usize,
}

/// Median and minimum seconds of `reps` timed calls after `warmup` untimed ones.
fn median_time(
    clock: &dyn Fn() -> f64,
    warmup: usize,
    reps: usize,
    f: &mut dyn FnMut(),
) -> (f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t0 = clock();
            f();
            clock() - t0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

/// FLOPs of one forward over T tokens (matmuls and attention, multiply-add = 2).
pub fn forward_flops(cfg: &Config, t: usize) -> f64 {
    let (c, v, l) = (cfg.n_embd as f64, cfg.vocab_size as f64, cfg.n_layer as f64);
    let t = t as f64;
    let per_layer =
        2.0 * t * (3.0 * c * c + c * c + 8.0 * c * c) + 2.0 * 2.0 * c * t * (t + 1.0) / 2.0;
    l * per_layer + 2.0 * t * c * v
}

/// Runs the benchmark; `log` receives one JSON line per thread count as it finishes.
pub fn run_bench(
    opts: &BenchOptions,
    log: &mut dyn FnMut(String),
    clock: &dyn Fn() -> f64,
) -> Result<Value, String> {
    let cfg = Config::product(opts.vocab_size);
    cfg.validate().map_err(|e| e.to_string())?;
    let (t, v) = (cfg.block_size, cfg.vocab_size);
    let q = opts.quick;
    let mut runs = Vec::new();
    for &nt in &opts.threads {
        let mut model = Model::init(cfg, 1337);
        let mut rng = Rng::new(7);
        let x: Vec<u32> = (0..t).map(|_| rng.below(v) as u32).collect();
        let mut r = serde_json::Map::new();
        r.insert("threads".into(), json!(nt));
        bench_forward(&mut r, &model, &x, q, clock);
        bench_generation(&mut r, &model, &x, q, clock);
        bench_training(&mut r, &mut model, &mut rng, nt, q, clock)?;
        log(Value::Object(r.clone()).to_string());
        runs.push(Value::Object(r));
    }
    Ok(json!({
        "impl": if cfg!(target_arch = "wasm32") { "kgpt-wasm" } else { "kgpt-native" },
        "kernels": crate::kernels::kernel_name(),
        "config": cfg,
        "n_params": cfg.param_count(),
        "flops": {"forward_per_token_T128": forward_flops(&cfg, t) / t as f64,
                  "train_per_token_T128": 3.0 * forward_flops(&cfg, t) / t as f64},
        "quick": q,
        "runs": runs,
    }))
}

type Report = serde_json::Map<String, Value>;

/// One eval forward of block_size tokens.
fn bench_forward(r: &mut Report, model: &Model, x: &[u32], q: bool, clock: &dyn Fn() -> f64) {
    let cfg = model.config;
    let t = x.len();
    let mut state = RunState::new(&cfg);
    let (reps_warm, reps) = if q { (5, 20) } else { (20, 100) };
    let (med, best) = median_time(clock, reps_warm, reps, &mut || {
        model.forward(&mut state, x, None, None);
    });
    r.insert("forward_b1_t128_ms".into(), json!(med * 1e3));
    r.insert("forward_b1_t128_ms_min".into(), json!(best * 1e3));
    r.insert("forward_tokens_per_s".into(), json!(t as f64 / med));
    r.insert(
        "forward_gflops".into(),
        json!(forward_flops(&cfg, t) / med / 1e9),
    );
}

/// gpt.py-style generation of 200 characters from a 1-token and a block_size-token prompt, and
/// (not in torch_gpt.py) block_size − 1 characters from 1 token: pure KV-cache decode steps
/// without the window rebuilds that gpt.py's cropping forces past block_size.
fn bench_generation(r: &mut Report, model: &Model, x: &[u32], q: bool, clock: &dyn Fn() -> f64) {
    let settings = SampleSettings {
        temperature: 1.0,
        top_k: 0,
        seed: 0,
    };
    let n_new = 200;
    for (label, prompt) in [("gen_from_1tok", &[0][..]), ("gen_from_128tok", x)] {
        let (med, _) = median_time(clock, 1, if q { 2 } else { 5 }, &mut || {
            let _ = generate(model, prompt, n_new, settings, |_| true);
        });
        r.insert(format!("{label}_chars_per_s"), json!(n_new as f64 / med));
        r.insert(format!("{label}_s"), json!(med));
    }
    let n_in = x.len() - 1;
    let (med, _) = median_time(clock, 1, if q { 3 } else { 10 }, &mut || {
        let _ = generate(model, &[0], n_in, settings, |_| true);
    });
    r.insert(
        "gen_within_block_chars_per_s".into(),
        json!(n_in as f64 / med),
    );
}

/// Training steps (dropout on) on random batches of 16 and 32 sequences with `nt` threads.
fn bench_training(
    r: &mut Report,
    model: &mut Model,
    rng: &mut Rng,
    nt: usize,
    q: bool,
    clock: &dyn Fn() -> f64,
) -> Result<(), String> {
    let cfg = model.config;
    let (t, v) = (cfg.block_size, cfg.vocab_size);
    for b in [16usize, 32] {
        let mut trainer = Trainer::new(model, nt);
        let batch = Batch {
            inputs: (0..b * t).map(|_| rng.below(v) as u32).collect(),
            targets: (0..b * t).map(|_| rng.below(v) as u32).collect(),
            b,
            t,
        };
        let mut step = 0u64;
        let mut failed = None;
        let (warm, reps) = if q { (1, 3) } else { (3, 10) };
        let (med, _) = median_time(clock, warm, reps, &mut || {
            step += 1;
            if let Err(e) = trainer.step(model, &batch, 1e-3, Some((1, step))) {
                failed = Some(e.to_string());
            }
        });
        if let Some(e) = failed {
            return Err(format!("training step failed during the benchmark: {e}"));
        }
        r.insert(format!("train_b{b}_ms"), json!(med * 1e3));
        r.insert(
            format!("train_b{b}_tokens_per_s"),
            json!((b * t) as f64 / med),
        );
        r.insert(
            format!("train_b{b}_gflops"),
            json!(3.0 * b as f64 * forward_flops(&cfg, t) / med / 1e9),
        );
    }
    Ok(())
}
