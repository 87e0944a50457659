//! Softmax of one row (in place or out of place, with a scale).

use super::simd::Simd;

/// Softmax of `x[..n] · scale` into `y[..n]`; `y[n..]` up to the next whole vector (within
/// `y`) is set to 0. Returns `(max, sum)`: the maximum of the scaled inputs and Σ e^(x·scale − max),
/// so a caller can form log-sum-exp. A row whose maximum is −∞ becomes zeros (sum 0).
///
/// # Safety
/// `x` readable for `n`, `y` writable for `cap >= n` floats; `x == y` (in place) is allowed.
#[inline(always)]
pub(crate) unsafe fn softmax_raw<S: Simd>(
    s: S,
    x: *const f32,
    y: *mut f32,
    n: usize,
    cap: usize,
    scale: f32,
) -> (f32, f32) {
    let l = S::L;
    let full = n / l * l;
    let tail_end = n.div_ceil(l) * l;
    // SAFETY (whole body): reads below n from x, writes below tail_end (<= cap, checked) or n.
    unsafe {
        let mut mv = s.splat(f32::NEG_INFINITY);
        let mut i = 0;
        while i < full {
            mv = s.max(mv, s.load(x.add(i)));
            i += l;
        }
        let mut m = s.hmax(mv);
        for i in full..n {
            m = m.max(*x.add(i));
        }
        let m = m * scale;
        if m == f32::NEG_INFINITY || m.is_nan() {
            let fill = if m.is_nan() { f32::NAN } else { 0.0 };
            for i in 0..n {
                *y.add(i) = fill;
            }
            return (m, 0.0);
        }
        let (sv, nm) = (s.splat(scale), s.splat(-m));
        let mut sum = s.zero();
        let mut i = 0;
        while i < full {
            let e = s.exp(s.fma(s.load(x.add(i)), sv, nm));
            s.store(y.add(i), e);
            sum = s.add(sum, e);
            i += l;
        }
        if full < n {
            let mut tmp = [f32::NEG_INFINITY; 16];
            for i in full..n {
                tmp[i - full] = *x.add(i);
            }
            let e = s.exp(s.fma(s.load(tmp.as_ptr()), sv, nm));
            sum = s.add(sum, e);
            if tail_end <= cap {
                s.store(y.add(full), e);
            } else {
                s.store(tmp.as_mut_ptr(), e);
                for i in full..n {
                    *y.add(i) = tmp[i - full];
                }
            }
        }
        let total = s.hsum(sum);
        let inv = s.splat(1.0 / total);
        let mut i = 0;
        let end = if tail_end <= cap { tail_end } else { full };
        while i < end {
            s.store(y.add(i), s.mul(s.load(y.add(i)), inv));
            i += l;
        }
        for i in end..n {
            *y.add(i) *= 1.0 / total;
        }
        (m, total)
    }
}

/// Softmax of `row` in place (see [`softmax_raw`]).
#[inline(always)]
pub(crate) fn softmax_inplace<S: Simd>(s: S, row: &mut [f32]) {
    let n = row.len();
    let p = row.as_mut_ptr();
    // SAFETY: p is valid for n reads and writes; in place is allowed.
    unsafe { softmax_raw(s, p, p, n, n, 1.0) };
}

/// `y = softmax(x · scale)` (see [`softmax_raw`]); y at least as long as x.
#[inline(always)]
pub(crate) fn softmax_slices<S: Simd>(s: S, x: &[f32], y: &mut [f32], scale: f32) -> (f32, f32) {
    assert!(y.len() >= x.len());
    // SAFETY: x readable for its length, y writable for its (not smaller) length.
    unsafe { softmax_raw(s, x.as_ptr(), y.as_mut_ptr(), x.len(), y.len(), scale) }
}
