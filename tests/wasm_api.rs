//! The WebAssembly API the page uses (`src/wasm/`), tested in a real browser:
//!
//!     wasm-pack test --headless --firefox --release --mode no-install -- --test wasm_api
//!
//! Shapes, probability rows, the causal mask, agreement with PyTorch (the `product_gpt` and
//! `gptpy_state_dict` fixtures) and with the Rust core, cropping to block_size, the tokenizer,
//! the product config, training, sampling determinism, the text helpers, and errors: every bad
//! input must come back as a JS `Error` with a message, never a trap.
#![cfg(target_arch = "wasm32")]

use kgpt::checkpoint;
use kgpt::wasm::{self, KvCache, Model, Sampler};
use safetensors::tensor::SafeTensors;

mod common;
use common::{f32s, ids, max_abs_diff};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const PRODUCT: &[u8] = include_bytes!("fixtures/product_gpt.safetensors");
const PRODUCT_EXPECTED: &[u8] = include_bytes!("fixtures/product_gpt.expected.safetensors");
const GPTPY: &[u8] = include_bytes!("fixtures/gptpy_state_dict.safetensors");
const GPTPY_EXPECTED: &[u8] = include_bytes!("fixtures/gptpy_state_dict.expected.safetensors");
const GPTPY_VOCAB: &str = include_str!("fixtures/gptpy_vocab.txt");

/// Tolerance against PyTorch (float32, different summation order).
const TOL: f32 = 1e-4;

/// The JS `Error` a fallible call threw (`JsError` or `JsValue`).
fn js_error(err: impl Into<JsValue>) -> js_sys::Error {
    let value: JsValue = err.into();
    value.dyn_into().expect("a JS Error object")
}

/// The message of an error as JavaScript sees it (`err.message`).
fn message(err: impl Into<JsValue>) -> String {
    String::from(js_error(err).message())
}

/// `Err(message)` of a fallible call (the Ok types are not `Debug`, so no `unwrap_err`).
fn error_of<T, E: Into<JsValue>>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => message(e),
    }
}

fn product() -> Model {
    match Model::from_safetensors(PRODUCT) {
        Ok(m) => m,
        Err(e) => panic!("product fixture: {}", message(e)),
    }
}

struct Cfg {
    vocab_size: usize,
    n_head: usize,
    n_layer: usize,
    block_size: usize,
}

fn cfg(m: &Model) -> Cfg {
    let v: serde_json::Value = serde_json::from_str(&m.config_json()).unwrap();
    let get = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("config lacks {k}")) as usize;
    Cfg {
        vocab_size: get("vocab_size"),
        n_head: get("n_head"),
        n_layer: get("n_layer"),
        block_size: get("block_size"),
    }
}

/// Ids of `text` through the wasm `tokenize` (the same path the page uses).
fn encode_ids(m: &Model, text: &str) -> Vec<u32> {
    m.tokenize(text, 0).ids().to_vec()
}

/// Checks shape, row sums, the causal mask; returns (t, attention).
fn check_attention(m: &mut Model, ids: &[u32]) -> (usize, Vec<f32>) {
    let c = cfg(m);
    let out = match m.forward(ids) {
        Ok(o) => o,
        Err(e) => panic!("forward: {}", message(e)),
    };
    let t = out.tokens();
    assert_eq!(t, ids.len().min(c.block_size));
    assert_eq!(out.cropped_tokens(), ids.len() - t);
    let logits = out.logits().to_vec();
    assert_eq!(logits.len(), t * c.vocab_size, "logits [T, V]");
    assert!(logits.iter().all(|x| x.is_finite()));
    let att = out.attention().to_vec();
    assert_eq!(
        att.len(),
        c.n_layer * c.n_head * t * t,
        "attention [L, H, T, T]"
    );
    for (m_idx, map) in att.chunks_exact(t * t).enumerate() {
        for q in 0..t {
            let row = &map[q * t..(q + 1) * t];
            let sum: f32 = row.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-5,
                "map {m_idx} row {q} sums to {sum}"
            );
            assert!(row[..=q].iter().all(|&p| (0.0..=1.0).contains(&p)));
            assert!(
                row[q + 1..].iter().all(|&p| p == 0.0),
                "map {m_idx} row {q}: weight above the diagonal"
            );
        }
    }
    (t, att)
}

#[wasm_bindgen_test]
fn forward_shapes_rows_and_causal_mask() {
    let mut m = product();
    let c = cfg(&m);
    assert_eq!((c.n_layer, c.n_head, c.block_size), (4, 4, 128));
    assert_eq!(m.param_count(), 218_969);
    assert_eq!(m.vocab().length() as usize, c.vocab_size);
    for text in ["ಜ", "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ", "ಕನ್ನಡ ನಾಡು ನುಡಿ, ಕನ್ನಡವೇ ಸತ್ಯ!"]
    {
        let ids = encode_ids(&m, text);
        assert_eq!(
            ids.len(),
            text.chars().count(),
            "{text}: all chars in vocabulary"
        );
        check_attention(&mut m, &ids);
    }
}

#[wasm_bindgen_test]
fn forward_crops_to_block_size() {
    let mut m = product();
    let text = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ".repeat(12); // 204 chars
    let ids = encode_ids(&m, &text);
    assert!(ids.len() > 128);
    let (t, att) = check_attention(&mut m, &ids);
    assert_eq!(t, 128);
    let (_, tail) = check_attention(&mut m, &ids[ids.len() - 128..]);
    assert_eq!(
        att, tail,
        "cropped forward = forward of the last block_size ids"
    );
}

#[wasm_bindgen_test]
fn agrees_with_pytorch_fixture() {
    let mut m = product();
    let exp = SafeTensors::deserialize(PRODUCT_EXPECTED).unwrap();
    for case in 0..3 {
        let x = ids(&exp, &format!("case{case}.ids"));
        let out = match m.forward(&x) {
            Ok(o) => o,
            Err(e) => panic!("forward: {}", message(e)),
        };
        let d = max_abs_diff(
            &out.logits().to_vec(),
            &f32s(&exp, &format!("case{case}.logits")),
        );
        assert!(d <= TOL, "case{case} logits: max abs diff {d}");
        let d = max_abs_diff(
            &out.attention().to_vec(),
            &f32s(&exp, &format!("case{case}.attention")),
        );
        assert!(d <= TOL, "case{case} attention: max abs diff {d}");
    }
}

#[wasm_bindgen_test]
fn agrees_with_the_rust_core() {
    let mut m = product();
    let core = checkpoint::load(PRODUCT, None).unwrap();
    let x = encode_ids(&m, "ಕನ್ನಡ ನಾಡು ನುಡಿ");
    let native = core.model.forward_eval(&x, None).unwrap();
    let out = match m.forward(&x) {
        Ok(o) => o,
        Err(e) => panic!("forward: {}", message(e)),
    };
    assert!(max_abs_diff(&out.logits().to_vec(), &native.logits) <= 1e-6);
    assert!(max_abs_diff(&out.attention().to_vec(), &native.attention) <= 1e-6);
}

#[wasm_bindgen_test]
fn gpt_py_state_dict_with_vocabulary_text() {
    // Without a vocabulary the file is refused with the library's message, as an Error whose
    // name the page keys its hint on (choose the vocabulary file).
    let err = match Model::from_safetensors(GPTPY) {
        Ok(_) => panic!("a state_dict without vocabulary was accepted"),
        Err(e) => js_error(e),
    };
    assert_eq!(String::from(err.name()), wasm::MISSING_VOCABULARY);
    assert!(String::from(err.message()).contains("vocab"));
    // Other bad files are plain Errors.
    let other = match Model::from_safetensors(b"not a safetensors file") {
        Ok(_) => panic!("garbage accepted"),
        Err(e) => js_error(e),
    };
    assert_eq!(String::from(other.name()), "Error");
    let mut m = match Model::from_state_dict(GPTPY, GPTPY_VOCAB) {
        Ok(m) => m,
        Err(e) => panic!("state dict: {}", message(e)),
    };
    let exp = SafeTensors::deserialize(GPTPY_EXPECTED).unwrap();
    let x = ids(&exp, "case2.ids");
    let out = match m.forward(&x) {
        Ok(o) => o,
        Err(e) => panic!("forward: {}", message(e)),
    };
    let d = max_abs_diff(&out.attention().to_vec(), &f32s(&exp, "case2.attention"));
    assert!(d <= TOL, "attention: max abs diff {d}");
    let d = max_abs_diff(&out.logits().to_vec(), &f32s(&exp, "case2.logits"));
    assert!(d <= TOL, "logits: max abs diff {d}");
}

#[wasm_bindgen_test]
fn next_probs_is_a_distribution_matching_the_last_row() {
    let mut m = product();
    let x = encode_ids(&m, "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ");
    let p = match m.next_probs(&x, 1.0) {
        Ok(p) => p.to_vec(),
        Err(e) => panic!("nextProbs: {}", message(e)),
    };
    let c = cfg(&m);
    assert_eq!(p.len(), c.vocab_size);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // softmax of the last logits row
    let out = m.forward(&x).ok().unwrap();
    let logits = out.logits().to_vec();
    let last = &logits[(x.len() - 1) * c.vocab_size..];
    let max = last.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = last.iter().map(|l| (l - max).exp()).collect();
    let z: f32 = e.iter().sum();
    let want: Vec<f32> = e.iter().map(|v| v / z).collect();
    assert!(max_abs_diff(&p, &want) < 1e-6);
}

#[wasm_bindgen_test]
fn sampling_is_reproducible_for_a_seed() {
    let m = product();
    let prompt = encode_ids(&m, "ಕನ್ನಡ");
    let run = |seed: u32| -> Vec<u32> {
        let mut sampler = Sampler::new(seed);
        let mut cache = KvCache::new(&m);
        cache.sync(&m, &prompt).ok().unwrap();
        (0..40)
            .map(|_| cache.sample_append(&m, 0.9, 20, &mut sampler).ok().unwrap())
            .collect()
    };
    let a = run(42);
    let b = run(42);
    let c = run(43);
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed, another text");
    let v = cfg(&m).vocab_size as u32;
    assert!(a.iter().all(|&id| id < v));
}

#[wasm_bindgen_test]
fn train_steps_lower_the_loss() {
    let mut m = product();
    let text = "ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ. ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ".repeat(8);
    let n = m.set_training_text(&text, 7).ok().unwrap();
    // 288 characters: the last block_size + 1 = 129 are held out (10 % would be fewer).
    assert_eq!(m.held_out_chars(), 129);
    assert_eq!(n + m.held_out_chars(), text.chars().count());
    let losses: Vec<f32> = (0..25)
        .map(|_| match m.train_step(4, 3e-3) {
            Ok(l) => l,
            Err(e) => panic!("trainStep: {}", message(e)),
        })
        .collect();
    assert!(losses.iter().all(|l| l.is_finite()));
    let first = losses[0];
    let last: f32 = losses[20..].iter().sum::<f32>() / 5.0;
    assert!(last < first - 0.3, "loss {first} → {last}");
    assert_eq!(m.step_count(), 25.0);
    // the trained weights survive a safetensors round trip
    let bytes = m.to_safetensors().ok().unwrap();
    let mut again = match Model::from_safetensors(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("round trip: {}", message(e)),
    };
    let x = encode_ids(&m, "ಜ್ಞಾನವೇ");
    let a = m.forward(&x).ok().unwrap().logits().to_vec();
    let b = again.forward(&x).ok().unwrap().logits().to_vec();
    assert_eq!(a, b);
    // a reloaded model starts counting again
    assert_eq!(again.step_count(), 0.0);
}

#[wasm_bindgen_test]
fn model_from_scratch_trains() {
    let text = "ಅಕ್ಕ ಅಣ್ಣ ಅಪ್ಪ ಅಮ್ಮ ".repeat(10);
    let config = r#"{"n_embd": 32, "n_head": 2, "n_layer": 2, "block_size": 32, "dropout": 0.0}"#;
    let mut m = match Model::init(&text, config, 3) {
        Ok(m) => m,
        Err(e) => panic!("init: {}", message(e)),
    };
    let c = cfg(&m);
    assert_eq!((c.n_layer, c.n_head, c.block_size), (2, 2, 32));
    assert_eq!(c.vocab_size, {
        let mut v: Vec<char> = text.chars().collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    });
    m.set_training_text(&text, 1).ok().unwrap();
    let l0 = m.train_step(8, 1e-2).ok().unwrap();
    let mut l = l0;
    for _ in 0..30 {
        l = m.train_step(8, 1e-2).ok().unwrap();
    }
    assert!(l < l0 - 0.5, "{l0} → {l}");
}

#[wasm_bindgen_test]
fn bad_input_is_a_js_error_with_a_message() {
    for bytes in [&b""[..], b"not a safetensors file", &PRODUCT[..100]] {
        let msg = error_of(Model::from_safetensors(bytes));
        assert!(msg.len() > 5, "message: {msg:?}");
    }
    // flipped header length
    let mut corrupt = PRODUCT.to_vec();
    corrupt[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(!error_of(Model::from_safetensors(&corrupt)).is_empty());

    let mut m = product();
    let v = cfg(&m).vocab_size as u32;
    assert!(!error_of(m.forward(&[])).is_empty(), "empty ids");
    assert!(!error_of(m.forward(&[0, v])).is_empty(), "id out of range");
    assert!(!error_of(m.next_probs(&[v + 7], 1.0)).is_empty());
    let mut cache = KvCache::new(&m);
    assert!(!error_of(cache.sync(&m, &[u32::MAX])).is_empty());
    // training before any text, bad lr and batch sizes
    assert!(error_of(m.train_step(4, 1e-3)).contains("setTrainingText"));
    assert!(!error_of(m.set_training_text("abc xyz", 1)).is_empty());
    m.set_training_text("ಕನ್ನಡ ನಾಡು", 1).ok().unwrap();
    for lr in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(error_of(m.train_step(2, lr)).contains("learning rate"));
    }
    assert!(!error_of(m.train_step(0, 1e-3)).is_empty());
    assert!(!error_of(m.train_step(10_000, 1e-3)).is_empty());
    // impossible configs, each refused with a message naming the problem
    let small = r#"{"n_embd": 32, "n_head": 2, "n_layer": 2, "block_size": 16, "dropout": 0.0}"#;
    assert!(error_of(Model::init("ಕ", small, 1)).contains("2 distinct characters"));
    let odd = r#"{"n_embd": 30, "n_head": 4, "n_layer": 2, "block_size": 16, "dropout": 0.0}"#;
    assert!(error_of(Model::init("ಕನ", odd, 1)).contains("n_head"));
    assert!(error_of(Model::init("ಕನ", "{", 1)).contains("not JSON"));
    assert!(error_of(Model::init("ಕನ", "[1]", 1)).contains("JSON object"));
    let with_vocab = r#"{"vocab_size": 2, "n_embd": 32, "n_head": 2, "n_layer": 2, "block_size": 16, "dropout": 0.0}"#;
    assert!(error_of(Model::init("ಕನ", with_vocab, 1)).contains("vocab_size"));
    let missing = r#"{"n_embd": 32, "n_head": 2, "n_layer": 2, "dropout": 0.0}"#;
    assert!(error_of(Model::init("ಕನ", missing, 1)).contains("block_size"));
    let typo = r#"{"n_embed": 32, "n_head": 2, "n_layer": 2, "block_size": 16, "dropout": 0.0}"#;
    assert!(error_of(Model::init("ಕನ", typo, 1)).contains("n_embed"));
    // the model still works after all of that
    check_attention(&mut m, &[1, 2, 3]);
}

/// What the worker used to compute in JS (`scan`): ids, UTF-16 offsets, unknown characters and
/// the cursor's token index, from the model's own tokenizer.
#[wasm_bindgen_test]
fn tokenize_gives_ids_offsets_unknown_characters_and_the_cursor() {
    let m = product();
    // "A" and "😀" (two UTF-16 units) are not in the vocabulary, "😀" twice.
    let text = "ಕA😀ನ😀 ಕ";
    let t = m.tokenize(text, 0);
    let ids = t.ids().to_vec();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], ids[3], "ಕ twice");
    assert_eq!(t.offsets().to_vec(), [0, 4, 7, 8], "UTF-16 offsets");
    assert_eq!(t.chars(), 7);
    assert_eq!(t.unknown(), 3);
    let samples = t.unknown_samples();
    assert_eq!(samples.length(), 2, "distinct unknown characters");
    let first: js_sys::Array = samples.get(0).dyn_into().unwrap();
    assert_eq!(first.get(0).as_string().unwrap(), "A");
    let second: js_sys::Array = samples.get(1).dyn_into().unwrap();
    assert_eq!(second.get(0).as_string().unwrap(), "😀");
    assert_eq!(second.get(1).as_f64().unwrap(), 2.0);
    assert_eq!(t.cursor_tokens(), 0);
    // cursor after "ಕA😀" (UTF-16 offset 4): one known character before it
    assert_eq!(m.tokenize(text, 4).cursor_tokens(), 1);
    assert_eq!(m.tokenize(text, 5).cursor_tokens(), 2, "after ನ");
    assert_eq!(m.tokenize(text, 100).cursor_tokens(), 4, "past the end");
    assert_eq!(m.tokenize("", 0).ids().length(), 0);
    // the ids are the vocabulary's
    let vocab = m.vocab();
    assert_eq!(vocab.get(ids[0]).as_string().unwrap(), "ಕ");
    assert_eq!(vocab.get(ids[1]).as_string().unwrap(), "ನ");
    // the tokenizer takes the text as given (the page normalises first): a decomposed ಕೊ is
    // ಕ + ೆ + ೂ, not the composed vowel sign
    let decomposed = m.tokenize("ಕ\u{0CC6}\u{0CC2}", 0);
    let composed = m.tokenize(&wasm::nfc("ಕ\u{0CC6}\u{0CC2}"), 0);
    assert_eq!(composed.ids().length(), 2);
    assert_eq!(decomposed.chars(), 3);
    // at most 12 distinct samples, all counted
    let many: String = ('a'..='z').collect();
    let t = m.tokenize(&many, 0);
    assert_eq!(t.unknown(), 26);
    assert_eq!(t.unknown_samples().length(), 12);
}

/// The product config comes from Rust: what `Model.init` builds when there are no weights.
#[wasm_bindgen_test]
fn product_config_is_the_shipped_models_shape() {
    let product_json: serde_json::Value =
        serde_json::from_str(&wasm::product_config_json()).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(&product().config_json()).unwrap();
    for key in ["n_embd", "n_head", "n_layer", "block_size", "dropout"] {
        assert_eq!(product_json[key], shipped[key], "{key}");
    }
    assert!(product_json.get("vocab_size").is_none());
    let text = "ಕನ್ನಡ ನಾಡು ನುಡಿ";
    let fresh = match Model::init(text, &wasm::product_config_json(), 1337) {
        Ok(m) => m,
        Err(e) => panic!("init: {}", message(e)),
    };
    let c = cfg(&fresh);
    assert_eq!((c.n_layer, c.n_head, c.block_size), (4, 4, 128));
    // ಕ ನ ◌್ ಡ ␣ ◌ಾ ◌ು ◌ಿ
    assert_eq!(c.vocab_size, 8, "distinct characters of the text");
}

#[wasm_bindgen_test]
fn text_helpers() {
    assert_eq!(wasm::nfc("ಕ\u{0CC6}\u{0CC2}"), "ಕೊ");
    assert_eq!(wasm::transliterate("kannaDa"), "ಕನ್ನಡ");
    assert_eq!(wasm::transliterate("j~nAnavE shrEShTha"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ");
    let table = wasm::transliteration_table();
    assert!(table.length() > 50);
    let row: js_sys::Array = table.get(0).dyn_into().unwrap();
    assert_eq!(row.length(), 3);
    let flat = wasm::segment_aksharas("ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ").to_vec();
    assert_eq!(flat, [0, 4, 4, 5, 5, 7, 7, 8, 8, 12, 12, 15]);
    // no normalisation: indices refer to the chars as given
    assert_eq!(wasm::segment_aksharas("ಕ\u{0CC6}\u{0CC2}").to_vec(), [0, 3]);
    assert_eq!(wasm::akshara_label("ಾ"), "◌ಾ");
    assert_eq!(wasm::akshara_label("ಜ್ಞಾ"), "ಜ್ಞಾ");
    assert!(!wasm::kernel_name().is_empty());
}

/// A diverging learning rate in the page: the step throws an Error that says so, the update is
/// not applied and the model answers exactly as before.
#[wasm_bindgen_test]
fn a_diverging_learning_rate_is_refused_and_the_model_is_unchanged() {
    let mut m = product();
    m.set_training_text(&"ಕನ್ನಡ ನಾಡು ನುಡಿ. ".repeat(40), 3)
        .ok()
        .unwrap();
    m.train_step(2, 1e-3).ok().unwrap();
    let ids = [1u32, 2, 3, 4, 5];
    let before = m.forward(&ids).ok().unwrap().logits().to_vec();
    let steps = m.step_count();
    let msg = error_of(m.train_step(2, 10.0));
    assert!(msg.contains("training diverged"), "{msg}");
    assert!(msg.contains("lower the learning rate"), "{msg}");
    assert_eq!(m.step_count(), steps);
    let after = m.forward(&ids).ok().unwrap().logits().to_vec();
    assert_eq!(before, after, "the refused update changed the model");
    // Training goes on at a sane rate.
    assert!(m.train_step(2, 1e-3).ok().unwrap().is_finite());
    // ...and that step can be undone (the page does when its weights overflow): the model
    // answers as before it, once.
    assert_eq!(m.step_count(), steps + 1.0);
    assert!(m.undo_last_step());
    assert_eq!(m.step_count(), steps);
    assert_eq!(m.forward(&ids).ok().unwrap().logits().to_vec(), before);
    assert!(!m.undo_last_step(), "only the last step can be undone");
}

/// Data-parallel training (www/data-parallel.js): K models with the same weights and text each
/// compute a run of a step's gradient chunks; a coordinator that sums them and applies AdamW
/// once follows a one-worker `trainStep` run bit for bit (losses and weights, dropout on), for
/// K = 1, 2, 3 with uneven shares; bad shares, lengths and steps are JS errors that change
/// nothing.
#[wasm_bindgen_test]
fn data_parallel_steps_equal_one_worker_steps() {
    let text = "ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ. ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ".repeat(12);
    let (batch, lr) = (5usize, 3e-3f32);
    assert_eq!(wasm::gradient_chunk_count(batch), 5);
    assert_eq!(wasm::gradient_chunk_count(40), 16);
    let trained = |m: &mut Model| assert!(m.set_training_text(&text, 7).is_ok());
    for splits in [vec![0usize, 5], vec![0, 3, 5], vec![0, 1, 2, 5]] {
        let (mut one, mut coordinator) = (product(), product());
        trained(&mut one);
        trained(&mut coordinator);
        let mut workers: Vec<Model> = splits.windows(2).map(|_| product()).collect();
        for w in &mut workers {
            trained(w);
        }
        for step in 0..3 {
            let weights = coordinator.params().to_vec();
            let mut row_losses = Vec::new();
            for (k, (w, pair)) in workers.iter_mut().zip(splits.windows(2)).enumerate() {
                assert!(w.set_params(&weights).is_ok());
                // the first worker sends its chunks summed (one block), the others each chunk
                let share = match w.gradient_chunks(
                    batch,
                    pair[0],
                    pair[1],
                    coordinator.step_count(),
                    k == 0,
                ) {
                    Ok(s) => s,
                    Err(e) => panic!("gradientChunks: {}", message(e)),
                };
                let chunks = pair[1] - pair[0];
                assert_eq!(share.chunks(), chunks);
                assert_eq!(share.summed(), k == 0);
                let blocks = if k == 0 { 1 } else { chunks };
                assert_eq!(share.grads().length() as usize, blocks * weights.len());
                assert_eq!(share.tokens(), share.row_losses().length() as usize * 128);
                if let Err(e) = coordinator.add_gradients(&share.grads().to_vec(), chunks, k == 0) {
                    panic!("addGradients: {}", message(e));
                }
                row_losses.extend(share.row_losses().to_vec());
            }
            let want = one.train_step(batch, lr).ok().unwrap();
            let got = match coordinator.apply_gradient_sum(&row_losses, lr) {
                Ok(l) => l,
                Err(e) => panic!("applyGradientSum: {}", message(e)),
            };
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{splits:?} step {step}: loss {got} vs {want}"
            );
            let (a, b) = (coordinator.params().to_vec(), one.params().to_vec());
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{splits:?} step {step}: weights differ by {}",
                max_abs_diff(&a, &b)
            );
        }
        assert_eq!(coordinator.step_count(), 3.0);
        // The steps moved the weights (the comparison above can fail).
        assert!(max_abs_diff(&coordinator.params().to_vec(), &product().params().to_vec()) > 1e-4);
    }
    // Bad input: a JS error, nothing changed.
    let mut m = product();
    assert!(error_of(m.gradient_chunks(4, 0, 2, 0.0, false)).contains("setTrainingText"));
    assert!(m.set_training_text(&text, 7).is_ok());
    for (first, end) in [(0, 0), (3, 2), (0, 5)] {
        assert!(
            error_of(m.gradient_chunks(4, first, end, 0.0, false)).contains("chunks"),
            "{first}..{end}"
        );
    }
    for step in [-1.0, 1.5, f64::NAN, f64::INFINITY] {
        assert!(
            error_of(m.gradient_chunks(4, 0, 2, step, false)).contains("whole number"),
            "{step}"
        );
    }
    assert!(!error_of(m.gradient_chunks(0, 0, 1, 0.0, false)).is_empty());
    let before = m.params().to_vec();
    let n = before.len();
    assert!(error_of(m.set_params(&before[1..])).contains(&n.to_string()));
    // a sum must start with the first share, hold every chunk, and be finite
    assert!(error_of(m.add_gradients(&vec![0.0; n], 1, false)).contains("no gradient sum"));
    assert!(error_of(m.add_gradients(&vec![0.0; n + 1], 1, true)).contains("gradient values"));
    assert!(error_of(m.apply_gradient_sum(&[1.0], lr)).contains("chunks"));
    assert!(m.add_gradients(&vec![0.0; n], 1, true).is_ok());
    assert!(error_of(m.apply_gradient_sum(&[1.0, 1.0], lr)).contains("chunks"));
    assert!(m.add_gradients(&vec![f32::NAN; n], 1, true).is_ok());
    assert!(error_of(m.apply_gradient_sum(&[1.0], lr)).contains("non-finite"));
    assert!(error_of(m.apply_gradient_sum(&[1.0], -1.0)).contains("learning rate"));
    assert_eq!(m.params().to_vec(), before);
    assert_eq!(m.step_count(), 0.0);
}

/// Issue 11's exports: the knock-out set reaches forward, nextProbs, the KV cache and
/// bitsPerChar, undoing it restores the intact output exactly; the logit lens ends in the
/// model's output; head scores, the embedding map and the held-out split have their shapes.
#[wasm_bindgen_test]
fn knockout_lens_scores_map_and_held_out() {
    let mut m = product();
    let c = cfg(&m);
    let text = "ಕನ್ನಡ ನಾಡು ಕನ್ನಡ ನುಡಿ. ಹಿತ್ತಲ ಗಿಡ ಮದ್ದಲ್ಲ. ಅತಿ ಆಸೆ ಗತಿ ಕೇಡು.";
    let ids = encode_ids(&m, text);
    let intact = m.next_probs(&ids, 1.0).unwrap().to_vec();
    let mut cache = KvCache::new(&m);
    cache.sync(&m, &ids).unwrap();
    let cached_intact = cache.probs_at(ids.len() - 1, 1.0).unwrap().to_vec();
    let intact_bits = m.bits_per_char(text, 4, true).unwrap();

    m.set_knockout("2.1, 0.3").unwrap();
    assert_eq!(m.knockout(), "0.3,2.1");
    let knocked = m.next_probs(&ids, 1.0).unwrap().to_vec();
    assert!(
        max_abs_diff(&knocked, &intact) > 1e-4,
        "the knock-out changes the output"
    );
    assert_eq!(
        cache.sync(&m, &ids).unwrap(),
        0,
        "a new set recomputes every position"
    );
    let cached = cache.probs_at(ids.len() - 1, 1.0).unwrap().to_vec();
    assert!(max_abs_diff(&cached, &knocked) <= 1e-5);
    let knocked_bits = m.bits_per_char(text, 4, true).unwrap();
    assert!((knocked_bits - intact_bits).abs() > 1e-4);
    assert_eq!(m.bits_per_char(text, 4, false).unwrap(), intact_bits);
    let lens = m.logit_lens(&ids, ids.len() - 1).unwrap().to_vec();
    assert_eq!(lens.len(), c.n_layer * c.vocab_size);
    assert!(max_abs_diff(&lens[(c.n_layer - 1) * c.vocab_size..], &knocked) <= 1e-6);

    // Bad sets are refused and leave the set as it was.
    for bad in ["9.9", "x", "0.1,,0.2", "1.1,1.1"] {
        assert!(!error_of(m.set_knockout(bad)).is_empty(), "{bad}");
        assert_eq!(m.knockout(), "0.3,2.1");
    }
    m.set_knockout("").unwrap();
    assert_eq!(m.knockout(), "");
    assert_eq!(
        m.next_probs(&ids, 1.0).unwrap().to_vec(),
        intact,
        "undo is exact"
    );
    cache.sync(&m, &ids).unwrap();
    assert!(
        max_abs_diff(
            &cache.probs_at(ids.len() - 1, 1.0).unwrap().to_vec(),
            &cached_intact
        ) <= 1e-6
    );
    assert!(error_of(m.logit_lens(&ids, ids.len())).contains("outside"));
    assert!(!error_of(m.bits_per_char("ಕ", 4, true)).is_empty());

    let scores: serde_json::Value = serde_json::from_str(&m.head_scores(text, 2).unwrap()).unwrap();
    assert_eq!(scores["windows"], 1, "a short text is one window");
    assert_eq!(
        scores["heads"].as_array().unwrap().len(),
        c.n_layer * c.n_head
    );
    let map: serde_json::Value = serde_json::from_str(&m.embedding_map()).unwrap();
    assert_eq!(map["points"].as_array().unwrap().len(), c.vocab_size);
    assert_eq!(
        m.position_similarity().length() as usize,
        c.block_size * c.block_size
    );

    // Training text: the last 10 % (≥ block_size + 1) is held out when enough is left.
    let long = text.repeat(20);
    let trained = m.set_training_text(&long, 1).unwrap();
    let held = m.held_out_chars();
    assert_eq!(trained + held, encode_ids(&m, &long).len());
    assert!(held > c.block_size);
    let loss = m.held_out_loss(4).unwrap().expect("something is held out");
    assert!(loss.is_finite() && loss > 0.0);
    m.set_training_text(text, 1).unwrap();
    assert_eq!(m.held_out_chars(), 0);
    assert!(m.held_out_loss(4).unwrap().is_none());
}
