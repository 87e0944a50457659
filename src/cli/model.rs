//! Commands on one model and one input: `init`, `forward`, `grads`, `step`.

use super::ids::{parse_batch, parse_ids};
use super::{checkpoint, load_weights, parse_ablate, read_text, write_file, CliResult};
use super::{ForwardArgs, GradsArgs, InitArgs, StepArgs};
use kgpt::model::{Knockout, Model};
use kgpt::text::Tokenizer;
use kgpt::train::Trainer;
use serde_json::json;
use std::io::Write;

pub(super) fn cmd_init(a: InitArgs) -> CliResult<()> {
    let tok = match (&a.vocab_from, a.vocab_size) {
        (Some(p), _) => Tokenizer::from_text(&read_text(p)?),
        (None, Some(n)) => {
            if n == 0 || n > kgpt::config::MAX_VOCAB {
                return Err(format!(
                    "--vocab-size {n} must be in 1..={}",
                    kgpt::config::MAX_VOCAB
                ));
            }
            let chars: Vec<String> = (0..n)
                .map(|i| {
                    char::from_u32(0xE000 + i as u32)
                        .unwrap_or('\u{FFFD}')
                        .to_string()
                })
                .collect();
            Tokenizer::from_entries(&chars).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("give --vocab-from FILE or --vocab-size N".into()),
    };
    if tok.vocab_size() == 0 {
        return Err("the vocabulary is empty (empty --vocab-from file?)".into());
    }
    let cfg = a.shape.config(tok.vocab_size())?;
    let model = Model::init(cfg, a.seed);
    write_file(
        &a.out,
        &checkpoint::to_bytes(&model, &tok).map_err(|e| e.to_string())?,
    )?;
    eprintln!(
        "wrote {} ({} parameters, vocab {})",
        a.out.display(),
        cfg.param_count(),
        tok.vocab_size()
    );
    Ok(())
}

pub(super) fn cmd_forward(a: ForwardArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let ids = match (&a.ids, &a.text) {
        (Some(s), _) => parse_ids(s)?,
        (None, Some(text)) => {
            let enc = l.tokenizer.encode(text);
            if !enc.unknown.is_empty() {
                let list: Vec<String> = enc
                    .unknown
                    .iter()
                    .map(|u| format!("{:?} at {}", u.ch, u.index))
                    .collect();
                eprintln!(
                    "skipped {} character(s) outside the vocabulary: {}",
                    enc.unknown.len(),
                    list.join(", ")
                );
            }
            enc.ids
        }
        (None, None) => return Err("give --ids or --text".into()),
    };
    let targets = a.targets.as_deref().map(parse_ids).transpose()?;
    let cfg = l.model.config;
    let knockout = match &a.ablate {
        Some(spec) => parse_ablate(spec, &cfg)?,
        None => Knockout::none(),
    };
    let out = l
        .model
        .forward_eval_with(&ids, targets.as_deref(), &knockout, a.logit_lens)
        .map_err(|e| e.to_string())?;
    let t = out.ids.len();
    let logits: Vec<&[f32]> = out.logits.chunks(cfg.vocab_size).collect();
    let attention: Vec<Vec<Vec<&[f32]>>> = out
        .attention
        .chunks(cfg.n_head * t * t)
        .map(|layer| {
            layer
                .chunks(t * t)
                .map(|head| head.chunks(t).collect())
                .collect()
        })
        .collect();
    let mut doc = json!({
        "config": cfg,
        "ids": out.ids,
        "logits": logits,
        "attention": attention,
        "loss": out.loss,
    });
    if let Some(lens) = &out.logit_lens {
        let layers: Vec<Vec<&[f32]>> = lens
            .chunks(t * cfg.vocab_size)
            .map(|layer| layer.chunks(cfg.vocab_size).collect())
            .collect();
        doc["logit_lens"] = json!(layers);
    }
    if !knockout.is_empty() {
        doc["knocked_out"] = json!(knockout.to_string());
    }
    let _ = a.json;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &doc).map_err(|e| e.to_string())?;
    writeln!(stdout).map_err(|e| e.to_string())
}

pub(super) fn cmd_grads(a: GradsArgs) -> CliResult<()> {
    let l = load_weights(&a.w)?;
    let batch = parse_batch(&a.batch.ids, &a.batch.targets)?;
    let mut trainer = Trainer::new(&l.model, 1);
    let loss = trainer
        .compute_grads(&l.model, &batch, None)
        .map_err(|e| e.to_string())?;
    let mut g = l.model.clone();
    g.params.copy_from_slice(&trainer.grads);
    let bytes =
        checkpoint::to_bytes_with_extras(&g, &l.tokenizer, &[], &[("loss", loss.to_string())])
            .map_err(|e| e.to_string())?;
    write_file(&a.out, &bytes)?;
    eprintln!("loss {loss:.6}; wrote gradients to {}", a.out.display());
    Ok(())
}

pub(super) fn cmd_step(a: StepArgs) -> CliResult<()> {
    let mut l = load_weights(&a.w)?;
    let batch = parse_batch(&a.batch.ids, &a.batch.targets)?;
    let mut trainer = Trainer::new(&l.model, 1);
    for i in 0..a.steps {
        let info = trainer
            .step(&mut l.model, &batch, a.lr, None)
            .map_err(|e| format!("step {}: {e}", i + 1))?;
        eprintln!("step {} loss {:.6}", i + 1, info.loss);
    }
    write_file(
        &a.out,
        &checkpoint::to_bytes(&l.model, &l.tokenizer).map_err(|e| e.to_string())?,
    )
}
