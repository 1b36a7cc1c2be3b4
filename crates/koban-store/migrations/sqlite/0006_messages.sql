-- Messages from the command room to units, stations or everyone in scope, with one
-- receipt row per addressed unit (delivered when its terminal fetches, read when opened).
CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    pref_code     TEXT NOT NULL,
    sender_id     TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    target_kind   TEXT NOT NULL,
    target_id     TEXT,
    incident_id   TEXT,
    text          TEXT NOT NULL,
    lat           REAL,
    lon           REAL,
    image_type    TEXT,
    image         BLOB
);
CREATE INDEX messages_scope ON messages(pref_code, created_at_us);

CREATE TABLE message_receipts (
    message_id      TEXT NOT NULL REFERENCES messages(id),
    unit_id         TEXT NOT NULL REFERENCES dispatch_units(id),
    delivered_at_us INTEGER,
    read_at_us      INTEGER,
    PRIMARY KEY (message_id, unit_id)
);
CREATE INDEX message_receipts_unit ON message_receipts(unit_id, delivered_at_us);
