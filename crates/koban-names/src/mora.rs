//! Morae: the common representation of romaji and kana readings.
//!
//! Both romaji (any of the systems in use) and kana are parsed into a sequence of
//! [`Mora`] values whose syllables are spelled in canonical (Hepburn) form. From that
//! sequence we render either the canonical *phonetic key* (long vowels collapsed) or
//! passport (MOFA) Hepburn.

/// One unit of a Japanese reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mora {
    /// A syllable in canonical Hepburn spelling, lowercase ("ka", "shi", "kya", "a").
    Syl(&'static str),
    /// ん.
    N,
    /// っ (doubles the following consonant).
    Sokuon,
    /// A long-vowel mark: ー, or the H of Hepburn "OH".
    Long,
}

/// Romaji spellings (Hepburn, Kunrei, Nihon-shiki, word-processor) -> canonical Hepburn.
/// Sorted by input for binary search.
static ROMAJI: &[(&str, &str)] = &[
    ("a", "a"),
    ("ba", "ba"),
    ("be", "be"),
    ("bi", "bi"),
    ("bo", "bo"),
    ("bu", "bu"),
    ("bya", "bya"),
    ("byo", "byo"),
    ("byu", "byu"),
    ("cha", "cha"),
    ("che", "che"),
    ("chi", "chi"),
    ("cho", "cho"),
    ("chu", "chu"),
    ("cya", "cha"),
    ("cyo", "cho"),
    ("cyu", "chu"),
    ("da", "da"),
    ("de", "de"),
    ("di", "ji"),
    ("do", "do"),
    ("du", "zu"),
    ("dya", "ja"),
    ("dyo", "jo"),
    ("dyu", "ju"),
    ("dzu", "zu"),
    ("e", "e"),
    ("fa", "fa"),
    ("fe", "fe"),
    ("fi", "fi"),
    ("fo", "fo"),
    ("fu", "fu"),
    ("ga", "ga"),
    ("ge", "ge"),
    ("gi", "gi"),
    ("go", "go"),
    ("gu", "gu"),
    ("gya", "gya"),
    ("gyo", "gyo"),
    ("gyu", "gyu"),
    ("ha", "ha"),
    ("he", "he"),
    ("hi", "hi"),
    ("ho", "ho"),
    ("hu", "fu"),
    ("hya", "hya"),
    ("hyo", "hyo"),
    ("hyu", "hyu"),
    ("i", "i"),
    ("ja", "ja"),
    ("je", "je"),
    ("ji", "ji"),
    ("jo", "jo"),
    ("ju", "ju"),
    ("jya", "ja"),
    ("jyo", "jo"),
    ("jyu", "ju"),
    ("ka", "ka"),
    ("ke", "ke"),
    ("ki", "ki"),
    ("ko", "ko"),
    ("ku", "ku"),
    ("kya", "kya"),
    ("kyo", "kyo"),
    ("kyu", "kyu"),
    ("ma", "ma"),
    ("me", "me"),
    ("mi", "mi"),
    ("mo", "mo"),
    ("mu", "mu"),
    ("mya", "mya"),
    ("myo", "myo"),
    ("myu", "myu"),
    ("na", "na"),
    ("ne", "ne"),
    ("ni", "ni"),
    ("no", "no"),
    ("nu", "nu"),
    ("nya", "nya"),
    ("nyo", "nyo"),
    ("nyu", "nyu"),
    ("o", "o"),
    ("pa", "pa"),
    ("pe", "pe"),
    ("pi", "pi"),
    ("po", "po"),
    ("pu", "pu"),
    ("pya", "pya"),
    ("pyo", "pyo"),
    ("pyu", "pyu"),
    ("ra", "ra"),
    ("re", "re"),
    ("ri", "ri"),
    ("ro", "ro"),
    ("ru", "ru"),
    ("rya", "rya"),
    ("ryo", "ryo"),
    ("ryu", "ryu"),
    ("sa", "sa"),
    ("se", "se"),
    ("sha", "sha"),
    ("she", "she"),
    ("shi", "shi"),
    ("sho", "sho"),
    ("shu", "shu"),
    ("si", "shi"),
    ("so", "so"),
    ("su", "su"),
    ("sya", "sha"),
    ("syo", "sho"),
    ("syu", "shu"),
    ("ta", "ta"),
    ("te", "te"),
    ("ti", "chi"),
    ("to", "to"),
    ("tsu", "tsu"),
    ("tu", "tsu"),
    ("tya", "cha"),
    ("tyo", "cho"),
    ("tyu", "chu"),
    ("u", "u"),
    ("va", "va"),
    ("ve", "ve"),
    ("vi", "vi"),
    ("vo", "vo"),
    ("vu", "vu"),
    ("wa", "wa"),
    ("we", "e"),
    ("wi", "i"),
    ("wo", "o"),
    ("ya", "ya"),
    ("yo", "yo"),
    ("yu", "yu"),
    ("za", "za"),
    ("ze", "ze"),
    ("zi", "ji"),
    ("zo", "zo"),
    ("zu", "zu"),
    ("zya", "ja"),
    ("zyo", "jo"),
    ("zyu", "ju"),
];

fn lookup_romaji(s: &[u8]) -> Option<&'static str> {
    let s = std::str::from_utf8(s).ok()?;
    ROMAJI
        .binary_search_by(|(k, _)| (*k).cmp(s))
        .ok()
        .and_then(|i| ROMAJI.get(i))
        .map(|(_, v)| *v)
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'i' | b'u' | b'e' | b'o')
}

/// Parse lowercase ASCII romaji into morae. `None` if the token is not valid romaji in any
/// of the supported systems (e.g. "scholz", "smith": consonant clusters, L, final consonants).
pub(crate) fn parse_romaji(s: &str, out: &mut Vec<Mora>) -> Option<()> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if !c.is_ascii_lowercase() {
            return None;
        }
        if is_vowel(c) {
            out.push(Mora::Syl(lookup_romaji(&b[i..=i])?));
            i += 1;
            continue;
        }
        match c {
            b'n' => match next {
                Some(v) if is_vowel(v) || v == b'y' => {}
                // "nn": ん; if a vowel follows, the second n starts the next syllable.
                Some(b'n') => {
                    out.push(Mora::N);
                    let after = b.get(i + 2).copied();
                    i += if after.is_some_and(|v| is_vowel(v) || v == b'y') {
                        1
                    } else {
                        2
                    };
                    continue;
                }
                _ => {
                    out.push(Mora::N);
                    i += 1;
                    continue;
                }
            },
            b'm' if matches!(next, Some(b'b' | b'm' | b'p')) => {
                out.push(Mora::N);
                i += 1;
                continue;
            }
            // Hepburn "OH" long vowel: H after an O-final mora, not starting a syllable.
            b'h' if !next.is_some_and(|v| is_vowel(v) || v == b'y')
                && matches!(out.last(), Some(Mora::Syl(s)) if s.ends_with('o')) =>
            {
                out.push(Mora::Long);
                i += 1;
                continue;
            }
            _ => {}
        }
        // Geminate consonant: kk, ss, tt, pp, ..., and "tch".
        if next == Some(c) || (c == b't' && next == Some(b'c')) {
            if matches!(c, b'a' | b'i' | b'u' | b'e' | b'o' | b'n' | b'y' | b'w') {
                return None;
            }
            out.push(Mora::Sokuon);
            i += 1;
            continue;
        }
        let mut matched = false;
        for len in (2..=3).rev() {
            if let Some(chunk) = b.get(i..i + len) {
                if let Some(syl) = lookup_romaji(chunk) {
                    out.push(Mora::Syl(syl));
                    i += len;
                    matched = true;
                    break;
                }
            }
        }
        if !matched {
            return None;
        }
    }
    // A trailing sokuon is not a reading.
    if matches!(out.last(), Some(Mora::Sokuon)) {
        return None;
    }
    Some(())
}

/// Hiragana (U+3041..U+3096) to its syllable; small kana map to their vowel/ya forms.
fn hira_syl(c: char) -> Option<&'static str> {
    const TABLE: [&str; 86] = [
        "a", "a", "i", "i", "u", "u", "e", "e", "o", "o", // ぁあぃいぅうぇえぉお
        "ka", "ga", "ki", "gi", "ku", "gu", "ke", "ge", "ko", "go", // か..ご
        "sa", "za", "shi", "ji", "su", "zu", "se", "ze", "so", "zo", // さ..ぞ
        "ta", "da", "chi", "ji", "", "tsu", "zu", "te", "de", "to",
        "do", // た..ど (っ = "")
        "na", "ni", "nu", "ne", "no", // な..の
        "ha", "ba", "pa", "hi", "bi", "pi", "fu", "bu", "pu", "he", "be", "pe", "ho", "bo",
        "po", // は..ぽ
        "ma", "mi", "mu", "me", "mo", // ま..も
        "ya", "ya", "yu", "yu", "yo", "yo", // ゃやゅゆょよ
        "ra", "ri", "ru", "re", "ro", // ら..ろ
        "wa", "wa", "i", "e", "o", "", "vu", "ka", "ke", // ゎわゐゑをんゔゕゖ
    ];
    let idx = (c as u32).checked_sub(0x3041)? as usize;
    TABLE.get(idx).copied().filter(|s| !s.is_empty())
}

fn is_small(c: char) -> bool {
    matches!(
        c,
        'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' | 'ゃ' | 'ゅ' | 'ょ' | 'ゎ'
    )
}

/// Half-width katakana U+FF66..U+FF9D as full-width katakana.
const HALF_WIDTH: [char; 56] = [
    'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー', 'ア', 'イ', 'ウ', 'エ', 'オ',
    'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ', 'チ', 'ツ', 'テ', 'ト', 'ナ',
    'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ', 'ム', 'メ', 'モ', 'ヤ', 'ユ',
    'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];

/// Whether `c` is a kana character (or a kana mark) this module understands.
pub(crate) fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x3096 | 0x3099..=0x309C | 0x30A1..=0x30FA | 0x30FC | 0xFF66..=0xFF9F)
}

/// Normalise one kana character to hiragana; voicing marks to combining form.
fn to_hiragana(c: char) -> char {
    let c = match c as u32 {
        0xFF66..=0xFF9D => HALF_WIDTH
            .get((c as u32 - 0xFF66) as usize)
            .copied()
            .unwrap_or(c),
        0xFF9E | 0x309B => '\u{3099}',
        0xFF9F | 0x309C => '\u{309A}',
        _ => c,
    };
    match c as u32 {
        0x30A1..=0x30F6 => char::from_u32(c as u32 - 0x60).unwrap_or(c),
        _ => c,
    }
}

/// Apply a (han)dakuten to a hiragana character.
fn voice(c: char, handaku: bool) -> char {
    let u = c as u32;
    let voiced = match u {
        // か..ぢ: voiceless at even offsets from か (U+304B) up to ち (U+3061)
        0x304B..=0x3062 if (u - 0x304B) % 2 == 0 && !handaku => u + 1,
        0x3064 | 0x3066 | 0x3068 if !handaku => u + 1, // つてと
        0x306F..=0x307D if (u - 0x306F) % 3 == 0 => u + if handaku { 2 } else { 1 },
        0x3046 if !handaku => 0x3094, // う -> ゔ
        _ => u,
    };
    char::from_u32(voiced).unwrap_or(c)
}

/// Parse kana (hiragana, katakana, half-width katakana) into morae.
pub(crate) fn parse_kana(s: &str, out: &mut Vec<Mora>) -> Option<()> {
    // First normalise to hiragana with voicing marks applied.
    let mut chars: Vec<char> = Vec::with_capacity(s.len() / 3 + 1);
    for c in s.chars() {
        let h = to_hiragana(c);
        match h {
            '\u{3099}' | '\u{309A}' => {
                let last = chars.last_mut()?;
                *last = voice(*last, h == '\u{309A}');
            }
            _ => chars.push(h),
        }
    }
    let start = out.len();
    for &c in &chars {
        match c {
            'ん' => out.push(Mora::N),
            'っ' => out.push(Mora::Sokuon),
            'ー' | '〜' => out.push(Mora::Long),
            _ => {
                let syl = hira_syl(c)?;
                if is_small(c) {
                    if let Some(Mora::Syl(prev)) = out.get(start..).and_then(|s| s.last()) {
                        if let Some(comb) = combine(prev, c) {
                            if let Some(last) = out.last_mut() {
                                *last = Mora::Syl(comb);
                            }
                            continue;
                        }
                    }
                }
                out.push(Mora::Syl(syl));
            }
        }
    }
    if out.len() == start {
        return None;
    }
    Some(())
}

/// Combine a syllable with a following small kana (きゃ, シェ, ファ, ...).
fn combine(prev: &str, small: char) -> Option<&'static str> {
    Some(match (prev, small) {
        ("ki", 'ゃ') => "kya",
        ("ki", 'ゅ') => "kyu",
        ("ki", 'ょ') => "kyo",
        ("gi", 'ゃ') => "gya",
        ("gi", 'ゅ') => "gyu",
        ("gi", 'ょ') => "gyo",
        ("shi", 'ゃ') => "sha",
        ("shi", 'ゅ') => "shu",
        ("shi", 'ょ') => "sho",
        ("shi", 'ぇ') => "she",
        ("ji", 'ゃ') => "ja",
        ("ji", 'ゅ') => "ju",
        ("ji", 'ょ') => "jo",
        ("ji", 'ぇ') => "je",
        ("chi", 'ゃ') => "cha",
        ("chi", 'ゅ') => "chu",
        ("chi", 'ょ') => "cho",
        ("chi", 'ぇ') => "che",
        ("ni", 'ゃ') => "nya",
        ("ni", 'ゅ') => "nyu",
        ("ni", 'ょ') => "nyo",
        ("hi", 'ゃ') => "hya",
        ("hi", 'ゅ') => "hyu",
        ("hi", 'ょ') => "hyo",
        ("bi", 'ゃ') => "bya",
        ("bi", 'ゅ') => "byu",
        ("bi", 'ょ') => "byo",
        ("pi", 'ゃ') => "pya",
        ("pi", 'ゅ') => "pyu",
        ("pi", 'ょ') => "pyo",
        ("mi", 'ゃ') => "mya",
        ("mi", 'ゅ') => "myu",
        ("mi", 'ょ') => "myo",
        ("ri", 'ゃ') => "rya",
        ("ri", 'ゅ') => "ryu",
        ("ri", 'ょ') => "ryo",
        ("fu", 'ぁ') => "fa",
        ("fu", 'ぃ') => "fi",
        ("fu", 'ぇ') => "fe",
        ("fu", 'ぉ') => "fo",
        ("vu", 'ぁ') => "va",
        ("vu", 'ぃ') => "vi",
        ("vu", 'ぇ') => "ve",
        ("vu", 'ぉ') => "vo",
        ("u", 'ぃ') => "i",
        ("u", 'ぇ') => "e",
        ("u", 'ぉ') => "o",
        ("te", 'ぃ') => "chi",
        ("de", 'ぃ') => "ji",
        ("to", 'ぅ') => "tsu",
        ("do", 'ぅ') => "zu",
        _ => return None,
    })
}

fn last_vowel(s: &str) -> Option<u8> {
    s.as_bytes().last().copied().filter(|&b| is_vowel(b))
}

/// Render the canonical phonetic key.
///
/// Long vowels are collapsed so that every romanisation of one reading gives one key:
/// `oo`, `ou`, `oh`, `ō` -> `o`; `uu`, `ū` -> `u`; `aa` -> `a`; `ee` -> `e`; ー and the
/// Hepburn H are dropped. `ei` and `ii` are kept, as in passports (KEIKO, NIIGATA, NIIMI).
/// ん is always `n`; っ doubles the next consonant (`tch` before ch).
pub(crate) fn render_key(morae: &[Mora], out: &mut String) {
    let mut prev_vowel: Option<u8> = None;
    let mut sokuon = false;
    for m in morae {
        match *m {
            Mora::Long => {}
            Mora::N => {
                sokuon = false;
                out.push('n');
                prev_vowel = None;
            }
            Mora::Sokuon => sokuon = true,
            Mora::Syl(s) => {
                let bytes = s.as_bytes();
                if bytes.len() == 1 {
                    let v = bytes[0];
                    let long = match (prev_vowel, v) {
                        (Some(p), v) if p == v && v != b'i' => true,
                        (Some(b'o'), b'u') => true,
                        _ => false,
                    };
                    sokuon = false;
                    if long {
                        continue;
                    }
                    out.push(v as char);
                    prev_vowel = Some(v);
                    continue;
                }
                if sokuon {
                    out.push(if s.starts_with("ch") {
                        't'
                    } else {
                        bytes[0] as char
                    });
                    sokuon = false;
                }
                out.push_str(s);
                prev_vowel = last_vowel(s);
            }
        }
    }
}

/// Render passport (MOFA) Hepburn, uppercase: long O/U dropped (final おお kept as OO),
/// ん before B/M/P as M, っ before CH as T, ー dropped.
pub(crate) fn render_hepburn(morae: &[Mora], out: &mut String) {
    let mut prev_vowel: Option<u8> = None;
    let mut sokuon = false;
    for (i, m) in morae.iter().enumerate() {
        match *m {
            Mora::Long => {}
            Mora::N => {
                sokuon = false;
                let next_bmp = matches!(
                    morae.get(i + 1),
                    Some(Mora::Syl(s)) if matches!(s.as_bytes().first(), Some(b'b' | b'm' | b'p'))
                );
                out.push(if next_bmp { 'M' } else { 'N' });
                prev_vowel = None;
            }
            Mora::Sokuon => sokuon = true,
            Mora::Syl(s) => {
                let bytes = s.as_bytes();
                if bytes.len() == 1 {
                    let v = bytes[0];
                    let is_final = i + 1 == morae.len();
                    let drop = match (prev_vowel, v) {
                        (Some(b'o'), b'o') => !is_final,
                        (Some(b'o'), b'u') | (Some(b'u'), b'u') => true,
                        _ => false,
                    };
                    sokuon = false;
                    if drop {
                        continue;
                    }
                    out.push(v.to_ascii_uppercase() as char);
                    prev_vowel = Some(v);
                    continue;
                }
                if sokuon {
                    out.push(if s.starts_with("ch") {
                        'T'
                    } else {
                        bytes[0].to_ascii_uppercase() as char
                    });
                    sokuon = false;
                }
                for &b in bytes {
                    out.push(b.to_ascii_uppercase() as char);
                }
                prev_vowel = last_vowel(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn romaji_table_is_sorted() {
        assert!(ROMAJI.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn voicing() {
        assert_eq!(voice('か', false), 'が');
        assert_eq!(voice('ち', false), 'ぢ');
        assert_eq!(voice('つ', false), 'づ');
        assert_eq!(voice('と', false), 'ど');
        assert_eq!(voice('は', true), 'ぱ');
        assert_eq!(voice('ほ', false), 'ぼ');
        assert_eq!(voice('う', false), 'ゔ');
    }
}
