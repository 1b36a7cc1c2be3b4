//! Feeds arbitrary bytes to the CSV import, which must never panic and must keep its promises
//! about what it returns whatever an uploaded file contains.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (units, errors) = koban_org::parse_units_csv(data);
    // Line numbers must point into the file, or the import report would send people nowhere.
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for e in &errors {
        assert!((1..=lines).contains(&e.line), "line {} of {lines}", e.line);
    }
    // Every unit handed back must pass the same checks an administrator's form does.
    for u in &units {
        assert!(u.validate().is_ok(), "{u:?}");
    }
});
