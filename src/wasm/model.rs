//! `Model`: a model with its tokenizer, run state and (once training starts) trainer; the
//! `Forward` result of an eval forward, the `Tokens` of a text and the seeded `Sampler`.

use super::{js_err, lib, softmax_row};
use js_sys::{Array, Float32Array, Uint32Array};
use wasm_bindgen::prelude::*;

/// `name` of the JS `Error` thrown when a checkpoint carries no vocabulary (no `vocab`
/// metadata, as in a gpt.py state_dict): the page keys its own hint on it (which file input
/// to use), not on the library's wording.
pub const MISSING_VOCABULARY: &str = "MissingVocabularyError";

/// Largest batch a page training step accepts.
const MAX_BATCH: usize = 512;

/// The result of an eval forward: logits and attention of every position read.
#[wasm_bindgen]
pub struct Forward {
    tokens: usize,
    cropped_tokens: usize,
    logits: Vec<f32>,
    attention: Vec<f32>,
}

#[wasm_bindgen]
impl Forward {
    /// Number of positions the model read (≤ block_size).
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> usize {
        self.tokens
    }
    /// How many ids were dropped from the front (input longer than block_size).
    #[wasm_bindgen(getter, js_name = croppedTokens)]
    pub fn cropped_tokens(&self) -> usize {
        self.cropped_tokens
    }
    /// `[tokens, vocab_size]` row-major.
    pub fn logits(&self) -> Float32Array {
        Float32Array::from(self.logits.as_slice())
    }
    /// `[n_layer, n_head, tokens, tokens]`: layer, head, query, key (zero above the diagonal).
    pub fn attention(&self) -> Float32Array {
        Float32Array::from(self.attention.as_slice())
    }
}

/// A text mapped to the model's ids (see [`Model::tokenize`]).
#[wasm_bindgen]
pub struct Tokens {
    ids: Vec<u32>,
    offsets: Vec<u32>,
    chars: usize,
    unknown: usize,
    unknown_samples: Vec<(String, usize)>,
    cursor_tokens: usize,
}

/// At most this many distinct unknown characters are listed in `unknownSamples`.
const UNKNOWN_SAMPLES: usize = 12;

#[wasm_bindgen]
impl Tokens {
    /// The ids of the characters in the vocabulary, in order.
    pub fn ids(&self) -> Uint32Array {
        Uint32Array::from(self.ids.as_slice())
    }
    /// The UTF-16 offset (a JS string index) of each id's character in the text.
    pub fn offsets(&self) -> Uint32Array {
        Uint32Array::from(self.offsets.as_slice())
    }
    /// Characters (code points) in the text, known or not.
    #[wasm_bindgen(getter)]
    pub fn chars(&self) -> usize {
        self.chars
    }
    /// Characters not in the vocabulary (skipped).
    #[wasm_bindgen(getter)]
    pub fn unknown(&self) -> usize {
        self.unknown
    }
    /// Up to 12 distinct unknown characters as `[[char, count], ...]`, in order of appearance.
    #[wasm_bindgen(js_name = unknownSamples)]
    pub fn unknown_samples(&self) -> Array {
        self.unknown_samples
            .iter()
            .map(|(ch, n)| {
                let pair = Array::new();
                pair.push(&JsValue::from_str(ch));
                pair.push(&JsValue::from_f64(*n as f64));
                JsValue::from(pair)
            })
            .collect()
    }
    /// How many ids come before the cursor (the UTF-16 offset given to `tokenize`).
    #[wasm_bindgen(getter, js_name = cursorTokens)]
    pub fn cursor_tokens(&self) -> usize {
        self.cursor_tokens
    }
}

/// A model with its tokenizer, run state and (once training starts) trainer.
#[wasm_bindgen]
pub struct Model {
    pub(super) core: lib::Model,
    /// Changes whenever `core`'s weights do, and no two weights states share one (see
    /// [`next_weights_version`]): a `KvCache` compares it instead of hashing the weights.
    pub(super) weights_version: u64,
    pub(super) tokenizer: lib::Tokenizer,
    /// Eval run state; its `knockout` is the page's knock-out set (see `setKnockout`).
    pub(super) state: lib::RunState,
    trainer: Option<lib::Trainer>,
    train_data: Vec<u32>,
    /// The last part of the training text, never trained on (see `setTrainingText`).
    pub(super) held_out: Vec<u32>,
    train_step: u64,
    seed: u64,
}

/// A number never handed out before (in this wasm instance).
fn next_weights_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Model {
    fn wrap(core: lib::Model, tokenizer: lib::Tokenizer) -> Model {
        Model {
            state: lib::RunState::new(&core.config),
            core,
            weights_version: next_weights_version(),
            tokenizer,
            trainer: None,
            train_data: Vec::new(),
            held_out: Vec::new(),
            train_step: 0,
            seed: 1337,
        }
    }

    /// Training step `step`'s batch of `batch_size` windows (of up to block_size characters)
    /// from the training text: the same for every worker given the same text and seed.
    pub(super) fn training_batch(
        &self,
        batch_size: usize,
        step: u64,
    ) -> Result<lib::Batch, JsError> {
        if batch_size == 0 || batch_size > MAX_BATCH {
            return Err(js_err(format!("batch size must be in 1..={MAX_BATCH}")));
        }
        let t = self
            .core
            .config
            .block_size
            .min(self.train_data.len().saturating_sub(1));
        lib::sample_batch(&self.train_data, batch_size, t, self.seed, step)
            .ok_or_else(|| js_err("no training text: call setTrainingText first"))
    }

    /// The training randomness of step `step` (dropout masks): `(seed, step)`.
    pub(super) fn dropout_seed(&self, step: u64) -> (u64, u64) {
        (self.seed, step)
    }

    /// Marks the weights as changed (a `KvCache` built from the old ones starts over).
    pub(super) fn weights_changed(&mut self) {
        self.weights_version = next_weights_version();
    }

    /// The trainer (made on first use) and the model it trains.
    pub(super) fn trainer(&mut self) -> (&mut lib::Trainer, &mut lib::Model) {
        let trainer = self
            .trainer
            .get_or_insert_with(|| lib::Trainer::new(&self.core, 1));
        (trainer, &mut self.core)
    }

    /// After an update: a diverged loss puts back the weights from before the previous step
    /// (those gave this loss); a good step counts and changes the weights version.
    pub(super) fn finish_step(
        &mut self,
        step: Result<lib::StepInfo, lib::TrainError>,
    ) -> Result<lib::StepInfo, JsError> {
        let info = match step {
            Ok(info) => info,
            Err(e @ lib::TrainError::LossDiverged { .. }) => {
                // The weights that gave this loss came from the previous update: put back the
                // last weights whose loss was still sane.
                let restored = if self.undo_last_step() {
                    "; restored the weights from before the previous step"
                } else {
                    ""
                };
                return Err(js_err(format!("{e}{restored}")));
            }
            Err(e) => return Err(js_err(e)),
        };
        self.weights_changed();
        self.train_step += 1;
        Ok(info)
    }

    /// Eval forward of the last block_size ids into `self.state`; returns the ids read.
    pub(super) fn run<'a>(&mut self, ids: &'a [u32]) -> Result<&'a [u32], JsError> {
        let seen = self.core.prepare_ids(ids).map_err(js_err)?;
        self.core.forward(&mut self.state, seen, None, None);
        Ok(seen)
    }
}

/// A training step's learning rate must be a positive number.
pub(super) fn check_learning_rate(lr: f32) -> Result<(), JsError> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(js_err(format!(
            "learning rate {lr} must be a positive number"
        )))
    }
}

/// True if `bytes` are a safetensors file whose metadata has no `vocab` entry.
fn lacks_vocabulary(bytes: &[u8]) -> bool {
    safetensors::SafeTensors::read_metadata(bytes).is_ok_and(|(_, header)| {
        header
            .metadata()
            .as_ref()
            .is_none_or(|m| !m.contains_key("vocab"))
    })
}

#[wasm_bindgen]
impl Model {
    /// Loads our safetensors checkpoint (with config and vocab metadata). A file without a
    /// vocabulary throws an `Error` named [`MISSING_VOCABULARY`].
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(bytes: &[u8]) -> Result<Model, JsValue> {
        match lib::checkpoint::load(bytes, None) {
            Ok(l) => Ok(Model::wrap(l.model, l.tokenizer)),
            Err(e) => {
                let error = js_sys::Error::new(&e.to_string());
                if lacks_vocabulary(bytes) {
                    error.set_name(MISSING_VOCABULARY);
                }
                Err(error.into())
            }
        }
    }

    /// Loads a gpt.py `state_dict` file; the vocabulary is the sorted set of `vocab_text`'s characters.
    #[wasm_bindgen(js_name = fromStateDict)]
    pub fn from_state_dict(bytes: &[u8], vocab_text: &str) -> Result<Model, JsError> {
        let tok = lib::Tokenizer::from_text(vocab_text);
        let l = lib::checkpoint::load(bytes, Some(&tok)).map_err(js_err)?;
        Ok(Model::wrap(l.model, l.tokenizer))
    }

    /// A fresh model (gpt.py init, `seed`) whose vocabulary is the sorted set of `vocab_text`'s
    /// characters. `config_json` has the config JSON's fields except `vocab_size` (which is the
    /// text's): e.g. `productConfigJson()`.
    #[wasm_bindgen(js_name = init)]
    pub fn init(vocab_text: &str, config_json: &str, seed: u32) -> Result<Model, JsError> {
        let tok = lib::Tokenizer::from_text(vocab_text);
        if tok.vocab_size() < 2 {
            return Err(js_err("the text needs at least 2 distinct characters"));
        }
        let mut json: serde_json::Value = serde_json::from_str(config_json)
            .map_err(|e| js_err(format!("the config is not JSON: {e}")))?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| js_err("the config must be a JSON object"))?;
        if obj.contains_key("vocab_size") {
            return Err(js_err(
                "the config must not give vocab_size: it is the number of distinct characters of the text",
            ));
        }
        obj.insert("vocab_size".into(), tok.vocab_size().into());
        let config: lib::Config =
            serde_json::from_value(json).map_err(|e| js_err(format!("invalid config: {e}")))?;
        config.validate().map_err(js_err)?;
        Ok(Model::wrap(lib::Model::init(config, seed as u64), tok))
    }

    /// `{"vocab_size", "n_embd", "n_head", "n_layer", "block_size", "dropout"}` as JSON.
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.core.config).unwrap_or_default()
    }

    #[wasm_bindgen(js_name = paramCount)]
    pub fn param_count(&self) -> usize {
        self.core.config.param_count()
    }

    /// The vocabulary in id order.
    pub fn vocab(&self) -> Array {
        self.tokenizer
            .entries()
            .iter()
            .map(|s| JsValue::from_str(s))
            .collect()
    }

    /// Maps `text` (as given: the page normalises it to NFC first) to ids with the model's
    /// tokenizer, skipping characters outside the vocabulary; `cursor` is a UTF-16 offset.
    pub fn tokenize(&self, text: &str, cursor: usize) -> Tokens {
        let mut t = Tokens {
            ids: Vec::with_capacity(text.len()),
            offsets: Vec::with_capacity(text.len()),
            chars: 0,
            unknown: 0,
            unknown_samples: Vec::new(),
            cursor_tokens: usize::MAX,
        };
        let mut offset = 0usize;
        for ch in text.chars() {
            if t.cursor_tokens == usize::MAX && offset >= cursor {
                t.cursor_tokens = t.ids.len();
            }
            if let Some(id) = self.tokenizer.id_of(ch) {
                t.ids.push(id);
                t.offsets.push(offset as u32);
            } else {
                t.unknown += 1;
                let s = ch.to_string();
                if let Some(sample) = t.unknown_samples.iter_mut().find(|(c, _)| *c == s) {
                    sample.1 += 1;
                } else if t.unknown_samples.len() < UNKNOWN_SAMPLES {
                    t.unknown_samples.push((s, 1));
                }
            }
            t.chars += 1;
            offset += ch.len_utf16();
        }
        if t.cursor_tokens == usize::MAX {
            t.cursor_tokens = t.ids.len();
        }
        t
    }

    /// Eval forward of the last block_size ids: logits and attention of every layer and head.
    pub fn forward(&mut self, ids: &[u32]) -> Result<Forward, JsError> {
        let seen = self.run(ids)?;
        let tokens = seen.len();
        Ok(Forward {
            tokens,
            cropped_tokens: ids.len() - tokens,
            logits: self.state.logits[..tokens * self.core.config.vocab_size].to_vec(),
            attention: self.state.attention_probs(tokens),
        })
    }

    /// Softmax of the last position's logits / temperature (`[vocab_size]`) for `ids` (cropped
    /// to the last block_size).
    #[wasm_bindgen(js_name = nextProbs)]
    pub fn next_probs(&mut self, ids: &[u32], temperature: f32) -> Result<Float32Array, JsError> {
        let tokens = self.run(ids)?.len();
        let v = self.core.config.vocab_size;
        let row = softmax_row(
            &self.state.logits[(tokens - 1) * v..tokens * v],
            temperature,
        );
        Ok(Float32Array::from(row.as_slice()))
    }

    /// Sets the text in-browser training samples from (NFC; unknown characters skipped).
    /// The last 10 % of its known characters (at least block_size + 1) are held out — never
    /// trained on, measured by `heldOutLoss` — when what is left still has block_size + 1;
    /// a shorter text is all trained on. Returns the number of characters trained on.
    /// Resets the sampling position, not the optimizer.
    #[wasm_bindgen(js_name = setTrainingText)]
    pub fn set_training_text(&mut self, text: &str, seed: u32) -> Result<usize, JsError> {
        let mut ids = self.tokenizer.encode(text).ids;
        if ids.len() < 2 {
            return Err(js_err(
                "the training text needs at least 2 characters of the model's vocabulary",
            ));
        }
        let window = self.core.config.block_size + 1;
        let held = (ids.len() / 10).max(window);
        self.held_out = if ids.len() >= held + window {
            ids.split_off(ids.len() - held)
        } else {
            Vec::new()
        };
        self.train_data = ids;
        self.seed = seed as u64;
        Ok(self.train_data.len())
    }

    /// One AdamW step (dropout as configured) on a random batch of `batch_size` windows of up
    /// to block_size characters from the training text. Returns the loss; on NaN/Inf the update
    /// is not applied and an Error is thrown.
    #[wasm_bindgen(js_name = trainStep)]
    pub fn train_step(&mut self, batch_size: usize, lr: f32) -> Result<f32, JsError> {
        check_learning_rate(lr)?;
        let batch = self.training_batch(batch_size, self.train_step)?;
        let dropout_seed = self.dropout_seed(self.train_step);
        let (trainer, core) = self.trainer();
        let step = trainer.step(core, &batch, lr, Some(dropout_seed));
        self.finish_step(step).map(|info| info.loss)
    }

    /// Undoes the last applied training step: weights, AdamW moments and step count as they
    /// were before it (e.g. when its weights overflow in a forward pass). False if there is
    /// nothing to undo (no step yet, or it was already undone).
    #[wasm_bindgen(js_name = undoLastStep)]
    pub fn undo_last_step(&mut self) -> bool {
        let undone = self
            .trainer
            .as_mut()
            .is_some_and(|t| t.undo_last_update(&mut self.core));
        if undone {
            self.weights_changed();
            self.train_step = self.train_step.saturating_sub(1);
        }
        undone
    }

    /// Number of training steps applied since the model was loaded or created (undone ones
    /// not counted).
    #[wasm_bindgen(js_name = stepCount)]
    pub fn step_count(&self) -> f64 {
        self.train_step as f64
    }

    /// The weights as safetensors (gpt.py names, config and vocab metadata).
    #[wasm_bindgen(js_name = toSafetensors)]
    pub fn to_safetensors(&self) -> Result<Vec<u8>, JsError> {
        lib::checkpoint::to_bytes(&self.core, &self.tokenizer).map_err(js_err)
    }
}

/// Seeded random state for sampling.
#[wasm_bindgen]
pub struct Sampler {
    pub(super) rng: lib::Rng,
}

#[wasm_bindgen]
impl Sampler {
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32) -> Sampler {
        Sampler {
            rng: lib::Rng::new(seed as u64),
        }
    }
}
