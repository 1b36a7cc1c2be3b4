//! Address text normalisation.
//!
//! Two layers:
//! * [`normalize_address`] (public): width folding, whitespace removal, dash
//!   unification, `ヶ` → `ケ`, Arabic chōme numbers → kanji (`1丁目` → `一丁目`).
//!   Idempotent.
//! * [`match_key`] (internal): a further folding used on both sides of every
//!   comparison (`ケ/ヵ/が/ガ` and `の/ノ/之` between kanji, a few old kanji forms).

/// Normalise a Japanese address for display and matching.
///
/// * full-width ASCII (`０-９`, `Ａ-Ｚ`, `－`, ...) → ASCII; half-width katakana → full width;
/// * all whitespace (including U+3000) removed;
/// * dash look-alikes (`‐ ‑ ‒ – — ― − ─ ━`, and `ー` right after a digit) → `-`;
/// * `ヶ` → `ケ`;
/// * a number of 1–99 written in Arabic digits directly before `丁目` becomes kanji
///   (`1丁目`, `１丁目` → `一丁目`), the form the address registers use.
///
/// The function is total and idempotent: `normalize_address(&normalize_address(s)) == normalize_address(s)`.
pub fn normalize_address(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{FF61}'..='\u{FF9F}' => {
                if let Some(prev) = out.last_mut()
                    && let Some(combined) = combine_mark(*prev, c)
                {
                    *prev = combined;
                    continue;
                }
                halfwidth_kana(c)
            }
            _ => c,
        };
        let c = match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{2500}' | '\u{2501}' | '\u{FE63}' => '-',
            'ー' if out.last().is_some_and(char::is_ascii_digit) => '-',
            'ヶ' => 'ケ',
            _ => c,
        };
        if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    chome_digits_to_kanji(&out)
}

/// Replace `<1-99 in ASCII digits>丁目` by the kanji numeral.
fn chome_digits_to_kanji(chars: &[char]) -> String {
    let mut s = String::with_capacity(chars.len() * 3);
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let before_chome = chars.get(i) == Some(&'丁') && chars.get(i + 1) == Some(&'目');
            match digits.parse::<u32>().ok().and_then(kanji_number) {
                Some(k) if before_chome => s.push_str(&k),
                _ => s.push_str(&digits),
            }
        } else {
            s.push(chars[i]);
            i += 1;
        }
    }
    s
}

/// 1..=99 as a kanji numeral (`1` → `一`, `10` → `十`, `21` → `二十一`).
pub(crate) fn kanji_number(n: u32) -> Option<String> {
    const D: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    if !(1..=99).contains(&n) {
        return None;
    }
    let (tens, ones) = (n / 10, n % 10);
    let mut s = String::new();
    if tens > 1 {
        s.push(D[tens as usize]);
    }
    if tens >= 1 {
        s.push('十');
    }
    if ones > 0 {
        s.push(D[ones as usize]);
    }
    Some(s)
}

/// Parse a kanji numeral of 1..=99 (`一`, `十`, `二十三`); `None` otherwise.
pub(crate) fn parse_kanji_number(s: &str) -> Option<u32> {
    let digit = |c: char| {
        "〇一二三四五六七八九"
            .chars()
            .position(|d| d == c)
            .map(|p| p as u32)
    };
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [a] if *a == '十' => Some(10),
        [a] => digit(*a).filter(|d| *d > 0),
        ['十', b] => digit(*b).filter(|d| *d > 0).map(|d| 10 + d),
        [a, '十'] => digit(*a).filter(|d| *d > 1).map(|d| d * 10),
        [a, '十', b] => {
            let (a, b) = (digit(*a)?, digit(*b)?);
            (a > 1 && b > 0).then_some(a * 10 + b)
        }
        _ => None,
    }
}

fn halfwidth_kana(c: char) -> char {
    const TABLE: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";
    let idx = (c as u32).wrapping_sub(0xFF61) as usize;
    TABLE.chars().nth(idx).unwrap_or(c)
}

/// Combine a half-width (semi-)voiced mark with the preceding full-width kana.
fn combine_mark(prev: char, mark: char) -> Option<char> {
    const BASE: &str = "カキクケコサシスセソタチツテトハヒフヘホウ";
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ";
    const HBASE: &str = "ハヒフヘホ";
    const SEMI: &str = "パピプペポ";
    let (from, to) = match mark {
        '\u{FF9E}' => (BASE, VOICED),
        '\u{FF9F}' => (HBASE, SEMI),
        _ => return None,
    };
    let i = from.chars().position(|b| b == prev)?;
    to.chars().nth(i)
}

/// CJK unified ideograph (incl. 々 and 〆 which behave like kanji in names).
pub(crate) fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '々' | '〆')
}

/// Internal matching key: [`normalize_address`] plus spelling folds that vary
/// between registers and callers. Applied identically to data and queries; the
/// key has the same number of characters as its input (character-wise folding),
/// so positions in the key map 1:1 to positions in the normalised string.
pub(crate) fn match_key(normalized: &str) -> Vec<char> {
    let chars: Vec<char> = normalized.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        // The ends of the text count as kanji context, so that type-ahead fragments
        // (`旭ヶ`, `ノ内`) fold like whole names.
        let prev_k = i == 0 || is_kanji(chars[i - 1]);
        let next_k = chars.get(i + 1).is_none_or(|n| is_kanji(*n));
        let folded = match c {
            'ケ' | 'ヵ' | 'が' | 'ガ' | 'ヶ' | 'ｹ' if prev_k && next_k => 'ケ',
            'ノ' | '之' | 'の' if prev_k && next_k => 'の',
            _ => fold_variant_kanji(c),
        };
        out.push(folded);
    }
    out
}

/// Old / variant kanji seen in place names, folded to the common form.
fn fold_variant_kanji(c: char) -> char {
    match c {
        '澤' => '沢',
        '邊' | '邉' => '辺',
        '濱' => '浜',
        '國' => '国',
        '嶋' | '嶌' => '島',
        '齋' | '齊' => '斎',
        '髙' => '高',
        '﨑' | '嵜' | '碕' => '崎',
        '櫻' => '桜',
        '廣' => '広',
        '舘' => '館',
        '龍' => '竜',
        '冨' => '富',
        '檜' => '桧',
        '藪' | '籔' => '薮',
        '萬' => '万',
        '與' => '与',
        '瀧' => '滝',
        '眞' => '真',
        '淺' => '浅',
        '驛' => '駅',
        '鐵' => '鉄',
        '壽' => '寿',
        '黑' => '黒',
        _ => c,
    }
}

/// Key of a name as stored in the data: normalised, folded, as a `String`.
pub(crate) fn key_of(name: &str) -> String {
    match_key(&normalize_address(name)).into_iter().collect()
}

/// Levenshtein distance over characters (small strings only).
pub(crate) fn levenshtein(a: &[char], b: &[char]) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_spaces_dashes() {
        assert_eq!(
            normalize_address("東京都　千代田区 丸の内１－９－１"),
            "東京都千代田区丸の内1-9-1"
        );
        assert_eq!(normalize_address("ＡＢＣ ａｂｃ"), "ABCabc");
        assert_eq!(normalize_address("1ー2―3"), "1-2-3");
        assert_eq!(normalize_address("ケーキ"), "ケーキ");
        assert_eq!(normalize_address("ｶﾞｰﾃﾞﾝ ﾊﾟﾚｽ"), "ガーデンパレス");
    }

    #[test]
    fn chome_forms() {
        assert_eq!(normalize_address("丸の内1丁目"), "丸の内一丁目");
        assert_eq!(normalize_address("丸の内１丁目"), "丸の内一丁目");
        assert_eq!(normalize_address("丸の内一丁目"), "丸の内一丁目");
        assert_eq!(normalize_address("本町12丁目"), "本町十二丁目");
        assert_eq!(normalize_address("本町20丁目"), "本町二十丁目");
        assert_eq!(normalize_address("本町0丁目"), "本町0丁目");
        assert_eq!(normalize_address("旭ヶ丘2丁目"), "旭ケ丘二丁目");
    }

    #[test]
    fn kanji_numbers_round_trip() {
        for n in 1..=99 {
            let k = kanji_number(n).unwrap_or_default();
            assert_eq!(parse_kanji_number(&k), Some(n), "{k}");
        }
        assert_eq!(parse_kanji_number("〇"), None);
        assert_eq!(parse_kanji_number("一十"), None);
    }

    #[test]
    fn keys_fold_variants() {
        assert_eq!(key_of("旭ケ丘"), key_of("旭ヶ丘"));
        assert_eq!(key_of("旭ケ丘"), key_of("旭が丘"));
        assert_eq!(key_of("自由ガ丘"), key_of("自由が丘"));
        assert_eq!(key_of("丸の内"), key_of("丸ノ内"));
        assert_eq!(key_of("丸之内"), key_of("丸の内"));
        assert_eq!(key_of("長谷川"), "長谷川");
        assert_eq!(key_of("ケーキ"), "ケーキ");
        assert_eq!(key_of("中澤"), key_of("中沢"));
    }

    #[test]
    fn edit_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&c("丸の内"), &c("丸の内")), 0);
        assert_eq!(levenshtein(&c("丸の内"), &c("丸之内")), 1);
        assert_eq!(levenshtein(&c(""), &c("abc")), 3);
        assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
    }
}
