-- The national records registry. A record is its validated file and its lifecycle (state,
-- hit confirmations, history), each as JSON, beside the columns that lists and schedules
-- query. Inquiries never scan these rows: identifier keys (normalised plate, VIN, document,
-- serial keys) and person-name tokens with the date of birth live in their own indexed
-- tables, so every inquiry is an index seek.
CREATE TABLE registry_records (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    owner_pref        TEXT NOT NULL,
    state             TEXT NOT NULL,
    entered_at_us     BIGINT NOT NULL,
    updated_at_us     BIGINT NOT NULL,
    validation_due_us BIGINT NOT NULL,
    file              TEXT NOT NULL,
    lifecycle         TEXT NOT NULL
);
CREATE INDEX registry_records_owner ON registry_records(owner_pref, state, validation_due_us);
CREATE INDEX registry_records_updated ON registry_records(updated_at_us);

-- One row per identifier key of a record (several records may share a key: compatible
-- records of different owners, or cleared and cancelled ones kept for their history).
CREATE TABLE registry_keys (
    key       TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (key, record_id)
);

-- One row per name token of a person record, with the date of birth as yyyymmdd so that
-- a ± N years query is one range of the primary key.
CREATE TABLE registry_names (
    token     TEXT NOT NULL,
    dob       BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (token, dob, record_id)
);
