//! Multi-head causal self-attention (gpt.py's heads, before `proj`): per head h,
//! `softmax(mask(q_h k_hᵀ · hs^-0.5)) v_h`, heads concatenated. qkv `[T, 3C]` → att_out `[T, C]`.
//!
//! Two ways to the same numbers: a whole sequence at once (the batched kernel over `qkv`, with
//! dropout when training), or some last rows against keys and values held by a KV cache
//! ([`LayerKv`]). [`forward`] picks by the rows it is asked for.

use super::residual::{dropout_draw, dropout_threshold, Dropout};
use super::state::{att_stride, LayerActs, Scratch};
use crate::config::Config;
use crate::kernels::{self, AttnDims};
use crate::rng::Rng;

/// Which positions one pass through a block computes, in a sequence of `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockRows {
    /// Positions whose LayerNorm 1, queries, keys and values are computed: `kv_from..t`
    /// (a KV cache holds the keys and values of the earlier ones).
    pub kv_from: usize,
    /// Positions that go on through attention, MLP and the residual: `out_from..t`
    /// (`out_from ≥ kv_from`).
    pub out_from: usize,
    pub t: usize,
}

/// One layer's slice of a KV cache: keys transposed `[H, hs, Tp]` (column j = position j) and
/// values `[block_size, C]`.
pub(crate) struct LayerKv<'a> {
    pub kt: &'a mut [f32],
    pub v: &'a mut [f32],
}

/// a.qkv `[T, 3C]` → a.att_out `[T, C]` and a.att_probs for the positions `rows.out_from..t`.
/// With `kv`, the keys and values of `rows.kv_from..t` are stored there first.
pub(crate) fn forward(
    cfg: &Config,
    a: &mut LayerActs,
    s: &mut Scratch,
    rows: BlockRows,
    kv: Option<LayerKv>,
    dropout: Option<&mut Dropout>,
) {
    let mut kv = kv;
    if let Some(kv) = kv.as_mut() {
        store_kv(cfg, kv, &a.qkv, rows.kv_from..rows.t);
    }
    if rows.out_from == 0 {
        whole_sequence(cfg, a, s, rows.t, dropout);
    } else {
        let kv = kv.expect("rows after the first need the KV cache's keys and values");
        debug_assert!(dropout.is_none(), "the KV cache path is eval mode");
        rows_against_cache(cfg, a, s, &kv, rows.out_from..rows.t);
    }
}

/// Copies the keys (transposed per head) and values of `rows` from qkv into the cache.
fn store_kv(cfg: &Config, kv: &mut LayerKv, qkv: &[f32], rows: std::ops::Range<usize>) {
    let (c, hs, tp) = (cfg.n_embd, cfg.head_size(), att_stride(cfg.block_size));
    for head in 0..cfg.n_head {
        let kt = &mut kv.kt[head * hs * tp..][..hs * tp];
        for d in 0..hs {
            for pos in rows.clone() {
                kt[d * tp + pos] = qkv[pos * 3 * c + c + head * hs + d];
            }
        }
    }
    for pos in rows {
        kv.v[pos * c..][..c].copy_from_slice(&qkv[pos * 3 * c + 2 * c..][..c]);
    }
}

fn dims(cfg: &Config, t: usize) -> AttnDims {
    AttnDims {
        t,
        t_cap: cfg.block_size,
        tp: att_stride(cfg.block_size),
        c: cfg.n_embd,
        n_head: cfg.n_head,
    }
}

/// All `t` positions with the batched kernel (only the lower triangle); with dropout, the
/// probabilities' mask is drawn into a.att_mask first.
fn whole_sequence(
    cfg: &Config,
    a: &mut LayerActs,
    s: &mut Scratch,
    t: usize,
    dropout: Option<&mut Dropout>,
) {
    let mask = match dropout {
        Some(d) => {
            attention_dropout_mask(&mut a.att_mask, d.p, d.rng, cfg.n_head, t, cfg.block_size);
            Some(&a.att_mask[..])
        }
        None => None,
    };
    kernels::attention_forward(
        dims(cfg, t),
        &mut a.att_out,
        &mut a.att_probs,
        mask,
        &a.qkv,
        &mut s.att_sc,
        &mut s.att_pd,
        &mut s.att_t,
    );
}

/// The queries of `rows`, one at a time, against the cached keys and values of `0..=pos`
/// (the KV-cache decode: matrix-vector products instead of the batched kernel).
fn rows_against_cache(
    cfg: &Config,
    a: &mut LayerActs,
    s: &mut Scratch,
    kv: &LayerKv,
    rows: std::ops::Range<usize>,
) {
    let (c, hs, t_cap) = (cfg.n_embd, cfg.head_size(), cfg.block_size);
    let tp = att_stride(t_cap);
    let scale = (hs as f32).powf(-0.5);
    for pos in rows {
        let n = pos + 1;
        let n_round = n.div_ceil(8) * 8;
        for head in 0..cfg.n_head {
            let kt = &kv.kt[head * hs * tp..][..hs * tp];
            // scores[k] = q · K[k] for k ≤ pos (columns up to a whole vector; the extra ones are
            // finite leftovers and ignored).
            kernels::gemm_row(
                &mut s.att_sc[..n_round],
                &a.qkv[pos * 3 * c + head * hs..][..hs],
                kt,
                tp,
            );
            let probs = &mut a.att_probs[(head * t_cap + pos) * tp..][..n_round];
            kernels::softmax_into(&s.att_sc[..n], probs, scale);
            kernels::weighted_rows(
                &mut a.att_out[pos * c + head * hs..][..hs],
                &probs[..n],
                &kv.v[head * hs..],
                c,
            );
        }
    }
}

/// d_att_out `[T, C]` → d_qkv `[T, 3C]` (overwritten), for the whole sequence of `t`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    cfg: &Config,
    d_qkv: &mut [f32],
    d_att_out: &[f32],
    a: &LayerActs,
    s: &mut Scratch,
    att_ds: &mut [f32],
    t: usize,
    dropout_on: bool,
) {
    kernels::attention_backward(
        dims(cfg, t),
        d_qkv,
        d_att_out,
        &a.qkv,
        &a.att_probs,
        dropout_on.then_some(&a.att_mask[..]),
        &mut s.att_sc,
        att_ds,
        &mut s.att_pd,
        &mut s.att_t,
    );
}

/// The attention dropout multipliers `[H, t_cap, tp]` for a sequence of `t` tokens. The random
/// stream is consumed as if a dense `[H, t_cap, t_cap]` mask were drawn in row-major order
/// (which is what earlier versions did), but only the causal entries `k ≤ q < t` are computed;
/// the others are skipped, since they multiply probabilities that are 0.
fn attention_dropout_mask(
    mask: &mut [f32],
    p: f32,
    rng: &mut Rng,
    n_head: usize,
    t: usize,
    t_cap: usize,
) {
    let tp = att_stride(t_cap);
    let (thr, keep) = (dropout_threshold(p), 1.0 / (1.0 - p));
    for h in 0..n_head {
        for q in 0..t {
            let row = &mut mask[(h * t_cap + q) * tp..][..=q];
            for m in row.iter_mut() {
                *m = dropout_draw(rng, thr, keep);
            }
            rng.skip((t_cap - q - 1) as u64);
        }
        rng.skip(((t_cap - t) * t_cap) as u64);
    }
}
