//! Micro-KannadaGPT: a tiny character-level GPT for Kannada (gpt.py's architecture), from scratch.
//!
//! Modules, in the order a reader meets them: [`config`] (the six hyper-parameters),
//! [`kernels`] (f32 maths, the only SIMD/`unsafe` code), [`text`] (NFC, tokenizer, aksharas,
//! transliteration), [`model`] (the layers, forward and backward, and the KV cache),
//! [`checkpoint`] (safetensors), [`train`] (trainer, AdamW, batches, bits per character),
//! [`sample`] (next-character sampling and generation), [`bench`], and the browser API `wasm`.

pub mod analysis;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod kernels;
pub mod model;
pub mod rng;
pub mod sample;
pub mod text;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use config::Config;
pub use model::{EvalOutput, Model, RunState};
pub use text::Tokenizer;
