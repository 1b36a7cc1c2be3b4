//! The pure domain of the national records registry (登録・照会・回答).
//!
//! Prefectural police enter records into the NPA's central registry — wanted, missing and
//! unidentified persons, stolen vehicles, plates, firearms and articles, lost and stolen
//! travel documents — and query it from every prefecture's query centre. This crate holds
//! the rules of that work and nothing else: the identifiers and their normalisation into
//! lookup keys, the record files and their validation, the record lifecycle driven by the
//! registry messages (entry, modify, cancel, hit confirmation, locate, clear), validation
//! and purge deadlines, the entry conflict check, and query parsing.
//!
//! It does no I/O and never reads the clock: every time is an `i64` count of UTC
//! microseconds passed in by the caller, and "today" is passed as a date.

pub mod conflict;
pub mod date;
pub mod document;
pub mod error;
pub mod index;
pub mod lifecycle;
pub mod plate;
pub mod query;
pub mod records;
pub mod serial;
pub mod text;
pub mod vehicle;

pub use conflict::{ConflictCheck, ExistingRecord, check_entry, compatible};
pub use document::{DocumentNumber, DocumentType, IssuingState, TravelDocumentId};
pub use error::{RegistryError, codes as error_codes};
pub use koban_names::screen::Date;
pub use lifecycle::{
    Actor, HistoryEntry, HitAnswer, HitRequest, HitRequestState, Lifecycle, Message, OverdueAction,
    Priority, PurgeReason, RecordState,
};
pub use plate::Plate;
pub use query::{Query, QueryKey, RawQuery, dob_matches};
pub use records::{
    CautionFlags, Descriptors, DocumentStatus, MissingPerson, PersonName, RecordFile, RecordKind,
    Sex, StolenArticle, StolenFirearm, StolenPlate, StolenVehicle, TravelDocumentRecord,
    UnidentifiedPerson, WantedPerson, Warrant,
};
pub use serial::{ArticleNumber, ArticleNumberKind, FirearmId, FirearmMake, SerialNumber};
pub use vehicle::VehicleId;
