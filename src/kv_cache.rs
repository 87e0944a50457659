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
//! last layer's attention, MLP and the head). This is exact: the result is the same
//! computation as [`Model::forward`] on the cropped window, up to float summation order.

use crate::config::Config;
use crate::kernels::{self, AttnDims};
use crate::model::{att_stride, InputError, LayerOffsets, Model};

/// Below this many new positions on an empty cache, decode steps are used instead of a batched
/// rebuild (the batched kernels need a few rows to pay for their setup).
const BATCH_MIN: usize = 8;

/// Key/value cache (plus optional attention and logits of every position) for one window.
#[derive(Clone, Debug)]
pub struct KvCache {
    cfg: Config,
    tp: usize,
    /// The window the cache holds (len n ≤ block_size).
    ids: Vec<u32>,
    /// Keys transposed per head: `[L, H, hs, tp]` (column j = position j).
    kt: Vec<f32>,
    /// Values: `[L, block_size, C]`.
    v: Vec<f32>,
    /// When set, attention probabilities `[L, H, block_size, tp]` and logits `[block_size, V]` of
    /// every position are kept (the page shows them); otherwise only the last logits.
    record: bool,
    att: Vec<f32>,
    logits_all: Vec<f32>,
    /// Logits of the last position `[V]`.
    logits: Vec<f32>,
    // One-position scratch.
    x: Vec<f32>,
    ln: Vec<f32>,
    qkv: Vec<f32>,
    att_out: Vec<f32>,
    tmp: Vec<f32>,
    fc: Vec<f32>,
    sc: Vec<f32>,
    prow: Vec<f32>,
    /// Batched scratch (allocated on the first rebuild).
    batch: Option<Batch>,
}

#[derive(Clone, Debug)]
struct Batch {
    x: Vec<f32>,
    ln: Vec<f32>,
    qkv: Vec<f32>,
    att_out: Vec<f32>,
    tmp: Vec<f32>,
    fc: Vec<f32>,
    probs: Vec<f32>,
    sc: Vec<f32>,
    kt: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
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
        let (t, c, l, h, hs, f, v) = (
            cfg.block_size,
            cfg.n_embd,
            cfg.n_layer,
            cfg.n_head,
            cfg.head_size(),
            cfg.ffn_hidden(),
            cfg.vocab_size,
        );
        let tp = att_stride(t);
        KvCache {
            cfg: *cfg,
            tp,
            ids: Vec::with_capacity(t),
            kt: vec![0.0; l * h * hs * tp],
            v: vec![0.0; l * t * c],
            record,
            att: if record {
                vec![0.0; l * h * t * tp]
            } else {
                Vec::new()
            },
            logits_all: if record { vec![0.0; t * v] } else { Vec::new() },
            logits: vec![0.0; v],
            x: vec![0.0; c],
            ln: vec![0.0; c],
            qkv: vec![0.0; 3 * c],
            att_out: vec![0.0; c],
            tmp: vec![0.0; c],
            fc: vec![0.0; f],
            sc: vec![0.0; tp],
            prow: vec![0.0; tp],
            batch: None,
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

    /// Logits of the last position `[V]` (meaningless while empty).
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Logits of every position `[T, V]` (only when recording).
    pub fn all_logits(&self) -> Option<&[f32]> {
        self.record
            .then(|| &self.logits_all[..self.ids.len() * self.cfg.vocab_size])
    }

    /// Attention of queries `from..T` as `[L, H, T − from, T]` (zero above the diagonal), the
    /// layout of [`crate::model::ForwardOutput::attention`] restricted to those rows. `None`
    /// unless recording.
    pub fn attention_rows(&self, from: usize) -> Option<Vec<f32>> {
        if !self.record {
            return None;
        }
        let (t, t_cap, tp) = (self.ids.len(), self.cfg.block_size, self.tp);
        let from = from.min(t);
        let mut out = Vec::with_capacity(self.cfg.n_layer * self.cfg.n_head * (t - from) * t);
        for head in self.att.chunks_exact(t_cap * tp) {
            for q in from..t {
                out.extend_from_slice(&head[q * tp..q * tp + t]);
            }
        }
        Some(out)
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
        if let Some((i, &bad)) = window
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= self.cfg.vocab_size)
        {
            return Err(InputError(format!(
                "token id {bad} at position {i} is outside the vocabulary (size {})",
                self.cfg.vocab_size
            )));
        }
        let common = self
            .ids
            .iter()
            .zip(window)
            .take_while(|(a, b)| a == b)
            .count();
        if common == window.len() && common == self.ids.len() {
            return Ok(SyncInfo {
                reused: common,
                t: common,
            });
        }
        // The last position is always recomputed: its logits are the output.
        let keep = common.min(window.len() - 1);
        self.ids.truncate(keep);
        if keep == 0 && window.len() >= BATCH_MIN {
            self.rebuild(model, window);
        } else {
            for &id in &window[keep..] {
                self.step(model, id);
            }
        }
        Ok(SyncInfo {
            reused: keep,
            t: window.len(),
        })
    }

    /// Appends `id` to the window gpt.py-style: if the window is full, it is cropped to the last
    /// `block_size` ids (which rebuilds the cache), otherwise one decode step.
    pub fn push(&mut self, model: &Model, id: u32) -> Result<SyncInfo, InputError> {
        if self.ids.len() < self.cfg.block_size {
            let mut w = self.ids.clone();
            w.push(id);
            return self.sync(model, &w);
        }
        let mut w: Vec<u32> = self.ids[1..].to_vec();
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

    /// One decode step: position `n = ids.len()` gets `id`.
    fn step(&mut self, model: &Model, id: u32) {
        let cfg = self.cfg;
        let (c, v) = (cfg.n_embd, cfg.vocab_size);
        let pos = self.ids.len();
        debug_assert!(pos < cfg.block_size);
        let p = &model.params;
        let lay = &model.layout;
        let te = &p[lay.wte + id as usize * c..][..c];
        let pe = &p[lay.wpe + pos * c..][..c];
        for i in 0..c {
            self.x[i] = te[i] + pe[i];
        }
        self.ids.push(id);
        for l in 0..cfg.n_layer {
            self.layer_one(model, l, pos, true);
        }
        self.head_one(model, pos);
        if self.record {
            self.logits_all[pos * v..(pos + 1) * v].copy_from_slice(&self.logits);
        }
    }

    /// Final LayerNorm and lm_head on the single row `self.x` → `self.logits`.
    fn head_one(&mut self, model: &Model, _pos: usize) {
        let (c, v) = (self.cfg.n_embd, self.cfg.vocab_size);
        let p = &model.params;
        let lay = &model.layout;
        let (mut m, mut r) = ([0.0], [0.0]);
        kernels::layernorm_forward(
            &mut self.ln,
            &mut m,
            &mut r,
            &self.x,
            &p[lay.lnf_w..][..c],
            &p[lay.lnf_b..][..c],
            1,
            c,
        );
        kernels::matmul_forward(
            &mut self.logits,
            &self.ln,
            &p[lay.lm_w..][..v * c],
            Some(&p[lay.lm_b..][..v]),
            1,
            c,
            v,
        );
    }

    /// Layer `l` for the single position `pos` whose residual is `self.x`. With `fresh_kv` the
    /// row's keys and values are computed and stored; otherwise they are already in the cache
    /// (batched rebuild) and only the query is computed.
    fn layer_one(&mut self, model: &Model, l: usize, pos: usize, fresh_kv: bool) {
        let cfg = self.cfg;
        let (c, h, hs, t_cap, tp) = (
            cfg.n_embd,
            cfg.n_head,
            cfg.head_size(),
            cfg.block_size,
            self.tp,
        );
        let p = &model.params;
        let lo = &model.layout.layers[l];
        let (mut m, mut r) = ([0.0], [0.0]);
        kernels::layernorm_forward(
            &mut self.ln,
            &mut m,
            &mut r,
            &self.x,
            &p[lo.ln1_w..][..c],
            &p[lo.ln1_b..][..c],
            1,
            c,
        );
        let rows = if fresh_kv { 3 * c } else { c };
        kernels::matmul_forward(
            &mut self.qkv[..rows],
            &self.ln,
            &p[lo.qkv_w..][..rows * c],
            None,
            1,
            c,
            rows,
        );
        if fresh_kv {
            for head in 0..h {
                let kt = &mut self.kt[((l * h + head) * hs) * tp..][..hs * tp];
                for d in 0..hs {
                    kt[d * tp + pos] = self.qkv[c + head * hs + d];
                }
            }
            self.v[(l * t_cap + pos) * c..][..c].copy_from_slice(&self.qkv[2 * c..3 * c]);
        }
        let scale = (hs as f32).powf(-0.5);
        let n = pos + 1;
        let n_round = n.div_ceil(8) * 8;
        for head in 0..h {
            let kt = &self.kt[((l * h + head) * hs) * tp..][..hs * tp];
            // scores[k] = q · K[k] for k ≤ pos (columns up to a whole vector; the extra ones are
            // finite leftovers and ignored).
            kernels::gemm_row(
                &mut self.sc[..n_round],
                &self.qkv[head * hs..][..hs],
                kt,
                tp,
            );
            kernels::softmax_into(&self.sc[..n], &mut self.prow[..n_round], scale);
            kernels::weighted_rows(
                &mut self.att_out[head * hs..][..hs],
                &self.prow[..n],
                &self.v[l * t_cap * c + head * hs..],
                c,
            );
            if self.record {
                let row = &mut self.att[((l * h + head) * t_cap + pos) * tp..][..tp];
                row[..n].copy_from_slice(&self.prow[..n]);
                row[n..].fill(0.0);
            }
        }
        block_tail(
            &cfg,
            p,
            lo,
            1,
            &mut self.x,
            &self.att_out,
            &mut self.ln,
            &mut self.fc,
            &mut self.tmp,
            &mut m,
            &mut r,
        );
    }

    /// Recomputes the whole cache for `window` with batched kernels.
    fn rebuild(&mut self, model: &Model, window: &[u32]) {
        let cfg = self.cfg;
        let (t, c, h, hs, f, v, t_cap, tp) = (
            window.len(),
            cfg.n_embd,
            cfg.n_head,
            cfg.head_size(),
            cfg.ffn_hidden(),
            cfg.vocab_size,
            cfg.block_size,
            self.tp,
        );
        let p = &model.params;
        let lay = &model.layout;
        let b = self.batch.get_or_insert_with(|| Batch {
            x: vec![0.0; t_cap * c],
            ln: vec![0.0; t_cap * c],
            qkv: vec![0.0; t_cap * 3 * c],
            att_out: vec![0.0; t_cap * c],
            tmp: vec![0.0; t_cap * c],
            fc: vec![0.0; t_cap * f],
            probs: vec![0.0; h * t_cap * tp],
            sc: vec![0.0; t_cap * tp],
            kt: vec![0.0; hs * tp],
            mean: vec![0.0; t_cap],
            rstd: vec![0.0; t_cap],
        });
        for (pos, &id) in window.iter().enumerate() {
            let x = &mut b.x[pos * c..(pos + 1) * c];
            let te = &p[lay.wte + id as usize * c..][..c];
            let pe = &p[lay.wpe + pos * c..][..c];
            for i in 0..c {
                x[i] = te[i] + pe[i];
            }
        }
        let (mean, rstd) = (&mut b.mean, &mut b.rstd);
        for (l, lo) in lay.layers.iter().enumerate() {
            let last = l + 1 == cfg.n_layer && !self.record;
            kernels::layernorm_forward(
                &mut b.ln,
                &mut mean[..t],
                &mut rstd[..t],
                &b.x[..t * c],
                &p[lo.ln1_w..][..c],
                &p[lo.ln1_b..][..c],
                t,
                c,
            );
            kernels::matmul_forward(
                &mut b.qkv,
                &b.ln,
                &p[lo.qkv_w..][..3 * c * c],
                None,
                t,
                c,
                3 * c,
            );
            for head in 0..h {
                let kt = &mut self.kt[((l * h + head) * hs) * tp..][..hs * tp];
                for d in 0..hs {
                    for pos in 0..t {
                        kt[d * tp + pos] = b.qkv[pos * 3 * c + c + head * hs + d];
                    }
                }
            }
            for pos in 0..t {
                self.v[(l * t_cap + pos) * c..][..c]
                    .copy_from_slice(&b.qkv[pos * 3 * c + 2 * c..pos * 3 * c + 3 * c]);
            }
            if last {
                // Only the last row goes on: its keys and values are already cached.
                self.x.copy_from_slice(&b.x[(t - 1) * c..t * c]);
                self.layer_one(model, l, t - 1, false);
                self.head_one(model, t - 1);
                self.ids.clear();
                self.ids.extend_from_slice(window);
                return;
            }
            let probs: &mut [f32] = if self.record {
                &mut self.att[l * h * t_cap * tp..(l + 1) * h * t_cap * tp]
            } else {
                &mut b.probs
            };
            kernels::attention_forward(
                AttnDims {
                    t,
                    t_cap,
                    tp,
                    c,
                    n_head: h,
                },
                &mut b.att_out,
                probs,
                None,
                &b.qkv,
                &mut b.sc,
                &mut [],
                &mut b.kt,
            );
            block_tail(
                &cfg,
                p,
                lo,
                t,
                &mut b.x,
                &b.att_out,
                &mut b.ln,
                &mut b.fc,
                &mut b.tmp,
                &mut mean[..t],
                &mut rstd[..t],
            );
        }
        // Recording: every position's logits.
        kernels::layernorm_forward(
            &mut b.ln,
            &mut mean[..t],
            &mut rstd[..t],
            &b.x[..t * c],
            &p[lay.lnf_w..][..c],
            &p[lay.lnf_b..][..c],
            t,
            c,
        );
        kernels::matmul_forward(
            &mut self.logits_all,
            &b.ln,
            &p[lay.lm_w..][..v * c],
            Some(&p[lay.lm_b..][..v]),
            t,
            c,
            v,
        );
        self.logits
            .copy_from_slice(&self.logits_all[(t - 1) * v..t * v]);
        self.ids.clear();
        self.ids.extend_from_slice(window);
    }
}

/// The rest of block `lo` after its attention heads, for `rows` positions, in place:
/// `x += proj(att_out)`, then `x += fc2(relu(fc1(LN2(x))))`. Shared by the one-row decode step
/// and the batched rebuild. Shapes: x, att_out, ln, tmp `[rows, C]`; fc `[rows, 4C]`;
/// mean, rstd `[rows]`.
#[allow(clippy::too_many_arguments)]
fn block_tail(
    cfg: &Config,
    p: &[f32],
    lo: &LayerOffsets,
    rows: usize,
    x: &mut [f32],
    att_out: &[f32],
    ln: &mut [f32],
    fc: &mut [f32],
    tmp: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    let (c, f) = (cfg.n_embd, cfg.ffn_hidden());
    let (x, ln, fc, tmp) = (
        &mut x[..rows * c],
        &mut ln[..rows * c],
        &mut fc[..rows * f],
        &mut tmp[..rows * c],
    );
    kernels::matmul_forward(
        tmp,
        &att_out[..rows * c],
        &p[lo.proj_w..][..c * c],
        Some(&p[lo.proj_b..][..c]),
        rows,
        c,
        c,
    );
    for (xi, ti) in x.iter_mut().zip(tmp.iter()) {
        *xi += ti;
    }
    kernels::layernorm_forward(
        ln,
        mean,
        rstd,
        x,
        &p[lo.ln2_w..][..c],
        &p[lo.ln2_b..][..c],
        rows,
        c,
    );
    kernels::matmul_forward(
        fc,
        ln,
        &p[lo.fc1_w..][..f * c],
        Some(&p[lo.fc1_b..][..f]),
        rows,
        c,
        f,
    );
    for h in fc.iter_mut() {
        *h = h.max(0.0);
    }
    kernels::matmul_forward(
        tmp,
        fc,
        &p[lo.fc2_w..][..c * f],
        Some(&p[lo.fc2_b..][..c]),
        rows,
        f,
        c,
    );
    for (xi, ti) in x.iter_mut().zip(tmp.iter()) {
        *xi += ti;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunState;
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
        let bytes = include_bytes!("../tests/fixtures/product_stress.safetensors");
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
