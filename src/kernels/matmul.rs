//! Matrix products of a Linear layer (forward in dot and broadcast form, backward) and the
//! one-row products of the KV-cache decode.

use super::gemm::{Gemm, GemmSimd, Tri, ZEROS8};
use super::simd::Simd;
use super::vector::{add_assign, dot};

/// The sizes of one Linear product: `n_rows` rows of `n_in` inputs, `n_out` outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatShape {
    pub n_rows: usize,
    pub n_in: usize,
    pub n_out: usize,
}

impl MatShape {
    pub fn new(n_rows: usize, n_in: usize, n_out: usize) -> MatShape {
        MatShape {
            n_rows,
            n_in,
            n_out,
        }
    }
}

/// What the matrix backward does with the input gradient.
pub enum Dinp<'a> {
    /// `dinp += dout · w`.
    Add(&'a mut [f32]),
    /// `dinp = dout · w` (saves the caller zeroing it).
    Set(&'a mut [f32]),
    /// Not wanted (the input is not trained, e.g. the first layer's ids).
    Skip,
}

/// out `[n_rows, n_out]` = inp `[n_rows, n_in]` · w`[n_out, n_in]`ᵀ + bias, in dot form:
/// for each input row, 8 outputs accumulate along `n_in` in 8 vector registers (one load of the
/// input feeds 8 FMAs whose other operand comes straight from the weight rows), then one
/// 8-way reduction writes 8 adjacent outputs. Works for any row count (1 for the KV-cache decode).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_forward<S: GemmSimd>(
    s: S,
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    shape: MatShape,
) {
    let (n_rows, n_in, n_out) = (shape.n_rows, shape.n_in, shape.n_out);
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
/// `n_in · n_out` floats), then the broadcast-form `gemm_body` runs with accumulators started from
/// the bias. The transpose costs `n_in · n_out` moves against `n_rows · n_in · n_out` FMAs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_forward_t<S: GemmSimd>(
    s: S,
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    wt: &mut [f32],
    shape: MatShape,
) {
    let (n_rows, n_in, n_out) = (shape.n_rows, shape.n_in, shape.n_out);
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
pub(crate) fn row_times_matrix<S: GemmSimd>(
    s: S,
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    b_rs: usize,
) {
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

/// Backward of [`matmul_forward`]: dinp `[n_rows, n_in]` (+)= dout · w (see [`Dinp`]), dw `[n_out, n_in]` += doutᵀ · inp, dbias += Σ_n dout.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_backward<S: GemmSimd>(
    s: S,
    dinp: Dinp,
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    shape: MatShape,
) {
    let (n_rows, n_in, n_out) = (shape.n_rows, shape.n_in, shape.n_out);
    let (dinp, dinp_accumulate) = match dinp {
        Dinp::Add(d) => (Some(d), true),
        Dinp::Set(d) => (Some(d), false),
        Dinp::Skip => (None, true),
    };
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
