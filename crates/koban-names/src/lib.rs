//! Person-name matching across Japanese scripts and romanisations.
//!
//! Names arrive in kanji (with or without a kana reading), hiragana, katakana, or Latin
//! letters in any romanisation: passport (MOFA) Hepburn (OTANI, NAMBA, HOTCHI), Hepburn
//! with OH (OHTA, KATOH), word-processor romaji (SATOU, OOTA, NANBA), Kunrei (SINITI,
//! TUZI), macrons or circumflexes (SATŌ, SATÔ), full-width letters, MRZ form
//! (`SATO<<HANAKO`), family and given names in either order.
//!
//! The approach follows the registry reference: every kana or romaji token is parsed
//! into morae and rendered as a canonical **phonetic key** ([`phonetic_key`]) that is
//! the same for every romanisation of one kana reading; what is left is scored.
//!
//! # Phonetic key
//!
//! * Syllables are spelled in Hepburn: `si`/`shi` -> `shi`, `ti` -> `chi`, `tu` -> `tsu`,
//!   `hu` -> `fu`, `zi`/`di`/`ji` -> `ji`, `du` -> `zu`, `sya` -> `sha`, `tya`/`cya` ->
//!   `cha`, `zya`/`jya`/`dya` -> `ja`, `wo` -> `o`.
//! * ん is always `n` (`NAMBA`, `NANBA`, `NAMBA` -> `nanba`; `nn` before a consonant or
//!   at the end is one ん).
//! * っ doubles the next consonant; `tch` and `cch` both give `tch`.
//! * Long vowels are collapsed: `oo`, `ou`, `oh`, `ō`, `ô` -> `o`; `uu`, `ū` -> `u`;
//!   `aa` -> `a`; `ee` -> `e`; ー is dropped.
//! * **`ei` and `ii` are kept.** Passports write 恵子 KEIKO and 新潟 NIIGATA, 新見 NIIMI,
//!   and collapsing `ii` would merge names such as NIIMI and NIMI. The price is that a
//!   katakana ー after an I-row syllable (ミー) and a romanised `ii` differ by one letter.
//! * Consequences worth knowing: 井上 INOUE and INOE share the key `inoe`, 大野 ONO and
//!   小野 ONO share `ono` (exactly as passports already do).
//!
//! Kanji are never romanised (no Chinese readings): names written only in kanji compare
//! only with names in kanji, exactly after folding old character forms (髙 -> 高, 﨑 -> 崎,
//! 澤 -> 沢, ...). Supply the kana reading in parentheses — `佐藤 花子（さとう はなこ）` —
//! or after a `/`, or use [`name_key_with_reading`]; the reading then matches romaji.
//!
//! # Scoring
//!
//! If every token of both names is a Japanese reading, the names are compared as
//! Japanese: token keys must agree exactly for a score of 1.0 (in either order, or with
//! family and given names run together); any difference is scored on morae and capped
//! at 0.75 × the mora similarity, which keeps SATO / SAITO, YUKO / YUKIKO, HANAKO /
//! HARUKO well below the threshold. Otherwise (world names) tokens are aligned one to
//! one by an edit-distance similarity with tolerance for typos, initials, particles
//! (al, bin, de, van, ...), titles, legal forms of companies and joined or split words.

#![forbid(unsafe_code)]

mod fold;
mod mora;
mod score;
pub mod screen;

use fold::{RawToken, Script};
use mora::Mora;

/// The score at or above which two names are considered the same.
///
/// Chosen on the evaluation in `tests/eval.rs`: 0.82 gave the best F1 of a sweep over
/// 0.70..0.90 on the nomenklatura world-name set (P 0.898, R 0.812, F1 0.853), and the
/// Japanese set is at recall 1.0 / precision 1.0 for any threshold in (0.75, 1.0]:
/// true romanisation variants score exactly 1.0 and differing Japanese readings are
/// capped at 0.75.
pub const DEFAULT_THRESHOLD: f64 = 0.82;

/// The role of a token in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An ordinary name word.
    Word,
    /// A single letter.
    Initial,
    /// A particle such as al, bin, de, van: low weight, never required.
    Particle,
    /// A company legal form (ltd, llc, ag, ...), canonicalised.
    Legal,
}

/// One token of a phonetic (Latin/kana) view.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// Folded text (lowercase ASCII for Latin-like scripts).
    pub text: Vec<char>,
    /// Text with repeated letters squeezed ("wallmart" -> "walmart").
    pub squeezed: Vec<char>,
    /// Canonical phonetic key when the token is a Japanese reading.
    pub key: Option<String>,
    /// Morae of the key, as packed codes (code, devoiced code).
    pub morae: Vec<(u32, u32)>,
    pub class: Class,
}

/// One way of reading a name.
#[derive(Debug, Clone)]
pub(crate) enum View {
    /// Kanji (and kana attached to it), compared only exactly.
    Kanji(Vec<String>),
    /// Latin or kana tokens, compared phonetically.
    Phonetic(Vec<Token>),
}

/// A parsed name: its tokens and their canonical keys.
#[derive(Debug, Clone)]
pub struct NameKey {
    pub(crate) views: Vec<View>,
    /// Lowercased, whitespace-normalised input, for the exact fast path.
    pub(crate) plain: String,
}

impl NameKey {
    /// The canonical phonetic keys of the name's tokens (first phonetic view), e.g.
    /// `["sato", "hanako"]` for `SATOH Hanako`. Tokens that are not Japanese readings are
    /// given as their folded spelling.
    pub fn keys(&self) -> Vec<String> {
        for v in &self.views {
            if let View::Phonetic(tokens) = v {
                return tokens
                    .iter()
                    .map(|t| t.key.clone().unwrap_or_else(|| t.text.iter().collect()))
                    .collect();
            }
        }
        Vec::new()
    }

    /// The kanji forms of the name (tokens), if it is written in kanji.
    pub fn kanji(&self) -> Vec<String> {
        for v in &self.views {
            if let View::Kanji(tokens) = v {
                return tokens.clone();
            }
        }
        Vec::new()
    }

    /// True if every token of some phonetic view is a Japanese reading.
    pub fn is_japanese_reading(&self) -> bool {
        self.views.iter().any(|v| match v {
            View::Phonetic(t) => !t.is_empty() && t.iter().all(|t| t.key.is_some()),
            View::Kanji(_) => false,
        })
    }

    /// True if no comparable token was found.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "madam", "madame", "mme", "mlle",
    "monsieur", "herr", "frau", "shaikh", "sheikh", "sheik", "the", "san", "sama", "dono", "rev",
    "capt",
];

const PARTICLES: &[&str] = &[
    "al", "el", "ul", "ur", "bin", "ben", "ibn", "bint", "de", "del", "della", "der", "den", "van",
    "von", "da", "di", "du", "dos", "la", "le", "y", "and", "of", "und", "et", "&",
];

/// Single-token legal forms -> canonical class.
fn legal_class(t: &str) -> Option<&'static str> {
    Some(match t {
        "ltd" | "limited" | "ltda" => "ltd",
        "llc" | "ooo" => "llc",
        "inc" | "incorporated" => "inc",
        "corp" | "corporation" => "corp",
        "co" | "company" | "companies" => "co",
        "ag" | "aktiengesellschaft" | "akg" => "ag",
        "gmbh" => "gmbh",
        "sa" | "sas" | "sarl" | "sae" => "sa",
        "plc" => "plc",
        "jsc" | "oao" | "zao" | "pao" | "pjsc" | "cjsc" | "ojsc" => "jsc",
        "llp" | "lp" => "lp",
        "nv" | "bv" => "nv",
        "srl" | "spa" => "srl",
        "kk" | "yk" => "kk",
        _ => return None,
    })
}

/// Multi-token legal forms, matched before single tokens.
const LEGAL_PHRASES: &[(&[&str], &str)] = &[
    (&["public", "joint", "stock", "company"], "jsc"),
    (&["open", "joint", "stock", "company"], "jsc"),
    (&["closed", "joint", "stock", "company"], "jsc"),
    (&["joint", "stock", "company"], "jsc"),
    (&["joint", "stock", "compan"], "jsc"),
    (&["limited", "liability", "company"], "llc"),
    (&["public", "limited", "company"], "plc"),
    (&["societe", "anonyme"], "sa"),
    (&["kabushiki", "kaisha"], "kk"),
    (&["sp", "z", "oo"], "llc"),
];

/// Parse a name into its tokens and canonical keys.
pub fn name_key(name: &str) -> NameKey {
    let tok = fold::tokenize(name);
    let mut views = Vec::new();
    for alt in tok.alts {
        let has_kanji = alt.main.iter().any(|t| t.script == Script::Kanji);
        let paren_phonetic = |p: &Vec<RawToken>| {
            p.iter()
                .all(|t| matches!(t.script, Script::Kana | Script::Latin))
        };
        if has_kanji {
            views.push(kanji_view(&alt.main));
            for p in &alt.paren {
                if paren_phonetic(p) {
                    push_phonetic(&mut views, p);
                } else if p.iter().any(|t| t.script == Script::Kanji) {
                    views.push(kanji_view(p));
                }
            }
        } else {
            let reading_parens = !alt.main.is_empty()
                && alt.main.iter().all(|t| t.script == Script::Latin)
                && alt
                    .paren
                    .iter()
                    .all(|p| p.iter().all(|t| t.script == Script::Kana));
            if reading_parens {
                push_phonetic(&mut views, &alt.main);
                for p in &alt.paren {
                    push_phonetic(&mut views, p);
                }
            } else {
                let mut all = alt.main;
                for p in alt.paren {
                    all.extend(p);
                }
                if all.iter().any(|t| t.script == Script::Kanji) {
                    views.push(kanji_view(&all));
                } else {
                    push_phonetic(&mut views, &all);
                }
            }
        }
    }
    NameKey {
        views,
        plain: plain(name),
    }
}

/// Parse a name with a separately supplied kana reading (フリガナ), e.g.
/// `name_key_with_reading("佐藤 花子", "サトウ ハナコ")`.
pub fn name_key_with_reading(name: &str, reading: &str) -> NameKey {
    let mut k = name_key(name);
    let r = name_key(reading);
    k.views.extend(r.views);
    k
}

fn plain(name: &str) -> String {
    if name.trim().is_empty() {
        return name.to_string();
    }
    let mut s = String::with_capacity(name.len());
    for w in name.split_whitespace() {
        if !s.is_empty() {
            s.push(' ');
        }
        for c in w.chars() {
            s.extend(c.to_lowercase());
        }
    }
    s
}

fn kanji_view(tokens: &[RawToken]) -> View {
    let mut out: Vec<String> = Vec::new();
    for t in tokens {
        let mut s = String::with_capacity(t.text.len());
        match t.script {
            Script::Kanji => s.extend(t.text.chars().map(fold::fold_kanji)),
            Script::Kana => {
                // Kana inside a kanji name: compare as hiragana.
                for c in t.text.chars() {
                    let u = c as u32;
                    let h = if (0x30A1..=0x30F6).contains(&u) {
                        char::from_u32(u - 0x60).unwrap_or(c)
                    } else {
                        c
                    };
                    s.push(h);
                }
            }
            _ => s.push_str(&t.text),
        }
        // Honorifics attached to a kanji name.
        for suffix in ["様", "殿", "さん", "さま", "君", "氏"] {
            if s.chars().count() > suffix.chars().count() + 1 {
                if let Some(stripped) = s.strip_suffix(suffix) {
                    s = stripped.to_string();
                }
            }
        }
        if matches!(s.as_str(), "様" | "殿" | "さん" | "さま" | "氏") {
            continue;
        }
        out.push(s);
    }
    View::Kanji(out)
}

fn push_phonetic(views: &mut Vec<View>, tokens: &[RawToken]) {
    let v = phonetic_view(tokens);
    if !v.is_empty() {
        views.push(View::Phonetic(v));
    }
}

fn phonetic_view(raw: &[RawToken]) -> Vec<Token> {
    // Lowercased texts with legal phrases replaced by their class.
    let mut words: Vec<(String, Script, bool)> = Vec::with_capacity(raw.len());
    let mut i = 0;
    'outer: while i < raw.len() {
        for (phrase, class) in LEGAL_PHRASES {
            let n = phrase.len();
            if i + n <= raw.len()
                && raw[i..i + n]
                    .iter()
                    .zip(phrase.iter())
                    .all(|(t, p)| t.text == *p)
            {
                words.push(((*class).to_string(), Script::Latin, true));
                i += n;
                continue 'outer;
            }
        }
        let t = &raw[i];
        words.push((t.text.clone(), t.script, false));
        i += 1;
    }
    let n_words = words.len();
    let mut out = Vec::with_capacity(n_words);
    for (mut text, script, is_legal) in words {
        if script == Script::Latin && !is_legal {
            fold::deleet(&mut text);
        }
        if script == Script::Latin && n_words > 1 && TITLES.contains(&text.as_str()) {
            continue;
        }
        if script == Script::Kana && matches!(text.as_str(), "さん" | "さま" | "サン" | "サマ")
        {
            continue;
        }
        let mut morae: Vec<Mora> = Vec::new();
        let parsed = match script {
            Script::Kana => mora::parse_kana(&text, &mut morae),
            Script::Latin if !is_legal => mora::parse_romaji(&text, &mut morae),
            _ => None,
        };
        let mut key = None;
        if parsed.is_some() {
            let mut k = String::with_capacity(text.len());
            mora::render_key(&morae, &mut k);
            if !k.is_empty() {
                key = Some(k);
            }
        }
        let class = if is_legal {
            Class::Legal
        } else if let Some(c) =
            legal_class(&text).filter(|_| script == Script::Latin && n_words > 1)
        {
            text = c.to_string();
            key = None;
            Class::Legal
        } else if script == Script::Latin && PARTICLES.contains(&text.as_str()) && n_words > 1 {
            key = None;
            Class::Particle
        } else if script == Script::Latin && text.chars().count() == 1 {
            key = None;
            Class::Initial
        } else {
            Class::Word
        };
        // Kana tokens are compared by their key spelling.
        let display: Vec<char> = match (&key, script) {
            (Some(k), Script::Kana) => k.chars().collect(),
            _ => text.chars().collect(),
        };
        if display.is_empty() {
            continue;
        }
        let mut squeezed = display.clone();
        squeezed.dedup();
        let morae = key.as_deref().map(score::key_morae).unwrap_or_default();
        out.push(Token {
            text: display,
            squeezed,
            key,
            morae,
            class,
        });
    }
    out
}

/// Similarity in [0, 1]; 1.0 for names equal after normalisation.
pub fn compare(a: &str, b: &str) -> f64 {
    compare_keys(&name_key(a), &name_key(b))
}

/// [`compare`] on pre-parsed names (parse each record once when scoring many pairs).
pub fn compare_keys(a: &NameKey, b: &NameKey) -> f64 {
    score::compare_keys(a, b)
}

/// `compare(a, b) >= DEFAULT_THRESHOLD`.
pub fn is_match(a: &str, b: &str) -> bool {
    compare(a, b) >= DEFAULT_THRESHOLD
}

/// Romaji or kana token -> canonical phonetic key (for indexing).
///
/// `SATO`, `SATOU`, `SATOH`, `SATŌ`, `さとう`, `サトウ` all give `sato`; `SHINICHI`,
/// `SINITI`, `しんいち` give `shinichi`. Separators inside the token are ignored. `None`
/// if the token is not a Japanese reading (kanji, consonant clusters, ...).
pub fn phonetic_key(token: &str) -> Option<String> {
    let tok = fold::tokenize(token);
    let mut morae = Vec::new();
    let mut any = false;
    for alt in &tok.alts {
        if !alt.paren.is_empty() {
            return None;
        }
        for t in &alt.main {
            match t.script {
                Script::Kana => mora::parse_kana(&t.text, &mut morae)?,
                Script::Latin => mora::parse_romaji(&t.text, &mut morae)?,
                _ => return None,
            }
            any = true;
        }
    }
    if !any {
        return None;
    }
    let mut key = String::new();
    mora::render_key(&morae, &mut key);
    (!key.is_empty()).then_some(key)
}

/// Convert kana (hiragana/katakana, incl. half-width katakana) to passport Hepburn, for
/// display and diagnostics: `さとう はなこ` -> `SATO HANAKO`, `せのお` -> `SENOO`,
/// `なんば` -> `NAMBA`. Words separated by spaces or ・ stay separate. `None` if the
/// input contains anything but kana and separators.
pub fn kana_to_hepburn(kana: &str) -> Option<String> {
    let mut out = String::new();
    let mut morae = Vec::new();
    for word in kana.split(|c: char| c.is_whitespace() || matches!(c, '・' | '･' | '　')) {
        if word.is_empty() {
            continue;
        }
        if !word.chars().all(mora::is_kana) {
            return None;
        }
        morae.clear();
        mora::parse_kana(word, &mut morae)?;
        if !out.is_empty() {
            out.push(' ');
        }
        mora::render_hepburn(&morae, &mut out);
    }
    (!out.is_empty()).then_some(out)
}
