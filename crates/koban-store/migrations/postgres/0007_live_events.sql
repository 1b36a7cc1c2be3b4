-- The live event stream and its outbox. Each row is an event shown to subscribers
-- (incident, unit, position, assignment, message changes), written in the same
-- transaction as the change it describes. `seq` is dense and increases in commit order
-- (allocated while the audit head is held), so a subscriber that knows the last seq it
-- saw can resume without losing or repeating anything. `published_at_us` is set once the
-- event has been handed to NATS JetStream; rows not yet published are the outbox.
CREATE TABLE live_events (
    seq             BIGINT PRIMARY KEY,
    at_us           BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    pref_code       TEXT,
    data            TEXT NOT NULL,
    published_at_us BIGINT
);
CREATE INDEX live_events_outbox ON live_events(seq) WHERE published_at_us IS NULL;
CREATE INDEX live_events_at ON live_events(at_us);
