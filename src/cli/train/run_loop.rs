//! The step loop: sample a batch, one AdamW step, evaluate and checkpoint every
//! --eval-interval steps; Ctrl-C saves and stops.

use super::logging::{self, EvalLine};
use super::resume::Run;
use super::{schedule_of, TrainArgs, MODEL_FILE};
use crate::cli::CliResult;
use kgpt::model::Model;
use kgpt::train::{sample_batch, Trainer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Trains `run` on `data` (evaluating on `val` too) up to --steps, or --stop-after steps.
pub(super) fn train(run: &mut Run, data: &[u32], val: Option<&[u32]>) -> CliResult<()> {
    let mut log = logging::open_log(run)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    logging::announce(run, data.len());
    let pb = logging::progress_bar(run);
    let (schedule, t) = (schedule_of(&run.args), run.model.config.block_size);
    let run_start = Instant::now();
    let (mut window_start, mut window_tokens) = (Instant::now(), 0usize);
    let a = run.args.clone();
    let stop_at = a
        .stop_after
        .map_or(a.steps, |n| (run.step + n).min(a.steps));
    while run.step < stop_at {
        if interrupted.load(Ordering::SeqCst) {
            run.save()?;
            pb.abandon();
            eprintln!(
                "interrupted: checkpoint saved at step {} in {} (resume with --resume)",
                run.step,
                run.dir.display()
            );
            return Err("interrupted".into());
        }
        let lr = schedule.lr(a.lr, run.step);
        let batch_loss = step(run, data, lr).inspect_err(|_| pb.abandon())?;
        window_tokens += a.batch_size * t;
        let tokens_per_s = window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
        pb.set_position(run.step);
        pb.set_message(format!("{batch_loss:.4}  {tokens_per_s:.0} tok/s"));
        if run.step % a.eval_interval.max(1) == 0 || run.step == stop_at {
            let train_loss = estimate_loss(&run.model, &mut run.trainer, data, &a);
            let val_loss = val.and_then(|v| estimate_loss(&run.model, &mut run.trainer, v, &a));
            run.save()?;
            let e = EvalLine {
                step: run.step,
                lr,
                batch_loss,
                train_loss,
                val_loss,
                tokens_per_s,
                elapsed_s: run_start.elapsed().as_secs_f64(),
            };
            logging::log_eval(&mut log, &pb, &e);
            (window_start, window_tokens) = (Instant::now(), 0);
        }
    }
    pb.finish();
    finish_message(run, run_start);
    Ok(())
}

/// One training step at `lr`; a refused step names the last good checkpoint.
fn step(run: &mut Run, data: &[u32], lr: f32) -> CliResult<f32> {
    let (a, t, step) = (&run.args, run.model.config.block_size, run.step);
    let batch = sample_batch(data, a.batch_size, t, a.seed, step).ok_or("data too short")?;
    match run
        .trainer
        .step(&mut run.model, &batch, lr, Some((a.seed, step)))
    {
        Ok(info) => {
            run.step += 1;
            Ok(info.loss)
        }
        Err(e) => {
            let kept = match run.saved_step {
                Some(k) => format!(
                    "the last good checkpoint (step {k}) is kept in {}",
                    run.dir.display()
                ),
                None => "no checkpoint was written yet".to_string(),
            };
            Err(format!("step {step}: {e}; {kept}"))
        }
    }
}

fn finish_message(run: &Run, run_start: Instant) {
    if run.step < run.args.steps {
        eprintln!(
            "stopped at step {} of {} (checkpoint saved; continue with --resume {})",
            run.step,
            run.args.steps,
            run.dir.display()
        );
    } else {
        eprintln!(
            "done: {} steps in {:.1} s; model in {}",
            run.step,
            run_start.elapsed().as_secs_f64(),
            run.dir.join(MODEL_FILE).display()
        );
    }
}

/// Mean loss over `iters` fixed batches (eval mode), gpt.py's `estimate_loss`.
fn estimate_loss(model: &Model, trainer: &mut Trainer, data: &[u32], a: &TrainArgs) -> Option<f32> {
    let t = model.config.block_size;
    let mut total = 0.0f64;
    for k in 0..a.eval_iters.max(1) {
        let b = sample_batch(
            data,
            a.batch_size,
            t.min(data.len().saturating_sub(1)),
            a.seed ^ 0xE7A1,
            k,
        )?;
        total += trainer.compute_grads(model, &b, None).ok()? as f64;
    }
    Some((total / a.eval_iters.max(1) as f64) as f32)
}
