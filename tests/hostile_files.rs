//! Hostile checkpoint files, through the library and through the `kgpt` binary: each must be
//! refused with a message that names the problem, never a panic, and never by allocating what
//! the file merely declares.
//!
//! `HOSTILE_TABLE=path cargo test --release --test hostile_files` also writes the table of
//! file → error message used in docs/reliability.md.
#![cfg(not(target_arch = "wasm32"))]

mod kgpt_cli;
use kgpt::checkpoint;
use kgpt::config::Config;
use kgpt::model::Model;
use kgpt::text::Tokenizer;
use kgpt_cli::kgpt;
use serde_json::{json, Map, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

/// Records the largest single allocation of the current thread, so a test can prove that a
/// file declaring gigabytes was refused without allocating them.
struct PeakAlloc;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = PEAK.try_with(|p| p.set(p.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = PEAK.try_with(|p| p.set(p.get().max(layout.size())));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = PEAK.try_with(|p| p.set(p.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

/// Runs `f` and returns its result with the largest single allocation it made.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    PEAK.with(|p| p.set(0));
    let r = f();
    (r, PEAK.with(|p| p.get()))
}

const VOCAB: &str = "ಕನ್ನಡ ನಾಡು";

fn valid() -> Vec<u8> {
    let tok = Tokenizer::from_text(VOCAB);
    let cfg = Config {
        vocab_size: tok.vocab_size(),
        n_embd: 4,
        n_head: 2,
        n_layer: 1,
        block_size: 4,
        dropout: 0.1,
    };
    checkpoint::to_bytes(&Model::init(cfg, 7), &tok).unwrap()
}

/// The header as JSON and the tensor data.
fn split(bytes: &[u8]) -> (Map<String, Value>, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn join(header: &Map<String, Value>, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

/// Edits the valid file's header (and data) with `f`.
fn edit(f: impl FnOnce(&mut Map<String, Value>, &mut Vec<u8>)) -> Vec<u8> {
    let (mut h, mut d) = split(&valid());
    f(&mut h, &mut d);
    join(&h, &d)
}

fn tensor<'a>(h: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    h.get_mut(name).unwrap().as_object_mut().unwrap()
}

/// The tensor whose data comes last in the file.
fn last_tensor(h: &Map<String, Value>) -> String {
    h.keys()
        .filter(|k| *k != "__metadata__")
        .max_by_key(|k| offsets(h, k).1)
        .unwrap()
        .clone()
}

fn offsets(h: &Map<String, Value>, name: &str) -> (usize, usize) {
    let o = &h[name]["data_offsets"];
    (
        o[0].as_u64().unwrap() as usize,
        o[1].as_u64().unwrap() as usize,
    )
}

fn meta(h: &mut Map<String, Value>, key: &str, value: String) {
    h.get_mut("__metadata__")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.into(), Value::String(value));
}

fn config_json(f: impl FnOnce(&mut Map<String, Value>)) -> String {
    let (h, _) = split(&valid());
    let mut c: Map<String, Value> =
        serde_json::from_str(h["__metadata__"]["config"].as_str().unwrap()).unwrap();
    f(&mut c);
    serde_json::to_string(&c).unwrap()
}

/// Writes `value` (an f32) at element `index` of tensor `name`.
fn poke(h: &Map<String, Value>, d: &mut [u8], name: &str, index: usize, value: f32) {
    let (s, _) = offsets(h, name);
    d[s + 4 * index..s + 4 * index + 4].copy_from_slice(&value.to_le_bytes());
}

/// (file name, description, bytes, a phrase the error must contain)
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    let v = valid();
    vec![
        (
            "empty.safetensors",
            "empty file (0 bytes)",
            vec![],
            "too short",
        ),
        (
            "truncated.safetensors",
            "valid file cut 10 bytes short",
            v[..v.len() - 10].to_vec(),
            "truncated",
        ),
        (
            "header_too_long.safetensors",
            "header length field larger than the file",
            {
                let mut b = v.clone();
                b[..8].copy_from_slice(&(v.len() as u64 * 2).to_le_bytes());
                b
            },
            "only",
        ),
        (
            "header_huge.safetensors",
            "header length field = 2^64 − 1",
            {
                let mut b = v.clone();
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "100 MB",
        ),
        (
            "header_not_json.safetensors",
            "header is not JSON",
            {
                let mut b = 16u64.to_le_bytes().to_vec();
                b.extend(b"{not json}      ");
                b
            },
            "not valid safetensors JSON",
        ),
        (
            "header_not_utf8.safetensors",
            "header is not UTF-8",
            {
                let mut b = 4u64.to_le_bytes().to_vec();
                b.extend([0xff, 0xfe, 0x7b, 0x7d]);
                b
            },
            "not UTF-8",
        ),
        (
            "offsets_out_of_range.safetensors",
            "last tensor's data_offsets end past the file",
            edit(|h, _| {
                let last = last_tensor(h);
                let (s, e) = offsets(h, &last);
                let t = tensor(h, &last);
                t.insert("data_offsets".into(), json!([s, e + 4000]));
                t.insert("shape".into(), json!([(e + 4000 - s) / 4]));
            }),
            "holds only",
        ),
        (
            "offsets_overlapping.safetensors",
            "two tensors' data_offsets overlap",
            edit(|h, _| {
                let (s, e) = offsets(h, "ln_f.bias");
                tensor(h, "ln_f.bias").insert("data_offsets".into(), json!([s - 4, e - 4]));
            }),
            "overlap",
        ),
        (
            "offsets_mismatch_shape.safetensors",
            "data_offsets span fewer bytes than shape × dtype",
            edit(|h, _| {
                tensor(h, "ln_f.bias").insert("shape".into(), json!([3]));
            }),
            "'ln_f.bias' has dtype F32 and shape [3]",
        ),
        (
            "wrong_dtype.safetensors",
            "a weight stored as F16",
            edit(|h, _| {
                let t = tensor(h, "ln_f.bias");
                t.insert("dtype".into(), json!("F16"));
                t.insert("shape".into(), json!([8]));
            }),
            "'ln_f.bias' has dtype F16, expected F32",
        ),
        (
            "wrong_shape.safetensors",
            "lm_head.weight transposed ([C, V] instead of [V, C])",
            edit(|h, _| {
                let t = tensor(h, "lm_head.weight");
                let s = t["shape"].clone();
                t.insert("shape".into(), json!([s[1], s[0]]));
            }),
            "'lm_head.weight' has shape",
        ),
        (
            "nan_weight.safetensors",
            "a NaN in a weight",
            edit(|h, d| poke(h, d, "blocks.0.ffwd.net.0.weight", 5, f32::NAN)),
            "'blocks.0.ffwd.net.0.weight' holds a non-finite value (NaN) at index 5",
        ),
        (
            "inf_weight.safetensors",
            "+Inf in a weight",
            edit(|h, d| poke(h, d, "token_embedding_table.weight", 0, f32::INFINITY)),
            "holds a non-finite value (inf)",
        ),
        (
            "missing_tensor.safetensors",
            "a parameter missing",
            edit(|h, d| {
                // Drop ln_f.bias and close the gap it leaves in the data.
                let (s, e) = offsets(h, "ln_f.bias");
                h.remove("ln_f.bias");
                d.drain(s..e);
                let names: Vec<String> =
                    h.keys().filter(|k| *k != "__metadata__").cloned().collect();
                for n in names {
                    let (a, b) = offsets(h, &n);
                    if a >= e {
                        tensor(h, &n)
                            .insert("data_offsets".into(), json!([a - (e - s), b - (e - s)]));
                    }
                }
            }),
            "missing tensor 'ln_f.bias'",
        ),
        (
            "unexpected_tensor.safetensors",
            "an extra tensor",
            edit(|h, d| {
                let n = d.len();
                h.insert(
                    "blocks.7.secret.weight".into(),
                    json!({"dtype": "F32", "shape": [1], "data_offsets": [n, n + 4]}),
                );
                d.extend(0f32.to_le_bytes());
            }),
            "unexpected tensor 'blocks.7.secret.weight'",
        ),
        (
            "config_disagrees.safetensors",
            "config says n_embd 8, the tensors are n_embd 4",
            edit(|h, _| {
                meta(
                    h,
                    "config",
                    config_json(|c| {
                        c.insert("n_embd".into(), json!(8));
                    }),
                )
            }),
            "expected [",
        ),
        (
            "config_huge_small_file.safetensors",
            "config of 63 M parameters (valid bounds) in a 2 KB file",
            edit(|h, _| {
                meta(
                    h,
                    "config",
                    config_json(|c| {
                        c.insert("n_embd".into(), json!(1024));
                        c.insert("n_head".into(), json!(8));
                        c.insert("n_layer".into(), json!(5));
                        c.insert("block_size".into(), json!(256));
                    }),
                )
            }),
            "expected [",
        ),
        (
            "config_over_bounds.safetensors",
            "config with n_layer 1000",
            edit(|h, _| {
                meta(
                    h,
                    "config",
                    config_json(|c| {
                        c.insert("n_layer".into(), json!(1000));
                    }),
                )
            }),
            "n_layer = 1000 exceeds the limit 64",
        ),
        (
            "config_activations.safetensors",
            "config with vocab 65,536 × block 4,096 (3 GB of logits)",
            edit(|h, _| {
                meta(
                    h,
                    "config",
                    config_json(|c| {
                        c.insert("vocab_size".into(), json!(65536));
                        c.insert("n_embd".into(), json!(1));
                        c.insert("n_head".into(), json!(1));
                        c.insert("block_size".into(), json!(4096));
                    }),
                )
            }),
            "activation buffers",
        ),
        (
            "config_not_json.safetensors",
            "config metadata is not JSON",
            edit(|h, _| meta(h, "config", "{vocab_size: 9".into())),
            "metadata \"config\" is not a valid config",
        ),
        (
            "config_unknown_key.safetensors",
            "config metadata with an unknown key",
            edit(|h, _| {
                meta(
                    h,
                    "config",
                    config_json(|c| {
                        c.insert("bias".into(), json!(true));
                    }),
                )
            }),
            "unknown field `bias`",
        ),
        (
            "declared_2gb.safetensors",
            "a tensor declaring 2 GB ([536870912] F32) in a small file",
            edit(|h, _| {
                let last = last_tensor(h);
                let (s, _) = offsets(h, &last);
                let t = tensor(h, &last);
                t.insert("shape".into(), json!([536_870_912u64]));
                t.insert("data_offsets".into(), json!([s, s + 2_147_483_648usize]));
            }),
            "declares",
        ),
        (
            "shape_overflow.safetensors",
            "a shape whose byte size overflows 64 bits",
            edit(|h, _| {
                tensor(h, "lm_head.bias").insert("shape".into(), json!([u64::MAX / 2, 4]));
            }),
            "overflows",
        ),
        (
            "vocab_duplicates.safetensors",
            "vocab metadata with a character twice",
            edit(|h, _| {
                let mut v: Vec<String> =
                    serde_json::from_str(h["__metadata__"]["vocab"].as_str().unwrap()).unwrap();
                v[2] = v[1].clone();
                meta(h, "vocab", serde_json::to_string(&v).unwrap());
            }),
            "appears twice",
        ),
        (
            "vocab_wrong_length.safetensors",
            "vocab metadata one entry short",
            edit(|h, _| {
                let mut v: Vec<String> =
                    serde_json::from_str(h["__metadata__"]["vocab"].as_str().unwrap()).unwrap();
                v.pop();
                meta(h, "vocab", serde_json::to_string(&v).unwrap());
            }),
            "but the model's vocab_size is",
        ),
        (
            "vocab_multichar.safetensors",
            "vocab entry of two characters",
            edit(|h, _| {
                let mut v: Vec<String> =
                    serde_json::from_str(h["__metadata__"]["vocab"].as_str().unwrap()).unwrap();
                v[0] = "ab".into();
                meta(h, "vocab", serde_json::to_string(&v).unwrap());
            }),
            "must be exactly one character",
        ),
        (
            "vocab_not_array.safetensors",
            "vocab metadata is not a JSON array",
            edit(|h, _| meta(h, "vocab", "{\"a\": 1}".into())),
            "metadata \"vocab\" is not a JSON array of strings",
        ),
        (
            "no_vocab.safetensors",
            "no vocab metadata (a gpt.py state dict) and no --vocab-from",
            edit(|h, _| {
                h.get_mut("__metadata__")
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("vocab");
            }),
            "no vocabulary",
        ),
    ]
}

#[test]
fn hostile_files_are_refused_by_the_library_without_allocating() {
    assert!(checkpoint::load(&valid(), None).is_ok());
    let mut table = String::from("| file | what is wrong | error |\n|---|---|---|\n");
    for (name, what, bytes, phrase) in cases() {
        let (r, peak) = peak_of(|| checkpoint::load(&bytes, None));
        let e = match r {
            Ok(_) => panic!("{name}: loaded"),
            Err(e) => e.0,
        };
        assert!(
            e.contains(phrase),
            "{name}: {e:?} does not contain {phrase:?}"
        );
        // The valid file holds ~400 parameters; nothing here may allocate more than 1 MB at once
        // (in particular not the 2 GB tensor or the 63 M-parameter config).
        assert!(peak < 1 << 20, "{name}: allocated {peak} bytes at once");
        let e_md = e.replace('|', "\\|");
        table.push_str(&format!("| `{name}` | {what} | {e_md} |\n"));
    }
    if let Ok(path) = std::env::var("HOSTILE_TABLE") {
        std::fs::write(path, table).unwrap();
    }
}

#[test]
fn hostile_files_are_refused_by_the_cli() {
    let dir = std::env::temp_dir().join(format!("kgpt-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, _, bytes, phrase) in cases() {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        for args in [
            vec!["forward", "--weights", path.to_str().unwrap(), "--ids", "0"],
            vec!["sample", "--weights", path.to_str().unwrap(), "--n", "3"],
        ] {
            let out = kgpt(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{name}: kgpt {args:?} succeeded");
            assert!(!err.contains("panicked"), "{name}: panic: {err}");
            assert!(err.starts_with("error: "), "{name}: {err}");
            assert!(
                err.contains(name),
                "{name}: the message names the file: {err}"
            );
            assert!(
                err.contains(phrase),
                "{name}: {err:?} does not contain {phrase:?}"
            );
        }
    }
    // A resumed run refuses a hostile training state the same way.
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("train-state.safetensors"), &cases()[11].2).unwrap();
    let data = dir.join("d.txt");
    std::fs::write(&data, VOCAB.repeat(20)).unwrap();
    let out = kgpt(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(
        err.contains("cannot resume") && err.contains("non-finite"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
