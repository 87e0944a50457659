//! Unicode NFC normalisation: every text goes through it before the tokenizer sees it.

/// NFC-normalises `text` (composed form: decomposed vowel signs become their precomposed letters).
#[cfg(not(target_arch = "wasm32"))]
pub fn nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}

/// NFC-normalises `text` with the JavaScript engine's `String.prototype.normalize`: the
/// browser already carries the Unicode tables, so the wasm module does not ship its own
/// (~100 KB smaller).
#[cfg(target_arch = "wasm32")]
pub fn nfc(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string(); // ASCII is always in NFC; skip the round trip to JS
    }
    String::from(js_sys::JsString::from(text).normalize("NFC"))
}
