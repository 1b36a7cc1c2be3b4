//! The embedded default: one SQLite file in the data directory, through rusqlite.
//!
//! Writes go through one connection behind an async mutex: SQLite has one writer at a
//! time anyway, and queueing on the mutex is fairer and cheaper than connections spinning
//! on `SQLITE_BUSY`. A transaction holds the mutex guard from `BEGIN IMMEDIATE` to
//! `COMMIT`; its statements run inline on the calling task (they take microseconds), and
//! only the commit — an fsync under `synchronous=FULL` — moves to a blocking thread.
//! Batch reads outside transactions (verification, the proof cache) use a second,
//! read-only connection on a blocking thread, so they never wait behind writers.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use koban_audit::{AuditEvent, Checkpoint, Hash, StoredCheckpoint, StoredEvent};
use koban_org::{OrgUnit, PrefCode, UnitKind};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sql::{self, Dyn, Param};
use crate::{
    AuditHead, AuditQuery, Backend, Dataset, SessionRow, Store, StoreError, TerminalRow, Tx,
    UnitFilter, UnitRow, UserFilter, UserRow, hash32, i64_of, pref_opt, u64_of,
};

/// How hard SQLite works to make a commit survive power loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged. The default,
    /// because an acknowledged audit event must never vanish.
    #[default]
    Full,
    /// `synchronous=NORMAL`: in WAL mode a commit survives a crash of koban but the last
    /// transactions may be lost if the machine loses power. For benchmarks and test rigs.
    Normal,
}

impl FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            other => Err(format!(
                "unknown SQLite sync mode `{other}` (expected full or normal)"
            )),
        }
    }
}

/// How long a connection waits for another process (say `koban user add` beside a running
/// server) to release the write lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// How often the checkpoint thread copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A checkpoint taking at least this long is logged as a warning. Copying a bulk load's
/// batch takes a few hundred milliseconds; a second or more says the disk is behind.
const SLOW_CHECKPOINT_MS: u128 = 1_000;

/// A WAL file untouched for this long and larger than `WAL_IDLE_KEEP_BYTES` is cut back
/// (see `open_blocking`: the writer never truncates it itself).
const WAL_IDLE_SHRINK: Duration = if cfg!(test) {
    Duration::from_secs(2)
} else {
    Duration::from_secs(10)
};

/// WAL size kept on disk through quiet times (tests use a small one).
const WAL_IDLE_KEEP_BYTES: u64 = if cfg!(test) {
    256 * 1024
} else {
    64 * 1024 * 1024
};

/// WAL size past which the checkpoint thread makes the WAL start over (see
/// `spawn_checkpointer`).
const WAL_RESTART_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Page cache of the read connection, in KiB (as a negative `cache_size`). SQLite's
/// default is 2 MiB; seeks into a registry of millions of records spend their time
/// re-reading pages that a larger cache keeps.
const READER_CACHE_KIB: i64 = -65_536;

/// Page cache of the writer connection, in KiB. Smaller than the reader's because SQLite
/// scans the whole page-cache hash table at the end of nearly every write transaction
/// (a B-tree split parks a page under the lock-byte page number, and the commit then
/// truncates the cache above the database size), which with 64 MiB was 3-5 % of an
/// audited inquiry. The upper levels of every index still fit many times over.
const WRITER_CACHE_KIB: i64 = -16_384;

/// Page cache of the connections that only checkpoint the WAL (SQLite's default).
const CHECKPOINTER_CACHE_KIB: i64 = -2_048;

/// Dirty pages the writer may hold before it spills some into the WAL in the middle of a
/// transaction (SQLite spills as soon as the cache is full). A spilled page is also
/// copied into the open statement's journal, a temporary file, so a bulk-load batch
/// (tens of megabytes, past the writer's cache) paid for every page it spilled three
/// times: the statement journal, the WAL, and again at commit when it changed later. Up
/// to this many pages (128 MiB) a transaction stays in memory and is written once, at
/// commit; small transactions never come near it.
const WRITER_SPILL_PAGES: i64 = 32_768;

/// Statements kept prepared per connection.
const STATEMENT_CACHE: usize = 64;

/// The SQLite migrations, in order. Each runs once, in its own transaction, and is
/// recorded in `_koban_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "reference data",
        include_str!("../migrations/sqlite/0002_reference_data.sql"),
    ),
    (
        3,
        "incidents",
        include_str!("../migrations/sqlite/0003_incidents.sql"),
    ),
    (
        4,
        "dispatch units",
        include_str!("../migrations/sqlite/0004_dispatch_units.sql"),
    ),
    (
        5,
        "assignments",
        include_str!("../migrations/sqlite/0005_assignments.sql"),
    ),
    (
        6,
        "messages",
        include_str!("../migrations/sqlite/0006_messages.sql"),
    ),
    (
        7,
        "live events",
        include_str!("../migrations/sqlite/0007_live_events.sql"),
    ),
    (
        8,
        "registry",
        include_str!("../migrations/sqlite/0008_registry.sql"),
    ),
    (
        9,
        "eido imports",
        include_str!("../migrations/sqlite/0009_eido_imports.sql"),
    ),
    (
        10,
        "registry hit queue and tombstones",
        include_str!("../migrations/sqlite/0010_registry_hit_queue.sql"),
    ),
    (
        11,
        "registry index digests",
        include_str!("../migrations/sqlite/0011_registry_index_digests.sql"),
    ),
];

/// SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    read: Arc<std::sync::Mutex<Connection>>,
    sync: SqliteSync,
    path: std::path::PathBuf,
}

/// The single writer connection with its group-commit state.
///
/// Each koban transaction is a SAVEPOINT inside an outer SQLite transaction. Committing
/// one releases its savepoint into the outer transaction and waits; a flusher task then
/// commits the outer transaction — one fsync for every koban transaction that joined it —
/// and only then are their callers told they succeeded. An action and its audit event
/// stay atomic (same savepoint, same outer transaction), nothing is acknowledged before it
/// is durable, and under `synchronous=FULL` the disk's fsync rate no longer caps the
/// number of audited writes per second.
struct Writer {
    state: Arc<Mutex<WriterState>>,
    /// Koban transactions waiting to begin (for the state lock). Under `synchronous=NORMAL`
    /// a commit with nobody waiting commits its batch itself (see [`SqliteTx::commit`]).
    waiting: std::sync::atomic::AtomicUsize,
    wake: Arc<tokio::sync::Notify>,
    outcome: tokio::sync::watch::Sender<BatchOutcome>,
    sync: SqliteSync,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Wake the flusher so it notices the store is gone and exits.
        self.wake.notify_one();
    }
}

struct WriterState {
    conn: Connection,
    /// Whether the outer transaction is open.
    open: bool,
    /// Id of the batch now being built.
    batch: u64,
    /// Koban transactions released into this batch and waiting for its commit.
    pending: usize,
}

/// What the flusher has committed so far.
#[derive(Clone, Copy, Debug, Default)]
struct BatchOutcome {
    /// Every batch up to and including this id is durable (ids start at 1).
    committed: u64,
    /// The first batch whose commit failed. After a failed commit the store refuses all
    /// writes: a log that cannot be made durable must stop, not limp on.
    failed: Option<u64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, msg) = &e {
            if code.code == rusqlite::ErrorCode::ConstraintViolation {
                let msg = msg.clone().unwrap_or_default();
                // Extended codes: 2067 UNIQUE, 1555 PRIMARY KEY, 787 FOREIGN KEY.
                match code.extended_code {
                    2067 | 1555 => return StoreError::Duplicate { constraint: msg },
                    787 => return StoreError::ForeignKey(msg),
                    _ => {}
                }
            }
        }
        StoreError::Sqlite(e.to_string())
    }
}

fn configure(conn: &Connection, sync: SqliteSync, cache_kib: i64) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Each connection's page cache is sized for its role (see the `*_CACHE_KIB` constants);
    // the memory is only taken as pages are used.
    conn.pragma_update(None, "cache_size", cache_kib)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        },
    )?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the migrations.
    pub async fn open(path: &Path, sync: SqliteSync) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let store = tokio::task::spawn_blocking(move || Self::open_blocking(&opened, sync))
            .await
            .map_err(|e| StoreError::Sqlite(format!("opening the database: {e}")))??;
        tokio::spawn(Self::flusher(
            Arc::downgrade(&store.writer),
            store.writer.wake.clone(),
        ));
        Self::spawn_checkpointer(&path, sync, Arc::downgrade(&store.writer))?;
        Ok(store)
    }

    /// Copies the WAL back into the database file from a thread of its own.
    ///
    /// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so
    /// one audited request in a few hundred paid for copying a thousand pages and an fsync
    /// (the p99 of registry inquiries was four milliseconds against a median of a tenth of
    /// one). The writer's automatic checkpoint is therefore off, and this thread runs a
    /// passive checkpoint, which no writer waits for, every `CHECKPOINT_EVERY`.
    ///
    /// The price: the WAL only starts over when a writer begins after a complete
    /// checkpoint, which a steady stream of writers (a bulk load above all) rarely leaves
    /// room for. Past `WAL_RESTART_BYTES` this thread forces it (a TRUNCATE checkpoint,
    /// which makes writers wait, measured at about half a second), so the file stays
    /// bounded; a bulk load ends with [`Store::checkpoint`] instead. It also cuts back a
    /// WAL file that has not been written for `WAL_IDLE_SHRINK` and is larger than
    /// `WAL_IDLE_KEEP_BYTES`: the writer keeps the file's size when the log starts over
    /// (see `open_blocking`), so that no commit waits for a truncate. The thread ends when
    /// the store is dropped.
    fn spawn_checkpointer(
        path: &Path,
        sync: SqliteSync,
        writer: std::sync::Weak<Writer>,
    ) -> Result<(), StoreError> {
        let conn = Connection::open(path)?;
        configure(&conn, sync, CHECKPOINTER_CACHE_KIB)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        std::thread::Builder::new()
            .name("koban-sqlite-checkpoint".into())
            .spawn(move || {
                while let Some(w) = writer.upgrade() {
                    drop(w);
                    let meta = std::fs::metadata(&wal).ok();
                    let len = meta.as_ref().map_or(0, |m| m.len());
                    let idle = meta
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|d| d >= WAL_IDLE_SHRINK);
                    let forced = len > WAL_RESTART_BYTES;
                    let big = forced || (idle && len > WAL_IDLE_KEEP_BYTES);
                    // A TRUNCATE checkpoint holds the write lock while it waits for readers
                    // of older snapshots (a long scan, an export). Only the forced one may
                    // wait; cutting back an idle file is simply tried again next round.
                    let wait_ms = if forced { BUSY_TIMEOUT_MS } else { 0 };
                    if let Err(e) = conn.busy_timeout(Duration::from_millis(wait_ms)) {
                        tracing::debug!(error = %e, "checkpoint busy timeout");
                    }
                    let sql = if big {
                        "PRAGMA wal_checkpoint(TRUNCATE)"
                    } else {
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    };
                    // A busy database is simply tried again on the next round.
                    let started = std::time::Instant::now();
                    if let Err(e) = conn.query_row(sql, [], |_| Ok(())) {
                        tracing::debug!(error = %e, "WAL checkpoint");
                    }
                    // A checkpoint ends with syncs of the WAL and the database file; one
                    // that takes long says the disk is behind, which writers feel too.
                    let took_ms = started.elapsed().as_millis();
                    if took_ms >= SLOW_CHECKPOINT_MS {
                        tracing::warn!(took_ms, truncate = big, "slow WAL checkpoint");
                    }
                    std::thread::sleep(CHECKPOINT_EVERY);
                }
            })
            .map_err(|e| StoreError::Sqlite(format!("checkpoint thread: {e}")))?;
        Ok(())
    }

    fn open_blocking(path: &Path, sync: SqliteSync) -> Result<SqliteStore, StoreError> {
        let mut write = Connection::open(path)?;
        let mode: String = write.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "SQLite refused WAL mode (got {mode})"
            )));
        }
        configure(&write, sync, WRITER_CACHE_KIB)?;
        write.pragma_update(None, "cache_spill", WRITER_SPILL_PAGES)?;
        migrate(&mut write)?;
        // The checkpoint thread (see `spawn_checkpointer`) does this work instead.
        write.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Under steady load the WAL starts over only in a lull, and with a size limit the
        // writer then truncated the file in the middle of a commit: the truncate waited on
        // the file system's journal for 25-150 ms on the reference machine, and every
        // audited request queued behind it (HTTP p99 42-176 ms at 10 M records). The file
        // is therefore kept at its size when the log starts over, and the checkpoint
        // thread shrinks it once nothing has written for a while.
        write.pragma_update(None, "journal_size_limit", -1)?;
        let read = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&read, sync, READER_CACHE_KIB)?;
        let (outcome, _) = tokio::sync::watch::channel(BatchOutcome::default());
        let writer = Arc::new(Writer {
            state: Arc::new(Mutex::new(WriterState {
                conn: write,
                open: false,
                batch: 1,
                pending: 0,
            })),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            wake: Arc::new(tokio::sync::Notify::new()),
            outcome,
            sync,
        });
        Ok(SqliteStore {
            writer,
            read: Arc::new(std::sync::Mutex::new(read)),
            sync,
            path: path.to_path_buf(),
        })
    }

    /// Commits batches as koban transactions join them; exits when the store is dropped.
    async fn flusher(writer: std::sync::Weak<Writer>, wake: Arc<tokio::sync::Notify>) {
        loop {
            wake.notified().await;
            let Some(w) = writer.upgrade() else { return };
            let state = w.state.clone().lock_owned().await;
            if state.pending == 0 || !state.open {
                continue;
            }
            let batch = state.batch;
            let (state, result) = match w.sync {
                // Under FULL the commit waits for the disk; keep that off the async workers.
                SqliteSync::Full => match tokio::task::spawn_blocking(move || {
                    let r = finish_outer(&state.conn);
                    (state, r)
                })
                .await
                {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::error!(error = %e, "SQLite commit task failed");
                        w.outcome.send_modify(|o| {
                            o.failed.get_or_insert(batch);
                        });
                        return;
                    }
                },
                SqliteSync::Normal => {
                    let r = finish_outer(&state.conn);
                    (state, r)
                }
            };
            w.settle(state, batch, &result);
        }
    }

    /// Runs `f` on the read-only connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let read = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let conn = read
                .lock()
                .map_err(|_| StoreError::Sqlite("read connection poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("read task: {e}")))?
    }
}

/// Counts one transaction waiting for the writer, until dropped: a request cancelled while
/// it waits (a timeout, a closed connection) must not leave the count raised, or every
/// later commit would go to the flusher.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Writer {
    /// Closes the batch just committed (or failed) and tells its waiters.
    fn settle(
        &self,
        mut state: OwnedMutexGuard<WriterState>,
        batch: u64,
        result: &rusqlite::Result<()>,
    ) {
        state.open = false;
        state.pending = 0;
        state.batch += 1;
        drop(state);
        self.outcome.send_modify(|o| match result {
            Ok(()) => o.committed = batch,
            Err(e) => {
                tracing::error!(error = %e, batch, "SQLite group commit failed; refusing further writes");
                o.failed.get_or_insert(batch);
            }
        });
    }
}

/// Commits the outer transaction, rolling it back if the commit fails.
fn finish_outer(conn: &Connection) -> rusqlite::Result<()> {
    let r = conn.execute_batch("COMMIT");
    if r.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    r
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_with(conn, MIGRATIONS)
}

/// Applies the given migrations that are not applied yet (tests apply a prefix to build a
/// database as an older version left it).
fn migrate_with(conn: &mut Connection, migrations: &[(i64, &str, &str)]) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _koban_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
         applied_at_us INTEGER NOT NULL)",
    )?;
    for (version, description, text) in migrations {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM _koban_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(text)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            tx.execute(
                "INSERT INTO _koban_migrations (version, description, applied_at_us) VALUES (?1, ?2, ?3)",
                params![version, description, now],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// Rewrites `$n` placeholders to SQLite's numbered `?n`.
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

fn dyn_params(d: &Dyn) -> Vec<Value> {
    d.params
        .iter()
        .map(|p| match p {
            Param::Text(s) => Value::Text(s.clone()),
            Param::Real(x) => Value::Real(*x),
            Param::Int(i) => Value::Integer(*i),
        })
        .collect()
}

fn unit_from_row(r: &Row<'_>) -> Result<UnitRow, StoreError> {
    let kind: String = r.get("kind")?;
    Ok(UnitRow {
        unit: OrgUnit {
            id: r.get("id")?,
            kind: UnitKind::parse(&kind)
                .map_err(|e| StoreError::Corrupt(format!("unit kind: {e}")))?,
            parent_id: r.get("parent_id")?,
            name_ja: r.get("name_ja")?,
            name_en: r.get("name_en")?,
            pref_code: pref_opt(r.get("pref_code")?)?,
            latitude: r.get("latitude")?,
            longitude: r.get("longitude")?,
            address: r.get("address")?,
        },
        builtin: r.get("builtin")?,
        disabled: r.get("disabled")?,
        created_at_us: r.get("created_at_us")?,
        updated_at_us: r.get("updated_at_us")?,
    })
}

fn user_from_row(r: &Row<'_>) -> Result<UserRow, StoreError> {
    let roles: String = r.get("roles")?;
    let failed: i64 = r.get("failed_count")?;
    Ok(UserRow {
        id: r.get("id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        unit_id: r.get("unit_id")?,
        pref_code: pref_opt(r.get("pref_code")?)?,
        roles: koban_access::Roles::from_csv(&roles)
            .map_err(|e| StoreError::Corrupt(format!("roles: {e}")))?,
        password_hash: r.get("password_hash")?,
        totp_secret: r.get("totp_secret")?,
        totp_last_step: r.get("totp_last_step")?,
        failed_count: u32::try_from(failed)
            .map_err(|_| StoreError::Corrupt("failed_count".into()))?,
        failed_window_start_us: r.get("failed_window_start_us")?,
        locked_at_us: r.get("locked_at_us")?,
        disabled_at_us: r.get("disabled_at_us")?,
        allow_concurrent: r.get("allow_concurrent")?,
        last_login_us: r.get("last_login_us")?,
        created_at_us: r.get("created_at_us")?,
        updated_at_us: r.get("updated_at_us")?,
    })
}

fn terminal_from_row(r: &Row<'_>) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        id: r.get("id")?,
        name: r.get("name")?,
        unit_id: r.get("unit_id")?,
        pref_code: pref_opt(r.get("pref_code")?)?,
        key_hash: r.get("key_hash")?,
        idle_exempt: r.get("idle_exempt")?,
        created_at_us: r.get("created_at_us")?,
        disabled_at_us: r.get("disabled_at_us")?,
    })
}

fn session_from_row(r: &Row<'_>) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        token_hash: r.get("token_hash")?,
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        created_at_us: r.get("created_at_us")?,
        last_seen_us: r.get("last_seen_us")?,
        ended_at_us: r.get("ended_at_us")?,
        end_reason: r.get("end_reason")?,
        terminal_id: r.get("terminal_id")?,
        idle_exempt: r.get("idle_exempt")?,
        client_addr: r.get("client_addr")?,
    })
}

fn head_from_row(r: &Row<'_>) -> Result<AuditHead, StoreError> {
    Ok(AuditHead {
        tree_size: u64_of(r.get("tree_size")?, "tree_size")?,
        frontier: r.get("frontier")?,
        root_hash: hash32(r.get("root_hash")?, "root_hash")?,
        timestamp_us: r.get("timestamp_us")?,
        origin: r.get("origin")?,
        key_id: r.get("key_id")?,
        signature: r.get("signature")?,
        last_checkpoint_size: u64_of(r.get("last_checkpoint_size")?, "last_checkpoint_size")?,
        last_checkpoint_us: r.get("last_checkpoint_us")?,
    })
}

// Audit event columns are read by position: verification reads millions of rows, and
// name lookups would be a measurable share of that. The order is that of `EVENT_COLUMNS`.
const EVENT_COLUMNS: &str = "seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, object_type, \
                             object_id, scope_pref, purpose, result, detail, client_addr, request_id";

fn event_from_row(r: &Row<'_>) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: u64_of(r.get(0)?, "seq")?,
        time_us: r.get(1)?,
        actor_id: r.get(2)?,
        actor_name: r.get(3)?,
        actor_roles: r.get(4)?,
        actor_unit: r.get(5)?,
        action: r.get(6)?,
        object_type: r.get(7)?,
        object_id: r.get(8)?,
        scope_pref: r.get(9)?,
        purpose: r.get(10)?,
        result: r.get(11)?,
        detail: r.get(12)?,
        client_addr: r.get(13)?,
        request_id: r.get(14)?,
    })
}

fn stored_event_from_row(r: &Row<'_>) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event: event_from_row(r)?,
        leaf_hash: hash32(r.get(15)?, "leaf_hash")?,
        tree_root: hash32(r.get(16)?, "tree_root")?,
    })
}

fn incident_from_row(r: &Row<'_>) -> Result<crate::IncidentRow, StoreError> {
    let pref: String = r.get("pref_code")?;
    Ok(crate::IncidentRow {
        id: r.get("id")?,
        pref_code: crate::pref_of(&pref, "incident prefecture")?,
        state: r.get("state")?,
        type_code: r.get("type_code")?,
        priority: r.get("priority")?,
        lat: r.get("lat")?,
        lon: r.get("lon")?,
        created_at_us: r.get("created_at_us")?,
        updated_at_us: r.get("updated_at_us")?,
        doc: r.get("doc")?,
    })
}

fn call_from_row(r: &Row<'_>) -> Result<crate::CallRow, StoreError> {
    let pref: String = r.get("pref_code")?;
    Ok(crate::CallRow {
        id: r.get("id")?,
        pref_code: crate::pref_of(&pref, "call prefecture")?,
        received_at_us: r.get("received_at_us")?,
        incident_id: r.get("incident_id")?,
        doc: r.get("doc")?,
    })
}

fn dispatch_unit_from_row(r: &Row<'_>) -> Result<crate::DispatchUnitRow, StoreError> {
    let pref: String = r.get("pref_code")?;
    Ok(crate::DispatchUnitRow {
        id: r.get("id")?,
        pref_code: crate::pref_of(&pref, "unit prefecture")?,
        status: r.get("status")?,
        lat: r.get("lat")?,
        lon: r.get("lon")?,
        position_at_us: r.get("position_at_us")?,
        updated_at_us: r.get("updated_at_us")?,
        doc: r.get("doc")?,
    })
}

fn assignment_from_row(r: &Row<'_>) -> Result<crate::AssignmentRow, StoreError> {
    let pref: String = r.get("pref_code")?;
    Ok(crate::AssignmentRow {
        id: r.get("id")?,
        incident_id: r.get("incident_id")?,
        unit_id: r.get("unit_id")?,
        pref_code: crate::pref_of(&pref, "assignment prefecture")?,
        active: r.get("active")?,
        updated_at_us: r.get("updated_at_us")?,
        doc: r.get("doc")?,
    })
}

fn message_from_row(r: &Row<'_>) -> Result<crate::MessageRow, StoreError> {
    let pref: String = r.get("pref_code")?;
    Ok(crate::MessageRow {
        id: r.get("id")?,
        pref_code: crate::pref_of(&pref, "message prefecture")?,
        sender_id: r.get("sender_id")?,
        created_at_us: r.get("created_at_us")?,
        target_kind: r.get("target_kind")?,
        target_id: r.get("target_id")?,
        incident_id: r.get("incident_id")?,
        text: r.get("text")?,
        lat: r.get("lat")?,
        lon: r.get("lon")?,
        image_type: r.get("image_type")?,
        image: r.get("image")?,
    })
}

fn live_from_row(r: &Row<'_>) -> Result<crate::LiveEventRow, StoreError> {
    let pref: Option<String> = r.get(3)?;
    Ok(crate::LiveEventRow {
        seq: u64_of(r.get(0)?, "seq")?,
        at_us: r.get(1)?,
        kind: r.get(2)?,
        pref_code: crate::pref_opt(pref)?,
        data: r.get(4)?,
        published_at_us: r.get(5)?,
    })
}

fn receipt_from_row(r: &Row<'_>) -> Result<crate::ReceiptRow, StoreError> {
    Ok(crate::ReceiptRow {
        message_id: r.get("message_id")?,
        unit_id: r.get("unit_id")?,
        delivered_at_us: r.get("delivered_at_us")?,
        read_at_us: r.get("read_at_us")?,
    })
}

fn registry_from_row(r: &Row<'_>) -> Result<crate::RegistryRow, StoreError> {
    let pref: String = r.get(2)?;
    Ok(crate::RegistryRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        owner_pref: crate::pref_of(&pref, "registry owner")?,
        state: r.get(3)?,
        entered_at_us: r.get(4)?,
        updated_at_us: r.get(5)?,
        validation_due_us: r.get(6)?,
        file: r.get(7)?,
        lifecycle: r.get(8)?,
        keys: Vec::new(),
        names: Vec::new(),
    })
}

fn hit_request_from_row(r: &Row<'_>) -> Result<crate::HitRequestRow, StoreError> {
    let owner: String = r.get(3)?;
    let from: String = r.get(4)?;
    Ok(crate::HitRequestRow {
        record_id: r.get(0)?,
        request_id: r.get(1)?,
        record_kind: r.get(2)?,
        owner_pref: crate::pref_of(&owner, "hit request owner")?,
        from_pref: crate::pref_of(&from, "hit request inquirer")?,
        priority: r.get(5)?,
        sent_at_us: r.get(6)?,
        due_at_us: r.get(7)?,
        resends: r.get(8)?,
        escalated_at_us: r.get(9)?,
        state: r.get(10)?,
    })
}

fn tombstone_from_row(r: &Row<'_>) -> Result<crate::TombstoneRow, StoreError> {
    let owner: String = r.get(1)?;
    Ok(crate::TombstoneRow {
        record_id: r.get(0)?,
        owner_pref: crate::pref_of(&owner, "tombstone owner")?,
        removed_at_us: r.get(2)?,
        reason: r.get(3)?,
    })
}

/// Records written per multi-row `INSERT` (ten parameters each).
pub(crate) const RECORDS_PER_INSERT: usize = 128;

/// Index rows written per multi-row `INSERT`. An index rebuild writes tens of millions of
/// rows; one statement execution each spent more on binding, stepping and resetting the
/// statement than on the B-tree insert itself.
pub(crate) const INDEX_ROWS_PER_INSERT: usize = 256;

/// Writes `rows` `per` at a time with the multi-row statement `many_sql(per)`, and the
/// rest one at a time with `one_sql`; `bind` lists one row's parameters. Calls `after`
/// with each statement's rows once it has run.
fn insert_chunked<T, const N: usize>(
    conn: &Connection,
    rows: &[T],
    per: usize,
    many_sql: fn(usize) -> String,
    one_sql: &str,
    bind: impl Fn(&T) -> [&dyn rusqlite::ToSql; N],
    mut after: impl FnMut(&[T]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut chunks = rows.chunks_exact(per);
    if rows.len() >= per {
        let mut many = conn.prepare_cached(&many_sql(per))?;
        for chunk in chunks.by_ref() {
            many.execute(rusqlite::params_from_iter(chunk.iter().flat_map(&bind)))?;
            after(chunk)?;
        }
    }
    let mut one = conn.prepare_cached(&q(one_sql))?;
    for r in chunks.remainder() {
        one.execute(&bind(r)[..])?;
        after(std::slice::from_ref(r))?;
    }
    Ok(())
}

/// A record's parameters that are not fields of its row.
struct StoredRecord<'a> {
    row: &'a crate::RegistryRow,
    owner: &'static str,
    terms: String,
}

/// Inserts records (with their terms) and returns their sequence numbers in order.
fn insert_registry_rows(
    conn: &Connection,
    rows: &[crate::RegistryRow],
) -> Result<Vec<i64>, StoreError> {
    let stored = rows
        .iter()
        .map(|row| {
            Ok(StoredRecord {
                row,
                owner: row.owner_pref.as_str(),
                terms: crate::IndexTerms::of(row).to_json()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut seq_of = conn.prepare_cached(&q(sql::REGISTRY_SEQ_BY_ID))?;
    let mut seqs = Vec::with_capacity(rows.len());
    insert_chunked(
        conn,
        &stored,
        RECORDS_PER_INSERT,
        sql::insert_registry_records_many,
        sql::INSERT_REGISTRY_RECORD,
        |s| {
            let r = s.row;
            [
                &r.id as &dyn rusqlite::ToSql,
                &r.kind,
                &s.owner,
                &r.state,
                &r.entered_at_us,
                &r.updated_at_us,
                &r.validation_due_us,
                &s.terms,
                &r.file,
                &r.lifecycle,
            ]
        },
        |written| {
            // SQLite gives each new row the largest rowid so far plus one, so one
            // statement's rows are numbered consecutively; the first row's number confirms
            // it, and where it does not hold (a table whose largest rowid is the largest
            // integer), each row's number is read back instead of assumed.
            let last = conn.last_insert_rowid();
            if written.len() == 1 {
                seqs.push(last);
                return Ok(());
            }
            let first = last - (written.len() as i64 - 1);
            let first_stored: i64 = seq_of.query_row([&written[0].row.id], |r| r.get(0))?;
            if first_stored == first {
                seqs.extend(first..=last);
            } else {
                for s in written {
                    seqs.push(seq_of.query_row([&s.row.id], |r| r.get(0))?);
                }
            }
            Ok(())
        },
    )?;
    Ok(seqs)
}

/// The index rows of every record from `from` on, from the terms each record holds: the
/// connection reads them page by page while the builder's thread parses and hashes them.
fn read_index_rows(conn: &Connection, from: i64) -> Result<crate::IndexRows, StoreError> {
    let mut builder = crate::IndexRowsBuilder::start()?;
    let mut page = conn.prepare_cached(&q(sql::REGISTRY_TERMS_FROM))?;
    let mut after = Some(from.saturating_sub(1));
    while let Some(cursor) = after {
        let terms = page
            .query_map(params![cursor, crate::INDEX_BUILD_PAGE], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        after = builder.push_page(terms)?;
    }
    builder.finish()
}

/// Writes index rows; callers pass them sorted, so the B-tree inserts stay local.
fn insert_index_rows(
    conn: &Connection,
    keys: &[(i64, i64)],
    names: &[(i64, i64, i64)],
) -> Result<(), StoreError> {
    insert_chunked(
        conn,
        keys,
        INDEX_ROWS_PER_INSERT,
        sql::insert_registry_keys_many,
        sql::INSERT_REGISTRY_KEY,
        |(k, seq)| [k as &dyn rusqlite::ToSql, seq],
        |_| Ok(()),
    )?;
    insert_chunked(
        conn,
        names,
        INDEX_ROWS_PER_INSERT,
        sql::insert_registry_names_many,
        sql::INSERT_REGISTRY_NAME,
        |(t, d, seq)| [t as &dyn rusqlite::ToSql, d, seq],
        |_| Ok(()),
    )
}

/// Removes a record's index rows, as its stored terms list them; returns its sequence
/// number (none if there is no such record).
fn delete_index_rows(conn: &Connection, id: &str) -> Result<Option<i64>, StoreError> {
    let found: Option<(i64, String)> = one(conn, &q(sql::REGISTRY_TERMS_BY_ID), [id], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    let Some((seq, terms)) = found else {
        return Ok(None);
    };
    let (mut keys, mut names) = (Vec::new(), Vec::new());
    crate::IndexTerms::parse(&terms)?.rows(seq, &mut keys, &mut names);
    let mut key = conn.prepare_cached(&q(sql::DELETE_REGISTRY_KEY))?;
    for (k, seq) in keys {
        key.execute(params![k, seq])?;
    }
    let mut name = conn.prepare_cached(&q(sql::DELETE_REGISTRY_NAME))?;
    for (t, d, seq) in names {
        name.execute(params![t, d, seq])?;
    }
    Ok(Some(seq))
}

fn dataset_from_row(r: &Row<'_>) -> Result<Dataset, StoreError> {
    Ok(Dataset {
        source_name: r.get("source_name")?,
        sha256: r.get("sha256")?,
        bytes: r.get("bytes")?,
        imported_at_us: r.get("imported_at_us")?,
    })
}

fn checkpoint_from_row(r: &Row<'_>) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        checkpoint: Checkpoint {
            origin: r.get("origin")?,
            tree_size: u64_of(r.get("tree_size")?, "tree_size")?,
            root_hash: hash32(r.get("root_hash")?, "root_hash")?,
            timestamp_us: r.get("timestamp_us")?,
        },
        key_id: r.get("key_id")?,
        signature: r.get("signature")?,
    })
}

/// Runs a query and maps every row, turning driver and mapping errors into one type.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(params)?)
}

/// A koban transaction: a savepoint in the writer's current batch.
pub struct SqliteTx {
    state: Option<OwnedMutexGuard<WriterState>>,
    writer: Arc<Writer>,
}

impl std::fmt::Debug for SqliteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteTx")
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        // Not committed: undo this transaction's savepoint only. If nothing else joined
        // the batch, end the outer transaction too, so the write lock is not held idle.
        if let Some(state) = &mut self.state {
            let r = state
                .conn
                .execute_batch("ROLLBACK TO koban_tx; RELEASE koban_tx");
            if r.is_err() || state.pending == 0 {
                if !state.conn.is_autocommit() {
                    if let Err(e) = state.conn.execute_batch("ROLLBACK") {
                        tracing::error!(error = %e, "SQLite rollback failed");
                    }
                }
                state.open = false;
                state.pending = 0;
            }
        }
    }
}

impl SqliteTx {
    fn c(&self) -> Result<&Connection, StoreError> {
        self.state
            .as_deref()
            .map(|s| &s.conn)
            .ok_or_else(|| StoreError::Sqlite("transaction already finished".into()))
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        if let Some(b) = self.writer.outcome.borrow().failed {
            return Err(StoreError::Sqlite(format!(
                "the store stopped after commit batch {b} failed"
            )));
        }
        let waiting = Waiting::new(&self.writer.waiting);
        let mut state = self.writer.state.clone().lock_owned().await;
        drop(waiting);
        if !state.open {
            // IMMEDIATE takes the write lock now, so a transaction that reads and then
            // writes can never deadlock against another process upgrading its read lock.
            state.conn.execute_batch("BEGIN IMMEDIATE")?;
            state.open = true;
        }
        if let Err(e) = state.conn.execute_batch("SAVEPOINT koban_tx") {
            if state.pending == 0 {
                let _ = state.conn.execute_batch("ROLLBACK");
                state.open = false;
            }
            return Err(e.into());
        }
        Ok(Box::new(SqliteTx {
            state: Some(state),
            writer: self.writer.clone(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A store that stopped after a failed commit is not ready, even if it still reads.
        if let Some(b) = self.writer.outcome.borrow().failed {
            return Err(StoreError::Sqlite(format!(
                "the store stopped after commit batch {b} failed"
            )));
        }
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

    async fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        self.read(|c| {
            collect(
                c,
                "SELECT version FROM _koban_migrations ORDER BY version",
                [],
                |r| Ok(r.get(0)?),
            )
        })
        .await
    }

    async fn audit_events_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let from = i64_of(from_seq, "from_seq")?;
        self.read(move |c| {
            let sql = format!("SELECT {EVENT_COLUMNS}, leaf_hash, tree_root FROM audit_events WHERE seq >= ?1 ORDER BY seq LIMIT ?2");
            collect(c, &sql, params![from, i64::from(limit)], stored_event_from_row)
        })
        .await
    }

    async fn audit_leaves_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let from = i64_of(from_seq, "from_seq")?;
        self.read(move |c| {
            collect(
                c,
                &q(sql::AUDIT_LEAVES_FROM),
                params![from, i64::from(limit)],
                |r| Ok((u64_of(r.get(0)?, "seq")?, hash32(r.get(1)?, "leaf_hash")?)),
            )
        })
        .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.read(|c| collect(c, sql::ALL_CHECKPOINTS, [], checkpoint_from_row))
            .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.read(|c| one(c, sql::AUDIT_HEAD, [], head_from_row))
            .await
    }

    async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read(|c| collect(c, sql::ALL_AUDIT_KEYS, [], |r| Ok((r.get(0)?, r.get(1)?))))
            .await
    }

    async fn peek_user(&self, by: crate::UserKey<'_>) -> Result<Option<UserRow>, StoreError> {
        let (sql, key) = match by {
            crate::UserKey::Id(id) => (sql::USER_BY_ID, id.to_string()),
            crate::UserKey::Username(u) => (sql::USER_BY_USERNAME, u.to_string()),
        };
        self.read(move |c| one(c, &q(sql), [key], user_from_row))
            .await
    }

    async fn load_dataset(&self, kind: &str) -> Result<Vec<Dataset>, StoreError> {
        let kind = kind.to_string();
        self.read(move |c| collect(c, &q(sql::DATASET_PARTS), [kind], dataset_from_row))
            .await
    }

    async fn live_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::LiveEventRow>, StoreError> {
        let after = i64_of(after, "after")?;
        self.read(move |c| {
            collect(
                c,
                &q(sql::LIVE_EVENTS_AFTER),
                params![after, i64::from(limit)],
                live_from_row,
            )
        })
        .await
    }

    async fn list_units_read(&self, f: &UnitFilter) -> Result<Vec<UnitRow>, StoreError> {
        let d = sql::list_units(f);
        self.read(move |c| {
            collect(
                c,
                &q(&d.sql),
                rusqlite::params_from_iter(dyn_params(&d)),
                unit_from_row,
            )
        })
        .await
    }

    async fn live_bounds(&self) -> Result<(u64, u64), StoreError> {
        self.read(|c| {
            let (lo, hi): (i64, i64) =
                c.query_row(sql::LIVE_BOUNDS, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((u64_of(lo, "seq")?, u64_of(hi, "seq")?))
        })
        .await
    }

    async fn live_outbox(&self, limit: u32) -> Result<Vec<crate::LiveEventRow>, StoreError> {
        self.read(move |c| {
            collect(
                c,
                &q(sql::LIVE_OUTBOX),
                params![i64::from(limit)],
                live_from_row,
            )
        })
        .await
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        let (path, sync) = (self.path.clone(), self.sync);
        tokio::task::spawn_blocking(move || {
            let conn = Connection::open(&path)?;
            configure(&conn, sync, CHECKPOINTER_CACHE_KIB)?;
            // RESTART, not TRUNCATE: freeing a log of gigabytes (the index pass writes one)
            // kept the file system busy for seconds after, and the requests that came
            // next waited on it. The checkpoint thread cuts the file back once quiet.
            conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("checkpoint task: {e}")))?
    }

    async fn bulk_batch_done(&self) -> Result<(), StoreError> {
        let state = self.writer.state.clone().lock_owned().await;
        // With a transaction open, another writer is mid-batch: leave the log to it. The
        // copy (and the database sync that ends it) holds up the writer, which is why only
        // a bulk load asks for it: in steady use the checkpoint thread copies the log
        // without anyone waiting, and the file is cut back past `WAL_RESTART_BYTES`.
        if state.open {
            return Ok(());
        }
        // The copy and the sync wait for the disk; keep them off the async workers.
        tokio::task::spawn_blocking(move || {
            state
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("WAL copy task: {e}")))?
    }

    async fn close(&self) {
        // rusqlite closes connections when the last handle drops; make sure the WAL is
        // folded back so the file is self-contained for backups.
        let state = self.writer.state.lock().await;
        let _ = state.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let mut state = self
            .state
            .take()
            .ok_or_else(|| StoreError::Sqlite("transaction already finished".into()))?;
        if let Err(e) = state.conn.execute_batch("RELEASE koban_tx") {
            let _ = state
                .conn
                .execute_batch("ROLLBACK TO koban_tx; RELEASE koban_tx");
            return Err(e.into());
        }
        state.pending += 1;
        let batch = state.batch;
        let writer = self.writer.clone();
        // Under NORMAL a commit does not wait for the disk. When no other transaction is
        // waiting to join the batch, handing it to the flusher only adds two thread
        // wake-ups to every audited request (a third of an inquiry's median on a small
        // VM), so the last transaction of a batch commits it itself. Under load, those
        // waiting join this batch first and the last of them commits it.
        if writer.sync == SqliteSync::Normal
            && writer.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0
        {
            let result = finish_outer(&state.conn);
            writer.settle(state, batch, &result);
            return result.map_err(|e| {
                StoreError::Sqlite(format!(
                    "commit batch {batch} failed; nothing in it was stored: {e}"
                ))
            });
        }
        drop(state);
        writer.wake.notify_one();
        let mut outcome = writer.outcome.subscribe();
        let o = *outcome
            .wait_for(|o| o.committed >= batch || o.failed.is_some_and(|f| f <= batch))
            .await
            .map_err(|_| StoreError::Sqlite("the commit flusher stopped".into()))?;
        if o.committed >= batch {
            Ok(())
        } else {
            Err(StoreError::Sqlite(format!(
                "commit batch {batch} failed; nothing in it was stored"
            )))
        }
    }

    async fn insert_unit(&mut self, row: &UnitRow) -> Result<(), StoreError> {
        let u = &row.unit;
        exec(
            self.c()?,
            &q(sql::INSERT_UNIT),
            params![
                u.id,
                u.kind.as_str(),
                u.parent_id,
                u.name_ja,
                u.name_en,
                u.pref_code.map(|p| p.as_str()),
                u.latitude,
                u.longitude,
                u.address,
                row.builtin,
                row.disabled,
                row.created_at_us,
                row.updated_at_us
            ],
        )?;
        Ok(())
    }

    async fn get_unit(&mut self, id: &str) -> Result<Option<UnitRow>, StoreError> {
        one(self.c()?, &q(sql::UNIT_BY_ID), [id], unit_from_row)
    }

    async fn update_unit(&mut self, row: &UnitRow) -> Result<(), StoreError> {
        let u = &row.unit;
        exec(
            self.c()?,
            &q(sql::UPDATE_UNIT),
            params![
                u.id,
                u.name_ja,
                u.name_en,
                u.latitude,
                u.longitude,
                u.address,
                row.disabled,
                row.updated_at_us,
                u.parent_id
            ],
        )?;
        Ok(())
    }

    async fn list_units(&mut self, f: &UnitFilter) -> Result<Vec<UnitRow>, StoreError> {
        let d = sql::list_units(f);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            unit_from_row,
        )
    }

    async fn count_units(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self.c()?.query_row(sql::COUNT_UNITS, [], |r| r.get(0))?;
        u64_of(n, "count")
    }

    async fn insert_user(&mut self, u: &UserRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_USER),
            params![
                u.id,
                u.username,
                u.display_name,
                u.unit_id,
                u.pref_code.map(|p| p.as_str()),
                u.roles.to_csv(),
                u.password_hash,
                u.totp_secret,
                u.totp_last_step,
                i64::from(u.failed_count),
                u.failed_window_start_us,
                u.locked_at_us,
                u.disabled_at_us,
                u.allow_concurrent,
                u.last_login_us,
                u.created_at_us,
                u.updated_at_us
            ],
        )?;
        Ok(())
    }

    async fn get_user(&mut self, id: &str) -> Result<Option<UserRow>, StoreError> {
        one(self.c()?, &q(sql::USER_BY_ID), [id], user_from_row)
    }

    async fn get_user_by_username(
        &mut self,
        username: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        one(
            self.c()?,
            &q(sql::USER_BY_USERNAME),
            [username],
            user_from_row,
        )
    }

    async fn update_user(&mut self, u: &UserRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::UPDATE_USER),
            params![
                u.id,
                u.display_name,
                u.unit_id,
                u.pref_code.map(|p| p.as_str()),
                u.roles.to_csv(),
                u.password_hash,
                u.totp_secret,
                u.totp_last_step,
                i64::from(u.failed_count),
                u.failed_window_start_us,
                u.locked_at_us,
                u.disabled_at_us,
                u.allow_concurrent,
                u.last_login_us,
                u.updated_at_us
            ],
        )?;
        Ok(())
    }

    async fn list_users(&mut self, f: &UserFilter) -> Result<Vec<UserRow>, StoreError> {
        let d = sql::list_users(f);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            user_from_row,
        )
    }

    async fn user_grants(&mut self, user_id: &str) -> Result<Vec<PrefCode>, StoreError> {
        collect(self.c()?, &q(sql::GRANTS_OF_USER), [user_id], |r| {
            let s: String = r.get(0)?;
            crate::pref_of(&s, "grant")
        })
    }

    async fn put_grant(
        &mut self,
        user_id: &str,
        pref: PrefCode,
        by: &str,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        Ok(exec(
            self.c()?,
            &q(sql::INSERT_GRANT),
            params![user_id, pref.as_str(), by, at_us],
        )? == 1)
    }

    async fn delete_grant(&mut self, user_id: &str, pref: PrefCode) -> Result<bool, StoreError> {
        Ok(exec(
            self.c()?,
            &q(sql::DELETE_GRANT),
            params![user_id, pref.as_str()],
        )? == 1)
    }

    async fn insert_terminal(&mut self, t: &TerminalRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_TERMINAL),
            params![
                t.id,
                t.name,
                t.unit_id,
                t.pref_code.map(|p| p.as_str()),
                t.key_hash,
                t.idle_exempt,
                t.created_at_us,
                t.disabled_at_us
            ],
        )?;
        Ok(())
    }

    async fn get_terminal(&mut self, id: &str) -> Result<Option<TerminalRow>, StoreError> {
        one(self.c()?, &q(sql::TERMINAL_BY_ID), [id], terminal_from_row)
    }

    async fn get_terminal_by_key(
        &mut self,
        key_hash: &[u8],
    ) -> Result<Option<TerminalRow>, StoreError> {
        one(
            self.c()?,
            &q(sql::TERMINAL_BY_KEY),
            [key_hash],
            terminal_from_row,
        )
    }

    async fn list_terminals(
        &mut self,
        prefs: Option<&[PrefCode]>,
    ) -> Result<Vec<TerminalRow>, StoreError> {
        let d = sql::list_terminals(prefs);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            terminal_from_row,
        )
    }

    async fn disable_terminal(&mut self, id: &str, at_us: i64) -> Result<(), StoreError> {
        exec(self.c()?, &q(sql::DISABLE_TERMINAL), params![id, at_us])?;
        Ok(())
    }

    async fn insert_session(&mut self, s: &SessionRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_SESSION),
            params![
                s.token_hash,
                s.id,
                s.user_id,
                s.created_at_us,
                s.last_seen_us,
                s.ended_at_us,
                s.end_reason,
                s.terminal_id,
                s.idle_exempt,
                s.client_addr
            ],
        )?;
        Ok(())
    }

    async fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
        one(
            self.c()?,
            &q(sql::SESSION_BY_HASH),
            [token_hash],
            session_from_row,
        )
    }

    async fn touch_session(&mut self, token_hash: &[u8], now_us: i64) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::TOUCH_SESSION),
            params![token_hash, now_us],
        )?;
        Ok(())
    }

    async fn end_session(
        &mut self,
        token_hash: &[u8],
        now_us: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::END_SESSION),
            params![token_hash, now_us, reason],
        )?;
        Ok(())
    }

    async fn end_user_sessions(
        &mut self,
        user_id: &str,
        now_us: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        Ok(exec(
            self.c()?,
            &q(sql::END_USER_SESSIONS),
            params![user_id, now_us, reason],
        )? as u64)
    }

    async fn audit_head_for_update(&mut self) -> Result<Option<AuditHead>, StoreError> {
        // The transaction already holds SQLite's write lock (BEGIN IMMEDIATE).
        one(self.c()?, sql::AUDIT_HEAD, [], head_from_row)
    }

    async fn put_audit_head(&mut self, h: &AuditHead) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::UPSERT_AUDIT_HEAD),
            params![
                i64_of(h.tree_size, "tree_size")?,
                h.frontier,
                &h.root_hash[..],
                h.timestamp_us,
                h.origin,
                h.key_id,
                h.signature,
                i64_of(h.last_checkpoint_size, "last_checkpoint_size")?,
                h.last_checkpoint_us
            ],
        )?;
        Ok(())
    }

    async fn insert_audit_event(&mut self, s: &StoredEvent) -> Result<(), StoreError> {
        let e = &s.event;
        exec(
            self.c()?,
            &q(sql::INSERT_AUDIT_EVENT),
            params![
                i64_of(e.seq, "seq")?,
                e.time_us,
                e.actor_id,
                e.actor_name,
                e.actor_roles,
                e.actor_unit,
                e.action,
                e.object_type,
                e.object_id,
                e.scope_pref,
                e.purpose,
                e.result,
                e.detail,
                e.client_addr,
                e.request_id,
                &s.leaf_hash[..],
                &s.tree_root[..]
            ],
        )?;
        Ok(())
    }

    async fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<(), StoreError> {
        let cp = &c.checkpoint;
        exec(
            self.c()?,
            &q(sql::INSERT_CHECKPOINT),
            params![
                i64_of(cp.tree_size, "tree_size")?,
                &cp.root_hash[..],
                cp.timestamp_us,
                cp.origin,
                c.key_id,
                c.signature
            ],
        )?;
        Ok(())
    }

    async fn put_audit_key(
        &mut self,
        key_id: &str,
        public_key: &[u8],
        at_us: i64,
    ) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_AUDIT_KEY),
            params![key_id, public_key, at_us],
        )?;
        Ok(())
    }

    async fn insert_incident(&mut self, i: &crate::IncidentRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_INCIDENT),
            params![
                i.id,
                i.pref_code.as_str(),
                i.state,
                i.type_code,
                i.priority,
                i.lat,
                i.lon,
                i.created_at_us,
                i.updated_at_us,
                i.doc
            ],
        )?;
        Ok(())
    }

    async fn update_incident(&mut self, i: &crate::IncidentRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::UPDATE_INCIDENT),
            params![
                i.id,
                i.state,
                i.type_code,
                i.priority,
                i.lat,
                i.lon,
                i.updated_at_us,
                i.doc
            ],
        )?;
        Ok(())
    }

    async fn get_incident(&mut self, id: &str) -> Result<Option<crate::IncidentRow>, StoreError> {
        one(self.c()?, &q(sql::INCIDENT_BY_ID), [id], incident_from_row)
    }

    async fn list_incidents(
        &mut self,
        f: &crate::IncidentFilter,
    ) -> Result<Vec<crate::IncidentRow>, StoreError> {
        let d = sql::list_incidents(f);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            incident_from_row,
        )
    }

    async fn insert_call(&mut self, c: &crate::CallRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_CALL),
            params![
                c.id,
                c.pref_code.as_str(),
                c.received_at_us,
                c.incident_id,
                c.doc
            ],
        )?;
        Ok(())
    }

    async fn get_call(&mut self, id: &str) -> Result<Option<crate::CallRow>, StoreError> {
        one(self.c()?, &q(sql::CALL_BY_ID), [id], call_from_row)
    }

    async fn calls_of_incident(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<crate::CallRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::CALLS_OF_INCIDENT),
            [incident_id],
            call_from_row,
        )
    }

    async fn link_call(&mut self, call_id: &str, incident_id: &str) -> Result<(), StoreError> {
        exec(self.c()?, &q(sql::LINK_CALL), params![call_id, incident_id])?;
        Ok(())
    }

    async fn insert_dispatch_unit(&mut self, u: &crate::DispatchUnitRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_DISPATCH_UNIT),
            params![
                u.id,
                u.pref_code.as_str(),
                u.status,
                u.lat,
                u.lon,
                u.position_at_us,
                u.updated_at_us,
                u.doc
            ],
        )?;
        Ok(())
    }

    async fn update_dispatch_unit(&mut self, u: &crate::DispatchUnitRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::UPDATE_DISPATCH_UNIT),
            params![
                u.id,
                u.status,
                u.lat,
                u.lon,
                u.position_at_us,
                u.updated_at_us,
                u.doc
            ],
        )?;
        Ok(())
    }

    async fn get_dispatch_unit(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::DispatchUnitRow>, StoreError> {
        one(
            self.c()?,
            &q(sql::DISPATCH_UNIT_BY_ID),
            [id],
            dispatch_unit_from_row,
        )
    }

    async fn list_dispatch_units(
        &mut self,
        prefs: Option<&[PrefCode]>,
    ) -> Result<Vec<crate::DispatchUnitRow>, StoreError> {
        let d = sql::list_dispatch_units(prefs);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            dispatch_unit_from_row,
        )
    }

    async fn eido_import(
        &mut self,
        pref: PrefCode,
        source_element: &str,
        source_incident_id: &str,
    ) -> Result<Option<String>, StoreError> {
        one(
            self.c()?,
            &q(sql::EIDO_IMPORT),
            params![pref.as_str(), source_element, source_incident_id],
            |r| Ok(r.get::<_, String>("incident_id")?),
        )
    }

    async fn insert_eido_import(&mut self, row: &crate::EidoImportRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_EIDO_IMPORT),
            params![
                row.pref_code.as_str(),
                row.source_element,
                row.source_incident_id,
                row.incident_id,
                row.imported_at_us
            ],
        )?;
        Ok(())
    }

    async fn insert_assignment(&mut self, a: &crate::AssignmentRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_ASSIGNMENT),
            params![
                a.id,
                a.incident_id,
                a.unit_id,
                a.pref_code.as_str(),
                a.active,
                a.updated_at_us,
                a.doc
            ],
        )?;
        Ok(())
    }

    async fn update_assignment(&mut self, a: &crate::AssignmentRow) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::UPDATE_ASSIGNMENT),
            params![a.id, a.active, a.updated_at_us, a.doc],
        )?;
        Ok(())
    }

    async fn assignments_of_incident(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<crate::AssignmentRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::ASSIGNMENTS_OF_INCIDENT),
            [incident_id],
            assignment_from_row,
        )
    }

    async fn active_assignments_of_unit(
        &mut self,
        unit_id: &str,
    ) -> Result<Vec<crate::AssignmentRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::ACTIVE_ASSIGNMENTS_OF_UNIT),
            [unit_id],
            assignment_from_row,
        )
    }

    async fn insert_message(
        &mut self,
        m: &crate::MessageRow,
        unit_ids: &[String],
    ) -> Result<(), StoreError> {
        exec(
            self.c()?,
            &q(sql::INSERT_MESSAGE),
            params![
                m.id,
                m.pref_code.as_str(),
                m.sender_id,
                m.created_at_us,
                m.target_kind,
                m.target_id,
                m.incident_id,
                m.text,
                m.lat,
                m.lon,
                m.image_type,
                m.image
            ],
        )?;
        for u in unit_ids {
            exec(self.c()?, &q(sql::INSERT_RECEIPT), params![m.id, u])?;
        }
        Ok(())
    }

    async fn append_live_events(
        &mut self,
        events: &[crate::NewLiveEvent],
        at_us: i64,
    ) -> Result<u64, StoreError> {
        let conn = self.c()?;
        let mut seq: i64 = conn.query_row(sql::LIVE_LAST_SEQ, [], |r| r.get(0))?;
        for e in events {
            seq += 1;
            exec(
                conn,
                &q(sql::INSERT_LIVE_EVENT),
                params![seq, at_us, e.kind, e.pref_code.map(|p| p.as_str()), e.data],
            )?;
        }
        u64_of(seq, "seq")
    }

    async fn mark_live_published(&mut self, up_to_seq: u64, at_us: i64) -> Result<u64, StoreError> {
        let up_to = i64_of(up_to_seq, "seq")?;
        let n = exec(
            self.c()?,
            &q(sql::MARK_LIVE_PUBLISHED),
            params![at_us, up_to],
        )?;
        Ok(n as u64)
    }

    async fn prune_live_events(&mut self, before_us: i64, all: bool) -> Result<u64, StoreError> {
        let n = exec(
            self.c()?,
            &q(sql::PRUNE_LIVE_EVENTS),
            params![before_us, all],
        )?;
        Ok(n as u64)
    }

    async fn get_message(&mut self, id: &str) -> Result<Option<crate::MessageRow>, StoreError> {
        one(self.c()?, &q(sql::MESSAGE_BY_ID), [id], message_from_row)
    }

    async fn receipts_of_message(
        &mut self,
        id: &str,
    ) -> Result<Vec<crate::ReceiptRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::RECEIPTS_OF_MESSAGE),
            [id],
            receipt_from_row,
        )
    }

    async fn messages_of_unit(
        &mut self,
        unit_id: &str,
        limit: u32,
    ) -> Result<Vec<(crate::MessageRow, crate::ReceiptRow)>, StoreError> {
        collect(
            self.c()?,
            &q(sql::MESSAGES_OF_UNIT),
            params![unit_id, i64::from(limit)],
            |r| {
                Ok((
                    message_from_row(r)?,
                    crate::ReceiptRow {
                        message_id: r.get("id")?,
                        unit_id: r.get("unit_id")?,
                        delivered_at_us: r.get("delivered_at_us")?,
                        read_at_us: r.get("read_at_us")?,
                    },
                ))
            },
        )
    }

    async fn mark_receipt(
        &mut self,
        message_id: &str,
        unit_id: &str,
        at_us: i64,
        read: bool,
    ) -> Result<bool, StoreError> {
        let sql = if read {
            sql::MARK_READ
        } else {
            sql::MARK_DELIVERED
        };
        Ok(exec(self.c()?, &q(sql), params![message_id, unit_id, at_us])? == 1)
    }

    async fn replace_dataset(&mut self, kind: &str, parts: &[Dataset]) -> Result<(), StoreError> {
        exec(self.c()?, &q(sql::DELETE_DATASET), [kind])?;
        for (i, d) in parts.iter().enumerate() {
            exec(
                self.c()?,
                &q(sql::INSERT_DATASET_PART),
                params![
                    kind,
                    i as i64,
                    d.source_name,
                    d.sha256,
                    d.bytes,
                    d.imported_at_us
                ],
            )?;
        }
        Ok(())
    }

    async fn insert_registry_records(
        &mut self,
        rows: &[crate::RegistryRow],
    ) -> Result<(), StoreError> {
        let conn = self.c()?;
        let seqs = insert_registry_rows(conn, rows)?;
        let (mut keys, mut names) = (Vec::new(), Vec::new());
        for (r, seq) in rows.iter().zip(seqs) {
            crate::IndexTerms::of(r).rows(seq, &mut keys, &mut names);
        }
        crate::sort_index_rows(&mut keys, &mut names);
        insert_index_rows(conn, &keys, &names)
    }

    async fn insert_registry_records_deferred(
        &mut self,
        rows: &[crate::RegistryRow],
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.c()?;
        let seqs = insert_registry_rows(conn, rows)?;
        if let Some(first) = seqs.first() {
            exec(conn, &q(sql::SET_REGISTRY_PENDING), [first])?;
        }
        Ok(seqs)
    }

    async fn registry_index_pending(&mut self) -> Result<Option<i64>, StoreError> {
        one(self.c()?, &q(sql::REGISTRY_PENDING), [], |r| Ok(r.get(0)?))
    }

    async fn build_registry_index(
        &mut self,
        collected: Option<crate::CollectedIndex>,
    ) -> Result<u64, StoreError> {
        let conn = self.c()?;
        let Some(from) = one(conn, &q(sql::REGISTRY_PENDING), [], |r| {
            Ok(r.get::<_, i64>(0)?)
        })?
        else {
            return Ok(0);
        };
        let collected = match collected {
            Some(c) => {
                let max_seq: Option<i64> =
                    conn.query_row(sql::REGISTRY_MAX_SEQ, [], |r| r.get(0))?;
                c.covers(from, max_seq).then_some(c)
            }
            None => None,
        };
        let rows = match collected {
            Some(c) => {
                let (keys, names) = c.into_sorted_keys()?;
                insert_index_rows(conn, &keys, &[])?;
                let names = names.finish()?;
                insert_index_rows(conn, &[], &names)?;
                keys.len() + names.len()
            }
            None => {
                let (keys, names) = read_index_rows(conn, from)?;
                insert_index_rows(conn, &keys, &names)?;
                keys.len() + names.len()
            }
        };
        exec(conn, &q(sql::CLEAR_REGISTRY_PENDING), [])?;
        Ok(rows as u64)
    }

    async fn update_registry_record(
        &mut self,
        r: &crate::RegistryRow,
        reindex: bool,
    ) -> Result<(), StoreError> {
        let conn = self.c()?;
        exec(
            conn,
            &q(sql::UPDATE_REGISTRY_RECORD),
            params![
                r.id,
                r.state,
                r.updated_at_us,
                r.validation_due_us,
                r.file,
                r.lifecycle
            ],
        )?;
        if reindex && let Some(seq) = delete_index_rows(conn, &r.id)? {
            let terms = crate::IndexTerms::of(r);
            exec(
                conn,
                &q(sql::UPDATE_REGISTRY_TERMS),
                params![r.id, terms.to_json()?],
            )?;
            let (mut keys, mut names) = (Vec::new(), Vec::new());
            terms.rows(seq, &mut keys, &mut names);
            crate::sort_index_rows(&mut keys, &mut names);
            insert_index_rows(conn, &keys, &names)?;
        }
        Ok(())
    }

    async fn get_registry_record(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        one(self.c()?, &q(sql::REGISTRY_BY_ID), [id], registry_from_row)
    }

    async fn get_registry_record_by_seq(
        &mut self,
        seq: i64,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        one(
            self.c()?,
            &q(sql::REGISTRY_BY_SEQ),
            [seq],
            registry_from_row,
        )
    }

    async fn registry_purge_candidates(
        &mut self,
        now_us: i64,
        articles_before_us: i64,
        limit: u32,
    ) -> Result<Vec<crate::RegistryRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::REGISTRY_PURGE_CANDIDATES),
            params![now_us, articles_before_us, i64::from(limit)],
            registry_from_row,
        )
    }

    async fn registry_changed_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::RegistryRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::REGISTRY_CHANGED_SINCE),
            params![after_us, after_id, i64::from(limit)],
            registry_from_row,
        )
    }

    async fn get_registry_record_for_update(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        // The transaction already holds the database write lock (`BEGIN IMMEDIATE`).
        one(self.c()?, &q(sql::REGISTRY_BY_ID), [id], registry_from_row)
    }

    async fn delete_registry_record(&mut self, t: &crate::TombstoneRow) -> Result<(), StoreError> {
        let conn = self.c()?;
        let id = t.record_id.as_str();
        delete_index_rows(conn, id)?;
        exec(conn, &q(sql::DELETE_HIT_REQUESTS_OF_RECORD), [id])?;
        exec(conn, &q(sql::DELETE_REGISTRY_RECORD), [id])?;
        exec(
            conn,
            &q(sql::INSERT_TOMBSTONE),
            params![id, t.owner_pref.as_str(), t.removed_at_us, t.reason],
        )?;
        Ok(())
    }

    async fn registry_tombstones_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::TombstoneRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::TOMBSTONES_SINCE),
            params![after_us, after_id, i64::from(limit)],
            tombstone_from_row,
        )
    }

    async fn prune_registry_tombstones(&mut self, before_us: i64) -> Result<u64, StoreError> {
        let conn = self.c()?;
        let n = exec(conn, &q(sql::PRUNE_TOMBSTONES), [before_us])?;
        if n > 0 {
            let old: Option<i64> = one(conn, sql::TOMBSTONE_HORIZON, [], |r| Ok(r.get(0)?))?;
            let horizon = old.map_or(before_us, |h| h.max(before_us));
            exec(conn, &q(sql::PUT_TOMBSTONE_HORIZON), [horizon])?;
        }
        Ok(n as u64)
    }

    async fn registry_tombstone_horizon(&mut self) -> Result<Option<i64>, StoreError> {
        one(self.c()?, sql::TOMBSTONE_HORIZON, [], |r| Ok(r.get(0)?))
    }

    async fn put_registry_hit_requests(
        &mut self,
        rows: &[crate::HitRequestRow],
    ) -> Result<(), StoreError> {
        let conn = self.c()?;
        for r in rows {
            exec(
                conn,
                &q(sql::UPSERT_HIT_REQUEST),
                params![
                    r.record_id,
                    r.request_id,
                    r.record_kind,
                    r.owner_pref.as_str(),
                    r.from_pref.as_str(),
                    r.priority,
                    r.sent_at_us,
                    r.due_at_us,
                    r.resends,
                    r.escalated_at_us,
                    r.state
                ],
            )?;
        }
        Ok(())
    }

    async fn list_registry_hit_requests(
        &mut self,
        f: &crate::HitQueueFilter,
    ) -> Result<Vec<crate::HitRequestRow>, StoreError> {
        let d = sql::list_hit_requests(f);
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            hit_request_from_row,
        )
    }

    async fn registry_hit_requests_to_sweep(
        &mut self,
        now_us: i64,
        limit: u32,
    ) -> Result<Vec<crate::HitRequestRow>, StoreError> {
        collect(
            self.c()?,
            &q(sql::HIT_REQUESTS_TO_SWEEP),
            params![now_us, i64::from(limit)],
            hit_request_from_row,
        )
    }

    async fn registry_is_empty(&mut self) -> Result<bool, StoreError> {
        let any: Option<String> = one(self.c()?, sql::REGISTRY_ANY, [], |r| Ok(r.get(0)?))?;
        Ok(any.is_none())
    }

    async fn registry_by_key(&mut self, key: &str) -> Result<Vec<crate::RegistryRow>, StoreError> {
        let mut out = Vec::new();
        let conn = self.c()?;
        let mut stmt = conn.prepare_cached(&q(sql::REGISTRY_BY_KEY))?;
        let mut rows = stmt.query([crate::registry_digest(key)])?;
        while let Some(r) = rows.next()? {
            let terms: String = r.get(9)?;
            if crate::IndexTerms::lists_key(&terms, key)? {
                out.push(registry_from_row(r)?);
            }
        }
        Ok(out)
    }

    async fn registry_name_candidates(
        &mut self,
        token: &str,
        lo: i64,
        hi: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        collect(
            self.c()?,
            &q(sql::REGISTRY_NAME_CANDIDATES),
            params![crate::registry_digest(token), lo, hi, i64::from(limit)],
            |r| Ok(r.get(0)?),
        )
    }

    async fn registry_scan_contains(
        &mut self,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        collect(
            self.c()?,
            &q(sql::REGISTRY_SCAN_CONTAINS),
            params![format!("%{needle}%"), i64::from(limit)],
            |r| Ok(r.get(0)?),
        )
    }

    async fn search_audit(&mut self, a: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let d = sql::search_audit(a)?;
        collect(
            self.c()?,
            &q(&d.sql),
            rusqlite::params_from_iter(dyn_params(&d)),
            event_from_row,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_constraints_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        assert_eq!(
            store.migrations().await.unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        );
        drop(store);
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        assert_eq!(
            store.migrations().await.unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            "re-opening applies nothing twice"
        );
        let unit = UnitRow {
            builtin: true,
            ..unit_row("npa")
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_unit(&unit).await.unwrap();
        assert!(matches!(
            tx.insert_unit(&unit).await,
            Err(StoreError::Duplicate { .. })
        ));
        let mut orphan = unit.clone();
        orphan.unit.id = "st-13-x".into();
        orphan.unit.parent_id = Some("nowhere".into());
        assert!(matches!(
            tx.insert_unit(&orphan).await,
            Err(StoreError::ForeignKey(_))
        ));
        tx.commit().await.unwrap();
        // A dropped transaction rolls back.
        let mut tx = store.begin().await.unwrap();
        let mut other = unit.clone();
        other.unit.id = "pref-13".into();
        tx.insert_unit(&other).await.unwrap();
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        assert!(tx.get_unit("pref-13").await.unwrap().is_none());
        assert!(tx.get_unit("npa").await.unwrap().is_some());
    }

    fn unit_row(id: &str) -> UnitRow {
        UnitRow {
            unit: OrgUnit {
                id: id.into(),
                kind: UnitKind::National,
                parent_id: None,
                name_ja: "警察庁".into(),
                name_en: "NPA".into(),
                pref_code: None,
                latitude: None,
                longitude: None,
                address: None,
            },
            builtin: false,
            disabled: false,
            created_at_us: 0,
            updated_at_us: 0,
        }
    }

    /// Transactions committed at once, some by the flusher and some by the last of a batch
    /// itself (under NORMAL), are each stored exactly once and acknowledged only when they
    /// are; one that is dropped in the middle of others takes nothing of theirs with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_are_all_stored_under_both_sync_modes() {
        for sync in [SqliteSync::Normal, SqliteSync::Full] {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("c.sqlite3"), sync)
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for i in 0..64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut tx = store.begin().await.unwrap();
                    tx.insert_unit(&unit_row(&format!("u{i}"))).await.unwrap();
                    if i % 7 == 3 {
                        drop(tx);
                        false
                    } else {
                        tx.commit().await.unwrap();
                        true
                    }
                }));
            }
            let mut kept = Vec::new();
            for (i, t) in tasks.into_iter().enumerate() {
                if t.await.unwrap() {
                    kept.push(i);
                }
            }
            drop(store);
            // A fresh open sees exactly what was acknowledged.
            let store = SqliteStore::open(&dir.path().join("c.sqlite3"), sync)
                .await
                .unwrap();
            let mut tx = store.begin().await.unwrap();
            for i in 0..64 {
                let found = tx.get_unit(&format!("u{i}")).await.unwrap().is_some();
                assert_eq!(found, kept.contains(&i), "unit u{i} under {sync:?}");
            }
        }
    }

    /// The checkpoint sequence number in a WAL file's header, which changes each time
    /// the log starts over.
    fn wal_checkpoint_seq(wal: &Path) -> u32 {
        let bytes = std::fs::read(wal).unwrap();
        u32::from_be_bytes(bytes[12..16].try_into().unwrap())
    }

    /// The writer never truncates the WAL when the log starts over (a truncate in the
    /// middle of a commit held up every request queued behind it); the checkpoint thread
    /// cuts a large WAL back once nothing has written to it for a while.
    #[tokio::test]
    async fn only_an_idle_wal_is_cut_back_and_by_the_checkpoint_thread() {
        use crate::backend_tests::row;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let wal = dir.path().join("w.sqlite3-wal");
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let pad = "x".repeat(4000);
        for b in 0..4 {
            let rows: Vec<_> = (0..100)
                .map(|i| crate::RegistryRow {
                    file: pad.clone(),
                    ..row(&format!("rec_{b}_{i}"), &[], &[])
                })
                .collect();
            let mut tx = store.begin().await.unwrap();
            tx.insert_registry_records(&rows).await.unwrap();
            tx.commit().await.unwrap();
        }
        let grown = wal_len();
        assert!(grown > WAL_IDLE_KEEP_BYTES, "the WAL holds {grown} bytes");
        // Small writes, each after the checkpoint thread had time to copy the log, until
        // one starts the log over; the file keeps its size.
        let seq = wal_checkpoint_seq(&wal);
        let mut restarted = false;
        for i in 0..50 {
            tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
            let mut tx = store.begin().await.unwrap();
            tx.insert_registry_records(&[row(&format!("rec_small_{i}"), &[], &[])])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            if wal_checkpoint_seq(&wal) != seq {
                restarted = true;
                break;
            }
        }
        assert!(restarted, "the log never started over");
        assert_eq!(wal_len(), grown, "the writer truncated the WAL");
        // Left alone, the file is cut back.
        let deadline = std::time::Instant::now() + WAL_IDLE_SHRINK * 10;
        while wal_len() > WAL_IDLE_KEEP_BYTES {
            assert!(
                std::time::Instant::now() < deadline,
                "an idle WAL of {} bytes was kept",
                wal_len()
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    /// Records stored before the work queue existed get their requests' rows when the
    /// migration runs, with the state the lifecycle's rule gives them.
    #[tokio::test]
    async fn the_hit_queue_migration_fills_the_queue_from_stored_lifecycles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_with(&mut conn, &MIGRATIONS[..9]).unwrap();
            let life = |state: &str| {
                format!(
                    r#"{{"kind":"stolen_plate","owner":"13","state":"{state}","requests":[
                    {{"id":"a","from":"27","requested_by":"u","priority":"urgent","sent_at":1,"due_at":2,"resends":1,"answer":null}},
                    {{"id":"b","from":"14","requested_by":"u","priority":"routine","sent_at":3,"due_at":4,"resends":0,"answer":false}}]}}"#
                )
            };
            for (id, state) in [("rec_1", "active"), ("rec_2", "cancelled")] {
                conn.execute(
                    "INSERT INTO registry_records (id, kind, owner_pref, state, entered_at_us, updated_at_us, validation_due_us, file, lifecycle) VALUES (?1, 'stolen_plate', '13', ?2, 0, 0, 0, '{}', ?3)",
                    params![id, state, life(state)],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut rows = Vec::new();
        for side in [crate::HitQueueSide::Owner, crate::HitQueueSide::Inquirer] {
            rows.extend(
                tx.list_registry_hit_requests(&crate::HitQueueFilter {
                    side,
                    prefs: None,
                    due_before_us: None,
                    due_from_us: None,
                    limit: 100,
                })
                .await
                .unwrap(),
            );
        }
        // Only rec_1's unanswered request is open; the answered one and the cancelled
        // record's are not listed.
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows.iter()
                .all(|r| r.record_id == "rec_1" && r.request_id == "a")
        );
        let r = &rows[0];
        assert_eq!(
            (
                r.from_pref.as_str(),
                r.priority.as_str(),
                r.due_at_us,
                r.resends,
                r.escalated_at_us
            ),
            ("27", "urgent", 2, 1, None)
        );
        let swept = tx.registry_hit_requests_to_sweep(3, 10).await.unwrap();
        assert_eq!(swept.len(), 1);
    }

    use crate::backend_tests::{ids_by_key, row};

    #[tokio::test]
    async fn the_digest_migration_keeps_old_records_findable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_with(&mut conn, &MIGRATIONS[..10]).unwrap();
            conn.execute_batch(
                "INSERT INTO registry_records (id, kind, owner_pref, state, entered_at_us, updated_at_us, validation_due_us, file, lifecycle) VALUES ('rec_a', 'wanted', '13', 'active', 0, 0, 0, '{}', '{}'), ('rec_b', 'stolen_plate', '14', 'active', 0, 0, 0, '{}', '{}');
                 INSERT INTO registry_keys (key, record_id) VALUES ('PLT|x', 'rec_b'), ('VIN|y', 'rec_b');
                 INSERT INTO registry_names (token, dob, record_id) VALUES ('sato', 19800101, 'rec_a'), ('佐藤', 19800101, 'rec_a');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        // The migration leaves the index to be built from each record's terms.
        assert_eq!(tx.registry_index_pending().await.unwrap(), Some(1));
        assert!(ids_by_key(&mut tx, "PLT|x").await.is_empty());
        assert_eq!(tx.build_registry_index(None).await.unwrap(), 4);
        assert_eq!(tx.registry_index_pending().await.unwrap(), None);
        assert_eq!(ids_by_key(&mut tx, "PLT|x").await, vec!["rec_b"]);
        assert_eq!(ids_by_key(&mut tx, "VIN|y").await, vec!["rec_b"]);
        let seqs = tx
            .registry_name_candidates("佐藤", 19790101, 19810101, 10)
            .await
            .unwrap();
        assert_eq!(seqs.len(), 1);
        let a = tx
            .get_registry_record_by_seq(seqs[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.id, "rec_a");
    }

    /// Once the largest sequence number is the largest integer, SQLite numbers new rows at
    /// random; the multi-row insert then reads each row's number back.
    #[tokio::test]
    async fn records_are_indexed_by_their_own_numbers_when_rowids_are_not_consecutive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        drop(SqliteStore::open(&path, SqliteSync::Normal).await.unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO registry_records (seq, id, kind, owner_pref, state, entered_at_us, \
                 updated_at_us, validation_due_us, index_terms, file, lifecycle) \
                 VALUES (9223372036854775807, 'rec_max', 'wanted', '13', 'active', 1, 1, 2, \
                 '{\"keys\":[],\"names\":[]}', '{}', '{}')",
                [],
            )
            .unwrap();
        let store = SqliteStore::open(&path, SqliteSync::Normal).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let n = RECORDS_PER_INSERT * 2 + 3;
        let ids: Vec<String> = (0..n).map(|i| format!("rec_{i}")).collect();
        let keys: Vec<String> = (0..n).map(|i| format!("K|{i}")).collect();
        let rows: Vec<_> = (0..n).map(|i| row(&ids[i], &[&keys[i]], &[])).collect();
        tx.insert_registry_records(&rows).await.unwrap();
        for i in 0..n {
            assert_eq!(ids_by_key(&mut tx, &keys[i]).await, vec![ids[i].clone()]);
        }
    }

    #[test]
    fn digests_are_stable() {
        // Stored on disk: a change of function would orphan every index row.
        assert_eq!(crate::registry_digest(""), -2039914840885289964);
        assert_ne!(
            crate::registry_digest("PLT|a"),
            crate::registry_digest("PLT|b")
        );
    }
}
