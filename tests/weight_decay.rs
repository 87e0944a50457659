//! `kgpt train --weight-decay W --decay-scope S` against PyTorch: 3 AdamW steps with two
//! parameter groups (decayed / not decayed) from `scripts/make_decay_fixture.py`, for the
//! scopes all, matrices and linear. Runs natively and in Firefox (`wasm-pack test`).

use kgpt::checkpoint;
use kgpt::train::adamw::DecayScope;
use kgpt::train::{Batch, Trainer};
use safetensors::tensor::SafeTensors;

mod common;
use common::{f32s, ids, max_abs_diff};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const WEIGHTS: &[u8] = include_bytes!("fixtures/tiny_gpt.safetensors");
const BATCH: &[u8] = include_bytes!("fixtures/tiny_gpt.expected.safetensors");
const EXPECTED: &[u8] = include_bytes!("fixtures/tiny_gpt.decay.safetensors");
/// The fixture's settings (see the script).
const LR: f32 = 1e-3;
const WEIGHT_DECAY: f32 = 20.0;
/// The tiny model's AdamW steps agree with PyTorch to ~1e-7; a scope that decays one tensor
/// too many or too few moves it by more than 1e-4 in 3 steps (checked below).
const TOL: f32 = 1e-5;

fn check_scope(scope: DecayScope, key: &str) {
    let mut model = checkpoint::load(WEIGHTS, None).expect("fixture").model;
    let batch_file = SafeTensors::deserialize(BATCH).expect("batch");
    let expected = SafeTensors::deserialize(EXPECTED).expect("expected");
    let batch = Batch {
        inputs: ids(&batch_file, "grad.ids"),
        targets: ids(&batch_file, "grad.targets"),
        b: 2,
        t: model.config.block_size,
    };
    let mut trainer = Trainer::new(&model, 1);
    trainer
        .opt
        .set_decay(WEIGHT_DECAY, scope, &model.layout.tensors);
    for (i, want) in f32s(&expected, &format!("{key}.losses")).iter().enumerate() {
        let loss = trainer
            .step(&mut model, &batch, LR, None)
            .expect("step")
            .loss;
        assert!(
            (loss - want).abs() <= TOL,
            "{key} step {i}: loss {loss} vs {want}"
        );
    }
    for spec in &model.layout.tensors {
        let want = f32s(&expected, &format!("{key}.{}", spec.name));
        let diff = max_abs_diff(&model.params[spec.range()], &want);
        assert!(diff <= TOL, "{key} {}: max abs diff {diff}", spec.name);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn decay_all_matches_pytorch() {
    check_scope(DecayScope::All, "all");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn decay_matrices_matches_pytorch_groups() {
    check_scope(DecayScope::Matrices, "matrices");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn decay_linear_matches_pytorch_groups() {
    check_scope(DecayScope::Linear, "linear");
}

/// The scopes differ where they should, by far more than TOL, so a wrong group fails above.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_three_scopes_differ_beyond_the_tolerance() {
    let expected = SafeTensors::deserialize(EXPECTED).expect("expected");
    let t = |key: &str| f32s(&expected, key);
    for (a, b, tensor) in [
        ("all", "matrices", "ln_f.weight"),
        ("all", "matrices", "blocks.0.ln2.weight"),
        ("matrices", "linear", "token_embedding_table.weight"),
        ("matrices", "linear", "position_embedding_table.weight"),
    ] {
        let diff = max_abs_diff(&t(&format!("{a}.{tensor}")), &t(&format!("{b}.{tensor}")));
        assert!(diff > 10.0 * TOL, "{a} vs {b} on {tensor}: only {diff}");
    }
    let same = max_abs_diff(&t("matrices.lm_head.weight"), &t("linear.lm_head.weight"));
    assert!(
        same > 0.0,
        "the groups interact through the loss, so even shared tensors move"
    );
}
