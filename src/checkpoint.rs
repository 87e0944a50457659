//! Checkpoints: safetensors, F32, PyTorch `(out, in)` layout, gpt.py's state-dict names.
//!
//! Our files carry `__metadata__` `{"config": "<json of the six keys>", "vocab": "<json array of
//! strings in id order>"}`. A file written by `safetensors.torch.save_file(model.state_dict(), p)`
//! from an unmodified gpt.py loads too: the config is inferred from tensor shapes, the
//! `blocks.{i}.sa.heads.{h}.tril` buffers are ignored, and the vocabulary must be supplied (built
//! from the training text by gpt.py's sorted-set rule). Such a file does not say which dropout it
//! was trained with; [`INFERRED_DROPOUT`] is assumed (it only matters for further training).

use crate::config::Config;
use crate::model::{Model, ParamLayout, TensorSpec};
use crate::text::Tokenizer;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorInfo, TensorView};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Dropout assumed for a checkpoint without our config metadata (the product's value).
pub const INFERRED_DROPOUT: f32 = 0.1;

/// Why a checkpoint could not be read or written; the message names the tensor or field.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointError(pub String);

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckpointError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CheckpointError> {
    Err(CheckpointError(msg.into()))
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
    /// The file's `__metadata__` (empty for gpt.py's files).
    pub metadata: HashMap<String, String>,
    /// True when the config was inferred from tensor shapes (a plain gpt.py state dict).
    pub config_inferred: bool,
}

/// Extra F32 tensors stored next to the model (e.g. AdamW moments), by name.
pub type Extras = HashMap<String, Vec<f32>>;

/// Is this a gpt.py causal-mask buffer (`blocks.{i}.sa.heads.{h}.tril`)?
fn is_tril_buffer(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("blocks.") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 5
        && parts[0].parse::<usize>().is_ok()
        && parts[1] == "sa"
        && parts[2] == "heads"
        && parts[3].parse::<usize>().is_ok()
        && parts[4] == "tril"
}

fn shape_of(st: &SafeTensors, name: &str) -> Result<Vec<usize>, CheckpointError> {
    match st.tensor(name) {
        Ok(t) => Ok(t.shape().to_vec()),
        Err(_) => err(format!(
            "missing tensor '{name}' (needed to infer the config)"
        )),
    }
}

/// Infers the six config values from gpt.py tensor shapes.
fn infer_config(st: &SafeTensors) -> Result<Config, CheckpointError> {
    let wte = shape_of(st, "token_embedding_table.weight")?;
    let wpe = shape_of(st, "position_embedding_table.weight")?;
    if wte.len() != 2 || wpe.len() != 2 {
        return err("embedding tables must be 2-D (token_embedding_table.weight, position_embedding_table.weight)");
    }
    let names = st.names();
    let mut layers = BTreeSet::new();
    let mut heads = BTreeSet::new();
    for n in &names {
        if let Some(rest) = n.strip_prefix("blocks.") {
            let mut it = rest.split('.');
            if let Some(Ok(i)) = it.next().map(str::parse::<usize>) {
                layers.insert(i);
                if i == 0 && it.next() == Some("sa") && it.next() == Some("heads") {
                    if let Some(Ok(h)) = it.next().map(str::parse::<usize>) {
                        heads.insert(h);
                    }
                }
            }
        }
    }
    Ok(Config {
        vocab_size: wte[0],
        n_embd: wte[1],
        n_head: heads.len(),
        n_layer: layers.len(),
        block_size: wpe[0],
        dropout: INFERRED_DROPOUT,
    })
}

/// The error for a file without a vocabulary (a gpt.py state dict) when none was supplied.
/// Callers add how to supply one (the CLI names `--vocab-from`, the page its file input).
pub const NO_VOCABULARY: &str =
    "the file has no vocabulary (no \"vocab\" metadata, as in a gpt.py \
     state dict): the training text is needed (its sorted set of characters is the vocabulary)";

impl CheckpointError {
    /// True for [`NO_VOCABULARY`]: the file loads once its training text is supplied.
    pub fn is_missing_vocabulary(&self) -> bool {
        self.0 == NO_VOCABULARY
    }
}

/// Reads a checkpoint. `vocab` overrides (or, for gpt.py files, supplies) the vocabulary.
/// Tensors other than the model's are an error unless their name starts with one of
/// `extra_prefixes`; those are returned in [`Extras`].
pub fn load_with_extras(
    bytes: &[u8],
    vocab: Option<&Tokenizer>,
    extra_prefixes: &[&str],
) -> Result<(Loaded, Extras), CheckpointError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| describe_safetensors_error(bytes, e))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| describe_safetensors_error(bytes, e))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let (config, config_inferred) = read_config(&metadata, &st)?;
    let tokenizer = read_vocabulary(&metadata, vocab, &config)?;
    // Every tensor's name, dtype and shape is checked against the config from the header
    // alone first, so that a file that does not match its config is refused before we allocate
    // the parameters (a small file must not make us allocate up to MAX_PARAMS).
    let layout = ParamLayout::new(&config);
    let views = check_tensors(&st, &layout, &config, extra_prefixes)?;
    let mut params = vec![0.0f32; layout.total];
    let mut extras = Extras::new();
    for (name, view, spec) in &views {
        match spec {
            Some(spec) => read_f32(name, view, &mut params[spec.range()])?,
            None => {
                let mut buf = vec![0.0; view.shape().iter().product()];
                read_f32(name, view, &mut buf)?;
                extras.insert(name.to_string(), buf);
            }
        }
    }
    let model = Model {
        config,
        layout,
        params,
    };
    let loaded = Loaded {
        model,
        tokenizer,
        metadata,
        config_inferred,
    };
    Ok((loaded, extras))
}

/// The config from our metadata, or inferred from gpt.py's tensor shapes (then `true`).
fn read_config(
    metadata: &HashMap<String, String>,
    st: &SafeTensors,
) -> Result<(Config, bool), CheckpointError> {
    let (config, inferred) = match metadata.get("config") {
        Some(json) => (
            serde_json::from_str::<Config>(json).map_err(|e| {
                CheckpointError(format!("metadata \"config\" is not a valid config: {e}"))
            })?,
            false,
        ),
        None => (infer_config(st)?, true),
    };
    config
        .validate()
        .map_err(|e| CheckpointError(e.to_string()))?;
    Ok((config, inferred))
}

/// The supplied vocabulary, else the file's; it must have `config.vocab_size` characters.
fn read_vocabulary(
    metadata: &HashMap<String, String>,
    vocab: Option<&Tokenizer>,
    config: &Config,
) -> Result<Tokenizer, CheckpointError> {
    let tokenizer = match (vocab, metadata.get("vocab")) {
        (Some(t), _) => t.clone(),
        (None, Some(json)) => {
            let entries: Vec<String> = serde_json::from_str(json).map_err(|e| {
                CheckpointError(format!(
                    "metadata \"vocab\" is not a JSON array of strings: {e}"
                ))
            })?;
            Tokenizer::from_entries(&entries)
                .map_err(|e| CheckpointError(format!("metadata \"vocab\": {e}")))?
        }
        (None, None) => return err(NO_VOCABULARY),
    };
    if tokenizer.vocab_size() != config.vocab_size {
        return err(format!(
            "the vocabulary has {} characters but the model's vocab_size is {}",
            tokenizer.vocab_size(),
            config.vocab_size
        ));
    }
    Ok(tokenizer)
}

/// A tensor of the file: its name, its view, and the parameter it fills (`None`: an extra).
type FileTensor<'a> = (&'a str, TensorView<'a>, Option<&'a TensorSpec>);

/// Every tensor of the file, checked: F32, a parameter of `layout` with its shape or an extra
/// (name starting with one of `extra_prefixes`), and no parameter missing.
fn check_tensors<'a>(
    st: &'a SafeTensors<'a>,
    layout: &'a ParamLayout,
    config: &Config,
    extra_prefixes: &[&str],
) -> Result<Vec<FileTensor<'a>>, CheckpointError> {
    // Name → tensor, so a model with many tensors loads in linear time.
    let by_name: HashMap<&str, &TensorSpec> = layout
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut names = st.names();
    names.sort_unstable();
    names.retain(|n| !is_tril_buffer(n));
    let mut views = Vec::with_capacity(names.len());
    for name in names {
        let view = st
            .tensor(name)
            .map_err(|e| CheckpointError(format!("tensor '{name}': {e}")))?;
        let spec = by_name.get(name).copied();
        let extra = extra_prefixes.iter().any(|p| name.starts_with(p));
        if spec.is_some() || extra {
            check_f32(name, &view)?;
        }
        match spec {
            Some(spec) if view.shape() != spec.shape.as_slice() => {
                return err(format!(
                    "tensor '{name}' has shape {:?}, expected {:?} for config {}",
                    view.shape(),
                    spec.shape,
                    config_summary(config)
                ))
            }
            None if !extra => {
                return err(format!(
                    "unexpected tensor '{name}' (not a parameter of config {})",
                    config_summary(config)
                ))
            }
            _ => {}
        }
        views.push((name, view, spec));
    }
    let seen: BTreeSet<&str> = views
        .iter()
        .filter_map(|(_, _, s)| s.map(|s| s.name.as_str()))
        .collect();
    if let Some(missing) = layout
        .tensors
        .iter()
        .find(|t| !seen.contains(t.name.as_str()))
    {
        return err(format!("missing tensor '{}'", missing.name));
    }
    Ok(views)
}

/// Reads a model checkpoint (ours, or gpt.py's state dict with `vocab` supplied).
pub fn load(bytes: &[u8], vocab: Option<&Tokenizer>) -> Result<Loaded, CheckpointError> {
    load_with_extras(bytes, vocab, &[]).map(|(l, _)| l)
}

/// Turns a safetensors parse error into a message that says what is wrong with the file
/// (the crate's own messages do not say which tensor or how many bytes).
fn describe_safetensors_error(bytes: &[u8], e: SafeTensorError) -> CheckpointError {
    let len = bytes.len();
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .unwrap_or(0);
    let msg = match e {
        SafeTensorError::HeaderTooSmall => {
            format!("the file is {len} bytes, too short to hold the 8-byte header length")
        }
        SafeTensorError::HeaderTooLarge => format!(
            "the header length field says {header_len} bytes, over safetensors' 100 MB limit"
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "the header length field says {header_len} bytes but only {} bytes follow it \
             (truncated file?)",
            len.saturating_sub(8)
        ),
        SafeTensorError::InvalidHeader(u) => format!("the header is not UTF-8 ({u})"),
        SafeTensorError::InvalidHeaderDeserialization(j) => {
            format!("the header is not valid safetensors JSON ({j})")
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            let data = len.saturating_sub(8).saturating_sub(header_len as usize);
            match header_tensors(bytes)
                .and_then(|ts| ts.iter().map(|(_, i)| i.data_offsets.1).max())
            {
                Some(declared) if declared > data => format!(
                    "the header declares {declared} bytes of tensor data but the file holds only \
                     {data} (truncated file?)"
                ),
                Some(declared) => format!(
                    "the header declares {declared} bytes of tensor data but the file holds {data}: \
                     {} unexplained bytes at the end",
                    data - declared
                ),
                None => "the tensor data does not cover the file".to_string(),
            }
        }
        SafeTensorError::InvalidOffset(name) => format!(
            "tensor '{name}' has data_offsets that overlap another tensor, leave a gap or run \
             backwards"
        ),
        SafeTensorError::TensorInvalidInfo => {
            let bad = header_tensors(bytes).and_then(|ts| {
                ts.into_iter().find(|(_, i)| {
                    let n = i.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                    let bytes = n
                        .and_then(|n| n.checked_mul(i.dtype.bitsize()))
                        .map(|b| b / 8);
                    Some(i.data_offsets.1.wrapping_sub(i.data_offsets.0)) != bytes
                })
            });
            match bad {
                Some((name, i)) => format!(
                    "tensor '{name}' has dtype {:?} and shape {:?} but its data_offsets \
                     {:?} span {} bytes",
                    i.dtype,
                    i.shape,
                    i.data_offsets,
                    i.data_offsets.1.wrapping_sub(i.data_offsets.0)
                ),
                None => "a tensor's byte range does not match its shape and dtype".to_string(),
            }
        }
        SafeTensorError::ValidationOverflow => {
            "a tensor's shape is so large that its byte size overflows".to_string()
        }
        other => other.to_string(),
    };
    CheckpointError(format!("not a valid safetensors file: {msg}"))
}

/// The header's tensor entries, parsed leniently (for error messages only).
fn header_tensors(bytes: &[u8]) -> Option<Vec<(String, TensorInfo)>> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    let map: HashMap<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    let mut out: Vec<(String, TensorInfo)> = map
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect();
    out.sort_by_key(|(_, i)| i.data_offsets);
    Some(out)
}

fn config_summary(c: &Config) -> String {
    format!(
        "V={} C={} H={} L={} T={}",
        c.vocab_size, c.n_embd, c.n_head, c.n_layer, c.block_size
    )
}

fn check_f32(name: &str, view: &TensorView) -> Result<(), CheckpointError> {
    if view.dtype() != Dtype::F32 {
        return err(format!(
            "tensor '{name}' has dtype {:?}, expected F32",
            view.dtype()
        ));
    }
    Ok(())
}

/// Copies an F32 little-endian tensor into `out`, refusing other dtypes and non-finite values.
fn read_f32(name: &str, view: &TensorView, out: &mut [f32]) -> Result<(), CheckpointError> {
    check_f32(name, view)?;
    let data = view.data();
    if data.len() != out.len() * 4 {
        return err(format!(
            "tensor '{name}' has {} bytes, expected {}",
            data.len(),
            out.len() * 4
        ));
    }
    for (i, (o, b)) in out.iter_mut().zip(data.chunks_exact(4)).enumerate() {
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if !v.is_finite() {
            return err(format!(
                "tensor '{name}' holds a non-finite value ({v}) at index {i}"
            ));
        }
        *o = v;
    }
    Ok(())
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Serialises the model (gpt.py names, PyTorch layout) with config and vocab metadata, plus
/// `extras` (name, shape, values) and extra metadata entries.
pub fn to_bytes_with_extras(
    model: &Model,
    tokenizer: &Tokenizer,
    extras: &[(String, Vec<usize>, &[f32])],
    extra_metadata: &[(&str, String)],
) -> Result<Vec<u8>, CheckpointError> {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = model
        .layout
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                f32_bytes(&model.params[t.range()]),
            )
        })
        .collect();
    for (name, shape, values) in extras {
        owned.push((name.clone(), shape.clone(), f32_bytes(values)));
    }
    let views = owned
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| CheckpointError(format!("tensor '{name}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut metadata = HashMap::new();
    metadata.insert(
        "config".to_string(),
        serde_json::to_string(&model.config).map_err(|e| CheckpointError(e.to_string()))?,
    );
    metadata.insert(
        "vocab".to_string(),
        serde_json::to_string(&tokenizer.entries()).map_err(|e| CheckpointError(e.to_string()))?,
    );
    for (k, v) in extra_metadata {
        metadata.insert(k.to_string(), v.clone());
    }
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| CheckpointError(format!("could not serialise: {e}")))
}

/// Serialises the model with config and vocab metadata.
pub fn to_bytes(model: &Model, tokenizer: &Tokenizer) -> Result<Vec<u8>, CheckpointError> {
    to_bytes_with_extras(model, tokenizer, &[], &[])
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over the target, so a crash leaves either the old file or the new one.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (Model, Tokenizer) {
        let tok = Tokenizer::from_text("ಕನ್ನಡ ಜ್ಞಾನ");
        let cfg = Config {
            vocab_size: tok.vocab_size(),
            n_embd: 8,
            n_head: 2,
            n_layer: 2,
            block_size: 6,
            dropout: 0.1,
        };
        (Model::init(cfg, 1), tok)
    }

    fn without(bytes: &[u8], skip: &str, replace: Option<(Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter(|(n, _)| n != skip)
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        if let Some((d, s, b)) = replace {
            owned.push((skip.to_string(), d, s, b));
        }
        let views: Vec<(String, TensorView)> = owned
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::tensor::serialize(views, header.metadata().clone()).unwrap()
    }

    #[test]
    fn round_trip() {
        let (m, tok) = tiny();
        let bytes = to_bytes(&m, &tok).unwrap();
        let l = load(&bytes, None).unwrap();
        assert_eq!(l.model.params, m.params);
        assert_eq!(l.model.config, m.config);
        assert_eq!(l.tokenizer, tok);
        assert!(!l.config_inferred);
    }

    #[test]
    fn errors_name_the_tensor() {
        let (m, tok) = tiny();
        let bytes = to_bytes(&m, &tok).unwrap();
        let e = load(&without(&bytes, "ln_f.bias", None), None).unwrap_err();
        assert_eq!(e.0, "missing tensor 'ln_f.bias'");
        let e = load(
            &without(
                &bytes,
                "ln_f.bias",
                Some((Dtype::F32, vec![9], vec![0; 36])),
            ),
            None,
        )
        .unwrap_err();
        assert!(
            e.0.contains("'ln_f.bias' has shape [9], expected [8]"),
            "{e}"
        );
        let e = load(
            &without(
                &bytes,
                "ln_f.bias",
                Some((Dtype::F16, vec![8], vec![0; 16])),
            ),
            None,
        )
        .unwrap_err();
        assert!(e.0.contains("'ln_f.bias' has dtype F16"), "{e}");
        let e = load(
            &without(
                &bytes,
                "blocks.0.extra",
                Some((Dtype::F32, vec![1], vec![0; 4])),
            ),
            None,
        )
        .unwrap_err();
        assert!(e.0.contains("unexpected tensor 'blocks.0.extra'"), "{e}");
        let mut nan = f32::NAN.to_le_bytes().to_vec();
        nan.extend([0u8; 28]);
        let e = load(
            &without(&bytes, "ln_f.bias", Some((Dtype::F32, vec![8], nan))),
            None,
        )
        .unwrap_err();
        assert!(e.0.contains("non-finite"), "{e}");
        assert!(load(&bytes[..bytes.len() - 3], None).is_err());
        assert!(load(b"garbage", None).is_err());
        let other = Tokenizer::from_text("ab");
        assert!(load(&bytes, Some(&other))
            .unwrap_err()
            .0
            .contains("vocab_size"));
    }

    #[test]
    fn tril_buffers_are_ignored_and_config_inferred() {
        let (m, tok) = tiny();
        let views_owned: Vec<(String, Vec<usize>, Vec<u8>)> = m
            .layout
            .tensors
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.shape.clone(),
                    f32_bytes(&m.params[t.range()]),
                )
            })
            .chain((0..2).flat_map(|l| {
                (0..2).map(move |h| {
                    (
                        format!("blocks.{l}.sa.heads.{h}.tril"),
                        vec![6, 6],
                        f32_bytes(&[1.0; 36]),
                    )
                })
            }))
            .collect();
        let views: Vec<(String, TensorView)> = views_owned
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let bytes = safetensors::tensor::serialize(views, None).unwrap();
        let e = load(&bytes, None).unwrap_err();
        assert!(
            e.is_missing_vocabulary() && e.0.contains("no vocabulary"),
            "{e}"
        );
        let l = load(&bytes, Some(&tok)).unwrap();
        assert!(l.config_inferred);
        assert_eq!(l.model.config, m.config);
        assert_eq!(l.model.params, m.params);
    }
}
