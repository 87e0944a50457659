//! One transformer block (gpt.py's `Block`), the only copy: the training forward, the eval
//! forward and both KV-cache paths (one-row decode, batched rebuild) all run [`forward`].
//!
//! ```text
//! x_mid = x + dropout(proj(attention(ln1(x))))
//! x_out = x_mid + dropout(mlp(ln2(x_mid)))
//! ```
//! A change to the block (a head knock-out on `a.att_out`, a capture of the residual stream
//! `x_out`) made here reaches every forward path.

use super::attention::{self, BlockRows, LayerKv};
use super::layout::LayerOffsets;
use super::residual::{self, Dropout};
use super::state::{GradScratch, LayerActs, Scratch};
use super::{layernorm, linear, mlp};
use crate::config::Config;

/// x_in `[T, C]` → x_out `[T, C]` for the positions `rows.out_from..t` (LayerNorm 1 and the
/// keys and values for `rows.kv_from..t`; see [`BlockRows`]). Activations go to `a`.
/// `knocked_out[h]` (empty: none) zeroes head h's output before the projection.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    cfg: &Config,
    p: &[f32],
    lo: &LayerOffsets,
    rows: BlockRows,
    x_in: &[f32],
    x_out: &mut [f32],
    a: &mut LayerActs,
    s: &mut Scratch,
    kv: Option<LayerKv>,
    knocked_out: &[bool],
    mut dropout: Option<&mut Dropout>,
) {
    let c = cfg.n_embd;
    let (kv_rows, out_rows) = (rows.kv_from..rows.t, rows.out_from..rows.t);
    layernorm::forward(&mut a.ln1, x_in, p, &lo.ln1, kv_rows.clone()); // [T, C]
    linear::forward(&mut a.qkv, &a.ln1.out, p, &lo.qkv, kv_rows); // [T, 3C]
    attention::forward(cfg, a, s, rows, kv, dropout.as_deref_mut()); // [T, C]
    zero_heads(cfg, &mut a.att_out, knocked_out, out_rows.clone());
    linear::forward(&mut s.out, &a.att_out, p, &lo.proj, out_rows.clone()); // [T, C]
    let d = dropout.as_deref_mut();
    residual::forward(
        &mut a.resid_mid,
        x_in,
        &s.out,
        &mut a.proj_mask,
        c,
        out_rows.clone(),
        d,
    );
    layernorm::forward(&mut a.ln2, &a.resid_mid, p, &lo.ln2, out_rows.clone()); // [T, C]
    mlp::forward(&mut s.out, a, p, lo, out_rows.clone()); // [T, C]
    residual::forward(
        x_out,
        &a.resid_mid,
        &s.out,
        &mut a.fc2_mask,
        c,
        out_rows,
        dropout,
    );
}

/// Knock-out: head h's columns `h·hs..(h+1)·hs` of `att_out` `[T, C]` set to 0 for `rows`
/// where `knocked_out[h]`.
fn zero_heads(
    cfg: &Config,
    att_out: &mut [f32],
    knocked_out: &[bool],
    rows: std::ops::Range<usize>,
) {
    let (c, hs) = (cfg.n_embd, cfg.head_size());
    for (h, _) in knocked_out.iter().enumerate().filter(|(_, &k)| k) {
        for pos in rows.clone() {
            att_out[pos * c + h * hs..][..hs].fill(0.0);
        }
    }
}

/// Backward of [`forward`] over the whole sequence `0..t`: g.d_resid holds ∂loss/∂x_out on
/// entry and ∂loss/∂x_in on return; parameter gradients accumulate into `grads`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    cfg: &Config,
    p: &[f32],
    lo: &LayerOffsets,
    t: usize,
    x_in: &[f32],
    a: &LayerActs,
    s: &mut Scratch,
    g: &mut GradScratch,
    grads: &mut [f32],
    knocked_out: &[bool],
    dropout_on: bool,
) {
    let n = t * cfg.n_embd;
    fn mask(m: &[f32], on: bool, n: usize) -> Option<&[f32]> {
        on.then(|| &m[..n])
    }
    // x_out = x_mid + dropout(mlp(ln2(x_mid))): d_resid flows to both terms.
    residual::backward(
        &mut g.d_tmp[..n],
        &g.d_resid[..n],
        mask(&a.fc2_mask, dropout_on, n),
    );
    mlp::backward(&mut g.d_ln, &mut g.d_relu, grads, &g.d_tmp, a, p, lo, t);
    layernorm::backward(
        &mut g.d_resid,
        grads,
        &g.d_ln,
        &a.ln2,
        &a.resid_mid,
        p,
        &lo.ln2,
        t,
    );
    // x_mid = x_in + dropout(proj(attention(ln1(x_in)))).
    residual::backward(
        &mut g.d_tmp[..n],
        &g.d_resid[..n],
        mask(&a.proj_mask, dropout_on, n),
    );
    linear::backward(
        &mut g.d_att_out,
        grads,
        &g.d_tmp,
        &a.att_out,
        p,
        &lo.proj,
        t,
    );
    // A knocked-out head's output is the constant 0: nothing flows back into it.
    zero_heads(cfg, &mut g.d_att_out, knocked_out, 0..t);
    attention::backward(
        cfg,
        &mut g.d_qkv,
        &g.d_att_out,
        a,
        s,
        &mut g.att_ds,
        t,
        dropout_on,
    );
    linear::backward(&mut g.d_ln, grads, &g.d_qkv, &a.ln1.out, p, &lo.qkv, t);
    layernorm::backward(&mut g.d_resid, grads, &g.d_ln, &a.ln1, x_in, p, &lo.ln1, t);
}
