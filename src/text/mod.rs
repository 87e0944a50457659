//! Text: what turns a string into ids and back, and what the page shows of it.
//!
//! - `nfc.rs`: Unicode NFC normalisation (natively the `unicode-normalization` tables, in the
//!   browser `String.prototype.normalize`);
//! - `tokenizer.rs`: gpt.py's character vocabulary (sorted set of the training text's characters);
//! - `akshara.rs`: grouping characters into aksharas (Kannada syllables) for display and eval;
//! - `translit.rs`: Latin (ITRANS-like) typing to Kannada script.

pub mod akshara;
mod nfc;
pub mod tokenizer;
pub mod translit;

pub use nfc::nfc;
pub use tokenizer::Tokenizer;
