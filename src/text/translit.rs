//! Latin → Kannada phonetic typing, in the style of Baraha/ITRANS.
//!
//! The input is read left to right, always taking the **longest** Latin key of
//! [`mapping_table`] that matches (so `kh` is ಖ, not ಕ್ಹ, and `aa` is ಆ). Keys are
//! case-sensitive: `t` is ತ but `T` is ಟ.
//!
//! Vowels (independent form, then the sign used after a consonant):
//!
//! | Latin | Kannada | | Latin | Kannada | | Latin | Kannada |
//! |---|---|---|---|---|---|---|---|
//! | `a` | ಅ (none) | | `U` `uu` | ಊ ೂ | | `ai` | ಐ ೈ |
//! | `A` `aa` | ಆ ಾ | | `R` `Ru` | ಋ ೃ | | `o` | ಒ ೊ |
//! | `i` | ಇ ಿ | | `RU` | ೠ ೄ | | `O` `oo` | ಓ ೋ |
//! | `I` `ii` `ee` | ಈ ೀ | | `e` | ಎ ೆ | | `au` | ಔ ೌ |
//! | `u` | ಉ ು | | `E` `ee` | ಏ ೇ | | | |
//!
//! Consonants and signs:
//!
//! | Latin | Kannada | | Latin | Kannada |
//! |---|---|---|---|---|
//! | `k` `kh` `g` `gh` | ಕ ಖ ಗ ಘ | | `y` `r` `l` `v`/`w` | ಯ ರ ಲ ವ |
//! | `~g` / `G` / `~N` | ಙ | | `sh` | ಶ |
//! | `c`/`ch`, `Ch`/`chh` | ಚ, ಛ | | `S` / `Sh` | ಷ |
//! | `j` `jh` | ಜ ಝ | | `s` `h` `L` | ಸ ಹ ಳ |
//! | `~j` / `J` / `~n` | ಞ | | `kSh` / `x` | ಕ್ಷ |
//! | `T` `Th` `D` `Dh` `N` | ಟ ಠ ಡ ಢ ಣ | | `j~n` / `jn` | ಜ್ಞ |
//! | `t` `th` `d` `dh` `n` | ತ ಥ ದ ಧ ನ | | `M` | ಂ (anusvara) |
//! | `p` `ph`/`f` `b` `bh` `m` | ಪ ಫ ಬ ಭ ಮ | | `H` | ಃ (visarga) |
//!
//! (`~N`, `chh` and `RU` are ITRANS extras beyond the core Baraha set.)
//!
//! Composition rules:
//!
//! * a vowel after a consonant becomes its vowel sign (`kA` → ಕಾ); the inherent `a` adds
//!   nothing (`ka` → ಕ); a vowel anywhere else is an independent vowel (`aidu` → ಐದು);
//! * a consonant followed by another consonant gets a virama in between, forming a conjunct
//!   (`kannaDa` → ಕನ್ನಡ, `namaskAra` → ನಮಸ್ಕಾರ);
//! * Baraha convention: a consonant with no vowel after it — at the end of the input, before
//!   a space, digit, punctuation or any unmapped char, or before `M`/`H` — is written with a
//!   virama (`kannaD` → ಕನ್ನಡ್); write the `a` to get the inherent vowel (`kannaDa`);
//! * `M` and `H` are written as typed: `aMma` → ಅಂಮ, `duHkha` → ದುಃಖ (Baraha spells
//!   ಅಮ್ಮ as `amma`);
//! * every char with no mapping (digits, punctuation, whitespace, unmapped Latin letters such
//!   as `q`, already-Kannada text, any other Unicode) passes through unchanged.
//!
//! ```
//! use kgpt::text::translit::latin_to_kannada;
//! assert_eq!(latin_to_kannada("j~nAnavE shrEShTha"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ");
//! assert_eq!(latin_to_kannada("beMgaLUru"), "ಬೆಂಗಳೂರು");
//! ```

/// ್ U+0CCD KANNADA SIGN VIRAMA.
const VIRAMA: char = '\u{0CCD}';

/// `(latin, kannada, description)`: the single source of truth for [`latin_to_kannada`].
///
/// The role of a row is read off its Kannada text: an independent vowel is a vowel (its sign
/// comes from [`vowel_sign`]), text containing a consonant is a consonant (cluster), anything
/// else (ಂ, ಃ) is written as is.
const TABLE: &[(&str, &str, &str)] = &[
    // Vowels.
    ("a", "ಅ", "short a; after a consonant adds nothing: ka → ಕ"),
    ("A", "ಆ", "long a; after a consonant ಾ: kA → ಕಾ"),
    ("aa", "ಆ", "long a, same as A"),
    ("i", "ಇ", "short i; after a consonant ಿ: ki → ಕಿ"),
    ("I", "ಈ", "long i; after a consonant ೀ: kI → ಕೀ"),
    ("ii", "ಈ", "long i, same as I"),
    ("u", "ಉ", "short u; after a consonant ು: ku → ಕು"),
    ("U", "ಊ", "long u; after a consonant ೂ: kU → ಕೂ"),
    ("uu", "ಊ", "long u, same as U"),
    ("R", "ಋ", "vocalic r; after a consonant ೃ: kR → ಕೃ"),
    ("Ru", "ಋ", "vocalic r, same as R: kRuShNa → ಕೃಷ್ಣ"),
    ("RU", "ೠ", "long vocalic r; after a consonant ೄ: kRU → ಕೄ"),
    ("e", "ಎ", "short e; after a consonant ೆ: ke → ಕೆ"),
    ("E", "ಏ", "long e; after a consonant ೇ: kE → ಕೇ"),
    ("ee", "ಈ", "long i, same as I (Baraha): ee → ಈ, kee → ಕೀ"),
    ("ai", "ಐ", "ai; after a consonant ೈ: kai → ಕೈ"),
    ("o", "ಒ", "short o; after a consonant ೊ: ko → ಕೊ"),
    ("O", "ಓ", "long o; after a consonant ೋ: kO → ಕೋ"),
    ("oo", "ಊ", "long u, same as U (Baraha): oo → ಊ, koo → ಕೂ"),
    ("au", "ಔ", "au; after a consonant ೌ: kau → ಕೌ"),
    // Anusvara and visarga.
    ("M", "ಂ", "anusvara: aMma → ಅಂಮ, kaM → ಕಂ"),
    ("H", "ಃ", "visarga: duHkha → ದುಃಖ"),
    // Velars.
    ("k", "ಕ", "ka"),
    ("kh", "ಖ", "kha"),
    ("g", "ಗ", "ga"),
    ("gh", "ಘ", "gha"),
    ("~g", "ಙ", "velar nasal ṅa"),
    ("G", "ಙ", "velar nasal ṅa, same as ~g"),
    ("~N", "ಙ", "velar nasal ṅa, same as ~g (ITRANS)"),
    // Palatals.
    ("c", "ಚ", "ca"),
    ("ch", "ಚ", "ca, same as c"),
    ("Ch", "ಛ", "cha"),
    ("chh", "ಛ", "cha, same as Ch (ITRANS)"),
    ("j", "ಜ", "ja"),
    ("jh", "ಝ", "jha"),
    ("~j", "ಞ", "palatal nasal ña"),
    ("J", "ಞ", "palatal nasal ña, same as ~j"),
    ("~n", "ಞ", "palatal nasal ña, same as ~j (ITRANS)"),
    // Retroflexes.
    ("T", "ಟ", "retroflex ṭa"),
    ("Th", "ಠ", "retroflex ṭha"),
    ("D", "ಡ", "retroflex ḍa"),
    ("Dh", "ಢ", "retroflex ḍha"),
    ("N", "ಣ", "retroflex ṇa"),
    // Dentals.
    ("t", "ತ", "dental ta"),
    ("th", "ಥ", "dental tha"),
    ("d", "ದ", "dental da"),
    ("dh", "ಧ", "dental dha"),
    ("n", "ನ", "dental na"),
    // Labials.
    ("p", "ಪ", "pa"),
    ("ph", "ಫ", "pha"),
    ("f", "ಫ", "pha, same as ph"),
    ("b", "ಬ", "ba"),
    ("bh", "ಭ", "bha"),
    ("m", "ಮ", "ma"),
    // Approximants, sibilants, h.
    ("y", "ಯ", "ya"),
    ("r", "ರ", "ra"),
    ("l", "ಲ", "la"),
    ("v", "ವ", "va"),
    ("w", "ವ", "va, same as v"),
    ("sh", "ಶ", "palatal śa"),
    ("S", "ಷ", "retroflex ṣa"),
    ("Sh", "ಷ", "retroflex ṣa, same as S"),
    ("s", "ಸ", "sa"),
    ("h", "ಹ", "ha"),
    ("L", "ಳ", "retroflex ḷa"),
    // Conjuncts with their own keys.
    ("kSh", "ಕ್ಷ", "kṣa: lakShmi → ಲಕ್ಷ್ಮಿ"),
    ("x", "ಕ್ಷ", "kṣa, same as kSh"),
    ("j~n", "ಜ್ಞ", "jña: j~nAna → ಜ್ಞಾನ"),
    ("jn", "ಜ್ಞ", "jña, same as j~n"),
];

/// Transliterates Latin phonetic input to Kannada; chars with no mapping pass through
/// unchanged. See the [module documentation](self) for the conventions.
///
/// ```
/// use kgpt::text::translit::latin_to_kannada;
/// assert_eq!(latin_to_kannada("kannaDa"), "ಕನ್ನಡ");
/// assert_eq!(latin_to_kannada("kannaD"), "ಕನ್ನಡ್"); // final bare consonant: virama
/// assert_eq!(latin_to_kannada("namaskAra!"), "ನಮಸ್ಕಾರ!");
/// assert_eq!(latin_to_kannada("kRuShNa 2"), "ಕೃಷ್ಣ 2");
/// ```
pub fn latin_to_kannada(input: &str) -> String {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len() * 3);
    // The last thing written is a consonant whose inherent vowel has not been decided yet.
    let mut bare_consonant = false;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let Some((len, kannada)) = longest_match(&chars[i..]) else {
            if bare_consonant {
                out.push(VIRAMA);
                bare_consonant = false;
            }
            out.push(c);
            i += 1;
            continue;
        };
        i += len;
        match role(kannada) {
            Role::Vowel(sign) => {
                out.push_str(if bare_consonant { sign } else { kannada });
                bare_consonant = false;
            }
            Role::Consonant => {
                if bare_consonant {
                    out.push(VIRAMA);
                }
                out.push_str(kannada);
                bare_consonant = true;
            }
            Role::Mark => {
                if bare_consonant {
                    out.push(VIRAMA);
                }
                out.push_str(kannada);
                bare_consonant = false;
            }
        }
    }
    if bare_consonant {
        out.push(VIRAMA);
    }
    out
}

/// The mapping table for the help panel: `(latin, kannada, description)` rows, the single
/// source of truth used by [`latin_to_kannada`].
///
/// Vowel rows give the independent vowel; the description names the sign used after a
/// consonant.
///
/// ```
/// use kgpt::text::translit::mapping_table;
/// let table = mapping_table();
/// assert!(table.contains(&("kh", "ಖ", "kha")));
/// assert!(table.iter().any(|&(latin, kannada, _)| latin == "A" && kannada == "ಆ"));
/// ```
pub fn mapping_table() -> Vec<(&'static str, &'static str, &'static str)> {
    TABLE.to_vec()
}

/// How a table row combines with its neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// An independent vowel, with the sign it becomes after a consonant ("" for ಅ).
    Vowel(&'static str),
    /// A consonant or a conjunct ending in one.
    Consonant,
    /// Anusvara or visarga: written as is.
    Mark,
}

fn role(kannada: &str) -> Role {
    if let Some(sign) = vowel_sign(kannada) {
        Role::Vowel(sign)
    } else if kannada
        .chars()
        .any(|c| matches!(c, '\u{0C95}'..='\u{0CB9}' | '\u{0CDD}' | '\u{0CDE}'))
    {
        Role::Consonant
    } else {
        Role::Mark
    }
}

/// The dependent vowel sign of an independent vowel, or `None` if `vowel` is not one.
fn vowel_sign(vowel: &str) -> Option<&'static str> {
    Some(match vowel {
        "ಅ" => "",
        "ಆ" => "\u{0CBE}",
        "ಇ" => "\u{0CBF}",
        "ಈ" => "\u{0CC0}",
        "ಉ" => "\u{0CC1}",
        "ಊ" => "\u{0CC2}",
        "ಋ" => "\u{0CC3}",
        "ೠ" => "\u{0CC4}",
        "ಎ" => "\u{0CC6}",
        "ಏ" => "\u{0CC7}",
        "ಐ" => "\u{0CC8}",
        "ಒ" => "\u{0CCA}",
        "ಓ" => "\u{0CCB}",
        "ಔ" => "\u{0CCC}",
        "ಌ" => "\u{0CE2}",
        "ೡ" => "\u{0CE3}",
        _ => return None,
    })
}

/// The longest table key that `chars` starts with: (its length in chars, its Kannada).
fn longest_match(chars: &[char]) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for &(latin, kannada, _) in TABLE {
        let mut rest = chars.iter();
        if latin.chars().all(|k| rest.next() == Some(&k)) {
            let len = latin.chars().count();
            if best.is_none_or(|(best_len, _)| len > best_len) {
                best = Some((len, kannada));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(latin: &str) -> String {
        latin_to_kannada(latin)
    }

    #[test]
    fn required_examples() {
        assert_eq!(t("kannaDa"), "ಕನ್ನಡ");
        assert_eq!(t("j~nAnavE shrEShTha"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ");
        assert_eq!(t("namaskAra"), "ನಮಸ್ಕಾರ");
        assert_eq!(t("beMgaLUru"), "ಬೆಂಗಳೂರು");
        assert_eq!(t("aMma"), "ಅಂಮ");
        assert_eq!(t("rAma"), "ರಾಮ");
        assert_eq!(t("kRuShNa"), "ಕೃಷ್ಣ");
        assert_eq!(t("dEvaru"), "ದೇವರು");
        assert_eq!(t("bhArata"), "ಭಾರತ");
        assert_eq!(t("sthaLa"), "ಸ್ಥಳ");
        assert_eq!(t("aiduMdu"), "ಐದುಂದು");
        assert_eq!(t("kaushalya"), "ಕೌಶಲ್ಯ");
    }

    #[test]
    fn baraha_final_virama() {
        assert_eq!(t("kannaD"), "ಕನ್ನಡ್");
        assert_eq!(t("k"), "ಕ್");
        assert_eq!(t("ondu"), "ಒನ್ದು");
        assert_eq!(t("kann kann"), "ಕನ್ನ್ ಕನ್ನ್");
        assert_eq!(t("pariShat."), "ಪರಿಷತ್.");
        assert_eq!(t("kM"), "ಕ್ಂ");
    }

    #[test]
    fn ee_and_e() {
        // Baraha: ee and oo are the long i and u, E and O the long e and o.
        assert_eq!(t("ee"), t("I"));
        assert_eq!(t("ee"), "ಈ");
        assert_eq!(t("deeva"), "ದೀವ");
        assert_eq!(t("dEva"), "ದೇವ");
        assert_eq!(t("e"), "ಎ");
        assert_eq!(t("de"), "ದೆ");
        assert_eq!(t("oo"), t("U"));
        assert_eq!(t("O"), "ಓ");
        assert_eq!(t("ii"), t("I"));
        assert_eq!(t("uu"), t("U"));
        assert_eq!(t("aa"), t("A"));
    }

    #[test]
    fn jna_spellings() {
        assert_eq!(t("j~nAna"), "ಜ್ಞಾನ");
        assert_eq!(t("jnAna"), "ಜ್ಞಾನ");
        assert_eq!(t("lakShmi"), "ಲಕ್ಷ್ಮಿ");
        assert_eq!(t("laxmi"), "ಲಕ್ಷ್ಮಿ");
    }

    #[test]
    fn pass_through() {
        assert_eq!(t(""), "");
        assert_eq!(t("0123456789"), "0123456789");
        assert_eq!(
            t(" .,;:!?()[]{}'\"-_/\\@#$%^&*+=<>|`\n\t"),
            " .,;:!?()[]{}'\"-_/\\@#$%^&*+=<>|`\n\t"
        );
        assert_eq!(t("ಕನ್ನಡ ನಾಡು"), "ಕನ್ನಡ ನಾಡು");
        assert_eq!(t("೧೨೩"), "೧೨೩");
        assert_eq!(t("😀 é ü 中文"), "😀 é ü 中文");
        assert_eq!(t("~"), "~");
        assert_eq!(t("qQ"), "qQ");
        assert_eq!(t("mane 12."), "ಮನೆ 12.");
        assert_eq!(t("ನಾನು rAma"), "ನಾನು ರಾಮ");
    }

    #[test]
    fn table_driven_examples() {
        let cases = [
            ("kannaDa nADu", "ಕನ್ನಡ ನಾಡು"),
            ("maisUru", "ಮೈಸೂರು"),
            ("hubbaLLi", "ಹುಬ್ಬಳ್ಳಿ"),
            ("duHkha", "ದುಃಖ"),
            ("gaMgA", "ಗಂಗಾ"),
            ("OM", "ಓಂ"),
            ("pha", "ಫ"),
            ("fa", "ಫ"),
            ("wa", "ವ"),
            ("va", "ವ"),
            ("Chatri", "ಛತ್ರಿ"),
            ("chhatri", "ಛತ್ರಿ"),
            ("chakra", "ಚಕ್ರ"),
            ("cakra", "ಚಕ್ರ"),
            ("vAGmaya", "ವಾಙ್ಮಯ"),
            ("vA~gmaya", "ವಾಙ್ಮಯ"),
            ("paJca", "ಪಞ್ಚ"),
            ("pa~jca", "ಪಞ್ಚ"),
            ("pa~nca", "ಪಞ್ಚ"),
            ("ghaTa", "ಘಟ"),
            ("Dhakke", "ಢಕ್ಕೆ"),
            ("jhari", "ಝರಿ"),
            ("dhana", "ಧನ"),
            ("viShNu", "ವಿಷ್ಣು"),
            ("vishNu", "ವಿಶ್ಣು"),
            ("SaShThi", "ಷಷ್ಠಿ"),
            ("hosa", "ಹೊಸ"),
            ("kOpa", "ಕೋಪ"),
            ("kOpa", "ಕೋಪ"),
            ("koota", "ಕೂತ"),
            ("UTa", "ಊಟ"),
            ("uuTa", "ಊಟ"),
            ("Ishvara", "ಈಶ್ವರ"),
            ("iishwara", "ಈಶ್ವರ"),
            ("RuShi", "ಋಷಿ"),
            ("RShi", "ಋಷಿ"),
            ("kRU", "ಕೄ"),
            ("auShadha", "ಔಷಧ"),
            ("eLLu", "ಎಳ್ಳು"),
            ("oMdu", "ಒಂದು"),
            ("kShatriya", "ಕ್ಷತ್ರಿಯ"),
            ("rAjyOtsava", "ರಾಜ್ಯೋತ್ಸವ"),
            ("prapaMca", "ಪ್ರಪಂಚ"),
            ("kai", "ಕೈ"),
            ("kau", "ಕೌ"),
            ("ai", "ಐ"),
            ("au", "ಔ"),
            ("saMskRuta", "ಸಂಸ್ಕೃತ"),
            ("stree", "ಸ್ತ್ರೀ"),
            ("strI", "ಸ್ತ್ರೀ"),
            ("hello, world!", "ಹೆಲ್ಲೊ, ವೊರ್ಲ್ದ್!"),
            ("kaNNu", "ಕಣ್ಣು"),
            ("phalitAMsha", "ಫಲಿತಾಂಶ"),
            ("baMdaru", "ಬಂದರು"),
            ("guru", "ಗುರು"),
            ("bhUmi", "ಭೂಮಿ"),
            ("thaLa", "ಥಳ"),
            ("Nkh", "ಣ್ಖ್"),
        ];
        assert!(cases.len() >= 30);
        for (latin, kannada) in cases {
            assert_eq!(t(latin), kannada, "{latin}");
        }
    }

    #[test]
    fn every_table_row_round_trips() {
        for (latin, kannada, description) in mapping_table() {
            assert!(!latin.is_empty() && !kannada.is_empty() && !description.is_empty());
            match role(kannada) {
                Role::Vowel(sign) => {
                    assert_eq!(t(latin), kannada, "vowel {latin}");
                    assert_eq!(t(&format!("k{latin}")), format!("ಕ{sign}"), "k{latin}");
                }
                Role::Consonant => {
                    assert_eq!(t(&format!("{latin}a")), kannada, "{latin}a");
                    assert_eq!(t(latin), format!("{kannada}{VIRAMA}"), "{latin}");
                    assert_eq!(
                        t(&format!("{latin}{latin}A")),
                        format!("{kannada}{VIRAMA}{kannada}\u{0CBE}"),
                        "{latin}{latin}A"
                    );
                }
                Role::Mark => {
                    assert_eq!(t(latin), kannada, "{latin}");
                    assert_eq!(t(&format!("a{latin}")), format!("ಅ{kannada}"), "a{latin}");
                    assert_eq!(t(&format!("ka{latin}")), format!("ಕ{kannada}"), "ka{latin}");
                }
            }
        }
    }

    #[test]
    fn table_is_well_formed() {
        let table = mapping_table();
        for (i, (latin, _, _)) in table.iter().enumerate() {
            assert!(latin.is_ascii(), "{latin}");
            assert!(
                table[..i].iter().all(|(other, _, _)| other != latin),
                "duplicate key {latin}"
            );
        }
        // Every vowel row has a sign, every other row is a consonant or ಂ/ಃ.
        let vowels = table
            .iter()
            .filter(|(_, k, _)| matches!(role(k), Role::Vowel(_)))
            .count();
        assert_eq!(vowels, 20);
        for (_, kannada, _) in &table {
            if role(kannada) == Role::Mark {
                assert!(["ಂ", "ಃ"].contains(kannada), "{kannada}");
            }
        }
    }

    /// xorshift64*: deterministic pseudo-random numbers for the fuzz test.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() >> 33) as usize % n
        }
    }

    #[test]
    fn never_panics_and_keeps_unmapped_chars() {
        let key_chars: Vec<char> = TABLE.iter().flat_map(|(l, _, _)| l.chars()).collect();
        let mut pool: Vec<char> = key_chars.clone();
        pool.extend(" \n.,!09~qzQ😀éಕ್ಾಅ\u{200D}\u{0}\u{FFFD}\u{10FFFF}".chars());
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        let unmapped = |s: &str| -> String {
            s.chars()
                .filter(|c| !key_chars.contains(c) && !('\u{0C80}'..='\u{0CFF}').contains(c))
                .collect()
        };
        for _ in 0..5000 {
            let len = rng.below(30);
            let input: String = (0..len)
                .map(|_| {
                    if rng.below(4) == 0 {
                        // Any Unicode scalar value, multibyte ones included.
                        char::from_u32((rng.next() >> 43) as u32 % 0x11_0000).unwrap_or('\u{FFFD}')
                    } else {
                        pool[rng.below(pool.len())]
                    }
                })
                .collect();
            let output = latin_to_kannada(&input);
            assert_eq!(
                unmapped(&output),
                unmapped(&input),
                "{input:?} -> {output:?}"
            );
            // Converting Kannada again changes nothing.
            assert_eq!(latin_to_kannada(&output), output, "{input:?} -> {output:?}");
        }
    }
}
