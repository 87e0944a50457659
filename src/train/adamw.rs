//! AdamW exactly as `torch.optim.AdamW` (the single-tensor path) with gpt.py's use:
//! betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every parameter, bias correction.
//! Optional extras, off unless asked: gradient-norm clipping and a warm-up + cosine schedule.

/// Optimizer state over a flat parameter buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
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
            step: 0,
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
        }
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
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            *p *= decay;
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
