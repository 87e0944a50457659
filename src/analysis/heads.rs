//! Head scores: what each attention head does, measured on a text. These definitions are the
//! spec (the README's "What the heads do" repeats them).
//!
//! **Windows.** The text's known characters (out-of-vocabulary ones skipped) are cut into the
//! first N non-overlapping windows of block_size characters from the start; window w reads
//! `ids[w·T .. w·T + T]` and predicts `ids[w·T + 1 .. w·T + T + 1]`, so a text needs
//! block_size + 1 known characters for one window ([`text_windows`]; the page may allow one
//! shorter window). Eval mode (dropout off), intact model.
//!
//! **Scores** of layer l, head h (0-based), with `A[q][k]` its attention of query q on key k,
//! averaged over every query position q ≥ 1 of every window unless said otherwise:
//! - `prev_char` = mean of A[q][q−1]; `self` = mean of A[q][q]; `first` = mean of A[q][0];
//! - `mean_distance` = mean of Σ_k A[q][k]·(q−k) (in characters);
//! - `entropy_bits` = mean of −Σ_k A[q][k]·log2 A[q][k];
//! - `same_akshara` = mean, over queries that are not the first character of their akshara
//!   ([`crate::text::akshara::segment_chars`] on the window; the window's first akshara is left
//!   out since the window may cut it), of the mass on the earlier characters of the query's own
//!   akshara;
//! - `conjunct` = mean, over queries that are a consonant right after a virama (C ್ C, or
//!   C ಼ ್ C), of the mass on the consonant before that virama;
//! - `word_start` = mean, over queries inside a word but not at its start (a word is a run of
//!   non-white-space characters; only words whose start is inside the window, after a white
//!   space, count), of the mass on the word's first character;
//! - `induction` = on [`INDUCTION_SEQUENCES`] synthetic texts of 2·L characters (L = block_size/2;
//!   L distinct vocabulary characters in random order — drawn with repeats if L > V — written
//!   twice, seeded), the mean over the queries of the second copy (q ≥ L) of A[q][q−L+1]: the
//!   key right after the previous occurrence of the query's character;
//! - `knockout_bits` = bits per character of the same windows with this head alone knocked out
//!   ([`crate::model::Knockout`]) minus the intact model's (every position of every window
//!   predicted); positive = the head helps.
//!
//! **Role** ([`Role`]): each candidate gets an *evidence* value: `first`, `self`, `prev_char`
//! and `induction` their score; `same_akshara`, `conjunct` and `word_start` their score *minus
//! what the head's distance profile alone would put there* — P(d), the head's mean attention at
//! distance d over queries q ≥ d, summed at each qualifying query's distances (so a
//! previous-character head does not count as an akshara head just because the previous
//! character is usually in the same akshara). The role is the candidate with the largest
//! evidence if that is at least [`ROLE_THRESHOLD`], else `mixed`; ties go to the earlier
//! candidate in the order above. `role_score` is that evidence.

use crate::model::{Knockout, Model, RunState};
use crate::rng::Rng;
use crate::text::akshara::{char_class, segment_chars, CharClass};
use std::fmt;

/// Synthetic repeated sequences the induction score averages over.
pub const INDUCTION_SEQUENCES: usize = 4;
/// Seed of the synthetic sequences (fixed: the score is a property of the model).
pub const INDUCTION_SEED: u64 = 0x1d0c;
/// Evidence a role needs (see the module docs).
pub const ROLE_THRESHOLD: f64 = 0.3;

/// What a head does, by the rule in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    First,
    SelfAttention,
    PrevChar,
    Induction,
    SameAkshara,
    Conjunct,
    WordStart,
    Mixed,
}

impl Role {
    /// The name used in JSON, the CLI table and the page's `data-role`.
    pub fn name(self) -> &'static str {
        match self {
            Role::First => "first",
            Role::SelfAttention => "self",
            Role::PrevChar => "prev_char",
            Role::Induction => "induction",
            Role::SameAkshara => "same_akshara",
            Role::Conjunct => "conjunct",
            Role::WordStart => "word_start",
            Role::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The scores of one head (see the module docs for each definition).
#[derive(Clone, Debug, PartialEq)]
pub struct HeadScores {
    pub layer: usize,
    pub head: usize,
    pub prev_char: f64,
    /// The `self` score.
    pub self_attention: f64,
    pub first: f64,
    pub mean_distance: f64,
    pub entropy_bits: f64,
    pub same_akshara: f64,
    pub conjunct: f64,
    pub word_start: f64,
    pub induction: f64,
    pub knockout_bits: f64,
    /// `same_akshara`, `conjunct`, `word_start` minus their distance-profile baselines (the
    /// evidence the role rule uses).
    pub kannada_evidence: [f64; 3],
    pub role: Role,
    pub role_score: f64,
}

/// Every head's scores on a text.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadReport {
    /// Windows measured.
    pub windows: usize,
    /// Bits per character of the intact model on those windows.
    pub bits_per_char: f64,
    /// Layer-major: `heads[l · n_head + h]`.
    pub heads: Vec<HeadScores>,
}

impl HeadReport {
    /// `{"windows", "bits_per_char", "heads": [{"layer", "head", "prev_char", "self", …,
    /// "role", "role_score", "same_akshara_evidence", "conjunct_evidence",
    /// "word_start_evidence"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let heads: Vec<_> = self
            .heads
            .iter()
            .map(|s| {
                serde_json::json!({
                    "layer": s.layer, "head": s.head, "prev_char": s.prev_char,
                    "self": s.self_attention, "first": s.first,
                    "mean_distance": s.mean_distance, "entropy_bits": s.entropy_bits,
                    "same_akshara": s.same_akshara, "conjunct": s.conjunct,
                    "word_start": s.word_start, "induction": s.induction,
                    "knockout_bits": s.knockout_bits, "role": s.role.name(),
                    "role_score": s.role_score,
                    "same_akshara_evidence": s.kannada_evidence[0],
                    "conjunct_evidence": s.kannada_evidence[1],
                    "word_start_evidence": s.kannada_evidence[2],
                })
            })
            .collect();
        serde_json::json!({"windows": self.windows, "bits_per_char": self.bits_per_char, "heads": heads})
    }
}

/// The first `max_windows` non-overlapping windows of `block_size` + 1 ids (inputs and the last
/// target) from the start of `ids`. With `allow_short`, a text too short for one whole window
/// (but with ≥ 3 ids) is one shorter window. Errors say what is missing.
pub fn text_windows(
    ids: &[u32],
    block_size: usize,
    max_windows: usize,
    allow_short: bool,
) -> Result<Vec<&[u32]>, String> {
    if max_windows == 0 {
        return Err("the number of windows must be at least 1".into());
    }
    let whole = ids.len().saturating_sub(1) / block_size;
    if whole == 0 {
        if allow_short && ids.len() >= 3 {
            return Ok(vec![ids]);
        }
        return Err(format!(
            "the text has {} known characters; one window needs block_size + 1 = {}",
            ids.len(),
            block_size + 1
        ));
    }
    Ok((0..whole.min(max_windows))
        .map(|w| &ids[w * block_size..][..block_size + 1])
        .collect())
}

/// Sums over queries for one head (the scores are their means).
#[derive(Clone, Debug, Default)]
struct HeadSums {
    queries: f64,
    prev_char: f64,
    self_attention: f64,
    first: f64,
    distance: f64,
    entropy: f64,
    same_akshara: Mean,
    conjunct: Mean,
    word_start: Mean,
    /// Attention at distance d: sums and query counts (queries q ≥ d), for P(d).
    profile: Vec<Mean>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    n: f64,
}

impl Mean {
    fn add(&mut self, x: f64) {
        self.sum += x;
        self.n += 1.0;
    }
    fn get(self) -> f64 {
        if self.n > 0.0 {
            self.sum / self.n
        } else {
            0.0
        }
    }
}

/// For the baselines: how many qualifying queries had a key of interest at distance d
/// (same_akshara counts every distance 1..=q−start; the others one distance each).
#[derive(Clone, Debug)]
struct DistanceCounts {
    same_akshara: Vec<f64>,
    conjunct: Vec<f64>,
    word_start: Vec<f64>,
}

/// Where the keys of interest are for each query of one window.
struct Marks {
    /// Start of the query's akshara, when the query qualifies for `same_akshara`.
    akshara_start: Vec<Option<usize>>,
    /// The consonant before the virama, when the query qualifies for `conjunct`.
    conjunct_key: Vec<Option<usize>>,
    /// The word's first character, when the query qualifies for `word_start`.
    word_start: Vec<Option<usize>>,
}

fn marks(chars: &[char]) -> Marks {
    let t = chars.len();
    let mut akshara_start = vec![None; t];
    for g in segment_chars(chars).into_iter().filter(|g| g.start > 0) {
        akshara_start[g.start + 1..g.end].fill(Some(g.start));
    }
    let class = |i: usize| char_class(chars[i]);
    let conjunct_key = (0..t)
        .map(|q| {
            if q < 2 || class(q) != CharClass::Consonant || class(q - 1) != CharClass::Virama {
                return None;
            }
            let k = if chars[q - 2] == '\u{0CBC}' {
                q.checked_sub(3)?
            } else {
                q - 2
            };
            (class(k) == CharClass::Consonant).then_some(k)
        })
        .collect();
    let mut word_start = vec![None; t];
    let mut start = None;
    for q in 0..t {
        if chars[q].is_whitespace() {
            start = None;
            continue;
        }
        if q > 0 && chars[q - 1].is_whitespace() {
            start = Some(q);
        } else if let Some(s) = start {
            word_start[q] = Some(s);
        }
    }
    Marks {
        akshara_start,
        conjunct_key,
        word_start,
    }
}

/// Adds one window's attention `[L, H, T, T]` (query-major rows) over `chars` (`T` of them)
/// to the per-head sums.
fn add_window(
    sums: &mut [HeadSums],
    counts: &mut DistanceCounts,
    attention: &[f32],
    chars: &[char],
) {
    let t = chars.len();
    let m = marks(chars);
    for q in 1..t {
        if let Some(s) = m.akshara_start[q] {
            for d in 1..=q - s {
                counts.same_akshara[d] += 1.0;
            }
        }
        if let Some(k) = m.conjunct_key[q] {
            counts.conjunct[q - k] += 1.0;
        }
        if let Some(s) = m.word_start[q] {
            counts.word_start[q - s] += 1.0;
        }
    }
    for (head, sums) in attention.chunks_exact(t * t).zip(sums.iter_mut()) {
        for q in 1..t {
            let row = &head[q * t..][..=q];
            let at = |k: usize| row[k] as f64;
            sums.queries += 1.0;
            sums.prev_char += at(q - 1);
            sums.self_attention += at(q);
            sums.first += at(0);
            sums.distance += (0..=q).map(|k| at(k) * (q - k) as f64).sum::<f64>();
            sums.entropy -= row
                .iter()
                .filter(|&&a| a > 0.0)
                .map(|&a| a as f64 * (a as f64).log2())
                .sum::<f64>();
            for d in 0..=q {
                sums.profile[d].add(at(q - d));
            }
            if let Some(s) = m.akshara_start[q] {
                sums.same_akshara.add((s..q).map(at).sum());
            }
            if let Some(k) = m.conjunct_key[q] {
                sums.conjunct.add(at(k));
            }
            if let Some(s) = m.word_start[q] {
                sums.word_start.add(at(s));
            }
        }
    }
}

/// The attention-pattern scores (all but `induction` and `knockout_bits`) of every head,
/// accumulated window by window; with the baselines of the Kannada-aware scores (see the
/// module docs).
struct Patterns {
    sums: Vec<HeadSums>,
    counts: DistanceCounts,
}

impl Patterns {
    fn new(n_heads: usize, block: usize) -> Patterns {
        let zeros = vec![0.0; block + 1];
        Patterns {
            sums: vec![
                HeadSums {
                    profile: vec![Mean::default(); block + 1],
                    ..HeadSums::default()
                };
                n_heads
            ],
            counts: DistanceCounts {
                same_akshara: zeros.clone(),
                conjunct: zeros.clone(),
                word_start: zeros,
            },
        }
    }

    /// One window: attention `[L, H, T, T]` over its `T` characters.
    fn add(&mut self, attention: &[f32], chars: &[char]) {
        add_window(&mut self.sums, &mut self.counts, attention, chars);
    }

    /// Per head: prev_char, self, first, mean_distance, entropy_bits, same_akshara, conjunct,
    /// word_start, and the three baselines (same order).
    fn finish(&self) -> Vec<[f64; 11]> {
        let counts = &self.counts;
        self.sums
            .iter()
            .map(|s| {
                let q = s.queries.max(1.0);
                let profile: Vec<f64> = s.profile.iter().map(|m| m.get()).collect();
                let baseline = |c: &[f64], n: f64| {
                    if n == 0.0 {
                        return 0.0;
                    }
                    c.iter().zip(&profile).map(|(c, p)| c * p).sum::<f64>() / n
                };
                [
                    s.prev_char / q,
                    s.self_attention / q,
                    s.first / q,
                    s.distance / q,
                    s.entropy / q,
                    s.same_akshara.get(),
                    s.conjunct.get(),
                    s.word_start.get(),
                    baseline(&counts.same_akshara, s.same_akshara.n),
                    baseline(&counts.conjunct, s.conjunct.n),
                    baseline(&counts.word_start, s.word_start.n),
                ]
            })
            .collect()
    }
}

/// The role by the rule of the module docs, from the scores and the three baselines.
pub fn role_of(
    first: f64,
    self_attention: f64,
    prev_char: f64,
    induction: f64,
    kannada_evidence: [f64; 3],
) -> (Role, f64) {
    let candidates = [
        (Role::First, first),
        (Role::SelfAttention, self_attention),
        (Role::PrevChar, prev_char),
        (Role::Induction, induction),
        (Role::SameAkshara, kannada_evidence[0]),
        (Role::Conjunct, kannada_evidence[1]),
        (Role::WordStart, kannada_evidence[2]),
    ];
    let best = candidates.iter().fold(
        candidates[0],
        |best, &c| if c.1 > best.1 { c } else { best },
    );
    if best.1 >= ROLE_THRESHOLD {
        best
    } else {
        (Role::Mixed, best.1)
    }
}

/// The synthetic induction texts: [`INDUCTION_SEQUENCES`] sequences of 2·L ids (L =
/// block_size/2, at least 1), each a random run of L ids written twice.
pub fn induction_sequences(vocab_size: usize, block_size: usize) -> Vec<Vec<u32>> {
    let half = (block_size / 2).max(1);
    (0..INDUCTION_SEQUENCES as u64)
        .map(|i| {
            let mut rng = Rng::for_stream(INDUCTION_SEED, &[i]);
            let run: Vec<u32> = if half <= vocab_size {
                // A partial Fisher–Yates shuffle: L distinct ids.
                let mut pool: Vec<u32> = (0..vocab_size as u32).collect();
                for j in 0..half {
                    let pick = j + rng.below(vocab_size - j);
                    pool.swap(j, pick);
                }
                pool.truncate(half);
                pool
            } else {
                (0..half).map(|_| rng.below(vocab_size) as u32).collect()
            };
            run.iter().chain(&run).copied().collect()
        })
        .collect()
}

/// Mean of A[q][q−L+1] over the second copy of each induction text, per head.
fn induction_scores(model: &Model, state: &mut RunState) -> Vec<f64> {
    let cfg = &model.config;
    let n_heads = cfg.n_layer * cfg.n_head;
    let mut sums = vec![Mean::default(); n_heads];
    for seq in induction_sequences(cfg.vocab_size, cfg.block_size) {
        let half = seq.len() / 2;
        let seq = &seq[..seq.len().min(cfg.block_size)];
        let t = seq.len();
        model.forward(state, seq, None, None);
        let attention = state.attention_probs(t);
        for (head, m) in attention.chunks_exact(t * t).zip(sums.iter_mut()) {
            for q in half..t {
                m.add(head[q * t + q + 1 - half] as f64);
            }
        }
    }
    sums.into_iter().map(Mean::get).collect()
}

/// Every head's scores (module docs) on the windows `windows` (from [`text_windows`]) whose
/// characters are `vocab[id]`. Returns an error for a window shorter than 3 ids.
pub fn score_heads(
    model: &Model,
    vocab: &[char],
    windows: &[&[u32]],
) -> Result<HeadReport, String> {
    let cfg = &model.config;
    if windows.is_empty()
        || windows
            .iter()
            .any(|w| w.len() < 3 || w.len() > cfg.block_size + 1)
    {
        return Err(format!(
            "head scores need windows of 3..={} ids",
            cfg.block_size + 1
        ));
    }
    model.check_ids(&windows.concat()).map_err(|e| e.0)?;
    let n_heads = cfg.n_layer * cfg.n_head;
    let mut state = RunState::new(cfg);
    let mut patterns = Patterns::new(n_heads, cfg.block_size);
    let predicted: usize = windows.iter().map(|w| w.len() - 1).sum();
    // Total nats over every predicted position, intact and with each head knocked out.
    let mut nats = vec![0.0f64; n_heads + 1];
    for w in windows {
        let (inputs, targets) = (&w[..w.len() - 1], &w[1..]);
        let t = inputs.len();
        for (slot, total) in nats.iter_mut().enumerate() {
            state.knockout = match slot {
                0 => Knockout::none(),
                i => Knockout::from_heads(cfg, &[((i - 1) / cfg.n_head, (i - 1) % cfg.n_head)])
                    .map_err(|e| e.0)?,
            };
            let loss = model
                .forward(&mut state, inputs, Some(targets), None)
                .unwrap_or(f32::NAN);
            *total += loss as f64 * t as f64;
            if slot == 0 {
                let chars: Vec<char> = inputs
                    .iter()
                    .map(|&id| vocab.get(id as usize).copied().unwrap_or('\u{FFFD}'))
                    .collect();
                patterns.add(&state.attention_probs(t), &chars);
            }
        }
    }
    state.knockout = Knockout::none();
    let patterns = patterns.finish();
    let induction = induction_scores(model, &mut state);
    let to_bits = |n: f64| n / std::f64::consts::LN_2 / predicted as f64;
    let heads = (0..n_heads)
        .map(|i| {
            let p = &patterns[i];
            let evidence = [p[5] - p[8], p[6] - p[9], p[7] - p[10]];
            let (role, role_score) = role_of(p[2], p[1], p[0], induction[i], evidence);
            HeadScores {
                layer: i / cfg.n_head,
                head: i % cfg.n_head,
                prev_char: p[0],
                self_attention: p[1],
                first: p[2],
                mean_distance: p[3],
                entropy_bits: p[4],
                same_akshara: p[5],
                conjunct: p[6],
                word_start: p[7],
                induction: induction[i],
                knockout_bits: to_bits(nats[i + 1] - nats[0]),
                kannada_evidence: evidence,
                role,
                role_score,
            }
        })
        .collect();
    Ok(HeadReport {
        windows: windows.len(),
        bits_per_char: to_bits(nats[0]),
        heads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One head's attention `[T, T]` from a rule giving row q's weights.
    fn pattern(t: usize, row: impl Fn(usize) -> Vec<f32>) -> Vec<f32> {
        let mut a = vec![0.0; t * t];
        for q in 0..t {
            a[q * t..][..=q].copy_from_slice(&row(q));
        }
        a
    }

    fn one_head(attention: Vec<f32>, text: &str) -> [f64; 11] {
        let chars: Vec<char> = text.chars().collect();
        let mut p = Patterns::new(1, chars.len());
        p.add(&attention, &chars);
        p.finish()[0]
    }

    #[test]
    fn a_previous_character_head_scores_one_and_is_not_an_akshara_head() {
        let text = "ಅವನು ಕನ್ನಡ ಪುಸ್ತಕವನ್ನು ಓದಿದನು";
        let t = text.chars().count();
        let s = one_head(
            pattern(t, |q| {
                let mut r = vec![0.0; q + 1];
                r[q.saturating_sub(1)] = 1.0;
                r
            }),
            text,
        );
        assert_eq!(s[0], 1.0, "prev_char");
        assert_eq!(s[1], 0.0, "self");
        assert_eq!(s[3], 1.0, "mean distance");
        assert_eq!(s[4], 0.0, "entropy");
        // Every non-first character of an akshara has its previous character inside it…
        assert!((s[5] - 1.0).abs() < 1e-12, "same_akshara {}", s[5]);
        // …which the distance profile explains fully: no evidence left.
        assert!((s[5] - s[8]).abs() < 1e-12);
        let (role, score) = role_of(
            s[2],
            s[1],
            s[0],
            0.0,
            [s[5] - s[8], s[6] - s[9], s[7] - s[10]],
        );
        assert_eq!((role, score), (Role::PrevChar, 1.0));
        // ನ್ನ, ಸ್ತ, ನ್ನ: the consonant before the virama is two back, where this head never looks.
        assert_eq!(s[6], 0.0, "conjunct");
    }

    #[test]
    fn uniform_causal_attention_has_closed_forms() {
        let t = 9;
        let text = "ab cd efg"; // no Kannada: no akshara or conjunct queries
        let s = one_head(pattern(t, |q| vec![1.0 / (q + 1) as f32; q + 1]), text);
        let qs = 1..t;
        let n = (t - 1) as f64;
        let prev: f64 = qs.clone().map(|q| 1.0 / (q + 1) as f64).sum::<f64>() / n;
        let dist: f64 = qs.clone().map(|q| q as f64 / 2.0).sum::<f64>() / n;
        let ent: f64 = qs.map(|q| ((q + 1) as f64).log2()).sum::<f64>() / n;
        for (got, want, name) in [
            (s[0], prev, "prev"),
            (s[1], prev, "self"),
            (s[2], prev, "first"),
        ] {
            assert!((got - want).abs() < 1e-6, "{name}: {got} vs {want}");
        }
        assert!((s[3] - dist).abs() < 1e-5, "distance {} vs {dist}", s[3]);
        assert!((s[4] - ent).abs() < 1e-5, "entropy {} vs {ent}", s[4]);
        // word_start queries: 'd' (start c at 3), 'f','g' (start e at 6): 1/5, 1/8, 1/9
        let ws = (1.0 / 5.0 + 1.0 / 8.0 + 1.0 / 9.0) / 3.0;
        assert!((s[7] - ws).abs() < 1e-6, "word_start {} vs {ws}", s[7]);
    }

    #[test]
    fn kannada_scores_find_their_keys() {
        // " ಕನ್ನಡ": ' ' | ಕ | ನ ್ ನ | ಡ ; the second ನ (position 4) is a consonant after a virama.
        let text = " ಕನ್ನಡ";
        let chars: Vec<char> = text.chars().collect();
        let m = marks(&chars);
        assert_eq!(m.conjunct_key[4], Some(2));
        assert_eq!(m.akshara_start[3], Some(2));
        assert_eq!(m.akshara_start[4], Some(2));
        assert_eq!(m.akshara_start[2], None, "first character of its akshara");
        assert_eq!(m.word_start[2], Some(1));
        assert_eq!(m.word_start[1], None, "the word's start itself");
        // A head that puts everything on the akshara's first character.
        let t = chars.len();
        let s = one_head(
            pattern(t, |q| {
                let mut r = vec![0.0; q + 1];
                r[m.akshara_start[q].unwrap_or(q)] = 1.0;
                r
            }),
            text,
        );
        assert_eq!(s[5], 1.0, "same_akshara");
        assert_eq!(s[6], 1.0, "conjunct");
        assert!(
            s[5] - s[8] > 0.3,
            "evidence over the distance profile: {} vs {}",
            s[5],
            s[8]
        );
    }

    #[test]
    fn windows_are_non_overlapping_and_short_texts_are_refused() {
        let ids: Vec<u32> = (0..20).collect();
        let w = text_windows(&ids, 4, 3, false).unwrap();
        assert_eq!(w, vec![&ids[0..5], &ids[4..9], &ids[8..13]]);
        assert_eq!(text_windows(&ids, 4, 100, false).unwrap().len(), 4);
        assert!(text_windows(&ids, 4, 0, false)
            .unwrap_err()
            .contains("at least 1"));
        let err = text_windows(&ids[..4], 4, 3, false).unwrap_err();
        assert!(
            err.contains("4 known characters") && err.contains("5"),
            "{err}"
        );
        assert_eq!(
            text_windows(&ids[..4], 4, 3, true).unwrap(),
            vec![&ids[..4]]
        );
        assert!(text_windows(&ids[..2], 4, 3, true).is_err());
    }

    #[test]
    fn induction_texts_repeat_distinct_characters() {
        let seqs = induction_sequences(89, 128);
        assert_eq!(seqs.len(), INDUCTION_SEQUENCES);
        for s in &seqs {
            assert_eq!(s.len(), 128);
            assert_eq!(s[..64], s[64..]);
            let mut first: Vec<u32> = s[..64].to_vec();
            first.sort_unstable();
            first.dedup();
            assert_eq!(first.len(), 64);
        }
        assert_ne!(seqs[0], seqs[1]);
        assert!(induction_sequences(5, 128)[0].iter().all(|&i| i < 5));
    }

    #[test]
    fn roles_need_evidence() {
        assert_eq!(role_of(0.9, 0.0, 0.0, 0.0, [0.0; 3]).0, Role::First);
        assert_eq!(role_of(0.1, 0.2, 0.25, 0.1, [0.2, 0.0, 0.0]).0, Role::Mixed);
        assert_eq!(
            role_of(0.0, 0.0, 0.4, 0.0, [0.5, 0.0, 0.0]).0,
            Role::SameAkshara
        );
        assert_eq!(role_of(0.0, 0.0, 0.0, 0.7, [0.0; 3]).0, Role::Induction);
    }
}
