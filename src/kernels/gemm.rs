//! The tiled matrix product every larger kernel is built on, and its one out-of-line
//! instantiation per instruction set ([`GemmSimd`]).

use super::simd::Simd;

/// Which part of a triangular product to compute (see [`gemm_body`]).
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

/// An instruction set with one out-of-line copy of [`gemm_body`] compiled for it. Kernel bodies
/// that multiply matrices take `S: GemmSimd` and call `s.gemm(..)`.
pub(crate) trait GemmSimd: Simd {
    fn gemm(self, g: Gemm<'_>);
}

impl GemmSimd for super::simd::Portable {
    #[inline(never)]
    fn gemm(self, g: Gemm<'_>) {
        gemm_body(self, g)
    }
}

#[cfg(target_arch = "x86_64")]
impl GemmSimd for super::simd::Avx2 {
    #[inline(always)]
    fn gemm(self, g: Gemm<'_>) {
        #[target_feature(enable = "avx2,fma")]
        #[inline(never)]
        fn imp(s: super::simd::Avx2, g: Gemm<'_>) {
            gemm_body(s, g)
        }
        // SAFETY: an `Avx2` token exists only if AVX2 and FMA were detected.
        unsafe { imp(self, g) }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl GemmSimd for super::simd::Wasm128 {
    #[inline(never)]
    fn gemm(self, g: Gemm<'_>) {
        gemm_body(self, g)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
impl GemmSimd for super::simd::WasmRelaxed {
    #[inline(never)]
    fn gemm(self, g: Gemm<'_>) {
        gemm_body(self, g)
    }
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
/// Kernel bodies call it through [`GemmSimd::gemm`], which runs one out-of-line instantiation per
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
/// The [`gemm_body`] bounds hold for rows `i0..i0 + R`.
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
    // The tile of NV vectors at column j.
    macro_rules! tile_at {
        ($nv:literal) => {
            unsafe {
                let (b, bias) = (p.b.add(j), bias_at(p.bias, j));
                tile::<S, R, $nv>(
                    s,
                    c.add(j),
                    c_rs,
                    a,
                    a_rs,
                    a_cs,
                    b,
                    b_rs,
                    p0,
                    p1,
                    accumulate,
                    bias,
                )
            }
        };
    }
    while j + 2 * l <= n_eff {
        tile_at!(2);
        j += 2 * l;
    }
    if j + l <= n_eff {
        tile_at!(1);
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

pub(crate) static ZEROS8: [f32; 8] = [0.0; 8];

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
