//! gpt.py's `FeedForward` (before its dropout): `fc2(relu(fc1(x)))`, hidden size 4C.

use super::layout::LayerOffsets;
use super::linear;
use super::state::LayerActs;
use crate::kernels;
use std::ops::Range;

/// a.ln2.out `[T, C]` → a.fc1, a.relu `[T, 4C]` → out `[T, C]`, for the positions in `rows`.
pub(crate) fn forward(
    out: &mut [f32],
    a: &mut LayerActs,
    p: &[f32],
    lo: &LayerOffsets,
    rows: Range<usize>,
) {
    let f = lo.fc1.n_out;
    linear::forward(&mut a.fc1, &a.ln2.out, p, &lo.fc1, rows.clone());
    let r = rows.start * f..rows.end * f;
    kernels::relu_forward(&mut a.relu[r.clone()], &a.fc1[r]);
    linear::forward(out, &a.relu, p, &lo.fc2, rows);
}

/// d_out `[T, C]` → d_ln `[T, C]` (overwritten), accumulating fc1's and fc2's gradients.
/// `d_relu` `[T, 4C]` is scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    d_ln: &mut [f32],
    d_relu: &mut [f32],
    grads: &mut [f32],
    d_out: &[f32],
    a: &LayerActs,
    p: &[f32],
    lo: &LayerOffsets,
    t: usize,
) {
    let f = lo.fc1.n_out;
    linear::backward(d_relu, grads, d_out, &a.relu, p, &lo.fc2, t);
    // ReLU backward in place: d_fc1 = d_relu where fc1 > 0, else 0.
    for (d, &x) in d_relu[..t * f].iter_mut().zip(&a.fc1[..t * f]) {
        *d = if x > 0.0 { *d } else { 0.0 };
    }
    linear::backward(d_ln, grads, d_relu, &a.ln2.out, p, &lo.fc1, t);
}
