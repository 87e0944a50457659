//! f32 kernels: the only place that cares how the machine multiplies.
//!
//! Every kernel has one portable body, written over fixed 8-lane blocks so LLVM can vectorise
//! it (SSE2 natively, `simd128` on wasm with `+simd128`). On x86_64, explicit AVX2+FMA versions
//! are picked at run time (CPU feature detection), so the release binary is fast on any x86_64
//! without `-C target-cpu=native`. [`scalar`] exposes the portable bodies so tests can
//! cross-check the dispatched path. This module is the only place with `unsafe`.
//!
//! Layout conventions (PyTorch): a Linear weight is `(out, in)`, activations are row-major
//! `[rows, features]`.

/// Width of the blocks the loops are written over: one AVX register, two SSE/simd128 registers.
const LANES: usize = 8;

/// `a · b`.
#[inline(always)]
fn dot_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] = madd::<FMA>(xa[l], xb[l], acc[l]);
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = madd::<FMA>(*x, *y, tail);
    }
    hsum(&acc) + tail
}

/// `y += alpha · x`.
#[inline(always)]
fn axpy_body<const FMA: bool>(y: &mut [f32], alpha: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let (y, x) = (&mut y[..n], &x[..n]);
    let mut cy = y.chunks_exact_mut(LANES);
    let mut cx = x.chunks_exact(LANES);
    for (yy, xx) in (&mut cy).zip(&mut cx) {
        for l in 0..LANES {
            yy[l] = madd::<FMA>(alpha, xx[l], yy[l]);
        }
    }
    for (yy, xx) in cy.into_remainder().iter_mut().zip(cx.remainder()) {
        *yy = madd::<FMA>(alpha, *xx, *yy);
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn hsum(acc: &[f32; LANES]) -> f32 {
    // Pairwise, so the rounding does not depend on the vector width.
    let s4 = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// Rows of the input processed together in the matmul, so each weight row is loaded once per tile.
const ROW_TILE: usize = 4;

/// out[n, o] = Σ_i inp[n, i] · w[o, i] + bias[o]
/// inp `[n_rows, n_in]`, w `[n_out, n_in]`, bias `[n_out]`, out `[n_rows, n_out]` (overwritten).
#[inline(always)]
fn matmul_forward_body<const FMA: bool>(
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    let tiles = n_rows / ROW_TILE;
    let chunks = n_in / LANES;
    for tile in 0..tiles {
        let r0 = tile * ROW_TILE;
        let rows: [&[f32]; ROW_TILE] =
            std::array::from_fn(|r| &inp[(r0 + r) * n_in..(r0 + r + 1) * n_in]);
        for o in 0..n_out {
            let wr = &w[o * n_in..(o + 1) * n_in];
            let mut acc = [[0.0f32; LANES]; ROW_TILE];
            for c in 0..chunks {
                let wc = &wr[c * LANES..(c + 1) * LANES];
                for r in 0..ROW_TILE {
                    let xc = &rows[r][c * LANES..(c + 1) * LANES];
                    for l in 0..LANES {
                        acc[r][l] = madd::<FMA>(xc[l], wc[l], acc[r][l]);
                    }
                }
            }
            let b = bias.map_or(0.0, |b| b[o]);
            for r in 0..ROW_TILE {
                let mut s = hsum(&acc[r]);
                for i in chunks * LANES..n_in {
                    s = madd::<FMA>(rows[r][i], wr[i], s);
                }
                out[(r0 + r) * n_out + o] = s + b;
            }
        }
    }
    for n in tiles * ROW_TILE..n_rows {
        let x = &inp[n * n_in..(n + 1) * n_in];
        for o in 0..n_out {
            let b = bias.map_or(0.0, |b| b[o]);
            out[n * n_out + o] = dot_body::<FMA>(x, &w[o * n_in..(o + 1) * n_in]) + b;
        }
    }
}

/// Backward of [`matmul_forward`]; accumulates (`+=`) into dinp, dw and dbias.
/// dout `[n_rows, n_out]`, inp `[n_rows, n_in]`, w `[n_out, n_in]`;
/// dinp `[n_rows, n_in]` += dout · w, dw `[n_out, n_in]` += doutᵀ · inp, dbias `[n_out]` += Σ_n dout.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_backward_body<const FMA: bool>(
    dinp: Option<&mut [f32]>,
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    if let Some(dinp) = dinp {
        for n in 0..n_rows {
            let d = &dout[n * n_out..(n + 1) * n_out];
            let di = &mut dinp[n * n_in..(n + 1) * n_in];
            for (o, &g) in d.iter().enumerate() {
                axpy_body::<FMA>(di, g, &w[o * n_in..(o + 1) * n_in]);
            }
        }
    }
    // dw: rows of dw stay in L1 while the inputs stream past.
    for o in 0..n_out {
        let dwr = &mut dw[o * n_in..(o + 1) * n_in];
        for n in 0..n_rows {
            let g = dout[n * n_out + o];
            if g != 0.0 {
                axpy_body::<FMA>(dwr, g, &inp[n * n_in..(n + 1) * n_in]);
            }
        }
    }
    if let Some(db) = dbias {
        for n in 0..n_rows {
            for (b, g) in db.iter_mut().zip(&dout[n * n_out..(n + 1) * n_out]) {
                *b += g;
            }
        }
    }
}

/// Portable bodies, used where no faster path exists and by tests as the reference.
pub mod scalar {
    /// See [`super::dot`].
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_body::<false>(a, b)
    }
    /// See [`super::axpy`].
    pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        super::axpy_body::<false>(y, alpha, x)
    }
    /// See [`super::matmul_forward`].
    pub fn matmul_forward(
        out: &mut [f32],
        inp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        super::matmul_forward_body::<false>(out, inp, w, bias, n_rows, n_in, n_out)
    }
    /// See [`super::matmul_backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_backward(
        dinp: Option<&mut [f32]>,
        dw: &mut [f32],
        dbias: Option<&mut [f32]>,
        dout: &[f32],
        inp: &[f32],
        w: &[f32],
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        super::matmul_backward_body::<false>(dinp, dw, dbias, dout, inp, w, n_rows, n_in, n_out)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Explicit AVX2 + FMA kernels (8 f32 lanes). Every function requires a CPU with both
    //! features; the dispatchers below check before calling. Tails (lengths not a multiple of
    //! 8, leftover rows) are done with scalar FMAs.
    #![allow(clippy::too_many_arguments)]
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// 8 floats from `s[i..i + 8]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(s: &[f32], i: usize) -> __m256 {
        debug_assert!(i + 8 <= s.len());
        // SAFETY: callers guarantee i + 8 <= s.len(); unaligned load.
        unsafe { _mm256_loadu_ps(s.as_ptr().add(i)) }
    }

    /// Stores 8 floats to `s[i..i + 8]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store(s: &mut [f32], i: usize, v: __m256) {
        debug_assert!(i + 8 <= s.len());
        // SAFETY: callers guarantee i + 8 <= s.len(); unaligned store.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr().add(i), v) }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let full = n / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= len of both.
            acc = unsafe { _mm256_fmadd_ps(load(a, i), load(b, i), acc) };
            i += 8;
        }
        let mut s = hsum(acc);
        for j in full..n {
            s = a[j].mul_add(b[j], s);
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        let n = y.len().min(x.len());
        let full = n / 8 * 8;
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= len of both.
            unsafe { store(y, i, _mm256_fmadd_ps(va, load(x, i), load(y, i))) };
            i += 8;
        }
        for j in full..n {
            y[j] = alpha.mul_add(x[j], y[j]);
        }
    }

    /// See [`super::matmul_forward`]. Tiles of 4 input rows share each weight load.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matmul_forward(
        out: &mut [f32],
        inp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        let full = n_in / 8 * 8;
        let tiles = n_rows / 4;
        for tile in 0..tiles {
            let r0 = tile * 4;
            let rows: [&[f32]; 4] =
                std::array::from_fn(|r| &inp[(r0 + r) * n_in..(r0 + r + 1) * n_in]);
            for o in 0..n_out {
                let wr = &w[o * n_in..(o + 1) * n_in];
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                while i < full {
                    // SAFETY: i + 8 <= full <= n_in = len of wr and of every row.
                    unsafe {
                        let wv = load(wr, i);
                        acc[0] = _mm256_fmadd_ps(load(rows[0], i), wv, acc[0]);
                        acc[1] = _mm256_fmadd_ps(load(rows[1], i), wv, acc[1]);
                        acc[2] = _mm256_fmadd_ps(load(rows[2], i), wv, acc[2]);
                        acc[3] = _mm256_fmadd_ps(load(rows[3], i), wv, acc[3]);
                    }
                    i += 8;
                }
                let b = bias.map_or(0.0, |b| b[o]);
                for r in 0..4 {
                    let mut s = hsum(acc[r]);
                    for j in full..n_in {
                        s = rows[r][j].mul_add(wr[j], s);
                    }
                    out[(r0 + r) * n_out + o] = s + b;
                }
            }
        }
        for n in tiles * 4..n_rows {
            let x = &inp[n * n_in..(n + 1) * n_in];
            for o in 0..n_out {
                let b = bias.map_or(0.0, |b| b[o]);
                // SAFETY: same CPU features as this function.
                out[n * n_out + o] = unsafe { dot(x, &w[o * n_in..(o + 1) * n_in]) } + b;
            }
        }
    }

    /// See [`super::matmul_backward`]. Both products keep a tile of 4 × 8 accumulators in
    /// registers and stream the other operand past it: one load and one broadcast per FMA pair.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matmul_backward(
        dinp: Option<&mut [f32]>,
        dw: &mut [f32],
        dbias: Option<&mut [f32]>,
        dout: &[f32],
        inp: &[f32],
        w: &[f32],
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        let full = n_in / 8 * 8;
        // dinp[n, :] += Σ_o dout[n, o] · w[o, :]   (tiles of 4 rows n)
        if let Some(dinp) = dinp {
            let tiles = n_rows / 4;
            for tile in 0..tiles {
                let n0 = tile * 4;
                let mut i = 0;
                while i < full {
                    // SAFETY: (n0 + 3) * n_in + i + 8 <= n_rows * n_in; o * n_in + i + 8 <= w.len().
                    unsafe {
                        let mut acc = [
                            load(dinp, n0 * n_in + i),
                            load(dinp, (n0 + 1) * n_in + i),
                            load(dinp, (n0 + 2) * n_in + i),
                            load(dinp, (n0 + 3) * n_in + i),
                        ];
                        for o in 0..n_out {
                            let wv = load(w, o * n_in + i);
                            for (r, a) in acc.iter_mut().enumerate() {
                                let g = _mm256_set1_ps(dout[(n0 + r) * n_out + o]);
                                *a = _mm256_fmadd_ps(g, wv, *a);
                            }
                        }
                        for (r, a) in acc.iter().enumerate() {
                            store(dinp, (n0 + r) * n_in + i, *a);
                        }
                    }
                    i += 8;
                }
                for r in 0..4 {
                    let n = n0 + r;
                    for j in full..n_in {
                        let mut s = dinp[n * n_in + j];
                        for o in 0..n_out {
                            s = dout[n * n_out + o].mul_add(w[o * n_in + j], s);
                        }
                        dinp[n * n_in + j] = s;
                    }
                }
            }
            for n in tiles * 4..n_rows {
                let di = &mut dinp[n * n_in..(n + 1) * n_in];
                for o in 0..n_out {
                    // SAFETY: same CPU features as this function.
                    unsafe { axpy(di, dout[n * n_out + o], &w[o * n_in..(o + 1) * n_in]) };
                }
            }
        }
        // dw[o, :] += Σ_n dout[n, o] · inp[n, :]   (tiles of 4 outputs o)
        let tiles = n_out / 4;
        for tile in 0..tiles {
            let o0 = tile * 4;
            let mut i = 0;
            while i < full {
                // SAFETY: (o0 + 3) * n_in + i + 8 <= n_out * n_in; n * n_in + i + 8 <= inp.len().
                unsafe {
                    let mut acc = [
                        load(dw, o0 * n_in + i),
                        load(dw, (o0 + 1) * n_in + i),
                        load(dw, (o0 + 2) * n_in + i),
                        load(dw, (o0 + 3) * n_in + i),
                    ];
                    for n in 0..n_rows {
                        let x = load(inp, n * n_in + i);
                        let d = &dout[n * n_out + o0..n * n_out + o0 + 4];
                        for (j, a) in acc.iter_mut().enumerate() {
                            *a = _mm256_fmadd_ps(_mm256_set1_ps(d[j]), x, *a);
                        }
                    }
                    for (j, a) in acc.iter().enumerate() {
                        store(dw, (o0 + j) * n_in + i, *a);
                    }
                }
                i += 8;
            }
            for j in 0..4 {
                let o = o0 + j;
                for k in full..n_in {
                    let mut s = dw[o * n_in + k];
                    for n in 0..n_rows {
                        s = dout[n * n_out + o].mul_add(inp[n * n_in + k], s);
                    }
                    dw[o * n_in + k] = s;
                }
            }
        }
        for o in tiles * 4..n_out {
            let dwr = &mut dw[o * n_in..(o + 1) * n_in];
            for n in 0..n_rows {
                // SAFETY: same CPU features as this function.
                unsafe { axpy(dwr, dout[n * n_out + o], &inp[n * n_in..(n + 1) * n_in]) };
            }
        }
        if let Some(db) = dbias {
            for n in 0..n_rows {
                for (b, g) in db.iter_mut().zip(&dout[n * n_out..(n + 1) * n_out]) {
                    *b += g;
                }
            }
        }
    }
}

/// True when the AVX2+FMA path is used (x86_64 CPUs that have both; detected once, cached).
#[inline]
pub fn uses_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Name of the kernel path in use, for benchmarks and the status line.
pub fn kernel_name() -> &'static str {
    if uses_avx2() {
        "avx2+fma"
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "wasm-simd128"
    } else {
        "portable"
    }
}

/// `a · b` over the shorter of the two slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if uses_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { avx2::dot(a, b) };
    }
    scalar::dot(a, b)
}

/// `y += alpha · x` over the shorter of the two slices.
#[inline]
pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if uses_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { avx2::axpy(y, alpha, x) };
    }
    scalar::axpy(y, alpha, x)
}

/// out `[n_rows, n_out]` = inp `[n_rows, n_in]` · w`[n_out, n_in]`ᵀ + bias `[n_out]`.
///
/// ```
/// // [[1, 2]] · [[1, 0], [0, 1], [1, 1]]ᵀ + [0, 0, 10] = [[1, 2, 13]]
/// let mut out = [0.0; 3];
/// kgpt::kernels::matmul_forward(&mut out, &[1.0, 2.0], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
///                               Some(&[0.0, 0.0, 10.0]), 1, 2, 3);
/// assert_eq!(out, [1.0, 2.0, 13.0]);
/// ```
#[inline]
pub fn matmul_forward(
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    assert!(inp.len() >= n_rows * n_in && w.len() >= n_out * n_in);
    assert!(out.len() >= n_rows * n_out && bias.is_none_or(|b| b.len() >= n_out));
    #[cfg(target_arch = "x86_64")]
    if uses_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above); slice bounds are checked
        // by the safe body itself.
        return unsafe { avx2::matmul_forward(out, inp, w, bias, n_rows, n_in, n_out) };
    }
    scalar::matmul_forward(out, inp, w, bias, n_rows, n_in, n_out)
}

/// Backward of [`matmul_forward`], accumulating: dinp `[n_rows, n_in]` += dout · w,
/// dw `[n_out, n_in]` += doutᵀ · inp, dbias `[n_out]` += column sums of dout `[n_rows, n_out]`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(
    dinp: Option<&mut [f32]>,
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if uses_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above); slice bounds are checked
        // by the safe body itself.
        return unsafe {
            avx2::matmul_backward(dinp, dw, dbias, dout, inp, w, n_rows, n_in, n_out)
        };
    }
    scalar::matmul_backward(dinp, dw, dbias, dout, inp, w, n_rows, n_in, n_out)
}

/// PyTorch's LayerNorm epsilon.
pub const LN_EPS: f32 = 1e-5;

/// LayerNorm over the last dimension, with the statistics kept for the backward pass.
/// inp `[n_rows, c]` → out `[n_rows, c]`, mean `[n_rows]`, rstd `[n_rows]` (1/√(var + eps), biased var).
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: &[f32],
    n_rows: usize,
    c: usize,
) {
    for n in 0..n_rows {
        let x = &inp[n * c..(n + 1) * c];
        let m = x.iter().sum::<f32>() / c as f32;
        let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / c as f32;
        let s = 1.0 / (var + LN_EPS).sqrt();
        let o = &mut out[n * c..(n + 1) * c];
        for i in 0..c {
            o[i] = (x[i] - m) * s * weight[i] + bias[i];
        }
        mean[n] = m;
        rstd[n] = s;
    }
}

/// Backward of [`layernorm_forward`], accumulating into dinp `[n_rows, c]`, dweight and dbias `[c]`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
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
    for n in 0..n_rows {
        let x = &inp[n * c..(n + 1) * c];
        let d = &dout[n * c..(n + 1) * c];
        let (m, s) = (mean[n], rstd[n]);
        // The two reductions of the LayerNorm gradient (llm.c's dnorm_mean, dnorm_norm_mean).
        let mut dnorm_mean = 0.0f32;
        let mut dnorm_norm_mean = 0.0f32;
        for i in 0..c {
            let norm = (x[i] - m) * s;
            let dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= c as f32;
        dnorm_norm_mean /= c as f32;
        let di = &mut dinp[n * c..(n + 1) * c];
        for i in 0..c {
            let norm = (x[i] - m) * s;
            let dnorm = weight[i] * d[i];
            dbias[i] += d[i];
            dweight[i] += norm * d[i];
            di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/// Numerically stable softmax of `row`, in place. A row of all `-inf` becomes all zeros.
pub fn softmax_inplace(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// ReLU: out = max(inp, 0). inp, out `[n]`.
pub fn relu_forward(out: &mut [f32], inp: &[f32]) {
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = x.max(0.0);
    }
}

/// Backward of ReLU, accumulating: dinp += dout where inp > 0.
pub fn relu_backward(dinp: &mut [f32], dout: &[f32], inp: &[f32]) {
    for ((di, &d), &x) in dinp.iter_mut().zip(dout).zip(inp) {
        if x > 0.0 {
            *di += d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.normal()).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    #[test]
    fn matmul_hand_computed() {
        // inp [[1,2,3],[4,5,6]], w [[1,0,-1],[2,1,0]], bias [0.5, -1]
        let mut out = [0.0; 4];
        let w = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
        let inp = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        matmul_forward(&mut out, &inp, &w, Some(&[0.5, -1.0]), 2, 3, 2);
        assert_eq!(out, [-1.5, 3.0, -1.5, 12.0]);
        let dout = [1.0, 0.0, 0.0, 2.0];
        let (mut dinp, mut dw, mut db) = ([0.0; 6], [0.0; 6], [0.0; 2]);
        matmul_backward(
            Some(&mut dinp),
            &mut dw,
            Some(&mut db),
            &dout,
            &inp,
            &w,
            2,
            3,
            2,
        );
        assert_eq!(dinp, [1.0, 0.0, -1.0, 4.0, 2.0, 0.0]);
        assert_eq!(dw, [1.0, 2.0, 3.0, 8.0, 10.0, 12.0]);
        assert_eq!(db, [1.0, 2.0]);
    }

    #[test]
    fn dispatched_matches_naive_on_odd_shapes() {
        let mut rng = Rng::new(7);
        for &(n, i, o) in &[(1, 1, 1), (3, 7, 5), (5, 17, 9), (9, 64, 33), (13, 256, 64)] {
            let inp = random(&mut rng, n * i);
            let w = random(&mut rng, o * i);
            let b = random(&mut rng, o);
            let mut naive = vec![0.0; n * o];
            for r in 0..n {
                for c in 0..o {
                    let mut s = 0.0f64;
                    for k in 0..i {
                        s += inp[r * i + k] as f64 * w[c * i + k] as f64;
                    }
                    naive[r * o + c] = (s + b[c] as f64) as f32;
                }
            }
            let mut fast = vec![0.0; n * o];
            let mut port = vec![0.0; n * o];
            matmul_forward(&mut fast, &inp, &w, Some(&b), n, i, o);
            scalar::matmul_forward(&mut port, &inp, &w, Some(&b), n, i, o);
            close(&fast, &naive, 1e-5);
            close(&port, &naive, 1e-5);

            let dout = random(&mut rng, n * o);
            let (mut di1, mut dw1, mut db1) = (vec![0.0; n * i], vec![0.0; o * i], vec![0.0; o]);
            let (mut di2, mut dw2, mut db2) = (di1.clone(), dw1.clone(), db1.clone());
            matmul_backward(
                Some(&mut di1),
                &mut dw1,
                Some(&mut db1),
                &dout,
                &inp,
                &w,
                n,
                i,
                o,
            );
            scalar::matmul_backward(
                Some(&mut di2),
                &mut dw2,
                Some(&mut db2),
                &dout,
                &inp,
                &w,
                n,
                i,
                o,
            );
            close(&di1, &di2, 1e-5);
            close(&dw1, &dw2, 1e-5);
            close(&db1, &db2, 1e-6);
            // dinp against the naive definition
            for r in 0..n {
                for k in 0..i {
                    let s: f64 = (0..o)
                        .map(|c| dout[r * o + c] as f64 * w[c * i + k] as f64)
                        .sum();
                    assert!((di1[r * i + k] as f64 - s).abs() < 1e-4 * (1.0 + s.abs()));
                }
            }
        }
        let a = random(&mut rng, 37);
        let bvec = random(&mut rng, 37);
        assert!((dot(&a, &bvec) - scalar::dot(&a, &bvec)).abs() < 1e-5);
    }

    #[test]
    fn layernorm_hand_computed() {
        // x = [1, 2, 3]: mean 2, var 2/3, rstd = 1/sqrt(2/3 + 1e-5)
        let mut out = [0.0; 3];
        let (mut m, mut s) = ([0.0], [0.0]);
        layernorm_forward(
            &mut out,
            &mut m,
            &mut s,
            &[1.0, 2.0, 3.0],
            &[1.0, 2.0, 1.0],
            &[0.0, 0.0, 1.0],
            1,
            3,
        );
        let r = 1.0 / (2.0f32 / 3.0 + 1e-5).sqrt();
        close(&out, &[-r, 0.0, r + 1.0], 1e-6);
        assert_eq!(m[0], 2.0);
    }

    #[test]
    fn layernorm_backward_matches_finite_differences() {
        let mut rng = Rng::new(3);
        let c = 6;
        let x = random(&mut rng, c);
        let w = random(&mut rng, c);
        let b = random(&mut rng, c);
        let dout = random(&mut rng, c);
        let f = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            let mut out = vec![0.0; c];
            let (mut m, mut s) = ([0.0], [0.0]);
            layernorm_forward(&mut out, &mut m, &mut s, x, w, b, 1, c);
            out.iter()
                .zip(&dout)
                .map(|(o, d)| (*o as f64) * (*d as f64))
                .sum()
        };
        let mut out = vec![0.0; c];
        let (mut m, mut s) = ([0.0], [0.0]);
        layernorm_forward(&mut out, &mut m, &mut s, &x, &w, &b, 1, c);
        let (mut dx, mut dw, mut db) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        layernorm_backward(&mut dx, &mut dw, &mut db, &dout, &x, &w, &m, &s, 1, c);
        let h = 1e-2f32;
        for i in 0..c {
            let mut xp = x.clone();
            xp[i] += h;
            let mut xm = x.clone();
            xm[i] -= h;
            let num = (f(&xp, &w, &b) - f(&xm, &w, &b)) / (2.0 * h as f64);
            assert!(
                (num - dx[i] as f64).abs() < 2e-3,
                "dx[{i}] {num} vs {}",
                dx[i]
            );
            let mut wp = w.clone();
            wp[i] += h;
            let mut wm = w.clone();
            wm[i] -= h;
            let num = (f(&x, &wp, &b) - f(&x, &wm, &b)) / (2.0 * h as f64);
            assert!((num - dw[i] as f64).abs() < 2e-3);
            assert!((db[i] - dout[i]).abs() < 1e-6);
        }
    }

    #[test]
    fn softmax_and_relu_hand_computed() {
        let mut row = [0.0, 2f32.ln(), f32::NEG_INFINITY];
        softmax_inplace(&mut row);
        close(&row, &[1.0 / 3.0, 2.0 / 3.0, 0.0], 1e-6);
        let mut big = [1000.0, 1000.0];
        softmax_inplace(&mut big);
        assert_eq!(big, [0.5, 0.5]);
        let mut out = [0.0; 3];
        relu_forward(&mut out, &[-1.0, 0.0, 2.5]);
        assert_eq!(out, [0.0, 0.0, 2.5]);
        let mut d = [0.0; 3];
        relu_backward(&mut d, &[1.0, 1.0, 1.0], &[-1.0, 0.0, 2.5]);
        assert_eq!(d, [0.0, 0.0, 1.0]);
    }
}
