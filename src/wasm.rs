//! The WebAssembly API used by the page's Web Worker (`www/worker.js`).
//!
//! Every fallible call returns a JS `Error` with the Rust message; nothing traps on user input.
//! Arrays cross the boundary as typed arrays (`Uint32Array` ids, `Float32Array` logits and
//! attention) to avoid per-element conversion.

use crate::checkpoint;
use crate::config::Config;
use crate::model::{Model as Core, RunState};
use crate::rng::Rng;
use crate::sample::sample_next;
use crate::text::Tokenizer;
use crate::train::{sample_batch, Batch, TrainError, Trainer};
use js_sys::{Array, Float32Array, Object, Reflect, Uint32Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(msg: impl std::fmt::Display) -> JsError {
    JsError::new(&msg.to_string())
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Reflect.set on a plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// The name of the kernel path compiled in (`wasm-simd128` or `portable`).
#[wasm_bindgen(js_name = kernelName)]
pub fn kernel_name() -> String {
    crate::kernels::kernel_name().to_string()
}

/// Latin phonetic input → Kannada (see the help panel for the table).
#[wasm_bindgen]
pub fn transliterate(latin: &str) -> String {
    crate::text::translit::latin_to_kannada(latin)
}

/// The transliteration table as `[[latin, kannada, description], ...]`.
#[wasm_bindgen(js_name = transliterationTable)]
pub fn transliteration_table() -> Array {
    crate::text::translit::mapping_table()
        .into_iter()
        .map(|(l, k, d)| {
            let row = Array::new();
            row.push(&JsValue::from_str(l));
            row.push(&JsValue::from_str(k));
            row.push(&JsValue::from_str(d));
            JsValue::from(row)
        })
        .collect()
}

/// Akshara boundaries of `text` (NFC first) as flat `[start0, end0, start1, end1, ...]`
/// character indices.
#[wasm_bindgen(js_name = segmentAksharas)]
pub fn segment_aksharas(text: &str) -> Uint32Array {
    let chars: Vec<char> = crate::text::nfc(text).chars().collect();
    let flat: Vec<u32> = crate::text::akshara::segment_chars(&chars)
        .into_iter()
        .flat_map(|r| [r.start as u32, r.end as u32])
        .collect();
    Uint32Array::from(flat.as_slice())
}

/// Akshara boundaries of `text` exactly as given (no normalisation), as flat
/// `[start0, end0, start1, end1, ...]` character indices. The page uses it on the characters the
/// model saw (each already NFC, unknown ones removed), where re-normalising could merge
/// characters and shift the indices.
#[wasm_bindgen(js_name = segmentAksharasRaw)]
pub fn segment_aksharas_raw(text: &str) -> Uint32Array {
    let chars: Vec<char> = text.chars().collect();
    let flat: Vec<u32> = crate::text::akshara::segment_chars(&chars)
        .into_iter()
        .flat_map(|r| [r.start as u32, r.end as u32])
        .collect();
    Uint32Array::from(flat.as_slice())
}

/// Display label of an akshara (a lone vowel sign gets a dotted circle: ◌ಾ).
#[wasm_bindgen(js_name = aksharaLabel)]
pub fn akshara_label(akshara: &str) -> String {
    crate::text::akshara::display_label(akshara)
}

/// NFC normalisation, as the tokenizer applies it.
#[wasm_bindgen]
pub fn nfc(text: &str) -> String {
    crate::text::nfc(text)
}

/// Runs the benchmark (same keys as `kgpt bench`); `now` is `performance.now` (ms).
#[wasm_bindgen(js_name = runBench)]
pub fn run_bench(
    quick: bool,
    vocab_size: usize,
    now: &js_sys::Function,
) -> Result<String, JsError> {
    let clock = || {
        now.call0(&JsValue::NULL)
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
            / 1e3
    };
    let opts = crate::bench::BenchOptions {
        threads: vec![1],
        quick,
        vocab_size,
    };
    let report = crate::bench::run_bench(&opts, &mut |_| {}, &clock).map_err(js_err)?;
    serde_json::to_string(&report).map_err(js_err)
}

/// The result of a forward pass.
#[wasm_bindgen]
pub struct ForwardOutput {
    t: usize,
    vocab_size: usize,
    cropped: usize,
    logits: Vec<f32>,
    attention: Vec<f32>,
}

#[wasm_bindgen]
impl ForwardOutput {
    /// Number of positions the model saw (≤ block_size).
    #[wasm_bindgen(getter)]
    pub fn t(&self) -> usize {
        self.t
    }
    #[wasm_bindgen(getter, js_name = vocabSize)]
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    /// How many ids were dropped from the front (input longer than block_size).
    #[wasm_bindgen(getter)]
    pub fn cropped(&self) -> usize {
        self.cropped
    }
    /// `[T, V]` row-major.
    pub fn logits(&self) -> Float32Array {
        Float32Array::from(self.logits.as_slice())
    }
    /// `[L, H, T, T]`: layer, head, query, key (zero above the diagonal).
    pub fn attention(&self) -> Float32Array {
        Float32Array::from(self.attention.as_slice())
    }
}

/// A model with its tokenizer, run state and (once training starts) optimizer.
#[wasm_bindgen]
pub struct Model {
    core: Core,
    /// Changes whenever `core`'s weights do, and no two weights states share one (see
    /// [`next_weights_version`]): a `KvSession` compares it instead of hashing the weights.
    weights_version: u64,
    tokenizer: Tokenizer,
    state: RunState,
    trainer: Option<Trainer>,
    train_data: Vec<u32>,
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
    fn wrap(core: Core, tokenizer: Tokenizer) -> Model {
        Model {
            state: RunState::new(&core.config),
            core,
            weights_version: next_weights_version(),
            tokenizer,
            trainer: None,
            train_data: Vec::new(),
            train_step: 0,
            seed: 1337,
        }
    }
}

#[wasm_bindgen]
impl Model {
    /// Loads our safetensors checkpoint (with config and vocab metadata).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(bytes: &[u8]) -> Result<Model, JsError> {
        let l = checkpoint::load(bytes, None).map_err(js_err)?;
        Ok(Model::wrap(l.model, l.tokenizer))
    }

    /// Loads a gpt.py `state_dict` file; the vocabulary is the sorted set of `vocab_text`'s characters.
    #[wasm_bindgen(js_name = fromStateDict)]
    pub fn from_state_dict(bytes: &[u8], vocab_text: &str) -> Result<Model, JsError> {
        let tok = Tokenizer::from_text(vocab_text);
        let l = checkpoint::load(bytes, Some(&tok)).map_err(js_err)?;
        Ok(Model::wrap(l.model, l.tokenizer))
    }

    /// A fresh model (gpt.py init) whose vocabulary is the sorted set of `vocab_text`'s characters.
    #[wasm_bindgen(js_name = init)]
    pub fn init(
        vocab_text: &str,
        n_embd: usize,
        n_head: usize,
        n_layer: usize,
        block_size: usize,
        dropout: f32,
        seed: u32,
    ) -> Result<Model, JsError> {
        let tok = Tokenizer::from_text(vocab_text);
        let config = Config {
            vocab_size: tok.vocab_size(),
            n_embd,
            n_head,
            n_layer,
            block_size,
            dropout,
        };
        if tok.vocab_size() < 2 {
            return Err(js_err("the text needs at least 2 distinct characters"));
        }
        config.validate().map_err(js_err)?;
        Ok(Model::wrap(Core::init(config, seed as u64), tok))
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

    /// `{ids: Uint32Array, unknown: [{ch, index}], text}`: NFC, unknown characters skipped.
    pub fn encode(&self, text: &str) -> Object {
        let enc = self.tokenizer.encode(text);
        let obj = Object::new();
        set(&obj, "ids", &Uint32Array::from(enc.ids.as_slice()).into());
        let unknown: Array = enc
            .unknown
            .iter()
            .map(|u| {
                let o = Object::new();
                set(&o, "ch", &JsValue::from_str(&u.ch.to_string()));
                set(&o, "index", &JsValue::from_f64(u.index as f64));
                JsValue::from(o)
            })
            .collect();
        set(&obj, "unknown", &unknown.into());
        set(&obj, "text", &JsValue::from_str(&crate::text::nfc(text)));
        obj
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids)
    }

    /// Eval forward of the last block_size ids; logits and attention of every layer and head.
    pub fn forward(&mut self, ids: &[u32]) -> Result<ForwardOutput, JsError> {
        let seen = self.core.prepare_ids(ids).map_err(js_err)?;
        self.core.forward(&mut self.state, seen, None, None);
        let t = seen.len();
        Ok(ForwardOutput {
            t,
            vocab_size: self.core.config.vocab_size,
            cropped: ids.len() - t,
            logits: self.state.logits[..t * self.core.config.vocab_size].to_vec(),
            attention: self.state.attention_probs(t),
        })
    }

    /// Softmax of the last position's logits / temperature (`[V]`).
    #[wasm_bindgen(js_name = nextProbs)]
    pub fn next_probs(&mut self, ids: &[u32], temperature: f32) -> Result<Float32Array, JsError> {
        let seen = self.core.prepare_ids(ids).map_err(js_err)?;
        self.core.forward(&mut self.state, seen, None, None);
        let v = self.core.config.vocab_size;
        let t = seen.len();
        let temp = if temperature > 0.0 && temperature.is_finite() {
            temperature
        } else {
            1.0
        };
        let mut row: Vec<f32> = self.state.logits[(t - 1) * v..t * v]
            .iter()
            .map(|l| l / temp)
            .collect();
        crate::kernels::softmax_inplace(&mut row);
        Ok(Float32Array::from(row.as_slice()))
    }

    /// Samples the next id after `ids` (cropped to block_size). temperature 0 = greedy;
    /// top_k 0 = all. `sampler` carries the seeded random state, so a run is reproducible.
    #[wasm_bindgen(js_name = sampleNext)]
    pub fn sample_next(
        &mut self,
        ids: &[u32],
        temperature: f32,
        top_k: usize,
        sampler: &mut Sampler,
    ) -> Result<u32, JsError> {
        let seen = if ids.is_empty() {
            &[0u32][..]
        } else {
            self.core.prepare_ids(ids).map_err(js_err)?
        };
        self.core.forward(&mut self.state, seen, None, None);
        let v = self.core.config.vocab_size;
        let t = seen.len();
        Ok(sample_next(
            &self.state.logits[(t - 1) * v..t * v],
            temperature,
            top_k,
            &mut sampler.rng,
        ))
    }

    /// Sets the text in-browser training samples from (NFC; unknown characters skipped).
    /// Returns the number of usable characters. Resets the sampling position, not the optimizer.
    #[wasm_bindgen(js_name = setTrainingText)]
    pub fn set_training_text(&mut self, text: &str, seed: u32) -> Result<usize, JsError> {
        let ids = self.tokenizer.encode(text).ids;
        if ids.len() < 2 {
            return Err(js_err(
                "the training text needs at least 2 characters of the model's vocabulary",
            ));
        }
        self.train_data = ids;
        self.seed = seed as u64;
        Ok(self.train_data.len())
    }

    /// One AdamW step (dropout as configured) on a random batch of `batch_size` windows of up
    /// to block_size characters from the training text. Returns the loss; on NaN/Inf the update
    /// is not applied and an Error is thrown.
    #[wasm_bindgen(js_name = trainStep)]
    pub fn train_step(&mut self, batch_size: usize, lr: f32) -> Result<f32, JsError> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(js_err(format!(
                "learning rate {lr} must be a positive number"
            )));
        }
        if batch_size == 0 || batch_size > 512 {
            return Err(js_err("batch size must be in 1..=512"));
        }
        let t = self
            .core
            .config
            .block_size
            .min(self.train_data.len().saturating_sub(1));
        let batch = sample_batch(&self.train_data, batch_size, t, self.seed, self.train_step)
            .ok_or_else(|| js_err("no training text: call setTrainingText first"))?;
        self.step_on(batch, lr)
    }

    /// One AdamW step on an explicit batch: `inputs` and `targets` are `[batch_size, T]`.
    #[wasm_bindgen(js_name = trainStepOnBatch)]
    pub fn train_step_on_batch(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch_size: usize,
        lr: f32,
    ) -> Result<f32, JsError> {
        if batch_size == 0 || inputs.len() % batch_size != 0 {
            return Err(js_err("inputs must hold batch_size rows of equal length"));
        }
        let batch = Batch {
            inputs: inputs.to_vec(),
            targets: targets.to_vec(),
            b: batch_size,
            t: inputs.len() / batch_size,
        };
        self.step_on(batch, lr)
    }

    fn step_on(&mut self, batch: Batch, lr: f32) -> Result<f32, JsError> {
        let trainer = self
            .trainer
            .get_or_insert_with(|| Trainer::new(&self.core, 1));
        let info = match trainer.step(
            &mut self.core,
            &batch,
            lr,
            Some((self.seed, self.train_step)),
        ) {
            Ok(info) => info,
            Err(e @ TrainError::LossDiverged { .. }) => {
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
        self.weights_version = next_weights_version();
        self.train_step += 1;
        Ok(info.loss)
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
            self.weights_version = next_weights_version();
            self.train_step = self.train_step.saturating_sub(1);
        }
        undone
    }

    /// Number of training steps taken since load / the last optimizer reset.
    #[wasm_bindgen(js_name = stepCount)]
    pub fn step_count(&self) -> f64 {
        self.train_step as f64
    }

    /// Forgets the AdamW moments and the step counter (weights unchanged).
    #[wasm_bindgen(js_name = resetOptimizer)]
    pub fn reset_optimizer(&mut self) {
        self.trainer = None;
        self.train_step = 0;
    }

    /// Bits per character of `text` under the model (windows as `kgpt eval`); NaN if too short.
    #[wasm_bindgen(js_name = bitsPerChar)]
    pub fn bits_per_char(&self, text: &str) -> f64 {
        let ids = self.tokenizer.encode(text).ids;
        crate::train::bits_per_char(&self.core, &ids, 1).map_or(f64::NAN, |r| r.bits_per_char)
    }

    /// The weights as safetensors (gpt.py names, config and vocab metadata).
    #[wasm_bindgen(js_name = toSafetensors)]
    pub fn to_safetensors(&self) -> Result<Vec<u8>, JsError> {
        checkpoint::to_bytes(&self.core, &self.tokenizer).map_err(js_err)
    }
}

/// Seeded random state for sampling.
#[wasm_bindgen]
pub struct Sampler {
    rng: Rng,
}

#[wasm_bindgen]
impl Sampler {
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32) -> Sampler {
        Sampler {
            rng: Rng::new(seed as u64),
        }
    }
}

/// Incremental inference for the page (see `kv_cache.rs`): keeps the keys and values, the
/// attention and the logits of the current context, so a keystroke that appends text computes
/// only the new positions, and an edit recomputes from the first changed character. Results are
/// those of `Model.forward` on the same ids (cropped to the last block_size), up to float
/// rounding. If the model's weights changed since the last call (training), everything is
/// recomputed.
#[wasm_bindgen]
pub struct KvSession {
    cache: crate::model::KvCache,
    /// `Model::weights_version` of the weights the cache was built from.
    weights_version: u64,
    cropped: usize,
}

#[wasm_bindgen]
impl KvSession {
    #[wasm_bindgen(constructor)]
    pub fn new(model: &Model) -> KvSession {
        KvSession {
            cache: crate::model::KvCache::new(&model.core.config, true),
            weights_version: model.weights_version,
            cropped: 0,
        }
    }

    /// Brings the session to `ids` (cropped to the last block_size, as `forward` does). Returns
    /// how many positions were reused: attention rows and logits of positions `0..reused` are
    /// unchanged since the previous call (see `attentionRows(reused)`).
    pub fn sync(&mut self, model: &Model, ids: &[u32]) -> Result<usize, JsError> {
        if model.core.config != *self.cache.config() {
            self.cache = crate::model::KvCache::new(&model.core.config, true);
        }
        if model.weights_version != self.weights_version {
            self.cache.clear();
            self.weights_version = model.weights_version;
        }
        let seen = model.core.prepare_ids(ids).map_err(js_err)?;
        self.cropped = ids.len() - seen.len();
        let info = self.cache.sync(&model.core, seen).map_err(js_err)?;
        Ok(info.reused)
    }

    /// Positions held (≤ block_size).
    #[wasm_bindgen(getter)]
    pub fn t(&self) -> usize {
        self.cache.len()
    }

    /// How many ids of the last `sync` were dropped from the front (longer than block_size).
    #[wasm_bindgen(getter)]
    pub fn cropped(&self) -> usize {
        self.cropped
    }

    /// `[V]` logits of the last position.
    #[wasm_bindgen(js_name = lastLogits)]
    pub fn last_logits(&self) -> Float32Array {
        Float32Array::from(self.cache.logits())
    }

    /// `[T, V]` logits of every position (as `ForwardOutput.logits`).
    pub fn logits(&self) -> Float32Array {
        Float32Array::from(self.cache.all_logits().unwrap_or(&[]))
    }

    /// Softmax of the last position's logits / temperature (`[V]`), as `Model.nextProbs`.
    #[wasm_bindgen(js_name = nextProbs)]
    pub fn next_probs(&self, temperature: f32) -> Float32Array {
        let temp = if temperature > 0.0 && temperature.is_finite() {
            temperature
        } else {
            1.0
        };
        let mut row: Vec<f32> = self.cache.logits().iter().map(|l| l / temp).collect();
        crate::kernels::softmax_inplace(&mut row);
        Float32Array::from(row.as_slice())
    }

    /// Attention of queries `from..T` as `[L, H, T − from, T]` (zero above the diagonal).
    #[wasm_bindgen(js_name = attentionRows)]
    pub fn attention_rows(&self, from: usize) -> Float32Array {
        Float32Array::from(
            self.cache
                .attention_rows(from)
                .unwrap_or_default()
                .as_slice(),
        )
    }

    /// `[L, H, T, T]` attention of the whole context (as `ForwardOutput.attention`).
    pub fn attention(&self) -> Float32Array {
        self.attention_rows(0)
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
        let next = sample_next(self.cache.logits(), temperature, top_k, &mut sampler.rng);
        self.cache.push(&model.core, next).map_err(js_err)?;
        Ok(next)
    }
}
