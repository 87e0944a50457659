//! Our checkpoint metadata on arbitrary text: the `"config"` and `"vocab"` JSON strings of a
//! file whose tensors are tests/fixtures/tiny_gpt's (V=11 C=16 H=2 L=2 T=8).
//!
//! Input: one flag byte (bit 0: write "config", bit 1: write "vocab", bit 2: also pass the
//! fixture's vocabulary as an override, bit 3: drop one tensor), then the config JSON, a NUL,
//! and the vocab JSON. Invariants: no panic; a file loads only if its metadata matches.
#![no_main]

use kgpt::checkpoint;
use kgpt::Tokenizer;
use libfuzzer_sys::fuzz_target;
use safetensors::tensor::{SafeTensors, TensorView};
use std::collections::HashMap;

static TINY: &[u8] = include_bytes!("../../tests/fixtures/tiny_gpt.safetensors");

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (config, vocab) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut metadata = HashMap::new();
    if flags & 1 != 0 {
        metadata.insert(
            "config".into(),
            String::from_utf8_lossy(config).into_owned(),
        );
    }
    if flags & 2 != 0 {
        metadata.insert("vocab".into(), String::from_utf8_lossy(vocab).into_owned());
    }
    let st = SafeTensors::deserialize(TINY).expect("fixture");
    let mut tensors: Vec<(String, TensorView)> = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    if flags & 8 != 0 {
        let drop = (config.len() + vocab.len()) % tensors.len();
        tensors.remove(drop);
    }
    let bytes = safetensors::tensor::serialize(tensors, Some(metadata)).expect("serialise");
    let tiny = Tokenizer::from_text(" ಕಡದನಮಲಾಿು್");
    let vocab_override = (flags & 4 != 0).then_some(&tiny);
    if let Ok(l) = checkpoint::load(&bytes, vocab_override) {
        let cfg = l.model.config;
        assert_eq!(
            (cfg.vocab_size, cfg.n_embd, cfg.n_layer, cfg.block_size),
            (11, 16, 2, 8)
        );
        assert_eq!(l.tokenizer.vocab_size(), 11);
        assert!(flags & 8 == 0, "a file with a tensor missing loaded");
        let again = checkpoint::load(&checkpoint::to_bytes(&l.model, &l.tokenizer).unwrap(), None)
            .expect("round trip");
        assert_eq!(again.model.params, l.model.params);
    }
});
