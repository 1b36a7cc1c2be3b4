//! The live event stream: what changed, in order, for every subscriber allowed to see it.
//!
//! A change to an incident, a unit, an assignment or a message appends a live event in the
//! same transaction as the change and its audit event (see [`crate::Koban::conclude`]), with
//! a dense sequence number that increases in commit order. That table is the single source
//! of truth: a subscriber that knows the last number it saw resumes exactly there.
//!
//! Within one instance a [`LiveHub`] fans events out to subscribers through a broadcast
//! channel. A single feeder task fills the hub in sequence order from three sources: a
//! nudge after a local commit, events arriving from other instances over the event bus
//! (NATS JetStream, wired in by the binary), and a slow poll of the table as a safety net.
//! Whatever arrives out of order or with a gap is read back from the table, so subscribers
//! never see a hole or a repeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use koban_access::Action;
use koban_org::PrefCode;
use koban_store::{LiveEventRow, NewLiveEvent};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::{Actor, Koban, RequestCtx, ServiceError};

/// Events a subscriber may fall behind by before it re-reads from storage.
pub const HUB_CAPACITY: usize = 4096;
/// Events read from storage per catch-up query.
pub const CATCH_UP_BATCH: u32 = 500;
/// Events one change may publish (a dispatch of 50 units publishes about 100).
pub const MAX_EVENTS_PER_CHANGE: usize = 2_048;
/// How long events are kept for resuming subscribers.
pub const DEFAULT_RETENTION_S: i64 = 24 * 3600;

/// The kinds of live event, as subscribers see them.
pub mod kinds {
    pub const INCIDENT_CREATED: &str = "incident.created";
    pub const INCIDENT_UPDATED: &str = "incident.updated";
    pub const UNIT_UPDATED: &str = "unit.updated";
    pub const UNIT_POSITION: &str = "unit.position";
    pub const UNIT_EMERGENCY: &str = "unit.emergency";
    pub const ASSIGNMENT_UPDATED: &str = "assignment.updated";
    pub const MESSAGE_CREATED: &str = "message.created";
    pub const MESSAGE_UPDATED: &str = "message.updated";
    /// A hit confirmation request reached the owner's query centre.
    pub const HIT_REQUEST_SENT: &str = "registry.hit_request.sent";
    /// An unanswered request was sent again (by the inquirer or the sweep).
    pub const HIT_REQUEST_RESENT: &str = "registry.hit_request.resent";
    /// An unanswered request was escalated to the owner's supervisor.
    pub const HIT_REQUEST_ESCALATED: &str = "registry.hit_request.escalated";
    /// The owner asked for more time: the deadline moved.
    pub const HIT_REQUEST_UPDATED: &str = "registry.hit_request.updated";
    /// The request was answered, or its record left the active file.
    pub const HIT_REQUEST_CLOSED: &str = "registry.hit_request.closed";
}

/// An event a change will publish if it commits.
#[derive(Clone, Debug)]
pub struct LiveDraft {
    pub kind: &'static str,
    pub pref: Option<PrefCode>,
    pub data: serde_json::Value,
}

impl LiveDraft {
    /// A draft carrying `value` as the API shows it.
    pub fn of(
        kind: &'static str,
        pref: Option<PrefCode>,
        value: &impl Serialize,
    ) -> Result<LiveDraft, ServiceError> {
        Ok(LiveDraft {
            kind,
            pref,
            data: serde_json::to_value(value)
                .map_err(|e| ServiceError::Internal(format!("live event {kind}: {e}")))?,
        })
    }

    pub(crate) fn into_new(self) -> NewLiveEvent {
        NewLiveEvent {
            kind: self.kind.to_string(),
            pref_code: self.pref,
            data: self.data.to_string(),
        }
    }
}

/// A committed live event, with the frame every subscriber receives pre-rendered once.
#[derive(Clone, Debug)]
pub struct LiveEvent {
    pub seq: u64,
    pub kind: String,
    pub pref_code: Option<PrefCode>,
    /// `{"type":"event","seq":…,"kind":…,"prefecture":…,"at":…,"data":…}`
    pub frame: Arc<str>,
}

impl LiveEvent {
    pub fn from_row(row: &LiveEventRow) -> LiveEvent {
        let frame = format!(
            "{{\"type\":\"event\",\"seq\":{},\"kind\":{},\"prefecture\":{},\"at\":\"{}\",\"data\":{}}}",
            row.seq,
            serde_json::Value::from(row.kind.as_str()),
            row.pref_code
                .map(|p| serde_json::Value::from(p.as_str()))
                .unwrap_or(serde_json::Value::Null),
            crate::clock::rfc3339(row.at_us),
            // Stored by us from serde_json output, so it is JSON; guard anyway so a damaged
            // row cannot break the frame.
            if serde_json::from_str::<serde::de::IgnoredAny>(&row.data).is_ok() {
                row.data.as_str()
            } else {
                "null"
            },
        );
        LiveEvent {
            seq: row.seq,
            kind: row.kind.clone(),
            pref_code: row.pref_code,
            frame: frame.into(),
        }
    }

    /// Whether `actor` may see this event: the role must allow reading its kind of data and
    /// the data must lie in the actor's scope. Registry events (the hit-confirmation work
    /// queue) go to the query centres and records clerks who send and answer requests, not
    /// to the command room or to analysts, who read incidents but not records.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        let action = if self.kind.starts_with("message.") {
            Action::MessageReceive
        } else if self.kind.starts_with("registry.") {
            Action::RecordQuery
        } else {
            Action::IncidentRead
        };
        actor.user.roles.allows(action) && actor.sees(self.pref_code)
    }
}

/// One instance's fan-out of live events.
#[derive(Debug)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// The highest sequence number broadcast so far (all lower ones were broadcast too).
    head: AtomicU64,
    /// Counts local commits that appended events; the feeder and the bus relay watch it.
    commits: watch::Sender<u64>,
}

impl Default for LiveHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(HUB_CAPACITY);
        LiveHub {
            sender,
            head: AtomicU64::new(0),
            commits: watch::Sender::new(0),
        }
    }
}

impl LiveHub {
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }
    /// Wakes the feeder after a local commit that appended events.
    pub(crate) fn nudge(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }
    /// Changes after every local commit that appended events.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }
    fn publish(&self, ev: LiveEvent) {
        // The head moves first, so a subscriber that receives the event and finds a gap
        // before it knows the table already holds everything up to it.
        self.head.store(ev.seq, Ordering::Release);
        // No receivers is fine: nobody is listening on this instance.
        let _ = self.sender.send(Arc::new(ev));
    }
}

/// How the feeder learns of events.
#[derive(Debug)]
pub struct FeederConfig {
    /// Re-read the table this often even without a nudge (the safety net when the event bus
    /// is down or absent).
    pub poll_ms: u64,
    /// Delete events older than this (published ones only when a bus is in use).
    pub retention_s: i64,
    /// Whether events are also carried by a bus: then only published events are pruned.
    pub bus: bool,
}

impl Default for FeederConfig {
    fn default() -> Self {
        FeederConfig {
            poll_ms: 1_000,
            retention_s: DEFAULT_RETENTION_S,
            bus: false,
        }
    }
}

impl Koban {
    pub fn live(&self) -> &LiveHub {
        &self.inner.live
    }

    /// Fills the hub in sequence order until the process stops. `remote` carries events
    /// published by any instance (this one included) over the event bus.
    pub async fn run_live_feeder(
        &self,
        mut remote: Option<mpsc::Receiver<LiveEventRow>>,
        config: FeederConfig,
    ) {
        let hub = self.live();
        let mut last = match self.store().live_bounds().await {
            Ok((_, head)) => head,
            Err(e) => {
                tracing::error!(error = %e, "live events: cannot read the head; starting at 0");
                0
            }
        };
        hub.head.store(last, Ordering::Release);
        let mut poll = tokio::time::interval(Duration::from_millis(config.poll_ms.max(10)));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(Duration::from_secs(600));
        let mut commits = hub.commits();
        loop {
            let arrived = tokio::select! {
                _ = commits.changed() => None,
                _ = poll.tick() => None,
                _ = prune.tick() => {
                    self.prune_live(&config).await;
                    continue;
                }
                msg = async {
                    match remote.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match msg {
                    Some(row) => Some(row),
                    None => {
                        tracing::warn!("live events: the event bus feed ended; polling only");
                        remote = None;
                        continue;
                    }
                },
            };
            if let Some(row) = arrived {
                if row.seq <= last {
                    continue;
                }
                if row.seq == last + 1 {
                    hub.publish(LiveEvent::from_row(&row));
                    last = row.seq;
                    continue;
                }
                // A gap: read what is missing (and the event itself) from the table.
            }
            last = self.catch_up_hub(last).await;
        }
    }

    async fn catch_up_hub(&self, mut last: u64) -> u64 {
        loop {
            match self.store().live_events_after(last, CATCH_UP_BATCH).await {
                Ok(rows) => {
                    let n = rows.len();
                    for row in rows {
                        if row.seq != last + 1 && last != 0 {
                            // Pruned or never written: subscribers re-read from storage.
                            tracing::warn!(from = last, to = row.seq, "live events: gap");
                        }
                        last = row.seq;
                        self.live().publish(LiveEvent::from_row(&row));
                    }
                    if n < CATCH_UP_BATCH as usize {
                        return last;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "live events: catch-up read failed");
                    return last;
                }
            }
        }
    }

    async fn prune_live(&self, config: &FeederConfig) {
        let before = self.now_us() - config.retention_s * 1_000_000;
        let r = async {
            let mut tx = self.store().begin().await?;
            let n = tx.prune_live_events(before, !config.bus).await?;
            tx.commit().await?;
            Ok::<u64, koban_store::StoreError>(n)
        }
        .await;
        match r {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "live events pruned"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "live events: prune failed"),
        }
    }

    /// Opens a subscription to the live stream for a signed-in user, audited as
    /// `events.subscribe`. With `after`, every visible event after it is replayed first.
    pub async fn subscribe_live(
        &self,
        ctx: &RequestCtx,
        token: &str,
        after: Option<u64>,
    ) -> Result<Subscription, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "events.subscribe");
        ev.object("event_stream", actor.user.id.clone());
        let receiver = self.live().sender.subscribe();
        let head = self.live().head();
        let r = async {
            // Anyone who may see some kind of event may subscribe; each event is then
            // filtered by `LiveEvent::visible_to`.
            let may_see_any = [
                Action::IncidentRead,
                Action::MessageReceive,
                Action::RecordQuery,
            ]
            .into_iter()
            .any(|a| actor.user.roles.allows(a));
            if !may_see_any {
                return Err(ServiceError::Forbidden {
                    action: Action::IncidentRead.as_str(),
                });
            }
            let (oldest, _) = self.store().live_bounds().await?;
            let (cursor, complete) = match after {
                None => (head, true),
                Some(a) if a > head => {
                    return Err(ServiceError::invalid(
                        "after",
                        "after_head",
                        format!("no event {a} yet; the newest is {head}"),
                    ));
                }
                // Events up to `oldest - 1` were pruned: the client must reload its state.
                Some(a) => (a, oldest == 0 || a + 1 >= oldest),
            };
            if let Some(a) = after {
                ev.detail("after", a);
            }
            ev.detail("head", head);
            Ok(Subscription {
                actor: actor.clone(),
                token: token.to_string(),
                receiver,
                cursor,
                head,
                complete,
                pending: std::collections::VecDeque::new(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Checks that a subscriber's session is still good (not ended, expired, or its account
    /// disabled); a session found expired is ended and audited as on any request.
    pub async fn session_alive(&self, token: &str) -> Result<(), ServiceError> {
        let (tx, _) = self.begin_as(token).await?;
        // Dropping the transaction undoes the last-seen touch: watching the stream alone
        // must not keep an idle console signed in.
        drop(tx);
        Ok(())
    }
}

/// One subscriber's position in the stream.
#[derive(Debug)]
pub struct Subscription {
    pub actor: Actor,
    token: String,
    receiver: broadcast::Receiver<Arc<LiveEvent>>,
    /// The last sequence number handled (sent or filtered out).
    cursor: u64,
    /// The hub's head when the subscription opened.
    pub head: u64,
    /// False when `after` was older than the retained events: the client missed events
    /// that are gone and must reload its state through the API.
    pub complete: bool,
    pending: std::collections::VecDeque<Arc<LiveEvent>>,
}

impl Subscription {
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The next event this subscriber may see, in order, waiting for one if needed.
    /// Catch-up and gaps are served from storage.
    pub async fn next(&mut self, app: &Koban) -> Result<Arc<LiveEvent>, ServiceError> {
        loop {
            while let Some(ev) = self.pending.pop_front() {
                if ev.seq <= self.cursor {
                    continue;
                }
                self.cursor = ev.seq;
                if ev.visible_to(&self.actor) {
                    return Ok(ev);
                }
            }
            if self.cursor < app.live().head() {
                // Behind the hub (replay, a gap or a lag): read from the table.
                let rows = app
                    .store()
                    .live_events_after(self.cursor, CATCH_UP_BATCH)
                    .await?;
                if !rows.is_empty() {
                    self.pending
                        .extend(rows.iter().map(|r| Arc::new(LiveEvent::from_row(r))));
                    continue;
                }
            }
            match self.receiver.recv().await {
                // The next one in order is taken as is; after a gap (or a lag) the loop reads
                // what is missing from storage, this event included.
                Ok(ev) if ev.seq == self.cursor + 1 => self.pending.push_back(ev),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(ServiceError::Unavailable {
                        code: "live_hub_closed",
                        message: "the live event hub stopped".into(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use koban_access::{Role, Roles};
    use koban_org::Scope;

    fn actor(role: Role, pref: u8) -> Actor {
        let mut a = Actor::system("t");
        a.user.roles = Roles::new([role]);
        a.scope = Scope::Prefectures([PrefCode::new(pref).unwrap()].into());
        a
    }

    fn event(kind: &str, pref: u8) -> LiveEvent {
        LiveEvent::from_row(&LiveEventRow {
            seq: 1,
            at_us: 0,
            kind: kind.into(),
            pref_code: Some(PrefCode::new(pref).unwrap()),
            data: "{}".into(),
            published_at_us: None,
        })
    }

    #[test]
    fn registry_events_reach_query_centres_and_clerks_only() {
        let ev = event(kinds::HIT_REQUEST_SENT, 13);
        assert!(ev.visible_to(&actor(Role::QueryOperator, 13)));
        assert!(ev.visible_to(&actor(Role::RecordsClerk, 13)));
        for role in [
            Role::Analyst,
            Role::Dispatcher,
            Role::CallTaker,
            Role::FieldOfficer,
            Role::Auditor,
        ] {
            assert!(!ev.visible_to(&actor(role, 13)), "{role}");
        }
        assert!(!ev.visible_to(&actor(Role::QueryOperator, 14)));
        // Incidents stay with the command room and analysts.
        let inc = event(kinds::INCIDENT_CREATED, 13);
        assert!(inc.visible_to(&actor(Role::Analyst, 13)));
        assert!(!inc.visible_to(&actor(Role::QueryOperator, 13)));
    }
}
