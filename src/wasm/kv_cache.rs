//! `KvCache`: incremental inference for the page (the core's `KvCache`, plus the weights
//! version it was built from).

use super::model::{Model, Sampler};
use super::{js_err, lib, softmax_row};
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

/// Keeps the keys and values, the attention and the logits of the current context, so a
/// keystroke that appends text computes only the new positions, and an edit recomputes from
/// the first changed character. Results are those of `Model.forward` on the same ids (cropped
/// to the last block_size), up to float rounding. If the model's weights changed since the
/// last call (training) or its knock-out set (`Model.setKnockout`), everything is recomputed.
#[wasm_bindgen]
pub struct KvCache {
    cache: lib::KvCache,
    /// `Model::weights_version` of the weights the cache was built from.
    weights_version: u64,
    cropped_tokens: usize,
}

#[wasm_bindgen]
impl KvCache {
    #[wasm_bindgen(constructor)]
    pub fn new(model: &Model) -> KvCache {
        KvCache {
            cache: lib::KvCache::new(&model.core.config, true),
            weights_version: model.weights_version,
            cropped_tokens: 0,
        }
    }

    /// Brings the cache to `ids` (cropped to the last block_size, as `forward` does). Returns
    /// how many positions were reused (computed by an earlier call, unchanged).
    pub fn sync(&mut self, model: &Model, ids: &[u32]) -> Result<usize, JsError> {
        if model.core.config != *self.cache.config() {
            self.cache = lib::KvCache::new(&model.core.config, true);
        }
        if model.weights_version != self.weights_version {
            self.cache.clear();
            self.weights_version = model.weights_version;
        }
        // A changed knock-out set clears the cache (every position is recomputed).
        self.cache
            .set_knockout(&model.core, &model.state.knockout)
            .map_err(js_err)?;
        let seen = model.core.prepare_ids(ids).map_err(js_err)?;
        self.cropped_tokens = ids.len() - seen.len();
        let info = self.cache.sync(&model.core, seen).map_err(js_err)?;
        Ok(info.reused)
    }

    /// Positions held (≤ block_size).
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> usize {
        self.cache.len()
    }

    /// How many ids of the last `sync` were dropped from the front (longer than block_size).
    #[wasm_bindgen(getter, js_name = croppedTokens)]
    pub fn cropped_tokens(&self) -> usize {
        self.cropped_tokens
    }

    /// True if every logit of every position held is finite. Finite weights can still
    /// overflow; a NaN attention weight reaches its position's logits, so this covers the
    /// attention too.
    #[wasm_bindgen(js_name = outputFinite)]
    pub fn output_finite(&self) -> bool {
        self.cache
            .all_logits()
            .is_some_and(|l| l.iter().all(|x| x.is_finite()))
    }

    /// Softmax of the logits / temperature at `position` (0-based, < `tokens`): the
    /// next-character probabilities after that position (`[vocab_size]`).
    #[wasm_bindgen(js_name = probsAt)]
    pub fn probs_at(&self, position: usize, temperature: f32) -> Result<Float32Array, JsError> {
        let v = self.cache.config().vocab_size;
        let logits = self.cache.all_logits().unwrap_or(&[]);
        if position >= self.cache.len() {
            return Err(js_err(format!(
                "position {position} is outside the {} positions held",
                self.cache.len()
            )));
        }
        let row = softmax_row(&logits[position * v..(position + 1) * v], temperature);
        Ok(Float32Array::from(row.as_slice()))
    }

    /// `[n_layer, n_head, tokens, tokens]` attention of the whole context (as
    /// `Forward.attention`; zero above the diagonal).
    pub fn attention(&self) -> Float32Array {
        Float32Array::from(self.cache.attention_rows(0).unwrap_or_default().as_slice())
    }

    /// Streaming generation: samples the next id from the last position (temperature 0 =
    /// greedy, top_k 0 = all), appends it (cropping to block_size like gpt.py) and returns it.
    /// Call `sync` with the prompt first.
    #[wasm_bindgen(js_name = sampleAppend)]
    pub fn sample_append(
        &mut self,
        model: &Model,
        temperature: f32,
        top_k: usize,
        sampler: &mut Sampler,
    ) -> Result<u32, JsError> {
        if self.cache.is_empty() {
            return Err(js_err("empty context: call sync with the prompt first"));
        }
        if model.core.config != *self.cache.config()
            || model.weights_version != self.weights_version
        {
            return Err(js_err(
                "the model changed since the last sync: call sync again",
            ));
        }
        let next = lib::sample_next(self.cache.logits(), temperature, top_k, &mut sampler.rng);
        self.cache.push(&model.core, next).map_err(js_err)?;
        Ok(next)
    }
}
