//! Phonetic keys and kana -> Hepburn: every example in the registry reference.

use koban_names::{
    DEFAULT_THRESHOLD, compare, is_match, kana_to_hepburn, name_key, name_key_with_reading,
    phonetic_key,
};

fn key(s: &str) -> String {
    phonetic_key(s).unwrap_or_else(|| panic!("no key for {s:?}"))
}

fn same_key(forms: &[&str]) {
    let first = key(forms[0]);
    for f in forms {
        assert_eq!(key(f), first, "{f:?} vs {:?}", forms[0]);
    }
}

#[test]
fn long_vowels_collapse() {
    same_key(&[
        "SATO",
        "SATOU",
        "SATOH",
        "SATŌ",
        "SATÔ",
        "satoo",
        "さとう",
        "サトウ",
        "ｻﾄｳ",
        "ＳＡＴＯ",
    ]);
    same_key(&["OTANI", "OOTANI", "OHTANI", "ŌTANI", "おおたに", "オータニ"]);
    same_key(&["OTA", "OHTA", "OOTA", "OUTA", "ŌTA", "おおた", "オオタ"]);
    same_key(&["SAITO", "SAITOU", "SAITOH", "さいとう", "サイトウ"]);
    same_key(&["YOKO", "YOHKO", "YOUKO", "YŌKO", "ようこ", "ヨーコ"]);
    same_key(&[
        "SHOICHI",
        "SHOUICHI",
        "SYOUITI",
        "SYOITI",
        "しょういち",
        "ショウイチ",
    ]);
    same_key(&["KATO", "KATOH", "KATOU", "かとう"]);
    same_key(&["YUKO", "YUUKO", "YŪKO", "ゆうこ"]);
    same_key(&["SENOO", "SENO", "せのお"]);
    assert_eq!(key("SATO"), "sato");
    assert_eq!(key("OTANI"), "otani");
}

#[test]
fn ei_and_ii_are_kept() {
    assert_eq!(key("KEIKO"), "keiko");
    assert_eq!(key("けいこ"), "keiko");
    assert_ne!(key("KEIKO"), key("KEKO"));
    assert_eq!(key("NIIGATA"), "niigata");
    assert_eq!(key("にいがた"), "niigata");
    assert_eq!(key("NIIMI"), "niimi");
    assert_ne!(key("NIIMI"), key("NIMI"));
}

#[test]
fn syllabic_n() {
    same_key(&["NAMBA", "NANBA", "NANNBA", "なんば", "ナンバ"]);
    same_key(&["HOMMA", "HONMA", "HONNMA", "ほんま"]);
    same_key(&["SAMPEI", "SANPEI", "さんぺい"]);
    assert_eq!(key("NAMBA"), "nanba");
    // n before a vowel: SHINICHI is しんいち in passports; Kunrei SINITI.
    same_key(&["SHINICHI", "SINITI", "SHIN'ICHI", "しんいち", "シンイチ"]);
    same_key(&["JUNKO", "ZYUNKO", "JYUNKO", "じゅんこ"]);
    // こんな-type: nn before a vowel is ん + n.
    assert_eq!(key("KANNA"), key("かんな"));
    assert_ne!(key("KANNA"), key("KANA"));
}

#[test]
fn sokuon() {
    same_key(&["HATTORI", "はっとり", "ハットリ"]);
    same_key(&["HOTCHI", "HOCCHI", "ほっち"]);
    assert_eq!(key("HOTCHI"), "hotchi");
    same_key(&["IPPEI", "いっぺい"]);
    same_key(&["KISSA", "きっさ"]);
}

#[test]
fn kunrei_and_nihon_shiki() {
    same_key(&["TSUJI", "TUZI", "TUJI", "TSUDI", "つじ"]);
    same_key(&["FUJITA", "HUZITA", "ふじた"]);
    same_key(&["SHIMIZU", "SIMIZU", "しみず"]);
    same_key(&["CHIAKI", "TIAKI", "ちあき"]);
    same_key(&["SHUICHI", "SYUITI", "SYUUITI", "しゅういち"]);
    same_key(&["CHAYA", "TYAYA", "CYAYA", "ちゃや"]);
    same_key(&["JUN", "ZYUN", "JYUN", "DYUN", "じゅん"]);
    same_key(&["SHA", "SYA", "しゃ"]);
    same_key(&["FU", "HU", "ふ"]);
    same_key(&["JI", "ZI", "DI", "じ", "ぢ"]);
    same_key(&["KAZUKO", "KADUKO", "かづこ"]);
}

#[test]
fn hepburn_h_only_as_long_mark() {
    // OHARA is お-はら, not a long vowel.
    assert_eq!(key("OHARA"), "ohara");
    assert_eq!(key("OHNO"), key("ONO"));
    assert_eq!(key("OHHASHI"), key("おおはし"));
}

#[test]
fn non_japanese_tokens_have_no_key() {
    for t in [
        "SCHOLZ", "SMITH", "MERKEL", "高市", "HANS", "", "  ", "123", "KIM",
    ] {
        assert_eq!(phonetic_key(t), None, "{t:?}");
    }
}

#[test]
fn half_width_and_voicing_marks() {
    assert_eq!(key("ｻｲﾄｳ"), "saito");
    assert_eq!(key("ｶﾞｸ"), "gaku");
    assert_eq!(key("ﾊﾟﾊﾟ"), "papa");
    assert_eq!(key("か\u{3099}く"), "gaku");
    assert_eq!(key("ヴァイオリン"), "vaiorin");
    assert_eq!(key("ジェシカ"), "jeshika");
}

#[test]
fn hepburn_rendering() {
    let h = |s: &str| kana_to_hepburn(s).unwrap_or_else(|| panic!("{s:?}"));
    assert_eq!(h("おおたに"), "OTANI");
    assert_eq!(h("さいとう"), "SAITO");
    assert_eq!(h("ようこ"), "YOKO");
    assert_eq!(h("しょういち"), "SHOICHI");
    assert_eq!(h("せのお"), "SENOO");
    assert_eq!(h("なんば"), "NAMBA");
    assert_eq!(h("ほんま"), "HOMMA");
    assert_eq!(h("さんぺい"), "SAMPEI");
    assert_eq!(h("はっとり"), "HATTORI");
    assert_eq!(h("ほっち"), "HOTCHI");
    assert_eq!(h("しんいち"), "SHINICHI");
    assert_eq!(h("けいこ"), "KEIKO");
    assert_eq!(h("にいがた"), "NIIGATA");
    assert_eq!(h("サトウ ハナコ"), "SATO HANAKO");
    assert_eq!(h("ｻﾄｳ･ﾊﾅｺ"), "SATO HANAKO");
    assert_eq!(h("ゆうこ"), "YUKO");
    assert_eq!(h("おおの"), "ONO");
    assert_eq!(h("ジョン・スミス"), "JON SUMISU");
    assert_eq!(kana_to_hepburn("佐藤"), None);
    assert_eq!(kana_to_hepburn("SATO"), None);
    assert_eq!(kana_to_hepburn(""), None);
}

#[test]
fn kanji_never_romanised() {
    // 高市早苗 must not become "Gao Shi Zao Miao" or anything else.
    assert_eq!(phonetic_key("高市"), None);
    assert!(!is_match("高市早苗", "Gao Shi Zao Miao"));
    assert!(!is_match("高市早苗", "TAKAICHI SANAE"));
    // With a reading it matches the romanised forms.
    assert!(is_match("高市 早苗（たかいち さなえ）", "TAKAICHI SANAE"));
    assert!(is_match("高市早苗 / タカイチサナエ", "SANAE TAKAICHI"));
    let k = name_key_with_reading("高市 早苗", "タカイチ サナエ");
    assert_eq!(k.keys(), vec!["takaichi", "sanae"]);
    assert_eq!(k.kanji(), vec!["高市", "早苗"]);
    assert!(koban_names::compare_keys(&k, &name_key("TAKAICHI<<SANAE")) >= DEFAULT_THRESHOLD);
    // Kanji against kanji: exact after folding old forms and spaces.
    assert_eq!(compare("高市早苗", "高市 早苗"), 1.0);
    assert_eq!(compare("髙橋 一郎", "高橋 一郎"), 1.0);
    assert_eq!(compare("一郎 高橋", "高橋 一郎"), 1.0);
    assert!(compare("高橋 一郎", "高橋 次郎") < DEFAULT_THRESHOLD);
}

#[test]
fn the_reference_examples_match() {
    assert_eq!(compare("SHINICHI", "SINITI"), 1.0);
    assert_eq!(compare("TSUJI", "TUZI"), 1.0);
    assert!(compare("SATO", "SAITO") < DEFAULT_THRESHOLD - 0.1);
    assert!(compare("SATO HANAKO", "SAITO HANAKO") < DEFAULT_THRESHOLD);
    assert_eq!(compare("SATO<<HANAKO", "Hanako Satō"), 1.0);
    assert_eq!(compare("さとう はなこ", "SATOH, Hanako"), 1.0);
    assert_eq!(compare("さとうはなこ", "HANAKO SATOU"), 1.0);
    assert_eq!(compare("ＳＡＴＯ　ＨＡＮＡＫＯ", "sato hanako"), 1.0);
}

#[test]
fn name_key_exposes_tokens() {
    let k = name_key("SATOH, Hanako");
    assert_eq!(k.keys(), vec!["sato", "hanako"]);
    assert!(k.is_japanese_reading());
    let k = name_key("Olaf Scholz");
    assert_eq!(k.keys(), vec!["olaf", "scholz"]);
    assert!(!k.is_japanese_reading());
    assert!(name_key("").is_empty());
}
