//! Training end to end in the library: a tiny model on a short repeated Kannada text drives the
//! loss far below ln(V) (the loss of a uniform guess). Runs natively and, through
//! `wasm-pack test --headless --firefox`, in the browser.

use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::text::Tokenizer;
use kgpt::train::{sample_batch, Trainer};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn tiny_model_learns_a_repeated_kannada_text() {
    let text = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು, ಕನ್ನಡ ನುಡಿ.\n".repeat(30);
    let tok = Tokenizer::from_text(&text);
    let data = tok.encode(&text).ids;
    let v = tok.vocab_size();
    let cfg = Config {
        vocab_size: v,
        n_embd: 32,
        n_head: 4,
        n_layer: 2,
        block_size: 32,
        dropout: 0.1,
    };
    let mut model = Model::init(cfg, 42);
    let mut trainer = Trainer::new(&model, 1);
    let mut first = None;
    let mut last = f32::NAN;
    for step in 0..150 {
        let batch = sample_batch(&data, 8, 32, 42, step).expect("enough data");
        let info = trainer
            .step(&mut model, &batch, 3e-3, Some((42, step)))
            .expect("finite step");
        first.get_or_insert(info.loss);
        last = info.loss;
    }
    let ln_v = (v as f32).ln();
    let first = first.unwrap();
    assert!(
        (first - ln_v).abs() < 0.3,
        "starts near ln V: {first} vs {ln_v}"
    );
    assert!(last < 0.25 * ln_v, "loss {first} -> {last}, ln V = {ln_v}");
    // The learned model continues the text greedily.
    let prompt = tok.encode("ಕನ್ನಡ ನಾ").ids;
    let out = kgpt::sample::generate(
        &model,
        &prompt,
        3,
        kgpt::sample::SampleSettings {
            temperature: 0.0,
            top_k: 0,
            seed: 0,
        },
        |_| true,
    )
    .unwrap();
    assert_eq!(tok.decode(&out), "ಡು,");
}
