//! LayerNorm (PyTorch's, eps 1e-5) over the rows of a `[T, C]` buffer.

use super::layout::NormOffsets;
use super::state::Normed;
use crate::kernels;
use std::ops::Range;

/// x `[T, C]` → n.out `[T, C]`, n.mean and n.rstd `[T]`, for the positions in `rows`.
pub(crate) fn forward(n: &mut Normed, x: &[f32], p: &[f32], at: &NormOffsets, rows: Range<usize>) {
    let c = at.len;
    kernels::layernorm_forward(
        &mut n.out[rows.start * c..rows.end * c],
        &mut n.mean[rows.clone()],
        &mut n.rstd[rows.clone()],
        &x[rows.start * c..rows.end * c],
        at.weight(p),
        at.bias(p),
        rows.len(),
        c,
    );
}

/// d_out `[T, C]` → d_x `[T, C]` (accumulated: the residual stream's gradient) and the
/// weight's and bias's gradients (accumulated), for positions `0..t`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    d_x: &mut [f32],
    grads: &mut [f32],
    d_out: &[f32],
    n: &Normed,
    x: &[f32],
    p: &[f32],
    at: &NormOffsets,
    t: usize,
) {
    let (gw, gb) = super::layout::two_slices(grads, at.weight, at.bias, at.len);
    kernels::layernorm_backward(
        d_x,
        gw,
        &mut gb[..at.len],
        d_out,
        x,
        at.weight(p),
        &n.mean,
        &n.rstd,
        t,
        at.len,
    );
}
