//! `kgpt bench`: the measurements and JSON keys of `torch_gpt.py bench`, on our kernels.

use kgpt::bench::{run_bench, BenchOptions};
use std::path::PathBuf;

pub fn cmd_bench(
    json_out: Option<PathBuf>,
    threads: Vec<usize>,
    quick: bool,
    vocab_size: usize,
) -> Result<(), String> {
    let opts = BenchOptions {
        threads,
        quick,
        vocab_size,
    };
    let report = run_bench(&opts, &mut |line| eprintln!("{line}"), &crate_clock)?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(p) = json_out {
        std::fs::write(&p, &text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    println!("{text}");
    Ok(())
}

fn crate_clock() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}
