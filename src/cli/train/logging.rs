//! What a run reports: the CSV log, the progress bar and the status lines.

use super::resume::Run;
use super::LOG_FILE;
use crate::cli::{write_file, CliResult};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The run's CSV log, opened for appending: trimmed to the checkpoint's step on resume, with a
/// fresh header on a new run.
pub(super) fn open_log(run: &Run) -> CliResult<File> {
    let log_path = run.dir.join(LOG_FILE);
    if run.step > 0 {
        // A run killed between its log line and its checkpoint logged steps that the resumed
        // run repeats: keep only the rows up to the checkpoint (and no torn last line).
        trim_log(&log_path, run.step)?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    if run.step == 0 {
        let _ = log.set_len(0);
        let _ = writeln!(
            log,
            "step,lr,batch_loss,train_loss,val_loss,tokens_per_s,elapsed_s"
        );
    }
    Ok(log)
}

/// Keeps the header and the complete rows with `step <= last_step` of a training log.
fn trim_log(path: &Path, last_step: u64) -> CliResult<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut kept = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break; // torn by a kill mid-write
        }
        let row_step = line.split(',').next().and_then(|x| x.parse::<u64>().ok());
        if i == 0 || row_step.is_some_and(|s| s <= last_step) {
            kept.push_str(line);
        }
    }
    if kept.len() != text.len() {
        write_file(path, kept.as_bytes())?;
    }
    Ok(())
}

/// The line printed before the first step.
pub(super) fn announce(run: &Run, data_len: usize) {
    let (cfg, a) = (&run.model.config, &run.args);
    eprintln!(
        "training {} parameters (V={} C={} H={} L={} T={} dropout {}) on {} characters, {} threads, batch {}, {} steps, lr {} ({:?})",
        cfg.param_count(),
        cfg.vocab_size,
        cfg.n_embd,
        cfg.n_head,
        cfg.n_layer,
        cfg.block_size,
        cfg.dropout,
        data_len,
        run.trainer.threads(),
        a.batch_size,
        a.steps,
        a.lr,
        a.schedule
    );
}

/// A progress bar over the run's steps, at its current step.
pub(super) fn progress_bar(run: &Run) -> ProgressBar {
    let pb = ProgressBar::new(run.args.steps);
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  loss {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_position(run.step);
    pb
}

/// One evaluation: the figures logged and printed.
pub(super) struct EvalLine {
    pub step: u64,
    pub lr: f32,
    pub batch_loss: f32,
    pub train_loss: Option<f32>,
    pub val_loss: Option<f32>,
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
}

/// Appends `e` to the CSV log and prints its status line (above the progress bar).
pub(super) fn log_eval(log: &mut File, pb: &ProgressBar, e: &EvalLine) {
    let fmt = |x: Option<f32>| x.map_or(String::new(), |v| format!("{v:.5}"));
    let bits = |x: Option<f32>| {
        x.map_or("-".to_string(), |v| {
            format!("{:.3}", v / std::f32::consts::LN_2)
        })
    };
    let (step, lr, tps) = (e.step, e.lr, e.tokens_per_s);
    let _ = writeln!(
        log,
        "{step},{lr:.6e},{:.5},{},{},{tps:.0},{:.1}",
        e.batch_loss,
        fmt(e.train_loss),
        fmt(e.val_loss),
        e.elapsed_s
    );
    let _ = log.flush();
    let line = format!(
        "step {step}: train loss {} val loss {} ({} / {} bits/char), lr {lr:.2e}, {tps:.0} tok/s, checkpoint saved",
        fmt(e.train_loss),
        fmt(e.val_loss),
        bits(e.train_loss),
        bits(e.val_loss),
    );
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}
