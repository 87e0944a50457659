//! Text helpers the page calls synchronously while you type (its own wasm instance, no model).

use super::lib;
use js_sys::{Array, Uint32Array};
use wasm_bindgen::prelude::*;

/// Latin phonetic input → Kannada (see the help panel for the table).
#[wasm_bindgen]
pub fn transliterate(latin: &str) -> String {
    lib::latin_to_kannada(latin)
}

/// The transliteration table as `[[latin, kannada, description], ...]`.
#[wasm_bindgen(js_name = transliterationTable)]
pub fn transliteration_table() -> Array {
    lib::mapping_table()
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

/// Akshara boundaries of `text` exactly as given (no normalisation), as flat
/// `[start0, end0, start1, end1, ...]` character indices. The page uses it on the characters
/// the model read (each already NFC, unknown ones removed), where re-normalising could merge
/// characters and shift the indices.
#[wasm_bindgen(js_name = segmentAksharas)]
pub fn segment_aksharas(text: &str) -> Uint32Array {
    let chars: Vec<char> = text.chars().collect();
    let flat: Vec<u32> = lib::segment_chars(&chars)
        .into_iter()
        .flat_map(|r| [r.start as u32, r.end as u32])
        .collect();
    Uint32Array::from(flat.as_slice())
}

/// Display label of an akshara (a lone vowel sign gets a dotted circle: ◌ಾ).
#[wasm_bindgen(js_name = aksharaLabel)]
pub fn akshara_label(akshara: &str) -> String {
    lib::display_label(akshara)
}

/// NFC normalisation, as the tokenizer applies it.
#[wasm_bindgen]
pub fn nfc(text: &str) -> String {
    lib::nfc(text)
}
