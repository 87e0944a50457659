//! Parity with PyTorch (gpt.py's model): logits, attention, loss, gradients and AdamW steps
//! against fixtures written by `scripts/make_fixtures.py`. Runs natively and, through
//! `wasm-pack test --headless --firefox`, in the browser (fixtures are embedded).

use kgpt::checkpoint;
use kgpt::model::Model;
use kgpt::text::Tokenizer;
use kgpt::train::{Batch, Trainer};
use safetensors::tensor::SafeTensors;

mod common;
use common::{f32s, ids};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const TOL: f32 = 1e-4;

macro_rules! fixture {
    ($name:literal) => {
        (
            include_bytes!(concat!("fixtures/", $name, ".safetensors")).as_slice(),
            include_bytes!(concat!("fixtures/", $name, ".expected.safetensors")).as_slice(),
        )
    };
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (i, diff) = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold(
            (0, 0.0f32),
            |acc, (i, d)| if d > acc.1 { (i, d) } else { acc },
        );
    assert!(
        diff <= tol,
        "{what}: max abs diff {diff} at {i} (got {}, want {})",
        got[i],
        want[i]
    );
}

/// Forward (logits, attention, loss) for every case; gradients and AdamW when present.
/// The forward (logits, attention, loss of every `caseK`), the gradients (`grad.*`) and three
/// AdamW steps (`adamw3.*`) of the fixture `weights` match PyTorch's `expected` outputs.
fn forward_gradients_and_adamw_match(weights: &[u8], expected: &[u8]) {
    let model = checkpoint::load(weights, None)
        .expect("fixture weights load")
        .model;
    let exp = SafeTensors::deserialize(expected).expect("expected outputs");
    forward_matches(&model, &exp);
    gradients_and_adamw_match(&model, &exp);
}

/// Logits, attention and loss of every `caseK` of `exp` match the model's eval forward.
fn forward_matches(model: &Model, exp: &SafeTensors) {
    let mut cases = 0;
    for k in 0.. {
        let key = format!("case{k}");
        if exp.tensor(&format!("{key}.ids")).is_err() {
            break;
        }
        let x = ids(exp, &format!("{key}.ids"));
        let y = ids(exp, &format!("{key}.targets"));
        let out = model.forward_eval(&x, Some(&y)).expect("forward");
        assert_close(
            &format!("{key} logits"),
            &out.logits,
            &f32s(exp, &format!("{key}.logits")),
            TOL,
        );
        assert_close(
            &format!("{key} attention"),
            &out.attention,
            &f32s(exp, &format!("{key}.attention")),
            TOL,
        );
        let loss = f32s(exp, &format!("{key}.loss"))[0];
        assert!(
            (out.loss.unwrap() - loss).abs() <= TOL,
            "{key} loss {:?} vs {loss}",
            out.loss
        );
        cases += 1;
    }
    assert!(cases >= 3, "expected at least 3 cases, found {cases}");
}

/// The batch gradients and three AdamW steps (lr 1e-3) match `grad.*` and `adamw3.*` of `exp`.
fn gradients_and_adamw_match(model: &Model, exp: &SafeTensors) {
    let t = model.config.block_size;
    let batch = Batch {
        inputs: ids(exp, "grad.ids"),
        targets: ids(exp, "grad.targets"),
        b: 2,
        t,
    };
    let mut trainer = Trainer::new(model, 1);
    let loss = trainer.compute_grads(model, &batch, None).unwrap();
    assert!((loss - f32s(exp, "grad.loss")[0]).abs() <= TOL);
    for spec in &model.layout.tensors {
        assert_close(
            &format!("grad {}", spec.name),
            &trainer.grads[spec.range()],
            &f32s(exp, &format!("grad.{}", spec.name)),
            TOL,
        );
    }
    let mut m = model.clone();
    let mut trainer = Trainer::new(&m, 1);
    let want_losses = f32s(exp, "adamw3.losses");
    for (i, want) in want_losses.iter().enumerate() {
        let info = trainer.step(&mut m, &batch, 1e-3, None).unwrap();
        assert!(
            (info.loss - want).abs() <= TOL,
            "adamw step {i}: {} vs {want}",
            info.loss
        );
    }
    assert_eq!(adamw3_agrees(&m, exp), Ok(()));
    // The check can fail: the same 3 steps at a 10 % higher learning rate are refused.
    let mut off = model.clone();
    let mut trainer = Trainer::new(&off, 1);
    for _ in 0..3 {
        trainer.step(&mut off, &batch, 1.1e-3, None).unwrap();
    }
    assert!(adamw3_agrees(&off, exp).is_err());
}

/// The parameters after 3 AdamW steps against PyTorch's. The whole vector is compared: AdamW's
/// m / (√v + 1e-8) turns the last bits of a gradient element within ~1e-8 of zero into a step
/// of up to lr, and the model carries such a difference on (see tests/fixtures/README.md). Two
/// correct float32 implementations (kgpt's summation order against PyTorch's, on wasm simd128)
/// can end a few dozen of 219 K parameters ~1e-4 apart; a wrong update rule (bias correction,
/// betas, lr) moves nearly all of them. So: 99.9 % within 1e-4, all within 3 × lr.
fn adamw3_agrees(m: &Model, exp: &SafeTensors) -> Result<(), String> {
    let (mut over, mut worst, mut at) = (0usize, 0.0f32, String::new());
    for spec in &m.layout.tensors {
        let want = f32s(exp, &format!("adamw3.{}", spec.name));
        for (k, (a, b)) in m.params[spec.range()].iter().zip(&want).enumerate() {
            let d = (a - b).abs();
            over += usize::from(d.is_nan() || d > TOL);
            if d.is_nan() || d > worst {
                (worst, at) = (d, format!("{}[{k}] (got {a}, want {b})", spec.name));
            }
        }
    }
    let n = m.params.len();
    if over * 1000 <= n && worst <= 3.0 * 1e-3 {
        Ok(())
    } else {
        Err(format!(
            "adamw3: {over} of {n} parameters differ by more than {TOL}; worst {worst} at {at}"
        ))
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn tiny_gpt_init() {
    let (w, e) = fixture!("tiny_gpt");
    forward_gradients_and_adamw_match(w, e);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn tiny_stress_init() {
    let (w, e) = fixture!("tiny_stress");
    forward_gradients_and_adamw_match(w, e);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn product_gpt_init() {
    let (w, e) = fixture!("product_gpt");
    forward_gradients_and_adamw_match(w, e);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn product_stress_init() {
    let (w, e) = fixture!("product_stress");
    forward_gradients_and_adamw_match(w, e);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gpt_py_state_dict_with_tril_buffers() {
    let (w, e) = fixture!("gptpy_state_dict");
    // No vocabulary in the file: it must be refused without one, and load with the text's.
    assert!(checkpoint::load(w, None).is_err());
    let vocab = Tokenizer::from_text(include_str!("fixtures/gptpy_vocab.txt"));
    let loaded = checkpoint::load(w, Some(&vocab)).unwrap();
    assert!(loaded.config_inferred);
    // gpt.py's own file: the forward (the fixture has no gradients).
    let exp = SafeTensors::deserialize(e).expect("expected outputs");
    forward_matches(&loaded.model, &exp);
}
