//! Micro-KannadaGPT: a tiny character-level GPT for Kannada (gpt.py's architecture), from scratch.
//!
//! Modules, in the order a reader meets them: [`config`] (the six hyper-parameters),
//! [`kernels`] (f32 maths, the only SIMD/`unsafe` code), [`tokenizer`], [`model`] (forward and
//! backward), [`checkpoint`] (safetensors), [`optim`] (AdamW), [`sample`], [`train`], [`eval`].

pub mod checkpoint;
pub mod config;
pub mod kernels;

pub mod model;
pub mod rng;
pub mod tokenizer;

pub use config::Config;
pub use model::{EvalOutput, Model, RunState};
pub use tokenizer::Tokenizer;
pub mod akshara;
pub mod bench;
pub mod optim;
pub mod sample;
pub mod train;
pub mod translit;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
