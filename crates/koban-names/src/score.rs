//! Scoring of parsed names.

use crate::{Class, NameKey, Token, View};

/// Cap on the score of Japanese readings that differ at all: a one-mora difference in
/// a long name must stay below the threshold (different people, e.g. SATO / SAITO).
const JP_FUZZY_CAP: f64 = 0.75;
/// Factor for a Japanese name compared with only part of another (family name alone).
const JP_PARTIAL: f64 = 0.7;
/// Minimum similarity for two world-name tokens to be aligned.
const MIN_PAIR: f64 = 0.5;
/// Weight multiplier for name parts unmatched on both sides.
const SUBSTITUTION: f64 = 2.0;
/// Weight multiplier for name parts present on one side only.
const EXTRA: f64 = 0.1;
/// Factor when both names carry legal forms and they differ.
const LEGAL_MISMATCH: f64 = 0.9;
/// Factor for a one-word name compared with a longer one.
const SINGLE_WORD: f64 = 0.85;
/// Aligned tokens below this similarity are treated as partly different names.
const LOW_SIM: f64 = 0.8;

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'i' | b'u' | b'e' | b'o')
}

fn pack(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// The mora with its initial consonant devoiced (ga -> ka, ji -> shi, bu -> hu).
fn devoiced(m: &[u8]) -> Option<u32> {
    let (head, rest): (&[u8], &[u8]) = match m.split_first()? {
        (b'g', r) => (b"k", r),
        (b'z', r) => (b"s", r),
        (b'd', r) => (b"t", r),
        (b'b' | b'p', r) => (b"h", r),
        (b'j', r) => (b"sh", r),
        _ => return None,
    };
    let mut buf = [0u8; 8];
    let n = head.len() + rest.len();
    buf.get_mut(..head.len())?.copy_from_slice(head);
    buf.get_mut(head.len()..n)?.copy_from_slice(rest);
    Some(pack(buf.get(..n)?))
}

/// Split a canonical key into morae, packed as (code, devoiced code).
pub(crate) fn key_morae(key: &str) -> Vec<(u32, u32)> {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2 + 1);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let end = if is_vowel(c) || (c == b'n' && !next.is_some_and(|n| is_vowel(n) || n == b'y')) {
            i + 1
        } else if next == Some(c) || (c == b't' && next == Some(b'c')) {
            out.push((u32::from(b'q'), u32::from(b'q')));
            i += 1;
            continue;
        } else {
            let mut j = i + 1;
            while j < b.len() && !is_vowel(b[j]) {
                j += 1;
            }
            (j + 1).min(b.len())
        };
        let m = &b[i..end];
        let code = pack(m);
        let dev = devoiced(m).unwrap_or(code);
        out.push((code, dev));
        i = end;
    }
    out
}

/// Weighted edit distance on morae; a voicing-only difference (ka/ga, shi/ji) costs 0.5.
fn mora_distance(a: &[(u32, u32)], b: &[(u32, u32)]) -> f64 {
    let mut prev: Vec<f64> = (0..=b.len()).map(|j| j as f64).collect();
    let mut cur = vec![0.0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = (i + 1) as f64;
        for (j, y) in b.iter().enumerate() {
            let sub = if x.0 == y.0 {
                0.0
            } else if x.1 == y.1 {
                0.5
            } else {
                1.0
            };
            cur[j + 1] = (prev[j] + sub).min(prev[j + 1] + 1.0).min(cur[j] + 1.0);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn mora_sim(a: &[(u32, u32)], b: &[(u32, u32)]) -> f64 {
    let n = a.len().max(b.len());
    if n == 0 {
        return 0.0;
    }
    (1.0 - mora_distance(a, b) / n as f64).max(0.0)
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions).
fn osa(a: &[char], b: &[char]) -> usize {
    let n = b.len();
    let mut prev2: Vec<usize> = vec![0; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur: Vec<usize> = vec![0; n + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..n {
            let cost = usize::from(a[i] != b[j]);
            let mut v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                v = v.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n]
}

fn edit_sim(a: &[char], b: &[char]) -> f64 {
    let n = a.len().max(b.len());
    if n == 0 {
        return 0.0;
    }
    1.0 - osa(a, b) as f64 / n as f64
}

pub(crate) fn compare_keys(a: &NameKey, b: &NameKey) -> f64 {
    if !a.plain.is_empty() && a.plain == b.plain {
        return 1.0;
    }
    let mut best: f64 = 0.0;
    for va in &a.views {
        for vb in &b.views {
            let s = match (va, vb) {
                (View::Kanji(x), View::Kanji(y)) => kanji_score(x, y),
                (View::Phonetic(x), View::Phonetic(y)) => {
                    // Canonical argument order makes the score exactly symmetric.
                    let ord = x.iter().map(|t| &t.text).cmp(y.iter().map(|t| &t.text));
                    if ord.is_le() {
                        phonetic_score(x, y)
                    } else {
                        phonetic_score(y, x)
                    }
                }
                _ => continue,
            };
            if s > best {
                best = s;
                if best >= 1.0 {
                    return 1.0;
                }
            }
        }
    }
    if best.is_finite() {
        best.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn kanji_score(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let ja: String = a.concat();
    let jb: String = b.concat();
    if ja == jb {
        return 1.0;
    }
    let rev: String = a.iter().rev().map(String::as_str).collect();
    if rev == jb {
        return 1.0;
    }
    let mut sa: Vec<&String> = a.iter().collect();
    let mut sb: Vec<&String> = b.iter().collect();
    sa.sort();
    sb.sort();
    if sa == sb {
        return 1.0;
    }
    // Partial: shared whole tokens (a family name alone is not the person).
    let total = ja.chars().count() + jb.chars().count();
    let shared: usize = a
        .iter()
        .filter(|t| b.contains(t))
        .map(|t| 2 * t.chars().count())
        .sum();
    0.5 * shared as f64 / total.max(1) as f64
}

fn phonetic_score(a: &[Token], b: &[Token]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let japanese = |t: &[Token]| t.iter().all(|t| t.key.is_some() && t.class == Class::Word);
    if japanese(a) && japanese(b) {
        japanese_score(a, b)
    } else {
        world_score(a, b)
    }
}

fn key_of(t: &Token) -> &str {
    t.key.as_deref().unwrap_or("")
}

fn joined_eq<'a>(
    a: impl Iterator<Item = &'a Token>,
    b: impl Iterator<Item = &'a Token> + Clone,
) -> bool {
    let mut bs = b.flat_map(|t| key_of(t).bytes());
    for t in a {
        for c in key_of(t).bytes() {
            if bs.next() != Some(c) {
                return false;
            }
        }
    }
    bs.next().is_none()
}

fn jp_token_sim(x: &Token, y: &Token) -> f64 {
    if x.key == y.key {
        1.0
    } else {
        JP_FUZZY_CAP * mora_sim(&x.morae, &y.morae)
    }
}

/// Best one-to-one assignment maximising the minimum similarity, for small n.
fn best_min_assignment(a: &[Token], b: &[Token], sim: impl Fn(&Token, &Token) -> f64) -> f64 {
    let n = a.len();
    if n != b.len() || n == 0 {
        return 0.0;
    }
    if n > 4 {
        let straight = a.iter().zip(b).map(|(x, y)| sim(x, y)).fold(1.0, f64::min);
        let reversed = a
            .iter()
            .zip(b.iter().rev())
            .map(|(x, y)| sim(x, y))
            .fold(1.0, f64::min);
        return straight.max(reversed);
    }
    let mut perm: Vec<usize> = (0..n).collect();
    let mut best: f64 = 0.0;
    permute(&mut perm, 0, &mut |p| {
        let s = a
            .iter()
            .zip(p)
            .map(|(x, &j)| b.get(j).map_or(0.0, |y| sim(x, y)))
            .fold(1.0, f64::min);
        if s > best {
            best = s;
        }
    });
    best
}

fn permute(p: &mut [usize], k: usize, f: &mut impl FnMut(&[usize])) {
    if k == p.len() {
        f(p);
        return;
    }
    for i in k..p.len() {
        p.swap(k, i);
        permute(p, k + 1, f);
        p.swap(k, i);
    }
}

fn japanese_score(a: &[Token], b: &[Token]) -> f64 {
    // Family and given name run together, in either order ("さとうはなこ").
    if joined_eq(a.iter(), b.iter())
        || joined_eq(a.iter().rev(), b.iter())
        || joined_eq(a.iter(), b.iter().rev())
    {
        return 1.0;
    }
    if a.len() == b.len() {
        return best_min_assignment(a, b, jp_token_sim);
    }
    // Different token counts: compare the run-together forms on morae, or the shorter
    // name against part of the longer one.
    let joined = |t: &[Token], rev: bool| -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        if rev {
            t.iter().rev().for_each(|t| v.extend_from_slice(&t.morae));
        } else {
            t.iter().for_each(|t| v.extend_from_slice(&t.morae));
        }
        v
    };
    let jb = joined(b, false);
    let whole =
        JP_FUZZY_CAP * mora_sim(&joined(a, false), &jb).max(mora_sim(&joined(a, true), &jb));
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let partial = short
        .iter()
        .map(|x| long.iter().map(|y| jp_token_sim(x, y)).fold(0.0, f64::max))
        .fold(1.0, f64::min)
        * JP_PARTIAL;
    whole.max(partial)
}

fn weight(t: &Token) -> f64 {
    match t.class {
        Class::Word => (t.text.len() as f64).clamp(2.0, 10.0),
        Class::Initial => 3.0,
        Class::Particle => 1.0,
        Class::Legal => 1.5,
    }
}

fn world_token_sim(x: &Token, y: &Token) -> f64 {
    use Class::*;
    match (x.class, y.class) {
        (Legal, Legal) => {
            if x.text == y.text {
                1.0
            } else {
                0.4
            }
        }
        (Legal, _) | (_, Legal) => 0.0,
        (Initial, Initial) => f64::from(u8::from(x.text == y.text)),
        (Initial, _) | (_, Initial) => {
            if x.text.first() == y.text.first() {
                0.9
            } else {
                0.0
            }
        }
        _ => {
            if x.text == y.text || (x.key.is_some() && x.key == y.key) {
                return 1.0;
            }
            if x.squeezed == y.squeezed {
                return 0.95;
            }
            let s1 = edit_sim(&x.text, &y.text);
            let s2 = edit_sim(&x.squeezed, &y.squeezed) * 0.97;
            s1.max(s2)
        }
    }
}

fn world_score(a: &[Token], b: &[Token]) -> f64 {
    let n = a.len();
    let m = b.len();
    let mut sims = vec![0.0f64; n * m];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            sims[i * m + j] = world_token_sim(x, y);
        }
    }
    let mut used_a = vec![false; n];
    let mut used_b = vec![false; m];
    let mut matched_sum = 0.0;
    let mut matched_w = 0.0;
    loop {
        let mut best = (MIN_PAIR, usize::MAX, usize::MAX);
        for i in 0..n {
            if used_a[i] {
                continue;
            }
            for j in 0..m {
                if !used_b[j] && sims[i * m + j] > best.0 {
                    best = (sims[i * m + j], i, j);
                }
            }
        }
        let (s, i, j) = best;
        let (Some(x), Some(y)) = (a.get(i), b.get(j)) else {
            break;
        };
        used_a[i] = true;
        used_b[j] = true;
        let w = (weight(x) + weight(y)) / 2.0;
        let s = if s < LOW_SIM {
            s - (LOW_SIM - s) * 0.5
        } else {
            s
        };
        matched_sum += s * w;
        matched_w += w;
    }
    let unmatched = |t: &[Token], used: &[bool]| -> f64 {
        t.iter()
            .zip(used)
            .filter(|(t, u)| !**u && matches!(t.class, Class::Word | Class::Initial))
            .map(|(t, _)| weight(t))
            .sum()
    };
    let ua = unmatched(a, &used_a);
    let ub = unmatched(b, &used_b);
    let mut score = if matched_w > 0.0 {
        // A token unmatched on both sides is a substitution (a different name part):
        // it weighs double. Extra tokens on one side only (middle names, patronymics)
        // cost a little.
        matched_sum / (matched_w + SUBSTITUTION * ua.min(ub) + EXTRA * (ua - ub).abs())
    } else {
        0.0
    };
    // Different legal forms (AG vs GmbH).
    let legal = |t: &[Token], used: &[bool]| {
        t.iter()
            .zip(used)
            .any(|(t, u)| !*u && t.class == Class::Legal)
    };
    let has_legal = |t: &[Token]| t.iter().any(|t| t.class == Class::Legal);
    if has_legal(a) && has_legal(b) && legal(a, &used_a) && legal(b, &used_b) {
        score *= LEGAL_MISMATCH;
    }
    // A single word against a longer name (SHAMSUDDIN vs SHAMSUDDIN MOHAMMED HAQQANI).
    let words_n = |t: &[Token]| {
        t.iter()
            .filter(|t| matches!(t.class, Class::Word | Class::Initial))
            .count()
    };
    let (wa, wb) = (words_n(a), words_n(b));
    if wa.min(wb) == 1 && wa.max(wb) > 1 {
        score *= SINGLE_WORD;
    }
    // Joined or split words ("SergeiLavrov", "Plat Ono Vich"): compare run-together forms.
    if a.len() != b.len() {
        let joined =
            |t: &[Token]| -> Vec<char> { t.iter().flat_map(|t| t.text.iter().copied()).collect() };
        let ja = joined(a);
        let jb = joined(b);
        score = score.max(edit_sim(&ja, &jb));
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn morae_segmentation() {
        let m = key_morae("shinichi");
        assert_eq!(m.len(), 3);
        let m = key_morae("hattori");
        assert_eq!(m.len(), 4);
        let m = key_morae("nanba");
        assert_eq!(m.len(), 3);
        let m = key_morae("hotchi");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn voicing_is_half_cost() {
        let d = mora_distance(&key_morae("yamasaki"), &key_morae("yamazaki"));
        assert!((d - 0.5).abs() < 1e-9);
        let d = mora_distance(&key_morae("sato"), &key_morae("saito"));
        assert!((d - 1.0).abs() < 1e-9);
    }

    #[test]
    fn osa_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(osa(&c("abc"), &c("acb")), 1);
        assert_eq!(osa(&c("kitten"), &c("sitting")), 3);
        assert_eq!(osa(&c(""), &c("abc")), 3);
    }
}
