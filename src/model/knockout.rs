//! Head knock-out: a set of attention heads whose output — the head's attention-weighted sum of
//! values, `[T, hs]` — is replaced by zeros before the output projection. The head's own
//! attention pattern is still computed (and shown); what changes is what the rest of the
//! model receives from it. Knocking out every head of a layer removes that layer's attention
//! (its projection bias is all that is left of the sub-block).
//!
//! The set lives in [`super::RunState::knockout`], and [`super::block::forward`] applies it, so
//! the eval forward, the KV cache and bits per character all honour it.
//!
//! ```
//! use kgpt::config::Config;
//! use kgpt::model::Knockout;
//! let cfg = Config { vocab_size: 10, n_embd: 8, n_head: 4, n_layer: 2, block_size: 8, dropout: 0.0 };
//! let k = Knockout::parse("1.3, 0.0", &cfg).unwrap();
//! assert_eq!(k.to_string(), "0.0,1.3");
//! assert!(k.contains(1, 3) && !k.contains(1, 2));
//! assert!(Knockout::parse("2.0", &cfg).unwrap_err().0.contains("layers 0..=1"));
//! assert!(Knockout::parse("", &cfg).unwrap().is_empty());
//! ```

use super::InputError;
use crate::config::Config;
use std::fmt;

/// A set of (layer, head) pairs to knock out (0-based). The default is the empty set.
#[derive(Clone, Debug, Default)]
pub struct Knockout {
    n_head: usize,
    /// `[L, H]` flags; empty when nothing is knocked out.
    heads: Vec<bool>,
}

impl Knockout {
    /// Nothing knocked out.
    pub fn none() -> Knockout {
        Knockout::default()
    }

    /// The given heads (each `(layer, head)` must exist in `cfg`; duplicates are refused).
    pub fn from_heads(cfg: &Config, heads: &[(usize, usize)]) -> Result<Knockout, InputError> {
        let mut k = Knockout {
            n_head: cfg.n_head,
            heads: vec![false; cfg.n_layer * cfg.n_head],
        };
        for &(l, h) in heads {
            if l >= cfg.n_layer || h >= cfg.n_head {
                return Err(out_of_range(&format!("{l}.{h}"), cfg));
            }
            if std::mem::replace(&mut k.heads[l * cfg.n_head + h], true) {
                return Err(InputError(format!("head {l}.{h} is listed twice")));
            }
        }
        if heads.is_empty() {
            k.heads.clear();
        }
        Ok(k)
    }

    /// Every head of `layer`.
    pub fn layer_of(cfg: &Config, layer: usize) -> Result<Knockout, InputError> {
        let heads: Vec<_> = (0..cfg.n_head).map(|h| (layer, h)).collect();
        Knockout::from_heads(cfg, &heads)
    }

    /// Parses `"L.H,L.H,…"` (0-based layer.head, any order, spaces allowed around entries).
    /// An empty or all-blank string is the empty set; an empty entry ("0.1,,2.3"), a malformed
    /// one, a head outside the model or a duplicate is an error that names it.
    pub fn parse(spec: &str, cfg: &Config) -> Result<Knockout, InputError> {
        if spec.trim().is_empty() {
            return Ok(Knockout::none());
        }
        let mut heads = Vec::new();
        for entry in spec.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(InputError(format!(
                    "empty entry in the head list {spec:?}: write L.H,L.H (0-based layer.head)"
                )));
            }
            let parsed = entry
                .split_once('.')
                .and_then(|(l, h)| Some((l.parse::<usize>().ok()?, h.parse::<usize>().ok()?)));
            match parsed {
                Some(pair) => heads.push(pair),
                None if entry.split_once('.').is_some_and(|(l, h)| {
                    !l.is_empty()
                        && !h.is_empty()
                        && l.chars().chain(h.chars()).all(|c| c.is_ascii_digit())
                }) =>
                {
                    return Err(out_of_range(entry, cfg));
                }
                None => {
                    return Err(InputError(format!(
                        "{entry:?} is not a head: write L.H (0-based layer.head, e.g. 0.1), with layers 0..={} and heads 0..={}",
                        cfg.n_layer.saturating_sub(1),
                        cfg.n_head.saturating_sub(1)
                    )))
                }
            }
        }
        Knockout::from_heads(cfg, &heads)
    }

    pub fn is_empty(&self) -> bool {
        !self.heads.iter().any(|&k| k)
    }

    pub fn contains(&self, layer: usize, head: usize) -> bool {
        self.heads
            .get(layer * self.n_head + head)
            .copied()
            .unwrap_or(false)
            && head < self.n_head
    }

    /// The knocked-out flags of `layer`'s heads (an empty slice when nothing is knocked out).
    pub fn layer(&self, layer: usize) -> &[bool] {
        if self.heads.is_empty() {
            return &[];
        }
        &self.heads[layer * self.n_head..][..self.n_head]
    }

    /// The knocked-out heads, sorted by layer then head.
    pub fn heads(&self) -> Vec<(usize, usize)> {
        let n = self.n_head.max(1);
        (0..self.heads.len())
            .filter(|&i| self.heads[i])
            .map(|i| (i / n, i % n))
            .collect()
    }
}

/// Two sets are equal when they knock out the same heads.
impl PartialEq for Knockout {
    fn eq(&self, other: &Knockout) -> bool {
        self.heads() == other.heads()
    }
}

impl Eq for Knockout {}

/// Canonical form: `"L.H,…"` sorted, `""` when empty (what the page's `data-knocked-out` and
/// URL hash carry).
impl fmt::Display for Knockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self
            .heads()
            .iter()
            .map(|(l, h)| format!("{l}.{h}"))
            .collect();
        f.write_str(&list.join(","))
    }
}

fn out_of_range(entry: &str, cfg: &Config) -> InputError {
    InputError(format!(
        "head {entry} does not exist: this model has layers 0..={} and heads 0..={} (0-based L.H)",
        cfg.n_layer.saturating_sub(1),
        cfg.n_head.saturating_sub(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            vocab_size: 10,
            n_embd: 8,
            n_head: 4,
            n_layer: 4,
            block_size: 8,
            dropout: 0.0,
        }
    }

    #[test]
    fn parses_and_prints_the_canonical_form() {
        let k = Knockout::parse("3.1,0.2 , 1.0", &cfg()).unwrap();
        assert_eq!(k.heads(), vec![(0, 2), (1, 0), (3, 1)]);
        assert_eq!(k.to_string(), "0.2,1.0,3.1");
        assert_eq!(k.layer(0), &[false, false, true, false]);
        assert_eq!(k.layer(2), &[false; 4]);
        assert!(Knockout::none().layer(3).is_empty());
        assert_eq!(Knockout::none().to_string(), "");
        let whole = Knockout::layer_of(&cfg(), 2).unwrap();
        assert_eq!(whole.to_string(), "2.0,2.1,2.2,2.3");
    }

    #[test]
    fn refuses_bad_entries_with_the_valid_range() {
        let c = cfg();
        for (spec, needle) in [
            ("9.9", "does not exist"),
            ("4.0", "layers 0..=3"),
            ("0.4", "heads 0..=3"),
            ("x", "is not a head"),
            ("1", "is not a head"),
            ("1.", "is not a head"),
            ("-1.0", "is not a head"),
            ("0.1,,2.3", "empty entry"),
            ("0.1,", "empty entry"),
            ("0.1,0.1", "listed twice"),
            ("99999999999999999999999.0", "does not exist"),
        ] {
            let err = Knockout::parse(spec, &c).unwrap_err().0;
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }
}
