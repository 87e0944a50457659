//! Readers for the PyTorch fixtures (`tests/fixtures/*.expected.safetensors`), shared by the
//! test crates that compare against them.

use safetensors::tensor::{Dtype, SafeTensors};

/// An F32 fixture tensor as a flat vector.
pub fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture lacks {name}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// An I64 fixture tensor of token ids.
pub fn ids(st: &SafeTensors, name: &str) -> Vec<u32> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture lacks {name}"));
    assert_eq!(t.dtype(), Dtype::I64, "{name}");
    t.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect()
}

/// Largest |a[i] − b[i]| (the lengths must match).
#[allow(dead_code)] // not every test crate compares arrays
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
