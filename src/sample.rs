//! Sampling the next character: temperature, top-k, seeded.

use crate::model::KvCache;
use crate::model::{InputError, Model};
use crate::rng::Rng;

/// Picks an id from `logits` `[V]`: temperature 0 is greedy (argmax, lowest id on ties);
/// otherwise softmax(logits / temperature) restricted to the `top_k` largest (0 = all).
/// Non-finite logits are never picked; if none is finite, id 0.
pub fn sample_next(logits: &[f32], temperature: f32, top_k: usize, rng: &mut Rng) -> u32 {
    let argmax = || {
        let mut best = 0usize;
        for (i, &l) in logits.iter().enumerate() {
            if l.is_finite() && (!logits[best].is_finite() || l > logits[best]) {
                best = i;
            }
        }
        best as u32
    };
    if temperature.is_nan() || temperature <= 0.0 || temperature.is_infinite() {
        return argmax();
    }
    let mut order: Vec<usize> = (0..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    if order.is_empty() {
        return 0;
    }
    if top_k > 0 && top_k < order.len() {
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        order.truncate(top_k);
        order.sort_unstable();
    }
    let max = order
        .iter()
        .map(|&i| logits[i])
        .fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| (((logits[i] - max) / temperature) as f64).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.uniform() as f64 * total;
    for (&i, &w) in order.iter().zip(&weights) {
        if r < w {
            return i as u32;
        }
        r -= w;
    }
    order[order.len() - 1] as u32
}

/// Settings of [`generate`].
#[derive(Clone, Copy, Debug)]
pub struct SampleSettings {
    pub temperature: f32,
    pub top_k: usize,
    pub seed: u64,
}

/// gpt.py's `generate`: crop the context to the last block_size ids, forward, sample, append.
/// An empty prompt starts from id 0, as gpt.py's `torch.zeros((1, 1))` context does (the
/// start id is not returned). Calls `on_token` with each new id; stops early if it returns false.
///
/// The forward is incremental ([`KvCache`]): one position's work per character while the
/// context fits in block_size, an exact batched rebuild of the cropped window after that. The
/// probabilities are those of a full forward on the cropped context (up to float rounding).
pub fn generate(
    model: &Model,
    prompt: &[u32],
    n_new: usize,
    settings: SampleSettings,
    mut on_token: impl FnMut(u32) -> bool,
) -> Result<Vec<u32>, InputError> {
    let mut ids: Vec<u32> = if prompt.is_empty() {
        vec![0]
    } else {
        model.prepare_ids(prompt)?;
        prompt.to_vec()
    };
    let start = ids.len();
    let mut rng = Rng::new(settings.seed);
    let mut cache = KvCache::new(&model.config, false);
    for _ in 0..n_new {
        let ctx = &ids[ids.len().saturating_sub(model.config.block_size)..];
        cache.sync(model, ctx)?;
        let next = sample_next(
            cache.logits(),
            settings.temperature,
            settings.top_k,
            &mut rng,
        );
        ids.push(next);
        if !on_token(next) {
            break;
        }
    }
    Ok(ids.split_off(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_k_and_distribution() {
        let logits = [0.0, 3.0, 1.0, f32::NAN];
        let mut rng = Rng::new(1);
        assert_eq!(sample_next(&logits, 0.0, 0, &mut rng), 1);
        // top-k 1 is greedy whatever the temperature
        for _ in 0..50 {
            assert_eq!(sample_next(&logits, 5.0, 1, &mut rng), 1);
        }
        // temperature 1: p = softmax([0, ln 3]) on the top 2 of [0, ln3, -inf]
        let l2 = [0.0, 3f32.ln(), f32::NEG_INFINITY];
        let n = 20_000;
        let ones = (0..n)
            .filter(|_| sample_next(&l2, 1.0, 0, &mut rng) == 1)
            .count();
        assert!(((ones as f64 / n as f64) - 0.75).abs() < 0.02);
        assert_eq!(sample_next(&[f32::NAN, f32::NAN], 1.0, 0, &mut rng), 0);
    }
}
