//! The Latin → Kannada transliterator on arbitrary UTF-8.
//!
//! Invariants: never panics; the output's aksharas cover it; a second pass changes nothing
//! (every Latin letter left is unmapped); text with no mappable char passes through unchanged.
#![no_main]

use kgpt::text::akshara::segment;
use kgpt::text::translit::latin_to_kannada;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let out = latin_to_kannada(&input);
    assert_eq!(segment(&out).concat(), out);
    assert_eq!(latin_to_kannada(&out), out, "transliteration is idempotent");
    if !input.chars().any(|c| c.is_ascii_alphabetic() || c == '~') {
        assert_eq!(out, input, "nothing to transliterate");
    }
});
