//! The page's incremental API (`KvCache` in `src/wasm/kv_cache.rs`), in a real browser:
//!
//!     wasm-pack test --headless --firefox --release --mode no-install -- --test wasm_kv
//!
//! The cache must give what `Model.forward` gives on the same ids (cropped to block_size):
//! attention and next-character probabilities of every position, while typing, deleting,
//! editing and past block_size; `sampleAppend` must generate what sampling from a full
//! recompute generates.
#![cfg(target_arch = "wasm32")]

use kgpt::wasm::{KvCache, Model, Sampler};
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
        Err(_) => panic!("fixture does not load"),
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Softmax of one row (the reference for `probsAt`, in f64).
fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = row.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| (v / z) as f32).collect()
}

/// Cache vs full forward on `ids`.
fn agree(m: &mut Model, s: &mut KvCache, ids: &[u32]) -> usize {
    let reused = match s.sync(m, ids) {
        Ok(r) => r,
        Err(e) => panic!("sync: {}", message(e)),
    };
    let out = m.forward(ids).ok().unwrap();
    assert_eq!(s.tokens(), out.tokens());
    assert_eq!(s.cropped_tokens(), out.cropped_tokens());
    assert!(s.output_finite());
    let t = out.tokens();
    // Next-character probabilities after the last position: the KV-cache contract (≤ 1e-5).
    let want_p = m.next_probs(ids, 1.0).ok().unwrap().to_vec();
    let dp = max_abs_diff(&s.probs_at(t - 1, 1.0).ok().unwrap().to_vec(), &want_p);
    assert!(dp <= 1e-5, "next-char probabilities differ by {dp}");
    // Attention of the stress fixture is very peaked: the PyTorch-parity tolerance.
    let want_att = out.attention().to_vec();
    let da = max_abs_diff(&s.attention().to_vec(), &want_att);
    assert!(da < 1e-4, "attention differs by {da}");
    // Every earlier position's probabilities (the page shows them for a cursor inside the text).
    let logits = out.logits().to_vec();
    let v = logits.len() / t;
    for p in [0, t / 2, t - 1] {
        let got = s.probs_at(p, 1.0).ok().unwrap().to_vec();
        let d = max_abs_diff(&got, &softmax(&logits[p * v..(p + 1) * v]));
        assert!(d <= 1e-4, "probabilities after position {p} differ by {d}");
    }
    reused
}

#[wasm_bindgen_test]
fn cache_matches_forward_while_typing_editing_and_past_block_size() {
    let mut m = product();
    let mut s = KvCache::new(&m);
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
    let mut s = KvCache::new(&m);
    let mut sampler = Sampler::new(42);
    s.sync(&m, &prompt).ok().unwrap();
    let fast: Vec<u32> = (0..130)
        .map(|_| s.sample_append(&m, 0.8, 0, &mut sampler).ok().unwrap())
        .collect();
    // the reference: a full forward of the last block_size ids for every character, sampled
    // with the library's sampler and the same seeded random state
    let mut rng = kgpt::rng::Rng::new(42);
    let mut ctx = prompt.clone();
    for _ in 0..130 {
        let window = &ctx[ctx.len().saturating_sub(128)..];
        let logits = m.forward(window).ok().unwrap().logits().to_vec();
        let last = &logits[logits.len() - 89..];
        ctx.push(kgpt::sample::sample_next(last, 0.8, 0, &mut rng));
    }
    assert_eq!(fast, ctx[prompt.len()..].to_vec());
}

#[wasm_bindgen_test]
fn cache_errors_and_weight_changes() {
    let mut m = product();
    let mut s = KvCache::new(&m);
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
    assert!(message(s.probs_at(30, 1.0).err().unwrap()).contains("outside the 30 positions"));
    // Training changes the weights: sampleAppend refuses, sync recomputes everything.
    m.set_training_text(&"ಕನ್ನಡ ನಾಡು ".repeat(20), 1)
        .ok()
        .unwrap();
    m.train_step(2, 1e-3).ok().unwrap();
    assert!(s.sample_append(&m, 1.0, 0, &mut sampler).is_err());
    assert_eq!(agree(&mut m, &mut s, &ids), 0);
}

/// `PRODUCT` with `ln_f.weight` and `lm_head.weight` × 1e38 (clamped to f32's range): finite
/// weights, so the loader accepts them, but the logits overflow.
fn overflowing_product() -> Vec<u8> {
    use safetensors::tensor::{SafeTensors, TensorView};
    let st = SafeTensors::deserialize(PRODUCT).unwrap();
    let (_, header) = SafeTensors::read_metadata(PRODUCT).unwrap();
    let owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let mut data = v.data().to_vec();
            if name == "ln_f.weight" || name == "lm_head.weight" {
                for b in data.chunks_exact_mut(4) {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    b.copy_from_slice(&(x * 1e38).clamp(-3.4e38, 3.4e38).to_le_bytes());
                }
            }
            (name, v.dtype(), v.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::tensor::serialize(views, header.metadata().clone()).unwrap()
}

#[wasm_bindgen_test]
fn output_finite_tells_overflowing_logits_apart() {
    let ids: Vec<u32> = (0..20).map(|i| (i * 5 + 1) % 89).collect();
    let m = product();
    let mut s = KvCache::new(&m);
    s.sync(&m, &ids).ok().unwrap();
    assert!(s.output_finite());
    let huge = match Model::from_safetensors(&overflowing_product()) {
        Ok(m) => m,
        Err(_) => panic!("finite weights are accepted"),
    };
    let mut s = KvCache::new(&huge);
    s.sync(&huge, &ids).ok().unwrap();
    assert!(!s.output_finite(), "the logits overflow");
}
