//! Token + position embedding: `x[pos] = wte[ids[pos]] + wpe[pos]`.

use super::layout::ParamLayout;
use std::ops::Range;

/// ids `[T]` → x `[T, C]`, for the positions in `rows`.
pub(crate) fn forward(
    x: &mut [f32],
    p: &[f32],
    lay: &ParamLayout,
    c: usize,
    ids: &[u32],
    rows: Range<usize>,
) {
    for pos in rows {
        let te = &p[lay.wte + ids[pos] as usize * c..][..c];
        let pe = &p[lay.wpe + pos * c..][..c];
        for ((xi, a), b) in x[pos * c..][..c].iter_mut().zip(te).zip(pe) {
            *xi = a + b;
        }
    }
}

/// d_x `[T, C]` → the rows of wte's and wpe's gradients the `T` ids used (accumulated).
pub(crate) fn backward(grads: &mut [f32], lay: &ParamLayout, c: usize, ids: &[u32], d_x: &[f32]) {
    for (pos, &id) in ids.iter().enumerate() {
        let d = &d_x[pos * c..][..c];
        for (g, di) in grads[lay.wte + id as usize * c..][..c].iter_mut().zip(d) {
            *g += di;
        }
        for (g, di) in grads[lay.wpe + pos * c..][..c].iter_mut().zip(d) {
            *g += di;
        }
    }
}
