//! Training: one step (forward + backward over a batch, then AdamW) in this file, AdamW in
//! `adamw.rs`, batch sampling in `batch.rs`, bits-per-character evaluation in `eval.rs`. Shared
//! by the CLI and the wasm API.
//!
//! Randomness is derived from `(seed, step, sequence)` streams, so a run resumed at step `s`
//! draws exactly the batches and dropout masks an uninterrupted run would, and the result does
//! not depend on how sequences are split over threads.

use crate::model::{Model, RunState};
pub mod adamw;
mod batch;
mod eval;

pub use batch::{sample_batch, Batch};
pub use eval::{bits_per_char, bits_per_char_with, predicted_units, EvalResult, PredictedUnits};

use crate::rng::Rng;
use adamw::{clip_grad_norm, grad_norm, AdamW};
use std::fmt;
use std::ops::Range;

#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The batch does not fit the model.
    Input(String),
    /// The loss or the gradient is NaN/Inf: the update was not applied.
    NonFinite { loss: f32, grad_norm: f32 },
    /// The loss is finite but far above anything training produces (see
    /// [`Trainer::loss_limit`]): the update was not applied.
    LossDiverged { loss: f32, limit: f32 },
    /// The update would move the weights by more than [`Trainer::max_update_ratio`] times their
    /// own norm: it was computed and then undone.
    UpdateTooLarge {
        loss: f32,
        update_norm: f32,
        weight_norm: f32,
        max_ratio: f32,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Input(m) => f.write_str(m),
            TrainError::NonFinite { loss, grad_norm } => write!(
                f,
                "non-finite loss or gradient (loss {loss}, gradient norm {grad_norm}): the update \
                 was not applied; lower the learning rate or check the data"
            ),
            TrainError::LossDiverged { loss, limit } => write!(
                f,
                "training diverged: loss {loss:.3} is above {limit:.3} (3 × ln(vocab size), or \
                 twice the loss at the first step); the update was not applied; lower the \
                 learning rate"
            ),
            TrainError::UpdateTooLarge {
                loss,
                update_norm,
                weight_norm,
                max_ratio,
            } => write!(
                f,
                "training diverged: this step would move the weights by {update_norm:.3e}, more \
                 than {max_ratio} × their own norm {weight_norm:.3e} (loss {loss:.3}); the update \
                 was not applied; lower the learning rate"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

/// Per-thread buffers: one `RunState`, the thread's gradient and the chunk being summed.
#[derive(Clone, Debug)]
struct Worker {
    state: RunState,
    grads: Vec<f32>,
    chunk: Vec<f32>,
}

/// A step's batch is summed in at most this many chunks of consecutive rows (also the most
/// data-parallel workers a step can use: `www/data-parallel.js`).
pub const MAX_GRADIENT_CHUNKS: usize = 16;

/// The rows of each gradient chunk of a batch of `b` rows: `min(b, 16)` contiguous ranges in
/// order, sizes within one of each other (the first ones larger).
///
/// ```
/// use kgpt::train::gradient_chunks;
/// assert_eq!(gradient_chunks(5), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
/// assert_eq!(gradient_chunks(40)[..3], [0..3, 3..6, 6..9]);
/// assert_eq!(gradient_chunks(40).len(), 16);
/// ```
pub fn gradient_chunks(b: usize) -> Vec<Range<usize>> {
    let k = b.min(MAX_GRADIENT_CHUNKS);
    let (base, extra) = (b / k.max(1), b % k.max(1));
    let mut start = 0;
    (0..k)
        .map(|i| {
            let end = start + base + usize::from(i < extra);
            let rows = start..end;
            start = end;
            rows
        })
        .collect()
}

/// `acc += x`, element by element: the one addition every gradient sum here is made of (so sums
/// done by different workers in the same order agree bit for bit).
fn add_into(acc: &mut [f32], x: &[f32]) {
    for (a, x) in acc.iter_mut().zip(x) {
        *a += x;
    }
}

/// What a step's chunks are computed from: the model, the batch and its chunks, the row scale
/// (1 / batch size) and the dropout stream.
struct ChunkJob<'a> {
    model: &'a Model,
    batch: &'a Batch,
    chunks: &'a [Range<usize>],
    scale: f32,
    dropout_seed: Option<(u64, u64)>,
}

impl<'a> ChunkJob<'a> {
    /// The job of `batch` cut into `chunks`, each row scaled by 1 / batch size.
    fn new(
        model: &'a Model,
        batch: &'a Batch,
        chunks: &'a [Range<usize>],
        dropout_seed: Option<(u64, u64)>,
    ) -> ChunkJob<'a> {
        ChunkJob {
            model,
            batch,
            chunks,
            scale: 1.0 / batch.b as f32,
            dropout_seed,
        }
    }
}

impl Worker {
    /// Chunks `mine` of `job`, in order, with `self.grads` zeroed first: each chunk's gradient
    /// is summed from zero over its rows, in row order, into `self.chunk` (each row's loss to
    /// `loss`), then handed to `then(&mut self.grads, chunk)`. Row `i` draws its dropout mask from the stream
    /// `(seed, step, i)`, so a row's gradient does not depend on which thread or worker runs it.
    fn run_chunks(
        &mut self,
        job: &ChunkJob,
        mine: Range<usize>,
        mut loss: impl FnMut(f32),
        mut then: impl FnMut(&mut [f32], &[f32]),
    ) {
        self.grads.fill(0.0);
        for c in mine {
            self.chunk.fill(0.0);
            for i in job.chunks[c].clone() {
                let (x, y) = job.batch.row(i);
                let mut rng = job
                    .dropout_seed
                    .map(|(s, step)| Rng::for_stream(s, &[step, i as u64]));
                let l = job
                    .model
                    .forward(&mut self.state, x, Some(y), rng.as_mut())
                    .unwrap_or(f32::NAN);
                job.model
                    .backward(&mut self.state, x, y, &mut self.chunk, job.scale);
                loss(l);
            }
            then(&mut self.grads, &self.chunk);
        }
    }
}

/// Owns the optimizer and every buffer a step needs; buffers are allocated once.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub opt: AdamW,
    /// Gradient of the last step (mean over the batch).
    pub grads: Vec<f32>,
    workers: Vec<Worker>,
    /// Clip the gradient norm to this value before the update (off when `None`).
    pub clip: Option<f32>,
    /// A step whose update norm exceeds this multiple of the weight norm is refused. Default
    /// 2: no useful step moves a model farther than its own size (from gpt.py's init, Adam's
    /// first step is about 18 × lr × the weight norm: lr 0.1 passes and stalls near the
    /// unigram loss; lr 0.3 and lr 10 are refused at once — unguarded, lr 0.3 reaches loss 20 by
    /// step 2, where the loss rule would stop it).
    pub max_update_ratio: f32,
    /// Loss of the first step this trainer took (the reference for [`Trainer::loss_limit`]).
    first_loss: Option<f32>,
    /// Weights and optimizer state before the last applied update.
    backup: Vec<f32>,
    backup_m: Vec<f32>,
    backup_v: Vec<f32>,
    backup_step: u64,
    /// `backup*` hold the state before an update that is still in the model.
    can_undo: bool,
    /// Chunks added to `grads` by [`Trainer::add_chunk_grads`] since the sum began (`None`: no
    /// sum in progress).
    chunks_summed: Option<usize>,
}

/// What one step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    pub loss: f32,
    pub grad_norm: f32,
}

impl Trainer {
    /// `threads` workers (1 on wasm); each handles a contiguous share of the batch.
    pub fn new(model: &Model, threads: usize) -> Trainer {
        let threads = threads.max(1);
        Trainer {
            opt: AdamW::new(model.layout.total),
            grads: vec![0.0; model.layout.total],
            workers: (0..threads)
                .map(|_| Worker {
                    state: RunState::new(&model.config),
                    grads: vec![0.0; model.layout.total],
                    chunk: vec![0.0; model.layout.total],
                })
                .collect(),
            clip: None,
            max_update_ratio: 2.0,
            first_loss: None,
            backup: vec![0.0; model.layout.total],
            backup_m: vec![0.0; model.layout.total],
            backup_v: vec![0.0; model.layout.total],
            backup_step: 0,
            can_undo: false,
            chunks_summed: None,
        }
    }

    /// The largest loss a step may report before training counts as diverged:
    /// `max(3 · ln V, 2 · first loss)`. An untrained model sits near ln V (uniform guesses), so
    /// a loss three times that means the model became confidently wrong; the second term
    /// keeps a loaded model that starts badly trainable.
    pub fn loss_limit(&self, vocab_size: usize) -> f32 {
        let uniform = (vocab_size.max(2) as f32).ln();
        (3.0 * uniform).max(2.0 * self.first_loss.unwrap_or(0.0))
    }

    /// Puts back the weights and optimizer state from before the last applied update (used
    /// when the loss after it diverged). Returns false if there is nothing to undo.
    pub fn undo_last_update(&mut self, model: &mut Model) -> bool {
        if !self.can_undo || model.params.len() != self.backup.len() {
            return false;
        }
        model.params.copy_from_slice(&self.backup);
        self.opt.m.copy_from_slice(&self.backup_m);
        self.opt.v.copy_from_slice(&self.backup_v);
        self.opt.step = self.backup_step;
        self.can_undo = false;
        true
    }

    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Mean loss over the batch and its gradient in `self.grads`. `dropout_seed`: `Some((seed,
    /// step))` draws dropout masks (training mode), `None` is eval mode (dropout off).
    ///
    /// The gradient is summed chunk by chunk ([`gradient_chunks`]): each chunk's rows from zero,
    /// then the chunks in order. With one thread that is the order data-parallel training uses
    /// ([`Trainer::compute_chunk_grads`] on the workers, [`Trainer::add_chunk_grads`] on the
    /// coordinator), so the two agree bit for bit whatever the worker count. More threads add
    /// their partial sums (the same up to float rounding).
    pub fn compute_grads(
        &mut self,
        model: &Model,
        batch: &Batch,
        dropout_seed: Option<(u64, u64)>,
    ) -> Result<f32, TrainError> {
        batch.validate(model)?;
        let chunks = gradient_chunks(batch.b);
        let n_workers = self.workers.len().min(chunks.len());
        let per = chunks.len().div_ceil(n_workers);
        let job = ChunkJob::new(model, batch, &chunks, dropout_seed);
        // The k-th thread's chunks.
        let share = |k: usize| (k * per).min(chunks.len())..((k + 1) * per).min(chunks.len());
        let run = |w: &mut Worker, mine: Range<usize>| -> f64 {
            let mut loss = 0.0f64;
            w.run_chunks(&job, mine, |l| loss += l as f64, add_into);
            loss
        };
        let total_loss: f64;
        if n_workers == 1 {
            total_loss = run(&mut self.workers[0], 0..chunks.len());
        } else {
            #[cfg(not(target_arch = "wasm32"))]
            {
                let losses: Vec<f64> = std::thread::scope(|s| {
                    let handles: Vec<_> = self.workers[..n_workers]
                        .iter_mut()
                        .enumerate()
                        .map(|(k, w)| {
                            let (run, mine) = (&run, share(k));
                            s.spawn(move || run(w, mine))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or(f64::NAN))
                        .collect()
                });
                total_loss = losses.iter().sum();
            }
            #[cfg(target_arch = "wasm32")]
            {
                total_loss = (0..n_workers)
                    .map(|k| run(&mut self.workers[k], share(k)))
                    .sum();
            }
        }
        // Reduce in a fixed order.
        self.grads.copy_from_slice(&self.workers[0].grads);
        for w in &self.workers[1..n_workers] {
            add_into(&mut self.grads, &w.grads);
        }
        Ok((total_loss / batch.b as f64) as f32)
    }

    /// A data-parallel worker's share of a step: the gradients of chunks `mine` of
    /// [`gradient_chunks`]`(batch.b)`, each summed from zero over its rows (scaled by
    /// 1 / batch.b), appended to `out` — one `[n_params]` block per chunk, or with `summed`
    /// their in-order sum from zero as one block (what the coordinator would add up, so the
    /// first share of a step can send one block instead of several) — and each row's loss
    /// appended to `row_losses`. Uses the first thread's buffers.
    #[allow(clippy::too_many_arguments)]
    pub fn compute_chunk_grads(
        &mut self,
        model: &Model,
        batch: &Batch,
        mine: Range<usize>,
        dropout_seed: Option<(u64, u64)>,
        summed: bool,
        out: &mut Vec<f32>,
        row_losses: &mut Vec<f32>,
    ) -> Result<(), TrainError> {
        batch.validate(model)?;
        let chunks = gradient_chunks(batch.b);
        if mine.is_empty() || mine.end > chunks.len() {
            return Err(TrainError::Input(format!(
                "chunks {}..{} are not a non-empty part of the {} chunks of a batch of {}",
                mine.start,
                mine.end,
                chunks.len(),
                batch.b
            )));
        }
        let w = &mut self.workers[0];
        out.reserve(w.grads.len() * if summed { 1 } else { mine.len() });
        let job = ChunkJob::new(model, batch, &chunks, dropout_seed);
        w.run_chunks(
            &job,
            mine,
            |l| row_losses.push(l),
            |sum, chunk| {
                if summed {
                    add_into(sum, chunk);
                } else {
                    out.extend_from_slice(chunk);
                }
            },
        );
        if summed {
            out.extend_from_slice(&w.grads);
        }
        Ok(())
    }

    /// The coordinator's half of a data-parallel step, one worker's reply at a time in worker
    /// order: adds `grads` to the step's gradient in `self.grads` (`first`: the step's first
    /// share, which starts the sum from zero). `grads` stands for `chunks` chunks: one
    /// `[n_params]` block per chunk, or — only as the first share — one block with their sum
    /// ([`Trainer::compute_chunk_grads`] with `summed`). Adding every chunk of the batch in
    /// order and then [`Trainer::finish_chunk_sum`] gives what [`Trainer::compute_grads`]
    /// gives with one thread, bit for bit. An error abandons the sum.
    pub fn add_chunk_grads(
        &mut self,
        grads: &[f32],
        chunks: usize,
        first: bool,
    ) -> Result<(), TrainError> {
        let n = self.grads.len();
        if first {
            self.grads.fill(0.0);
            self.chunks_summed = Some(0);
        }
        let Some(done) = self.chunks_summed else {
            return Err(TrainError::Input(
                "no gradient sum was started (the first share starts it)".into(),
            ));
        };
        let blocks = if chunks > 0 && grads.len() == chunks * n {
            chunks
        } else if chunks > 1 && grads.len() == n && done == 0 {
            1 // a first share summed by its worker
        } else {
            self.chunks_summed = None;
            return Err(TrainError::Input(format!(
                "{} gradient values for {chunks} chunks of {n} values (one block per chunk, or \
                 one summed block as the first share)",
                grads.len()
            )));
        };
        for block in grads.chunks_exact(n).take(blocks) {
            add_into(&mut self.grads, block);
        }
        self.chunks_summed = Some(done + chunks);
        Ok(())
    }

    /// Ends a sum of [`Trainer::add_chunk_grads`]: checks that it holds every chunk of a batch
    /// of `row_losses.len()` rows and returns the mean of `row_losses` (one per row, in order,
    /// summed in f64), the step's loss. `self.grads` is then the step's gradient.
    pub fn finish_chunk_sum(&mut self, row_losses: &[f32]) -> Result<f32, TrainError> {
        let want = gradient_chunks(row_losses.len()).len();
        let got = self.chunks_summed.take();
        if row_losses.is_empty() || got != Some(want) {
            return Err(TrainError::Input(format!(
                "the gradient sum holds {} chunks; a batch of {} rows has {want}",
                got.map_or_else(|| "no".to_string(), |c| c.to_string()),
                row_losses.len()
            )));
        }
        let total: f64 = row_losses.iter().map(|&l| l as f64).sum();
        Ok((total / row_losses.len() as f64) as f32)
    }

    /// One AdamW step at learning rate `lr`. On a non-finite loss or gradient, a diverged loss
    /// ([`Trainer::loss_limit`]) or an update larger than [`Trainer::max_update_ratio`] times
    /// the weights, nothing is changed and the error says which.
    pub fn step(
        &mut self,
        model: &mut Model,
        batch: &Batch,
        lr: f32,
        dropout_seed: Option<(u64, u64)>,
    ) -> Result<StepInfo, TrainError> {
        let loss = self.compute_grads(model, batch, dropout_seed)?;
        self.apply_grads(model, loss, lr)
    }

    /// The update half of [`Trainer::step`]: AdamW at `lr` with the gradient in `self.grads`
    /// (`loss` is the batch loss it came from), with the same checks. A data-parallel
    /// coordinator assembles the workers' gradient in `self.grads` ([`Trainer::add_chunk_grads`])
    /// and calls this.
    pub fn apply_grads(
        &mut self,
        model: &mut Model,
        loss: f32,
        lr: f32,
    ) -> Result<StepInfo, TrainError> {
        if self.grads.len() != model.params.len() {
            return Err(TrainError::Input(format!(
                "the gradient has {} values, the model {} parameters",
                self.grads.len(),
                model.params.len()
            )));
        }
        let norm = match self.clip {
            Some(max) => clip_grad_norm(&mut self.grads, max),
            None => grad_norm(&self.grads),
        };
        if !loss.is_finite() || !norm.is_finite() {
            return Err(TrainError::NonFinite {
                loss,
                grad_norm: norm,
            });
        }
        // The first step sets the reference, so a loaded model that starts badly can train.
        self.first_loss.get_or_insert(loss);
        let limit = self.loss_limit(model.config.vocab_size);
        if loss > limit {
            return Err(TrainError::LossDiverged { loss, limit });
        }
        // Keep the previous state: a finite gradient can still overflow a parameter or move
        // the model absurdly far with a huge learning rate, and a later diverged loss may
        // want this update undone.
        self.backup.copy_from_slice(&model.params);
        self.backup_m.copy_from_slice(&self.opt.m);
        self.backup_v.copy_from_slice(&self.opt.v);
        self.backup_step = self.opt.step;
        self.can_undo = true;
        self.opt.update(&mut model.params, &self.grads, lr);
        let (mut delta_sq, mut weight_sq, mut finite) = (0.0f64, 0.0f64, true);
        for (p, w) in model.params.iter().zip(&self.backup) {
            finite &= p.is_finite();
            let d = (*p - *w) as f64;
            delta_sq += d * d;
            weight_sq += *w as f64 * *w as f64;
        }
        let (update_norm, weight_norm) = (delta_sq.sqrt() as f32, weight_sq.sqrt() as f32);
        let too_large = update_norm > self.max_update_ratio * weight_norm;
        if !finite || !update_norm.is_finite() || too_large {
            self.undo_last_update(model);
            return Err(if finite && update_norm.is_finite() {
                TrainError::UpdateTooLarge {
                    loss,
                    update_norm,
                    weight_norm,
                    max_ratio: self.max_update_ratio,
                }
            } else {
                TrainError::NonFinite {
                    loss,
                    grad_norm: norm,
                }
            });
        }
        Ok(StepInfo {
            loss,
            grad_norm: norm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn small(dropout: f32) -> Model {
        Model::init(
            Config {
                vocab_size: 12,
                n_embd: 16,
                n_head: 2,
                n_layer: 2,
                block_size: 16,
                dropout,
            },
            3,
        )
    }

    #[test]
    fn eval_scores_every_character_once() {
        // Compare the windowed estimate with brute force: every target with its full window.
        let m = Model::init(
            Config {
                block_size: 4,
                ..small(0.0).config
            },
            1,
        );
        let ids: Vec<u32> = (0..11).map(|i| (i * 7 % 12) as u32).collect();
        let r = bits_per_char(&m, &ids, 1).unwrap();
        assert_eq!(r.predicted, 10);
        // Brute force with the same windows: starts 0,2,4,6,8 (stride 2, T 4)
        let mut nats = 0.0;
        let mut st = RunState::new(&m.config);
        let mut scored = 0;
        let mut s = 0;
        while scored < 10 {
            let e = (s + 4).min(10);
            m.forward(&mut st, &ids[s..e], None, None);
            for pos in (scored - s)..(e - s) {
                let row = &st.logits[pos * 12..(pos + 1) * 12];
                let lse = row.iter().map(|x| (*x as f64).exp()).sum::<f64>().ln();
                nats += lse - row[ids[s + pos + 1] as usize] as f64;
            }
            scored = e;
            s += 2;
        }
        assert!((r.nats_per_char - nats / 10.0).abs() < 1e-9);
        let r2 = bits_per_char(&m, &ids, 2).unwrap();
        assert!((r.bits_per_char - r2.bits_per_char).abs() < 1e-9);
        // An untrained model is close to uniform: log2(12) bits.
        assert!((r.bits_per_char - 12f64.log2()).abs() < 0.2);
        assert!(bits_per_char(&m, &ids[..1], 1).is_none());
        // Per-unit rates share the total: bits/char × chars = bits/unit × units.
        assert!((r.bits_per(r.predicted) - r.bits_per_char).abs() < 1e-12);
        assert!((r.bits_per(4) * 4.0 - r.bits_per_char * 10.0).abs() < 1e-9);
        // The per-character tolerance above, times the 10 predictions (eval's f32 `x - max` vs
        // this f64 sum: 3e-9 apart here).
        assert!(
            (r.total_nats - nats).abs() < 1e-8,
            "{} vs {nats}",
            r.total_nats
        );
    }

    #[test]
    fn predicted_units_hand_counted() {
        let units = |t: &str| predicted_units(&t.chars().collect::<Vec<_>>());
        // ಜ್ಞಾ|ನ|ವೇ| |ಶ್ರೇ|ಷ್ಠ: the first akshara has predicted characters (್ ಞ ಾ), so it counts.
        assert_eq!(
            units("ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ"),
            PredictedUnits {
                chars: 14,
                aksharas: 6,
                bytes: 14 * 3 - 2, // 13 Kannada characters of 3 bytes and one space
            }
        );
        // Latin: one byte and one akshara per character; the first is not predicted.
        assert_eq!(
            units("abc"),
            PredictedUnits {
                chars: 2,
                aksharas: 2,
                bytes: 2
            }
        );
        assert_eq!(
            units(""),
            PredictedUnits {
                chars: 0,
                aksharas: 0,
                bytes: 0
            }
        );
    }

    #[test]
    fn training_learns_a_repeated_text_and_threads_agree() {
        let text: Vec<u32> = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ ".chars().map(|c| (c as u32) % 12).collect();
        let data: Vec<u32> = text.iter().cycle().take(400).copied().collect();
        let mut m1 = small(0.1);
        let mut m2 = m1.clone();
        let mut t1 = Trainer::new(&m1, 1);
        let mut t2 = Trainer::new(&m2, 2);
        let mut first = 0.0;
        let mut last = 0.0;
        for step in 0..60 {
            let b = sample_batch(&data, 4, 16, 5, step).unwrap();
            let i1 = t1.step(&mut m1, &b, 1e-2, Some((5, step))).unwrap();
            let i2 = t2.step(&mut m2, &b, 1e-2, Some((5, step))).unwrap();
            if step == 0 {
                first = i1.loss;
            }
            last = i1.loss;
            assert!((i1.loss - i2.loss).abs() < 1e-4, "step {step}");
        }
        assert!(first > 2.0 && last < 0.5, "loss {first} -> {last}");
        let max_diff = max_abs_diff(&m1.params, &m2.params);
        assert!(max_diff < 1e-3, "{max_diff}");
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A coordinator's sum of all chunks at once (`[n_chunks, n_params]`).
    fn sum_chunk_grads(
        t: &mut Trainer,
        chunk_grads: &[f32],
        row_losses: &[f32],
    ) -> Result<f32, TrainError> {
        let chunks = chunk_grads.len() / t.grads.len();
        t.add_chunk_grads(chunk_grads, chunks, true)?;
        t.finish_chunk_sum(row_losses)
    }

    #[test]
    fn chunks_summed_by_a_coordinator_are_the_one_thread_gradient_bit_for_bit() {
        // Data-parallel training: K workers each take a run of chunks (uneven ones too); the
        // coordinator's in-order sum of all chunks is the one-thread gradient exactly, with
        // dropout on (masks keyed by row, not by worker).
        let m = small(0.1);
        let data: Vec<u32> = (0..300).map(|i| (i * 5 % 12) as u32).collect();
        for b in [1, 7, 20] {
            let batch = sample_batch(&data, b, 16, 3, 9).unwrap();
            let mut whole = Trainer::new(&m, 1);
            let whole_loss = whole.compute_grads(&m, &batch, Some((3, 9))).unwrap();
            let n = gradient_chunks(b).len();
            for splits in [vec![0, n], vec![0, n / 2, n], vec![0, 1, n.min(3), n]] {
                for first_summed in [false, true] {
                    // Each worker's reply added as it comes, in worker order; the first one
                    // summed by its worker or not.
                    let mut coordinator = Trainer::new(&m, 1);
                    let mut row_losses = Vec::new();
                    let shares: Vec<_> = splits.windows(2).filter(|p| p[0] < p[1]).collect();
                    for (k, pair) in shares.iter().enumerate() {
                        let mut worker = Trainer::new(&m, 1);
                        let mut grads = Vec::new();
                        let summed = first_summed && k == 0;
                        let mine = pair[0]..pair[1];
                        worker
                            .compute_chunk_grads(
                                &m,
                                &batch,
                                mine.clone(),
                                Some((3, 9)),
                                summed,
                                &mut grads,
                                &mut row_losses,
                            )
                            .unwrap();
                        let blocks = if summed { 1 } else { mine.len() };
                        assert_eq!(grads.len(), blocks * m.params.len());
                        coordinator
                            .add_chunk_grads(&grads, mine.len(), k == 0)
                            .unwrap();
                    }
                    let loss = coordinator.finish_chunk_sum(&row_losses).unwrap();
                    let what = format!("b {b} {splits:?} first summed {first_summed}");
                    assert_eq!(loss.to_bits(), whole_loss.to_bits(), "{what}");
                    let same = coordinator.grads.iter().zip(&whole.grads);
                    assert!(
                        same.into_iter().all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{what}"
                    );
                }
            }
            // Two threads add partial sums: the same up to rounding.
            let mut threads = Trainer::new(&m, 2);
            let loss = threads.compute_grads(&m, &batch, Some((3, 9))).unwrap();
            assert!((loss - whole_loss).abs() < 1e-5);
            let diff = max_abs_diff(&threads.grads, &whole.grads);
            assert!(diff < 1e-5, "{diff}");
        }
        // Different rows give a different gradient (the comparison above can fail), and bad
        // shares are refused.
        let batch = sample_batch(&data, 7, 16, 3, 9).unwrap();
        let mut whole = Trainer::new(&m, 1);
        whole.compute_grads(&m, &batch, Some((3, 9))).unwrap();
        let (mut one_chunk, mut losses) = (Vec::new(), Vec::new());
        let mut worker = Trainer::new(&m, 1);
        worker
            .compute_chunk_grads(
                &m,
                &batch,
                0..1,
                Some((3, 9)),
                false,
                &mut one_chunk,
                &mut losses,
            )
            .unwrap();
        assert_eq!((one_chunk.len(), losses.len()), (m.params.len(), 1));
        assert!(one_chunk
            .iter()
            .zip(&whole.grads)
            .any(|(a, b)| (a - b).abs() > 1e-3));
        for bad in [0..0, 3..9, 8..9] {
            assert!(matches!(
                worker.compute_chunk_grads(
                    &m,
                    &batch,
                    bad,
                    None,
                    false,
                    &mut one_chunk,
                    &mut losses
                ),
                Err(TrainError::Input(_))
            ));
        }
        assert!(matches!(
            sum_chunk_grads(&mut worker, &one_chunk, &[1.0, 2.0]),
            Err(TrainError::Input(_))
        ));
        assert!(matches!(
            sum_chunk_grads(&mut worker, &[], &[]),
            Err(TrainError::Input(_))
        ));
        // A sum must start with the first share, count every chunk, and a summed block can
        // only come first; a failed addition abandons the sum.
        let p = m.params.len();
        let err = |r: Result<_, TrainError>| matches!(r, Err(TrainError::Input(_)));
        assert!(err(worker.add_chunk_grads(&vec![0.0; p], 1, false)));
        worker.add_chunk_grads(&vec![0.0; p], 1, true).unwrap();
        assert!(err(worker.add_chunk_grads(&vec![0.0; p], 3, false)));
        assert!(err(worker.finish_chunk_sum(&[1.0]).map(drop)));
        worker.add_chunk_grads(&vec![0.0; 2 * p], 2, true).unwrap();
        assert!(err(worker.finish_chunk_sum(&[1.0; 3]).map(drop)));
        worker.add_chunk_grads(&vec![0.0; p], 3, true).unwrap();
        assert_eq!(worker.finish_chunk_sum(&[1.0, 2.0, 3.0]), Ok(2.0));
    }

    #[test]
    fn gradient_chunks_cover_the_batch_in_order() {
        for b in 1..=70 {
            let chunks = gradient_chunks(b);
            assert_eq!(chunks.len(), b.min(MAX_GRADIENT_CHUNKS));
            assert_eq!(chunks[0].start, 0);
            assert_eq!(chunks.last().unwrap().end, b);
            assert!(chunks
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].len() >= w[1].len()));
            assert!(
                chunks.iter().all(|c| !c.is_empty())
                    && chunks[0].len() - chunks.last().unwrap().len() <= 1
            );
        }
    }

    #[test]
    fn applying_the_gradient_is_the_step() {
        let data: Vec<u32> = (0..300).map(|i| (i * 7 % 12) as u32).collect();
        let mut stepped = small(0.0);
        let mut applied = stepped.clone();
        let (mut t1, mut t2) = (Trainer::new(&stepped, 1), Trainer::new(&applied, 1));
        for step in 0..3 {
            let b = sample_batch(&data, 4, 16, 1, step).unwrap();
            let i1 = t1.step(&mut stepped, &b, 1e-2, None).unwrap();
            let loss = t2.compute_grads(&applied, &b, None).unwrap();
            let i2 = t2.apply_grads(&mut applied, loss, 1e-2).unwrap();
            assert_eq!(i1, i2);
        }
        assert_eq!(stepped.params, applied.params);
        t2.grads.pop();
        assert!(matches!(
            t2.apply_grads(&mut applied, 1.0, 1e-2),
            Err(TrainError::Input(_))
        ));
        assert_eq!(stepped.params, applied.params);
    }

    #[test]
    fn non_finite_step_is_refused() {
        let mut m = small(0.0);
        m.params[0] = f32::NAN; // token 0's embedding
        let mut tr = Trainer::new(&m, 1);
        let b = Batch {
            inputs: vec![0, 1],
            targets: vec![1, 2],
            b: 1,
            t: 2,
        };
        let snapshot = m.params.clone();
        assert!(matches!(
            tr.step(&mut m, &b, 1e-3, None),
            Err(TrainError::NonFinite { .. })
        ));
        assert_eq!(
            m.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
            snapshot.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
        );
        assert!(tr
            .step(
                &mut m,
                &Batch {
                    inputs: vec![99],
                    targets: vec![1],
                    b: 1,
                    t: 1
                },
                1e-3,
                None
            )
            .is_err());
    }
}
