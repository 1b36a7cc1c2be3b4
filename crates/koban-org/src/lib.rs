//! The organisation of Japan's police as koban sees it, as pure data and functions.
//!
//! At the top is the National Police Agency (警察庁, "npa"). Under it sit the six regional
//! police bureaus (管区警察局, "rpb-…"), of which Chugoku-Shikoku has the Shikoku police branch
//! bureau (四国警察支局, "rpb-shikoku"); the 47 prefectural police forces ("pref-01" to
//! "pref-47"), each under its bureau, under the branch for Shikoku, or directly under the NPA for
//! Tokyo's Metropolitan Police Department (警視庁) and Hokkaido police; and Hokkaido's five area
//! headquarters (方面本部, "ahq-01-…"). These 60 units are fixed and come from
//! [`builtin_units`].
//!
//! Police stations (警察署), koban (交番) and residential police boxes (駐在所) change over time,
//! so they are created at run time by administrators ([`NewUnit`]) or imported from CSV
//! ([`parse_units_csv`]); this crate only checks them, and storage is someone else's job.
//!
//! [`scope_of`] answers which prefectures' data a unit's users may see, which is the basis of
//! access control elsewhere in koban.
//!
//! The crate does no I/O, so every function can be used from any layer and tested in isolation.

mod error;
mod import;
mod pref;
mod scope;
mod unit;

pub use error::{FieldError, LineError, OrgError, codes};
pub use import::{
    CSV_COLUMNS, LATITUDE_RANGE, LONGITUDE_RANGE, MAX_ADDRESS_CHARS, MAX_IMPORT_ROWS,
    MAX_NAME_CHARS, NewUnit, parse_units_csv,
};
pub use pref::{
    PrefCode, bureau_of, parent_unit_id, police_name_en, police_name_ja, prefecture_name_en,
    prefecture_name_ja, prefecture_unit_id,
};
pub use scope::{Scope, scope_of};
pub use unit::{
    OrgUnit, RESERVED_ID_PREFIXES, UnitKind, builtin_units, is_area_headquarters_id, is_builtin_id,
    validate_unit_id,
};
