//! Model hyper-parameters: the six numbers of gpt.py, validated once so the rest of the code can trust them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Upper bounds that keep every buffer the model allocates far below a browser tab's memory.
/// With all bounds at their maximum the parameters alone would be ~2 GB, so the product check is
/// on the parameter count and the attention buffer, below.
pub const MAX_VOCAB: usize = 65_536;
pub const MAX_EMBD: usize = 4_096;
pub const MAX_HEADS: usize = 256;
pub const MAX_LAYERS: usize = 64;
pub const MAX_BLOCK: usize = 4_096;
/// At most 64 M parameters (256 MB of f32).
pub const MAX_PARAMS: usize = 64 << 20;
/// At most 64 M f32 for the attention probabilities of one sequence (`L·H·T·T`).
pub const MAX_ATTENTION: usize = 64 << 20;
/// At most 128 M f32 (512 MB) for every activation and gradient buffer of one sequence
/// (`RunState` with its training buffers, see [`Config::activation_floats`]). Without this a
/// config inside every other bound (e.g. vocab 65,536 with block 4,096) would ask for ~3 GB of
/// `[T, V]` logits, probabilities and their gradient.
pub const MAX_ACTIVATIONS: usize = 128 << 20;

/// gpt.py's hyper-parameters. `dropout` is only used in training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_layer: usize,
    pub block_size: usize,
    pub dropout: f32,
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The product: 4 layers × 4 heads × 16 dims, block 128, dropout 0.1.
    pub fn product(vocab_size: usize) -> Config {
        Config {
            vocab_size,
            n_embd: 64,
            n_head: 4,
            n_layer: 4,
            block_size: 128,
            dropout: 0.1,
        }
    }

    /// Dimensions of one attention head.
    pub fn head_size(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Hidden width of the MLP (gpt.py: 4 · n_embd).
    pub fn ffn_hidden(&self) -> usize {
        4 * self.n_embd
    }

    /// Checks every bound; the error names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("n_embd", self.n_embd, MAX_EMBD),
            ("n_head", self.n_head, MAX_HEADS),
            ("n_layer", self.n_layer, MAX_LAYERS),
            ("block_size", self.block_size, MAX_BLOCK),
        ];
        for (name, value, max) in fields {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be > 0")));
            }
            if value > max {
                return Err(ConfigError(format!(
                    "{name} = {value} exceeds the limit {max}"
                )));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return Err(ConfigError(format!(
                "n_embd ({}) must be divisible by n_head ({})",
                self.n_embd, self.n_head
            )));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(ConfigError(format!(
                "dropout = {} must be in [0, 1)",
                self.dropout
            )));
        }
        let params = self.param_count_u128();
        if params > MAX_PARAMS as u128 {
            return Err(ConfigError(format!(
                "{params} parameters exceed the limit {MAX_PARAMS}"
            )));
        }
        let attention = (self.n_layer * self.n_head) as u128 * (self.block_size as u128).pow(2);
        if attention > MAX_ATTENTION as u128 {
            return Err(ConfigError(format!(
                "attention buffer n_layer·n_head·block_size² = {attention} exceeds the limit {MAX_ATTENTION}"
            )));
        }
        let activations = self.activation_floats_u128();
        if activations > MAX_ACTIVATIONS as u128 {
            return Err(ConfigError(format!(
                "activation buffers of one sequence ({activations} values for block_size {}, \
                 vocab_size {}, n_embd {}, n_layer {}) exceed the limit {MAX_ACTIVATIONS}",
                self.block_size, self.vocab_size, self.n_embd, self.n_layer
            )));
        }
        Ok(())
    }

    /// An upper estimate of the f32 values one sequence's forward + backward buffers hold
    /// (`model::RunState` with its training buffers): per layer ~20·T·C + 2·H·T·Tp (attention
    /// probabilities and dropout mask; Tp = T rounded up to 8, the row stride) + 4·T, plus
    /// the residual streams, 3·T·V for logits, probabilities and their gradient, and the
    /// attention scratch shared by all layers: scores, their gradient and the probability
    /// gradient (3·T·Tp) and one transposed key block (head_size·Tp).
    fn activation_floats_u128(&self) -> u128 {
        let (v, c, h, l, t) = (
            self.vocab_size as u128,
            self.n_embd as u128,
            self.n_head as u128,
            self.n_layer as u128,
            self.block_size as u128,
        );
        let tp = t.div_ceil(8) * 8;
        let head_size = c / h.max(1);
        let per_layer = 20 * t * c + 2 * h * t * tp + 4 * t;
        let attention_scratch = 3 * t * tp + head_size * tp;
        l * per_layer + (l + 1) * t * c + 17 * t * c + 3 * t * v + 4 * t + c + attention_scratch
    }

    /// See [`MAX_ACTIVATIONS`]; meaningful once [`Config::validate`] has passed.
    pub fn activation_floats(&self) -> usize {
        self.activation_floats_u128() as usize
    }

    fn param_count_u128(&self) -> u128 {
        let (v, c, l, t) = (
            self.vocab_size as u128,
            self.n_embd as u128,
            self.n_layer as u128,
            self.block_size as u128,
        );
        let per_layer = 3 * c * c   // key, query, value (no bias)
            + c * c + c             // proj
            + 4 * c * c + 4 * c     // ffwd.net.0
            + 4 * c * c + c         // ffwd.net.2
            + 4 * c; // ln1, ln2
        v * c + t * c + l * per_layer + 2 * c + v * c + v
    }

    /// Number of trainable parameters (gpt.py's `sum(p.numel() for p in model.parameters())`).
    pub fn param_count(&self) -> usize {
        self.param_count_u128() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_count_matches_gpt_py() {
        // gpt.py prints 0.209729 M parameters for the Shakespeare vocabulary (65) with block 32.
        let cfg = Config {
            vocab_size: 65,
            block_size: 32,
            ..Config::product(65)
        };
        assert_eq!(cfg.param_count(), 209_729);
    }

    #[test]
    fn rejects_bad_configs() {
        let ok = Config::product(89);
        assert!(ok.validate().is_ok());
        let bad = Config { n_head: 3, ..ok };
        assert!(bad.validate().unwrap_err().0.contains("divisible"));
        let bad = Config { n_layer: 0, ..ok };
        assert!(bad.validate().unwrap_err().0.contains("n_layer"));
        let bad = Config { dropout: 1.0, ..ok };
        assert!(bad.validate().is_err());
        let bad = Config {
            dropout: f32::NAN,
            ..ok
        };
        assert!(bad.validate().is_err());
        let bad = Config {
            n_embd: 4096,
            n_head: 4,
            n_layer: 64,
            ..ok
        };
        assert!(bad.validate().unwrap_err().0.contains("parameters"));
    }

    /// Regression: every single bound held, but one sequence's `[T, V]` buffers alone were
    /// 3 × 4096 × 65536 f32 = 3 GB, allocated by `RunState::new` before any check.
    #[test]
    fn rejects_configs_whose_activations_are_absurd() {
        let bad = Config {
            vocab_size: MAX_VOCAB,
            n_embd: 1,
            n_head: 1,
            n_layer: 1,
            block_size: MAX_BLOCK,
            dropout: 0.0,
        };
        assert!(bad.param_count() <= MAX_PARAMS);
        let e = bad.validate().unwrap_err().0;
        assert!(e.contains("activation buffers"), "{e}");
        // The product and the largest vocabulary at the product's shape stay well inside.
        assert!(Config::product(89).validate().is_ok());
        assert!(Config::product(MAX_VOCAB).validate().is_ok());
        assert!(Config::product(89).activation_floats() < MAX_ACTIVATIONS / 50);
    }
}
