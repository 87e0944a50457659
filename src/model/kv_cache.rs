//! Incremental inference with a key/value cache: each appended character costs one position's
//! work (matrix-vector products and one attention row per head) instead of a whole forward.
//!
//! The cache holds the model's view of a *window* of at most `block_size` ids at positions
//! `0..n`. Keys and values at position `j` depend only on `window[..=j]` (causal attention), so
//! [`KvCache::sync`] keeps the longest common prefix of the cached window and the new one and
//! recomputes only the rest: typing a character recomputes one position, deleting one
//! recomputes nothing but the new last position, an edit in the middle recomputes from there.
//!
//! Past `block_size`, gpt.py crops the context to the last `block_size` ids, and with learned
//! absolute positions every id then sits at a new position: nothing can be reused exactly, and
//! the window is rebuilt with one batched pass (the matrix kernels at full efficiency, only the
//! lower attention triangle, and — unless attention is recorded — only the last row through the
//! last layer's attention, MLP and the head).
//!
//! Both are [`Model::forward_rows`] — the same block code as training and eval — told which
//! rows to compute and where the keys and values live, so the result is the computation of
//! [`Model::forward`] on the window, up to float summation order.

use super::{att_stride, InputError, Knockout, KvStore, Model, Rows, RunState};
use crate::config::Config;

/// Key/value cache (plus the activations, attention and logits of every position) for one window.
#[derive(Clone, Debug)]
pub struct KvCache {
    cfg: Config,
    /// The window the cache holds (len n ≤ block_size).
    ids: Vec<u32>,
    /// Keys transposed per head: `[L, H, hs, tp]` (column j = position j).
    kt: Vec<f32>,
    /// Values: `[L, block_size, C]`.
    v: Vec<f32>,
    /// When set, attention probabilities and logits of every position are kept up to date (the
    /// page shows them); otherwise only the last position's logits.
    record: bool,
    /// Activations by position (attention probabilities and logits are read from here).
    state: RunState,
}

/// What [`KvCache::sync`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncInfo {
    /// Positions kept from before (rows `0..reused` of the attention are unchanged).
    pub reused: usize,
    /// Positions now held.
    pub t: usize,
}

impl KvCache {
    /// An empty cache for `cfg`. With `record`, attention and logits of every position are kept.
    pub fn new(cfg: &Config, record: bool) -> KvCache {
        let (t, c, l, h, hs) = (
            cfg.block_size,
            cfg.n_embd,
            cfg.n_layer,
            cfg.n_head,
            cfg.head_size(),
        );
        KvCache {
            cfg: *cfg,
            ids: Vec::with_capacity(t),
            kt: vec![0.0; l * h * hs * att_stride(t)],
            v: vec![0.0; l * t * c],
            record,
            state: RunState::new(cfg),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The window held (its length is the number of positions).
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Forgets everything (e.g. after the weights changed).
    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// Knocks out these heads from now on (see [`super::Knockout`]). A different set than the
    /// current one clears the cache: every position is recomputed by the next [`KvCache::sync`].
    pub fn set_knockout(&mut self, model: &Model, knockout: &Knockout) -> Result<(), InputError> {
        self.check_model(model)?;
        model.check_knockout(knockout)?;
        if self.state.knockout != *knockout {
            self.state.knockout = knockout.clone();
            self.clear();
        }
        Ok(())
    }

    /// The heads this cache knocks out.
    pub fn knockout(&self) -> &Knockout {
        &self.state.knockout
    }

    /// Logits of the last position `[V]` (meaningless while empty).
    pub fn logits(&self) -> &[f32] {
        let v = self.cfg.vocab_size;
        &self.state.logits[self.ids.len().saturating_sub(1) * v..][..v]
    }

    /// Logits of every position `[T, V]` (only when recording).
    pub fn all_logits(&self) -> Option<&[f32]> {
        self.record
            .then(|| &self.state.logits[..self.ids.len() * self.cfg.vocab_size])
    }

    /// Attention of queries `from..T` as `[L, H, T − from, T]` (zero above the diagonal), the
    /// layout of [`crate::model::EvalOutput::attention`] restricted to those rows. `None`
    /// unless recording.
    pub fn attention_rows(&self, from: usize) -> Option<Vec<f32>> {
        let t = self.ids.len();
        self.record
            .then(|| self.state.attention_rows(from.min(t), t))
    }

    /// Makes the cache hold `window` (1 ≤ len ≤ block_size, ids < vocab_size): the common
    /// prefix with the current window is kept, the rest recomputed (see the module docs).
    pub fn sync(&mut self, model: &Model, window: &[u32]) -> Result<SyncInfo, InputError> {
        self.check_model(model)?;
        if window.is_empty() || window.len() > self.cfg.block_size {
            return Err(InputError(format!(
                "window of {} ids: need 1..={}",
                window.len(),
                self.cfg.block_size
            )));
        }
        model.check_ids(window)?;
        let common = self
            .ids
            .iter()
            .zip(window)
            .take_while(|(a, b)| a == b)
            .count();
        let t = window.len();
        if common == t && common == self.ids.len() {
            return Ok(SyncInfo { reused: t, t });
        }
        // The last position is always recomputed: its logits are the output.
        let from = common.min(t - 1);
        let rows = Rows {
            from,
            last_from: if self.record { from } else { t - 1 },
            t,
        };
        let mut kv = KvStore {
            kt: &mut self.kt,
            v: &mut self.v,
        };
        model.forward_rows(&mut self.state, window, rows, Some(&mut kv), None);
        self.ids.clear();
        self.ids.extend_from_slice(window);
        Ok(SyncInfo { reused: from, t })
    }

    /// Appends `id` to the window gpt.py-style: if the window is full, it is cropped to the last
    /// `block_size` ids (which rebuilds the cache), otherwise one decode step.
    pub fn push(&mut self, model: &Model, id: u32) -> Result<SyncInfo, InputError> {
        let drop = usize::from(self.ids.len() >= self.cfg.block_size);
        let mut w: Vec<u32> = self.ids[drop..].to_vec();
        w.push(id);
        self.sync(model, &w)
    }

    fn check_model(&self, model: &Model) -> Result<(), InputError> {
        if model.config != self.cfg {
            return Err(InputError(
                "the cache was made for a model with another configuration".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A model with large random weights (peaked attention, every parameter matters).
    fn stress(cfg: Config, seed: u64) -> Model {
        let mut m = Model::init(cfg, seed);
        let mut rng = Rng::new(seed + 1);
        for p in m.params.iter_mut() {
            *p += 0.3 * rng.normal();
        }
        m
    }

    fn softmax64(l: &[f32]) -> Vec<f64> {
        let m = l.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let e: Vec<f64> = l.iter().map(|&x| (x as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| x / s).collect()
    }

    /// Full recompute of the cropped context (gpt.py's generate) vs the cache, step by step,
    /// for 2.5 × block_size ids: probabilities within 1e-5 (and attention/logits when recording).
    fn check(cfg: Config, steps: usize, record: bool) {
        let m = stress(cfg, 3);
        let mut rng = Rng::new(9);
        let mut cache = KvCache::new(&cfg, record);
        let mut st = RunState::new(&cfg);
        let v = cfg.vocab_size;
        let mut ids: Vec<u32> = Vec::new();
        let mut rebuilds = 0;
        for step in 0..steps {
            ids.push(rng.below(v) as u32);
            let ctx = &ids[ids.len().saturating_sub(cfg.block_size)..];
            let info = cache.sync(&m, ctx).unwrap();
            if info.reused == 0 && step > 0 {
                rebuilds += 1;
            }
            m.forward(&mut st, ctx, None, None);
            let t = ctx.len();
            let want = softmax64(&st.logits[(t - 1) * v..t * v]);
            let got = softmax64(cache.logits());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5, "step {step}: {a} vs {b}");
            }
            if record {
                let all = cache.all_logits().unwrap();
                for (a, b) in all.iter().zip(&st.logits[..t * v]) {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "step {step} logits"
                    );
                }
                let att = cache.attention_rows(0).unwrap();
                let want_att = st.attention_probs(t);
                assert_eq!(att.len(), want_att.len());
                for (a, b) in att.iter().zip(&want_att) {
                    assert!((a - b).abs() <= 1e-5, "step {step} attention {a} vs {b}");
                }
            }
        }
        assert!(steps <= cfg.block_size || rebuilds > 0);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn cache_matches_full_recompute_across_block_size() {
        let tiny = Config {
            vocab_size: 11,
            n_embd: 16,
            n_head: 2,
            n_layer: 2,
            block_size: 8,
            dropout: 0.0,
        };
        check(tiny, 21, false);
        check(tiny, 21, true);
        // block_size not a multiple of 8, head size 4
        check(
            Config {
                block_size: 13,
                n_head: 4,
                ..tiny
            },
            33,
            true,
        );
        let product = Config::product(89);
        check(product, 300, false);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn sync_reuses_the_common_prefix_and_handles_edits() {
        let cfg = Config {
            vocab_size: 11,
            n_embd: 16,
            n_head: 2,
            n_layer: 2,
            block_size: 16,
            dropout: 0.0,
        };
        let m = stress(cfg, 5);
        let mut cache = KvCache::new(&cfg, true);
        let mut st = RunState::new(&cfg);
        let a = [1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut check_now = |cache: &KvCache, w: &[u32]| {
            m.forward(&mut st, w, None, None);
            let t = w.len();
            let att = cache.attention_rows(0).unwrap();
            for (x, y) in att.iter().zip(&st.attention_probs(t)) {
                assert!((x - y).abs() < 1e-5);
            }
            for (x, y) in cache.logits().iter().zip(&st.logits[(t - 1) * 11..t * 11]) {
                assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()));
            }
        };
        assert_eq!(cache.sync(&m, &a).unwrap(), SyncInfo { reused: 0, t: 10 });
        check_now(&cache, &a);
        // Append one: one position recomputed.
        let b = [1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0];
        assert_eq!(cache.sync(&m, &b).unwrap(), SyncInfo { reused: 10, t: 11 });
        check_now(&cache, &b);
        // Same again: nothing to do.
        assert_eq!(cache.sync(&m, &b).unwrap(), SyncInfo { reused: 11, t: 11 });
        // Delete the last two: the new last position is recomputed.
        assert_eq!(
            cache.sync(&m, &b[..9]).unwrap(),
            SyncInfo { reused: 8, t: 9 }
        );
        check_now(&cache, &b[..9]);
        // Edit in the middle.
        let c = [1u32, 2, 3, 7, 5, 6];
        assert_eq!(cache.sync(&m, &c).unwrap(), SyncInfo { reused: 3, t: 6 });
        check_now(&cache, &c);
        let rows = cache.attention_rows(3).unwrap();
        assert_eq!(rows.len(), 2 * 2 * 3 * 6);
        // Bad input is refused and leaves the cache usable.
        assert!(cache.sync(&m, &[]).is_err());
        assert!(cache.sync(&m, &[11]).is_err());
        assert!(cache.sync(&m, &[0; 17]).is_err());
        assert_eq!(cache.sync(&m, &c).unwrap().reused, 6);
        // push crops like gpt.py once full.
        let mut full = KvCache::new(&cfg, false);
        let w: Vec<u32> = (0..16).map(|i| i % 11).collect();
        full.sync(&m, &w).unwrap();
        let info = full.push(&m, 3).unwrap();
        assert_eq!(info.t, 16);
        assert_eq!(
            full.ids(),
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4, 3]
        );
        let other = Model::init(Config { n_embd: 8, ..cfg }, 1);
        assert!(full.sync(&other, &w).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn cache_matches_full_recompute_on_the_stress_fixture() {
        let bytes = include_bytes!("../../tests/fixtures/product_stress.safetensors");
        let m = crate::checkpoint::load(bytes, None).unwrap().model;
        let cfg = m.config;
        let mut cache = KvCache::new(&cfg, true);
        let mut st = RunState::new(&cfg);
        let v = cfg.vocab_size;
        let mut ids: Vec<u32> = Vec::new();
        let (mut worst_p, mut worst_a) = (0.0f64, 0.0f32);
        for i in 0..140u32 {
            ids.push((i * 37 + 11) % v as u32);
            let ctx = &ids[ids.len().saturating_sub(cfg.block_size)..];
            cache.sync(&m, ctx).unwrap();
            m.forward(&mut st, ctx, None, None);
            let t = ctx.len();
            let want = softmax64(&st.logits[(t - 1) * v..t * v]);
            for (a, b) in softmax64(cache.logits()).iter().zip(&want) {
                worst_p = worst_p.max((a - b).abs());
            }
            for (a, b) in cache
                .attention_rows(0)
                .unwrap()
                .iter()
                .zip(&st.attention_probs(t))
            {
                worst_a = worst_a.max((a - b).abs());
            }
        }
        // Next-character probabilities: the contract. Attention of this very peaked fixture:
        // the PyTorch-parity tolerance (1e-4; natively it is ~6e-6).
        assert!(
            worst_p <= 1e-5 && worst_a <= 1e-4,
            "{worst_p:e} {worst_a:e}"
        );
    }
}
