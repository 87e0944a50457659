//! The tokenizer (NFC, gpt.py's sorted-set vocabulary, encode/decode, `from_entries`) and the
//! akshara segmenter on arbitrary bytes (lossy UTF-8) and arbitrary chars.
//!
//! Input: the text that builds the vocabulary, a 0x01 byte, the text to encode (without the
//! separator, the same text does both).
#![no_main]

use kgpt::text::akshara::{display_label, segment, segment_chars};
use kgpt::text::{nfc, Tokenizer};
use libfuzzer_sys::fuzz_target;

fn check_segments(text: &str) {
    let chars: Vec<char> = text.chars().collect();
    let groups = segment_chars(&chars);
    let mut at = 0;
    for g in &groups {
        assert!(g.start == at && g.end > g.start, "{chars:?}: {groups:?}");
        at = g.end;
    }
    assert_eq!(at, chars.len());
    let parts = segment(text);
    assert_eq!(parts.concat(), text);
    for p in &parts {
        let label = display_label(p);
        assert!(label.ends_with(p.as_str()));
    }
}

fuzz_target!(|data: &[u8]| {
    let (vocab_bytes, input_bytes) = match data.iter().position(|&b| b == 1) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let vocab_text = String::from_utf8_lossy(vocab_bytes);
    let input = String::from_utf8_lossy(input_bytes);
    check_segments(&vocab_text);
    check_segments(&input);

    let n = nfc(&input);
    assert_eq!(nfc(&n), n, "NFC is idempotent");

    let tok = Tokenizer::from_text(&vocab_text);
    let chars = tok.chars();
    assert!(
        chars.windows(2).all(|w| w[0] < w[1]),
        "sorted, no duplicates"
    );
    // Round trip of the vocabulary text itself: nothing unknown, decode = NFC.
    let own = tok.encode(&vocab_text);
    assert!(own.unknown.is_empty());
    assert_eq!(tok.decode(&own.ids), nfc(&vocab_text));
    // Any other text: known chars round-trip, unknown ones are reported in order.
    let e = tok.encode(&input);
    assert_eq!(e.ids.len() + e.unknown.len(), n.chars().count());
    assert!(e.unknown.windows(2).all(|w| w[0].index < w[1].index));
    let kept: String = n.chars().filter(|c| tok.id_of(*c).is_some()).collect();
    assert_eq!(tok.decode(&e.ids), kept);
    assert!(e.ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
    // The checkpoint's "vocab" metadata path.
    if !chars.is_empty() {
        assert_eq!(Tokenizer::from_entries(&tok.entries()).as_ref(), Ok(&tok));
    }
    let entries: Vec<&str> = input.split('\n').collect();
    if let Ok(t) = Tokenizer::from_entries(&entries) {
        assert_eq!(t.vocab_size(), entries.len());
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(t.decode(&[i as u32]), *e);
        }
    }
    // Ids outside the vocabulary decode to U+FFFD, never panic.
    let wild: Vec<u32> = input_bytes.iter().map(|&b| b as u32 * 1000).collect();
    assert_eq!(tok.decode(&wild).chars().count(), wild.len());
});
