//! Storage for koban: one repository interface, two implementations.
//!
//! SQLite (one file in the data directory, WAL, foreign keys on) is the embedded default;
//! PostgreSQL is the server database. Each backend has its own migrations under
//! `migrations/<backend>/`, applied and versioned at start-up. The rest of koban sees only
//! the [`Store`] and [`Tx`] traits.
//!
//! Everything that changes police data, and the audit event that records the change, is
//! written through one [`Tx`]: a database transaction that commits both or neither. There
//! is deliberately no way to write outside a transaction.
//!
//! The SQL text is shared between the backends (`sql.rs`): both dialects accept numbered
//! placeholders, `RETURNING` and `ON CONFLICT`, so the two implementations differ only in
//! how they talk to their driver. PostgreSQL goes through sqlx's async driver. SQLite runs
//! in-process through rusqlite: each statement executes inline on the calling task, with
//! no hand-off to a worker thread per statement (measured: the hand-offs, not SQLite,
//! dominated the cost of an audited write), and only the commit's fsync moves to a
//! blocking thread.

use std::fmt;

use async_trait::async_trait;
use koban_access::Roles;
use koban_audit::{AuditEvent, Checkpoint, Hash, StoredCheckpoint, StoredEvent};
use koban_org::{OrgUnit, PrefCode, UnitKind};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod backend_tests;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::{SqliteStore, SqliteSync};

/// Upper bound on rows one list query returns; callers page with cursors beyond it.
pub const MAX_PAGE_ROWS: u32 = 1000;

/// Errors from storage. Constraint violations are told apart because the service layer
/// turns them into precise client errors (a duplicate username is the client's problem,
/// a broken disk is not).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with this {constraint} already exists")]
    Duplicate { constraint: String },
    #[error("a referenced record does not exist ({0})")]
    ForeignKey(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("SQLite error: {0}")]
    Sqlite(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL or options: {0}")]
    Config(String),
    #[error("a storage worker thread failed: {0}")]
    Thread(String),
}

impl StoreError {
    /// Sorts a driver error into the variants above. Both SQLite and PostgreSQL report
    /// the standard error kinds through sqlx, so one mapping serves both backends.
    pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return StoreError::Duplicate {
                        constraint: db.constraint().unwrap_or("key").to_string(),
                    };
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::ForeignKey(db.message().to_string());
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}

/// Which implementation is behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// An organisation unit as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitRow {
    pub unit: OrgUnit,
    pub builtin: bool,
    pub disabled: bool,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

/// Which units to list. `prefs: None` means no prefecture restriction (national scope);
/// `Some(list)` restricts stations and boxes to those prefectures, while built-in units
/// (the organisation chart itself) are always listed.
#[derive(Clone, Debug, Default)]
pub struct UnitFilter {
    pub prefs: Option<Vec<PrefCode>>,
    pub kind: Option<UnitKind>,
    pub parent_id: Option<String>,
    pub after_id: Option<String>,
    pub limit: u32,
}

/// A user account as stored.
#[derive(Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub unit_id: String,
    pub pref_code: Option<PrefCode>,
    pub roles: Roles,
    pub password_hash: String,
    pub totp_secret: String,
    pub totp_last_step: Option<i64>,
    pub failed_count: u32,
    pub failed_window_start_us: Option<i64>,
    pub locked_at_us: Option<i64>,
    pub disabled_at_us: Option<i64>,
    pub allow_concurrent: bool,
    pub last_login_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

impl fmt::Debug for UserRow {
    // The password hash and TOTP secret never reach logs, even by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("unit_id", &self.unit_id)
            .field("roles", &self.roles)
            .field("locked_at_us", &self.locked_at_us)
            .field("disabled_at_us", &self.disabled_at_us)
            .finish_non_exhaustive()
    }
}

/// Which users to list.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// `None`: every user (national scope). `Some(list)`: users whose prefecture is in it.
    pub prefs: Option<Vec<PrefCode>>,
    pub unit_id: Option<String>,
    pub after_username: Option<String>,
    pub limit: u32,
}

/// A command-room terminal that may be exempt from the idle lock.
#[derive(Clone, Debug, PartialEq)]
pub struct TerminalRow {
    pub id: String,
    pub name: String,
    pub unit_id: String,
    pub pref_code: Option<PrefCode>,
    pub key_hash: Vec<u8>,
    pub idle_exempt: bool,
    pub created_at_us: i64,
    pub disabled_at_us: Option<i64>,
}

/// A login session. Only the hash of the bearer token is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRow {
    pub token_hash: Vec<u8>,
    pub id: String,
    pub user_id: String,
    pub created_at_us: i64,
    pub last_seen_us: i64,
    pub ended_at_us: Option<i64>,
    pub end_reason: Option<String>,
    pub terminal_id: Option<String>,
    pub idle_exempt: bool,
    pub client_addr: Option<String>,
}

/// The signed head of the audit log plus the append state needed for the next event.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditHead {
    pub tree_size: u64,
    pub frontier: Vec<u8>,
    pub root_hash: Hash,
    pub timestamp_us: i64,
    pub origin: String,
    pub key_id: String,
    pub signature: Vec<u8>,
    pub last_checkpoint_size: u64,
    pub last_checkpoint_us: i64,
}

impl AuditHead {
    /// The head as a checkpoint, for the verifier: it is signed like any other.
    pub fn as_checkpoint(&self) -> StoredCheckpoint {
        StoredCheckpoint {
            checkpoint: Checkpoint {
                origin: self.origin.clone(),
                tree_size: self.tree_size,
                root_hash: self.root_hash,
                timestamp_us: self.timestamp_us,
            },
            key_id: self.key_id.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// An audit-log search. All given conditions must hold.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// `None`: all events (national scope). `Some(list)`: events about those prefectures.
    pub prefs: Option<Vec<PrefCode>>,
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub action: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Newest first; `before_seq` continues a previous page.
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// An incident as stored: the validated document plus the columns queries use.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub pref_code: PrefCode,
    pub state: String,
    pub type_code: String,
    pub priority: i64,
    pub lat: f64,
    pub lon: f64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// JSON of the full record, timeline included.
    pub doc: String,
}

/// A 110 call as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRow {
    pub id: String,
    pub pref_code: PrefCode,
    pub received_at_us: i64,
    pub incident_id: Option<String>,
    pub doc: String,
}

/// A dispatchable unit as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchUnitRow {
    pub id: String,
    pub pref_code: PrefCode,
    pub status: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub position_at_us: Option<i64>,
    pub updated_at_us: i64,
    /// JSON of the full unit record.
    pub doc: String,
}

/// The link between another agency's incident (as its EIDO names it) and the incident a
/// prefecture recorded for it.
#[derive(Clone, Debug, PartialEq)]
pub struct EidoImportRow {
    pub pref_code: PrefCode,
    /// The sender's `issuingElementIdentification`.
    pub source_element: String,
    /// The sender's incident identifier.
    pub source_incident_id: String,
    pub incident_id: String,
    pub imported_at_us: i64,
}

/// A unit's assignment to an incident as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentRow {
    pub id: String,
    pub incident_id: String,
    pub unit_id: String,
    pub pref_code: PrefCode,
    pub active: bool,
    pub updated_at_us: i64,
    /// JSON of the assignment and its timeline.
    pub doc: String,
}

/// A message as stored (the image, if any, inline).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRow {
    pub id: String,
    pub pref_code: PrefCode,
    pub sender_id: String,
    pub created_at_us: i64,
    /// `unit`, `station` or `scope`.
    pub target_kind: String,
    pub target_id: Option<String>,
    pub incident_id: Option<String>,
    pub text: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub image_type: Option<String>,
    pub image: Option<Vec<u8>>,
}

/// A live event to append; the store gives it the next sequence number.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLiveEvent {
    /// e.g. `incident.updated`.
    pub kind: String,
    /// The prefecture whose data it shows (subscribers are filtered by it).
    pub pref_code: Option<PrefCode>,
    /// JSON of the object as the API shows it.
    pub data: String,
}

/// A stored live event.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEventRow {
    pub seq: u64,
    pub at_us: i64,
    pub kind: String,
    pub pref_code: Option<PrefCode>,
    pub data: String,
    /// When it was handed to the event bus; `None` while it waits in the outbox.
    pub published_at_us: Option<i64>,
}

/// One addressed unit's receipt of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiptRow {
    pub message_id: String,
    pub unit_id: String,
    pub delivered_at_us: Option<i64>,
    pub read_at_us: Option<i64>,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// `None`: all prefectures (national scope).
    pub prefs: Option<Vec<PrefCode>>,
    /// Only created, dispatched and on-scene incidents.
    pub open_only: bool,
    /// Only incidents created at or after this time.
    pub since_us: Option<i64>,
    /// Only incidents inside this box `[min_lat, min_lon, max_lat, max_lon]` (duplicate
    /// checks look only near the call instead of parsing every open incident).
    pub within: Option<[f64; 4]>,
    pub limit: u32,
}

// ---- National records registry -------------------------------------------------------

/// A registry record as stored: the file and lifecycle as JSON beside the columns that
/// lists and schedules query, and (for writes) the index rows it is found by.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryRow {
    pub id: String,
    /// `RecordKind` wire name, e.g. `stolen_vehicle`.
    pub kind: String,
    pub owner_pref: PrefCode,
    /// `RecordState` wire name.
    pub state: String,
    pub entered_at_us: i64,
    pub updated_at_us: i64,
    /// When the current validation window closes.
    pub validation_due_us: i64,
    /// JSON of the record file.
    pub file: String,
    /// JSON of the lifecycle (hit confirmations and history included).
    pub lifecycle: String,
    /// Identifier keys (written on insert and on a re-index; empty when read back).
    pub keys: Vec<String>,
    /// Name tokens with the date of birth as `yyyymmdd` (likewise write-only).
    pub names: Vec<(String, i64)>,
}

/// The 64-bit digest an index row stores for an identifier key or a name token: the first
/// eight bytes of its SHA-256. Digests keep index rows a third of the size strings made
/// them. A collision costs a wasted read, never a wrong answer: key lookups compare the
/// record's own terms before returning it, and name candidates are scored afterwards.
pub fn registry_digest(term: &str) -> i64 {
    let d = ring::digest::digest(&ring::digest::SHA256, term.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    i64::from_be_bytes(b)
}

/// What a record is indexed by, stored with the record (`index_terms`) so that its index
/// rows can be removed exactly and rebuilt from the record alone. Borrowed from the row
/// when written (a bulk load writes millions), owned when read back.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct IndexTerms<'a> {
    #[serde(borrow)]
    pub keys: std::borrow::Cow<'a, [String]>,
    #[serde(borrow)]
    pub names: std::borrow::Cow<'a, [(String, i64)]>,
}

impl<'a> IndexTerms<'a> {
    pub(crate) fn of(row: &'a RegistryRow) -> IndexTerms<'a> {
        IndexTerms {
            keys: std::borrow::Cow::Borrowed(&row.keys),
            names: std::borrow::Cow::Borrowed(&row.names),
        }
    }

    pub(crate) fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(format!("index terms: {e}")))
    }

    pub(crate) fn parse(json: &str) -> Result<IndexTerms<'static>, StoreError> {
        let t: IndexTerms<'_> = serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("index terms: {e}")))?;
        Ok(IndexTerms {
            keys: std::borrow::Cow::Owned(t.keys.into_owned()),
            names: std::borrow::Cow::Owned(t.names.into_owned()),
        })
    }

    /// True if stored terms list `key`: a key lookup keeps only such rows, so that a
    /// digest collision never returns another subject's record.
    pub(crate) fn lists_key(json: &str, key: &str) -> Result<bool, StoreError> {
        Ok(IndexTerms::parse(json)?.keys.iter().any(|k| k == key))
    }

    /// The key rows `(digest, seq)` and name rows `(digest, dob, seq)` of record `seq`.
    pub(crate) fn rows(
        &self,
        seq: i64,
        keys: &mut Vec<(i64, i64)>,
        names: &mut Vec<(i64, i64, i64)>,
    ) {
        keys.extend(self.keys.iter().map(|k| (registry_digest(k), seq)));
        names.extend(
            self.names
                .iter()
                .map(|(t, d)| (registry_digest(t), *d, seq)),
        );
    }
}

/// Index rows in the order their B-trees want them, without repeats.
pub(crate) fn sort_index_rows(keys: &mut Vec<(i64, i64)>, names: &mut Vec<(i64, i64, i64)>) {
    sort_unique(keys);
    sort_unique(names);
}

fn sort_unique<T: Ord>(rows: &mut Vec<T>) {
    rows.sort_unstable();
    rows.dedup();
}

/// One record's index digests: its keys', and its name tokens' with the date of birth.
pub type RecordDigests = (Vec<i64>, Vec<(i64, i64)>);

/// Index rows a bulk load collected while it stored its records (the digests computed by
/// its parsing threads), so that [`Tx::build_registry_index`] need not read every record
/// back, parse its terms and hash them again. Used only when the load's records are
/// exactly the pending ones: sequence numbers `first_seq..=last_seq`, every one of them
/// the load's, and none after; otherwise the build reads the records as usual.
#[derive(Debug, Default)]
pub struct CollectedIndex {
    pub first_seq: i64,
    pub last_seq: i64,
    /// Records the rows belong to.
    pub records: u64,
    /// `(key digest, seq)`, in any order.
    pub keys: Vec<(i64, i64)>,
    /// `(name digest, date of birth as yyyymmdd, seq)`, in any order.
    pub names: Vec<(i64, i64, i64)>,
}

impl CollectedIndex {
    /// Adds the rows of records just stored under `seqs`; `digests` gives each record's
    /// key digests and `(name digest, date of birth)` pairs, in the same order.
    pub fn add(&mut self, seqs: &[i64], digests: &[RecordDigests]) {
        for (&seq, (keys, names)) in seqs.iter().zip(digests) {
            if self.records == 0 {
                self.first_seq = seq;
            }
            self.last_seq = seq;
            self.records += 1;
            self.keys.extend(keys.iter().map(|&d| (d, seq)));
            self.names
                .extend(names.iter().map(|&(d, dob)| (d, dob, seq)));
        }
    }

    /// Index rows held.
    pub fn rows(&self) -> usize {
        self.keys.len() + self.names.len()
    }

    /// True if these rows are exactly those of the records pending from `pending_from`
    /// on, the largest sequence number stored being `max_seq`: the load's numbers start
    /// there, run without a gap, and nothing was stored after them. (Numbers are unique,
    /// so as many records as the range is long fill it.)
    pub(crate) fn covers(&self, pending_from: i64, max_seq: Option<i64>) -> bool {
        self.records > 0
            && self.first_seq == pending_from
            && max_seq == Some(self.last_seq)
            && self
                .last_seq
                .checked_sub(self.first_seq)
                .and_then(|d| d.checked_add(1))
                == i64::try_from(self.records).ok()
    }

    /// The key rows sorted and without repeats, while the name rows are still being
    /// sorted on a thread of their own: the final pass of a load runs on one connection
    /// and otherwise leaves the second core idle, so the keys are written meanwhile.
    pub(crate) fn into_sorted_keys(self) -> Result<(Vec<(i64, i64)>, SortingNames), StoreError> {
        let mut names = self.names;
        let sorting = std::thread::Builder::new()
            .name("koban-index-sort".into())
            .spawn(move || {
                sort_unique(&mut names);
                names
            })
            .map_err(|e| StoreError::Thread(format!("starting the name sort: {e}")))?;
        let mut keys = self.keys;
        sort_unique(&mut keys);
        Ok((keys, SortingNames(sorting)))
    }
}

/// Name rows being sorted (see [`CollectedIndex::into_sorted_keys`]).
#[derive(Debug)]
pub(crate) struct SortingNames(std::thread::JoinHandle<Vec<(i64, i64, i64)>>);

impl SortingNames {
    /// The sorted name rows, once the thread is done.
    pub(crate) fn finish(self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        self.0
            .join()
            .map_err(|_| StoreError::Thread("sorting the name rows panicked".into()))
    }
}

/// Sorts key rows and name rows (without repeats) on two threads at once.
fn sort_at_once(
    mut keys: Vec<(i64, i64)>,
    mut names: Vec<(i64, i64, i64)>,
) -> Result<IndexRows, StoreError> {
    std::thread::scope(|s| {
        let names_sorted = s.spawn(|| sort_unique(&mut names));
        sort_unique(&mut keys);
        names_sorted
            .join()
            .map_err(|_| StoreError::Thread("sorting the name rows panicked".into()))
    })?;
    Ok((keys, names))
}

/// Records whose index rows [`Tx::build_registry_index`] reads per page. Tests page
/// through far fewer, so that loads of a few thousand records cross page boundaries.
pub(crate) const INDEX_BUILD_PAGE: i64 = if cfg!(test) { 1_000 } else { 100_000 };

/// Pages of stored terms the index builder's thread may have queued.
const INDEX_BUILD_PAGES_QUEUED: usize = 2;

/// Key rows and name rows, sorted and without repeats.
pub(crate) type IndexRows = (Vec<(i64, i64)>, Vec<(i64, i64, i64)>);

/// Turns pages of stored index terms into sorted index rows on a thread of its own.
///
/// Rebuilding the index after a bulk load reads every record's terms, parses them and
/// hashes every key and name: on one thread the parsing and hashing were a fifth of the
/// build, with the machine's other core idle. Here the connection reads the next page
/// while this thread parses the last one, and the two kinds of rows are sorted at once.
pub(crate) struct IndexRowsBuilder {
    pages: std::sync::mpsc::SyncSender<Vec<(i64, String)>>,
    worker: Option<std::thread::JoinHandle<Result<IndexRows, StoreError>>>,
}

impl IndexRowsBuilder {
    pub(crate) fn start() -> Result<IndexRowsBuilder, StoreError> {
        let (pages, rx) =
            std::sync::mpsc::sync_channel::<Vec<(i64, String)>>(INDEX_BUILD_PAGES_QUEUED);
        let worker = std::thread::Builder::new()
            .name("koban-index-build".into())
            .spawn(move || {
                let (mut keys, mut names) = (Vec::new(), Vec::new());
                for page in rx {
                    for (seq, terms) in page {
                        IndexTerms::parse(&terms)?.rows(seq, &mut keys, &mut names);
                    }
                }
                sort_at_once(keys, names)
            })
            .map_err(|e| StoreError::Thread(format!("starting the index build: {e}")))?;
        Ok(IndexRowsBuilder {
            pages,
            worker: Some(worker),
        })
    }

    /// Hands over one page of `(seq, index_terms)`. If the thread has stopped (stored
    /// terms that do not parse), its error is returned.
    pub(crate) fn push(&mut self, page: Vec<(i64, String)>) -> Result<(), StoreError> {
        if self.pages.send(page).is_ok() {
            return Ok(());
        }
        match self.worker.take().map(Self::join) {
            Some(Err(e)) => Err(e),
            _ => Err(StoreError::Thread("the index build stopped early".into())),
        }
    }

    /// Hands over one page of the stored terms after a cursor (at most
    /// [`INDEX_BUILD_PAGE`] records, in sequence order) and returns the cursor of the next
    /// page: `None` once a page was short, so it was the last. Both backends page through
    /// the records with it and differ only in how they read a page.
    pub(crate) fn push_page(
        &mut self,
        page: Vec<(i64, String)>,
    ) -> Result<Option<i64>, StoreError> {
        let next = match page.last() {
            Some(&(seq, _)) if page.len() as i64 >= INDEX_BUILD_PAGE => Some(seq),
            _ => None,
        };
        self.push(page)?;
        Ok(next)
    }

    /// Waits for the rows of every page pushed.
    pub(crate) fn finish(self) -> Result<IndexRows, StoreError> {
        let IndexRowsBuilder { pages, worker } = self;
        // Closing the channel is what ends the thread's loop.
        drop(pages);
        match worker {
            Some(w) => Self::join(w),
            None => Err(StoreError::Thread("the index build stopped early".into())),
        }
    }

    fn join(
        worker: std::thread::JoinHandle<Result<IndexRows, StoreError>>,
    ) -> Result<IndexRows, StoreError> {
        worker
            .join()
            .map_err(|_| StoreError::Thread("the index build panicked".into()))?
    }
}

/// One hit confirmation request in the query centres' work queue. The service derives these
/// rows from the record's lifecycle (its JSON stays the source of truth) in the same
/// transaction as every lifecycle change.
#[derive(Clone, Debug, PartialEq)]
pub struct HitRequestRow {
    pub record_id: String,
    pub request_id: String,
    /// `RecordKind` wire name of the record.
    pub record_kind: String,
    /// The prefecture that must answer.
    pub owner_pref: PrefCode,
    /// The prefecture that asked.
    pub from_pref: PrefCode,
    /// `urgent` or `routine`.
    pub priority: String,
    pub sent_at_us: i64,
    pub due_at_us: i64,
    pub resends: i64,
    pub escalated_at_us: Option<i64>,
    /// `open`, `answered` or `closed`.
    pub state: String,
}

/// Which side of the work queue a prefecture looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitQueueSide {
    /// Requests the prefecture must answer (it owns the record).
    Owner,
    /// Requests the prefecture sent.
    Inquirer,
}

/// Which open requests to list.
#[derive(Clone, Debug)]
pub struct HitQueueFilter {
    pub side: HitQueueSide,
    /// `None`: every prefecture (national scope); otherwise the side's prefecture must be
    /// one of these.
    pub prefs: Option<Vec<PrefCode>>,
    /// Only requests due before this time (the overdue ones, given the current time).
    pub due_before_us: Option<i64>,
    /// Only requests due at or after this time.
    pub due_from_us: Option<i64>,
    pub limit: u32,
}

/// What is left of a record the purge deleted, so that a site catching up by difference
/// still learns it is gone.
#[derive(Clone, Debug, PartialEq)]
pub struct TombstoneRow {
    pub record_id: String,
    pub owner_pref: PrefCode,
    pub removed_at_us: i64,
    /// The purge reason.
    pub reason: String,
}

/// How [`Store::peek_user`] finds an account.
#[derive(Clone, Copy, Debug)]
pub enum UserKey<'a> {
    Id(&'a str),
    Username(&'a str),
}

/// One imported reference file (address points, boundaries), stored verbatim.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    pub source_name: String,
    /// Hex SHA-256 of `bytes`, recorded in the audit event of the import.
    pub sha256: String,
    pub bytes: Vec<u8>,
    pub imported_at_us: i64,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("source_name", &self.source_name)
            .field("sha256", &self.sha256)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A storage backend. Cheap to clone behind an `Arc`; shared by every request.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    fn backend(&self) -> Backend;
    /// Starts a read-write transaction. On SQLite this takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a read lock.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The applied migration versions, oldest first.
    async fn migrations(&self) -> Result<Vec<i64>, StoreError>;
    /// Committed audit events with `seq >= from_seq`, in order, at most `limit`.
    /// Read outside any transaction, for verification and for the proof cache.
    async fn audit_events_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Committed leaf hashes with `seq >= from_seq`, in order, at most `limit`.
    async fn audit_leaves_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Hash)>, StoreError>;
    /// Every stored checkpoint, ascending by size.
    async fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// The committed signed head, if any event was ever written.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
    /// Public keys recorded for checkpoint signatures: `(key_id, public key)`.
    async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// A committed user account by username or by id, read outside any transaction (the
    /// logon reads it before the slow password check without holding the write lock).
    async fn peek_user(&self, by: UserKey<'_>) -> Result<Option<UserRow>, StoreError>;
    /// The stored parts of a reference dataset, in order (empty if never imported).
    async fn load_dataset(&self, kind: &str) -> Result<Vec<Dataset>, StoreError>;

    /// Organisation units, read outside any transaction (reference lookups that must not
    /// queue behind writers).
    async fn list_units_read(&self, filter: &UnitFilter) -> Result<Vec<UnitRow>, StoreError>;
    /// Live events with `seq > after`, oldest first.
    async fn live_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<LiveEventRow>, StoreError>;
    /// The oldest and newest live event kept (0, 0 when there are none).
    async fn live_bounds(&self) -> Result<(u64, u64), StoreError>;
    /// Live events not yet handed to the event bus, oldest first.
    async fn live_outbox(&self, limit: u32) -> Result<Vec<LiveEventRow>, StoreError>;
    /// Tidies up after a bulk load: SQLite folds the write-ahead log back into the database
    /// and starts the log over (the file keeps its size until it has been quiet for a
    /// while); PostgreSQL refreshes the registry tables' planner statistics.
    async fn checkpoint(&self) -> Result<(), StoreError>;
    /// Called by a bulk load between its batches (every few batches). SQLite copies the
    /// committed log into the database now, so that the next batch writes the WAL over from its start instead of
    /// growing the file: the checkpoint thread never catches up with a writer that begins
    /// its next transaction at once, and a growing file costs the kernel a fresh, zeroed
    /// block for every page. PostgreSQL has nothing to do.
    async fn bulk_batch_done(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn close(&self);
}

/// One database transaction. Dropping it without [`Tx::commit`] rolls everything back.
#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    // Organisation units.
    async fn insert_unit(&mut self, row: &UnitRow) -> Result<(), StoreError>;
    async fn get_unit(&mut self, id: &str) -> Result<Option<UnitRow>, StoreError>;
    async fn update_unit(&mut self, row: &UnitRow) -> Result<(), StoreError>;
    async fn list_units(&mut self, filter: &UnitFilter) -> Result<Vec<UnitRow>, StoreError>;
    async fn count_units(&mut self) -> Result<u64, StoreError>;

    // Users.
    async fn insert_user(&mut self, row: &UserRow) -> Result<(), StoreError>;
    async fn get_user(&mut self, id: &str) -> Result<Option<UserRow>, StoreError>;
    async fn get_user_by_username(&mut self, username: &str)
    -> Result<Option<UserRow>, StoreError>;
    async fn update_user(&mut self, row: &UserRow) -> Result<(), StoreError>;
    async fn list_users(&mut self, filter: &UserFilter) -> Result<Vec<UserRow>, StoreError>;
    async fn user_grants(&mut self, user_id: &str) -> Result<Vec<PrefCode>, StoreError>;
    async fn put_grant(
        &mut self,
        user_id: &str,
        pref: PrefCode,
        by: &str,
        at_us: i64,
    ) -> Result<bool, StoreError>;
    async fn delete_grant(&mut self, user_id: &str, pref: PrefCode) -> Result<bool, StoreError>;

    // Terminals.
    async fn insert_terminal(&mut self, row: &TerminalRow) -> Result<(), StoreError>;
    async fn get_terminal(&mut self, id: &str) -> Result<Option<TerminalRow>, StoreError>;
    async fn get_terminal_by_key(
        &mut self,
        key_hash: &[u8],
    ) -> Result<Option<TerminalRow>, StoreError>;
    async fn list_terminals(
        &mut self,
        prefs: Option<&[PrefCode]>,
    ) -> Result<Vec<TerminalRow>, StoreError>;
    async fn disable_terminal(&mut self, id: &str, at_us: i64) -> Result<(), StoreError>;

    // Sessions.
    async fn insert_session(&mut self, row: &SessionRow) -> Result<(), StoreError>;
    async fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<SessionRow>, StoreError>;
    async fn touch_session(&mut self, token_hash: &[u8], now_us: i64) -> Result<(), StoreError>;
    async fn end_session(
        &mut self,
        token_hash: &[u8],
        now_us: i64,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Ends every open session of a user; returns how many were open.
    async fn end_user_sessions(
        &mut self,
        user_id: &str,
        now_us: i64,
        reason: &str,
    ) -> Result<u64, StoreError>;

    // The audit log.
    /// The head, locked against other writers until this transaction ends (PostgreSQL
    /// `FOR UPDATE`; SQLite already holds the database write lock).
    async fn audit_head_for_update(&mut self) -> Result<Option<AuditHead>, StoreError>;
    async fn put_audit_head(&mut self, head: &AuditHead) -> Result<(), StoreError>;
    async fn insert_audit_event(&mut self, ev: &StoredEvent) -> Result<(), StoreError>;
    async fn insert_checkpoint(&mut self, cp: &StoredCheckpoint) -> Result<(), StoreError>;
    async fn put_audit_key(
        &mut self,
        key_id: &str,
        public_key: &[u8],
        at_us: i64,
    ) -> Result<(), StoreError>;
    async fn search_audit(&mut self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;

    // Calls and incidents.
    async fn insert_incident(&mut self, row: &IncidentRow) -> Result<(), StoreError>;
    async fn update_incident(&mut self, row: &IncidentRow) -> Result<(), StoreError>;
    async fn get_incident(&mut self, id: &str) -> Result<Option<IncidentRow>, StoreError>;
    /// Newest first.
    async fn list_incidents(&mut self, f: &IncidentFilter) -> Result<Vec<IncidentRow>, StoreError>;
    async fn insert_call(&mut self, row: &CallRow) -> Result<(), StoreError>;
    async fn get_call(&mut self, id: &str) -> Result<Option<CallRow>, StoreError>;
    async fn calls_of_incident(&mut self, incident_id: &str) -> Result<Vec<CallRow>, StoreError>;
    async fn link_call(&mut self, call_id: &str, incident_id: &str) -> Result<(), StoreError>;

    // Dispatchable units.
    async fn insert_dispatch_unit(&mut self, row: &DispatchUnitRow) -> Result<(), StoreError>;
    async fn update_dispatch_unit(&mut self, row: &DispatchUnitRow) -> Result<(), StoreError>;
    async fn get_dispatch_unit(&mut self, id: &str) -> Result<Option<DispatchUnitRow>, StoreError>;
    /// Units of the given prefectures (`None`: all), by id.
    async fn list_dispatch_units(
        &mut self,
        prefs: Option<&[PrefCode]>,
    ) -> Result<Vec<DispatchUnitRow>, StoreError>;

    // Incidents imported from EIDO documents.
    /// The incident a prefecture recorded for another agency's incident, if it did.
    async fn eido_import(
        &mut self,
        pref: PrefCode,
        source_element: &str,
        source_incident_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Remembers which incident records another agency's incident (unique per prefecture).
    async fn insert_eido_import(&mut self, row: &EidoImportRow) -> Result<(), StoreError>;

    // Assignments.
    async fn insert_assignment(&mut self, row: &AssignmentRow) -> Result<(), StoreError>;
    async fn update_assignment(&mut self, row: &AssignmentRow) -> Result<(), StoreError>;
    async fn assignments_of_incident(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<AssignmentRow>, StoreError>;
    async fn active_assignments_of_unit(
        &mut self,
        unit_id: &str,
    ) -> Result<Vec<AssignmentRow>, StoreError>;

    // Messages.
    async fn insert_message(
        &mut self,
        row: &MessageRow,
        unit_ids: &[String],
    ) -> Result<(), StoreError>;
    async fn get_message(&mut self, id: &str) -> Result<Option<MessageRow>, StoreError>;
    async fn receipts_of_message(&mut self, id: &str) -> Result<Vec<ReceiptRow>, StoreError>;
    /// Messages addressed to a unit, newest first, with the unit's receipt.
    async fn messages_of_unit(
        &mut self,
        unit_id: &str,
        limit: u32,
    ) -> Result<Vec<(MessageRow, ReceiptRow)>, StoreError>;
    /// Sets delivered (and read, when `read`) times that are not yet set.
    async fn mark_receipt(
        &mut self,
        message_id: &str,
        unit_id: &str,
        at_us: i64,
        read: bool,
    ) -> Result<bool, StoreError>;

    // National records registry.
    /// Inserts records with their index rows. Bulk loads pass thousands at once.
    async fn insert_registry_records(&mut self, rows: &[RegistryRow]) -> Result<(), StoreError>;
    /// Inserts records without their index rows and marks them unindexed: a bulk load
    /// into a large registry otherwise spends its time inserting digests at random places
    /// of big B-trees. [`Tx::build_registry_index`] adds them in one sorted pass; until
    /// then inquiries report the registry as incomplete.
    /// Returns the records' sequence numbers, in order.
    async fn insert_registry_records_deferred(
        &mut self,
        rows: &[RegistryRow],
    ) -> Result<Vec<i64>, StoreError>;
    /// The first record sequence number whose index rows may be missing, if any (a bulk
    /// load in progress or interrupted, or a migration that changed the index).
    async fn registry_index_pending(&mut self) -> Result<Option<i64>, StoreError>;
    /// Writes the index rows of every record from the pending mark on, from the terms each
    /// record holds (or from `collected`, where it covers exactly those records), and
    /// clears the mark. Returns the index rows written.
    async fn build_registry_index(
        &mut self,
        collected: Option<CollectedIndex>,
    ) -> Result<u64, StoreError>;
    /// Updates a record's columns and documents; with `reindex`, replaces its index rows
    /// with `row.keys` and `row.names`.
    async fn update_registry_record(
        &mut self,
        row: &RegistryRow,
        reindex: bool,
    ) -> Result<(), StoreError>;
    async fn get_registry_record(&mut self, id: &str) -> Result<Option<RegistryRow>, StoreError>;
    /// The record with a sequence number (from [`Tx::registry_name_candidates`]).
    async fn get_registry_record_by_seq(
        &mut self,
        seq: i64,
    ) -> Result<Option<RegistryRow>, StoreError>;
    /// A record about to be changed, locked against other writers until this transaction
    /// ends (PostgreSQL `FOR UPDATE`; SQLite already holds the database write lock), so two
    /// changes of one record — an answer and the sweep's re-send — cannot overwrite each
    /// other.
    async fn get_registry_record_for_update(
        &mut self,
        id: &str,
    ) -> Result<Option<RegistryRow>, StoreError>;
    /// True if no record was ever stored (a bulk load into an empty registry can skip
    /// looking each subject up in storage).
    async fn registry_is_empty(&mut self) -> Result<bool, StoreError>;
    /// Records indexed under an identifier key, any state.
    async fn registry_by_key(&mut self, key: &str) -> Result<Vec<RegistryRow>, StoreError>;
    /// Sequence numbers of records indexed under a name token with a date of birth in
    /// `[lo, hi]`; the index answers alone, without reading a record
    /// (`yyyymmdd`), at most `limit`.
    async fn registry_name_candidates(
        &mut self,
        token: &str,
        lo: i64,
        hi: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError>;
    /// Records that may be due for purging at `now_us`: in the active file and past their
    /// validation window, located, or stolen articles entered before `articles_before_us`.
    /// The caller decides with the lifecycle's own rule.
    async fn registry_purge_candidates(
        &mut self,
        now_us: i64,
        articles_before_us: i64,
        limit: u32,
    ) -> Result<Vec<RegistryRow>, StoreError>;
    /// Records changed after the cursor `(updated_at_us, id)`, oldest change first, at most
    /// `limit` — the offline copy's catch-up by difference.
    async fn registry_changed_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<RegistryRow>, StoreError>;
    /// Deletes a record, its index rows and its work-queue rows, and leaves a tombstone
    /// (its history stays in the audit log).
    async fn delete_registry_record(&mut self, tombstone: &TombstoneRow) -> Result<(), StoreError>;
    /// Tombstones after the cursor `(removed_at_us, record_id)`, oldest first, at most
    /// `limit` — the removals an export by difference must report.
    async fn registry_tombstones_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<TombstoneRow>, StoreError>;
    /// Deletes tombstones older than `before_us` and, if any were deleted, moves the
    /// horizon (before which removals may be unknown) to `before_us`. Returns how many.
    async fn prune_registry_tombstones(&mut self, before_us: i64) -> Result<u64, StoreError>;
    /// The time before which tombstones may have been pruned (`None`: never pruned).
    async fn registry_tombstone_horizon(&mut self) -> Result<Option<i64>, StoreError>;

    // The hit-confirmation work queue.
    /// Inserts or replaces work-queue rows (keyed by record and request id).
    async fn put_registry_hit_requests(&mut self, rows: &[HitRequestRow])
    -> Result<(), StoreError>;
    /// Open requests of one side of the queue, soonest due first.
    async fn list_registry_hit_requests(
        &mut self,
        f: &HitQueueFilter,
    ) -> Result<Vec<HitRequestRow>, StoreError>;
    /// Open, unescalated requests due before `now_us`, soonest first, at most `limit`:
    /// what the sweep must re-send or escalate.
    async fn registry_hit_requests_to_sweep(
        &mut self,
        now_us: i64,
        limit: u32,
    ) -> Result<Vec<HitRequestRow>, StoreError>;
    /// Ids of records whose file JSON contains `needle` — a sequential scan, kept only as
    /// the benchmark's naive baseline; nothing that answers users calls it.
    async fn registry_scan_contains(
        &mut self,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    // Reference data.
    /// Replaces every part of a dataset with `parts`.
    async fn replace_dataset(&mut self, kind: &str, parts: &[Dataset]) -> Result<(), StoreError>;

    // Live events.
    /// Appends events with the next dense sequence numbers and returns the last one. Call
    /// it after the audit event is appended: the audit head lock then orders concurrent
    /// writers, so sequence numbers increase in commit order.
    async fn append_live_events(
        &mut self,
        events: &[NewLiveEvent],
        at_us: i64,
    ) -> Result<u64, StoreError>;
    /// Marks every outbox event up to `seq` as handed to the event bus.
    async fn mark_live_published(&mut self, up_to_seq: u64, at_us: i64) -> Result<u64, StoreError>;
    /// Deletes events older than `before_us` (only published ones unless `all`), always
    /// keeping the newest so that numbering continues.
    async fn prune_live_events(&mut self, before_us: i64, all: bool) -> Result<u64, StoreError>;
}

/// Connects to the database named by `url`: `sqlite://PATH` or `postgres://…`, runs the
/// backend's migrations and returns the store.
pub async fn connect(
    url: &str,
    sqlite_sync: SqliteSync,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(
            SqliteStore::open(std::path::Path::new(path), sqlite_sync).await?,
        ))
    } else {
        Err(StoreError::Config(
            "database URL must start with postgres:// or sqlite://".into(),
        ))
    }
}

pub(crate) fn hash32(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A stored prefecture code; a bad one means the row was damaged, naming what it was.
pub(crate) fn pref_of(s: &str, what: &str) -> Result<PrefCode, StoreError> {
    PrefCode::parse(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn pref_opt(s: Option<String>) -> Result<Option<PrefCode>, StoreError> {
    s.map(|s| PrefCode::parse(&s).map_err(|e| StoreError::Corrupt(format!("prefecture code: {e}"))))
        .transpose()
}

pub(crate) fn u64_of(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

pub(crate) fn i64_of(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} exceeds i64")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn collected_rows_cover_only_exactly_the_pending_records() {
        let mut c = CollectedIndex::default();
        assert!(!c.covers(1, None));
        c.add(
            &[5, 6, 7],
            &[
                (vec![1], vec![]),
                (vec![2], vec![(3, 19800101)]),
                (vec![], vec![]),
            ],
        );
        assert_eq!((c.first_seq, c.last_seq, c.records, c.rows()), (5, 7, 3, 3));
        assert!(c.covers(5, Some(7)));
        // Pending from earlier (records of an interrupted load), stored after, or a gap.
        assert!(!c.covers(4, Some(7)));
        assert!(!c.covers(5, Some(8)));
        c.add(&[9], &[(vec![4], vec![])]);
        assert!(!c.covers(5, Some(9)));
    }

    fn terms(keys: &[&str], names: &[(&str, i64)]) -> String {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let names: Vec<(String, i64)> = names.iter().map(|(t, d)| (t.to_string(), *d)).collect();
        IndexTerms {
            keys: std::borrow::Cow::Owned(keys),
            names: std::borrow::Cow::Owned(names),
        }
        .to_json()
        .unwrap()
    }

    #[test]
    fn the_index_builder_gives_what_one_thread_would() {
        let pages = [
            vec![
                (3, terms(&["K|b", "K|a"], &[("sato", 19800101)])),
                (1, terms(&["K|a"], &[])),
            ],
            vec![],
            vec![(2, terms(&["K|c"], &[("sato", 19800101), ("ito", 0)]))],
        ];
        let (mut keys, mut names) = (Vec::new(), Vec::new());
        for (seq, t) in pages.iter().flatten() {
            IndexTerms::parse(t)
                .unwrap()
                .rows(*seq, &mut keys, &mut names);
        }
        // A page read twice (a retried read) repeats rows; the result holds each once.
        keys.extend(keys.clone());
        sort_index_rows(&mut keys, &mut names);
        let mut b = IndexRowsBuilder::start().unwrap();
        for p in pages.iter().chain(pages.iter().take(1)) {
            b.push(p.clone()).unwrap();
        }
        assert_eq!(b.finish().unwrap(), (keys, names));
    }

    #[test]
    fn terms_that_do_not_parse_fail_the_build() {
        let mut b = IndexRowsBuilder::start().unwrap();
        b.push(vec![(1, "{not json".into())]).unwrap();
        // Later pages may or may not be taken before the thread stops; the first call to
        // see it stopped reports its parse error, whichever that is.
        let e = match b.push(vec![(2, terms(&["K|a"], &[]))]) {
            Err(e) => e,
            Ok(()) => b.finish().unwrap_err(),
        };
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
}
