//! Property tests: `compare` is total, symmetric, bounded and reflexive.

use koban_names::{compare, kana_to_hepburn, name_key, phonetic_key};
use proptest::prelude::*;

/// Names drawn from the scripts and separators the matcher cares about.
fn name_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Za-z]{1,8}",
            "[ぁ-ゖー]{1,5}",
            "[ァ-ヺー]{1,5}",
            "[ｦ-ﾟ]{1,5}",
            "[一-龥]{1,3}",
            "[ÀÁÂÃÄÅĀāōŌûÛêÉßøØłŁ]{1,3}",
            "[ａ-ｚＡ-Ｚ]{1,4}",
            "[ <,.\\-'/()（）・　]{1,2}",
            "\\PC{1,4}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(a in "\\PC*", b in "\\PC*") {
        let s = compare(&a, &b);
        prop_assert!((0.0..=1.0).contains(&s));
        let _ = phonetic_key(&a);
        let _ = kana_to_hepburn(&a);
        let _ = name_key(&a).keys();
    }

    #[test]
    fn any_chars_never_panic(a in any::<String>(), b in any::<String>()) {
        let s = compare(&a, &b);
        prop_assert!((0.0..=1.0).contains(&s));
        let _ = phonetic_key(&a);
        let _ = kana_to_hepburn(&b);
    }

    #[test]
    fn symmetric_and_bounded(a in name_like(), b in name_like()) {
        let ab = compare(&a, &b);
        let ba = compare(&b, &a);
        prop_assert!((0.0..=1.0).contains(&ab), "{ab}");
        prop_assert!((ab - ba).abs() < 1e-9, "{a:?} {b:?}: {ab} vs {ba}");
    }

    #[test]
    fn reflexive(a in name_like()) {
        prop_assume!(!a.is_empty());
        prop_assert_eq!(compare(&a, &a), 1.0);
    }

    #[test]
    fn reflexive_any(a in "\\PC+") {
        prop_assert_eq!(compare(&a, &a), 1.0);
    }

    #[test]
    fn keys_are_ascii_lowercase(a in name_like()) {
        if let Some(k) = phonetic_key(&a) {
            prop_assert!(!k.is_empty());
            prop_assert!(k.bytes().all(|b| b.is_ascii_lowercase()), "{k:?}");
        }
    }
}
