//! The WebAssembly API used by the page (`www/worker.js`, `www/main.js` and its panels,
//! `www/bench-worker.js`). Every export is called by the page and covered by
//! `tests/wasm_api.rs` / `tests/wasm_kv.rs` (run in Firefox).
//!
//! - [`text`]: the text helpers the page runs while you type (NFC, phonetic typing, aksharas).
//! - [`model`]: [`Model`] (a model with its tokenizer, run state and trainer), its [`Forward`]
//!   result, the [`Tokens`] of a text and the seeded [`Sampler`].
//! - [`kv_cache`]: [`KvCache`], the incremental inference behind every keystroke and generated
//!   character.
//! - `analysis`: more methods of [`Model`] for reading it — head knock-out, bits per character
//!   on a text, head scores and roles, the logit lens, the embedding map, the held-out loss.
//! - `data_parallel`: more methods of [`Model`] for training over several Web Workers — a
//!   worker's [`GradientShare`] of a step, the coordinator's `addGradients` and `applyGradientSum`, the weights as
//!   one `Float32Array` (`params` / `setParams`).
//!
//! Names are the core's: `tokens` are the positions the model reads (≤ block_size),
//! `croppedTokens` the tokens dropped from the front of a longer input, config fields are the
//! config JSON's (`n_layer`, `n_head`, `n_embd`, `block_size`, `vocab_size`, `dropout`).
//! Every fallible call returns a JS `Error` with the library's message; nothing traps on user
//! input. Arrays cross the boundary as typed arrays (`Uint32Array` ids, `Float32Array`
//! probabilities and attention) to avoid per-element conversion.

mod analysis;
mod data_parallel;
mod kv_cache;
mod model;
mod text;

pub use data_parallel::{gradient_chunk_count, GradientShare};
pub use kv_cache::KvCache;
pub use model::{Forward, Model, Sampler, Tokens, MISSING_VOCABULARY};
pub use text::{akshara_label, nfc, segment_aksharas, transliterate, transliteration_table};

use wasm_bindgen::prelude::*;

/// The core items this API wraps, in one place (the only lines to touch when the core moves).
mod lib {
    pub use crate::analysis::embedding_map::{position_similarity, token_map_json};
    pub use crate::analysis::heads::{score_heads, text_windows};
    pub use crate::bench::{run_bench, BenchOptions};
    pub use crate::checkpoint;
    pub use crate::config::Config;
    pub use crate::kernels::{kernel_name, softmax_inplace};
    pub use crate::model::KvCache;
    pub use crate::model::{Knockout, Model, RunState};
    pub use crate::rng::Rng;
    pub use crate::sample::sample_next;
    pub use crate::text::akshara::{display_label, segment_chars};
    pub use crate::text::translit::{latin_to_kannada, mapping_table};
    pub use crate::text::{nfc, Tokenizer};
    pub use crate::train::{gradient_chunks, sample_batch, Batch, StepInfo, TrainError, Trainer};
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(msg: impl std::fmt::Display) -> JsError {
    JsError::new(&msg.to_string())
}

/// The name of the kernel path compiled in (`wasm-simd128` or `portable`).
#[wasm_bindgen(js_name = kernelName)]
pub fn kernel_name() -> String {
    lib::kernel_name().to_string()
}

/// The product's config as JSON (`n_embd`, `n_head`, `n_layer`, `block_size`, `dropout`):
/// what `Model.init` builds when there are no weights. `vocab_size` is not part of it: a fresh
/// model's vocabulary is the sorted set of its text's characters.
#[wasm_bindgen(js_name = productConfigJson)]
pub fn product_config_json() -> String {
    // through the text form: f32 fields print as the config JSON has them (0.1, not
    // 0.10000000149011612 as a direct to_value's f64 would)
    let text = serde_json::to_string(&lib::Config::product(0)).unwrap_or_default();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(obj) = json.as_object_mut() {
        obj.remove("vocab_size");
    }
    json.to_string()
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
    let opts = lib::BenchOptions {
        threads: vec![1],
        quick,
        vocab_size,
    };
    let report = lib::run_bench(&opts, &mut |_| {}, &clock).map_err(js_err)?;
    serde_json::to_string(&report).map_err(js_err)
}

/// `logits / temperature` through a softmax (temperature ≤ 0 or not finite counts as 1).
fn softmax_row(logits: &[f32], temperature: f32) -> Vec<f32> {
    let temp = if temperature > 0.0 && temperature.is_finite() {
        temperature
    } else {
        1.0
    };
    let mut row: Vec<f32> = logits.iter().map(|l| l / temp).collect();
    lib::softmax_inplace(&mut row);
    row
}
