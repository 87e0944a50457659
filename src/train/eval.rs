//! Bits per character of a text (and the units it can also be counted in: aksharas, bytes).

use crate::model::{Knockout, Model, RunState};

/// Result of [`bits_per_char`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalResult {
    pub bits_per_char: f64,
    pub nats_per_char: f64,
    /// Characters predicted (every id after the first).
    pub predicted: usize,
    /// Sum of −ln p over the predicted characters (`nats_per_char · predicted`).
    pub total_nats: f64,
}

impl EvalResult {
    /// The same total information spread over `units` (aksharas, UTF-8 bytes, …) instead of
    /// characters: `total_nats / ln 2 / units`.
    pub fn bits_per(&self, units: usize) -> f64 {
        self.total_nats / std::f64::consts::LN_2 / units as f64
    }
}

/// How much text [`bits_per_char`] predicts, in three units: the evaluated characters are the
/// known ones in order (out-of-vocabulary characters skipped), and every character after the
/// first is predicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PredictedUnits {
    /// Predicted characters (all but the first).
    pub chars: usize,
    /// Aksharas ([`crate::text::akshara::segment_chars`] on the evaluated characters) that contain at
    /// least one predicted character: all of them, except the first when it is the first
    /// character alone.
    pub aksharas: usize,
    /// UTF-8 bytes of the predicted characters.
    pub bytes: usize,
}

/// Counts the units of [`PredictedUnits`] for the evaluated characters `chars`.
///
/// ```
/// use kgpt::train::{predicted_units, PredictedUnits};
/// // ಕ | ನ್ನ | ಡ | ! : the first akshara is the unpredicted first character.
/// let chars: Vec<char> = "ಕನ್ನಡ!".chars().collect();
/// assert_eq!(predicted_units(&chars), PredictedUnits { chars: 5, aksharas: 3, bytes: 13 });
/// ```
pub fn predicted_units(chars: &[char]) -> PredictedUnits {
    let groups = crate::text::akshara::segment_chars(chars);
    let first_alone = groups.first().is_some_and(|g| g.end == 1);
    PredictedUnits {
        chars: chars.len().saturating_sub(1),
        aksharas: groups.len() - usize::from(first_alone),
        bytes: chars.iter().skip(1).map(|c| c.len_utf8()).sum(),
    }
}

/// Bits per character of `ids`: every id after the first is predicted exactly once, with windows
/// of block_size and stride block_size/2 (the first window scores all its positions, later ones
/// only the positions not yet scored, i.e. their second half), so every prediction after the
/// first window has at least block_size/2 characters of context.
pub fn bits_per_char(model: &Model, ids: &[u32], threads: usize) -> Option<EvalResult> {
    bits_per_char_with(model, ids, threads, &Knockout::none())
}

/// [`bits_per_char`] with the heads of `knockout` knocked out (None also when the set does not
/// fit the model).
pub fn bits_per_char_with(
    model: &Model,
    ids: &[u32],
    threads: usize,
    knockout: &Knockout,
) -> Option<EvalResult> {
    if ids.len() < 2 || model.prepare_ids(ids).is_err() || model.check_knockout(knockout).is_err() {
        return None;
    }
    let t = model.config.block_size;
    let stride = (t / 2).max(1);
    // windows: (start, end, first scored position within the window)
    let mut windows = Vec::new();
    let last_target = ids.len() - 1; // targets are ids[1..=last_target]
    let mut scored = 0usize; // targets ids[1..=scored] done
    let mut start = 0usize;
    while scored < last_target {
        let end = (start + t).min(last_target); // inputs ids[start..end], targets ids[start+1..=end]
        let first = scored - start; // first window position whose target is new
        windows.push((start, end, first));
        scored = end;
        start += stride;
    }
    let v = model.config.vocab_size;
    let eval = |ws: &[(usize, usize, usize)]| -> f64 {
        let mut state = RunState::new(&model.config);
        state.knockout = knockout.clone();
        let mut nats = 0.0f64;
        for &(s, e, first) in ws {
            model.forward(&mut state, &ids[s..e], None, None);
            for pos in first..e - s {
                let row = &state.logits[pos * v..(pos + 1) * v];
                let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let lse = max as f64
                    + row
                        .iter()
                        .map(|&x| ((x - max) as f64).exp())
                        .sum::<f64>()
                        .ln();
                nats += lse - row[ids[s + pos + 1] as usize] as f64;
            }
        }
        nats
    };
    let threads = threads.max(1).min(windows.len());
    let total_nats: f64 = if threads <= 1 || cfg!(target_arch = "wasm32") {
        eval(&windows)
    } else {
        let per = windows.len().div_ceil(threads);
        std::thread::scope(|s| {
            let hs: Vec<_> = windows
                .chunks(per)
                .map(|ws| {
                    let eval = &eval;
                    s.spawn(move || eval(ws))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(f64::NAN)).sum()
        })
    };
    let predicted = last_target;
    let nats = total_nats / predicted as f64;
    Some(EvalResult {
        bits_per_char: nats / std::f64::consts::LN_2,
        nats_per_char: nats,
        predicted,
        total_nats,
    })
}
