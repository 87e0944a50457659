//! AdamW exactly as `torch.optim.AdamW` (the single-tensor path) with gpt.py's use:
//! betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every parameter, bias correction.
//! Optional extras, off unless asked: gradient-norm clipping, a warm-up + cosine schedule and
//! weight decay on a subset of the parameters ([`DecayScope`], PyTorch's parameter groups).

use std::ops::Range;

use crate::model::TensorSpec;

/// Which parameters weight decay applies to (the others form a PyTorch parameter group with
/// `weight_decay = 0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecayScope {
    /// Every parameter: `torch.optim.AdamW(model.parameters())`, gpt.py's use.
    #[default]
    All,
    /// Tensors with two or more dimensions, i.e. the linear weights and both embedding tables
    /// (nanoGPT's groups); LayerNorm weights and all biases are not decayed.
    Matrices,
    /// Linear-layer weights only: like `Matrices`, but the token and position embeddings are
    /// not decayed either.
    Linear,
}

impl DecayScope {
    /// True when the tensor `spec` (a gpt.py state-dict entry) is decayed under this scope.
    ///
    /// ```
    /// use kgpt::{train::adamw::DecayScope, Config, model::ParamLayout};
    /// let layout = ParamLayout::new(&Config { vocab_size: 10, n_embd: 8, n_head: 2, n_layer: 1, block_size: 4, dropout: 0.0 });
    /// let decayed = |s: DecayScope| layout.tensors.iter().filter(|t| s.decays(t)).map(|t| t.name.as_str()).collect::<Vec<_>>();
    /// assert_eq!(decayed(DecayScope::All).len(), layout.tensors.len());
    /// assert!(decayed(DecayScope::Matrices).contains(&"token_embedding_table.weight"));
    /// assert!(!decayed(DecayScope::Linear).contains(&"token_embedding_table.weight"));
    /// assert!(decayed(DecayScope::Linear).contains(&"lm_head.weight"));
    /// assert!(!decayed(DecayScope::Matrices).contains(&"lm_head.bias"));
    /// ```
    pub fn decays(self, spec: &TensorSpec) -> bool {
        match self {
            DecayScope::All => true,
            DecayScope::Matrices => spec.shape.len() >= 2,
            DecayScope::Linear => spec.shape.len() >= 2 && !spec.name.contains("embedding_table"),
        }
    }

    /// The parameter ranges decayed under this scope, in layout order.
    pub fn ranges(self, tensors: &[TensorSpec]) -> Vec<Range<usize>> {
        tensors
            .iter()
            .filter(|t| self.decays(t))
            .map(TensorSpec::range)
            .collect()
    }
}

/// Optimizer state over a flat parameter buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// The parameter ranges `weight_decay` applies to (all of them by default); the rest are
    /// updated without decay.
    pub decayed: Vec<Range<usize>>,
    /// Number of updates applied so far (PyTorch's `state["step"]`).
    pub step: u64,
    /// First and second moments, same layout as the parameters.
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl AdamW {
    /// PyTorch's defaults.
    pub fn new(n_params: usize) -> AdamW {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decayed: std::iter::once(0..n_params).collect(),
            step: 0,
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
        }
    }

    /// Sets PyTorch's two parameter groups: `weight_decay` on the tensors `scope` decays, none
    /// on the others.
    pub fn set_decay(&mut self, weight_decay: f32, scope: DecayScope, tensors: &[TensorSpec]) {
        self.weight_decay = weight_decay;
        self.decayed = scope.ranges(tensors);
    }

    /// One update with learning rate `lr`, in PyTorch's order of operations:
    /// decoupled decay `p *= 1 − lr·wd`; `m = β1·m + (1−β1)·g`; `v = β2·v + (1−β2)·g²`;
    /// `p −= (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)`.
    pub fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        self.step += 1;
        let t = self.step as i32;
        let bias_correction1 = 1.0 - self.beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let step_size = lr / bias_correction1;
        let decay = 1.0 - lr * self.weight_decay;
        // The decay touches only p, so doing it first for the decayed ranges gives PyTorch's
        // per-element `p·(1 − lr·wd)` then the Adam step, bit for bit.
        for range in &self.decayed {
            params[range.clone()].iter_mut().for_each(|p| *p *= decay);
        }
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            *m += (g - *m) * (1.0 - self.beta1);
            *v = *v * self.beta2 + (1.0 - self.beta2) * g * g;
            let denom = v.sqrt() / bias_correction2_sqrt + self.eps;
            *p -= step_size * *m / denom;
        }
    }
}

/// L2 norm of the whole gradient (f64 accumulation).
pub fn grad_norm(grads: &[f32]) -> f32 {
    grads
        .iter()
        .map(|&g| g as f64 * g as f64)
        .sum::<f64>()
        .sqrt() as f32
}

/// Scales the gradient so its norm is at most `max_norm` (as `torch.nn.utils.clip_grad_norm_`);
/// returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = grad_norm(grads);
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.iter_mut().for_each(|g| *g *= coef);
    }
    norm
}

/// Learning rate schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// gpt.py: the same rate at every step.
    Constant,
    /// Linear warm-up over `warmup` steps, then cosine decay to `min_lr_ratio · lr` at `total`.
    Cosine {
        warmup: u64,
        total: u64,
        min_lr_ratio: f32,
    },
}

impl Schedule {
    /// Learning rate for update number `step` (0-based).
    pub fn lr(&self, base: f32, step: u64) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine {
                warmup,
                total,
                min_lr_ratio,
            } => {
                if step < warmup {
                    return base * (step + 1) as f32 / warmup as f32;
                }
                let span = total.saturating_sub(warmup).max(1);
                let progress = ((step - warmup) as f32 / span as f32).min(1.0);
                let min_lr = base * min_lr_ratio;
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f32::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_hand_computed() {
        // After one step m̂ = g and v̂ = g², so the update is lr·g/(|g| + eps) ≈ lr·sign(g),
        // after the decay p·(1 − lr·wd).
        let mut opt = AdamW::new(2);
        let mut p = [1.0f32, -2.0];
        opt.update(&mut p, &[0.5, -4.0], 0.1);
        let expect0 = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8);
        let expect1 = -2.0 * (1.0 - 0.1 * 0.01) + 0.1 * 4.0 / (4.0 + 1e-8);
        assert!((p[0] - expect0).abs() < 1e-6 && (p[1] - expect1).abs() < 1e-6);
        assert_eq!(opt.step, 1);
    }

    #[test]
    fn second_step_hand_computed() {
        // g1 = 1, g2 = 3 on p0 = 0, lr 1, no decay:
        // m2 = 0.9·0.1 + 0.1·3 = 0.39; v2 = 0.999·0.001 + 0.001·9 = 0.009999
        let mut opt = AdamW::new(1);
        opt.weight_decay = 0.0;
        let mut p = [0.0f32];
        opt.update(&mut p, &[1.0], 1.0);
        let p1 = p[0];
        opt.update(&mut p, &[3.0], 1.0);
        let m_hat = 0.39 / (1.0 - 0.81);
        let v_hat = 0.009999f64 / (1.0 - 0.998001);
        let expect = p1 as f64 - m_hat / (v_hat.sqrt() + 1e-8);
        assert!((p[0] as f64 - expect).abs() < 1e-5, "{} vs {expect}", p[0]);
    }

    #[test]
    fn decay_applies_only_to_the_decayed_ranges() {
        // Same gradient on four parameters; only 1..3 are decayed: those end lr·wd·p lower.
        let mut opt = AdamW::new(4);
        opt.weight_decay = 0.5;
        opt.decayed = std::iter::once(1..3).collect();
        let mut p = [2.0f32; 4];
        opt.update(&mut p, &[1.0; 4], 0.1);
        let undecayed = 2.0 - 0.1 * 1.0 / (1.0 + 1e-8);
        let decayed = 2.0 * (1.0 - 0.1 * 0.5) - 0.1 * 1.0 / (1.0 + 1e-8);
        assert!((p[0] - undecayed).abs() < 1e-6 && (p[3] - undecayed).abs() < 1e-6);
        assert!((p[1] - decayed).abs() < 1e-6 && (p[2] - decayed).abs() < 1e-6);
    }

    #[test]
    fn clipping_and_schedule() {
        let mut g = [3.0f32, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((grad_norm(&g) - 1.0).abs() < 1e-5);
        let s = Schedule::Cosine {
            warmup: 10,
            total: 110,
            min_lr_ratio: 0.1,
        };
        assert!((s.lr(1.0, 0) - 0.1).abs() < 1e-6);
        assert!((s.lr(1.0, 9) - 1.0).abs() < 1e-6);
        assert!((s.lr(1.0, 60) - 0.55).abs() < 1e-6);
        assert!((s.lr(1.0, 110) - 0.1).abs() < 1e-6);
        assert_eq!(Schedule::Constant.lr(0.3, 1000), 0.3);
    }
}
