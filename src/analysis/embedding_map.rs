//! Where the embeddings put things: a 2-D principal-component map of the token embedding table
//! and the cosine similarity of the position embeddings.
//!
//! The map: centre the rows of wte `[V, C]`, take the two eigenvectors of their covariance
//! `[C, C]` with the largest eigenvalues (cyclic Jacobi, f64, only `+ − × ÷ √`, so native and
//! wasm give the same bits), and project. Signs are fixed: each component is flipped so that
//! its loading with the largest magnitude is positive (the first such, on a tie).

use crate::model::Model;

/// A 2-D projection of `rows` `[n, dim]` on their first two principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca2 {
    /// `[n]` (x, y) per row.
    pub points: Vec<[f64; 2]>,
    /// The two components `[2][dim]` (unit length).
    pub components: [Vec<f64>; 2],
    /// Fraction of the total variance each component explains.
    pub explained: [f64; 2],
}

/// Principal components of `rows` (`n` rows of `dim`, row-major). `dim` ≥ 1; with `dim` = 1
/// the second component is all zeros.
///
/// ```
/// use kgpt::analysis::embedding_map::pca2;
/// // Points on the line y = 2x: one component explains everything.
/// let rows = [0.0f32, 0.0, 1.0, 2.0, 2.0, 4.0, 3.0, 6.0];
/// let p = pca2(&rows, 2);
/// assert!((p.explained[0] - 1.0).abs() < 1e-12);
/// let s = 5f64.sqrt();
/// assert!((p.components[0][0] - 1.0 / s).abs() < 1e-12 && (p.components[0][1] - 2.0 / s).abs() < 1e-12);
/// ```
pub fn pca2(rows: &[f32], dim: usize) -> Pca2 {
    let n = rows.len().checked_div(dim).unwrap_or(0);
    let mut mean = vec![0.0f64; dim];
    for r in rows.chunks_exact(dim.max(1)).take(n) {
        for (m, &x) in mean.iter_mut().zip(r) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let centred: Vec<Vec<f64>> = rows
        .chunks_exact(dim.max(1))
        .take(n)
        .map(|r| r.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect())
        .collect();
    let mut cov = vec![0.0f64; dim * dim];
    for r in &centred {
        for i in 0..dim {
            for j in 0..dim {
                cov[i * dim + j] += r[i] * r[j];
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= n.max(1) as f64);
    let (values, vectors) = jacobi_eigen(cov, dim);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let component = |k: usize| -> (Vec<f64>, f64) {
        let Some(&col) = order.get(k) else {
            return (vec![0.0; dim], 0.0);
        };
        let mut v: Vec<f64> = (0..dim).map(|i| vectors[i * dim + col]).collect();
        let lead = v.iter().enumerate().fold(
            0,
            |best, (i, x)| if x.abs() > v[best].abs() { i } else { best },
        );
        if v.get(lead).is_some_and(|&x| x < 0.0) {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        let share = if total > 0.0 {
            values[col].max(0.0) / total
        } else {
            0.0
        };
        (v, share)
    };
    let ((c0, e0), (c1, e1)) = (component(0), component(1));
    let dot = |r: &[f64], c: &[f64]| r.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
    Pca2 {
        points: centred.iter().map(|r| [dot(r, &c0), dot(r, &c1)]).collect(),
        components: [c0, c1],
        explained: [e0, e1],
    }
}

/// Eigen-decomposition of the symmetric `a` `[n, n]` by cyclic Jacobi rotations: (eigenvalues,
/// eigenvectors as the columns of `[n, n]`).
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-30 * norm.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Numerical Recipes' stable form).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The model's token embedding map: [`pca2`] of wte `[V, C]`.
pub fn token_map(model: &Model) -> Pca2 {
    let (v, c) = (model.config.vocab_size, model.config.n_embd);
    pca2(&model.params[model.layout.wte..][..v * c], c)
}

/// [`token_map`] as JSON, each point with its character (`vocab[id]`) and
/// [`crate::text::akshara::CharClass`]: `{"points": [{"id", "char", "class", "x", "y"}],
/// "explained": [f1, f2], "classes": [every class name, legend order]}`.
pub fn token_map_json(model: &Model, vocab: &[char]) -> serde_json::Value {
    use crate::text::akshara::{char_class, CharClass};
    let map = token_map(model);
    let points: Vec<_> = map
        .points
        .iter()
        .enumerate()
        .map(|(id, [x, y])| {
            let ch = vocab.get(id).copied().unwrap_or('\u{FFFD}');
            serde_json::json!({"id": id, "char": ch.to_string(), "class": char_class(ch).name(), "x": x, "y": y})
        })
        .collect();
    let classes: Vec<&str> = CharClass::ALL.iter().map(|c| c.name()).collect();
    serde_json::json!({"points": points, "explained": map.explained, "classes": classes})
}

/// Cosine similarity of the position embeddings: `[T, T]` (T = block_size), row i column j
/// = cos(wpe[i], wpe[j]); 0 where a row is all zeros.
pub fn position_similarity(model: &Model) -> Vec<f32> {
    let (t, c) = (model.config.block_size, model.config.n_embd);
    let wpe = &model.params[model.layout.wpe..][..t * c];
    let row = |i: usize| &wpe[i * c..][..c];
    let norms: Vec<f64> = (0..t)
        .map(|i| {
            row(i)
                .iter()
                .map(|&x| x as f64 * x as f64)
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mut sim = vec![0.0f32; t * t];
    for i in 0..t {
        for j in 0..t {
            let dot: f64 = row(i)
                .iter()
                .zip(row(j))
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let denom = norms[i] * norms[j];
            sim[i * t + j] = if denom > 0.0 {
                (dot / denom) as f32
            } else {
                0.0
            };
        }
    }
    sim
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_components_and_variances() {
        // x = 3a·u + 1b·w + 0.1c·z with orthonormal u, w, z in 4-D and a, b, c = ±1 patterns
        // with mean 0: variances 9, 1, 0.01.
        let s = 0.5f64;
        let u = [s, s, s, s];
        let w = [s, -s, s, -s];
        let z = [s, s, -s, -s];
        let mut rows = Vec::new();
        for i in 0..8 {
            let (a, b, c) = (
                if i & 1 == 0 { 1.0 } else { -1.0 },
                if i & 2 == 0 { 1.0 } else { -1.0 },
                if i & 4 == 0 { 1.0 } else { -1.0 },
            );
            for d in 0..4 {
                rows.push((3.0 * a * u[d] + b * w[d] + 0.1 * c * z[d] + 7.0) as f32);
            }
        }
        let p = pca2(&rows, 4);
        let total = 9.0 + 1.0 + 0.01;
        assert!(
            (p.explained[0] - 9.0 / total).abs() < 1e-6,
            "{:?}",
            p.explained
        );
        assert!((p.explained[1] - 1.0 / total).abs() < 1e-6);
        for d in 0..4 {
            assert!((p.components[0][d].abs() - 0.5).abs() < 1e-6);
            assert!((p.components[1][d].abs() - 0.5).abs() < 1e-6);
        }
        // The projections are the coordinates a·3, b·1 up to the fixed sign.
        let x: Vec<f64> = p.points.iter().map(|q| q[0].abs()).collect();
        assert!(x.iter().all(|v| (v - 3.0).abs() < 1e-5), "{x:?}");
        // Deterministic signs: the largest-magnitude loading is positive (here all tie at 0.5,
        // so the first one).
        assert!(p.components[0][0] > 0.0 && p.components[1][0] > 0.0);
        // Flipping the data's sign flips nothing in the components.
        let flipped: Vec<f32> = rows.iter().map(|x| -x).collect();
        assert_eq!(pca2(&flipped, 4).components, p.components);
    }

    #[test]
    fn position_similarity_is_one_on_the_diagonal() {
        let cfg = crate::Config {
            vocab_size: 5,
            n_embd: 8,
            n_head: 2,
            n_layer: 1,
            block_size: 6,
            dropout: 0.0,
        };
        let mut m = Model::init(cfg, 3);
        let sim = position_similarity(&m);
        for i in 0..6 {
            assert!((sim[i * 6 + i] - 1.0).abs() < 1e-6);
            for j in 0..6 {
                assert_eq!(sim[i * 6 + j], sim[j * 6 + i]);
            }
        }
        // Row 1 = −row 0 → similarity −1.
        let wpe = m.layout.wpe;
        for d in 0..8 {
            m.params[wpe + 8 + d] = -m.params[wpe + d];
        }
        assert!((position_similarity(&m)[1] + 1.0).abs() < 1e-6);
    }
}
