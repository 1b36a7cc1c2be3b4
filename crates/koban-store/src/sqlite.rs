//! The embedded default: one SQLite file in the data directory.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::macros::{impl_reads, impl_tx};
use crate::{Backend, Store, StoreError, Tx};

impl_tx!(SqliteTx, sqlx::Sqlite, "");
impl_reads!(sqlx::Sqlite, SqliteTx);

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

/// SQLite store. Writes go through a pool of exactly one connection: SQLite has one
/// writer at a time anyway, and queueing in the pool is fairer and cheaper than
/// connections spinning on `SQLITE_BUSY`. Reads outside transactions (verification, the
/// proof cache) use a separate read-only pool so they never wait behind writers.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
}

/// How long a connection waits for another process (say `koban user add` beside a running
/// server) to release the write lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the migrations.
    pub async fn open(path: &Path, sync: SqliteSync) -> Result<SqliteStore, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .synchronous(match sync {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            });
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(base.read_only(true))
            .await?;
        Ok(SqliteStore { write, read })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteTx::new(tx)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        migrations(&self.read).await
    }

    async fn audit_events_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<koban_audit::StoredEvent>, StoreError> {
        audit_events_from(&self.read, from_seq, limit).await
    }

    async fn audit_leaves_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, koban_audit::Hash)>, StoreError> {
        audit_leaves_from(&self.read, from_seq, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<koban_audit::StoredCheckpoint>, StoreError> {
        audit_checkpoints(&self.read).await
    }

    async fn audit_head(&self) -> Result<Option<crate::AuditHead>, StoreError> {
        audit_head(&self.read).await
    }

    async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        audit_keys(&self.read).await
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
