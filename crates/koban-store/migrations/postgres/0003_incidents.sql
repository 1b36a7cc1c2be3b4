-- 110 calls and incidents. The full record (timeline included) is kept as a JSON
-- document validated by koban-dispatch on every load; the columns beside it are what
-- queries filter and sort on.
CREATE TABLE incidents (
    id            TEXT PRIMARY KEY,
    pref_code     TEXT NOT NULL,
    state         TEXT NOT NULL,
    type_code     TEXT NOT NULL,
    priority      BIGINT NOT NULL,
    lat           DOUBLE PRECISION NOT NULL,
    lon           DOUBLE PRECISION NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX incidents_scope ON incidents(pref_code, state, created_at_us);

CREATE TABLE calls (
    id             TEXT PRIMARY KEY,
    pref_code      TEXT NOT NULL,
    received_at_us BIGINT NOT NULL,
    incident_id    TEXT REFERENCES incidents(id),
    doc            TEXT NOT NULL
);
CREATE INDEX calls_incident ON calls(incident_id);
CREATE INDEX calls_scope ON calls(pref_code, received_at_us);
