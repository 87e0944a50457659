//! Character-level tokenizer over Unicode scalar values, after NFC normalisation.
//!
//! The vocabulary is built the way gpt.py builds it: `chars = sorted(list(set(text)))`, id = index
//! (Python sorts strings by code point, as `char`'s `Ord` does).
//!
//! **Unknown characters policy:** [`Tokenizer::encode`] never fails. A character outside the
//! vocabulary is skipped, and reported in [`Encoded::unknown`] with its position (index in the
//! NFC-normalised text, in characters), so a caller can show "3 characters skipped" and mark them.

use super::nfc;
use std::collections::HashMap;
use std::fmt;

/// A character of the input that is not in the vocabulary, and where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub ch: char,
    /// Index of the character in the NFC-normalised input, counted in characters.
    pub index: usize,
}

/// The result of encoding: ids of the known characters, and the skipped ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub unknown: Vec<Unknown>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VocabError(pub String);

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid vocabulary: {}", self.0)
    }
}

impl std::error::Error for VocabError {}

/// Maps characters to ids and back.
#[derive(Clone, Debug, PartialEq)]
pub struct Tokenizer {
    chars: Vec<char>,
    index: HashMap<char, u32>,
}

impl Tokenizer {
    /// gpt.py's rule: the sorted set of the characters of `text` (after NFC).
    ///
    /// ```
    /// let tok = kgpt::text::Tokenizer::from_text("ಕನ್ನಡ");
    /// assert_eq!(tok.chars(), &['ಕ', 'ಡ', 'ನ', '್']);
    /// assert_eq!(tok.encode("ನಡ").ids, vec![2, 1]);
    /// ```
    pub fn from_text(text: &str) -> Tokenizer {
        let mut chars: Vec<char> = nfc(text).chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::build(chars)
    }

    /// A vocabulary given in id order (e.g. a checkpoint's `"vocab"` metadata): every entry must
    /// be exactly one character, with no duplicates.
    pub fn from_entries<S: AsRef<str>>(entries: &[S]) -> Result<Tokenizer, VocabError> {
        let mut chars = Vec::with_capacity(entries.len());
        let mut seen = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let mut it = e.as_ref().chars();
            let ch = match (it.next(), it.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(VocabError(format!(
                        "entry {i} ({:?}) must be exactly one character",
                        e.as_ref()
                    )))
                }
            };
            if let Some(j) = seen.insert(ch, i) {
                return Err(VocabError(format!(
                    "character {ch:?} appears twice (entries {j} and {i})"
                )));
            }
            chars.push(ch);
        }
        if chars.is_empty() {
            return Err(VocabError("it is empty".into()));
        }
        Ok(Self::build(chars))
    }

    fn build(chars: Vec<char>) -> Tokenizer {
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        Tokenizer { chars, index }
    }

    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The vocabulary as strings, in id order (the checkpoint's `"vocab"` metadata).
    pub fn entries(&self) -> Vec<String> {
        self.chars.iter().map(|c| c.to_string()).collect()
    }

    pub fn id_of(&self, ch: char) -> Option<u32> {
        self.index.get(&ch).copied()
    }

    /// NFC-normalises `text`, then maps each character to its id; unknown ones are skipped and reported.
    pub fn encode(&self, text: &str) -> Encoded {
        let mut out = Encoded::default();
        for (index, ch) in nfc(text).chars().enumerate() {
            match self.index.get(&ch) {
                Some(&id) => out.ids.push(id),
                None => out.unknown.push(Unknown { ch, index }),
            }
        }
        out
    }

    /// Ids back to text. An id outside the vocabulary becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{FFFD}'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_like_gpt_py() {
        let t = Tokenizer::from_text("ba\nab c");
        assert_eq!(t.chars(), &['\n', ' ', 'a', 'b', 'c']);
        assert_eq!(t.encode("cab").ids, vec![4, 2, 3]);
    }

    #[test]
    fn round_trip_kannada() {
        let text = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ\nಕನ್ನಡ";
        let t = Tokenizer::from_text(text);
        let e = t.encode(text);
        assert!(e.unknown.is_empty());
        assert_eq!(e.ids.len(), text.chars().count());
        assert_eq!(t.decode(&e.ids), text);
    }

    #[test]
    fn nfc_decomposed_equals_composed() {
        // ೀ (U+0CC0) is canonically U+0CBF U+0CD5; ಕೀ typed decomposed must give the same ids.
        let composed = "ಕೀ";
        let decomposed = "ಕ\u{0CBF}\u{0CD5}";
        assert_ne!(composed, decomposed);
        let t = Tokenizer::from_text(composed);
        assert_eq!(t.encode(decomposed), t.encode(composed));
        assert_eq!(t.encode(decomposed).ids.len(), 2);
    }

    #[test]
    fn unknown_characters_are_skipped_and_reported() {
        let t = Tokenizer::from_text("ಕನ");
        let e = t.encode("ಕxನ😀");
        assert_eq!(e.ids, vec![0, 1]);
        assert_eq!(
            e.unknown,
            vec![
                Unknown { ch: 'x', index: 1 },
                Unknown {
                    ch: '😀', index: 3
                }
            ]
        );
        assert_eq!(t.encode("").ids.len(), 0);
        assert_eq!(t.decode(&[0, 99]), "ಕ\u{FFFD}");
    }

    #[test]
    fn entries_are_validated() {
        assert!(Tokenizer::from_entries(&["a", "b"]).is_ok());
        assert!(Tokenizer::from_entries(&["a", "a"])
            .unwrap_err()
            .0
            .contains("twice"));
        assert!(Tokenizer::from_entries(&["ab"])
            .unwrap_err()
            .0
            .contains("one character"));
        assert!(Tokenizer::from_entries::<&str>(&[]).is_err());
    }
}
