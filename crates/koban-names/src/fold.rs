//! Character folding and tokenisation.

use crate::mora::is_kana;

/// The script of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// Latin letters and digits, folded to lowercase ASCII (Cyrillic and Greek are
    /// transliterated into this too).
    Latin,
    /// Kana (hiragana, katakana, half-width katakana).
    Kana,
    /// Kanji (CJK ideographs, 々).
    Kanji,
    /// Any other script (Arabic, Hangul, ...), lowercased.
    Other,
}

/// A token before classification.
#[derive(Debug, Clone)]
pub(crate) struct RawToken {
    pub text: String,
    pub script: Script,
    /// The token was directly followed by '.' and then a non-space character ("S.A.").
    pub dot_joined: bool,
}

/// What one input character contributes.
enum CharClass {
    /// Folded Latin letters/digits.
    Latin(&'static str),
    LatinChar(char),
    Kana(char),
    Kanji(char),
    Other(char),
    /// Macron / circumflex combining mark: lengthens the previous vowel.
    Lengthen,
    /// Ignored without splitting the token (apostrophes, other combining marks).
    Ignore,
    /// Splits tokens.
    Sep,
    /// Starts an alternative spelling ('/', '|').
    Alt,
    Open,
    Close,
    Dot,
}

fn is_kanji(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F | 0x3005 | 0x3006 | 0x3007 | 0x30F6)
}

/// Fold a lowercase Latin-1 / Latin Extended-A/B letter to ASCII. Macron and circumflex
/// vowels become doubled vowels (the Japanese long-vowel spellings SATŌ, SATÔ).
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'ã' | 'ä' | 'å' | 'ą' | 'ă' | 'ǎ' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ắ' | 'ặ' => {
            "a"
        }
        'â' | 'ā' => "aa",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
        'ď' | 'đ' | 'ð' | 'ḍ' => "d",
        'è' | 'é' | 'ë' | 'ę' | 'ě' | 'ė' | 'ĕ' | 'ẹ' | 'ế' | 'ề' | 'ể' | 'ệ' => {
            "e"
        }
        'ê' | 'ē' => "ee",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' | 'ǧ' => "g",
        'ĥ' | 'ħ' | 'ḥ' => "h",
        'ì' | 'í' | 'ï' | 'ĩ' | 'į' | 'ı' | 'ĭ' | 'ǐ' | 'ị' => "i",
        'î' | 'ī' => "ii",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'õ' | 'ö' | 'ø' | 'ő' | 'ŏ' | 'ǒ' | 'ọ' | 'ơ' | 'ố' | 'ồ' | 'ộ' => {
            "o"
        }
        'ô' | 'ō' => "oo",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' | 'ṣ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' | 'ṭ' => "t",
        'ù' | 'ú' | 'ü' | 'ũ' | 'ů' | 'ű' | 'ų' | 'ŭ' | 'ǔ' | 'ư' | 'ụ' => "u",
        'û' | 'ū' => "uu",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' | 'ẓ' => "z",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ĳ' => "ij",
        // Cyrillic (Russian, Ukrainian, Belarusian, Kazakh, Serbian).
        'а' | 'ә' => "a",
        'б' => "b",
        'в' => "v",
        'г' | 'ґ' => "g",
        'ғ' => "gh",
        'д' => "d",
        'е' | 'ё' | 'э' => "e",
        'є' => "ye",
        'ж' => "zh",
        'з' => "z",
        'и' | 'й' | 'і' => "i",
        'ї' => "yi",
        'к' => "k",
        'қ' => "q",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'ң' => "ng",
        'о' | 'ө' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' | 'ў' | 'ұ' | 'ү' => "u",
        'ф' => "f",
        'х' => "kh",
        'һ' => "h",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' | 'ь' => "",
        'ы' => "y",
        'ю' => "yu",
        'я' => "ya",
        'ђ' => "dj",
        'ј' => "j",
        'љ' => "lj",
        'њ' => "nj",
        'ћ' => "c",
        'џ' => "dz",
        // Greek.
        'α' | 'ά' => "a",
        'β' => "v",
        'γ' => "g",
        'δ' => "d",
        'ε' | 'έ' => "e",
        'ζ' => "z",
        'η' | 'ή' | 'ι' | 'ί' | 'ϊ' | 'ΐ' => "i",
        'θ' => "th",
        'κ' => "k",
        'λ' => "l",
        'μ' => "m",
        'ν' => "n",
        'ξ' => "x",
        'ο' | 'ό' | 'ω' | 'ώ' => "o",
        'π' => "p",
        'ρ' => "r",
        'σ' | 'ς' => "s",
        'τ' => "t",
        'υ' | 'ύ' | 'ϋ' | 'ΰ' => "y",
        'φ' => "f",
        'χ' => "ch",
        'ψ' => "ps",
        _ => return None,
    })
}

fn classify(c: char) -> CharClass {
    if c.is_ascii() {
        return match c {
            'a'..='z' | '0'..='9' => CharClass::LatinChar(c),
            'A'..='Z' => CharClass::LatinChar(c.to_ascii_lowercase()),
            '\'' | '`' => CharClass::Ignore,
            '/' | '|' => CharClass::Alt,
            '(' | '[' | '{' => CharClass::Open,
            ')' | ']' | '}' => CharClass::Close,
            '.' => CharClass::Dot,
            _ => CharClass::Sep,
        };
    }
    let u = c as u32;
    // Full-width ASCII.
    if (0xFF01..=0xFF5E).contains(&u) {
        return char::from_u32(u - 0xFEE0).map_or(CharClass::Sep, classify);
    }
    match c {
        '\u{0304}' | '\u{0302}' => return CharClass::Lengthen,
        '\u{0300}'..='\u{036F}' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{02BB}' => {
            return CharClass::Ignore;
        }
        '（' | '【' | '「' | '『' | '〔' => return CharClass::Open,
        '）' | '】' | '」' | '』' | '〕' => return CharClass::Close,
        '・' | '･' | '　' | '、' | '，' | '。' | '‐' | '–' | '—' => {
            return CharClass::Sep;
        }
        _ => {}
    }
    if is_kana(c) {
        return CharClass::Kana(c);
    }
    if is_kanji(c) {
        return CharClass::Kanji(c);
    }
    if c.is_alphanumeric() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        if let Some(s) = fold_latin(lower) {
            return CharClass::Latin(s);
        }
        if lower.is_ascii() {
            return CharClass::LatinChar(lower);
        }
        return CharClass::Other(lower);
    }
    CharClass::Sep
}

/// A name split into alternatives; each alternative into tokens. Parenthesised parts
/// are returned separately (they may be a kana reading).
#[derive(Debug, Default)]
pub(crate) struct Tokenized {
    pub alts: Vec<Alt>,
}

#[derive(Debug, Default)]
pub(crate) struct Alt {
    pub main: Vec<RawToken>,
    pub paren: Vec<Vec<RawToken>>,
}

struct Builder {
    cur: String,
    script: Script,
    out: Vec<RawToken>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            cur: String::new(),
            script: Script::Latin,
            out: Vec::new(),
        }
    }
    fn flush(&mut self) {
        if !self.cur.is_empty() {
            self.out.push(RawToken {
                text: std::mem::take(&mut self.cur),
                script: self.script,
                dot_joined: false,
            });
        }
    }
    fn push(&mut self, script: Script, s: &str) {
        if s.is_empty() {
            return;
        }
        // Kana directly attached to kanji (okurigana-like, e.g. 田中ゆかり) splits.
        if !self.cur.is_empty() && self.script != script {
            self.flush();
        }
        self.script = script;
        self.cur.push_str(s);
    }
    fn lengthen(&mut self) {
        if self.script == Script::Latin {
            if let Some(last) = self.cur.chars().last() {
                if matches!(last, 'a' | 'e' | 'i' | 'o' | 'u') {
                    self.cur.push(last);
                }
            }
        }
    }
}

/// Split a name into alternatives and tokens.
pub(crate) fn tokenize(name: &str) -> Tokenized {
    let mut result = Tokenized::default();
    let mut alt = Alt::default();
    let mut main = Builder::new();
    let mut paren: Option<Builder> = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let b = match paren.as_mut() {
            Some(p) => p,
            None => &mut main,
        };
        let mut buf = [0u8; 4];
        match classify(c) {
            CharClass::LatinChar(l) => b.push(Script::Latin, l.encode_utf8(&mut buf)),
            CharClass::Latin(s) => b.push(Script::Latin, s),
            CharClass::Kana(k) => b.push(Script::Kana, k.encode_utf8(&mut buf)),
            CharClass::Kanji(k) => b.push(Script::Kanji, k.encode_utf8(&mut buf)),
            CharClass::Other(o) => b.push(Script::Other, o.encode_utf8(&mut buf)),
            CharClass::Lengthen => b.lengthen(),
            CharClass::Ignore => {}
            CharClass::Sep => b.flush(),
            CharClass::Dot => {
                let was = !b.cur.is_empty();
                b.flush();
                let next_word = chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() && !n.is_whitespace());
                if was && next_word {
                    if let Some(t) = b.out.last_mut() {
                        t.dot_joined = true;
                    }
                }
            }
            CharClass::Open => {
                b.flush();
                if paren.is_none() {
                    paren = Some(Builder::new());
                }
            }
            CharClass::Close => {
                if let Some(mut p) = paren.take() {
                    p.flush();
                    if !p.out.is_empty() {
                        alt.paren.push(p.out);
                    }
                }
            }
            CharClass::Alt => {
                if let Some(mut p) = paren.take() {
                    p.flush();
                    if !p.out.is_empty() {
                        alt.paren.push(p.out);
                    }
                }
                main.flush();
                alt.main = std::mem::take(&mut main.out);
                result.alts.push(std::mem::take(&mut alt));
            }
        }
    }
    if let Some(mut p) = paren.take() {
        p.flush();
        if !p.out.is_empty() {
            alt.paren.push(p.out);
        }
    }
    main.flush();
    alt.main = main.out;
    result.alts.push(alt);
    result
        .alts
        .retain(|a| !a.main.is_empty() || !a.paren.is_empty());
    for a in &mut result.alts {
        merge_dotted(&mut a.main);
        for p in &mut a.paren {
            merge_dotted(p);
        }
    }
    result
}

/// Merge dotted single letters ("S.A.", "U.S.", "L.L.C.") into one token.
fn merge_dotted(tokens: &mut Vec<RawToken>) {
    let mut out: Vec<RawToken> = Vec::with_capacity(tokens.len());
    let mut joining = false;
    for t in tokens.drain(..) {
        let single = t.script == Script::Latin && t.text.len() == 1;
        if joining && single {
            if let Some(last) = out.last_mut() {
                last.text.push_str(&t.text);
                last.dot_joined = t.dot_joined;
                joining = t.dot_joined;
                continue;
            }
        }
        joining = single && t.dot_joined;
        out.push(t);
    }
    *tokens = out;
}

/// Replace digits used as letters in mixed tokens ("Ig0r", "Sech1n").
pub(crate) fn deleet(s: &mut String) {
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = s.bytes().any(|b| b.is_ascii_alphabetic());
    if !(has_digit && has_alpha) {
        return;
    }
    // Ordinals ("1st", "2nd", "44th") stay as they are.
    if s.ends_with("st") || s.ends_with("nd") || s.ends_with("rd") || s.ends_with("th") {
        let head = &s[..s.len() - 2];
        if head.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
    }
    *s = s
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'i',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
}

/// Old (itaiji / kyūjitai) kanji forms common in names, folded to the standard form.
pub(crate) fn fold_kanji(c: char) -> char {
    match c {
        '髙' => '高',
        '﨑' | '嵜' | '碕' => '崎',
        '邊' | '邉' => '辺',
        '澤' => '沢',
        '濱' => '浜',
        '櫻' => '桜',
        '廣' => '広',
        '國' => '国',
        '眞' => '真',
        '惠' => '恵',
        '德' => '徳',
        '齋' => '斎',
        '齊' => '斉',
        '藏' => '蔵',
        '龜' => '亀',
        '實' => '実',
        '榮' => '栄',
        '壽' => '寿',
        '豐' => '豊',
        '學' => '学',
        '圓' => '円',
        '會' => '会',
        '驛' => '駅',
        '縣' => '県',
        '彌' => '弥',
        '槇' => '槙',
        '冨' => '富',
        '嶋' | '嶌' => '島',
        '峯' => '峰',
        '淺' => '浅',
        '檜' => '桧',
        '增' => '増',
        '靜' => '静',
        '滿' => '満',
        '曾' => '曽',
        _ => c,
    }
}
