//! koban's event bus: carries live events between `koban serve` instances over NATS
//! JetStream.
//!
//! Every instance writes its live events to the `live_events` table (the outbox) in the
//! same transaction as the change. The **relay** here hands unpublished rows to JetStream,
//! in sequence order, waits for the server's acknowledgement, and only then marks them
//! published — so an event is never lost while NATS is down: it waits in the table and goes
//! out when NATS is back. Each message carries `Nats-Msg-Id` = the event's sequence number,
//! so JetStream drops the copy a second instance's relay may send of the same row.
//!
//! The **consumer** reads the stream from "now" with an ordered consumer and passes each
//! event to the instance's live hub, which fans it out to its WebSocket subscribers and
//! fills any gap from the table. The table, not the bus, is the source of truth.
//!
//! This crate is the network edge for events: it never decides who may see an event.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use koban_store::{LiveEventRow, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

/// Events handed to JetStream per outbox read.
pub const RELAY_BATCH: u32 = 256;
/// How long the relay waits for JetStream to acknowledge one event.
pub const PUBLISH_ACK_TIMEOUT_MS: u64 = 5_000;
/// Pause after a failure before the relay or the consumer tries again.
pub const RETRY_MS: u64 = 1_000;
/// The relay looks at the outbox at least this often without a local nudge (rows another
/// instance wrote and could not publish before it stopped).
pub const RELAY_IDLE_POLL_MS: u64 = 1_000;
/// Events the consumer may queue for the hub before it waits.
pub const CONSUMER_QUEUE: usize = 4_096;
/// Largest event message accepted from the bus.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("storage: {0}")]
    Store(#[from] koban_store::StoreError),
}

/// Where the bus is and what to call things on it.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// JetStream stream name; one per deployment (all instances on one database share it).
    pub stream: String,
    /// How long JetStream keeps events (subscribers resume from the database beyond it).
    pub max_age_s: u64,
}

impl BusConfig {
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        BusConfig {
            url: url.into(),
            stream: stream.into(),
            max_age_s: 24 * 3600,
        }
    }
    /// The subject events are published on.
    pub fn subject(&self) -> String {
        format!("koban.{}.events", self.stream.to_ascii_lowercase())
    }
}

/// An event as it travels on the bus.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    seq: u64,
    at_us: i64,
    kind: String,
    pref_code: Option<String>,
    data: String,
}

/// A connection to JetStream with the deployment's stream.
#[derive(Clone, Debug)]
pub struct Bus {
    config: BusConfig,
    js: jetstream::Context,
    stream: Arc<stream::Stream>,
}

fn js_err(e: impl std::fmt::Display) -> BusError {
    BusError::JetStream(e.to_string())
}

impl Bus {
    /// Connects and makes sure the stream exists (file storage; a duplicate window long
    /// enough to absorb two relays sending the same rows).
    pub async fn connect(config: BusConfig) -> Result<Bus, BusError> {
        if config.stream.is_empty()
            || !config
                .stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(BusError::JetStream(format!(
                "stream name {:?}: use letters, digits, '_' and '-'",
                config.stream
            )));
        }
        let client = async_nats::ConnectOptions::new()
            .name("koban")
            .connection_timeout(Duration::from_secs(5))
            // Keep reconnecting for as long as the process runs: the outbox holds events.
            .retry_on_initial_connect()
            .connect(&config.url)
            .await
            .map_err(|e| BusError::Connect {
                url: config.url.clone(),
                detail: e.to_string(),
            })?;
        let js = jetstream::new(client);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![config.subject()],
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(config.max_age_s),
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(js_err)?;
        Ok(Bus {
            config,
            js,
            stream: Arc::new(stream),
        })
    }

    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Publishes one event and waits for JetStream to store it.
    async fn publish(&self, row: &LiveEventRow) -> Result<(), BusError> {
        let wire = Wire {
            seq: row.seq,
            at_us: row.at_us,
            kind: row.kind.clone(),
            pref_code: row.pref_code.map(|p| p.to_string()),
            data: row.data.clone(),
        };
        let payload = serde_json::to_vec(&wire).map_err(js_err)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", row.seq.to_string().as_str());
        let ack = self
            .js
            .publish_with_headers(self.config.subject(), headers, payload.into())
            .await
            .map_err(js_err)?;
        tokio::time::timeout(Duration::from_millis(PUBLISH_ACK_TIMEOUT_MS), ack)
            .await
            .map_err(|_| BusError::JetStream("publish not acknowledged in time".into()))?
            .map_err(js_err)?;
        Ok(())
    }

    /// Hands one batch of the outbox to JetStream; returns how many went out.
    pub async fn relay_once(&self, store: &dyn Store) -> Result<usize, BusError> {
        let rows = store.live_outbox(RELAY_BATCH).await?;
        let mut sent = 0usize;
        let mut result = Ok(());
        for row in &rows {
            if let Err(e) = self.publish(row).await {
                result = Err(e);
                break;
            }
            sent += 1;
        }
        // Mark what was acknowledged even if a later one failed, so it is not sent twice.
        if let Some(last) = sent.checked_sub(1).map(|i| rows[i].seq) {
            let mut tx = store.begin().await?;
            tx.mark_live_published(last, now_us()).await?;
            tx.commit().await?;
        }
        result.map(|()| sent)
    }

    /// Relays the outbox until the process stops, woken by local commits.
    pub async fn run_relay(self, store: Arc<dyn Store>, mut commits: watch::Receiver<u64>) {
        loop {
            match self.relay_once(&*store).await {
                Ok(n) if n as u32 == RELAY_BATCH => continue,
                Ok(_) => {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(RELAY_IDLE_POLL_MS),
                        commits.changed(),
                    )
                    .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event relay: NATS unavailable; events wait in the outbox");
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                }
            }
        }
    }

    /// Delivers every event published from now on (by any instance) to `out`, in stream
    /// order, until `out` closes.
    pub async fn run_consumer(self, out: mpsc::Sender<LiveEventRow>) {
        // The stream position reached, so that a restarted consumer continues there
        // instead of at "now" and misses nothing published while it was away.
        let mut next_stream_seq = None;
        loop {
            if let Err(e) = self.consume(&out, &mut next_stream_seq).await {
                tracing::warn!(error = %e, "event consumer: restarting");
            }
            if out.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }

    async fn consume(
        &self,
        out: &mpsc::Sender<LiveEventRow>,
        next_stream_seq: &mut Option<u64>,
    ) -> Result<(), BusError> {
        let deliver_policy = match *next_stream_seq {
            Some(start_sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
            None => consumer::DeliverPolicy::New,
        };
        let consumer = {
            self.stream
                .create_consumer(consumer::pull::OrderedConfig {
                    deliver_policy,
                    ..Default::default()
                })
                .await
                .map_err(js_err)?
        };
        let mut messages = consumer.messages().await.map_err(js_err)?;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(js_err)?;
            if let Ok(info) = msg.info() {
                *next_stream_seq = Some(info.stream_sequence + 1);
            }
            if msg.payload.len() > MAX_EVENT_BYTES {
                tracing::warn!(
                    bytes = msg.payload.len(),
                    "event consumer: oversize event skipped"
                );
                continue;
            }
            let row = match decode(&msg.payload) {
                Ok(row) => row,
                Err(e) => {
                    // The hub reads the table on the next gap, so nothing is lost.
                    tracing::warn!(error = %e, "event consumer: undecodable event skipped");
                    continue;
                }
            };
            if out.send(row).await.is_err() {
                return Ok(());
            }
        }
        Err(BusError::JetStream(
            "the consumer's message stream ended".into(),
        ))
    }
}

fn decode(payload: &[u8]) -> Result<LiveEventRow, String> {
    let w: Wire = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let pref_code = w
        .pref_code
        .as_deref()
        .map(koban_org::PrefCode::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(LiveEventRow {
        seq: w.seq,
        at_us: w.at_us,
        kind: w.kind,
        pref_code,
        data: w.data,
        published_at_us: None,
    })
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A channel from the consumer to the hub.
pub fn channel() -> (mpsc::Sender<LiveEventRow>, mpsc::Receiver<LiveEventRow>) {
    mpsc::channel(CONSUMER_QUEUE)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trips_and_rejects_garbage() {
        let w = Wire {
            seq: 7,
            at_us: 1,
            kind: "incident.created".into(),
            pref_code: Some("13".into()),
            data: "{\"id\":\"inc_1\"}".into(),
        };
        let row = decode(&serde_json::to_vec(&w).unwrap()).unwrap();
        assert_eq!(row.seq, 7);
        assert_eq!(row.pref_code.unwrap().as_str(), "13");
        assert!(decode(b"{}").is_err());
        assert!(decode(b"not json").is_err());
        let bad_pref = Wire {
            pref_code: Some("99".into()),
            ..w
        };
        assert!(decode(&serde_json::to_vec(&bad_pref).unwrap()).is_err());
    }

    #[test]
    fn subjects_follow_the_stream_name() {
        assert_eq!(
            BusConfig::new("nats://x", "KOBAN").subject(),
            "koban.koban.events"
        );
    }
}
