//! Reading the model from the page: head knock-out, bits per character on a text, head scores
//! and roles, the logit lens, the embedding map and the held-out loss of in-page training.
//! Definitions: `crate::analysis` and `crate::model::Knockout` (the same code as `kgpt heads`,
//! `kgpt eval --ablate`, `kgpt forward --logit-lens`, `kgpt embeddings`).

use super::model::Model;
use super::{js_err, lib, softmax_row};
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

impl Model {
    /// Total nats and predicted characters of windows of `ids` (non-overlapping, block_size,
    /// at most `max_windows`; one shorter window for a short text), with `knockout`.
    fn window_nats(
        &mut self,
        ids: &[u32],
        max_windows: usize,
        knockout: lib::Knockout,
    ) -> Result<(f64, usize), JsError> {
        let windows = lib::text_windows(ids, self.core.config.block_size, max_windows, true)
            .map_err(js_err)?;
        let kept = std::mem::replace(&mut self.state.knockout, knockout);
        let (mut nats, mut predicted) = (0.0f64, 0usize);
        for w in windows {
            let (inputs, targets) = (&w[..w.len() - 1], &w[1..]);
            let loss = self
                .core
                .forward(&mut self.state, inputs, Some(targets), None)
                .unwrap_or(f32::NAN);
            nats += loss as f64 * inputs.len() as f64;
            predicted += inputs.len();
        }
        self.state.knockout = kept;
        Ok((nats, predicted))
    }
}

#[wasm_bindgen]
impl Model {
    /// Knocks out heads from now on: `spec` = "" (none) or "L.H,L.H,…" (0-based layer.head).
    /// A head's output (its attention-weighted sum of values) becomes zeros before the output
    /// projection; its own attention pattern is unchanged. Applies to `forward`, `nextProbs`,
    /// `logitLens`, `bitsPerChar(…, true)` and every `KvCache` synced with this model.
    /// Throws (naming the valid range) on a bad or duplicate entry; the set is then unchanged.
    #[wasm_bindgen(js_name = setKnockout)]
    pub fn set_knockout(&mut self, spec: &str) -> Result<(), JsError> {
        let knockout = lib::Knockout::parse(spec, &self.core.config).map_err(js_err)?;
        self.state.knockout = knockout;
        Ok(())
    }

    /// The knock-out set, canonical: "L.H,…" sorted by layer then head, "" when none.
    #[wasm_bindgen(getter)]
    pub fn knockout(&self) -> String {
        self.state.knockout.to_string()
    }

    /// Mean bits per predicted character over the text's first `maxWindows` non-overlapping
    /// windows of block_size (each predicting its next characters; a text shorter than
    /// block_size + 1 known characters is one window). `withKnockout = false` measures the
    /// intact model. Throws if the text has fewer than 3 known characters.
    #[wasm_bindgen(js_name = bitsPerChar)]
    pub fn bits_per_char(
        &mut self,
        text: &str,
        max_windows: usize,
        with_knockout: bool,
    ) -> Result<f64, JsError> {
        let ids = self.tokenizer.encode(text).ids;
        let knockout = if with_knockout {
            self.state.knockout.clone()
        } else {
            lib::Knockout::none()
        };
        let (nats, predicted) = self.window_nats(&ids, max_windows, knockout)?;
        Ok(nats / std::f64::consts::LN_2 / predicted as f64)
    }

    /// Every head's scores and role on the text's first `maxWindows` windows (a short text:
    /// one shorter window, ≥ 3 known characters), intact model, as JSON
    /// `{"windows", "bits_per_char", "heads": [{"layer", "head", "prev_char", "self", "first",
    /// "mean_distance", "entropy_bits", "same_akshara", "conjunct", "word_start", "induction",
    /// "knockout_bits", "role", "role_score", …}]}`. Costs 1 + n_layer·n_head forwards per window.
    #[wasm_bindgen(js_name = headScores)]
    pub fn head_scores(&mut self, text: &str, max_windows: usize) -> Result<String, JsError> {
        let ids = self.tokenizer.encode(text).ids;
        let windows = lib::text_windows(&ids, self.core.config.block_size, max_windows, true)
            .map_err(js_err)?;
        let report =
            lib::score_heads(&self.core, self.tokenizer.chars(), &windows).map_err(js_err)?;
        Ok(report.to_json().to_string())
    }

    /// The logit lens at `position` of the (cropped) ids, as probabilities `[n_layer, V]`: row
    /// l = softmax(lm_head(ln_f(x_l))), x_l the residual stream after block l. The last row is
    /// the model's output (`nextProbs` when `position` is the last). Current knock-out set.
    #[wasm_bindgen(js_name = logitLens)]
    pub fn logit_lens(&mut self, ids: &[u32], position: usize) -> Result<Float32Array, JsError> {
        let tokens = self.run(ids)?.len();
        if position >= tokens {
            return Err(js_err(format!(
                "position {position} is outside the {tokens} positions read"
            )));
        }
        let v = self.core.config.vocab_size;
        let lens = self.core.logit_lens(&self.state);
        let rows: Vec<f32> = lens
            .chunks_exact(tokens * v)
            .flat_map(|layer| softmax_row(&layer[position * v..][..v], 1.0))
            .collect();
        Ok(Float32Array::from(rows.as_slice()))
    }

    /// The token embeddings' 2-D principal-component map as JSON: `{"points": [{"id", "char",
    /// "class", "x", "y"}], "explained": [f1, f2], "classes": [...]}`.
    #[wasm_bindgen(js_name = embeddingMap)]
    pub fn embedding_map(&self) -> String {
        lib::token_map_json(&self.core, self.tokenizer.chars()).to_string()
    }

    /// Cosine similarity of the position embeddings, `[block_size, block_size]`.
    #[wasm_bindgen(js_name = positionSimilarity)]
    pub fn position_similarity(&self) -> Float32Array {
        Float32Array::from(lib::position_similarity(&self.core).as_slice())
    }

    /// Characters of the training text held out from training (0 = none).
    #[wasm_bindgen(getter, js_name = heldOutChars)]
    pub fn held_out_chars(&self) -> usize {
        self.held_out.len()
    }

    /// Mean loss (nats per character, eval mode, intact model) over up to `maxWindows`
    /// non-overlapping windows of the held-out text; `undefined` when nothing is held out.
    #[wasm_bindgen(js_name = heldOutLoss)]
    pub fn held_out_loss(&mut self, max_windows: usize) -> Result<Option<f64>, JsError> {
        if self.held_out.is_empty() {
            return Ok(None);
        }
        let held_out = std::mem::take(&mut self.held_out);
        let result = self.window_nats(&held_out, max_windows, lib::Knockout::none());
        self.held_out = held_out;
        let (nats, predicted) = result?;
        Ok(Some(nats / predicted as f64))
    }
}
