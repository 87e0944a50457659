//! The safetensors checkpoint loader on arbitrary bytes: ours (config + vocab metadata), gpt.py
//! state dicts (config inferred, vocabulary supplied), and training state (AdamW extras).
//!
//! Invariants: never panics; whatever loads has a valid config, finite weights, a vocabulary of
//! vocab_size characters, round-trips through `to_bytes` unchanged and runs a forward pass.
#![no_main]

use kgpt::checkpoint::{self, Loaded};
use kgpt::Tokenizer;
use libfuzzer_sys::fuzz_target;

fn check(l: &Loaded) {
    let cfg = l.model.config;
    cfg.validate().expect("a loaded config is valid");
    assert_eq!(l.tokenizer.vocab_size(), cfg.vocab_size);
    assert_eq!(l.model.params.len(), cfg.param_count());
    assert!(l.model.params.iter().all(|p| p.is_finite()));
    let bytes = checkpoint::to_bytes(&l.model, &l.tokenizer).expect("serialise");
    let again = checkpoint::load(&bytes, None).expect("our own output loads");
    assert_eq!(again.model.params, l.model.params);
    assert_eq!(again.tokenizer, l.tokenizer);
    assert_eq!(again.model.config, cfg);
    // Forward on the loaded weights (finite but possibly huge): no panic, NaN is allowed.
    let ids: Vec<u32> = (0..cfg.block_size.min(4) as u32)
        .map(|i| i % cfg.vocab_size as u32)
        .collect();
    let out = l.model.forward_eval(&ids, Some(&ids)).expect("valid ids");
    assert_eq!(out.logits.len(), ids.len() * cfg.vocab_size);
}

fuzz_target!(|data: &[u8]| {
    // The 11-character vocabulary of tests/fixtures/tiny_gpt and gptpy_state_dict.
    let tiny = Tokenizer::from_text(" ಕಡದನಮಲಾಿು್");
    if let Ok(l) = checkpoint::load(data, None) {
        check(&l);
    }
    if let Ok(l) = checkpoint::load(data, Some(&tiny)) {
        check(&l);
        assert_eq!(l.tokenizer, tiny);
    }
    if let Ok((l, extras)) = checkpoint::load_with_extras(data, None, &["adamw.m.", "adamw.v."]) {
        check(&l);
        assert!(extras.keys().all(|k| k.starts_with("adamw.")));
        assert!(extras.values().flatten().all(|v| v.is_finite()));
    }
});
