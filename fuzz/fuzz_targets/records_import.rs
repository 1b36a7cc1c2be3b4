//! Feeds arbitrary bytes to the registry's bulk-load parsers (JSON Lines and CSV lines),
//! which must never panic, must name the line they were given, and may only hand back
//! records that pass the same validation as an entry through the API.

#![no_main]

use libfuzzer_sys::fuzz_target;
use koban_service::registry_import::{parse_csv_record, parse_json_line};

/// A fixed instant (2026-01-01T00:00:00Z), so a run is reproducible.
const NOW: i64 = 1_767_225_600_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        match parse_json_line(n, line, "fuzz", NOW) {
            Ok(item) => {
                assert_eq!(item.line, n);
                let file: koban_registry::RecordFile =
                    serde_json::from_str(&item.row.file).expect("stored file parses");
                let today = koban_registry::date::jst_date(NOW);
                assert!(file.validate(today).is_empty(), "{file:?}");
            }
            Err(p) => assert_eq!(p.line, n),
        }
    }
    // The same bytes as CSV: the first line is the header.
    let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let Ok(header) = rd.headers().map(|h| h.iter().map(str::to_string).collect::<Vec<_>>()) else {
        return;
    };
    for (i, rec) in rd.records().enumerate() {
        let Ok(rec) = rec else { continue };
        let n = i as u64 + 2;
        match parse_csv_record(n, &header, &rec, "fuzz", NOW) {
            Ok(item) => assert_eq!(item.line, n),
            Err(p) => assert_eq!(p.line, n),
        }
    }
});
