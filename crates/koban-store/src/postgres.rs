//! The server database: PostgreSQL, for several koban instances sharing one store.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::macros::{impl_reads, impl_tx};
use crate::{Backend, Store, StoreError, Tx};

// The audit head row is the one point of serialisation between instances: each audited
// transaction locks it for the short moment between appending its event and committing.
impl_tx!(PgTx, sqlx::Postgres, " FOR UPDATE");
impl_reads!(sqlx::Postgres, PgTx);

/// Connections per instance. Audited writes serialise on the audit head, so more
/// connections mostly help concurrent reads and the fsync pipeline.
const MAX_CONNECTIONS: u32 = 16;

/// PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies the migrations. Commits are durable: koban never turns
    /// `synchronous_commit` off.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.pool.begin().await?;
        Ok(Box::new(PgTx::new(tx)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        migrations(&self.pool).await
    }

    async fn audit_events_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<koban_audit::StoredEvent>, StoreError> {
        audit_events_from(&self.pool, from_seq, limit).await
    }

    async fn audit_leaves_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, koban_audit::Hash)>, StoreError> {
        audit_leaves_from(&self.pool, from_seq, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<koban_audit::StoredCheckpoint>, StoreError> {
        audit_checkpoints(&self.pool).await
    }

    async fn audit_head(&self) -> Result<Option<crate::AuditHead>, StoreError> {
        audit_head(&self.pool).await
    }

    async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        audit_keys(&self.pool).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates a fresh, empty database next to the one `url` names and returns its URL.
/// Tests and benchmarks use this so each run starts clean and never touches real data.
pub async fn create_scratch_database(url: &str, name: &str) -> Result<String, StoreError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || name.len() > 60
    {
        return Err(StoreError::Config(format!("unsafe database name {name}")));
    }
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    // Database names cannot be bound as parameters; the name was checked above.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(replace_database(url, name))
}

/// Drops a database made by [`create_scratch_database`].
pub async fn drop_scratch_database(url: &str, name: &str) -> Result<(), StoreError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Config(format!("unsafe database name {name}")));
    }
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

/// `postgres://u@h:5432/old?x` with the database part replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://p@h:5432/x", "y"),
            "postgres://p@h:5432/y"
        );
        assert_eq!(
            super::replace_database("postgres://p@h:5432", "y"),
            "postgres://p@h:5432/y"
        );
        assert_eq!(
            super::replace_database("postgres://p@h/x?sslmode=disable", "y"),
            "postgres://p@h/y?sslmode=disable"
        );
    }
}
