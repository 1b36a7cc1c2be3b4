//! Feeds arbitrary bytes to the EIDO validator and importer, which must never panic, must
//! keep the violation list within its limit, and must only import documents that validate.
//!
//! The schema is read once from `$KOBAN_REFERENCE_DATA/eido/eido-openapi.yaml` (default
//! `../shared/data`, relative to the repository root where cargo-fuzz runs).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn schema() -> &'static koban_eido::Schema {
    static SCHEMA: OnceLock<koban_eido::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let root = std::env::var_os("KOBAN_REFERENCE_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("../shared/data"));
        let path = root.join("eido/eido-openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set KOBAN_REFERENCE_DATA)", path.display()));
        koban_eido::Schema::from_yaml(&text).expect("the EIDO schema loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let schema = schema();
    let types = koban_dispatch::IncidentTypeList::default();
    match schema.parse_and_validate(data) {
        Ok(doc) => {
            // A valid document is either imported or refused as unusable, never as invalid.
            if let Err(e) = koban_eido::import(schema, &doc, &types) {
                assert!(!matches!(e, koban_eido::EidoError::Invalid(_)), "{e}");
            }
        }
        Err(koban_eido::EidoError::Invalid(inv)) => {
            assert!(!inv.violations.is_empty());
            assert!(inv.violations.len() <= schema.limits().max_violations);
            for v in &inv.violations {
                assert!(v.pointer.starts_with('/'), "{}", v.pointer);
            }
        }
        Err(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = koban_eido::import::parse_pidf_lo(text);
        let _ = koban_eido::import::html_to_text(text);
    }
});
