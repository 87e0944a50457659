//! LayerNorm over the last dimension, forward and backward.

use super::simd::Simd;

/// PyTorch's LayerNorm epsilon.
pub const LN_EPS: f32 = 1e-5;

/// LayerNorm over rows of `c` (see `kernels::layernorm_forward`; 1/√(var + eps), biased var), vectorised along the row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn layernorm_forward<S: Simd>(
    s: S,
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: &[f32],
    n_rows: usize,
    c: usize,
) {
    assert!(out.len() >= n_rows * c && inp.len() >= n_rows * c);
    assert!(mean.len() >= n_rows && rstd.len() >= n_rows);
    assert!(weight.len() >= c && bias.len() >= c);
    let l = S::L;
    let full = c / l * l;
    let (wp, bp) = (weight.as_ptr(), bias.as_ptr());
    for n in 0..n_rows {
        let x = &inp[n * c..(n + 1) * c];
        let o = &mut out[n * c..(n + 1) * c];
        let (xp, op) = (x.as_ptr(), o.as_mut_ptr());
        // SAFETY (all blocks): i + L <= full <= c = length of x, o, and <= weight/bias lengths.
        let mut acc = s.zero();
        let mut i = 0;
        while i < full {
            acc = s.add(acc, unsafe { s.load(xp.add(i)) });
            i += l;
        }
        let mut sum = s.hsum(acc);
        for &v in &x[full..] {
            sum += v;
        }
        let m = sum / c as f32;
        let mv = s.splat(m);
        let mut acc = s.zero();
        let mut i = 0;
        while i < full {
            let d = s.sub(unsafe { s.load(xp.add(i)) }, mv);
            acc = s.fma(d, d, acc);
            i += l;
        }
        let mut var = s.hsum(acc);
        for &v in &x[full..] {
            var += (v - m) * (v - m);
        }
        let r = 1.0 / (var / c as f32 + LN_EPS).sqrt();
        let rv = s.splat(r);
        let mut i = 0;
        while i < full {
            unsafe {
                let norm = s.mul(s.sub(s.load(xp.add(i)), mv), rv);
                s.store(op.add(i), s.fma(norm, s.load(wp.add(i)), s.load(bp.add(i))));
            }
            i += l;
        }
        for i in full..c {
            o[i] = (x[i] - m) * r * weight[i] + bias[i];
        }
        mean[n] = m;
        rstd[n] = r;
    }
}

/// Backward of [`layernorm_forward`], accumulating into dinp, dweight and dbias.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn layernorm_backward<S: Simd>(
    s: S,
    dinp: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    weight: &[f32],
    mean: &[f32],
    rstd: &[f32],
    n_rows: usize,
    c: usize,
) {
    assert!(dinp.len() >= n_rows * c && dout.len() >= n_rows * c && inp.len() >= n_rows * c);
    assert!(mean.len() >= n_rows && rstd.len() >= n_rows);
    assert!(weight.len() >= c && dweight.len() >= c && dbias.len() >= c);
    let l = S::L;
    let full = c / l * l;
    let (wp, dwp, dbp) = (weight.as_ptr(), dweight.as_mut_ptr(), dbias.as_mut_ptr());
    for n in 0..n_rows {
        let x = &inp[n * c..(n + 1) * c];
        let d = &dout[n * c..(n + 1) * c];
        let di = &mut dinp[n * c..(n + 1) * c];
        let (xp, dp, dip) = (x.as_ptr(), d.as_ptr(), di.as_mut_ptr());
        let (m, r) = (mean[n], rstd[n]);
        let (mv, rv) = (s.splat(m), s.splat(r));
        // SAFETY (all blocks): i + L <= full <= c, within every row and parameter slice.
        // The two reductions of the LayerNorm gradient (llm.c's dnorm_mean, dnorm_norm_mean).
        let (mut a1, mut a2) = (s.zero(), s.zero());
        let mut i = 0;
        while i < full {
            unsafe {
                let norm = s.mul(s.sub(s.load(xp.add(i)), mv), rv);
                let dnorm = s.mul(s.load(wp.add(i)), s.load(dp.add(i)));
                a1 = s.add(a1, dnorm);
                a2 = s.fma(dnorm, norm, a2);
            }
            i += l;
        }
        let (mut dnorm_mean, mut dnorm_norm_mean) = (s.hsum(a1), s.hsum(a2));
        for i in full..c {
            let norm = (x[i] - m) * r;
            let dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= c as f32;
        dnorm_norm_mean /= c as f32;
        let (dmv, dnmv) = (s.splat(dnorm_mean), s.splat(dnorm_norm_mean));
        let mut i = 0;
        while i < full {
            unsafe {
                let norm = s.mul(s.sub(s.load(xp.add(i)), mv), rv);
                let dv = s.load(dp.add(i));
                let dnorm = s.mul(s.load(wp.add(i)), dv);
                s.store(dbp.add(i), s.add(s.load(dbp.add(i)), dv));
                s.store(dwp.add(i), s.fma(norm, dv, s.load(dwp.add(i))));
                let g = s.mul(s.sub(s.sub(dnorm, dmv), s.mul(norm, dnmv)), rv);
                s.store(dip.add(i), s.add(s.load(dip.add(i)), g));
            }
            i += l;
        }
        for i in full..c {
            let norm = (x[i] - m) * r;
            let dnorm = weight[i] * d[i];
            dbias[i] += d[i];
            dweight[i] += norm * d[i];
            di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * r;
        }
    }
}
