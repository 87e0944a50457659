//! Batches: b windows of t+1 ids of the training text (gpt.py's `get_batch`).

use super::TrainError;
use crate::model::Model;
use crate::rng::Rng;

/// A batch of `b` sequences of `t` ids, with next-character targets. Both `[b, t]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub b: usize,
    pub t: usize,
}

impl Batch {
    /// Checks shapes and ids for `model`.
    pub fn validate(&self, model: &Model) -> Result<(), TrainError> {
        let cfg = &model.config;
        if self.b == 0 || self.t == 0 {
            return Err(TrainError::Input("empty batch".into()));
        }
        if self.t > cfg.block_size {
            return Err(TrainError::Input(format!(
                "sequence length {} exceeds block_size {}",
                self.t, cfg.block_size
            )));
        }
        if self.inputs.len() != self.b * self.t || self.targets.len() != self.b * self.t {
            return Err(TrainError::Input(format!(
                "batch of {}×{} needs {} inputs and targets, got {} and {}",
                self.b,
                self.t,
                self.b * self.t,
                self.inputs.len(),
                self.targets.len()
            )));
        }
        if let Some(&bad) = self
            .inputs
            .iter()
            .chain(&self.targets)
            .find(|&&i| i as usize >= cfg.vocab_size)
        {
            return Err(TrainError::Input(format!(
                "token id {bad} is outside the vocabulary (size {})",
                cfg.vocab_size
            )));
        }
        Ok(())
    }

    pub(crate) fn row(&self, i: usize) -> (&[u32], &[u32]) {
        let r = i * self.t..(i + 1) * self.t;
        (&self.inputs[r.clone()], &self.targets[r])
    }
}

/// Random windows of `data` for update number `step`: b windows of t+1 ids (gpt.py's `get_batch`).
pub fn sample_batch(data: &[u32], b: usize, t: usize, seed: u64, step: u64) -> Option<Batch> {
    if data.len() < t + 1 || b == 0 || t == 0 {
        return None;
    }
    let mut rng = Rng::for_stream(seed, &[step, 0xBA7C]);
    let mut batch = Batch {
        inputs: Vec::with_capacity(b * t),
        targets: Vec::with_capacity(b * t),
        b,
        t,
    };
    for _ in 0..b {
        let ix = rng.below(data.len() - t);
        batch.inputs.extend_from_slice(&data[ix..ix + t]);
        batch.targets.extend_from_slice(&data[ix + 1..ix + t + 1]);
    }
    Some(batch)
}
