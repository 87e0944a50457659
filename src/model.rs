//! The model: gpt.py's `GPTLanguageModel`, forward and backward side by side (llm.c style).
//!
//! Read top to bottom: [`ParamLayout`] (where every tensor lives in one flat buffer, and its
//! gpt.py state-dict name), [`Model`] (config + parameters), [`RunState`] (every activation of one
//! sequence, sized once from the config), then `forward` and `backward`.
//!
//! Per block, as gpt.py computes it:
//! ```text
//! x = x + dropout(proj(concat_h(dropout(softmax(mask(q_h k_hᵀ · hs^-0.5))) v_h)))   on ln1(x)
//! x = x + dropout(W2 · relu(W1 · ln2(x) + b1) + b2)
//! ```
//! then `ln_f` and `lm_head` (with bias).

use crate::config::Config;
use crate::kernels::{self, AttnDims};
use crate::rng::Rng;
use std::fmt;

/// Offsets of one block's tensors in the flat parameter buffer.
///
/// The query, key and value weights of all heads sit in one `[3C, C]` matrix (`qkv_w`): rows
/// `h·hs..(h+1)·hs` are head h's query, then `C + ...` its key, then `2C + ...` its value. Each
/// head's `(hs, C)` weight is therefore a contiguous slice, and one matmul computes all of them.
#[derive(Clone, Debug)]
pub struct LayerOffsets {
    pub ln1_w: usize,
    pub ln1_b: usize,
    pub qkv_w: usize,
    pub proj_w: usize,
    pub proj_b: usize,
    pub ln2_w: usize,
    pub ln2_b: usize,
    pub fc1_w: usize,
    pub fc1_b: usize,
    pub fc2_w: usize,
    pub fc2_b: usize,
}

/// One named tensor of the checkpoint: gpt.py's state-dict name, PyTorch shape, flat offset.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl TensorSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Where each parameter lives in the flat buffer (shared by weights, gradients and AdamW moments).
#[derive(Clone, Debug)]
pub struct ParamLayout {
    pub wte: usize,
    pub wpe: usize,
    pub layers: Vec<LayerOffsets>,
    pub lnf_w: usize,
    pub lnf_b: usize,
    pub lm_w: usize,
    pub lm_b: usize,
    pub total: usize,
    /// Every tensor with its gpt.py name, in gpt.py's `state_dict()` order.
    pub tensors: Vec<TensorSpec>,
}

impl ParamLayout {
    pub fn new(cfg: &Config) -> ParamLayout {
        let (v, c, t, h, hs) = (
            cfg.vocab_size,
            cfg.n_embd,
            cfg.block_size,
            cfg.n_head,
            cfg.head_size(),
        );
        let f = cfg.ffn_hidden();
        let mut off = 0usize;
        let mut take = |n: usize| {
            let o = off;
            off += n;
            o
        };
        let mut tensors = Vec::new();
        let mut spec = |name: String, shape: Vec<usize>, offset: usize| {
            tensors.push(TensorSpec {
                name,
                shape,
                offset,
            })
        };
        let wte = take(v * c);
        spec("token_embedding_table.weight".into(), vec![v, c], wte);
        let wpe = take(t * c);
        spec("position_embedding_table.weight".into(), vec![t, c], wpe);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let l = LayerOffsets {
                ln1_w: take(c),
                ln1_b: take(c),
                qkv_w: take(3 * c * c),
                proj_w: take(c * c),
                proj_b: take(c),
                ln2_w: take(c),
                ln2_b: take(c),
                fc1_w: take(f * c),
                fc1_b: take(f),
                fc2_w: take(c * f),
                fc2_b: take(c),
            };
            let p = format!("blocks.{i}.");
            for head in 0..h {
                for (kind, base) in [("key", c), ("query", 0), ("value", 2 * c)] {
                    spec(
                        format!("{p}sa.heads.{head}.{kind}.weight"),
                        vec![hs, c],
                        l.qkv_w + (base + head * hs) * c,
                    );
                }
            }
            spec(format!("{p}sa.proj.weight"), vec![c, c], l.proj_w);
            spec(format!("{p}sa.proj.bias"), vec![c], l.proj_b);
            spec(format!("{p}ffwd.net.0.weight"), vec![f, c], l.fc1_w);
            spec(format!("{p}ffwd.net.0.bias"), vec![f], l.fc1_b);
            spec(format!("{p}ffwd.net.2.weight"), vec![c, f], l.fc2_w);
            spec(format!("{p}ffwd.net.2.bias"), vec![c], l.fc2_b);
            spec(format!("{p}ln1.weight"), vec![c], l.ln1_w);
            spec(format!("{p}ln1.bias"), vec![c], l.ln1_b);
            spec(format!("{p}ln2.weight"), vec![c], l.ln2_w);
            spec(format!("{p}ln2.bias"), vec![c], l.ln2_b);
            layers.push(l);
        }
        let lnf_w = take(c);
        let lnf_b = take(c);
        let lm_w = take(v * c);
        let lm_b = take(v);
        spec("ln_f.weight".into(), vec![c], lnf_w);
        spec("ln_f.bias".into(), vec![c], lnf_b);
        spec("lm_head.weight".into(), vec![v, c], lm_w);
        spec("lm_head.bias".into(), vec![v], lm_b);
        ParamLayout {
            wte,
            wpe,
            layers,
            lnf_w,
            lnf_b,
            lm_w,
            lm_b,
            total: off,
            tensors,
        }
    }

    pub fn find(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

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

impl Model {
    /// gpt.py's `_init_weights`: N(0, 0.02) for Linear and Embedding weights, zero biases,
    /// LayerNorm weight 1 and bias 0.
    pub fn init(config: Config, seed: u64) -> Model {
        let layout = ParamLayout::new(&config);
        let mut params = vec![0.0f32; layout.total];
        let mut rng = Rng::new(seed);
        for t in &layout.tensors {
            let slot = &mut params[t.range()];
            if t.name.ends_with(".bias") {
                slot.fill(0.0);
            } else if t.shape.len() == 1 {
                slot.fill(1.0); // LayerNorm weight
            } else {
                slot.iter_mut().for_each(|p| *p = 0.02 * rng.normal());
            }
        }
        Model {
            config,
            layout,
            params,
        }
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

    /// Checks ids against the vocabulary and crops to the last `block_size` (as gpt.py's
    /// `generate` does with `idx[:, -block_size:]`). Returns the ids the model will see.
    pub fn prepare_ids<'a>(&self, ids: &'a [u32]) -> Result<&'a [u32], InputError> {
        if ids.is_empty() {
            return Err(InputError("empty input: need at least one token".into()));
        }
        if let Some((i, &bad)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= self.config.vocab_size)
        {
            return Err(InputError(format!(
                "token id {bad} at position {i} is outside the vocabulary (size {})",
                self.config.vocab_size
            )));
        }
        Ok(&ids[ids.len().saturating_sub(self.config.block_size)..])
    }

    /// Eval-mode forward of one sequence (cropped to block_size), keeping logits and attention.
    pub fn forward_eval(
        &self,
        ids: &[u32],
        targets: Option<&[u32]>,
    ) -> Result<ForwardOutput, InputError> {
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
        let loss = self.forward(&mut state, ids, targets, None);
        let t = ids.len();
        Ok(ForwardOutput {
            ids: ids.to_vec(),
            logits: state.logits[..t * self.config.vocab_size].to_vec(),
            attention: state.attention_probs(t),
            loss,
        })
    }
}

/// What [`Model::forward_eval`] returns.
#[derive(Clone, Debug)]
pub struct ForwardOutput {
    /// The ids the model saw (after cropping).
    pub ids: Vec<u32>,
    /// `[T, V]` row-major.
    pub logits: Vec<f32>,
    /// `[L, H, T, T]`: layer, head, query, key. Zero above the diagonal.
    pub attention: Vec<f32>,
    /// Mean cross-entropy (nats) when targets were given.
    pub loss: Option<f32>,
}

/// Activations of one layer for one sequence of up to `block_size` tokens (`T` = block_size).
#[derive(Clone, Debug)]
pub struct LayerActs {
    /// `[T, C]` LayerNorm 1 output, and its mean and rstd `[T]`.
    pub ln1: Vec<f32>,
    pub ln1_mean: Vec<f32>,
    pub ln1_rstd: Vec<f32>,
    /// `[T, 3C]`: queries, keys, values of all heads.
    pub qkv: Vec<f32>,
    /// `[H, T, Tp]` post-softmax attention (before dropout); zero above the diagonal. Rows have
    /// stride `Tp` = T rounded up to 8 (see [`att_stride`]); use [`RunState::attention_probs`].
    pub att_probs: Vec<f32>,
    /// `[H, T, Tp]` dropout multipliers for the attention probabilities (training only; only the
    /// causal entries are drawn, the rest stay 0).
    pub att_mask: Vec<f32>,
    /// `[T, C]` concatenated head outputs.
    pub att_out: Vec<f32>,
    /// `[T, C]` dropout multipliers after the projection (training only).
    pub proj_mask: Vec<f32>,
    /// `[T, C]` residual stream after the attention sub-block.
    pub resid_mid: Vec<f32>,
    pub ln2: Vec<f32>,
    pub ln2_mean: Vec<f32>,
    pub ln2_rstd: Vec<f32>,
    /// `[T, 4C]` pre-activation and ReLU output of the MLP.
    pub fc1: Vec<f32>,
    pub relu: Vec<f32>,
    /// `[T, C]` dropout multipliers after the MLP (training only).
    pub fc2_mask: Vec<f32>,
}

/// Every buffer one sequence's forward and backward needs, allocated once (llama2.c `RunState`).
#[derive(Clone, Debug)]
pub struct RunState {
    pub t: usize,
    /// Whether the last forward drew dropout masks (training mode).
    pub dropout_active: bool,
    /// Residual stream entering each layer and leaving the last: `L+1` × `[T, C]`.
    pub resid: Vec<Vec<f32>>,
    pub layers: Vec<LayerActs>,
    pub lnf: Vec<f32>,
    pub lnf_mean: Vec<f32>,
    pub lnf_rstd: Vec<f32>,
    /// `[T, V]` logits, then (after a forward with targets) the softmax probabilities in `probs`.
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
    /// Scratch `[T, C]` for projections and MLP outputs before the residual add.
    scratch: Vec<f32>,
    /// Attention scratch: scores / d(probs) `[T, Tp]`, dropped-out probabilities `[T, Tp]`
    /// (training), d(scores) `[T, Tp]` (training), one head's keys or values transposed `[hs, Tp]`.
    /// The upper triangles of `att_pd` and `att_ds` are kept at 0.
    att_sc: Vec<f32>,
    att_pd: Vec<f32>,
    att_ds: Vec<f32>,
    att_t: Vec<f32>,
    // Gradient scratch for backward.
    d_resid: Vec<f32>,
    d_ln: Vec<f32>,
    d_qkv: Vec<f32>,
    d_att_out: Vec<f32>,
    d_relu: Vec<f32>,
    d_logits: Vec<f32>,
    d_tmp: Vec<f32>,
}

impl RunState {
    pub fn new(cfg: &Config) -> RunState {
        let (t, c, h, v, f) = (
            cfg.block_size,
            cfg.n_embd,
            cfg.n_head,
            cfg.vocab_size,
            cfg.ffn_hidden(),
        );
        let layer = LayerActs {
            ln1: vec![0.0; t * c],
            ln1_mean: vec![0.0; t],
            ln1_rstd: vec![0.0; t],
            qkv: vec![0.0; t * 3 * c],
            att_probs: vec![0.0; h * t * att_stride(t)],
            att_mask: Vec::new(),
            att_out: vec![0.0; t * c],
            proj_mask: Vec::new(),
            resid_mid: vec![0.0; t * c],
            ln2: vec![0.0; t * c],
            ln2_mean: vec![0.0; t],
            ln2_rstd: vec![0.0; t],
            fc1: vec![0.0; t * f],
            relu: vec![0.0; t * f],
            fc2_mask: Vec::new(),
        };
        RunState {
            t: 0,
            dropout_active: false,
            resid: vec![vec![0.0; t * c]; cfg.n_layer + 1],
            layers: vec![layer; cfg.n_layer],
            lnf: vec![0.0; t * c],
            lnf_mean: vec![0.0; t],
            lnf_rstd: vec![0.0; t],
            logits: vec![0.0; t * v],
            probs: vec![0.0; t * v],
            scratch: vec![0.0; t * c],
            att_sc: vec![0.0; t * att_stride(t)],
            att_pd: Vec::new(),
            att_ds: Vec::new(),
            att_t: vec![0.0; cfg.head_size() * att_stride(t)],
            d_resid: Vec::new(),
            d_ln: Vec::new(),
            d_qkv: Vec::new(),
            d_att_out: Vec::new(),
            d_relu: Vec::new(),
            d_logits: Vec::new(),
            d_tmp: Vec::new(),
        }
    }

    /// Copies the attention probabilities of the last forward out as `[L, H, T, T]`
    /// (the buffers are `[H, block_size, Tp]` per layer; rows and columns past T dropped).
    pub fn attention_probs(&self, t: usize) -> Vec<f32> {
        let t_cap = self.lnf_mean.len();
        let tp = att_stride(t_cap);
        let n_head = self
            .layers
            .first()
            .map_or(0, |l| l.att_probs.len() / (t_cap * tp));
        let mut out = Vec::with_capacity(self.layers.len() * n_head * t * t);
        for l in &self.layers {
            for head_rows in l.att_probs.chunks_exact(t_cap * tp) {
                for q in 0..t {
                    out.extend_from_slice(&head_rows[q * tp..][..t]);
                }
            }
        }
        out
    }

    /// f32 values held by every buffer (forward and, once allocated, training); bounded by
    /// [`Config::activation_floats`].
    pub fn allocated_floats(&self) -> usize {
        let layer = |l: &LayerActs| {
            [
                &l.ln1,
                &l.ln1_mean,
                &l.ln1_rstd,
                &l.qkv,
                &l.att_probs,
                &l.att_mask,
                &l.att_out,
                &l.proj_mask,
                &l.resid_mid,
                &l.ln2,
                &l.ln2_mean,
                &l.ln2_rstd,
                &l.fc1,
                &l.relu,
                &l.fc2_mask,
            ]
            .iter()
            .map(|b| b.len())
            .sum::<usize>()
        };
        let own = [
            &self.lnf,
            &self.lnf_mean,
            &self.lnf_rstd,
            &self.logits,
            &self.probs,
            &self.scratch,
            &self.att_sc,
            &self.att_pd,
            &self.att_ds,
            &self.att_t,
            &self.d_resid,
            &self.d_ln,
            &self.d_qkv,
            &self.d_att_out,
            &self.d_relu,
            &self.d_logits,
            &self.d_tmp,
        ];
        self.resid.iter().map(Vec::len).sum::<usize>()
            + self.layers.iter().map(layer).sum::<usize>()
            + own.iter().map(|b| b.len()).sum::<usize>()
    }

    fn ensure_training_buffers(&mut self, cfg: &Config) {
        let (t, c, h, v, f) = (
            cfg.block_size,
            cfg.n_embd,
            cfg.n_head,
            cfg.vocab_size,
            cfg.ffn_hidden(),
        );
        if self.d_resid.len() == t * c {
            return;
        }
        self.d_resid = vec![0.0; t * c];
        self.d_ln = vec![0.0; t * c];
        self.d_qkv = vec![0.0; t * 3 * c];
        self.d_att_out = vec![0.0; t * c];
        self.d_relu = vec![0.0; t * f];
        self.d_logits = vec![0.0; t * v];
        self.d_tmp = vec![0.0; t * c];
        self.att_pd = vec![0.0; t * att_stride(t)];
        self.att_ds = vec![0.0; t * att_stride(t)];
        for l in &mut self.layers {
            l.att_mask = vec![0.0; h * t * att_stride(t)];
            l.proj_mask = vec![0.0; t * c];
            l.fc2_mask = vec![0.0; t * c];
        }
    }
}

/// Row stride of the per-head `[T, T]` attention matrices: T rounded up to 8 floats, so every
/// row can be processed in whole vectors.
pub fn att_stride(t_cap: usize) -> usize {
    t_cap.div_ceil(8) * 8
}

/// One inverted-dropout multiplier: 0 with probability p, else `keep` = 1/(1-p). `thr` is
/// [`dropout_threshold`]`(p)`; the result equals `if rng.uniform() < p { 0 } else { keep }`.
#[inline(always)]
fn dropout_draw(rng: &mut Rng, thr: u64, keep: f32) -> f32 {
    // uniform() is (x >> 40) · 2^-24 exactly, so `uniform < p` ⟺ `(x >> 40) < ceil(p · 2^24)`.
    if (rng.next_u64() >> 40) < thr {
        0.0
    } else {
        keep
    }
}

fn dropout_threshold(p: f32) -> u64 {
    (p as f64 * (1u64 << 24) as f64).ceil() as u64
}

/// Fills `mask` with inverted-dropout multipliers: 0 with probability p, else 1/(1-p).
fn dropout_mask(mask: &mut [f32], p: f32, rng: &mut Rng) {
    let (thr, keep) = (dropout_threshold(p), 1.0 / (1.0 - p));
    for m in mask.iter_mut() {
        *m = dropout_draw(rng, thr, keep);
    }
}

/// The attention dropout multipliers `[H, t_cap, tp]` for a sequence of `t` tokens. The random
/// stream is consumed as if a dense `[H, t_cap, t_cap]` mask were drawn in row-major order
/// (which is what earlier versions did), but only the causal entries `k ≤ q < t` are computed;
/// the others are skipped, since they multiply probabilities that are 0.
fn attention_dropout_mask(
    mask: &mut [f32],
    p: f32,
    rng: &mut Rng,
    n_head: usize,
    t: usize,
    t_cap: usize,
) {
    let tp = att_stride(t_cap);
    let (thr, keep) = (dropout_threshold(p), 1.0 / (1.0 - p));
    for h in 0..n_head {
        for q in 0..t {
            let row = &mut mask[(h * t_cap + q) * tp..][..=q];
            for m in row.iter_mut() {
                *m = dropout_draw(rng, thr, keep);
            }
            rng.skip((t_cap - q - 1) as u64);
        }
        rng.skip(((t_cap - t) * t_cap) as u64);
    }
}

impl Model {
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
        let (t, c, v, f, t_cap) = (
            ids.len(),
            cfg.n_embd,
            cfg.vocab_size,
            cfg.ffn_hidden(),
            cfg.block_size,
        );
        assert!(
            t >= 1 && t <= t_cap,
            "sequence length {t} not in 1..={t_cap}"
        );
        let p = &self.params;
        let lay = &self.layout;
        let mut dropout = dropout.filter(|_| cfg.dropout > 0.0);
        if dropout.is_some() {
            state.ensure_training_buffers(cfg);
        }
        state.t = t;
        state.dropout_active = dropout.is_some();

        // Embeddings: x[t] = wte[id] + wpe[t]   → resid[0] [T, C]
        for (pos, &id) in ids.iter().enumerate() {
            let x = &mut state.resid[0][pos * c..(pos + 1) * c];
            let te = &p[lay.wte + id as usize * c..][..c];
            let pe = &p[lay.wpe + pos * c..][..c];
            for i in 0..c {
                x[i] = te[i] + pe[i];
            }
        }

        for (l, lo) in lay.layers.iter().enumerate() {
            let (before, after) = state.resid.split_at_mut(l + 1);
            let x_in = &before[l];
            let x_out = &mut after[0];
            let a = &mut state.layers[l];
            kernels::layernorm_forward(
                &mut a.ln1,
                &mut a.ln1_mean,
                &mut a.ln1_rstd,
                x_in,
                &p[lo.ln1_w..][..c],
                &p[lo.ln1_b..][..c],
                t,
                c,
            );
            kernels::matmul_forward(
                &mut a.qkv,
                &a.ln1,
                &p[lo.qkv_w..][..3 * c * c],
                None,
                t,
                c,
                3 * c,
            );
            let att_mask = match dropout.as_deref_mut() {
                Some(rng) => {
                    attention_dropout_mask(&mut a.att_mask, cfg.dropout, rng, cfg.n_head, t, t_cap);
                    Some(&a.att_mask[..])
                }
                None => None,
            };
            kernels::attention_forward(
                AttnDims {
                    t,
                    t_cap,
                    tp: att_stride(t_cap),
                    c,
                    n_head: cfg.n_head,
                },
                &mut a.att_out,
                &mut a.att_probs,
                att_mask,
                &a.qkv,
                &mut state.att_sc,
                &mut state.att_pd,
                &mut state.att_t,
            );
            let proj = &mut state.scratch;
            kernels::matmul_forward(
                proj,
                &a.att_out,
                &p[lo.proj_w..][..c * c],
                Some(&p[lo.proj_b..][..c]),
                t,
                c,
                c,
            );
            if let Some(rng) = dropout.as_deref_mut() {
                dropout_mask(&mut a.proj_mask[..t * c], cfg.dropout, rng);
                for i in 0..t * c {
                    a.resid_mid[i] = x_in[i] + proj[i] * a.proj_mask[i];
                }
            } else {
                for i in 0..t * c {
                    a.resid_mid[i] = x_in[i] + proj[i];
                }
            }
            kernels::layernorm_forward(
                &mut a.ln2,
                &mut a.ln2_mean,
                &mut a.ln2_rstd,
                &a.resid_mid,
                &p[lo.ln2_w..][..c],
                &p[lo.ln2_b..][..c],
                t,
                c,
            );
            kernels::matmul_forward(
                &mut a.fc1,
                &a.ln2,
                &p[lo.fc1_w..][..f * c],
                Some(&p[lo.fc1_b..][..f]),
                t,
                c,
                f,
            );
            kernels::relu_forward(&mut a.relu[..t * f], &a.fc1[..t * f]);
            let mlp = &mut state.scratch;
            kernels::matmul_forward(
                mlp,
                &a.relu,
                &p[lo.fc2_w..][..c * f],
                Some(&p[lo.fc2_b..][..c]),
                t,
                f,
                c,
            );
            if let Some(rng) = dropout.as_deref_mut() {
                dropout_mask(&mut a.fc2_mask[..t * c], cfg.dropout, rng);
                for i in 0..t * c {
                    x_out[i] = a.resid_mid[i] + mlp[i] * a.fc2_mask[i];
                }
            } else {
                for i in 0..t * c {
                    x_out[i] = a.resid_mid[i] + mlp[i];
                }
            }
        }

        let x = &state.resid[cfg.n_layer];
        kernels::layernorm_forward(
            &mut state.lnf,
            &mut state.lnf_mean,
            &mut state.lnf_rstd,
            x,
            &p[lay.lnf_w..][..c],
            &p[lay.lnf_b..][..c],
            t,
            c,
        );
        kernels::matmul_forward(
            &mut state.logits,
            &state.lnf,
            &p[lay.lm_w..][..v * c],
            Some(&p[lay.lm_b..][..v]),
            t,
            c,
            v,
        );

        let targets = targets?;
        let mut loss = 0.0f64;
        for (pos, &target) in targets.iter().enumerate().take(t) {
            let row = &state.logits[pos * v..(pos + 1) * v];
            // One pass gives the softmax and log-sum-exp = max + ln Σ e^(x − max); the loss is
            // formed from the logits directly, so a tiny probability stays finite.
            let (max, sum) =
                kernels::softmax_into(row, &mut state.probs[pos * v..(pos + 1) * v], 1.0);
            loss += max as f64 + (sum as f64).ln() - row[target as usize] as f64;
        }
        Some((loss / t as f64) as f32)
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
        let cfg = &self.config;
        state.ensure_training_buffers(cfg);
        let (t, c, v, f, t_cap) = (
            state.t,
            cfg.n_embd,
            cfg.vocab_size,
            cfg.ffn_hidden(),
            cfg.block_size,
        );
        let p = &self.params;
        let lay = &self.layout;
        let dropout_on = state.dropout_active;

        // Cross-entropy (mean over T positions): d_logits = (softmax − onehot) · scale / T
        let s = loss_scale / t as f32;
        for pos in 0..t {
            let d = &mut state.d_logits[pos * v..(pos + 1) * v];
            let pr = &state.probs[pos * v..(pos + 1) * v];
            for i in 0..v {
                d[i] = pr[i] * s;
            }
            d[targets[pos] as usize] -= s;
        }
        // lm_head and ln_f
        {
            let (gw, rest) = grads[lay.lm_w..].split_at_mut(v * c);
            kernels::matmul_backward_set_dinp(
                &mut state.d_ln,
                gw,
                Some(&mut rest[lay.lm_b - lay.lm_w - v * c..][..v]),
                &state.d_logits,
                &state.lnf,
                &p[lay.lm_w..][..v * c],
                t,
                c,
                v,
            );
        }
        state.d_resid[..t * c].fill(0.0);
        {
            let (gw, gb) = two_slices(grads, lay.lnf_w, lay.lnf_b, c);
            kernels::layernorm_backward(
                &mut state.d_resid,
                gw,
                gb,
                &state.d_ln,
                &state.resid[cfg.n_layer],
                &p[lay.lnf_w..][..c],
                &state.lnf_mean,
                &state.lnf_rstd,
                t,
                c,
            );
        }

        for (l, lo) in lay.layers.iter().enumerate().rev() {
            let a = &state.layers[l];
            // x_out = resid_mid + dropout(fc2(relu)) : d_resid flows to both.
            // d_mlp = d_resid * mask  (in d_tmp)
            let d_mlp = &mut state.d_tmp;
            masked_copy(
                &mut d_mlp[..t * c],
                &state.d_resid[..t * c],
                dropout_on.then_some(&a.fc2_mask[..t * c]),
            );
            {
                let (gw, gb) = two_slices(grads, lo.fc2_w, lo.fc2_b, c * f);
                kernels::matmul_backward_set_dinp(
                    &mut state.d_relu,
                    gw,
                    Some(&mut gb[..c]),
                    d_mlp,
                    &a.relu,
                    &p[lo.fc2_w..][..c * f],
                    t,
                    f,
                    c,
                );
            }
            // ReLU backward in place: d_fc1 = d_relu where fc1 > 0, else 0.
            for (d, &x) in state.d_relu[..t * f].iter_mut().zip(&a.fc1[..t * f]) {
                *d = if x > 0.0 { *d } else { 0.0 };
            }
            {
                let (gw, gb) = two_slices(grads, lo.fc1_w, lo.fc1_b, f * c);
                kernels::matmul_backward_set_dinp(
                    &mut state.d_ln,
                    gw,
                    Some(&mut gb[..f]),
                    &state.d_relu,
                    &a.ln2,
                    &p[lo.fc1_w..][..f * c],
                    t,
                    c,
                    f,
                );
            }
            {
                let (gw, gb) = two_slices(grads, lo.ln2_w, lo.ln2_b, c);
                // d_resid (w.r.t. resid_mid) += LN2 backward
                kernels::layernorm_backward(
                    &mut state.d_resid,
                    gw,
                    gb,
                    &state.d_ln,
                    &a.resid_mid,
                    &p[lo.ln2_w..][..c],
                    &a.ln2_mean,
                    &a.ln2_rstd,
                    t,
                    c,
                );
            }
            // resid_mid = x_in + dropout(proj(att_out))
            let d_proj = &mut state.d_tmp;
            masked_copy(
                &mut d_proj[..t * c],
                &state.d_resid[..t * c],
                dropout_on.then_some(&a.proj_mask[..t * c]),
            );
            {
                let (gw, gb) = two_slices(grads, lo.proj_w, lo.proj_b, c * c);
                kernels::matmul_backward_set_dinp(
                    &mut state.d_att_out,
                    gw,
                    Some(&mut gb[..c]),
                    d_proj,
                    &a.att_out,
                    &p[lo.proj_w..][..c * c],
                    t,
                    c,
                    c,
                );
            }
            kernels::attention_backward(
                AttnDims {
                    t,
                    t_cap,
                    tp: att_stride(t_cap),
                    c,
                    n_head: cfg.n_head,
                },
                &mut state.d_qkv,
                &state.d_att_out,
                &a.qkv,
                &a.att_probs,
                if dropout_on { Some(&a.att_mask) } else { None },
                &mut state.att_sc,
                &mut state.att_ds,
                &mut state.att_pd,
                &mut state.att_t,
            );
            kernels::matmul_backward_set_dinp(
                &mut state.d_ln,
                &mut grads[lo.qkv_w..][..3 * c * c],
                None,
                &state.d_qkv,
                &a.ln1,
                &p[lo.qkv_w..][..3 * c * c],
                t,
                c,
                3 * c,
            );
            {
                let (gw, gb) = two_slices(grads, lo.ln1_w, lo.ln1_b, c);
                kernels::layernorm_backward(
                    &mut state.d_resid,
                    gw,
                    gb,
                    &state.d_ln,
                    &state.resid[l],
                    &p[lo.ln1_w..][..c],
                    &a.ln1_mean,
                    &a.ln1_rstd,
                    t,
                    c,
                );
            }
        }

        // Embeddings
        for (pos, &id) in ids[..t].iter().enumerate() {
            let d = &state.d_resid[pos * c..(pos + 1) * c];
            let gte = &mut grads[lay.wte + id as usize * c..][..c];
            for i in 0..c {
                gte[i] += d[i];
            }
            let gpe = &mut grads[lay.wpe + pos * c..][..c];
            for i in 0..c {
                gpe[i] += d[i];
            }
        }
    }
}

/// out = inp · mask (the dropout multipliers), or a plain copy without a mask.
fn masked_copy(out: &mut [f32], inp: &[f32], mask: Option<&[f32]>) {
    match mask {
        Some(m) => {
            for ((o, x), k) in out.iter_mut().zip(inp).zip(m) {
                *o = x * k;
            }
        }
        None => out.copy_from_slice(inp),
    }
}

/// Two disjoint mutable sub-slices of `buf`: `[a, a+len_a)` and `[b, ..)` with `a + len_a <= b`.
fn two_slices(buf: &mut [f32], a: usize, b: usize, len_a: usize) -> (&mut [f32], &mut [f32]) {
    assert!(a + len_a <= b);
    let (lo, hi) = buf.split_at_mut(b);
    (&mut lo[a..a + len_a], hi)
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
