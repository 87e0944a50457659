//! Data-parallel training in the page (`www/data-parallel.js`): K Web Workers, each with its
//! own wasm instance and the same weights and training text, compute the gradients of their
//! share of one step's batch (`gradientChunks`); the coordinator sums them, applies AdamW once
//! (`applyGradientChunks`) and sends the new weights back (`params` → `setParams`).
//!
//! A step's batch is cut into `gradientChunkCount` chunks of consecutive rows (at most 16); a
//! worker's share is a run of whole chunks. Every worker draws the same batch (`(seed, step)`)
//! and row `i`'s dropout mask from `(seed, step, i)`, each chunk's gradient is summed from
//! zero, and the coordinator adds the chunks in order, as `trainStep` does: the step is a
//! one-worker `trainStep` bit for bit, whatever the number of workers. Each row has the same
//! number of predicted characters, so this is the mean weighted by tokens.

use super::model::Model;
use super::{js_err, lib};
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

/// One worker's share of a training step: its chunks' gradients and its rows' losses.
#[wasm_bindgen]
pub struct GradientShare {
    chunks: usize,
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
    /// each scaled by 1 / batch size), in the order of `params`.
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
    /// `gradientChunkCount` counts them). The weights are not changed. Throws on an empty or
    /// out-of-range share, a bad step or batch size, or no training text.
    #[wasm_bindgen(js_name = gradientChunks)]
    pub fn gradient_chunks(
        &mut self,
        batch_size: usize,
        first: usize,
        end: usize,
        step: f64,
    ) -> Result<GradientShare, JsError> {
        if !(step.is_finite() && step >= 0.0 && step.fract() == 0.0) {
            return Err(js_err(format!("step {step} must be a whole number ≥ 0")));
        }
        let step = step as u64;
        let batch = self.training_batch(batch_size, step)?;
        let dropout_seed = self.dropout_seed(step);
        let trainer = self
            .trainer
            .get_or_insert_with(|| lib::Trainer::new(&self.core, 1));
        let (mut grads, mut row_losses) = (Vec::new(), Vec::new());
        trainer
            .compute_chunk_grads(
                &self.core,
                &batch,
                first..end,
                Some(dropout_seed),
                &mut grads,
                &mut row_losses,
            )
            .map_err(js_err)?;
        Ok(GradientShare {
            chunks: end - first,
            tokens: row_losses.len() * batch.t,
            row_losses,
            grads,
        })
    }

    /// One AdamW step at `lr` with a gradient computed elsewhere: `chunk_grads` are all the
    /// step's chunk gradients in order (the workers' `grads`, concatenated: `[chunks,
    /// paramCount]`) and `row_losses` all its rows' losses in order. They are summed as
    /// `trainStep` sums them, so the step is `trainStep`'s bit for bit; every check
    /// `trainStep` makes applies (on a non-finite or diverged loss or gradient nothing is
    /// applied and an Error is thrown). Returns the loss and counts the step.
    #[wasm_bindgen(js_name = applyGradientChunks)]
    pub fn apply_gradient_chunks(
        &mut self,
        chunk_grads: &[f32],
        row_losses: &[f32],
        lr: f32,
    ) -> Result<f32, JsError> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(js_err(format!(
                "learning rate {lr} must be a positive number"
            )));
        }
        let trainer = self
            .trainer
            .get_or_insert_with(|| lib::Trainer::new(&self.core, 1));
        let loss = trainer
            .sum_chunk_grads(chunk_grads, row_losses)
            .map_err(js_err)?;
        let step = trainer.apply_grads(&mut self.core, loss, lr);
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
