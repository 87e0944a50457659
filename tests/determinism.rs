//! Determinism: the same seed gives the same weights, the same sampled text and the same
//! training trajectory (bit for bit, for a given thread count), natively; another seed does not.
#![cfg(not(target_arch = "wasm32"))]

use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::sample::{generate, SampleSettings};
use kgpt::text::Tokenizer;
use kgpt::train::{sample_batch, Trainer};
use std::process::Command;

const TEXT: &str = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ.\n";

fn setup(seed: u64) -> (Model, Vec<u32>) {
    let tok = Tokenizer::from_text(TEXT);
    let data = tok.encode(&TEXT.repeat(30)).ids;
    let cfg = Config {
        vocab_size: tok.vocab_size(),
        n_embd: 16,
        n_head: 2,
        n_layer: 2,
        block_size: 16,
        dropout: 0.1,
    };
    (Model::init(cfg, seed), data)
}

/// Losses of 10 steps (dropout on) and the final weights.
fn trajectory(seed: u64, threads: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut m, data) = setup(seed);
    let mut trainer = Trainer::new(&m, threads);
    let losses = (0..10)
        .map(|step| {
            let b = sample_batch(&data, 4, 16, seed, step).unwrap();
            trainer
                .step(&mut m, &b, 3e-3, Some((seed, step)))
                .unwrap()
                .loss
        })
        .collect();
    (losses, m.params)
}

fn sample(m: &Model, seed: u64) -> Vec<u32> {
    let settings = SampleSettings {
        temperature: 1.0,
        top_k: 0,
        seed,
    };
    generate(m, &[1, 2], 60, settings, |_| true).unwrap()
}

#[test]
fn same_seed_same_training_trajectory() {
    for threads in [1, 2] {
        let a = trajectory(5, threads);
        let b = trajectory(5, threads);
        assert_eq!(a.0, b.0, "losses, {threads} thread(s)");
        assert_eq!(a.1, b.1, "weights, {threads} thread(s)");
    }
    let other = trajectory(6, 1);
    assert_ne!(
        other.0,
        trajectory(5, 1).0,
        "another seed, another trajectory"
    );
    // Thread counts split the batch differently: equal to float rounding, not bit for bit.
    let (l1, p1) = trajectory(5, 1);
    let (l2, p2) = trajectory(5, 2);
    for (a, b) in l1.iter().zip(&l2) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let max = p1
        .iter()
        .zip(&p2)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "threads 1 vs 2: max weight difference {max}");
}

#[test]
fn same_seed_same_sampled_text() {
    let (m, _) = setup(1);
    assert_eq!(
        Model::init(m.config, 1).params,
        m.params,
        "same init seed, same weights"
    );
    assert_ne!(Model::init(m.config, 2).params, m.params);
    let a = sample(&m, 42);
    assert_eq!(a, sample(&m, 42));
    assert_ne!(a, sample(&m, 43));
    assert_eq!(a.len(), 60);
}

#[test]
fn kgpt_train_twice_gives_the_same_model() {
    let dir = std::env::temp_dir().join(format!("kgpt-determinism-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("train.txt");
    std::fs::write(&data, TEXT.repeat(30)).unwrap();
    let run = |name: &str| {
        let out_dir = dir.join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_kgpt"))
            .args(["train", "--data", data.to_str().unwrap(), "--out"])
            .arg(&out_dir)
            .args([
                "--steps",
                "20",
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
                "1",
                "--block-size",
                "16",
                "--seed",
                "9",
                "--threads",
                "2",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let w = std::fs::read(out_dir.join("model.safetensors")).unwrap();
        let log = std::fs::read_to_string(out_dir.join("log.csv")).unwrap();
        // step, lr, batch loss, train loss, val loss (tokens/s and elapsed time vary)
        let losses: Vec<String> = log
            .lines()
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect();
        (
            kgpt::checkpoint::load(&w, None).unwrap().model.params,
            losses,
        )
    };
    let (a, la) = run("a");
    let (b, lb) = run("b");
    assert_eq!(a, b, "same seed, same weights");
    assert_eq!(la, lb, "same seed, same logged losses");
    let _ = std::fs::remove_dir_all(&dir);
}
