//! Forward, backward + AdamW step, sampling and evaluation on arbitrary ids and small configs
//! (every config the fuzzer builds is checked with `Config::validate`; the dimensions are kept
//! small so that one execution takes well under a millisecond).
//!
//! Invariants: no panic; invalid ids/batches are errors; with moderate weights the logits are
//! finite and every attention row sums to 1 and is zero above the diagonal; a training step
//! either succeeds with finite weights or leaves the weights untouched.
#![no_main]

use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::sample::{generate, SampleSettings};
use kgpt::train::{bits_per_char, Batch, Trainer};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn run(u: &mut Unstructured) -> Result<()> {
    let n_head = u.int_in_range(1..=4usize)?;
    let cfg = Config {
        vocab_size: u.int_in_range(1..=16usize)?,
        n_embd: n_head * u.int_in_range(1..=4usize)?,
        n_head,
        n_layer: u.int_in_range(1..=3usize)?,
        block_size: u.int_in_range(1..=12usize)?,
        dropout: u.int_in_range(0..=9u8)? as f32 / 10.0,
    };
    if cfg.validate().is_err() {
        return Ok(());
    }
    let mut model = Model::init(cfg, u.arbitrary()?);
    // Weight scale 10^k, k in -3..=3: from vanishing to saturating (huge logits, one-hot attention).
    let k = u.int_in_range(-3i32..=3)?;
    let scale = 10f32.powi(k);
    model.params.iter_mut().for_each(|p| *p *= scale);
    let v = cfg.vocab_size as u32;
    // Ids mostly in range, sometimes = vocab_size (must be refused).
    let len = u.int_in_range(0..=2 * cfg.block_size)?;
    let ids: Vec<u32> = (0..len)
        .map(|_| u.int_in_range(0..=v))
        .collect::<Result<_>>()?;
    let with_targets: bool = u.arbitrary()?;
    let targets: Vec<u32> = ids.iter().rev().copied().collect();

    let out = model.forward_eval(&ids, with_targets.then_some(&targets[..]));
    let valid = !ids.is_empty() && ids.iter().all(|&i| i < v);
    assert_eq!(out.is_ok(), valid, "ids {ids:?}");
    if let Ok(out) = out {
        let t = out.ids.len();
        assert_eq!(t, ids.len().min(cfg.block_size));
        assert_eq!(out.logits.len(), t * cfg.vocab_size);
        assert_eq!(out.attention.len(), cfg.n_layer * cfg.n_head * t * t);
        if k <= 0 {
            assert!(out.logits.iter().all(|x| x.is_finite()));
            for (r, row) in out.attention.chunks_exact(t).enumerate() {
                let q = r % t;
                let s: f32 = row.iter().sum();
                assert!((s - 1.0).abs() < 1e-4, "row {r} sums to {s}");
                assert!(row[q + 1..].iter().all(|&p| p == 0.0));
            }
            if let Some(loss) = out.loss {
                assert!(loss.is_finite() && loss >= 0.0);
            }
        }
    }

    // One training step on a batch cut from the ids (b rows of t).
    let b = u.int_in_range(1..=3usize)?;
    let t = u.int_in_range(1..=cfg.block_size + 1)?;
    let batch = Batch {
        inputs: ids.iter().cycle().take(b * t).copied().collect(),
        targets: targets.iter().cycle().take(b * t).copied().collect(),
        b,
        t,
    };
    let lr = [1e-3f32, 1e-1, 10.0, 1e30][u.int_in_range(0..=3usize)?];
    let mut trainer = Trainer::new(&model, u.int_in_range(1..=2usize)?);
    if u.arbitrary()? {
        trainer.clip = Some(1.0);
    }
    let before = model.params.clone();
    match trainer.step(&mut model, &batch, lr, Some((1, 2))) {
        Ok(info) => {
            assert!(info.loss.is_finite() && info.grad_norm.is_finite());
            assert!(model.params.iter().all(|p| p.is_finite()));
        }
        Err(_) => assert_eq!(model.params, before, "a failed step changed the weights"),
    }

    // Sampling with arbitrary settings, and bits per character.
    let settings = SampleSettings {
        temperature: [0.0f32, 1.0, 1e-30, f32::NAN, f32::INFINITY, 1e30]
            [u.int_in_range(0..=5usize)?],
        top_k: u.int_in_range(0..=20usize)?,
        seed: u.arbitrary()?,
    };
    let n_new = u.int_in_range(0..=4usize)?;
    let prompt = &ids[..ids.len().min(3)];
    match generate(&model, prompt, n_new, settings, |_| true) {
        Ok(new) => {
            assert!(new.len() == n_new);
            assert!(new.iter().all(|&i| i < v));
        }
        Err(_) => assert!(prompt.iter().any(|&i| i >= v)),
    }
    if let Some(r) = bits_per_char(&model, &ids, 1) {
        assert!(valid && ids.len() >= 2);
        assert_eq!(r.predicted, ids.len() - 1);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
