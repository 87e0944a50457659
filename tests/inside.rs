//! "Inside the model" against independent references (`scripts/make_inside_fixture.py`:
//! PyTorch forward hooks and NumPy on the `product_stress` model and www/data/proverbs.txt):
//! head knock-out (single heads, several, a whole layer) in the eval forward and the KV cache,
//! the logit lens, the head scores, the embedding map and the position similarity. Runs
//! natively and, through `wasm-pack test --headless --firefox`, in the browser.

use kgpt::analysis::embedding_map::{position_similarity, token_map};
use kgpt::analysis::heads::{score_heads, text_windows};
use kgpt::checkpoint;
use kgpt::model::{Knockout, KvCache, Model};
use kgpt::text::Tokenizer;
use kgpt::train::{bits_per_char, bits_per_char_with};
use safetensors::tensor::SafeTensors;

mod common;
use common::{f32s, ids, max_abs_diff};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const WEIGHTS: &[u8] = include_bytes!("fixtures/product_stress.safetensors");
const EXPECTED: &[u8] = include_bytes!("fixtures/inside.expected.safetensors");
const HEADS: &str = include_str!("fixtures/inside.heads.json");
const PROVERBS: &str = include_str!("../www/data/proverbs.txt");
/// The knock-out sets of the fixture, in its order (`ko0` …).
const KNOCKOUTS: [&str; 5] = [
    "0.1",
    "1.0,3.2",
    "2.0,2.1,2.2,2.3",
    "0.0,1.1,2.2,3.3",
    "3.3",
];
const TOL: f32 = 1e-4;

fn load() -> (Model, Tokenizer, SafeTensors<'static>) {
    let l = checkpoint::load(WEIGHTS, None).expect("fixture model");
    let exp = SafeTensors::deserialize(EXPECTED).expect("fixture");
    (l.model, l.tokenizer, exp)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn knockout_matches_pytorch_hooks() {
    let (m, _, exp) = load();
    for case in ["long", "short"] {
        let x = ids(&exp, &format!("{case}.ids"));
        let intact = m.forward_eval(&x, None).unwrap();
        assert!(max_abs_diff(&intact.logits, &f32s(&exp, &format!("{case}.logits"))) <= TOL);
        // Knocking out nothing is the plain forward, bit for bit.
        let none = m
            .forward_eval_with(&x, None, &Knockout::none(), false)
            .unwrap();
        assert_eq!(none.logits, intact.logits);
        for (i, spec) in KNOCKOUTS.iter().enumerate() {
            let k = Knockout::parse(spec, &m.config).unwrap();
            let got = m.forward_eval_with(&x, None, &k, false).unwrap();
            let want = f32s(&exp, &format!("{case}.ko{i}.logits"));
            let d = max_abs_diff(&got.logits, &want);
            assert!(d <= TOL, "{case} knock-out {spec}: max |Δ| {d}");
            // The knock-out must matter (the fixture model's heads all do) …
            let moved = max_abs_diff(&got.logits, &intact.logits);
            assert!(
                moved > 100.0 * TOL,
                "{case} {spec}: logits moved only {moved}"
            );
            // … and a knocked-out head's own attention pattern stays what it was.
            assert_eq!(
                got.attention[..x.len() * x.len()],
                intact.attention[..x.len() * x.len()]
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn kv_cache_with_knockout_equals_the_full_forward() {
    let (m, _, exp) = load();
    let x = ids(&exp, "short.ids");
    let k = Knockout::parse("1.0,3.2", &m.config).unwrap();
    let full = m.forward_eval_with(&x, None, &k, false).unwrap();
    let mut cache = KvCache::new(&m.config, true);
    cache.set_knockout(&m, &k).unwrap();
    for n in 1..=x.len() {
        cache.sync(&m, &x[..n]).unwrap();
    }
    let v = m.config.vocab_size;
    let d = max_abs_diff(cache.all_logits().unwrap(), &full.logits[..x.len() * v]);
    assert!(d <= 1e-5, "KV cache vs full forward with knock-out: {d}");
    // Changing the set recomputes everything: back to intact gives the intact logits.
    cache.set_knockout(&m, &Knockout::none()).unwrap();
    assert!(cache.is_empty());
    let info = cache.sync(&m, &x).unwrap();
    assert_eq!(info.reused, 0);
    let intact = m.forward_eval(&x, None).unwrap();
    assert!(max_abs_diff(cache.all_logits().unwrap(), &intact.logits) <= 1e-5);
    // A set for another model is refused.
    let other = kgpt::Config {
        n_head: 8,
        ..m.config
    };
    assert!(cache
        .set_knockout(&m, &Knockout::parse("0.7", &other).unwrap())
        .is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn logit_lens_matches_pytorch_and_ends_in_the_logits() {
    let (m, _, exp) = load();
    for case in ["long", "short"] {
        let x = ids(&exp, &format!("{case}.ids"));
        let out = m
            .forward_eval_with(&x, None, &Knockout::none(), true)
            .unwrap();
        let lens = out.logit_lens.expect("asked for the lens");
        let want = f32s(&exp, &format!("{case}.lens"));
        let d = max_abs_diff(&lens, &want);
        assert!(d <= TOL, "{case} logit lens: {d}");
        let last = &lens[(m.config.n_layer - 1) * x.len() * m.config.vocab_size..];
        assert_eq!(
            last,
            out.logits.as_slice(),
            "last layer's lens = logits, bit for bit"
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn head_scores_match_the_python_reference() {
    let (m, tok, _) = load();
    let ids = tok.encode(PROVERBS).ids;
    let want: serde_json::Value = serde_json::from_str(HEADS).unwrap();
    let n = want["windows"].as_u64().unwrap() as usize;
    let windows = text_windows(&ids, m.config.block_size, n, false).unwrap();
    let got = score_heads(&m, tok.chars(), &windows).unwrap().to_json();
    assert_eq!(got["windows"], want["windows"]);
    let close = |a: &serde_json::Value, b: &serde_json::Value, what: &str| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
            "{what}: {a} vs {b}"
        );
    };
    close(
        &got["bits_per_char"],
        &want["bits_per_char"],
        "bits_per_char",
    );
    let keys = [
        "prev_char",
        "self",
        "first",
        "mean_distance",
        "entropy_bits",
        "same_akshara",
        "conjunct",
        "word_start",
        "induction",
        "knockout_bits",
        "role_score",
    ];
    let (got_heads, want_heads) = (
        got["heads"].as_array().unwrap(),
        want["heads"].as_array().unwrap(),
    );
    assert_eq!(got_heads.len(), 16);
    for (g, w) in got_heads.iter().zip(want_heads) {
        let name = format!("{}.{}", w["layer"], w["head"]);
        for k in keys {
            close(&g[k], &w[k], &format!("{name} {k}"));
        }
        assert_eq!(g["role"], w["role"], "{name} role");
    }
    // The scores are not degenerate on this model: they differ between heads.
    let spread = |k: &str| {
        let v: Vec<f64> = got_heads.iter().map(|h| h[k].as_f64().unwrap()).collect();
        v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
    };
    assert!(spread("prev_char") > 0.02 && spread("mean_distance") > 2.0);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bits_per_char_honours_the_knockout() {
    let (m, tok, _) = load();
    let ids = tok.encode(PROVERBS).ids;
    let intact = bits_per_char(&m, &ids, 1).unwrap();
    let none = bits_per_char_with(&m, &ids, 1, &Knockout::none()).unwrap();
    assert_eq!(intact, none);
    let layer = Knockout::layer_of(&m.config, 0).unwrap();
    let ko = bits_per_char_with(&m, &ids, 1, &layer).unwrap();
    assert_eq!(ko.predicted, intact.predicted);
    assert!((ko.bits_per_char - intact.bits_per_char).abs() > 1e-3);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn embedding_map_matches_numpy() {
    let (m, _, exp) = load();
    let map = token_map(&m);
    let want = f32s(&exp, "pca.points");
    let got: Vec<f32> = map
        .points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "PCA points vs numpy eigh: {d}");
    let explained = f32s(&exp, "pca.explained");
    assert!((map.explained[0] as f32 - explained[0]).abs() <= 1e-6);
    assert!((map.explained[1] as f32 - explained[1]).abs() <= 1e-6);
    let sim = position_similarity(&m);
    assert!(max_abs_diff(&sim, &f32s(&exp, "position_similarity")) <= 1e-5);
}
