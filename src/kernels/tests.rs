//! Every kernel against a naive f64 reference, and the dispatched path against the portable one.

use super::simd::{self, Simd};
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
    let d = Dinp::Add(&mut dinp);
    matmul_backward(
        d,
        &mut dw,
        Some(&mut db),
        &dout,
        &inp,
        &w,
        MatShape::new(2, 3, 2),
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
        portable::matmul_forward_dot_form(&mut port, &inp, &w, Some(&b), MatShape::new(n, i, o));
        close(&fast, &naive, 1e-5);
        close(&port, &naive, 1e-5);

        let dout = random(&mut rng, n * o);
        let (mut di1, mut dw1, mut db1) = (vec![0.0; n * i], vec![0.0; o * i], vec![0.0; o]);
        let (mut di2, mut dw2, mut db2) = (di1.clone(), dw1.clone(), db1.clone());
        let d = Dinp::Add(&mut di1);
        matmul_backward(
            d,
            &mut dw1,
            Some(&mut db1),
            &dout,
            &inp,
            &w,
            MatShape::new(n, i, o),
        );
        portable_backward(&mut di2, &mut dw2, &mut db2, &dout, &inp, &w, (n, i, o));
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
    assert!((dot(&a, &bvec) - portable::dot(&a, &bvec)).abs() < 1e-5);
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
            matmul_forward_dot_form(&mut dotf, &inp, &w, bias, MatShape::new(n, i, o));
            close_mag("dot form", &dotf, &want, &mag);
            let mut port = vec![f32::NAN; n * o];
            portable::matmul_forward_dot_form(&mut port, &inp, &w, bias, MatShape::new(n, i, o));
            close_mag("portable", &port, &want, &mag);
        }
        // dinp overwritten vs accumulated onto zeros, and against the portable path.
        let dout = random(&mut rng, n * o);
        let (mut di1, mut dw1, mut db1) = (vec![f32::NAN; n * i], vec![0.5; o * i], vec![0.5; o]);
        let (mut di2, mut dw2, mut db2) = (vec![0.0; n * i], dw1.clone(), db1.clone());
        let (d, shape) = (Dinp::Set(&mut di1), MatShape::new(n, i, o));
        matmul_backward(d, &mut dw1, Some(&mut db1), &dout, &inp, &w, shape);
        portable_backward(&mut di2, &mut dw2, &mut db2, &dout, &inp, &w, (n, i, o));
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
        assert!((portable::dot(&a, &bv) as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
        let mut y1 = random(&mut rng, len);
        let mut y2 = y1.clone();
        axpy(&mut y1, 0.7, &a);
        portable::axpy(&mut y2, 0.7, &a);
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
        portable::softmax_inplace(&mut b);
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
    // Every instruction set this target has: portable always, plus AVX2 or simd128.
    check_exp(simd::Portable, &xs);
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = simd::Avx2::detect() {
        check_exp(s, &xs);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    check_exp(simd::Wasm128, &xs);
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    check_exp(simd::WasmRelaxed, &xs);
}

/// `fma(a, a, c)` with a = 1 + 2⁻¹², c = −(1 + 2⁻¹¹): the exact a² + c is 2⁻²⁴, but a² rounded to
/// f32 is 1 + 2⁻¹¹ (a tie, to even), so an unfused multiply-add gives 0.
fn fma_is_fused_or_unfused<S: Simd>(s: S, fused_allowed: bool, unfused_allowed: bool) {
    let (a, c) = (1.0 + 2f32.powi(-12), -(1.0 + 2f32.powi(-11)));
    let mut got = [f32::NAN; 8];
    // SAFETY: 8 ≥ L floats.
    unsafe { s.store(got.as_mut_ptr(), s.fma(s.splat(a), s.splat(a), s.splat(c))) };
    for &g in &got[..S::L] {
        let ok = (fused_allowed && g == 2f32.powi(-24)) || (unfused_allowed && g == 0.0);
        assert!(
            ok,
            "fma gave {g:e} (fused allowed: {fused_allowed}, unfused: {unfused_allowed})"
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fma_rounds_as_each_instruction_set_promises() {
    // Portable and simd128 multiply then add (the simd128 build stays bit-identical to its
    // history); AVX2 fuses; relaxed SIMD may do either, whichever the engine's CPU has.
    fma_is_fused_or_unfused(simd::Portable, false, true);
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = simd::Avx2::detect() {
        fma_is_fused_or_unfused(s, true, false);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fma_is_fused_or_unfused(simd::Wasm128, false, true);
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    fma_is_fused_or_unfused(simd::WasmRelaxed, true, true);
}

/// `s.exp` within 3e-7 (relative) of f64 `exp` on `xs` (a multiple of 8 long), and e^−∞ = 0.
fn check_exp<S: Simd>(s: S, xs: &[f32]) {
    let mut got = vec![0.0f32; xs.len()];
    for (o, x) in got.chunks_exact_mut(S::L).zip(xs.chunks_exact(S::L)) {
        // SAFETY: chunks of exactly L floats.
        unsafe { s.store(o.as_mut_ptr(), s.exp(s.load(x.as_ptr()))) };
    }
    for (x, g) in xs.iter().zip(&got) {
        let want = (*x as f64).exp();
        if want > 1e-37 {
            assert!(
                ((*g as f64) - want).abs() <= 3e-7 * want,
                "exp({x}) = {g}, want {want}"
            );
        }
    }
    let mut z = [1.0f32; 8];
    // SAFETY: 8 ≥ L floats.
    unsafe { s.store(z.as_mut_ptr(), s.exp(s.splat(f32::NEG_INFINITY))) };
    assert_eq!(z[..S::L], [0.0; 8][..S::L]);
}

/// Dropout multipliers (0 or 1.25) on the causal entries of `[H, t_cap, tp]`.
fn random_dropout_mask(rng: &mut Rng, d: AttnDims) -> Vec<f32> {
    let mut mask = vec![0.0f32; d.n_head * d.t_cap * d.tp];
    for h in 0..d.n_head {
        for q in 0..d.t {
            for k in 0..=q {
                mask[(h * d.t_cap + q) * d.tp + k] = if rng.uniform() < 0.2 { 0.0 } else { 1.25 };
            }
        }
    }
    mask
}

/// `d_qkv` against central differences of the naive f64 forward (loss = out · d_out).
fn check_d_qkv_by_differences(
    qkv: &[f32],
    m: Option<&[f32]>,
    d: AttnDims,
    d_out: &[f32],
    d_qkv: &[f32],
) {
    let (t, tp, t_cap, c, nh) = (d.t, d.tp, d.t_cap, d.c, d.n_head);
    // Gradient check of d_qkv by central differences on the naive f64 forward.
    let loss = |x: &[f32]| -> f64 {
        let (_, o) = naive_attention(x, m, t, tp, t_cap, c, nh);
        o.iter().zip(d_out).map(|(a, b)| a * *b as f64).sum()
    };
    let mut pick = Rng::new(t as u64);
    for _ in 0..6 {
        let i = pick.below(t * 3 * c);
        let h = 1e-3f32;
        let mut xp = qkv.to_vec();
        xp[i] += h;
        let mut xm = qkv.to_vec();
        xm[i] -= h;
        let num = (loss(&xp) - loss(&xm)) / (2.0 * h as f64);
        let ana = d_qkv[i] as f64;
        assert!(
            (num - ana).abs() < 2e-3 * (1.0 + num.abs()),
            "d_qkv[{i}] {ana} vs numeric {num}"
        );
    }
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
        let mask = random_dropout_mask(&mut rng, dims);
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
                    portable::attention_forward(
                        dims, &mut out, &mut probs, m, &qkv, &mut sc, &mut pd, &mut kt,
                    );
                    portable::attention_backward(
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
            check_d_qkv_by_differences(&qkv, m, dims, &d_out, &results[0]);
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
}

/// The portable matrix backward, accumulating into all three gradients; `nio` = (rows, in, out).
fn portable_backward(
    di: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    nio: (usize, usize, usize),
) {
    let (n, i, o) = nio;
    portable::matmul_backward(
        Dinp::Add(di),
        dw,
        Some(db),
        dout,
        inp,
        w,
        MatShape::new(n, i, o),
    )
}

/// Lanes of the vector type the dispatched kernels use (tests: how far outputs are padded).
fn test_lanes() -> usize {
    if uses_avx2() {
        8
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        4
    } else {
        simd::Portable::L
    }
}
