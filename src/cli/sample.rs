//! `kgpt sample`: generate text from a prompt.

use super::{load_weights, CliResult, SampleArgs};
use kgpt::sample::{generate, SampleSettings};
use std::io::Write;

pub(super) fn cmd_sample(a: SampleArgs) -> CliResult<()> {
    if !a.temperature.is_finite() || a.temperature < 0.0 {
        return Err(format!(
            "--temperature {} must be a number ≥ 0",
            a.temperature
        ));
    }
    let l = load_weights(&a.w)?;
    let enc = l.tokenizer.encode(&a.prompt);
    if !enc.unknown.is_empty() {
        eprintln!(
            "skipped {} prompt character(s) outside the vocabulary",
            enc.unknown.len()
        );
    }
    let settings = SampleSettings {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", l.tokenizer.decode(&enc.ids));
    let tok = &l.tokenizer;
    generate(&l.model, &enc.ids, a.n, settings, |id| {
        let _ = write!(stdout, "{}", tok.decode(&[id]));
        let _ = stdout.flush();
        true
    })
    .map_err(|e| e.to_string())?;
    let _ = writeln!(stdout);
    Ok(())
}
