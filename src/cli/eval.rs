//! `kgpt eval`: bits per character (and per akshara and per UTF-8 byte) of a text file.

use super::{load_weights, parse_ablate, read_text, CliResult, EvalArgs, MAX_THREADS};
use kgpt::model::Knockout;
use kgpt::train::{bits_per_char, bits_per_char_with, predicted_units};
use serde_json::json;
use std::time::Instant;

pub(super) fn cmd_eval(a: EvalArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let text = read_text(&a.data)?;
    let enc = l.tokenizer.encode(&text);
    let start = Instant::now();
    if a.threads == 0 || a.threads > MAX_THREADS {
        return Err(format!(
            "--threads {} must be in 1..={MAX_THREADS}",
            a.threads
        ));
    }
    let knockout = match &a.ablate {
        Some(spec) => Some(parse_ablate(spec, &l.model.config)?),
        None => None,
    };
    let r = bits_per_char_with(
        &l.model,
        &enc.ids,
        a.threads,
        knockout.as_ref().unwrap_or(&Knockout::none()),
    )
    .ok_or_else(|| format!("{}: need at least 2 known characters", a.data.display()))?;
    // With --ablate, the intact model on the same text, for the difference.
    let intact = match &knockout {
        Some(_) => bits_per_char(&l.model, &enc.ids, a.threads).map(|r| r.bits_per_char),
        None => None,
    };
    let units = predicted_units(&l.tokenizer.decode(&enc.ids).chars().collect::<Vec<_>>());
    let (per_akshara, per_byte) = (r.bits_per(units.aksharas), r.bits_per(units.bytes));
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"bits_per_char": r.bits_per_char, "nats_per_char": r.nats_per_char,
                   "bits_per_akshara": per_akshara, "bits_per_byte": per_byte,
                   "predicted": r.predicted, "aksharas": units.aksharas, "bytes": units.bytes,
                   "skipped_oov": enc.unknown.len(), "seconds": secs,
                   "ablated": knockout.as_ref().map(|k| k.to_string()),
                   "intact_bits_per_char": intact})
        );
    } else {
        println!(
            "{:.4} bits per character ({:.4} nats) over {} predicted characters; {} out-of-vocabulary character(s) skipped ({secs:.1} s)",
            r.bits_per_char, r.nats_per_char, r.predicted, enc.unknown.len()
        );
        println!(
            "{per_akshara:.4} bits per akshara over {} aksharas; {per_byte:.4} bits per UTF-8 byte over {} bytes",
            units.aksharas, units.bytes
        );
        if let (Some(k), Some(intact)) = (&knockout, intact) {
            println!(
                "heads {k} knocked out: {:+.4} bits per character against the intact model's {intact:.4}",
                r.bits_per_char - intact
            );
        }
    }
    Ok(())
}
