//! f32 kernels: the only place that cares how the machine multiplies.
//!
//! Every kernel body is written once, generically over a tiny vector vocabulary
//! ([`simd::Simd`]: load, store, fma, exp, horizontal sums). Four implementations exist: AVX2+FMA
//! on x86_64 (picked at run time by CPU feature detection, so the release binary is fast on any
//! x86_64 without `-C target-cpu=native`), wasm `simd128` (picked at compile time when the build
//! enables it, as `.cargo/config.toml` does), wasm `simd128` + relaxed SIMD (the same, with
//! `f32x4.relaxed_madd` as the FMA; picked when the build also enables `relaxed-simd`, as
//! `scripts/build-wasm.sh` does for `www/pkg-relaxed`), and a portable one over plain 8-lane
//! arrays.
//! Dispatch happens once per kernel call, and the kernels are whole operations (a matrix
//! product, all heads of one layer's attention), so the check is off the inner loops. This
//! folder is the only place with `unsafe`.
//!
//! Files, bottom up (each imports only the ones above it):
//! - `simd.rs`: the [`simd::Simd`] lane operations and their three implementations;
//! - `vector.rs`: element-wise operations (dot, axpy, add, multiply);
//! - `gemm.rs`: the register-tiled matrix product, one out-of-line copy per instruction set;
//! - `matmul.rs`, `softmax.rs`, `attention.rs`, `layernorm.rs`: the kernel bodies;
//! - this file: the dispatched entry points (and, for tests, the portable ones).
//!
//! Layout conventions (PyTorch): a Linear weight is `(out, in)`, activations are row-major
//! `[rows, features]`.

mod attention;
mod gemm;
mod layernorm;
mod matmul;
mod simd;
mod softmax;
mod vector;

pub(crate) use attention::AttnDims;
pub use layernorm::LN_EPS;
pub use matmul::{Dinp, MatShape};

/// Defines, for each listed kernel, a safe function that runs its body with the best instruction
/// set available, and (for tests) the same function on the portable implementation in
/// `portable::` (the reference the dispatched paths are cross-checked against).
macro_rules! dispatch {
    ($($(#[$m:meta])* $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? => $body:path;)*) => {
        $(
            $(#[$m])*
            // Out of line: one copy of each kernel, not one per call site (wasm size, i-cache).
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            $vis fn $name($($arg: $ty),*) $(-> $ret)? {
                #[cfg(target_arch = "x86_64")]
                if let Some(s) = simd::Avx2::detect() {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    fn avx2(s: simd::Avx2, $($arg: $ty),*) $(-> $ret)? {
                        $body(s, $($arg),*)
                    }
                    // SAFETY: the token exists only because AVX2 and FMA were detected.
                    return unsafe { avx2(s, $($arg),*) };
                }
                #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
                let s = simd::WasmRelaxed;
                #[cfg(all(
                    target_arch = "wasm32",
                    target_feature = "simd128",
                    not(target_feature = "relaxed-simd")
                ))]
                let s = simd::Wasm128;
                #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
                let s = simd::Portable;
                $body(s, $($arg),*)
            }
        )*

        /// The portable bodies of the dispatched kernels (tests compare the fast paths to them).
        #[cfg(test)]
        #[allow(dead_code, clippy::too_many_arguments)]
        pub(crate) mod portable {
            use super::*;
            $(
                pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                    $body(simd::Portable, $($arg),*)
                }
            )*
        }
    };
}

/// True when the AVX2+FMA path is used (x86_64 CPUs that have both; detected once, cached).
#[inline]
pub fn uses_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        simd::Avx2::detect().is_some()
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
    } else if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
        "wasm-simd128+relaxed"
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "wasm-simd128"
    } else {
        "portable"
    }
}

dispatch! {
    /// `a · b` over the shorter of the two slices.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => vector::dot;

    /// `y += alpha · x` over the shorter of the two slices.
    pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) => vector::axpy;

    /// The dot-form product behind [`matmul_forward`] (no transpose; used for few rows, e.g. the
    /// KV-cache decode).
    fn matmul_forward_dot_form(out: &mut [f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>,
        shape: MatShape) => matmul::matmul_forward;

    /// The broadcast-form product behind [`matmul_forward`] (`wt`: scratch for the transposed
    /// weight).
    fn matmul_forward_t(out: &mut [f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>,
        wt: &mut [f32], shape: MatShape) => matmul::matmul_forward_t;

    /// Backward of [`matmul_forward`]: dinp `[n_rows, n_in]` gets dout · w (see [`Dinp`]);
    /// dw `[n_out, n_in]` += doutᵀ · inp, dbias `[n_out]` += column sums of dout `[n_rows, n_out]`.
    pub fn matmul_backward(dinp: Dinp, dw: &mut [f32], dbias: Option<&mut [f32]>, dout: &[f32],
        inp: &[f32], w: &[f32], shape: MatShape) => matmul::matmul_backward;

    /// `y = softmax(x · scale)` over `x.len()` (y at least as long); returns `(max, sum)` with
    /// `max` the largest scaled input and `sum` = Σ e^(x·scale − max), so log-sum-exp is
    /// `max + ln(sum)`.
    pub(crate) fn softmax_into(x: &[f32], y: &mut [f32], scale: f32) -> (f32, f32) => softmax::softmax_slices;

    /// Numerically stable softmax of `row`, in place. A row of all `-inf` becomes all zeros.
    pub fn softmax_inplace(row: &mut [f32]) => softmax::softmax_inplace;

    /// Causal self-attention of all heads of one layer (see `attention::attention_forward`).
    pub(crate) fn attention_forward(dims: AttnDims, out: &mut [f32], probs: &mut [f32],
        mask: Option<&[f32]>, qkv: &[f32], sc: &mut [f32], pd: &mut [f32], kt: &mut [f32],
    ) => attention::attention_forward;

    /// Backward of [`attention_forward`] (see `attention::attention_backward`).
    pub(crate) fn attention_backward(dims: AttnDims, d_qkv: &mut [f32], d_out: &[f32], qkv: &[f32],
        probs: &[f32], mask: Option<&[f32]>, sc: &mut [f32], ds: &mut [f32], pd: &mut [f32],
        vt: &mut [f32]) => attention::attention_backward;

    /// One row times a row-major matrix: `out[j] = Σ_d a[d] · b[d·b_rs + j]` for `j < out.len()`.
    fn row_times_matrix(out: &mut [f32], a: &[f32], b: &[f32], b_rs: usize) => matmul::row_times_matrix;

    /// LayerNorm over the last dimension (eps [`LN_EPS`]), with the statistics kept for the
    /// backward pass. inp `[n_rows, c]` → out `[n_rows, c]`, mean and rstd `[n_rows]`.
    pub fn layernorm_forward(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], inp: &[f32],
        weight: &[f32], bias: &[f32], n_rows: usize, c: usize) => layernorm::layernorm_forward;

    /// Backward of [`layernorm_forward`], accumulating into dinp `[n_rows, c]`, dweight and dbias `[c]`.
    pub fn layernorm_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: &mut [f32],
        dout: &[f32], inp: &[f32], weight: &[f32], mean: &[f32], rstd: &[f32], n_rows: usize,
        c: usize) => layernorm::layernorm_backward;
}

/// From this many rows on, [`matmul_forward`] transposes the weight and uses the broadcast-form
/// product; below, the dot form (no transpose) is cheaper.
const TRANSPOSE_MIN_ROWS: usize = 8;

std::thread_local! {
    /// Per-thread scratch for a transposed weight (grows to the largest weight once).
    static WT_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
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
pub fn matmul_forward(
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    let shape = MatShape::new(n_rows, n_in, n_out);
    if n_rows < TRANSPOSE_MIN_ROWS {
        return matmul_forward_dot_form(out, inp, w, bias, shape);
    }
    WT_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut wt) => {
            if wt.len() < n_in * n_out {
                wt.resize(n_in * n_out, 0.0);
            }
            matmul_forward_t(out, inp, w, bias, &mut wt, shape)
        }
        Err(_) => matmul_forward_dot_form(out, inp, w, bias, shape),
    })
}

/// KV-cache scores: `out[j] = Σ_d q[d] · kt[d·tp + j]` for `j < out.len()` (keys stored
/// transposed, `[hs, tp]`).
pub(crate) fn gemm_row(out: &mut [f32], q: &[f32], kt: &[f32], tp: usize) {
    row_times_matrix(out, q, kt, tp)
}

/// Attention-weighted value rows: `out[d] = Σ_k p[k] · v[k·stride + d]` for `d < out.len()`.
pub(crate) fn weighted_rows(out: &mut [f32], p: &[f32], v: &[f32], stride: usize) {
    row_times_matrix(out, p, v, stride)
}

/// ReLU: out = max(inp, 0). inp, out `[n]`.
pub fn relu_forward(out: &mut [f32], inp: &[f32]) {
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = x.max(0.0);
    }
}

#[cfg(test)]
mod tests;
