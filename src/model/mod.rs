//! The model: gpt.py's `GPTLanguageModel` as a short list of layer calls, each layer a small
//! forward function with its backward right after it (llm.c's `train_gpt2.c` style):
//!
//! ```text
//! ids [T] ─ embedding ─▶ x [T, C] ─ block × L ─▶ [T, C] ─ ln_f ─▶ [T, C] ─ lm_head ─▶ logits [T, V] ─ loss
//! block:  x = x + dropout(proj(attention(ln1(x))))      attention: qkv [T, 3C] → [T, C]
//!         x = x + dropout(fc2(relu(fc1(ln2(x)))))       mlp: [T, C] → [T, 4C] → [T, C]
//! ```
//!
//! Files: `layout.rs` (where every tensor lives in one flat buffer, with its gpt.py name),
//! `state.rs` (every activation of one sequence), the layers `embedding.rs`, `layernorm.rs`,
//! `linear.rs`, `attention.rs`, `mlp.rs`, `residual.rs` (+ dropout), `loss.rs`, the block that
//! strings them together (`block.rs`), and `kv_cache.rs` (incremental inference on the same
//! block code). [`Model::forward`] (training and eval) and the KV cache both go through
//! [`Model::forward_rows`].

mod attention;
mod block;
mod embedding;
mod knockout;
pub mod kv_cache;
mod layernorm;
mod layout;
mod linear;
mod loss;
mod mlp;
mod residual;
mod state;

pub use knockout::Knockout;
pub use kv_cache::{KvCache, SyncInfo};
pub use layout::{LayerOffsets, LinearOffsets, NormOffsets, ParamLayout, TensorSpec};
pub use state::{att_stride, LayerActs, Normed, RunState};

use crate::config::Config;
use crate::rng::Rng;
use attention::{BlockRows, LayerKv};
use residual::Dropout;
use std::fmt;

/// A forward-pass input the model cannot take.
#[derive(Clone, Debug, PartialEq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Config and parameters. Immutable during inference; the optimizer updates `params` in place.
#[derive(Clone, Debug)]
pub struct Model {
    pub config: Config,
    pub layout: ParamLayout,
    pub params: Vec<f32>,
}

/// What [`Model::forward_eval`] returns.
#[derive(Clone, Debug)]
pub struct EvalOutput {
    /// The ids the model saw (after cropping).
    pub ids: Vec<u32>,
    /// `[T, V]` row-major.
    pub logits: Vec<f32>,
    /// `[L, H, T, T]`: layer, head, query, key. Zero above the diagonal.
    pub attention: Vec<f32>,
    /// Mean cross-entropy (nats) when targets were given.
    pub loss: Option<f32>,
    /// `[L, T, V]` when asked for: the logit lens (see [`Model::logit_lens`]).
    pub logit_lens: Option<Vec<f32>>,
}

/// Which positions [`Model::forward_rows`] computes, in a sequence of `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rows {
    /// Positions `from..t` are computed; a KV cache holds the keys and values of `0..from`.
    pub from: usize,
    /// Of the last block, only positions `last_from..t` (`≥ from`) go on through attention, MLP,
    /// ln_f and the head: the others only need their keys and values.
    pub last_from: usize,
    pub t: usize,
}

impl Rows {
    /// Every position of a sequence of `t`.
    pub fn all(t: usize) -> Rows {
        Rows {
            from: 0,
            last_from: 0,
            t,
        }
    }
}

/// Where a KV cache keeps the keys (transposed, `[L, H, hs, Tp]`) and values
/// (`[L, block_size, C]`) of every layer.
pub(crate) struct KvStore<'a> {
    pub kt: &'a mut [f32],
    pub v: &'a mut [f32],
}

impl KvStore<'_> {
    fn layer(&mut self, cfg: &Config, l: usize) -> LayerKv<'_> {
        let kt_len = cfg.n_head * cfg.head_size() * att_stride(cfg.block_size);
        let v_len = cfg.block_size * cfg.n_embd;
        LayerKv {
            kt: &mut self.kt[l * kt_len..][..kt_len],
            v: &mut self.v[l * v_len..][..v_len],
        }
    }
}

impl Model {
    /// gpt.py's `_init_weights`: N(0, 0.02) for Linear and Embedding weights, zero biases,
    /// LayerNorm weight 1 and bias 0.
    pub fn init(config: Config, seed: u64) -> Model {
        let mut model = Model::zeros(config);
        let mut rng = Rng::new(seed);
        for t in &model.layout.tensors {
            let slot = &mut model.params[t.range()];
            if t.name.ends_with(".bias") {
                slot.fill(0.0);
            } else if t.shape.len() == 1 {
                slot.fill(1.0); // LayerNorm weight
            } else {
                slot.iter_mut().for_each(|p| *p = 0.02 * rng.normal());
            }
        }
        model
    }

    /// Zero parameters of the right size (to be filled by a checkpoint loader).
    pub fn zeros(config: Config) -> Model {
        let layout = ParamLayout::new(&config);
        Model {
            params: vec![0.0; layout.total],
            layout,
            config,
        }
    }

    /// Refuses an id outside the vocabulary, naming it and its position.
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), InputError> {
        let v = self.config.vocab_size;
        match ids.iter().enumerate().find(|(_, &id)| id as usize >= v) {
            Some((i, &bad)) => Err(InputError(format!(
                "token id {bad} at position {i} is outside the vocabulary (size {v})"
            ))),
            None => Ok(()),
        }
    }

    /// Checks ids against the vocabulary and crops to the last `block_size` (as gpt.py's
    /// `generate` does with `idx[:, -block_size:]`). Returns the ids the model will see.
    pub fn prepare_ids<'a>(&self, ids: &'a [u32]) -> Result<&'a [u32], InputError> {
        if ids.is_empty() {
            return Err(InputError("empty input: need at least one token".into()));
        }
        self.check_ids(ids)?;
        Ok(&ids[ids.len().saturating_sub(self.config.block_size)..])
    }

    /// Eval-mode forward of one sequence (cropped to block_size), keeping logits and attention.
    pub fn forward_eval(
        &self,
        ids: &[u32],
        targets: Option<&[u32]>,
    ) -> Result<EvalOutput, InputError> {
        self.forward_eval_with(ids, targets, &Knockout::none(), false)
    }

    /// [`Model::forward_eval`] with the heads of `knockout` knocked out and, with `logit_lens`,
    /// the logit lens of every layer in [`EvalOutput::logit_lens`].
    pub fn forward_eval_with(
        &self,
        ids: &[u32],
        targets: Option<&[u32]>,
        knockout: &Knockout,
        logit_lens: bool,
    ) -> Result<EvalOutput, InputError> {
        self.check_knockout(knockout)?;
        let ids = self.prepare_ids(ids)?;
        let targets = match targets {
            Some(t) => {
                let t = self.prepare_ids(t)?;
                if t.len() != ids.len() {
                    return Err(InputError(format!(
                        "{} targets for {} ids (after cropping to block_size)",
                        t.len(),
                        ids.len()
                    )));
                }
                Some(t)
            }
            None => None,
        };
        let mut state = RunState::new(&self.config);
        state.knockout = knockout.clone();
        let loss = self.forward(&mut state, ids, targets, None);
        let t = ids.len();
        Ok(EvalOutput {
            ids: ids.to_vec(),
            logits: state.logits[..t * self.config.vocab_size].to_vec(),
            attention: state.attention_probs(t),
            loss,
            logit_lens: logit_lens.then(|| self.logit_lens(&state)),
        })
    }

    /// Refuses a knock-out set made for another shape of model.
    pub fn check_knockout(&self, knockout: &Knockout) -> Result<(), InputError> {
        let cfg = &self.config;
        match knockout
            .heads()
            .iter()
            .find(|&&(l, h)| l >= cfg.n_layer || h >= cfg.n_head)
        {
            Some((l, h)) => Err(InputError(format!(
                "head {l}.{h} does not exist: this model has {} layers of {} heads",
                cfg.n_layer, cfg.n_head
            ))),
            None if !knockout.is_empty() && knockout.layer(0).len() != cfg.n_head => Err(
                InputError("the knock-out set was made for a model with another head count".into()),
            ),
            None => Ok(()),
        }
    }

    /// The logit lens of the last forward in `state` (all its `T` positions computed, i.e. not a
    /// KV-cache step): for every layer l, `lm_head(ln_f(x_l))` with x_l the residual stream
    /// after block l, `[L, T, V]`. The last layer's lens is the model's logits, bit for bit (the
    /// same kernels on the same input).
    pub fn logit_lens(&self, state: &RunState) -> Vec<f32> {
        let (cfg, p, lay) = (&self.config, &self.params[..], &self.layout);
        let (t, v) = (state.t, cfg.vocab_size);
        let mut normed = Normed::new(cfg.block_size, cfg.n_embd);
        let mut logits = vec![0.0; cfg.block_size * v];
        let mut lens = Vec::with_capacity(cfg.n_layer * t * v);
        for x in &state.resid[1..] {
            layernorm::forward(&mut normed, x, p, &lay.ln_f, 0..t); // [T, C]
            linear::forward(&mut logits, &normed.out, p, &lay.lm_head, 0..t); // [T, V]
            lens.extend_from_slice(&logits[..t * v]);
        }
        lens
    }

    /// Forward of one sequence `ids` (1 ≤ T ≤ block_size, ids < vocab_size — callers check with
    /// [`Model::prepare_ids`]). Keeps every activation in `state` for [`Model::backward`].
    /// With `dropout` (training) the masks are drawn from it; without, eval mode.
    /// Returns the mean cross-entropy when `targets` are given (and leaves softmax in `state.probs`).
    pub fn forward(
        &self,
        state: &mut RunState,
        ids: &[u32],
        targets: Option<&[u32]>,
        dropout: Option<&mut Rng>,
    ) -> Option<f32> {
        let cfg = &self.config;
        let t = ids.len();
        assert!(
            t >= 1 && t <= cfg.block_size,
            "sequence length {t} not in 1..={}",
            cfg.block_size
        );
        let mut dropout = dropout.filter(|_| cfg.dropout > 0.0).map(|rng| Dropout {
            p: cfg.dropout,
            rng,
        });
        if dropout.is_some() {
            state.ensure_training_buffers(cfg);
        }
        state.dropout_active = dropout.is_some();
        self.forward_rows(state, ids, Rows::all(t), None, dropout.as_mut());
        let v = cfg.vocab_size;
        let targets = targets?;
        Some(loss::cross_entropy_forward(
            &mut state.probs,
            &state.logits[..t * v],
            &targets[..t],
            v,
        ))
    }

    /// The forward pass every path shares: embedding, the blocks, ln_f and the head, for the
    /// positions in `rows` (see [`Rows`]), with keys and values also stored in `kv` when given.
    pub(crate) fn forward_rows(
        &self,
        state: &mut RunState,
        ids: &[u32],
        rows: Rows,
        mut kv: Option<&mut KvStore>,
        mut dropout: Option<&mut Dropout>,
    ) {
        let (cfg, p, lay) = (&self.config, &self.params[..], &self.layout);
        let Rows { from, last_from, t } = rows;
        state.t = t;
        embedding::forward(&mut state.resid[0], p, lay, cfg.n_embd, ids, from..t); // [T, C]
        for (l, lo) in lay.layers.iter().enumerate() {
            let out_from = if l + 1 == cfg.n_layer {
                last_from
            } else {
                from
            };
            let block_rows = BlockRows {
                kv_from: from,
                out_from,
                t,
            };
            let (before, after) = state.resid.split_at_mut(l + 1);
            let layer_kv = kv.as_deref_mut().map(|k| k.layer(cfg, l));
            let (a, s, d) = (
                &mut state.layers[l],
                &mut state.scratch,
                dropout.as_deref_mut(),
            );
            block::forward(
                cfg,
                p,
                lo,
                block_rows,
                &before[l],
                &mut after[0],
                a,
                s,
                layer_kv,
                state.knockout.layer(l),
                d,
            );
        }
        let out = last_from..t;
        let x = &state.resid[cfg.n_layer];
        layernorm::forward(&mut state.ln_f, x, p, &lay.ln_f, out.clone()); // [T, C]
        linear::forward(&mut state.logits, &state.ln_f.out, p, &lay.lm_head, out);
        // [T, V]
    }

    /// Backward of the last [`Model::forward`] (which must have had targets), accumulating into
    /// `grads` (same layout as the parameters). `loss_scale` multiplies ∂loss/∂logits: pass
    /// `1 / number_of_sequences` to get the gradient of the batch mean.
    pub fn backward(
        &self,
        state: &mut RunState,
        ids: &[u32],
        targets: &[u32],
        grads: &mut [f32],
        loss_scale: f32,
    ) {
        let (cfg, p, lay) = (&self.config, &self.params[..], &self.layout);
        state.ensure_training_buffers(cfg);
        let (t, c, v) = (state.t, cfg.n_embd, cfg.vocab_size);
        let g = &mut state.grad;
        loss::cross_entropy_backward(&mut g.d_logits, &state.probs, &targets[..t], v, loss_scale);
        linear::backward(
            &mut g.d_ln,
            grads,
            &g.d_logits,
            &state.ln_f.out,
            p,
            &lay.lm_head,
            t,
        );
        g.d_resid[..t * c].fill(0.0);
        let x = &state.resid[cfg.n_layer];
        layernorm::backward(
            &mut g.d_resid,
            grads,
            &g.d_ln,
            &state.ln_f,
            x,
            p,
            &lay.ln_f,
            t,
        );
        for (l, lo) in lay.layers.iter().enumerate().rev() {
            let (x_in, a, s) = (&state.resid[l], &state.layers[l], &mut state.scratch);
            let knocked_out = state.knockout.layer(l);
            block::backward(
                cfg,
                p,
                lo,
                t,
                x_in,
                a,
                s,
                g,
                grads,
                knocked_out,
                state.dropout_active,
            );
        }
        embedding::backward(grads, lay, c, &ids[..t], &g.d_resid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_stress(seed: u64, dropout: f32) -> Model {
        let cfg = Config {
            vocab_size: 7,
            n_embd: 8,
            n_head: 2,
            n_layer: 2,
            block_size: 5,
            dropout,
        };
        let mut m = Model::init(cfg, seed);
        let mut rng = Rng::new(seed + 100);
        for p in m.params.iter_mut() {
            *p += 0.3 * rng.normal();
        }
        m
    }

    /// Loss of a batch of sequences, each with its own dropout stream (seeded, so repeatable).
    fn batch_loss(m: &Model, seqs: &[(Vec<u32>, Vec<u32>)], dropout_seed: Option<u64>) -> f64 {
        let mut st = RunState::new(&m.config);
        let mut total = 0.0;
        for (b, (x, y)) in seqs.iter().enumerate() {
            let mut rng = dropout_seed.map(|s| Rng::for_stream(s, &[b as u64]));
            total += m.forward(&mut st, x, Some(y), rng.as_mut()).unwrap() as f64;
        }
        total / seqs.len() as f64
    }

    fn check_grads(dropout_seed: Option<u64>) {
        let m = tiny_stress(5, if dropout_seed.is_some() { 0.3 } else { 0.0 });
        let seqs = vec![
            (vec![1, 4, 2, 6, 0], vec![4, 2, 6, 0, 3]),
            (vec![3, 3, 5], vec![3, 5, 1]),
        ];
        let mut grads = vec![0.0f32; m.layout.total];
        let mut st = RunState::new(&m.config);
        for (b, (x, y)) in seqs.iter().enumerate() {
            let mut rng = dropout_seed.map(|s| Rng::for_stream(s, &[b as u64]));
            m.forward(&mut st, x, Some(y), rng.as_mut());
            m.backward(&mut st, x, y, &mut grads, 1.0 / seqs.len() as f32);
        }
        let mut pick = Rng::new(9);
        let mut checked = 0;
        for spec in &m.layout.tensors {
            for _ in 0..3 {
                let i = spec.offset + pick.below(spec.len());
                let h = 2e-3f32;
                let mut mp = m.clone();
                mp.params[i] += h;
                let mut mm = m.clone();
                mm.params[i] -= h;
                let num = (batch_loss(&mp, &seqs, dropout_seed)
                    - batch_loss(&mm, &seqs, dropout_seed))
                    / (2.0 * h as f64);
                let ana = grads[i] as f64;
                assert!(
                    (num - ana).abs() <= 2e-3 + 2e-2 * num.abs(),
                    "{} [{}]: numeric {num} vs analytic {ana}",
                    spec.name,
                    i - spec.offset
                );
                checked += 1;
            }
        }
        assert!(checked >= 3 * m.layout.tensors.len());
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_grads(None);
    }

    #[test]
    fn gradients_with_dropout_match_finite_differences() {
        check_grads(Some(77));
    }

    #[test]
    fn attention_is_causal_and_normalised() {
        let m = tiny_stress(1, 0.0);
        let out = m.forward_eval(&[1, 2, 3, 4], None).unwrap();
        let t = 4;
        for (r, row) in out.attention.chunks_exact(t).enumerate() {
            let q = r % t;
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5);
            assert!(row[q + 1..].iter().all(|&p| p == 0.0));
        }
        assert_eq!(out.attention.len(), 2 * 2 * t * t);
        assert_eq!(out.logits.len(), t * 7);
    }

    #[test]
    fn crops_to_block_size_and_checks_ids() {
        let m = tiny_stress(1, 0.0);
        let long = [1, 2, 3, 4, 5, 6, 0];
        let a = m.forward_eval(&long, None).unwrap();
        let b = m.forward_eval(&long[2..], None).unwrap();
        assert_eq!(a.ids, long[2..].to_vec());
        assert_eq!(a.logits, b.logits);
        assert!(m.forward_eval(&[], None).is_err());
        assert!(m
            .forward_eval(&[7], None)
            .unwrap_err()
            .0
            .contains("outside"));
        assert!(m.forward_eval(&[1, 2], Some(&[1])).is_err());
    }

    /// `Config::validate` refuses configs by `activation_floats`: it must bound what a
    /// training `RunState` really allocates, including the attention scratch.
    #[test]
    fn run_state_allocation_is_within_the_config_bound() {
        for (v, c, h, l, t) in [
            (89, 64, 4, 4, 128),
            (7, 4, 2, 1, 4),
            (300, 48, 3, 2, 37),
            (2, 8, 8, 3, 1),
        ] {
            let cfg = Config {
                vocab_size: v,
                n_embd: c,
                n_head: h,
                n_layer: l,
                block_size: t,
                dropout: 0.1,
            };
            let mut state = RunState::new(&cfg);
            let forward_only = state.allocated_floats();
            state.ensure_training_buffers(&cfg);
            let all = state.allocated_floats();
            assert!(all > forward_only, "training buffers were allocated");
            assert!(
                all <= cfg.activation_floats(),
                "{cfg:?}: {all} > {}",
                cfg.activation_floats()
            );
            // and the bound is not wildly loose (it decides what is refused)
            assert!(
                cfg.activation_floats() <= all * 2,
                "{cfg:?}: {all} vs {}",
                cfg.activation_floats()
            );
        }
    }
}
