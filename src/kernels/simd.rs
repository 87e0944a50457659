//! The small vector vocabulary every kernel body is written in ([`Simd`]), and its
//! implementations: [`Avx2`] (x86_64 AVX2 + FMA, 8 lanes, picked at run time), [`Wasm128`]
//! (wasm32 `simd128`, 4 lanes, picked at compile time), [`WasmRelaxed`] (`simd128` plus
//! relaxed SIMD's `f32x4.relaxed_madd`, the page's second build) and [`Portable`] (plain arrays
//! of 8 lanes, no `unsafe` maths; the reference the tests cross-check the others against).
//!
//! A `Simd` value is a zero-sized *token*: holding one proves the CPU has the instructions, so
//! the methods can be safe. [`Avx2`] tokens only come from [`Avx2::detect`] (or, inside a
//! function compiled with the features, from the dispatcher that detected them); the generic
//! kernel bodies are `#[inline(always)]` and are instantiated inside
//! `#[target_feature(enable = "avx2,fma")]` functions, so the intrinsics inline.

/// Lane operations on `f32` vectors. `load`/`store` take raw pointers (unaligned); everything
/// else is safe given the token.
pub(crate) trait Simd: Copy {
    /// Lanes per vector.
    const L: usize;
    type V: Copy;
    fn zero(self) -> Self::V;
    fn splat(self, x: f32) -> Self::V;
    /// # Safety
    /// `p..p + L` must be readable.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// # Safety
    /// `p..p + L` must be writable.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c` (fused where the hardware has it).
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Scalar `a · b + c`, fused exactly when [`Simd::fma`] is (so tails round like the body),
    /// except on [`WasmRelaxed`], whose vector FMA is fused only where the engine's CPU has one:
    /// its tails stay unfused (wasm has no scalar FMA instruction).
    fn fmas(self, a: f32, b: f32, c: f32) -> f32;
    /// Sum of the lanes.
    fn hsum(self, v: Self::V) -> f32;
    /// Maximum of the lanes.
    fn hmax(self, v: Self::V) -> f32;
    /// `out[j] = Σ lanes of v[j] + add[j]` for j < 8.
    ///
    /// # Safety
    /// `add` readable and `out` writable for 8 floats.
    unsafe fn hsum8_add_store(self, v: [Self::V; 8], add: *const f32, out: *mut f32);
    /// `dst[c·ds + r] = src[r·ss + c]` for an 8 × 8 block.
    ///
    /// # Safety
    /// The 8 rows of 8 floats at `src + r·ss` are readable and those at `dst + c·ds` writable.
    #[inline(always)]
    unsafe fn transpose8x8(self, src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        for r in 0..8 {
            for c in 0..8 {
                // SAFETY: guaranteed by the caller.
                unsafe { *dst.add(c * ds + r) = *src.add(r * ss + c) };
            }
        }
    }
    /// `e^x` per lane (within about 2 ulp; results below ~1e-38 may flush to 0, −∞ gives 0).
    fn exp(self, x: Self::V) -> Self::V;
}

// Cephes' expf constants (as in avx_mathfun / sse_mathfun).
const EXP_HI: f32 = 88.376_26;
const EXP_LO: f32 = -88.376_26;
const LOG2EF: f32 = std::f32::consts::LOG2_E;
const EXP_C1: f32 = 0.693_359_4;
const EXP_C2: f32 = -2.121_944_4e-4;
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];

/// Plain arrays of 8 lanes: the reference implementation (no fused multiply-add, libm `exp`).
/// (On wasm with simd128 only the tests use it.)
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
pub(crate) struct Portable;

impl Simd for Portable {
    const L: usize = 8;
    type V = [f32; 8];
    #[inline(always)]
    fn zero(self) -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    fn splat(self, x: f32) -> [f32; 8] {
        [x; 8]
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> [f32; 8] {
        // SAFETY: the caller guarantees p..p+8 is readable; unaligned read of a plain array.
        unsafe { (p as *const [f32; 8]).read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: [f32; 8]) {
        // SAFETY: the caller guarantees p..p+8 is writable.
        unsafe { (p as *mut [f32; 8]).write_unaligned(v) }
    }
    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sub(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn mul(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    fn max(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i].max(b[i]))
    }
    #[inline(always)]
    fn fma(self, a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn fmas(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn hsum(self, v: [f32; 8]) -> f32 {
        // Pairwise, the same tree as the AVX2 reduction.
        let s4 = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
        (s4[0] + s4[2]) + (s4[1] + s4[3])
    }
    #[inline(always)]
    fn hmax(self, v: [f32; 8]) -> f32 {
        v.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
    }
    #[inline(always)]
    unsafe fn hsum8_add_store(self, v: [[f32; 8]; 8], add: *const f32, out: *mut f32) {
        for (j, vj) in v.iter().enumerate() {
            // SAFETY: the caller guarantees 8 floats at add and out.
            unsafe { *out.add(j) = self.hsum(*vj) + *add.add(j) };
        }
    }
    #[inline(always)]
    fn exp(self, x: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| x[i].exp())
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// AVX2 + FMA, 8 lanes. Only constructed after the CPU features were detected.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// A token if this CPU has AVX2 and FMA (detected once by std, then a cached load).
        #[inline(always)]
        pub(crate) fn detect() -> Option<Avx2> {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                Some(Avx2(()))
            } else {
                None
            }
        }
    }

    // SAFETY (for every `unsafe` block in this impl): an `Avx2` value exists only if
    // `Avx2::detect` found AVX2 and FMA, so the intrinsics' target features are present.
    impl Simd for Avx2 {
        const L: usize = 8;
        type V = __m256;
        #[inline(always)]
        fn zero(self) -> __m256 {
            // SAFETY: see the impl comment (AVX present).
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            // SAFETY: see the impl comment (AVX present).
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m256 {
            // SAFETY: the caller guarantees p..p+8 is readable; AVX present (impl comment).
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, v: __m256) {
            // SAFETY: the caller guarantees p..p+8 is writable; AVX present (impl comment).
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see the impl comment.
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see the impl comment.
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see the impl comment.
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn max(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see the impl comment.
            unsafe { _mm256_max_ps(a, b) }
        }
        #[inline(always)]
        fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: see the impl comment (FMA present).
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn fmas(self, a: f32, b: f32, c: f32) -> f32 {
            a.mul_add(b, c)
        }
        #[inline(always)]
        fn hsum(self, v: __m256) -> f32 {
            // SAFETY: see the impl comment. Same pairwise tree as `Portable::hsum`.
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_movehdup_ps(s));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        fn hmax(self, v: __m256) -> f32 {
            // SAFETY: see the impl comment.
            unsafe {
                let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_max_ss(s, _mm_movehdup_ps(s));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        unsafe fn transpose8x8(self, src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
            // SAFETY: the caller guarantees the 8 rows; AVX present (impl comment).
            unsafe {
                let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ss)));
                let t = [
                    _mm256_unpacklo_ps(r[0], r[1]),
                    _mm256_unpackhi_ps(r[0], r[1]),
                    _mm256_unpacklo_ps(r[2], r[3]),
                    _mm256_unpackhi_ps(r[2], r[3]),
                    _mm256_unpacklo_ps(r[4], r[5]),
                    _mm256_unpackhi_ps(r[4], r[5]),
                    _mm256_unpacklo_ps(r[6], r[7]),
                    _mm256_unpackhi_ps(r[6], r[7]),
                ];
                let u = [
                    _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                    _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                    _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                    _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                    _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                    _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                    _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                    _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
                ];
                for i in 0..4 {
                    _mm256_storeu_ps(
                        dst.add(i * ds),
                        _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]),
                    );
                    _mm256_storeu_ps(
                        dst.add((i + 4) * ds),
                        _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]),
                    );
                }
            }
        }
        #[inline(always)]
        unsafe fn hsum8_add_store(self, v: [__m256; 8], add: *const f32, out: *mut f32) {
            // SAFETY: the caller guarantees 8 floats at add and out; AVX present (impl comment).
            // hadd tree: lanes 0-3 of t[0] hold the low-half sums of v0..v3, lanes 4-7 their
            // high-half sums; the same for t[1] with v4..v7.
            unsafe {
                let h01 = _mm256_hadd_ps(v[0], v[1]);
                let h23 = _mm256_hadd_ps(v[2], v[3]);
                let h45 = _mm256_hadd_ps(v[4], v[5]);
                let h67 = _mm256_hadd_ps(v[6], v[7]);
                let t0 = _mm256_hadd_ps(h01, h23);
                let t1 = _mm256_hadd_ps(h45, h67);
                let lo = _mm256_permute2f128_ps::<0x20>(t0, t1);
                let hi = _mm256_permute2f128_ps::<0x31>(t0, t1);
                let s = _mm256_add_ps(lo, hi);
                _mm256_storeu_ps(out, _mm256_add_ps(s, _mm256_loadu_ps(add)));
            }
        }
        #[inline(always)]
        fn exp(self, x: __m256) -> __m256 {
            // SAFETY: see the impl comment. Cephes expf: 2^n · p(r), r = x − n ln 2.
            unsafe {
                let x = _mm256_min_ps(x, _mm256_set1_ps(EXP_HI));
                let x = _mm256_max_ps(x, _mm256_set1_ps(EXP_LO));
                let fx = _mm256_fmadd_ps(x, _mm256_set1_ps(LOG2EF), _mm256_set1_ps(0.5));
                let fx = _mm256_floor_ps(fx);
                let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(EXP_C1), x);
                let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(EXP_C2), x);
                let z = _mm256_mul_ps(x, x);
                let mut y = _mm256_set1_ps(EXP_P[0]);
                for &p in &EXP_P[1..] {
                    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p));
                }
                let y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0)));
                let n = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
                let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(n));
                _mm256_mul_ps(y, pow2n)
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use wasm128::Wasm128;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm128 {
    use super::*;
    use core::arch::wasm32::*;

    /// wasm `simd128`, 4 lanes (compiled in with `-C target-feature=+simd128`; no FMA).
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Wasm128;

    impl Simd for Wasm128 {
        const L: usize = 4;
        type V = v128;
        #[inline(always)]
        fn zero(self) -> v128 {
            f32x4_splat(0.0)
        }
        #[inline(always)]
        fn splat(self, x: f32) -> v128 {
            f32x4_splat(x)
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> v128 {
            // SAFETY: the caller guarantees p..p+4 is readable; v128.load is unaligned.
            unsafe { v128_load(p as *const v128) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, v: v128) {
            // SAFETY: the caller guarantees p..p+4 is writable; v128.store is unaligned.
            unsafe { v128_store(p as *mut v128, v) }
        }
        #[inline(always)]
        fn add(self, a: v128, b: v128) -> v128 {
            f32x4_add(a, b)
        }
        #[inline(always)]
        fn sub(self, a: v128, b: v128) -> v128 {
            f32x4_sub(a, b)
        }
        #[inline(always)]
        fn mul(self, a: v128, b: v128) -> v128 {
            f32x4_mul(a, b)
        }
        #[inline(always)]
        fn max(self, a: v128, b: v128) -> v128 {
            // pmax: b < a ? a : b (no NaN canonicalisation, cheaper than f32x4_max).
            f32x4_pmax(a, b)
        }
        #[inline(always)]
        fn fma(self, a: v128, b: v128, c: v128) -> v128 {
            f32x4_add(f32x4_mul(a, b), c)
        }
        #[inline(always)]
        fn fmas(self, a: f32, b: f32, c: f32) -> f32 {
            a * b + c
        }
        #[inline(always)]
        fn hsum(self, v: v128) -> f32 {
            let s = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
            let s = f32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
            f32x4_extract_lane::<0>(s)
        }
        #[inline(always)]
        fn hmax(self, v: v128) -> f32 {
            let s = f32x4_pmax(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
            let s = f32x4_pmax(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
            f32x4_extract_lane::<0>(s)
        }
        #[inline(always)]
        unsafe fn hsum8_add_store(self, v: [v128; 8], add: *const f32, out: *mut f32) {
            let t = |a: v128, b: v128, c: v128, d: v128| {
                let t0 = i32x4_shuffle::<0, 4, 1, 5>(a, b);
                let t1 = i32x4_shuffle::<2, 6, 3, 7>(a, b);
                let t2 = i32x4_shuffle::<0, 4, 1, 5>(c, d);
                let t3 = i32x4_shuffle::<2, 6, 3, 7>(c, d);
                let u0 = f32x4_add(t0, t1);
                let u1 = f32x4_add(t2, t3);
                f32x4_add(
                    i32x4_shuffle::<0, 1, 4, 5>(u0, u1),
                    i32x4_shuffle::<2, 3, 6, 7>(u0, u1),
                )
            };
            let lo = t(v[0], v[1], v[2], v[3]);
            let hi = t(v[4], v[5], v[6], v[7]);
            // SAFETY: the caller guarantees 8 floats at add and out.
            unsafe {
                v128_store(
                    out as *mut v128,
                    f32x4_add(lo, v128_load(add as *const v128)),
                );
                v128_store(
                    out.add(4) as *mut v128,
                    f32x4_add(hi, v128_load(add.add(4) as *const v128)),
                );
            }
        }
        #[inline(always)]
        fn exp(self, x: v128) -> v128 {
            let x = f32x4_pmin(x, f32x4_splat(EXP_HI));
            let x = f32x4_pmax(x, f32x4_splat(EXP_LO));
            let fx = f32x4_floor(f32x4_add(
                f32x4_mul(x, f32x4_splat(LOG2EF)),
                f32x4_splat(0.5),
            ));
            let x = f32x4_sub(x, f32x4_mul(fx, f32x4_splat(EXP_C1)));
            let x = f32x4_sub(x, f32x4_mul(fx, f32x4_splat(EXP_C2)));
            let z = f32x4_mul(x, x);
            let mut y = f32x4_splat(EXP_P[0]);
            for &p in &EXP_P[1..] {
                y = f32x4_add(f32x4_mul(y, x), f32x4_splat(p));
            }
            let y = f32x4_add(f32x4_mul(y, z), f32x4_add(x, f32x4_splat(1.0)));
            let n = i32x4_add(i32x4_trunc_sat_f32x4(fx), i32x4_splat(127));
            f32x4_mul(y, i32x4_shl(n, 23))
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
pub(crate) use wasm_relaxed::WasmRelaxed;

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
mod wasm_relaxed {
    use super::*;
    use core::arch::wasm32::*;

    /// wasm `simd128` with relaxed SIMD (compiled in with
    /// `-C target-feature=+simd128,+relaxed-simd`, the page's second build): [`Wasm128`] with
    /// `fma` as `f32x4.relaxed_madd`, which the engine runs as one fused multiply-add where the
    /// CPU has one (x86 FMA3, Arm NEON) and as multiply-then-add elsewhere. Results may
    /// therefore differ in the last bits between machines (the PyTorch parity tolerance covers
    /// both roundings); everything else is exactly [`Wasm128`].
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct WasmRelaxed;

    impl Simd for WasmRelaxed {
        const L: usize = Wasm128::L;
        type V = v128;
        #[inline(always)]
        fn zero(self) -> v128 {
            Wasm128.zero()
        }
        #[inline(always)]
        fn splat(self, x: f32) -> v128 {
            Wasm128.splat(x)
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> v128 {
            // SAFETY: the caller guarantees p..p+4 is readable (Wasm128::load's contract).
            unsafe { Wasm128.load(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, v: v128) {
            // SAFETY: the caller guarantees p..p+4 is writable (Wasm128::store's contract).
            unsafe { Wasm128.store(p, v) }
        }
        #[inline(always)]
        fn add(self, a: v128, b: v128) -> v128 {
            Wasm128.add(a, b)
        }
        #[inline(always)]
        fn sub(self, a: v128, b: v128) -> v128 {
            Wasm128.sub(a, b)
        }
        #[inline(always)]
        fn mul(self, a: v128, b: v128) -> v128 {
            Wasm128.mul(a, b)
        }
        #[inline(always)]
        fn max(self, a: v128, b: v128) -> v128 {
            Wasm128.max(a, b)
        }
        #[inline(always)]
        fn fma(self, a: v128, b: v128, c: v128) -> v128 {
            // Safe to call: the whole crate is compiled with relaxed-simd enabled.
            f32x4_relaxed_madd(a, b, c)
        }
        #[inline(always)]
        fn fmas(self, a: f32, b: f32, c: f32) -> f32 {
            // Unfused: wasm has no scalar FMA (f32::mul_add would be a slow libm call).
            a * b + c
        }
        #[inline(always)]
        fn hsum(self, v: v128) -> f32 {
            Wasm128.hsum(v)
        }
        #[inline(always)]
        fn hmax(self, v: v128) -> f32 {
            Wasm128.hmax(v)
        }
        #[inline(always)]
        unsafe fn hsum8_add_store(self, v: [v128; 8], add: *const f32, out: *mut f32) {
            // SAFETY: the caller guarantees 8 floats at add and out (the same contract).
            unsafe { Wasm128.hsum8_add_store(v, add, out) }
        }
        #[inline(always)]
        fn exp(self, x: v128) -> v128 {
            Wasm128.exp(x)
        }
    }
}
