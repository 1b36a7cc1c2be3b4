//! Property tests: normalisation is total and idempotent; geocoding never panics.

use std::sync::OnceLock;

use koban_geo::{AddressIndex, normalize_address};
use proptest::prelude::*;

const CSV: &str = "\
都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度
東京都,千代田区,丸の内一丁目,,35.681,139.767
東京都,府中市,朝日町一丁目,,35.671,139.516
広島県,府中市,府川町,,34.567,133.236
北海道,札幌市中央区,旭ケ丘二丁目,,43.039,141.321
岩手県,盛岡市,大字上鹿妻,字五兵エ新田,39.691,141.101
";

fn index() -> &'static AddressIndex {
    static IDX: OnceLock<AddressIndex> = OnceLock::new();
    IDX.get_or_init(|| AddressIndex::from_csv(CSV.as_bytes()).unwrap_or_default())
}

/// Strings drawn from address-like characters plus arbitrary Unicode.
fn addressish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "東京都",
        "千代田区",
        "丸の内",
        "丸ノ内",
        "一",
        "二十",
        "丁目",
        "1",
        "１",
        "２３",
        "-",
        "－",
        "ー",
        "ｰ",
        "番地",
        "号",
        "ヶ",
        "ケ",
        "が",
        "之",
        "の",
        "ノ",
        " ",
        "　",
        "大字",
        "字",
        "府中市",
        "札幌市",
        "中央区",
        "旭",
        "丘",
        "ｶ",
        "ﾞ",
        "ﾟ",
        "ﾊ",
        "Ａ",
        "a",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat()),
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn normalize_is_idempotent(s in addressish()) {
        let once = normalize_address(&s);
        prop_assert_eq!(normalize_address(&once), once.clone());
        prop_assert!(!once.chars().any(char::is_whitespace));
    }

    #[test]
    fn geocode_and_suggest_never_panic(s in addressish(), n in 0usize..8) {
        let r = index().geocode(&s, n);
        prop_assert!(r.candidates.len() <= n);
        if let Some(b) = &r.best {
            prop_assert!((0.0..=1.0).contains(&b.score));
        }
        let s2 = index().suggest(&s, n);
        prop_assert!(s2.len() <= n);
    }
}
