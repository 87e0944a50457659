//! Element-wise vector operations.

use super::simd::Simd;

/// `y += x` elementwise over the shorter length.
#[inline(always)]
pub(crate) fn add_assign<S: Simd>(s: S, y: &mut [f32], x: &[f32]) {
    let n = y.len().min(x.len());
    let l = S::L;
    let full = n / l * l;
    let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= len of both.
        unsafe { s.store(yp.add(i), s.add(s.load(yp.add(i)), s.load(xp.add(i)))) };
        i += l;
    }
    for i in full..n {
        y[i] += x[i];
    }
}

/// `a · b` over the shorter length.
#[inline(always)]
pub(crate) fn dot<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let l = S::L;
    let full = n / l * l;
    let mut acc = s.zero();
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= len of both.
        acc = unsafe { s.fma(s.load(a.as_ptr().add(i)), s.load(b.as_ptr().add(i)), acc) };
        i += l;
    }
    let mut sum = s.hsum(acc);
    for i in full..n {
        sum = s.fmas(a[i], b[i], sum);
    }
    sum
}

/// `y += alpha · x` over the shorter length.
#[inline(always)]
pub(crate) fn axpy<S: Simd>(s: S, y: &mut [f32], alpha: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let l = S::L;
    let full = n / l * l;
    let av = s.splat(alpha);
    let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= len of both.
        unsafe { s.store(yp.add(i), s.fma(av, s.load(xp.add(i)), s.load(yp.add(i)))) };
        i += l;
    }
    for i in full..n {
        y[i] = s.fmas(alpha, x[i], y[i]);
    }
}

/// `y = a · b` elementwise (lengths equal).
#[inline(always)]
pub(crate) fn mul_into<S: Simd>(s: S, y: &mut [f32], a: &[f32], b: &[f32]) {
    let n = y.len();
    assert!(a.len() >= n && b.len() >= n);
    let l = S::L;
    let full = n / l * l;
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= n <= every length.
        unsafe {
            s.store(
                y.as_mut_ptr().add(i),
                s.mul(s.load(a.as_ptr().add(i)), s.load(b.as_ptr().add(i))),
            )
        };
        i += l;
    }
    for i in full..n {
        y[i] = a[i] * b[i];
    }
}

/// `y *= x` elementwise (lengths equal).
#[inline(always)]
pub(crate) fn mul_assign<S: Simd>(s: S, y: &mut [f32], x: &[f32]) {
    let n = y.len();
    assert!(x.len() >= n);
    let l = S::L;
    let full = n / l * l;
    let mut i = 0;
    while i < full {
        // SAFETY: i + L <= full <= n <= both lengths.
        unsafe {
            let yp = y.as_mut_ptr().add(i);
            s.store(yp, s.mul(s.load(yp), s.load(x.as_ptr().add(i))));
        }
        i += l;
    }
    for i in full..n {
        y[i] *= x[i];
    }
}
