//! Data-parallel training in the page (`www/data-parallel.js`): K Web Workers, each with its
//! own wasm instance and the same weights and training text, compute the gradients of their
//! share of one step's batch (`gradientChunks`); the coordinator adds them up in worker order
//! (`addGradients`), applies AdamW once (`applyGradientSum`) and sends the new weights back
//! (`params` → `setParams`).
//!
//! A step's batch is cut into `gradientChunkCount` chunks of consecutive rows (at most 16); a
//! worker's share is a run of whole chunks. Every worker draws the same batch (`(seed, step)`)
//! and row `i`'s dropout mask from `(seed, step, i)`, each chunk's gradient is summed from
//! zero, and the coordinator adds the chunks in order, as `trainStep` does (the first share may
//! arrive already summed: the same additions, done by its worker): the step is a
//! one-worker `trainStep` bit for bit, whatever the number of workers. Each row has the same
//! number of predicted characters, so this is the mean weighted by tokens.

use super::model::{check_learning_rate, Model};
use super::{js_err, lib};
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

/// One worker's share of a training step: its chunks' gradients and its rows' losses.
#[wasm_bindgen]
pub struct GradientShare {
    chunks: usize,
    summed: bool,
    tokens: usize,
    row_losses: Vec<f32>,
    grads: Vec<f32>,
}

#[wasm_bindgen]
impl GradientShare {
    /// Gradient chunks in the share.
    #[wasm_bindgen(getter)]
    pub fn chunks(&self) -> usize {
        self.chunks
    }
    /// True if `grads` is one block: the in-order sum of the share's chunks.
    #[wasm_bindgen(getter)]
    pub fn summed(&self) -> bool {
        self.summed
    }
    /// Predicted characters in the share (its rows × the window length).
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> usize {
        self.tokens
    }
    /// `[rows]`: each row's loss (nats per predicted character), in row order.
    #[wasm_bindgen(js_name = rowLosses)]
    pub fn row_losses(&self) -> Float32Array {
        Float32Array::from(self.row_losses.as_slice())
    }
    /// `[chunks, paramCount]`: each chunk's gradient (its rows' gradients summed from zero,
    /// each scaled by 1 / batch size), in the order of `params`; `[paramCount]`, their
    /// in-order sum from zero, if `summed`.
    pub fn grads(&self) -> Float32Array {
        Float32Array::from(self.grads.as_slice())
    }
}

/// How many gradient chunks a training step of `batch_size` rows has: min(batch_size, 16),
/// the most workers one step can use.
#[wasm_bindgen(js_name = gradientChunkCount)]
pub fn gradient_chunk_count(batch_size: usize) -> usize {
    lib::gradient_chunks(batch_size).len()
}

#[wasm_bindgen]
impl Model {
    /// The gradients of chunks `first..end` of training step `step`'s batch of `batch_size`
    /// windows (the batch and dropout masks `trainStep` would draw at that step; chunks as
    /// `gradientChunkCount` counts them), one block per chunk or, with `summed`, their in-order
    /// sum as one block (for the step's first share: `addGradients` accepts it only first).
    /// The weights are not changed. Throws on an empty or out-of-range share, a bad step or
    /// batch size, or no training text.
    #[wasm_bindgen(js_name = gradientChunks)]
    pub fn gradient_chunks(
        &mut self,
        batch_size: usize,
        first: usize,
        end: usize,
        step: f64,
        summed: bool,
    ) -> Result<GradientShare, JsError> {
        if !(step.is_finite() && step >= 0.0 && step.fract() == 0.0) {
            return Err(js_err(format!("step {step} must be a whole number ≥ 0")));
        }
        let step = step as u64;
        let batch = self.training_batch(batch_size, step)?;
        let dropout_seed = self.dropout_seed(step);
        let (trainer, core) = self.trainer();
        let (mut grads, mut row_losses) = (Vec::new(), Vec::new());
        trainer
            .compute_chunk_grads(
                core,
                &batch,
                first..end,
                Some(dropout_seed),
                summed,
                &mut grads,
                &mut row_losses,
            )
            .map_err(js_err)?;
        Ok(GradientShare {
            chunks: end - first,
            summed,
            tokens: row_losses.len() * batch.t,
            row_losses,
            grads,
        })
    }

    /// Adds one worker's `grads` (a `GradientShare`'s, standing for `chunks` chunks) to the
    /// gradient of the step being assembled; `first` starts it (the step's first share, the
    /// only one that may be `summed`). Add every share in worker order, then
    /// `applyGradientSum`. Throws (and abandons the sum) on a length that fits neither form.
    #[wasm_bindgen(js_name = addGradients)]
    pub fn add_gradients(
        &mut self,
        grads: &[f32],
        chunks: usize,
        first: bool,
    ) -> Result<(), JsError> {
        self.trainer()
            .0
            .add_chunk_grads(grads, chunks, first)
            .map_err(js_err)
    }

    /// One AdamW step at `lr` with the gradient `addGradients` assembled and `row_losses`, all
    /// the step's rows' losses in order (the workers' `rowLosses`, concatenated). The sum is
    /// `trainStep`'s, so the step is `trainStep`'s bit for bit; every check `trainStep` makes
    /// applies (on a non-finite or diverged loss or gradient nothing is applied and an Error is
    /// thrown), and so does a sum missing chunks. Returns the loss and counts the step.
    #[wasm_bindgen(js_name = applyGradientSum)]
    pub fn apply_gradient_sum(&mut self, row_losses: &[f32], lr: f32) -> Result<f32, JsError> {
        check_learning_rate(lr)?;
        let (trainer, core) = self.trainer();
        let loss = trainer.finish_chunk_sum(row_losses).map_err(js_err)?;
        let step = trainer.apply_grads(core, loss, lr);
        self.finish_step(step).map(|info| info.loss)
    }

    /// `[paramCount]`: every weight, in the checkpoint's tensor order (a copy).
    pub fn params(&self) -> Float32Array {
        Float32Array::from(self.core.params.as_slice())
    }

    /// Replaces every weight (`values` as `params` gives them); the optimizer and step count
    /// stay. Throws if the length is not `paramCount`.
    #[wasm_bindgen(js_name = setParams)]
    pub fn set_params(&mut self, values: &[f32]) -> Result<(), JsError> {
        if values.len() != self.core.params.len() {
            return Err(js_err(format!(
                "{} weights given; this model has {} parameters",
                values.len(),
                self.core.params.len()
            )));
        }
        self.core.params.copy_from_slice(values);
        self.weights_changed();
        Ok(())
    }
}
