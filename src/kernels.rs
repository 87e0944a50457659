//! f32 kernels: the only place that cares how the machine multiplies.
//!
//! Every kernel body is written once, generically over a tiny vector vocabulary
//! ([`simd::Simd`]: load, store, fma, exp, horizontal sums), in `kernels/body.rs`. Three
//! implementations exist: AVX2+FMA on x86_64 (picked at run time by CPU feature detection, so the
//! release binary is fast on any x86_64 without `-C target-cpu=native`), wasm `simd128` (picked
//! at compile time when the build enables it, as `.cargo/config.toml` does), and a portable one
//! over plain 8-lane arrays. [`scalar`] exposes the portable instantiation so tests can
//! cross-check the dispatched path. Dispatch happens once per kernel call, and the kernels are
//! whole operations (a matrix product, all heads of one layer's attention), so the check is
//! off the inner loops. This module (with its submodules) is the only place with `unsafe`.
//!
//! Layout conventions (PyTorch): a Linear weight is `(out, in)`, activations are row-major
//! `[rows, features]`.

mod body;
mod simd;

pub(crate) use body::AttnDims;

/// Defines a safe wrapper that runs `body::$body` with the best instruction set available.
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? => $body:ident) => {
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
                    body::$body(s, $($arg),*)
                }
                // SAFETY: the token exists only because AVX2 and FMA were detected.
                return unsafe { avx2(s, $($arg),*) };
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            let s = simd::Wasm128;
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            let s = simd::Portable;
            body::$body(s, $($arg),*)
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
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "wasm-simd128"
    } else {
        "portable"
    }
}

dispatch! {
    /// `a · b` over the shorter of the two slices.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => dot
}

dispatch! {
    /// `y += alpha · x` over the shorter of the two slices.
    pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) => axpy
}

dispatch! {
    /// The dot-form product behind [`matmul_forward`] (no transpose; used for few rows, e.g. the
    /// KV-cache decode). Public for the tests.
    #[doc(hidden)]
    pub fn matmul_forward_dot_form(
        out: &mut [f32],
        inp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) => matmul_forward
}

dispatch! {
    fn matmul_forward_t(
        out: &mut [f32],
        inp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        wt: &mut [f32],
        n_rows: usize,
        n_in: usize,
        n_out: usize,
    ) => matmul_forward_t
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
    if n_rows < TRANSPOSE_MIN_ROWS {
        return matmul_forward_dot_form(out, inp, w, bias, n_rows, n_in, n_out);
    }
    WT_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut wt) => {
            if wt.len() < n_in * n_out {
                wt.resize(n_in * n_out, 0.0);
            }
            matmul_forward_t(out, inp, w, bias, &mut wt, n_rows, n_in, n_out)
        }
        Err(_) => matmul_forward_dot_form(out, inp, w, bias, n_rows, n_in, n_out),
    })
}

dispatch! {
    fn matmul_backward_impl(
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
    ) => matmul_backward
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
    matmul_backward_impl(dinp, true, dw, dbias, dout, inp, w, n_rows, n_in, n_out)
}

/// As [`matmul_backward`], but dinp is overwritten (= dout · w) instead of added to, which saves
/// the caller zeroing it. dw and dbias still accumulate.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward_set_dinp(
    dinp: &mut [f32],
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    n_rows: usize,
    n_in: usize,
    n_out: usize,
) {
    matmul_backward_impl(
        Some(dinp),
        false,
        dw,
        dbias,
        dout,
        inp,
        w,
        n_rows,
        n_in,
        n_out,
    )
}

dispatch! {
    fn softmax_impl(x: &[f32], y: &mut [f32], scale: f32) -> (f32, f32) => softmax_slices
}

/// Numerically stable softmax of `row`, in place. A row of all `-inf` becomes all zeros.
pub fn softmax_inplace(row: &mut [f32]) {
    softmax_inplace_impl(row)
}

dispatch! {
    fn softmax_inplace_impl(row: &mut [f32]) => softmax_inplace
}

/// `y = softmax(x · scale)` over `x.len()` (y at least as long); returns `(max, sum)` with
/// `max` the largest scaled input and `sum` = Σ e^(x·scale − max), so log-sum-exp is
/// `max + ln(sum)`.
pub(crate) fn softmax_into(x: &[f32], y: &mut [f32], scale: f32) -> (f32, f32) {
    softmax_impl(x, y, scale)
}

dispatch! {
    /// Causal self-attention of all heads of one layer (see `body::attention_forward`).
    pub(crate) fn attention_forward(
        dims: AttnDims,
        out: &mut [f32],
        probs: &mut [f32],
        mask: Option<&[f32]>,
        qkv: &[f32],
        sc: &mut [f32],
        pd: &mut [f32],
        kt: &mut [f32],
    ) => attention_forward
}

dispatch! {
    /// Backward of [`attention_forward`] (see `body::attention_backward`).
    pub(crate) fn attention_backward(
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
    ) => attention_backward
}

/// Lanes of the vector type the dispatched kernels use (tests: how far outputs are padded).
#[cfg(test)]
fn test_lanes() -> usize {
    use simd::Simd;
    if uses_avx2() {
        8
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        4
    } else {
        simd::Portable::L
    }
}

dispatch! {
    fn row_times_matrix(out: &mut [f32], a: &[f32], b: &[f32], b_rs: usize) => row_times_matrix
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

/// The portable bodies, used where no faster path exists and by tests as the reference.
pub mod scalar {
    use super::{body, simd::Portable};

    /// See [`super::dot`].
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        body::dot(Portable, a, b)
    }
    /// See [`super::axpy`].
    pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        body::axpy(Portable, y, alpha, x)
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
        body::matmul_forward(Portable, out, inp, w, bias, n_rows, n_in, n_out)
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
        body::matmul_backward(
            Portable, dinp, true, dw, dbias, dout, inp, w, n_rows, n_in, n_out,
        )
    }
    /// See [`super::softmax_inplace`].
    pub fn softmax_inplace(row: &mut [f32]) {
        body::softmax_inplace(Portable, row)
    }
    /// See [`super::attention_forward`].
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attention_forward(
        dims: super::AttnDims,
        out: &mut [f32],
        probs: &mut [f32],
        mask: Option<&[f32]>,
        qkv: &[f32],
        sc: &mut [f32],
        pd: &mut [f32],
        kt: &mut [f32],
    ) {
        body::attention_forward(Portable, dims, out, probs, mask, qkv, sc, pd, kt)
    }
    /// See [`super::attention_backward`].
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attention_backward(
        dims: super::AttnDims,
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
        body::attention_backward(
            Portable, dims, d_qkv, d_out, qkv, probs, mask, sc, ds, pd, vt,
        )
    }
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
    layernorm_forward_impl(out, mean, rstd, inp, weight, bias, n_rows, c, LN_EPS)
}

dispatch! {
    fn layernorm_forward_impl(
        out: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        inp: &[f32],
        weight: &[f32],
        bias: &[f32],
        n_rows: usize,
        c: usize,
        eps: f32,
    ) => layernorm_forward
}

dispatch! {
    /// Backward of [`layernorm_forward`], accumulating into dinp `[n_rows, c]`, dweight and dbias `[c]`.
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
    ) => layernorm_backward
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

    // The SIMD-vs-portable cross-checks also run in the browser (simd128 path):
    // wasm-pack test --headless --firefox --release --mode no-install -- --lib
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

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

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
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

    /// Shapes (rows, in, out) with sizes that are and are not multiples of the vector widths.
    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (3, 7, 5),
        (5, 17, 9),
        (8, 8, 8),
        (9, 64, 33),
        (13, 256, 64),
        (16, 24, 17),
        (37, 64, 89),
        (128, 64, 192),
    ];

    /// Naive product in f64, and Σ|terms| per output (the scale of the float32 rounding error).
    fn naive_matmul(
        inp: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        n: usize,
        i: usize,
        o: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut out = vec![0.0; n * o];
        let mut mag = vec![0.0; n * o];
        for r in 0..n {
            for c in 0..o {
                let terms = (0..i).map(|k| inp[r * i + k] as f64 * w[c * i + k] as f64);
                let s: f64 = terms.clone().sum();
                let bias = b.map_or(0.0, |b| b[c] as f64);
                out[r * o + c] = (s + bias) as f32;
                mag[r * o + c] = (terms.map(f64::abs).sum::<f64>() + bias.abs()) as f32;
            }
        }
        (out, mag)
    }

    /// |a − b| within float32 accumulation error of sums whose Σ|terms| is `mag`.
    fn close_mag(what: &str, a: &[f32], b: &[f32], mag: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, ((x, y), m)) in a.iter().zip(b).zip(mag).enumerate() {
            assert!(
                (x - y).abs() <= 4e-6 * m + 1e-6,
                "{what} at {i}: {x} vs {y} (Σ|terms| {m})"
            );
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn every_matmul_path_matches_naive_and_portable() {
        let mut rng = Rng::new(11);
        for &(n, i, o) in &SHAPES {
            let inp = random(&mut rng, n * i);
            let w = random(&mut rng, o * i);
            let b = random(&mut rng, o);
            for bias in [Some(&b[..]), None] {
                let (want, mag) = naive_matmul(&inp, &w, bias, n, i, o);
                let mut got = vec![f32::NAN; n * o];
                matmul_forward(&mut got, &inp, &w, bias, n, i, o);
                close_mag("forward", &got, &want, &mag);
                let mut dotf = vec![f32::NAN; n * o];
                matmul_forward_dot_form(&mut dotf, &inp, &w, bias, n, i, o);
                close_mag("dot form", &dotf, &want, &mag);
                let mut port = vec![f32::NAN; n * o];
                scalar::matmul_forward(&mut port, &inp, &w, bias, n, i, o);
                close_mag("portable", &port, &want, &mag);
            }
            // dinp overwritten vs accumulated onto zeros, and against the portable path.
            let dout = random(&mut rng, n * o);
            let (mut di1, mut dw1, mut db1) =
                (vec![f32::NAN; n * i], vec![0.5; o * i], vec![0.5; o]);
            let (mut di2, mut dw2, mut db2) = (vec![0.0; n * i], dw1.clone(), db1.clone());
            matmul_backward_set_dinp(&mut di1, &mut dw1, Some(&mut db1), &dout, &inp, &w, n, i, o);
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
            // Σ|terms| of dinp = dout · w and dw = doutᵀ · inp (+ the 0.5 it started from).
            let (_, mag_di) = naive_matmul(
                &dout,
                &(0..i * o)
                    .map(|x| w[(x % o) * i + x / o])
                    .collect::<Vec<_>>(),
                None,
                n,
                o,
                i,
            );
            let dout_t: Vec<f32> = (0..o * n).map(|x| dout[(x % n) * o + x / n]).collect();
            let inp_t: Vec<f32> = (0..i * n).map(|x| inp[(x % n) * i + x / n]).collect();
            let (_, mag_dw) = naive_matmul(&dout_t, &inp_t, Some(&vec![0.5; i]), o, n, i);
            close_mag("dinp", &di1, &di2, &mag_di);
            close_mag("dw", &dw1, &dw2, &mag_dw);
            let mag_db: Vec<f32> = (0..o)
                .map(|c| 0.5 + (0..n).map(|r| dout[r * o + c].abs()).sum::<f32>())
                .collect();
            close_mag("dbias", &db1, &db2, &mag_db);
        }
        for len in [0, 1, 7, 8, 9, 31, 64, 100] {
            let a = random(&mut rng, len);
            let bv = random(&mut rng, len);
            let want: f64 = a.iter().zip(&bv).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &bv) as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
            assert!((scalar::dot(&a, &bv) as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
            let mut y1 = random(&mut rng, len);
            let mut y2 = y1.clone();
            axpy(&mut y1, 0.7, &a);
            scalar::axpy(&mut y2, 0.7, &a);
            close(&y1, &y2, 1e-6);
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn softmax_matches_f64_on_odd_lengths() {
        let mut rng = Rng::new(5);
        for len in 1usize..=41 {
            let mut x: Vec<f32> = random(&mut rng, len).iter().map(|v| 8.0 * v).collect();
            if len > 3 {
                x[1] = f32::NEG_INFINITY;
            }
            let max = x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
            let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            let want: Vec<f32> = e.iter().map(|v| (v / sum) as f32).collect();
            let mut a = x.clone();
            softmax_inplace(&mut a);
            close(&a, &want, 2e-6);
            let mut b = x.clone();
            scalar::softmax_inplace(&mut b);
            close(&b, &want, 2e-6);
            // Out of place with a scale, padded output: the padding up to a vector is zeroed.
            let mut y = vec![f32::NAN; len.div_ceil(8) * 8];
            let (m, s) = softmax_into(&x, &mut y, 0.5);
            let half: Vec<f64> = x.iter().map(|&v| v as f64 * 0.5).collect();
            let hm = half.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let hs: f64 = half.iter().map(|v| (v - hm).exp()).sum();
            assert!((m as f64 - hm).abs() < 1e-6 && (s as f64 - hs).abs() < 1e-5 * hs);
            for (k, &v) in y.iter().enumerate() {
                if k < len {
                    assert!((v as f64 - (half[k] - hm).exp() / hs).abs() < 2e-6);
                } else if k < len.div_ceil(test_lanes()) * test_lanes() {
                    assert_eq!(v, 0.0);
                }
            }
        }
        let mut inf = [f32::NEG_INFINITY; 3];
        softmax_inplace(&mut inf);
        assert_eq!(inf, [0.0; 3]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn vector_exp_is_accurate() {
        let mut xs: Vec<f32> = (-870..=880).map(|i| i as f32 * 0.1).collect();
        xs.extend([0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5]);
        xs.resize(xs.len().div_ceil(8) * 8, 0.0);
        let check = |got: &[f32]| {
            for (x, g) in xs.iter().zip(got) {
                let want = (*x as f64).exp();
                if want > 1e-37 {
                    assert!(
                        ((*g as f64) - want).abs() <= 3e-7 * want,
                        "exp({x}) = {g}, want {want}"
                    );
                }
            }
        };
        #[cfg(target_arch = "x86_64")]
        if let Some(s) = simd::Avx2::detect() {
            use simd::Simd;
            let mut out = vec![0.0f32; xs.len()];
            for (o, x) in out.chunks_exact_mut(8).zip(xs.chunks_exact(8)) {
                // SAFETY: chunks of exactly 8 floats.
                unsafe { s.store(o.as_mut_ptr(), s.exp(s.load(x.as_ptr()))) };
            }
            check(&out);
            // SAFETY: 8 floats.
            let z = unsafe {
                let mut z = [1.0f32; 8];
                s.store(z.as_mut_ptr(), s.exp(s.splat(f32::NEG_INFINITY)));
                z
            };
            assert_eq!(z, [0.0; 8]);
        }
        let _ = &check;
    }

    /// Naive attention of one sequence in f64: probs `[H, T, T]` and out `[T, C]`.
    fn naive_attention(
        qkv: &[f32],
        mask: Option<&[f32]>,
        t: usize,
        tp: usize,
        t_cap: usize,
        c: usize,
        nh: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let hs = c / nh;
        let scale = (hs as f64).powf(-0.5);
        let mut probs = vec![0.0; nh * t * t];
        let mut out = vec![0.0; t * c];
        for h in 0..nh {
            for q in 0..t {
                let sc: Vec<f64> = (0..=q)
                    .map(|k| {
                        (0..hs)
                            .map(|d| {
                                qkv[q * 3 * c + h * hs + d] as f64
                                    * qkv[k * 3 * c + c + h * hs + d] as f64
                            })
                            .sum::<f64>()
                            * scale
                    })
                    .collect();
                let m = sc.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let z: f64 = sc.iter().map(|v| (v - m).exp()).sum();
                for k in 0..=q {
                    let p = (sc[k] - m).exp() / z;
                    probs[(h * t + q) * t + k] = p;
                    let pm = p * mask.map_or(1.0, |mk| mk[(h * t_cap + q) * tp + k] as f64);
                    for d in 0..hs {
                        out[q * c + h * hs + d] += pm * qkv[k * 3 * c + 2 * c + h * hs + d] as f64;
                    }
                }
            }
        }
        (probs, out)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn attention_matches_naive_and_portable_on_odd_shapes() {
        let mut rng = Rng::new(21);
        // (t, t_cap, c, n_head): head sizes 4, 8, 16, 3 and lengths around the vector widths.
        for &(t, t_cap, c, nh) in &[
            (1usize, 1usize, 8usize, 2usize),
            (5, 5, 16, 2),
            (7, 12, 12, 3),
            (9, 9, 6, 2),
            (17, 20, 32, 2),
            (37, 40, 64, 4),
            (128, 128, 64, 4),
        ] {
            let hs = c / nh;
            let tp = t_cap.div_ceil(8) * 8;
            let dims = AttnDims {
                t,
                t_cap,
                tp,
                c,
                n_head: nh,
            };
            let qkv = random(&mut rng, t * 3 * c);
            let mut mask = vec![0.0f32; nh * t_cap * tp];
            for h in 0..nh {
                for q in 0..t {
                    for k in 0..=q {
                        mask[(h * t_cap + q) * tp + k] =
                            if rng.uniform() < 0.2 { 0.0 } else { 1.25 };
                    }
                }
            }
            let d_out = random(&mut rng, t * c);
            for m in [None, Some(&mask[..])] {
                let (want_p, want_o) = naive_attention(&qkv, m, t, tp, t_cap, c, nh);
                let mut results = Vec::new();
                for portable in [false, true] {
                    let mut out = vec![f32::NAN; t * c];
                    let mut probs = vec![0.0; nh * t_cap * tp];
                    let (mut sc, mut pd, mut ds) = (
                        vec![0.0; t_cap * tp],
                        vec![0.0; t_cap * tp],
                        vec![0.0; t_cap * tp],
                    );
                    let mut kt = vec![0.0; hs * tp];
                    let mut d_qkv = vec![f32::NAN; t * 3 * c];
                    if portable {
                        scalar::attention_forward(
                            dims, &mut out, &mut probs, m, &qkv, &mut sc, &mut pd, &mut kt,
                        );
                        scalar::attention_backward(
                            dims, &mut d_qkv, &d_out, &qkv, &probs, m, &mut sc, &mut ds, &mut pd,
                            &mut kt,
                        );
                    } else {
                        attention_forward(
                            dims, &mut out, &mut probs, m, &qkv, &mut sc, &mut pd, &mut kt,
                        );
                        attention_backward(
                            dims, &mut d_qkv, &d_out, &qkv, &probs, m, &mut sc, &mut ds, &mut pd,
                            &mut kt,
                        );
                    }
                    for h in 0..nh {
                        for q in 0..t {
                            for k in 0..t_cap {
                                let got = probs[(h * t_cap + q) * tp + k];
                                if k <= q {
                                    let want = want_p[(h * t + q) * t + k];
                                    assert!(
                                        (got as f64 - want).abs() < 1e-5,
                                        "p[{h},{q},{k}] {got} vs {want}"
                                    );
                                } else {
                                    assert_eq!(got, 0.0, "upper triangle must stay 0");
                                }
                            }
                        }
                    }
                    for (g, w) in out.iter().zip(&want_o) {
                        assert!((*g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
                    }
                    // Upper triangles of the scratch kept at zero.
                    for q in 0..t {
                        for k in q + 1..tp {
                            assert_eq!(ds[q * tp + k], 0.0);
                            assert_eq!(pd[q * tp + k], 0.0);
                        }
                    }
                    results.push(d_qkv);
                }
                close(&results[0], &results[1], 1e-4);
                // Gradient check of d_qkv by central differences on the naive f64 forward.
                let loss = |x: &[f32]| -> f64 {
                    let (_, o) = naive_attention(x, m, t, tp, t_cap, c, nh);
                    o.iter().zip(&d_out).map(|(a, b)| a * *b as f64).sum()
                };
                let mut pick = Rng::new(t as u64);
                for _ in 0..6 {
                    let i = pick.below(t * 3 * c);
                    let h = 1e-3f32;
                    let mut xp = qkv.clone();
                    xp[i] += h;
                    let mut xm = qkv.clone();
                    xm[i] -= h;
                    let num = (loss(&xp) - loss(&xm)) / (2.0 * h as f64);
                    let ana = results[0][i] as f64;
                    assert!(
                        (num - ana).abs() < 2e-3 * (1.0 + num.abs()),
                        "d_qkv[{i}] {ana} vs numeric {num}"
                    );
                }
            }
        }
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
