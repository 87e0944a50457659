//! A Linear layer: `out = inp · Wᵀ + b` (PyTorch's `(out, in)` weight layout).

use super::layout::LinearOffsets;
use crate::kernels;
use std::ops::Range;

/// inp `[T, n_in]` → out `[T, n_out]`, for the positions in `rows`.
pub(crate) fn forward(
    out: &mut [f32],
    inp: &[f32],
    p: &[f32],
    lin: &LinearOffsets,
    rows: Range<usize>,
) {
    let (n_in, n_out) = (lin.n_in, lin.n_out);
    kernels::matmul_forward(
        &mut out[rows.start * n_out..rows.end * n_out],
        &inp[rows.start * n_in..rows.end * n_in],
        lin.weight(p),
        lin.bias(p),
        rows.len(),
        n_in,
        n_out,
    );
}

/// d_out `[T, n_out]` → d_inp `[T, n_in]` (overwritten) and the weight's and bias's gradients
/// (accumulated), for positions `0..t`.
pub(crate) fn backward(
    d_inp: &mut [f32],
    grads: &mut [f32],
    d_out: &[f32],
    inp: &[f32],
    p: &[f32],
    lin: &LinearOffsets,
    t: usize,
) {
    let w_len = lin.n_in * lin.n_out;
    let (gw, gb) = match lin.bias {
        Some(b) => {
            let (gw, rest) = super::layout::two_slices(grads, lin.weight, b, w_len);
            (gw, Some(&mut rest[..lin.n_out]))
        }
        None => (&mut grads[lin.weight_range()], None),
    };
    let (d_inp, w) = (kernels::Dinp::Set(d_inp), lin.weight(p));
    let shape = kernels::MatShape::new(t, lin.n_in, lin.n_out);
    kernels::matmul_backward(d_inp, gw, gb, d_out, inp, w, shape);
}
