//! The cross-entropy loss over the head's logits (gpt.py's `F.cross_entropy`, mean over positions).

use crate::kernels;

/// logits `[T, V]` → mean cross-entropy (nats) against `targets` `[T]`; leaves the softmax in
/// `probs` `[T, V]` for the backward.
pub(crate) fn cross_entropy_forward(
    probs: &mut [f32],
    logits: &[f32],
    targets: &[u32],
    v: usize,
) -> f32 {
    let mut loss = 0.0f64;
    for (pos, &target) in targets.iter().enumerate() {
        let row = &logits[pos * v..][..v];
        // One pass gives the softmax and log-sum-exp = max + ln Σ e^(x − max); the loss is
        // formed from the logits directly, so a tiny probability stays finite.
        let (max, sum) = kernels::softmax_into(row, &mut probs[pos * v..][..v], 1.0);
        loss += max as f64 + (sum as f64).ln() - row[target as usize] as f64;
    }
    (loss / targets.len() as f64) as f32
}

/// d_logits `[T, V]` = (softmax − onehot(targets)) · scale / T (the mean over T positions).
pub(crate) fn cross_entropy_backward(
    d_logits: &mut [f32],
    probs: &[f32],
    targets: &[u32],
    v: usize,
    scale: f32,
) {
    let s = scale / targets.len() as f32;
    for (pos, &target) in targets.iter().enumerate() {
        let d = &mut d_logits[pos * v..][..v];
        for (di, &pr) in d.iter_mut().zip(&probs[pos * v..][..v]) {
            *di = pr * s;
        }
        d[target as usize] -= s;
    }
}
