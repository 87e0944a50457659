//! Every activation of one sequence of up to `block_size` positions (llama2.c's `RunState`),
//! allocated once from the config. Buffers are indexed by position: row `pos` of a `[T, X]`
//! buffer belongs to position `pos`, whichever pass (training, eval, KV-cache step) wrote it.

use super::Knockout;
use crate::config::Config;

/// One LayerNorm's output `[T, C]` and the statistics its backward needs (`[T]` each).
#[derive(Clone, Debug)]
pub struct Normed {
    pub out: Vec<f32>,
    pub mean: Vec<f32>,
    pub rstd: Vec<f32>,
}

impl Normed {
    pub(crate) fn new(t: usize, c: usize) -> Normed {
        Normed {
            out: vec![0.0; t * c],
            mean: vec![0.0; t],
            rstd: vec![0.0; t],
        }
    }
    fn floats(&self) -> usize {
        self.out.len() + self.mean.len() + self.rstd.len()
    }
}

/// Activations of one block (`T` = block_size).
#[derive(Clone, Debug)]
pub struct LayerActs {
    /// LayerNorm 1 of the block's input.
    pub ln1: Normed,
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
    pub ln2: Normed,
    /// `[T, 4C]` pre-activation and ReLU output of the MLP.
    pub fc1: Vec<f32>,
    pub relu: Vec<f32>,
    /// `[T, C]` dropout multipliers after the MLP (training only).
    pub fc2_mask: Vec<f32>,
}

/// Buffers a block reuses from layer to layer (forward; the attention ones in backward too).
#[derive(Clone, Debug)]
pub(crate) struct Scratch {
    /// `[T, C]` projection or MLP output before its residual add.
    pub out: Vec<f32>,
    /// Attention scores / d(probs) `[T, Tp]`.
    pub att_sc: Vec<f32>,
    /// Dropped-out probabilities `[T, Tp]` (training; upper triangle kept at 0).
    pub att_pd: Vec<f32>,
    /// One head's keys or values transposed `[hs, Tp]`.
    pub att_t: Vec<f32>,
}

/// Gradient buffers of the backward pass (allocated by the first training forward/backward).
#[derive(Clone, Debug, Default)]
pub(crate) struct GradScratch {
    /// `[T, C]` gradient of the residual stream, flowing from the head down to the embedding.
    pub d_resid: Vec<f32>,
    /// `[T, C]` gradient of a LayerNorm's output.
    pub d_ln: Vec<f32>,
    pub d_qkv: Vec<f32>,
    pub d_att_out: Vec<f32>,
    /// `[T, 4C]` gradient of the ReLU output, then (in place) of its input.
    pub d_relu: Vec<f32>,
    pub d_logits: Vec<f32>,
    /// `[T, C]` gradient of a sub-block's output before its dropout.
    pub d_tmp: Vec<f32>,
    /// d(scores) `[T, Tp]` (upper triangle kept at 0).
    pub att_ds: Vec<f32>,
}

/// Every buffer one sequence's forward and backward needs.
#[derive(Clone, Debug)]
pub struct RunState {
    /// Positions of the last forward.
    pub t: usize,
    /// Whether the last forward drew dropout masks (training mode).
    pub dropout_active: bool,
    /// Heads whose output the forward replaces by zeros (see [`super::Knockout`]; none by default).
    pub knockout: Knockout,
    /// Residual stream entering each layer and leaving the last: `L+1` × `[T, C]`.
    pub resid: Vec<Vec<f32>>,
    pub layers: Vec<LayerActs>,
    /// Final LayerNorm.
    pub ln_f: Normed,
    /// `[T, V]` logits, then (after a forward with targets) the softmax probabilities in `probs`.
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
    pub(crate) scratch: Scratch,
    pub(crate) grad: GradScratch,
}

/// Row stride of the per-head `[T, T]` attention matrices: T rounded up to 8 floats, so every
/// row can be processed in whole vectors.
pub fn att_stride(t_cap: usize) -> usize {
    t_cap.div_ceil(8) * 8
}

impl LayerActs {
    fn new(cfg: &Config) -> LayerActs {
        let (t, c, h, f) = (cfg.block_size, cfg.n_embd, cfg.n_head, cfg.ffn_hidden());
        LayerActs {
            ln1: Normed::new(t, c),
            qkv: vec![0.0; t * 3 * c],
            att_probs: vec![0.0; h * t * att_stride(t)],
            att_mask: Vec::new(),
            att_out: vec![0.0; t * c],
            proj_mask: Vec::new(),
            resid_mid: vec![0.0; t * c],
            ln2: Normed::new(t, c),
            fc1: vec![0.0; t * f],
            relu: vec![0.0; t * f],
            fc2_mask: Vec::new(),
        }
    }
}

impl RunState {
    pub fn new(cfg: &Config) -> RunState {
        let (t, c, v) = (cfg.block_size, cfg.n_embd, cfg.vocab_size);
        RunState {
            t: 0,
            dropout_active: false,
            knockout: Knockout::none(),
            // Built one by one, not cloned: zeroed allocations come from the allocator as
            // untouched zero pages, so a KV cache only pays for the rows it uses.
            resid: (0..=cfg.n_layer).map(|_| vec![0.0; t * c]).collect(),
            layers: (0..cfg.n_layer).map(|_| LayerActs::new(cfg)).collect(),
            ln_f: Normed::new(t, c),
            logits: vec![0.0; t * v],
            probs: vec![0.0; t * v],
            scratch: Scratch {
                out: vec![0.0; t * c],
                att_sc: vec![0.0; t * att_stride(t)],
                att_pd: Vec::new(),
                att_t: vec![0.0; cfg.head_size() * att_stride(t)],
            },
            grad: GradScratch::default(),
        }
    }

    /// Copies the attention probabilities of the last forward out as `[L, H, T, T]`
    /// (the buffers are `[H, block_size, Tp]` per layer; rows and columns past T dropped).
    pub fn attention_probs(&self, t: usize) -> Vec<f32> {
        self.attention_rows(0, t)
    }

    /// Attention of queries `from..t` as `[L, H, t − from, t]`.
    pub(crate) fn attention_rows(&self, from: usize, t: usize) -> Vec<f32> {
        let t_cap = self.ln_f.mean.len();
        let tp = att_stride(t_cap);
        let mut out = Vec::new();
        for l in &self.layers {
            for head_rows in l.att_probs.chunks_exact(t_cap * tp) {
                for q in from..t {
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
            let plain = [
                &l.qkv,
                &l.att_probs,
                &l.att_mask,
                &l.att_out,
                &l.proj_mask,
                &l.resid_mid,
                &l.fc1,
                &l.relu,
                &l.fc2_mask,
            ];
            l.ln1.floats() + l.ln2.floats() + plain.iter().map(|b| b.len()).sum::<usize>()
        };
        let (s, g) = (&self.scratch, &self.grad);
        let own = [
            &self.logits,
            &self.probs,
            &s.out,
            &s.att_sc,
            &s.att_pd,
            &s.att_t,
            &g.d_resid,
            &g.d_ln,
            &g.d_qkv,
            &g.d_att_out,
            &g.d_relu,
            &g.d_logits,
            &g.d_tmp,
            &g.att_ds,
        ];
        self.resid.iter().map(Vec::len).sum::<usize>()
            + self.layers.iter().map(layer).sum::<usize>()
            + self.ln_f.floats()
            + own.iter().map(|b| b.len()).sum::<usize>()
    }

    /// Allocates the dropout masks and gradient buffers (once).
    pub(crate) fn ensure_training_buffers(&mut self, cfg: &Config) {
        let (t, c, h, v, f) = (
            cfg.block_size,
            cfg.n_embd,
            cfg.n_head,
            cfg.vocab_size,
            cfg.ffn_hidden(),
        );
        if self.grad.d_resid.len() == t * c {
            return;
        }
        self.grad = GradScratch {
            d_resid: vec![0.0; t * c],
            d_ln: vec![0.0; t * c],
            d_qkv: vec![0.0; t * 3 * c],
            d_att_out: vec![0.0; t * c],
            d_relu: vec![0.0; t * f],
            d_logits: vec![0.0; t * v],
            d_tmp: vec![0.0; t * c],
            att_ds: vec![0.0; t * att_stride(t)],
        };
        self.scratch.att_pd = vec![0.0; t * att_stride(t)];
        for l in &mut self.layers {
            l.att_mask = vec![0.0; h * t * att_stride(t)];
            l.proj_mask = vec![0.0; t * c];
            l.fc2_mask = vec![0.0; t * c];
        }
    }
}
