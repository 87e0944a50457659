//! Property tests (proptest): tokenizer round trip after NFC, akshara segments cover the input,
//! attention rows are causal probability distributions, the loss is finite for finite weights,
//! checkpoints round-trip, transliteration is idempotent. Case counts are modest so the whole
//! file runs in a few seconds; failures are shrunk to a minimal input by proptest.
#![cfg(not(target_arch = "wasm32"))]

use kgpt::checkpoint;
use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::rng::Rng;
use kgpt::text::akshara::{segment, segment_chars};
use kgpt::text::translit::latin_to_kannada;
use kgpt::text::{nfc, Tokenizer};
use proptest::prelude::*;

/// Chars that exercise the tokenizer and the segmenter: the whole Kannada block (with the
/// unassigned holes), joiners, combining marks of other scripts, Latin, emoji, controls, and any
/// other scalar value.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('\u{0C80}', '\u{0CFF}'),
        2 => prop::sample::select(vec![
            '\u{200C}', '\u{200D}', ' ', '\n', 'a', 'Z', '9', '.', 'é', '\u{0301}', 'क', '\u{094D}',
            '😀', '\u{1F3FD}', '\u{FFFD}', '\u{0}', '\u{FEFF}', '\u{10FFFF}',
        ]),
        1 => any::<char>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..48).prop_map(|v| v.into_iter().collect())
}

/// A valid small config (every field drawn, then checked with `validate`).
fn small_config() -> impl Strategy<Value = Config> {
    (
        1usize..=12,
        1usize..=4,
        1usize..=4,
        1usize..=3,
        1usize..=10,
        0u8..=5,
    )
        .prop_map(
            |(vocab_size, n_head, head_size, n_layer, block_size, dropout)| Config {
                vocab_size,
                n_embd: n_head * head_size,
                n_head,
                n_layer,
                block_size,
                dropout: dropout as f32 / 10.0,
            },
        )
}

/// A model of `cfg` whose every weight is uniform in [-bound, bound] (finite by construction).
fn random_model(cfg: Config, seed: u64, bound: f32) -> Model {
    let mut m = Model::init(cfg, seed);
    let mut rng = Rng::new(seed ^ 0x5EED);
    for p in m.params.iter_mut() {
        *p = (2.0 * rng.uniform() - 1.0) * bound;
    }
    m
}

/// (config, seed, weight bound, ids, targets) with ids and targets valid for the config; the
/// sequence may be longer than block_size (the model crops it).
fn model_input() -> impl Strategy<Value = (Config, u64, f32, Vec<u32>, Vec<u32>)> {
    (
        small_config(),
        any::<u64>(),
        prop::sample::select(vec![0.02f32, 0.5, 3.0, 10.0]),
    )
        .prop_flat_map(|(cfg, seed, bound)| {
            let v = cfg.vocab_size as u32;
            let len = 1..=2 * cfg.block_size;
            (
                Just(cfg),
                Just(seed),
                Just(bound),
                prop::collection::vec(0..v, len.clone()),
                prop::collection::vec(0..v, 2 * cfg.block_size),
            )
        })
        .prop_map(|(cfg, seed, bound, ids, mut targets)| {
            targets.truncate(ids.len());
            (cfg, seed, bound, ids, targets)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// decode(encode(s)) is NFC(s) when the vocabulary is built from s (gpt.py's rule), and the
    /// known characters of any other text in order.
    #[test]
    fn encode_decode_round_trip_after_nfc(s in text(), other in text()) {
        let tok = Tokenizer::from_text(&s);
        let e = tok.encode(&s);
        prop_assert!(e.unknown.is_empty());
        prop_assert_eq!(tok.decode(&e.ids), nfc(&s));
        let n = nfc(&other);
        let e = tok.encode(&other);
        let known: String = n.chars().filter(|&c| tok.id_of(c).is_some()).collect();
        prop_assert_eq!(tok.decode(&e.ids), known);
        prop_assert_eq!(e.ids.len() + e.unknown.len(), n.chars().count());
        for u in &e.unknown {
            prop_assert_eq!(n.chars().nth(u.index), Some(u.ch));
        }
        if tok.vocab_size() > 0 {
            prop_assert_eq!(Tokenizer::from_entries(&tok.entries()).unwrap(), tok);
        }
    }

    /// The aksharas of any text concatenate back to it, as contiguous non-empty ranges.
    #[test]
    fn akshara_segments_concatenate_to_the_input(s in text()) {
        prop_assert_eq!(segment(&s).concat(), s.clone());
        let chars: Vec<char> = s.chars().collect();
        let mut at = 0;
        for r in segment_chars(&chars) {
            prop_assert!(r.start == at && r.end > r.start);
            at = r.end;
        }
        prop_assert_eq!(at, chars.len());
        let n = nfc(&s);
        prop_assert_eq!(segment(&n).concat(), n);
    }

    /// Transliteration never panics, is idempotent (whatever Latin is left is unmapped) and its
    /// output segments cleanly.
    #[test]
    fn transliteration_is_idempotent(s in "[a-zA-Z~ .,0-9]{0,24}", t in text()) {
        for input in [s, t] {
            let out = latin_to_kannada(&input);
            prop_assert_eq!(latin_to_kannada(&out), out.clone());
            prop_assert_eq!(segment(&out).concat(), out);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// For any valid config, weights and input: every attention row sums to 1 and is zero above
    /// the diagonal, and the logits are finite.
    #[test]
    fn attention_rows_are_causal_distributions((cfg, seed, bound, ids, _t) in model_input()) {
        prop_assert!(cfg.validate().is_ok());
        let m = random_model(cfg, seed, bound);
        let out = m.forward_eval(&ids, None).unwrap();
        let t = ids.len().min(cfg.block_size);
        prop_assert_eq!(out.attention.len(), cfg.n_layer * cfg.n_head * t * t);
        prop_assert!(out.logits.iter().all(|x| x.is_finite()));
        for (r, row) in out.attention.chunks_exact(t).enumerate() {
            let q = r % t;
            let sum: f32 = row.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-5, "row {} sums to {}", r, sum);
            prop_assert!(row[..=q].iter().all(|&p| (0.0..=1.0).contains(&p)));
            prop_assert!(row[q + 1..].iter().all(|&p| p == 0.0), "row {} not causal", r);
        }
    }

    /// With finite weights (|w| ≤ 10, large enough to saturate softmax and attention) the loss
    /// is finite and non-negative, in eval and in training mode, and so is the gradient.
    #[test]
    fn loss_is_finite_for_finite_weights((cfg, seed, bound, ids, targets) in model_input()) {
        let m = random_model(cfg, seed, bound);
        let out = m.forward_eval(&ids, Some(&targets)).unwrap();
        let loss = out.loss.unwrap();
        prop_assert!(loss.is_finite() && loss >= 0.0, "loss {}", loss);
        let t = ids.len().min(cfg.block_size);
        let batch = kgpt::train::Batch {
            inputs: ids[ids.len() - t..].to_vec(),
            targets: targets[targets.len() - t..].to_vec(),
            b: 1,
            t,
        };
        let mut trainer = kgpt::train::Trainer::new(&m, 1);
        let train_loss = trainer.compute_grads(&m, &batch, Some((seed, 0))).unwrap();
        prop_assert!(train_loss.is_finite() && train_loss >= 0.0);
        prop_assert!(trainer.grads.iter().all(|g| g.is_finite()));
    }

    /// Any valid model round-trips through a checkpoint bit for bit.
    #[test]
    fn checkpoints_round_trip(cfg in small_config(), seed in any::<u64>(), vocab in text()) {
        let mut chars: Vec<char> = nfc(&vocab).chars().collect();
        chars.sort_unstable();
        chars.dedup();
        // Pad or cut the vocabulary to vocab_size distinct chars.
        let mut extra = 'A';
        while chars.len() < cfg.vocab_size {
            if !chars.contains(&extra) {
                chars.push(extra);
            }
            extra = char::from_u32(extra as u32 + 1).unwrap();
        }
        chars.truncate(cfg.vocab_size);
        let entries: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        let tok = Tokenizer::from_entries(&entries).unwrap();
        let m = random_model(cfg, seed, 1.0);
        let bytes = checkpoint::to_bytes(&m, &tok).unwrap();
        let l = checkpoint::load(&bytes, None).unwrap();
        prop_assert_eq!(l.model.config, cfg);
        prop_assert_eq!(&l.model.params, &m.params);
        prop_assert_eq!(l.tokenizer, tok);
        // Any strict prefix of the file is refused with a message, never a panic.
        let cut = (seed as usize) % bytes.len();
        let e = checkpoint::load(&bytes[..cut], None).unwrap_err();
        prop_assert!(e.0.contains("safetensors"), "{}", e);
    }
}

/// 100,000-character inputs of the shapes that could make a text pass super-linear (runs of
/// combining marks for NFC's reordering, one endless conjunct for the segmenter, prefixes of
/// multi-letter keys for the transliterator) all go through in well under a second each.
#[test]
fn long_adversarial_inputs_are_linear() {
    let inputs = [
        "\u{0301}".repeat(100_000),
        "\u{0301}\u{0316}\u{0CBC}\u{0CCD}".repeat(25_000),
        "ಕ್".repeat(50_000),
        "ಕ್\u{200D}".repeat(33_000),
        "ಕ\u{0CC6}\u{0CC2}\u{0CD5}".repeat(25_000),
        "kSh".repeat(33_000),
        "~".repeat(100_000),
        "👨\u{200D}".repeat(50_000),
    ];
    let tok = Tokenizer::from_text("ಕನ್ನಡ");
    let start = std::time::Instant::now();
    for s in &inputs {
        let n = nfc(s);
        let e = tok.encode(s);
        assert_eq!(e.ids.len() + e.unknown.len(), n.chars().count());
        assert_eq!(segment(s).concat(), *s);
        let out = latin_to_kannada(s);
        assert_eq!(latin_to_kannada(&out), out);
    }
    // ~0.3 s in release on a loaded 2-core machine; quadratic behaviour would take minutes.
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}
