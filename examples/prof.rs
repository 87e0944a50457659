//! A small deterministic workload for profiling with callgrind (instruction counts are stable
//! under load, unlike wall-clock time):
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=/work/target-prof \
//!     cargo build --release --example prof
//! valgrind --tool=callgrind /work/target-prof/release/examples/prof train 2 1
//! ```
//!
//! Modes: `train B STEPS` (product config, dropout on, 1 thread), `forward N` (eval forward,
//! T = 128, N times), `gen N` (N new characters from a 1-character prompt).

use kgpt::config::Config;
use kgpt::model::{Model, RunState};
use kgpt::rng::Rng;
use kgpt::sample::{generate, SampleSettings};
use kgpt::train::{Batch, Trainer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let cfg = Config::product(89);
    let mut model = Model::init(cfg, 1337);
    let mut rng = Rng::new(7);
    let (t, v) = (cfg.block_size, cfg.vocab_size);
    match args.get(1).map(String::as_str).unwrap_or("train") {
        "train" => {
            let (b, steps) = (arg(2, 2), arg(3, 1));
            let batch = Batch {
                inputs: (0..b * t).map(|_| rng.below(v) as u32).collect(),
                targets: (0..b * t).map(|_| rng.below(v) as u32).collect(),
                b,
                t,
            };
            let mut tr = Trainer::new(&model, 1);
            for s in 0..steps {
                let info = tr
                    .step(&mut model, &batch, 1e-3, Some((1, s as u64)))
                    .unwrap();
                eprintln!("step {s} loss {:.6}", info.loss);
            }
        }
        "forward" => {
            let x: Vec<u32> = (0..t).map(|_| rng.below(v) as u32).collect();
            let mut st = RunState::new(&cfg);
            for _ in 0..arg(2, 10) {
                model.forward(&mut st, &x, None, None);
            }
            eprintln!("logit0 {}", st.logits[0]);
        }
        "gen" => {
            let settings = SampleSettings {
                temperature: 1.0,
                top_k: 0,
                seed: 0,
            };
            let out = generate(&model, &[0], arg(2, 200), settings, |_| true).unwrap();
            eprintln!("{} ids, last {:?}", out.len(), out.last());
        }
        m => panic!("unknown mode {m}"),
    }
}
