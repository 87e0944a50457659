//! Residual connection with (inverted) dropout on the branch: `out = x + dropout(y)`.

use crate::rng::Rng;
use std::ops::Range;

/// Dropout of one forward pass: its probability and random stream (training only).
pub(crate) struct Dropout<'a> {
    pub p: f32,
    pub rng: &'a mut Rng,
}

/// x, y `[T, C]` → out `[T, C]` = x + y · mask, for the positions in `rows`. With `dropout`,
/// `mask` `[T, C]` is drawn first (kept for the backward); without, out = x + y.
pub(crate) fn forward(
    out: &mut [f32],
    x: &[f32],
    y: &[f32],
    mask: &mut [f32],
    c: usize,
    rows: Range<usize>,
    dropout: Option<&mut Dropout>,
) {
    let r = rows.start * c..rows.end * c;
    let (out, x, y) = (&mut out[r.clone()], &x[r.clone()], &y[r.clone()]);
    match dropout {
        Some(d) => {
            let mask = &mut mask[r];
            dropout_mask(mask, d.p, d.rng);
            for (((o, a), b), m) in out.iter_mut().zip(x).zip(y).zip(mask.iter()) {
                *o = a + b * m;
            }
        }
        None => {
            for ((o, a), b) in out.iter_mut().zip(x).zip(y) {
                *o = a + b;
            }
        }
    }
}

/// d_out `[n]` → d_y = d_out · mask (or a copy without dropout). The gradient with respect to
/// x is d_out itself, which the caller keeps flowing down the residual stream.
pub(crate) fn backward(d_y: &mut [f32], d_out: &[f32], mask: Option<&[f32]>) {
    match mask {
        Some(m) => {
            for ((o, x), k) in d_y.iter_mut().zip(d_out).zip(m) {
                *o = x * k;
            }
        }
        None => d_y.copy_from_slice(d_out),
    }
}

/// One inverted-dropout multiplier: 0 with probability p, else `keep` = 1/(1-p). `thr` is
/// [`dropout_threshold`]`(p)`; the result equals `if rng.uniform() < p { 0 } else { keep }`.
#[inline(always)]
pub(crate) fn dropout_draw(rng: &mut Rng, thr: u64, keep: f32) -> f32 {
    // uniform() is (x >> 40) · 2^-24 exactly, so `uniform < p` ⟺ `(x >> 40) < ceil(p · 2^24)`.
    if (rng.next_u64() >> 40) < thr {
        0.0
    } else {
        keep
    }
}

pub(crate) fn dropout_threshold(p: f32) -> u64 {
    (p as f64 * (1u64 << 24) as f64).ceil() as u64
}

/// Fills `mask` with inverted-dropout multipliers: 0 with probability p, else 1/(1-p).
fn dropout_mask(mask: &mut [f32], p: f32, rng: &mut Rng) {
    let (thr, keep) = (dropout_threshold(p), 1.0 / (1.0 - p));
    for m in mask.iter_mut() {
        *m = dropout_draw(rng, thr, keep);
    }
}
