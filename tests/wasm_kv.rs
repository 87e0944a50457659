//! The page's incremental API (`KvSession` in `src/wasm.rs`), in a real browser:
//!
//!     wasm-pack test --headless --firefox --release --mode no-install -- --test wasm_kv
//!
//! The session must give what `Model.forward` gives on the same ids (cropped to block_size):
//! attention and logits of every position, while typing, deleting, editing and past block_size;
//! `sampleAppend` must generate what `sampleNext` with a full recompute generates.
#![cfg(target_arch = "wasm32")]

use kgpt::wasm::{KvSession, Model, Sampler};
use wasm_bindgen::{JsCast, JsError, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const PRODUCT: &[u8] = include_bytes!("fixtures/product_stress.safetensors");

fn message(err: JsError) -> String {
    let value: JsValue = err.into();
    let error: js_sys::Error = value.dyn_into().expect("a JS Error object");
    String::from(error.message())
}

fn product() -> Model {
    match Model::from_safetensors(PRODUCT) {
        Ok(m) => m,
        Err(e) => panic!("fixture: {}", message(e)),
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Session vs full forward on `ids`.
fn agree(m: &mut Model, s: &mut KvSession, ids: &[u32]) -> usize {
    let reused = match s.sync(m, ids) {
        Ok(r) => r,
        Err(e) => panic!("sync: {}", message(e)),
    };
    let out = m.forward(ids).ok().unwrap();
    assert_eq!(s.t(), out.t());
    assert_eq!(s.cropped(), out.cropped());
    // Next-character probabilities: the KV-cache contract (≤ 1e-5).
    let want_p = m.next_probs(ids, 1.0).ok().unwrap().to_vec();
    let dp = max_abs_diff(&s.next_probs(1.0).to_vec(), &want_p);
    assert!(dp <= 1e-5, "next-char probabilities differ by {dp}");
    // Attention of the stress fixture is very peaked: the PyTorch-parity tolerance.
    let want_att = out.attention().to_vec();
    let da = max_abs_diff(&s.attention().to_vec(), &want_att);
    assert!(da < 1e-4, "attention differs by {da}");
    let want_logits = out.logits().to_vec();
    assert!(max_abs_diff(&s.logits().to_vec(), &want_logits) < 1e-3);
    let v = out.vocab_size();
    let t = out.t();
    assert!(max_abs_diff(&s.last_logits().to_vec(), &want_logits[(t - 1) * v..]) < 1e-3);
    // The rows from `reused` on, in the same layout.
    let rows = s.attention_rows(reused).to_vec();
    let l_h = want_att.len() / (t * t);
    assert_eq!(rows.len(), l_h * (t - reused) * t);
    reused
}

#[wasm_bindgen_test]
fn session_matches_forward_while_typing_editing_and_past_block_size() {
    let mut m = product();
    let mut s = KvSession::new(&m);
    let v = 89u32;
    let mut ids: Vec<u32> = Vec::new();
    for i in 0..140u32 {
        ids.push((i * 37 + 11) % v);
        let reused = agree(&mut m, &mut s, &ids);
        if ids.len() <= 128 {
            assert_eq!(reused, ids.len() - 1, "typing recomputes one position");
        }
    }
    // delete three, edit one in the middle of the window
    ids.truncate(100);
    agree(&mut m, &mut s, &ids);
    ids[50] = (ids[50] + 1) % v;
    assert_eq!(agree(&mut m, &mut s, &ids), 50);
}

#[wasm_bindgen_test]
fn sample_append_generates_what_a_full_recompute_generates() {
    let mut m = product();
    let prompt: Vec<u32> = (0..20).map(|i| (i * 7 + 3) % 89).collect();
    let mut s = KvSession::new(&m);
    let mut sampler = Sampler::new(42);
    s.sync(&m, &prompt).ok().unwrap();
    let fast: Vec<u32> = (0..130)
        .map(|_| s.sample_append(&m, 0.8, 0, &mut sampler).ok().unwrap())
        .collect();
    let mut sampler = Sampler::new(42);
    let mut ctx = prompt.clone();
    for _ in 0..130 {
        let id = m.sample_next(&ctx, 0.8, 0, &mut sampler).ok().unwrap();
        ctx.push(id);
    }
    assert_eq!(fast, ctx[prompt.len()..].to_vec());
}

#[wasm_bindgen_test]
fn session_errors_and_weight_changes() {
    let mut m = product();
    let mut s = KvSession::new(&m);
    let mut sampler = Sampler::new(1);
    let msg = match s.sample_append(&m, 1.0, 0, &mut sampler) {
        Ok(_) => panic!("sampled from an empty context"),
        Err(e) => message(e),
    };
    assert!(msg.contains("sync"), "{msg}");
    assert!(s.sync(&m, &[]).is_err());
    assert!(s.sync(&m, &[999]).is_err());
    let ids: Vec<u32> = (0..30).map(|i| i % 89).collect();
    s.sync(&m, &ids).ok().unwrap();
    // Training changes the weights: sampleAppend refuses, sync recomputes everything.
    m.set_training_text(&"ಕನ್ನಡ ನಾಡು ".repeat(20), 1)
        .ok()
        .unwrap();
    m.train_step(2, 1e-3).ok().unwrap();
    assert!(s.sample_append(&m, 1.0, 0, &mut sampler).is_err());
    assert_eq!(agree(&mut m, &mut s, &ids), 0);
}
