//! Tests of the registry's deferred index that run against both backends: SQLite in a
//! temporary directory always, and PostgreSQL in a scratch database of its own where
//! `KOBAN_TEST_DATABASE_URL` names a server (it must under `CI=true`). A bulk load into
//! an empty registry is the only path that writes records without their index rows, so
//! nothing above the store exercises the PostgreSQL build at test sizes.

use crate::sqlite::{INDEX_ROWS_PER_INSERT, RECORDS_PER_INSERT};
use crate::{INDEX_BUILD_PAGE, SqliteStore, SqliteSync, Store, Tx};

/// Where a test's store lives.
pub(crate) enum Backend {
    Sqlite,
    /// The server's URL.
    Postgres(String),
}

/// The backends to run on: SQLite, and PostgreSQL where a server is given.
pub(crate) fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    match std::env::var("KOBAN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => all.push(Backend::Postgres(url)),
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "KOBAN_TEST_DATABASE_URL is not set under CI=true: the PostgreSQL tests must run in CI"
            );
            eprintln!("KOBAN_TEST_DATABASE_URL not set: skipping the PostgreSQL variant");
        }
    }
    all
}

/// A fresh, empty store; [`TestStore::close`] removes a PostgreSQL one again.
pub(crate) struct TestStore {
    pub(crate) store: std::sync::Arc<dyn Store>,
    _dir: tempfile::TempDir,
    scratch: Option<(String, String)>,
}

impl TestStore {
    pub(crate) async fn fresh(backend: &Backend, test: &str) -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let (store, scratch): (std::sync::Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => (
                std::sync::Arc::new(
                    SqliteStore::open(&dir.path().join("t.sqlite3"), SqliteSync::Normal)
                        .await
                        .unwrap(),
                ),
                None,
            ),
            Backend::Postgres(server) => {
                // Unique per process and moment, so that parallel test runs never share.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let name = format!("koban_s_{test}_{}_{nanos}", std::process::id());
                let url = crate::postgres::create_scratch_database(server, &name)
                    .await
                    .unwrap();
                (
                    std::sync::Arc::new(crate::PgStore::connect(&url).await.unwrap()),
                    Some((server.clone(), name)),
                )
            }
        };
        TestStore {
            store,
            _dir: dir,
            scratch,
        }
    }

    pub(crate) async fn close(self) {
        self.store.close().await;
        if let Some((server, name)) = &self.scratch {
            crate::postgres::drop_scratch_database(server, name)
                .await
                .unwrap();
        }
    }
}

pub(crate) fn row(id: &str, keys: &[&str], names: &[(&str, i64)]) -> crate::RegistryRow {
    crate::RegistryRow {
        id: id.into(),
        kind: "wanted".into(),
        owner_pref: crate::pref_of("13", "test").unwrap(),
        state: "active".into(),
        entered_at_us: 1,
        updated_at_us: 1,
        validation_due_us: 2,
        file: "{}".into(),
        lifecycle: "{}".into(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        names: names.iter().map(|(t, d)| (t.to_string(), *d)).collect(),
    }
}

/// The ids of the records found under `key`, sorted (the backends need not agree on
/// an order).
pub(crate) async fn ids_by_key(tx: &mut Box<dyn Tx>, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = tx
        .registry_by_key(key)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

/// `n` records `rec_{i}`, each with its own key, the key `K|shared` and the name
/// token `sato` born on a day of its own; returns the ids and the rows.
fn numbered_rows(
    n: usize,
    key: impl Fn(usize) -> String,
) -> (Vec<String>, Vec<crate::RegistryRow>) {
    let ids: Vec<String> = (0..n).map(|i| format!("rec_{i}")).collect();
    let rows = (0..n)
        .map(|i| {
            row(
                &ids[i],
                &[&key(i), "K|shared"],
                &[("sato", 19800101 + i as i64)],
            )
        })
        .collect();
    (ids, rows)
}

fn digests_of(rows: &[crate::RegistryRow]) -> Vec<crate::RecordDigests> {
    rows.iter()
        .map(|r| {
            (
                r.keys.iter().map(|k| crate::registry_digest(k)).collect(),
                r.names
                    .iter()
                    .map(|(t, d)| (crate::registry_digest(t), *d))
                    .collect(),
            )
        })
        .collect()
}

/// The index a bulk load builds from the rows it collected is the one reading the
/// records back gives; where the collected rows do not cover exactly the pending
/// records (here one stored by someone else after them), the build reads the records.
/// Each load spans several multi-row statements and several pages of the read-back.
#[tokio::test]
async fn collected_index_rows_build_what_reading_the_records_builds() {
    let n = (RECORDS_PER_INSERT * 3).max(INDEX_BUILD_PAGE as usize * 2) + 5;
    let (_, rows) = numbered_rows(n, |i| format!("K|{}", i % 40));
    for backend in backends() {
        let mut results = Vec::new();
        for (collect, foreign) in [(false, false), (true, false), (true, true)] {
            let t = TestStore::fresh(&backend, "collected").await;
            let mut tx = t.store.begin().await.unwrap();
            let mut collected = crate::CollectedIndex::default();
            for part in [&rows[..n / 2], &rows[n / 2..]] {
                let seqs = tx.insert_registry_records_deferred(part).await.unwrap();
                collected.add(&seqs, &digests_of(part));
            }
            if foreign {
                tx.insert_registry_records_deferred(&[row("rec_x", &["K|x"], &[])])
                    .await
                    .unwrap();
            } else {
                // The load's records are exactly the pending ones: the build takes the
                // collected rows instead of reading the records.
                assert!(collected.covers(1, Some(n as i64)));
            }
            let built = tx
                .build_registry_index(collect.then_some(collected))
                .await
                .unwrap();
            assert_eq!(tx.registry_index_pending().await.unwrap(), None);
            let mut found = Vec::new();
            for k in ["K|0", "K|39", "K|shared"] {
                found.push(ids_by_key(&mut tx, k).await);
            }
            let names = tx
                .registry_name_candidates("sato", 19800101, 19800101 + n as i64, 10 * n as u32)
                .await
                .unwrap()
                .len();
            if foreign {
                assert_eq!(ids_by_key(&mut tx, "K|x").await, vec!["rec_x"]);
                assert_eq!(built, 3 * n as u64 + 1);
            } else {
                results.push((built, found, names));
            }
            drop(tx);
            t.close().await;
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0].0, 3 * n as u64);
        assert_eq!(results[0].1[2].len(), n);
        assert_eq!(results[0].2, n);
    }
}

/// Enough rows that records and index rows are written in full multi-row statements
/// and a remainder, and read back over several pages, with records already indexed the
/// normal way in between.
#[tokio::test]
async fn a_large_deferred_build_writes_every_row_once() {
    let n = (INDEX_ROWS_PER_INSERT * 2).max(INDEX_BUILD_PAGE as usize * 2) + 37;
    let (ids, rows) = numbered_rows(n, |i| format!("K|{i}"));
    let keys: Vec<String> = (0..n).map(|i| format!("K|{i}")).collect();
    for backend in backends() {
        let t = TestStore::fresh(&backend, "large").await;
        let mut tx = t.store.begin().await.unwrap();
        // More than one multi-row statement's worth indexed at once, by the sequence
        // numbers the insert returns.
        let now = n / 2..n / 2 + RECORDS_PER_INSERT + 5;
        tx.insert_registry_records_deferred(&rows[..now.start])
            .await
            .unwrap();
        tx.insert_registry_records(&rows[now.clone()])
            .await
            .unwrap();
        for i in [now.start, now.start + RECORDS_PER_INSERT - 1, now.end - 1] {
            assert_eq!(ids_by_key(&mut tx, &keys[i]).await, vec![ids[i].clone()]);
        }
        tx.insert_registry_records_deferred(&rows[now.end..])
            .await
            .unwrap();
        // Two key rows and one name row per record; the ones indexed at once are not
        // written twice.
        let built = tx.build_registry_index(None).await.unwrap();
        assert_eq!(built, 3 * n as u64);
        let page = INDEX_BUILD_PAGE as usize;
        for i in [
            0,
            INDEX_ROWS_PER_INSERT - 1,
            INDEX_ROWS_PER_INSERT,
            page - 1,
            page,
            n / 2,
            2 * page,
            n - 1,
        ] {
            assert_eq!(ids_by_key(&mut tx, &keys[i]).await, vec![ids[i].clone()]);
        }
        assert_eq!(tx.registry_by_key("K|shared").await.unwrap().len(), n);
        let seqs = tx
            .registry_name_candidates("sato", 19800101, 19800101 + n as i64, 10 * n as u32)
            .await
            .unwrap();
        assert_eq!(seqs.len(), n);
        drop(tx);
        t.close().await;
    }
}

#[tokio::test]
async fn a_deferred_load_is_found_once_built_and_reindexes_exactly() {
    for backend in backends() {
        let t = TestStore::fresh(&backend, "reindex").await;
        let mut tx = t.store.begin().await.unwrap();
        tx.insert_registry_records(&[row("rec_now", &["K|1"], &[])])
            .await
            .unwrap();
        tx.insert_registry_records_deferred(&[
            row("rec_d1", &["K|1", "K|2"], &[("sato", 19800101)]),
            row("rec_d2", &["K|3"], &[]),
        ])
        .await
        .unwrap();
        // Written normally during the load: indexed at once, and again by the build
        // without a conflict.
        tx.insert_registry_records(&[row("rec_mid", &["K|4"], &[])])
            .await
            .unwrap();
        tx.insert_registry_records_deferred(&[row("rec_d3", &["K|5"], &[])])
            .await
            .unwrap();
        assert!(tx.registry_index_pending().await.unwrap().is_some());
        assert_eq!(ids_by_key(&mut tx, "K|1").await, vec!["rec_now"]);
        assert_eq!(ids_by_key(&mut tx, "K|4").await, vec!["rec_mid"]);
        assert!(ids_by_key(&mut tx, "K|5").await.is_empty());
        tx.build_registry_index(None).await.unwrap();
        assert_eq!(tx.registry_index_pending().await.unwrap(), None);
        assert_eq!(ids_by_key(&mut tx, "K|1").await, vec!["rec_d1", "rec_now"]);
        assert_eq!(ids_by_key(&mut tx, "K|5").await, vec!["rec_d3"]);
        assert_eq!(ids_by_key(&mut tx, "K|4").await, vec!["rec_mid"]);
        // A re-index replaces exactly the record's own rows.
        tx.update_registry_record(&row("rec_d1", &["K|9"], &[]), true)
            .await
            .unwrap();
        assert_eq!(ids_by_key(&mut tx, "K|1").await, vec!["rec_now"]);
        assert!(ids_by_key(&mut tx, "K|2").await.is_empty());
        assert_eq!(ids_by_key(&mut tx, "K|9").await, vec!["rec_d1"]);
        assert!(
            tx.registry_name_candidates("sato", 0, 99999999, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // An update that keeps the index leaves the terms alone.
        tx.update_registry_record(&row("rec_d1", &[], &[]), false)
            .await
            .unwrap();
        assert_eq!(ids_by_key(&mut tx, "K|9").await, vec!["rec_d1"]);
        let mut left = 0;
        for k in ["K|1", "K|3", "K|4", "K|5", "K|9", "K|2"] {
            left += tx.registry_by_key(k).await.unwrap().len();
        }
        assert_eq!(left, 5, "one key row per remaining key");
        drop(tx);
        t.close().await;
    }
}
