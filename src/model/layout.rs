//! Where every parameter lives in the one flat buffer (shared by weights, gradients and AdamW
//! moments), and each tensor's gpt.py state-dict name.

use crate::config::Config;

/// A LayerNorm's weight and bias, `[len]` each.
#[derive(Clone, Copy, Debug)]
pub struct NormOffsets {
    pub weight: usize,
    pub bias: usize,
    pub len: usize,
}

impl NormOffsets {
    pub fn weight<'a>(&self, p: &'a [f32]) -> &'a [f32] {
        &p[self.weight..][..self.len]
    }
    pub fn bias<'a>(&self, p: &'a [f32]) -> &'a [f32] {
        &p[self.bias..][..self.len]
    }
}

/// A Linear layer: weight `[n_out, n_in]` (PyTorch layout) and optional bias `[n_out]`, stored
/// after the weight.
#[derive(Clone, Copy, Debug)]
pub struct LinearOffsets {
    pub weight: usize,
    pub bias: Option<usize>,
    pub n_in: usize,
    pub n_out: usize,
}

impl LinearOffsets {
    pub fn weight<'a>(&self, p: &'a [f32]) -> &'a [f32] {
        &p[self.weight..][..self.n_in * self.n_out]
    }
    pub fn bias<'a>(&self, p: &'a [f32]) -> Option<&'a [f32]> {
        self.bias.map(|b| &p[b..][..self.n_out])
    }
    /// The weight's range of the flat buffer.
    pub fn weight_range(&self) -> std::ops::Range<usize> {
        self.weight..self.weight + self.n_in * self.n_out
    }
}

/// Offsets of one block's tensors in the flat parameter buffer.
///
/// The query, key and value weights of all heads sit in one `[3C, C]` matrix (`qkv`): rows
/// `h·hs..(h+1)·hs` are head h's query, then `C + ...` its key, then `2C + ...` its value. Each
/// head's `(hs, C)` weight is therefore a contiguous slice, and one matmul computes all of them.
#[derive(Clone, Debug)]
pub struct LayerOffsets {
    pub ln1: NormOffsets,
    pub qkv: LinearOffsets,
    pub proj: LinearOffsets,
    pub ln2: NormOffsets,
    pub fc1: LinearOffsets,
    pub fc2: LinearOffsets,
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

/// Where each parameter lives in the flat buffer.
#[derive(Clone, Debug)]
pub struct ParamLayout {
    /// Token embedding `[V, C]` and position embedding `[block_size, C]`.
    pub wte: usize,
    pub wpe: usize,
    pub layers: Vec<LayerOffsets>,
    pub ln_f: NormOffsets,
    pub lm_head: LinearOffsets,
    pub total: usize,
    /// Every tensor with its gpt.py name, in gpt.py's `state_dict()` order.
    pub tensors: Vec<TensorSpec>,
}

/// Hands out consecutive offsets of the flat buffer.
struct Allocator(usize);

impl Allocator {
    fn take(&mut self, n: usize) -> usize {
        self.0 += n;
        self.0 - n
    }
    fn norm(&mut self, len: usize) -> NormOffsets {
        let weight = self.take(len);
        NormOffsets {
            weight,
            bias: self.take(len),
            len,
        }
    }
    fn linear(&mut self, n_in: usize, n_out: usize, bias: bool) -> LinearOffsets {
        let weight = self.take(n_in * n_out);
        LinearOffsets {
            weight,
            bias: bias.then(|| self.take(n_out)),
            n_in,
            n_out,
        }
    }
}

impl ParamLayout {
    pub fn new(cfg: &Config) -> ParamLayout {
        let (v, c, t) = (cfg.vocab_size, cfg.n_embd, cfg.block_size);
        let f = cfg.ffn_hidden();
        let mut at = Allocator(0);
        let mut tensors = Vec::new();
        let wte = at.take(v * c);
        tensors.push(spec("token_embedding_table.weight", vec![v, c], wte));
        let wpe = at.take(t * c);
        tensors.push(spec("position_embedding_table.weight", vec![t, c], wpe));
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            // Allocation order = our buffer order (ln1, qkv, proj, ln2, fc1, fc2).
            let l = LayerOffsets {
                ln1: at.norm(c),
                qkv: at.linear(c, 3 * c, false),
                proj: at.linear(c, c, true),
                ln2: at.norm(c),
                fc1: at.linear(c, f, true),
                fc2: at.linear(f, c, true),
            };
            block_tensors(&mut tensors, cfg, i, &l);
            layers.push(l);
        }
        let ln_f = at.norm(c);
        let lm_head = at.linear(c, v, true);
        norm_tensors(&mut tensors, "ln_f", &ln_f);
        linear_tensors(&mut tensors, "lm_head", &lm_head);
        ParamLayout {
            wte,
            wpe,
            layers,
            ln_f,
            lm_head,
            total: at.0,
            tensors,
        }
    }

    pub fn find(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn spec(name: impl Into<String>, shape: Vec<usize>, offset: usize) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape,
        offset,
    }
}

fn norm_tensors(out: &mut Vec<TensorSpec>, name: &str, n: &NormOffsets) {
    out.push(spec(format!("{name}.weight"), vec![n.len], n.weight));
    out.push(spec(format!("{name}.bias"), vec![n.len], n.bias));
}

fn linear_tensors(out: &mut Vec<TensorSpec>, name: &str, l: &LinearOffsets) {
    out.push(spec(
        format!("{name}.weight"),
        vec![l.n_out, l.n_in],
        l.weight,
    ));
    if let Some(b) = l.bias {
        out.push(spec(format!("{name}.bias"), vec![l.n_out], b));
    }
}

/// Block `i`'s tensors in gpt.py's `state_dict()` order: per head key, query, value (slices of
/// the `[3C, C]` qkv weight), then proj, ffwd, ln1, ln2.
fn block_tensors(out: &mut Vec<TensorSpec>, cfg: &Config, i: usize, l: &LayerOffsets) {
    let (c, hs) = (cfg.n_embd, cfg.head_size());
    let p = format!("blocks.{i}.");
    for head in 0..cfg.n_head {
        for (kind, base) in [("key", c), ("query", 0), ("value", 2 * c)] {
            let offset = l.qkv.weight + (base + head * hs) * c;
            out.push(spec(
                format!("{p}sa.heads.{head}.{kind}.weight"),
                vec![hs, c],
                offset,
            ));
        }
    }
    linear_tensors(out, &format!("{p}sa.proj"), &l.proj);
    linear_tensors(out, &format!("{p}ffwd.net.0"), &l.fc1);
    linear_tensors(out, &format!("{p}ffwd.net.2"), &l.fc2);
    norm_tensors(out, &format!("{p}ln1"), &l.ln1);
    norm_tensors(out, &format!("{p}ln2"), &l.ln2);
}

/// Two disjoint mutable sub-slices of `buf`: `[a, a+len_a)` and `[b, ..)` with `a + len_a <= b`.
pub(crate) fn two_slices(
    buf: &mut [f32],
    a: usize,
    b: usize,
    len_a: usize,
) -> (&mut [f32], &mut [f32]) {
    assert!(a + len_a <= b);
    let (lo, hi) = buf.split_at_mut(b);
    (&mut lo[a..a + len_a], hi)
}
