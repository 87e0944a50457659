//! Causal self-attention of all heads of one layer, forward and backward (lower triangle only).

use super::gemm::{Gemm, GemmSimd, Tri};
use super::simd::Simd;
use super::softmax::softmax_raw;
use super::vector::{mul_assign, mul_into};

/// Dimensions of one sequence's attention. Per-head `[T, T]` matrices (probabilities, dropout
/// multipliers, scratch) have `t_cap` rows of stride `tp` (`tp` ≥ block_size rounded up to 8).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnDims {
    pub t: usize,
    pub t_cap: usize,
    pub tp: usize,
    pub c: usize,
    pub n_head: usize,
}

impl AttnDims {
    /// Checks the dimensions (and that a dropout mask and its scratch `pd` are large enough);
    /// returns the head size, the softmax scale hs^-0.5 and the floats of one head's
    /// `[t_cap, tp]` matrix.
    fn check(&self, mask: Option<&[f32]>, pd: &[f32]) -> (usize, f32, usize) {
        assert!(self.t >= 1 && self.t <= self.t_cap && self.tp >= self.t_cap.div_ceil(8) * 8);
        assert!(self.n_head >= 1 && self.c % self.n_head == 0);
        let (hs, mat) = (self.hs(), self.t_cap * self.tp);
        let mask_fits = mask.is_none_or(|m| m.len() >= self.n_head * mat && pd.len() >= mat);
        assert!(mask_fits);
        (hs, (hs as f32).powf(-0.5), mat)
    }
    fn hs(&self) -> usize {
        self.c / self.n_head
    }
    /// Columns computed by the `CLower` products: T rounded up to 8 (within tp).
    fn t_round(&self) -> usize {
        self.t.div_ceil(8) * 8
    }
}

/// `dst[d·tp + k] = src[k·stride + d]` for k < t, d < hs; columns t..round8(t) zeroed.
#[inline(always)]
fn transpose_head(dst: &mut [f32], src: &[f32], stride: usize, hs: usize, t: usize, tp: usize) {
    let t_round = t.div_ceil(8) * 8;
    for d in 0..hs {
        let row = &mut dst[d * tp..d * tp + t_round];
        for (k, v) in row[..t].iter_mut().enumerate() {
            *v = src[k * stride + d];
        }
        row[t..].fill(0.0);
    }
}

/// Causal self-attention of all heads, computing only the lower triangle.
/// qkv `[T, 3C]` → probs `[H, t_cap, tp]` (rows < T, columns ≤ row; the upper triangle is never
/// written and stays 0), out `[T, C]` (overwritten). With `mask` (`[H, t_cap, tp]` dropout
/// multipliers) the probabilities are dropped out before the values are summed.
/// Scratch: `sc`, `pd` `[t_cap · tp]` (`pd` only with a mask; its upper triangle must be 0),
/// `kt` `[hs · tp]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_forward<S: GemmSimd>(
    s: S,
    dims: AttnDims,
    out: &mut [f32],
    probs: &mut [f32],
    mask: Option<&[f32]>,
    qkv: &[f32],
    sc: &mut [f32],
    pd: &mut [f32],
    kt: &mut [f32],
) {
    let (hs, scale, mat) = dims.check(mask, pd);
    let (t, tp, c, n_head) = (dims.t, dims.tp, dims.c, dims.n_head);
    assert!(probs.len() >= n_head * mat && sc.len() >= mat && kt.len() >= hs * tp);
    assert!(qkv.len() >= t * 3 * c && out.len() >= t * c);
    for h in 0..n_head {
        transpose_head(kt, &qkv[c + h * hs..], 3 * c, hs, t, tp);
        s.gemm(Gemm {
            c: sc,
            c_rs: tp,
            a: &qkv[h * hs..],
            a_rs: 3 * c,
            a_cs: 1,
            b: kt,
            b_rs: tp,
            m: t,
            n: dims.t_round(),
            k: hs,
            accumulate: false,
            bias: None,
            tri: Tri::CLower,
        });
        let ph = &mut probs[h * mat..(h + 1) * mat];
        for q in 0..t {
            let row = q * tp;
            // SAFETY: sc has q·tp + tp floats; ph row has tp >= round_up(q + 1, L) floats.
            unsafe {
                softmax_raw(
                    s,
                    sc[row..].as_ptr(),
                    ph[row..].as_mut_ptr(),
                    q + 1,
                    tp,
                    scale,
                )
            };
        }
        let a: &[f32] = match mask {
            Some(m) => {
                drop_out(s, pd, ph, &m[h * mat..(h + 1) * mat], t, tp);
                pd
            }
            None => ph,
        };
        s.gemm(Gemm {
            c: &mut out[h * hs..],
            c_rs: c,
            a,
            a_rs: tp,
            a_cs: 1,
            b: &qkv[2 * c + h * hs..],
            b_rs: 3 * c,
            m: t,
            n: hs,
            k: t,
            accumulate: false,
            bias: None,
            tri: Tri::ALower,
        });
    }
}

/// Dropped-out probabilities `pd = p · mask` over the causal part of the first `t` rows (each
/// row up to a whole vector past the diagonal; the rest of `pd` is left as it is, 0).
#[inline(always)]
fn drop_out<S: Simd>(s: S, pd: &mut [f32], p: &[f32], mask: &[f32], t: usize, tp: usize) {
    for q in 0..t {
        let (row, end) = (q * tp, (q + 1).div_ceil(S::L) * S::L);
        mul_into(
            s,
            &mut pd[row..row + end],
            &p[row..row + end],
            &mask[row..row + end],
        );
    }
}

/// Backward of [`attention_forward`]: d_out `[T, C]` → d_qkv `[T, 3C]` (overwritten).
/// Scratch: `sc`, `ds`, `pd` `[t_cap · tp]` (the upper triangles of `ds` and `pd` must be 0;
/// this function keeps them so), `kt`, `vt` `[hs · tp]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward<S: GemmSimd>(
    s: S,
    dims: AttnDims,
    d_qkv: &mut [f32],
    d_out: &[f32],
    qkv: &[f32],
    probs: &[f32],
    mask: Option<&[f32]>,
    sc: &mut [f32],
    ds: &mut [f32],
    pd: &mut [f32],
    vt: &mut [f32],
) {
    let (hs, scale, mat) = dims.check(mask, pd);
    let (t, tp, c, n_head, l) = (dims.t, dims.tp, dims.c, dims.n_head, S::L);
    assert!(probs.len() >= n_head * mat && sc.len() >= mat && ds.len() >= mat);
    assert!(vt.len() >= hs * tp);
    assert!(qkv.len() >= t * 3 * c && d_qkv.len() >= t * 3 * c && d_out.len() >= t * c);
    for h in 0..n_head {
        let ph = &probs[h * mat..(h + 1) * mat];
        // dP' = dO · Vᵀ (lower triangle)
        transpose_head(vt, &qkv[2 * c + h * hs..], 3 * c, hs, t, tp);
        s.gemm(Gemm {
            c: sc,
            c_rs: tp,
            a: &d_out[h * hs..],
            a_rs: c,
            a_cs: 1,
            b: vt,
            b_rs: tp,
            m: t,
            n: dims.t_round(),
            k: hs,
            accumulate: false,
            bias: None,
            tri: Tri::CLower,
        });
        // Through dropout: P' = P·M, dP = dP'·M.
        let p_used: &[f32] = match mask {
            Some(m) => {
                let mh = &m[h * mat..(h + 1) * mat];
                drop_out(s, pd, ph, mh, t, tp);
                for q in 0..t {
                    let (row, end) = (q * tp, (q + 1).div_ceil(l) * l);
                    mul_assign(s, &mut sc[row..row + end], &mh[row..row + end]);
                }
                pd
            }
            None => ph,
        };
        // dV[k] = Σ_q P'[q, k] · dO[q]
        s.gemm(Gemm {
            c: &mut d_qkv[2 * c + h * hs..],
            c_rs: 3 * c,
            a: p_used,
            a_rs: 1,
            a_cs: tp,
            b: &d_out[h * hs..],
            b_rs: c,
            m: t,
            n: hs,
            k: t,
            accumulate: false,
            bias: None,
            tri: Tri::AUpper,
        });
        // softmax backward: dS = P · (dP − Σ P·dP) · scale
        for q in 0..t {
            let row = q * tp;
            softmax_backward_row(
                s,
                &mut ds[row..row + tp],
                &ph[row..row + tp],
                &sc[row..row + tp],
                q + 1,
                scale,
            );
        }
        // dQ = dS · K ; dK = dSᵀ · Q
        s.gemm(Gemm {
            c: &mut d_qkv[h * hs..],
            c_rs: 3 * c,
            a: ds,
            a_rs: tp,
            a_cs: 1,
            b: &qkv[c + h * hs..],
            b_rs: 3 * c,
            m: t,
            n: hs,
            k: t,
            accumulate: false,
            bias: None,
            tri: Tri::ALower,
        });
        s.gemm(Gemm {
            c: &mut d_qkv[c + h * hs..],
            c_rs: 3 * c,
            a: ds,
            a_rs: 1,
            a_cs: tp,
            b: &qkv[h * hs..],
            b_rs: 3 * c,
            m: t,
            n: hs,
            k: t,
            accumulate: false,
            bias: None,
            tri: Tri::AUpper,
        });
    }
}

/// One row of the softmax backward: `ds[k] = p[k] · (dp[k] − Σ_j p[j] dp[j]) · scale` for
/// k < n, and 0 for n ≤ k < round_up(n, L) (within the row).
#[inline(always)]
fn softmax_backward_row<S: Simd>(
    s: S,
    ds: &mut [f32],
    p: &[f32],
    dp: &[f32],
    n: usize,
    scale: f32,
) {
    let l = S::L;
    let full = n / l * l;
    assert!(ds.len() >= n && p.len() >= n && dp.len() >= n);
    let (pp, dpp, dsp) = (p.as_ptr(), dp.as_ptr(), ds.as_mut_ptr());
    let mut acc = s.zero();
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= n <= all lengths.
        acc = unsafe { s.fma(s.load(pp.add(i)), s.load(dpp.add(i)), acc) };
        i += l;
    }
    let mut dot = s.hsum(acc);
    for i in full..n {
        dot = s.fmas(p[i], dp[i], dot);
    }
    let (dv, sv) = (s.splat(dot), s.splat(scale));
    let mut i = 0;
    while i < full {
        // SAFETY: as above.
        unsafe {
            let v = s.mul(s.mul(s.load(pp.add(i)), s.sub(s.load(dpp.add(i)), dv)), sv);
            s.store(dsp.add(i), v);
        }
        i += l;
    }
    for i in full..n {
        ds[i] = p[i] * (dp[i] - dot) * scale;
    }
    let end = (n.div_ceil(l) * l).min(ds.len());
    ds[n..end].fill(0.0);
}
