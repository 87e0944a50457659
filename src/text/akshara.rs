//! Kannada akshara (orthographic syllable) segmentation, written by hand from the Unicode
//! Kannada block (U+0C80–U+0CFF).
//!
//! Generic grapheme segmenters (ICU, `Intl.Segmenter`, UAX #29) split conjuncts such as ಜ್ಞಾ
//! into several clusters; a reader of Kannada sees one akshara, so the attention viewer
//! groups characters with the rules below instead.
//!
//! An akshara is one of:
//!
//! * a consonant cluster: `(C [nukta] virama [ZWJ])* C [nukta] [vowel sign…] [length mark]
//!   [modifier]`, where a modifier is anusvara ಂ, visarga ಃ, candrabindu ಁ or the combining
//!   anusvara U+0CF3; vowel signs may repeat so that decomposed forms (ೆ + ೂ + ೕ = ೋ) stay
//!   together;
//! * a dead consonant `C [nukta] virama` at the end of the text or before anything that is not
//!   a consonant ("ಕ್"), optionally followed by ZWJ/ZWNJ, which stays attached (ZWJ keeps the
//!   cluster joined to a following consonant, ZWNJ always ends it);
//! * an independent vowel with an optional modifier (ಅಂ, ಓಂ);
//! * a lone combining mark with no base (a vowel sign at the start of the text or after a
//!   space, a stray virama, …): one akshara per mark, shown with [`display_label`];
//! * any other char (space, Latin, digits including Kannada digits, punctuation, emoji,
//!   newline, unassigned code points, a ZWJ/ZWNJ not after a virama): one char each.
//!
//! Segmentation works on `char`s, never panics, and the groups always cover the input exactly,
//! in order.

use std::ops::Range;

/// The dotted circle shown in front of a combining mark that has no base.
const DOTTED_CIRCLE: char = '\u{25CC}';

/// What a char does inside an akshara.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// ಕ … ಹ, plus ೝ (nakaara pollu) and ೞ (obsolete ḻa).
    Consonant,
    /// ಅ … ಔ, ೠ, ೡ.
    IndependentVowel,
    /// ಼ U+0CBC.
    Nukta,
    /// ್ U+0CCD.
    Virama,
    /// ಾ … ೌ, ೢ, ೣ.
    VowelSign,
    /// ೕ U+0CD5, ೖ U+0CD6 (second halves of decomposed ೀ ೇ ೈ ೋ …).
    LengthMark,
    /// ಁ candrabindu, ಂ anusvara, ಃ visarga, ೳ combining anusvara above right.
    Modifier,
    /// U+200D ZERO WIDTH JOINER.
    Zwj,
    /// U+200C ZERO WIDTH NON-JOINER.
    Zwnj,
    /// Everything else, including Kannada digits, avagraha ಽ, spacing candrabindu ಀ,
    /// ೱ/ೲ and unassigned code points in the block.
    Other,
}

fn class(c: char) -> Class {
    match c {
        // Unassigned holes inside the ranges below.
        '\u{0C8D}' | '\u{0C91}' | '\u{0CA9}' | '\u{0CB4}' | '\u{0CC5}' | '\u{0CC9}' => Class::Other,
        '\u{0C95}'..='\u{0CB9}' | '\u{0CDD}' | '\u{0CDE}' => Class::Consonant,
        '\u{0C85}'..='\u{0C94}' | '\u{0CE0}' | '\u{0CE1}' => Class::IndependentVowel,
        '\u{0CBC}' => Class::Nukta,
        '\u{0CCD}' => Class::Virama,
        '\u{0CBE}'..='\u{0CCC}' | '\u{0CE2}' | '\u{0CE3}' => Class::VowelSign,
        '\u{0CD5}' | '\u{0CD6}' => Class::LengthMark,
        '\u{0C81}'..='\u{0C83}' | '\u{0CF3}' => Class::Modifier,
        '\u{200D}' => Class::Zwj,
        '\u{200C}' => Class::Zwnj,
        _ => Class::Other,
    }
}

/// What a character is, in the classes the page's embedding map colours by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CharClass {
    /// An independent vowel: ಅ … ಔ, ೠ, ೡ.
    Vowel,
    /// ಕ … ಹ, ೝ, ೞ.
    Consonant,
    /// A dependent vowel sign (ಾ … ೌ, ೢ, ೣ) or length mark (ೕ, ೖ).
    VowelSign,
    /// ್ U+0CCD.
    Virama,
    /// Anusvara ಂ, visarga ಃ, candrabindu ಁ, combining anusvara ೳ.
    Modifier,
    /// 0–9 and the Kannada digits ೦–೯.
    Digit,
    /// Punctuation and symbols (ASCII or Unicode).
    Punctuation,
    /// Space, newline and other white space.
    Space,
    /// Anything else (Latin letters, nukta, ZWJ/ZWNJ, other scripts).
    Other,
}

impl CharClass {
    /// Every class, in the order the page's legend lists them.
    pub const ALL: [CharClass; 9] = [
        CharClass::Vowel,
        CharClass::Consonant,
        CharClass::VowelSign,
        CharClass::Virama,
        CharClass::Modifier,
        CharClass::Digit,
        CharClass::Punctuation,
        CharClass::Space,
        CharClass::Other,
    ];

    /// The class's name in JSON and in the page: `vowel`, `consonant`, `vowel_sign`, `virama`,
    /// `modifier`, `digit`, `punctuation`, `space`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            CharClass::Vowel => "vowel",
            CharClass::Consonant => "consonant",
            CharClass::VowelSign => "vowel_sign",
            CharClass::Virama => "virama",
            CharClass::Modifier => "modifier",
            CharClass::Digit => "digit",
            CharClass::Punctuation => "punctuation",
            CharClass::Space => "space",
            CharClass::Other => "other",
        }
    }
}

/// The [`CharClass`] of `c`.
///
/// ```
/// use kgpt::text::akshara::{char_class, CharClass};
/// assert_eq!(char_class('ಕ'), CharClass::Consonant);
/// assert_eq!(char_class('್'), CharClass::Virama);
/// assert_eq!(char_class('ೊ'), CharClass::VowelSign);
/// assert_eq!(char_class('ಂ'), CharClass::Modifier);
/// assert_eq!(char_class('೩'), CharClass::Digit);
/// assert_eq!(char_class('\n'), CharClass::Space);
/// assert_eq!(char_class(','), CharClass::Punctuation);
/// ```
pub fn char_class(c: char) -> CharClass {
    match class(c) {
        Class::Consonant => CharClass::Consonant,
        Class::IndependentVowel => CharClass::Vowel,
        Class::Virama => CharClass::Virama,
        Class::VowelSign | Class::LengthMark => CharClass::VowelSign,
        Class::Modifier => CharClass::Modifier,
        Class::Nukta | Class::Zwj | Class::Zwnj => CharClass::Other,
        Class::Other if c.is_ascii_digit() || ('\u{0CE6}'..='\u{0CEF}').contains(&c) => {
            CharClass::Digit
        }
        Class::Other if c.is_whitespace() => CharClass::Space,
        Class::Other if c.is_ascii_punctuation() || is_unicode_punctuation(c) => {
            CharClass::Punctuation
        }
        Class::Other => CharClass::Other,
    }
}

/// General punctuation and symbols outside ASCII that Kannada text uses (dandas, quotes,
/// dashes, ellipsis, …).
fn is_unicode_punctuation(c: char) -> bool {
    matches!(c, '\u{0964}' | '\u{0965}' | '\u{00A1}'..='\u{00BF}' | '\u{2010}'..='\u{205E}')
}

/// True for a combining sign that needs a base to be displayed (see [`display_label`]).
fn is_dependent_sign(c: char) -> bool {
    matches!(
        class(c),
        Class::Nukta | Class::Virama | Class::VowelSign | Class::LengthMark | Class::Modifier
    )
}

/// Groups of consecutive chars, as half-open char-index ranges covering the whole input in
/// order.
///
/// Every range is non-empty, each starts where the previous one ended, the first starts at 0
/// and the last ends at `chars.len()` (no ranges for empty input).
///
/// ```
/// use kgpt::text::akshara::segment_chars;
/// let chars: Vec<char> = "ಕನ್ನಡ!".chars().collect();
/// assert_eq!(segment_chars(&chars), vec![0..1, 1..4, 4..5, 5..6]);
/// assert!(segment_chars(&[]).is_empty());
/// ```
pub fn segment_chars(chars: &[char]) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while let Some(&c) = chars.get(start) {
        let end = match class(c) {
            Class::Consonant => consonant_cluster_end(chars, start),
            Class::IndependentVowel => {
                if class_at(chars, start + 1) == Some(Class::Modifier) {
                    start + 2
                } else {
                    start + 1
                }
            }
            // Lone marks, ZWJ/ZWNJ without a virama, and every non-Kannada char.
            _ => start + 1,
        };
        groups.push(start..end);
        start = end;
    }
    groups
}

fn class_at(chars: &[char], i: usize) -> Option<Class> {
    chars.get(i).map(|&c| class(c))
}

/// End (exclusive) of the consonant cluster whose first consonant is at `start`.
fn consonant_cluster_end(chars: &[char], start: usize) -> usize {
    let at = |i: usize| class_at(chars, i);
    // Invariant at the top of the loop: chars[i] is a consonant.
    let mut i = start;
    loop {
        i += 1;
        if at(i) == Some(Class::Nukta) {
            i += 1;
        }
        if at(i) != Some(Class::Virama) {
            break;
        }
        i += 1;
        match at(i) {
            Some(Class::Consonant) => {}
            Some(Class::Zwj) if at(i + 1) == Some(Class::Consonant) => i += 1,
            // A joiner after a dead consonant belongs to it; ZWNJ always ends the cluster.
            Some(Class::Zwj | Class::Zwnj) => return i + 1,
            // Dead consonant at the end of the text or before a non-consonant: "ಕ್".
            _ => return i,
        }
    }
    while at(i) == Some(Class::VowelSign) {
        i += 1;
    }
    if at(i) == Some(Class::LengthMark) {
        i += 1;
    }
    if at(i) == Some(Class::Modifier) {
        i += 1;
    }
    i
}

/// Convenience: the aksharas of a `&str` as `String`s (their concatenation is the input).
///
/// ```
/// use kgpt::text::akshara::segment;
/// assert_eq!(segment("ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ"), ["ಜ್ಞಾ", "ನ", "ವೇ", " ", "ಶ್ರೇ", "ಷ್ಠ"]);
/// assert_eq!(segment("ಕನ್ನಡ"), ["ಕ", "ನ್ನ", "ಡ"]);
/// ```
pub fn segment(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    segment_chars(&chars)
        .into_iter()
        .map(|r| chars[r].iter().collect())
        .collect()
}

/// For display: a lone dependent sign (vowel sign, virama, anusvara, visarga, candrabindu,
/// nukta, length mark) with no base gets a dotted circle (U+25CC) in front; other strings are
/// returned unchanged.
///
/// ```
/// use kgpt::text::akshara::display_label;
/// assert_eq!(display_label("ಾ"), "◌ಾ");
/// assert_eq!(display_label("ಕಾ"), "ಕಾ");
/// assert_eq!(display_label(" "), " ");
/// ```
pub fn display_label(akshara: &str) -> String {
    match akshara.chars().next() {
        Some(c) if is_dependent_sign(c) => {
            let mut label = String::with_capacity(akshara.len() + DOTTED_CIRCLE.len_utf8());
            label.push(DOTTED_CIRCLE);
            label.push_str(akshara);
            label
        }
        _ => akshara.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZWJ: char = '\u{200D}';
    const ZWNJ: char = '\u{200C}';

    fn seg(s: &str) -> Vec<String> {
        segment(s)
    }

    #[test]
    fn empty_input() {
        assert!(segment_chars(&[]).is_empty());
        assert!(segment("").is_empty());
        assert_eq!(display_label(""), "");
    }

    #[test]
    fn conjuncts_are_one_akshara() {
        assert_eq!(seg("ಜ್ಞಾ"), ["ಜ್ಞಾ"]);
        assert_eq!(seg("ಶ್ರೇ"), ["ಶ್ರೇ"]);
        assert_eq!(seg("ಷ್ಠ"), ["ಷ್ಠ"]);
        assert_eq!(seg("ಸ್ತ್ರೀ"), ["ಸ್ತ್ರೀ"]);
        assert_eq!(seg("ಸ್ತ್ರೀ").len(), 1);
        assert_eq!("ಸ್ತ್ರೀ".chars().count(), 6);
    }

    #[test]
    fn words() {
        assert_eq!(seg("ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ"), ["ಜ್ಞಾ", "ನ", "ವೇ", " ", "ಶ್ರೇ", "ಷ್ಠ"]);
        assert_eq!(seg("ಕನ್ನಡ"), ["ಕ", "ನ್ನ", "ಡ"]);
        assert_eq!(seg("ಬೆಂಗಳೂರು"), ["ಬೆಂ", "ಗ", "ಳೂ", "ರು"]);
        assert_eq!(seg("ನಮಸ್ಕಾರ"), ["ನ", "ಮ", "ಸ್ಕಾ", "ರ"]);
        assert_eq!(seg("ಲಕ್ಷ್ಮೀ"), ["ಲ", "ಕ್ಷ್ಮೀ"]);
    }

    #[test]
    fn anusvara_visarga_candrabindu() {
        assert_eq!(seg("ಅಂ"), ["ಅಂ"]);
        assert_eq!(seg("ಕಂ"), ["ಕಂ"]);
        assert_eq!(seg("ದುಃಖ"), ["ದುಃ", "ಖ"]);
        assert_eq!(seg("ಓಂ"), ["ಓಂ"]);
        assert_eq!(seg("ಕಾಁ"), ["ಕಾಁ"]);
        assert_eq!(seg("ಕ\u{0CF3}"), ["ಕ\u{0CF3}"]);
        // A second anusvara has no base of its own.
        assert_eq!(seg("ಕಂಂ"), ["ಕಂ", "ಂ"]);
    }

    #[test]
    fn diphthong_signs() {
        assert_eq!(seg("ಕೈ"), ["ಕೈ"]);
        assert_eq!(seg("ಕೌ"), ["ಕೌ"]);
        assert_eq!(seg("ಕೌಶಲ್ಯ"), ["ಕೌ", "ಶ", "ಲ್ಯ"]);
    }

    #[test]
    fn independent_vowels() {
        let vowels = "ಅಆಇಈಉಊಋೠಌೡಎಏಐಒಓಔ";
        let expected: Vec<String> = vowels.chars().map(String::from).collect();
        assert_eq!(seg(vowels), expected);
        assert_eq!(seg("ಐದು"), ["ಐ", "ದು"]);
        assert_eq!(seg("ಊಟ"), ["ಊ", "ಟ"]);
    }

    #[test]
    fn trailing_virama() {
        assert_eq!(seg("ಕ್"), ["ಕ್"]);
        assert_eq!(seg("ಕನ್ನಡ್"), ["ಕ", "ನ್ನ", "ಡ್"]);
        assert_eq!(seg("ಕ್ ಮ"), ["ಕ್", " ", "ಮ"]);
        assert_eq!(seg("ಕ್."), ["ಕ್", "."]);
        // Before an independent vowel the dead consonant stays alone.
        assert_eq!(seg("ಕ್ಅ"), ["ಕ್", "ಅ"]);
    }

    #[test]
    fn zero_width_joiners() {
        // ZWNJ after a virama stays with the dead consonant and ends the cluster.
        let zwnj = format!("ಕ್{ZWNJ}ಷ");
        assert_eq!(seg(&zwnj), [format!("ಕ್{ZWNJ}"), "ಷ".to_string()]);
        // ZWJ after a virama keeps the cluster joined.
        let zwj = format!("ರ್{ZWJ}ಯಾ");
        assert_eq!(seg(&zwj), [zwj]);
        // ZWJ after a virama at the end of the text stays attached.
        let end = format!("ರ್{ZWJ}");
        assert_eq!(seg(&end), [end]);
        // Joiners without a virama are ordinary non-Kannada chars.
        let plain = format!("ಕ{ZWJ}ಷ{ZWNJ}");
        assert_eq!(
            seg(&plain),
            ["ಕ".to_string(), ZWJ.into(), "ಷ".into(), ZWNJ.into()]
        );
    }

    #[test]
    fn lone_marks() {
        assert_eq!(seg("ಾ"), ["ಾ"]);
        assert_eq!(seg("ಾಕ"), ["ಾ", "ಕ"]);
        assert_eq!(seg("ಕ ಾ"), ["ಕ", " ", "ಾ"]);
        assert_eq!(seg(" ್ಂ"), [" ", "್", "ಂ"]);
        assert_eq!(seg("ಅಾ"), ["ಅ", "ಾ"]);
        assert_eq!(seg("ಕ್ಾ"), ["ಕ್", "ಾ"]);
        assert_eq!(display_label("ಾ"), "◌ಾ");
        assert_eq!(display_label("್"), "◌್");
        assert_eq!(display_label("ಂ"), "◌ಂ");
        assert_eq!(display_label("ಃ"), "◌ಃ");
        assert_eq!(display_label("಼"), "◌಼");
        assert_eq!(display_label("ೕ"), "◌ೕ");
        assert_eq!(display_label("ಕಾ"), "ಕಾ");
        assert_eq!(display_label("ಅ"), "ಅ");
        assert_eq!(display_label("a"), "a");
        assert_eq!(display_label("\n"), "\n");
    }

    #[test]
    fn decomposed_vowel_signs() {
        // ೀ = ಿ + ೕ, ೋ = ೆ + ೂ + ೕ, ೈ = ೆ + ೖ.
        assert_eq!(seg("ಕ\u{0CBF}\u{0CD5}"), ["ಕ\u{0CBF}\u{0CD5}"]);
        assert_eq!(
            seg("ಕ\u{0CC6}\u{0CC2}\u{0CD5}ಡ"),
            ["ಕ\u{0CC6}\u{0CC2}\u{0CD5}", "ಡ"]
        );
        assert_eq!(seg("ಕ\u{0CC6}\u{0CD6}ಂ"), ["ಕ\u{0CC6}\u{0CD6}ಂ"]);
    }

    #[test]
    fn nukta() {
        assert_eq!(seg("ಜ಼ಾ"), ["ಜ಼ಾ"]);
        assert_eq!(seg("ಫ಼್ರ"), ["ಫ಼್ರ"]);
    }

    #[test]
    fn non_kannada_chars_are_single_groups() {
        assert_eq!(seg("ab 1"), ["a", "b", " ", "1"]);
        assert_eq!(seg("😀👍🏽"), ["😀", "👍", "🏽"]);
        assert_eq!(seg("e\u{0301}"), ["e", "\u{0301}"]);
        assert_eq!(seg("೧೨"), ["೧", "೨"]);
        assert_eq!(
            seg("GPT: ಕನ್ನಡ 😀\n"),
            ["G", "P", "T", ":", " ", "ಕ", "ನ್ನ", "ಡ", " ", "😀", "\n"]
        );
        // Devanagari is not Kannada: its virama does not join.
        assert_eq!(seg("क्ष"), ["क", "्", "ष"]);
    }

    #[test]
    fn ranges_are_char_indices() {
        let chars: Vec<char> = "aಕ್ಷ b".chars().collect();
        assert_eq!(segment_chars(&chars), vec![0..1, 1..4, 4..5, 5..6]);
    }

    /// xorshift64*: deterministic pseudo-random numbers for the property test.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }
    }

    #[test]
    fn property_ranges_cover_input() {
        let mut pool: Vec<char> = ('\u{0C80}'..='\u{0CFF}').collect();
        // Weight the common building blocks more heavily.
        pool.extend("ಕಕಕನನಷಷ್್್್ಾಿೀೇಂಃ಼ಅಇ".chars());
        pool.extend([ZWJ, ZWNJ, ZWJ, ZWNJ]);
        pool.extend(" \n\ta.Z9😀é\u{0301}क्\u{FFFD}\u{10FFFF}\u{0}".chars());
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let len = rng.below(40);
            let chars: Vec<char> = (0..len).map(|_| pool[rng.below(pool.len())]).collect();
            let groups = segment_chars(&chars);
            let mut expected_start = 0;
            for g in &groups {
                assert!(!g.is_empty(), "{chars:?}: empty group");
                assert_eq!(g.start, expected_start, "{chars:?}: not contiguous");
                let first = chars[g.start];
                match class(first) {
                    Class::Consonant | Class::IndependentVowel => {}
                    _ => assert_eq!(g.len(), 1, "{chars:?}: multi-char group at {g:?}"),
                }
                expected_start = g.end;
            }
            assert_eq!(expected_start, chars.len(), "{chars:?}: not covered");
            // A group never ends with a bare virama that a following consonant should join.
            for w in groups.windows(2) {
                let first = chars[w[0].start];
                let last = chars[w[0].end - 1];
                let next = chars[w[1].start];
                assert!(
                    !(class(first) == Class::Consonant
                        && class(last) == Class::Virama
                        && class(next) == Class::Consonant),
                    "{chars:?}: split conjunct at {:?}",
                    w[0]
                );
            }
            let text: String = chars.iter().collect();
            assert_eq!(segment(&text).concat(), text);
            for a in segment(&text) {
                let label = display_label(&a);
                assert!(label == a || label == format!("{DOTTED_CIRCLE}{a}"));
            }
        }
    }
}
