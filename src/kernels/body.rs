//! The kernel bodies, written once over [`Simd`] and instantiated per instruction set by the
//! dispatchers in `kernels.rs`. Every public entry checks the slice bounds it relies on before
//! any raw-pointer access, so the inner loops run without bounds checks.

use super::simd::Simd;

/// Which part of a triangular product to compute (see [`gemm`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tri {
    /// The whole product.
    Full,
    /// A is lower triangular (`A[i, p] = 0` for `p > i`): the sum stops at the row block's last row.
    ALower,
    /// A is upper triangular (`A[i, p] = 0` for `p < i`): the sum starts at the row block's first row.
    AUpper,
    /// Only `C[i, j]` for `j ≤ i` is wanted: columns stop at the row block's last row, rounded up
    /// to whole vectors (the extra columns, up to `n`, get finite don't-care values).
    CLower,
}

/// `C[i, j] (+)= Σ_p A[i·a_rs + p·a_cs] · B[p·b_rs + j]` for `i < m`, `j < n`, `p < k`.
pub(crate) struct Gemm<'a> {
    pub c: &'a mut [f32],
    pub c_rs: usize,
    pub a: &'a [f32],
    pub a_rs: usize,
    pub a_cs: usize,
    pub b: &'a [f32],
    pub b_rs: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Add to C (true) or overwrite it (false).
    pub accumulate: bool,
    /// With `accumulate == false`: start every row of C from this `[n]` row instead of 0.
    pub bias: Option<&'a [f32]>,
    pub tri: Tri,
}

/// Rows of C computed together: each loaded B vector feeds `ROWS` FMAs (12 accumulators of
/// 2 vectors; with the 2 B vectors and a broadcast that is 15 of AVX2's 16 registers).
const ROWS: usize = if cfg!(target_arch = "wasm32") { 4 } else { 6 };

/// Broadcast-form matrix product (llm.c's backward matmul shape): a tile of `R` rows × `NV`
/// vectors of C stays in registers while the `p` loop streams rows of B past it.
///
/// Kernel bodies call it through [`Simd::gemm`], which runs one out-of-line instantiation per
/// instruction set (compiled with its target features), so the tile code exists once instead of
/// at every call site.
#[inline(always)]
pub(crate) fn gemm_body<S: Simd>(s: S, g: Gemm<'_>) {
    let Gemm {
        c,
        c_rs,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        m,
        n,
        k,
        accumulate,
        bias,
        tri,
    } = g;
    if m == 0 || n == 0 {
        return;
    }
    assert!(bias.is_none_or(|b| b.len() >= n) && !(accumulate && bias.is_some()));
    let bias = bias.map_or(std::ptr::null(), |b| b.as_ptr());
    assert!((m - 1) * c_rs + n <= c.len(), "gemm: C too short");
    if k > 0 {
        assert!(
            (m - 1) * a_rs + (k - 1) * a_cs < a.len(),
            "gemm: A too short"
        );
        assert!((k - 1) * b_rs + n <= b.len(), "gemm: B too short");
    }
    let p = Ptrs {
        c: c.as_mut_ptr(),
        a: a.as_ptr(),
        b: b.as_ptr(),
        bias,
    };
    let mut i0 = 0;
    while i0 + ROWS <= m {
        // SAFETY: bounds asserted above; rows i0..i0+ROWS < m.
        unsafe { gemm_rows::<S, ROWS>(s, &p, c_rs, a_rs, a_cs, b_rs, i0, n, k, accumulate, tri) };
        i0 += ROWS;
    }
    if i0 + 4 <= m {
        // SAFETY: as above, four rows.
        unsafe { gemm_rows::<S, 4>(s, &p, c_rs, a_rs, a_cs, b_rs, i0, n, k, accumulate, tri) };
        i0 += 4;
    }
    while i0 < m {
        // SAFETY: as above, one row.
        unsafe { gemm_rows::<S, 1>(s, &p, c_rs, a_rs, a_cs, b_rs, i0, n, k, accumulate, tri) };
        i0 += 1;
    }
}

struct Ptrs {
    c: *mut f32,
    a: *const f32,
    b: *const f32,
    /// Row to start C from (null: zero).
    bias: *const f32,
}

/// `bias + j`, or null for no bias.
///
/// # Safety
/// A non-null `bias` points to at least `j` floats.
#[inline(always)]
unsafe fn bias_at(bias: *const f32, j: usize) -> *const f32 {
    if bias.is_null() {
        bias
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { bias.add(j) }
    }
}

/// One block of `R` rows starting at `i0`, all its columns.
///
/// # Safety
/// The [`gemm`] bounds hold for rows `i0..i0 + R`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_rows<S: Simd, const R: usize>(
    s: S,
    p: &Ptrs,
    c_rs: usize,
    a_rs: usize,
    a_cs: usize,
    b_rs: usize,
    i0: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    tri: Tri,
) {
    let l = S::L;
    let (p0, p1) = match tri {
        Tri::ALower => (0, k.min(i0 + R)),
        Tri::AUpper => (i0.min(k), k),
        Tri::Full | Tri::CLower => (0, k),
    };
    let n_eff = match tri {
        Tri::CLower => n.min((i0 + R).div_ceil(l) * l),
        _ => n,
    };
    // SAFETY (all blocks below): row i0 + r < m, column j < n_eff <= n, p < k, so every address
    // is inside the ranges asserted by `gemm`.
    let c = unsafe { p.c.add(i0 * c_rs) };
    let a = unsafe { p.a.add(i0 * a_rs) };
    let mut j = 0;
    while j + 2 * l <= n_eff {
        unsafe {
            tile::<S, R, 2>(
                s,
                c.add(j),
                c_rs,
                a,
                a_rs,
                a_cs,
                p.b.add(j),
                b_rs,
                p0,
                p1,
                accumulate,
                bias_at(p.bias, j),
            )
        };
        j += 2 * l;
    }
    if j + l <= n_eff {
        unsafe {
            tile::<S, R, 1>(
                s,
                c.add(j),
                c_rs,
                a,
                a_rs,
                a_cs,
                p.b.add(j),
                b_rs,
                p0,
                p1,
                accumulate,
                bias_at(p.bias, j),
            )
        };
        j += l;
    }
    while j < n_eff {
        for r in 0..R {
            unsafe {
                let cp = c.add(r * c_rs + j);
                let mut acc = if accumulate {
                    *cp
                } else if p.bias.is_null() {
                    0.0
                } else {
                    *p.bias.add(j)
                };
                for q in p0..p1 {
                    acc = s.fmas(*a.add(r * a_rs + q * a_cs), *p.b.add(q * b_rs + j), acc);
                }
                *cp = acc;
            }
        }
        j += 1;
    }
}

/// `R` rows × `NV` vectors of C, summed over `p0..p1`.
///
/// # Safety
/// All addresses touched are in bounds (see [`gemm_rows`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: Simd, const R: usize, const NV: usize>(
    s: S,
    c: *mut f32,
    c_rs: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    p0: usize,
    p1: usize,
    accumulate: bool,
    bias: *const f32,
) {
    let l = S::L;
    // SAFETY (whole body): the caller guarantees every address is in bounds.
    unsafe {
        let mut x = [[s.zero(); NV]; R];
        if !bias.is_null() {
            for xr in x.iter_mut() {
                for (v, xv) in xr.iter_mut().enumerate() {
                    *xv = s.load(bias.add(v * l));
                }
            }
        }
        if accumulate {
            for (r, xr) in x.iter_mut().enumerate() {
                for (v, xv) in xr.iter_mut().enumerate() {
                    *xv = s.load(c.add(r * c_rs + v * l));
                }
            }
        }
        let mut ap = a.add(p0 * a_cs);
        let mut bp = b.add(p0 * b_rs);
        // Two steps per iteration halve the loop overhead; the sum stays sequential in p.
        for _ in 0..(p1 - p0) / 2 {
            tile_step::<S, R, NV>(s, &mut x, ap, a_rs, bp);
            tile_step::<S, R, NV>(s, &mut x, ap.add(a_cs), a_rs, bp.add(b_rs));
            ap = ap.add(2 * a_cs);
            bp = bp.add(2 * b_rs);
        }
        if (p1 - p0) % 2 == 1 {
            tile_step::<S, R, NV>(s, &mut x, ap, a_rs, bp);
        }
        for (r, xr) in x.iter().enumerate() {
            for (v, &xv) in xr.iter().enumerate() {
                s.store(c.add(r * c_rs + v * l), xv);
            }
        }
    }
}

static ZEROS8: [f32; 8] = [0.0; 8];

/// One `p` step of [`tile`]: `x[r] += A[r, p] · B[p, ..]`.
///
/// # Safety
/// `ap + r·a_rs` (r < R) and `bp..bp + NV·L` are readable.
#[inline(always)]
unsafe fn tile_step<S: Simd, const R: usize, const NV: usize>(
    s: S,
    x: &mut [[S::V; NV]; R],
    ap: *const f32,
    a_rs: usize,
    bp: *const f32,
) {
    let l = S::L;
    // SAFETY: guaranteed by the caller.
    unsafe {
        let mut bv = [s.zero(); NV];
        for (v, b) in bv.iter_mut().enumerate() {
            *b = s.load(bp.add(v * l));
        }
        for (r, xr) in x.iter_mut().enumerate() {
            let av = s.splat(*ap.add(r * a_rs));
            for (xv, &bvv) in xr.iter_mut().zip(&bv) {
                *xv = s.fma(av, bvv, *xv);
            }
        }
    }
}

/// out `[n_rows, n_out]` = inp `[n_rows, n_in]` · w`[n_out, n_in]`ᵀ + bias, in dot form:
/// for each input row, 8 outputs accumulate along `n_in` in 8 vector registers (one load of the
/// input feeds 8 FMAs whose other operand comes straight from the weight rows), then one
/// 8-way reduction writes 8 adjacent outputs. Works for any row count (1 for the KV-cache decode).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_forward<S: Simd>(
    s: S,
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
    let l = S::L;
    let full = n_in / l * l;
    let (wp, op) = (w.as_ptr(), out.as_mut_ptr());
    for r in 0..n_rows {
        let x = &inp[r * n_in..(r + 1) * n_in];
        let xp = x.as_ptr();
        let mut o = 0;
        // SAFETY (all blocks): i + L <= full <= n_in; o + j < n_out; r < n_rows: in bounds.
        while o + 8 <= n_out {
            let mut acc = [s.zero(); 8];
            // Eight row pointers (general registers), each indexed by i: no per-load arithmetic.
            let wr: [*const f32; 8] = std::array::from_fn(|j| unsafe { wp.add((o + j) * n_in) });
            let mut i = 0;
            while i < full {
                let xv = unsafe { s.load(xp.add(i)) };
                for (a, w) in acc.iter_mut().zip(&wr) {
                    *a = s.fma(xv, unsafe { s.load(w.add(i)) }, *a);
                }
                i += l;
            }
            // Bias, plus the tail of the dot products when n_in is not a multiple of L, added
            // after the reduction.
            let mut add = [0.0f32; 8];
            let add_p = match bias {
                Some(b) if full == n_in => b[o..o + 8].as_ptr(),
                None if full == n_in => ZEROS8.as_ptr(),
                _ => {
                    for (j, ad) in add.iter_mut().enumerate() {
                        for (i, &xi) in x.iter().enumerate().skip(full) {
                            *ad = unsafe { s.fmas(xi, *wp.add((o + j) * n_in + i), *ad) };
                        }
                        *ad += bias.map_or(0.0, |b| b[o + j]);
                    }
                    add.as_ptr()
                }
            };
            unsafe { s.hsum8_add_store(acc, add_p, op.add(r * n_out + o)) };
            o += 8;
        }
        while o < n_out {
            let wr = &w[o * n_in..(o + 1) * n_in];
            out[r * n_out + o] = dot(s, x, wr) + bias.map_or(0.0, |b| b[o]);
            o += 1;
        }
    }
}

/// `dst[c·rows + r] = src[r·cols + c]`: a `[rows, cols]` matrix transposed, in 8 × 8 blocks
/// (register shuffles on AVX2), scalar at the edges.
#[inline(always)]
fn transpose<S: Simd>(s: S, dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for r0 in (0..r8).step_by(8) {
        for c0 in (0..c8).step_by(8) {
            // SAFETY: r0 + 7 < rows and c0 + 7 < cols: the block is inside both matrices.
            unsafe { s.transpose8x8(sp.add(r0 * cols + c0), cols, dp.add(c0 * rows + r0), rows) };
        }
    }
    for r in 0..rows {
        let c_start = if r < r8 { c8 } else { 0 };
        for c in c_start..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

/// [`matmul_forward`] for many rows: `w` is transposed into `wt` (`[n_in, n_out]`, at least
/// `n_in · n_out` floats), then the broadcast-form [`gemm`] runs with accumulators started from
/// the bias. The transpose costs `n_in · n_out` moves against `n_rows · n_in · n_out` FMAs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_forward_t<S: Simd>(
    s: S,
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    wt: &mut [f32],
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    assert!(w.len() >= n_out * n_in && wt.len() >= n_out * n_in);
    transpose(s, wt, w, n_out, n_in);
    s.gemm(Gemm {
        c: out,
        c_rs: n_out,
        a: inp,
        a_rs: n_in,
        a_cs: 1,
        b: wt,
        b_rs: n_out,
        m: n_rows,
        n: n_out,
        k: n_in,
        accumulate: false,
        bias,
        tri: Tri::Full,
    });
}

/// One row of a product with a row-major B: `out[j] = Σ_d a[d] · b[d·b_rs + j]` for
/// `j < out.len()` (the KV-cache scores `q · Kᵀ` with K stored transposed, or with `b_rs` = C the
/// attention-weighted sum of value rows `Σ_k p[k] · V[k, ..]`).
#[inline(always)]
pub(crate) fn row_times_matrix<S: Simd>(s: S, out: &mut [f32], a: &[f32], b: &[f32], b_rs: usize) {
    let n = out.len();
    s.gemm(Gemm {
        c: out,
        c_rs: n,
        a,
        a_rs: 0,
        a_cs: 1,
        b,
        b_rs,
        m: 1,
        n,
        k: a.len(),
        accumulate: false,
        bias: None,
        tri: Tri::Full,
    });
}

/// Backward of [`matmul_forward`]: dinp `[n_rows, n_in]` (+)= dout · w (added when
/// `dinp_accumulate`, else overwritten), dw `[n_out, n_in]` += doutᵀ · inp, dbias += Σ_n dout.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_backward<S: Simd>(
    s: S,
    dinp: Option<&mut [f32]>,
    dinp_accumulate: bool,
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
        s.gemm(Gemm {
            c: dinp,
            c_rs: n_in,
            a: dout,
            a_rs: n_out,
            a_cs: 1,
            b: w,
            b_rs: n_in,
            m: n_rows,
            n: n_in,
            k: n_out,
            accumulate: dinp_accumulate,
            bias: None,
            tri: Tri::Full,
        });
    }
    s.gemm(Gemm {
        c: dw,
        c_rs: n_in,
        a: dout,
        a_rs: 1,
        a_cs: n_out,
        b: inp,
        b_rs: n_in,
        m: n_out,
        n: n_in,
        k: n_rows,
        accumulate: true,
        bias: None,
        tri: Tri::Full,
    });
    if let Some(db) = dbias {
        let db = &mut db[..n_out];
        for n in 0..n_rows {
            add_assign(s, db, &dout[n * n_out..(n + 1) * n_out]);
        }
    }
}

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
    fn check(&self) {
        assert!(self.t >= 1 && self.t <= self.t_cap && self.tp >= self.t_cap.div_ceil(8) * 8);
        assert!(self.n_head >= 1 && self.c % self.n_head == 0);
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
pub(crate) fn attention_forward<S: Simd>(
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
    dims.check();
    let AttnDims {
        t,
        t_cap,
        tp,
        c,
        n_head,
    } = dims;
    let hs = dims.hs();
    let l = S::L;
    let scale = (hs as f32).powf(-0.5);
    let mat = t_cap * tp;
    assert!(probs.len() >= n_head * mat && sc.len() >= mat && kt.len() >= hs * tp);
    assert!(mask.is_none_or(|m| m.len() >= n_head * mat) && (mask.is_none() || pd.len() >= mat));
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
                let mh = &m[h * mat..(h + 1) * mat];
                for q in 0..t {
                    let row = q * tp;
                    let end = (q + 1).div_ceil(l) * l;
                    mul_into(
                        s,
                        &mut pd[row..row + end],
                        &ph[row..row + end],
                        &mh[row..row + end],
                    );
                }
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

/// `y = a · b` elementwise (lengths equal).
#[inline(always)]
fn mul_into<S: Simd>(s: S, y: &mut [f32], a: &[f32], b: &[f32]) {
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

/// Backward of [`attention_forward`]: d_out `[T, C]` → d_qkv `[T, 3C]` (overwritten).
/// Scratch: `sc`, `ds`, `pd` `[t_cap · tp]` (the upper triangles of `ds` and `pd` must be 0;
/// this function keeps them so), `kt`, `vt` `[hs · tp]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward<S: Simd>(
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
    dims.check();
    let AttnDims {
        t,
        t_cap,
        tp,
        c,
        n_head,
    } = dims;
    let hs = dims.hs();
    let l = S::L;
    let scale = (hs as f32).powf(-0.5);
    let mat = t_cap * tp;
    assert!(probs.len() >= n_head * mat && sc.len() >= mat && ds.len() >= mat);
    assert!(mask.is_none_or(|m| m.len() >= n_head * mat) && (mask.is_none() || pd.len() >= mat));
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
                for q in 0..t {
                    let row = q * tp;
                    let end = (q + 1).div_ceil(l) * l;
                    mul_into(
                        s,
                        &mut pd[row..row + end],
                        &ph[row..row + end],
                        &mh[row..row + end],
                    );
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

/// `y *= x` elementwise (lengths equal).
#[inline(always)]
fn mul_assign<S: Simd>(s: S, y: &mut [f32], x: &[f32]) {
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

/// LayerNorm over rows of `c` (see `kernels::layernorm_forward`), vectorised along the row.
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
    eps: f32,
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
        let r = 1.0 / (var / c as f32 + eps).sqrt();
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
