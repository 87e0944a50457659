//! Reading the model: `kgpt heads` (what each head does on a text) and `kgpt embeddings`
//! (the token map and the position similarity). Definitions: `kgpt::analysis`.

use super::{load_weights, read_text, CliResult, EmbeddingsArgs, HeadsArgs};
use kgpt::analysis::embedding_map::{position_similarity, token_map_json};
use kgpt::analysis::heads::{score_heads, text_windows};
use serde_json::json;

pub(super) fn cmd_heads(a: HeadsArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let text = read_text(&a.data)?;
    let ids = l.tokenizer.encode(&text).ids;
    let cfg = l.model.config;
    let windows = text_windows(&ids, cfg.block_size, a.windows, false)
        .map_err(|e| format!("{}: {e}", a.data.display()))?;
    let report = score_heads(&l.model, l.tokenizer.chars(), &windows)?;
    if a.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    println!(
        "{} window(s) of {} characters; intact model {:.4} bits/char",
        report.windows, cfg.block_size, report.bits_per_char
    );
    println!(
        "{:<5} {:<12} {:>5}  {:>5} {:>5} {:>5} {:>6} {:>5}  {:>5} {:>5} {:>5} {:>5}  {:>8}",
        "head",
        "role",
        "score",
        "prev",
        "self",
        "first",
        "dist",
        "ent",
        "aksh",
        "conj",
        "word",
        "induc",
        "ko bits"
    );
    for h in &report.heads {
        println!(
            "{:<5} {:<12} {:>5.2}  {:>5.2} {:>5.2} {:>5.2} {:>6.2} {:>5.2}  {:>5.2} {:>5.2} {:>5.2} {:>5.2}  {:>+8.4}",
            format!("{}.{}", h.layer, h.head),
            h.role.name(),
            h.role_score,
            h.prev_char,
            h.self_attention,
            h.first,
            h.mean_distance,
            h.entropy_bits,
            h.same_akshara,
            h.conjunct,
            h.word_start,
            h.induction,
            h.knockout_bits
        );
    }
    Ok(())
}

pub(super) fn cmd_embeddings(a: EmbeddingsArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let mut doc = token_map_json(&l.model, l.tokenizer.chars());
    let t = l.model.config.block_size;
    let sim = position_similarity(&l.model);
    let rows: Vec<&[f32]> = sim.chunks(t).collect();
    doc["position_similarity"] = json!(rows);
    let _ = a.json;
    println!("{doc}");
    Ok(())
}
