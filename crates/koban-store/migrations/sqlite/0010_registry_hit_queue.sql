-- The query centres' hit-confirmation work queue: one row per hit confirmation request,
-- beside the record whose lifecycle JSON stays the source of truth. The service derives
-- the rows from the lifecycle in the same transaction as every lifecycle change, so a
-- prefecture lists what it must answer (owner side) or what it is waiting for (inquirer
-- side) by due time, and the sweep finds overdue requests, with index seeks instead of
-- parsing every record. A request is open until answered, or closed when its record
-- leaves the active file; the partial indexes hold only open rows.
CREATE TABLE registry_hit_requests (
    record_id       TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    record_kind     TEXT NOT NULL,
    owner_pref      TEXT NOT NULL,
    from_pref       TEXT NOT NULL,
    priority        TEXT NOT NULL,
    sent_at_us      INTEGER NOT NULL,
    due_at_us       INTEGER NOT NULL,
    resends         INTEGER NOT NULL,
    escalated_at_us INTEGER,
    state           TEXT NOT NULL,
    PRIMARY KEY (record_id, request_id)
);
CREATE INDEX registry_hit_requests_owner ON registry_hit_requests(owner_pref, due_at_us) WHERE state = 'open';
CREATE INDEX registry_hit_requests_inquirer ON registry_hit_requests(from_pref, due_at_us) WHERE state = 'open';
CREATE INDEX registry_hit_requests_open ON registry_hit_requests(due_at_us) WHERE state = 'open';
CREATE INDEX registry_hit_requests_sweep ON registry_hit_requests(due_at_us) WHERE state = 'open' AND escalated_at_us IS NULL;

-- Requests of records stored before this migration. The state rule is the lifecycle's
-- (`Lifecycle::request_state`): answered once answered, else open while the record is in
-- the active file (active, or located unless a missing person), else closed.
INSERT INTO registry_hit_requests (record_id, request_id, record_kind, owner_pref, from_pref, priority, sent_at_us, due_at_us, resends, escalated_at_us, state)
SELECT r.id,
       json_extract(q.value, '$.id'),
       r.kind,
       r.owner_pref,
       json_extract(q.value, '$.from'),
       json_extract(q.value, '$.priority'),
       json_extract(q.value, '$.sent_at'),
       json_extract(q.value, '$.due_at'),
       json_extract(q.value, '$.resends'),
       json_extract(q.value, '$.escalated_at'),
       CASE
           WHEN json_extract(q.value, '$.answer') IS NOT NULL THEN 'answered'
           WHEN r.state = 'active' OR (r.state = 'located' AND r.kind <> 'missing') THEN 'open'
           ELSE 'closed'
       END
FROM registry_records r, json_each(r.lifecycle, '$.requests') q;

-- What is left of a record the purge deleted: its id and when, so that an export by
-- difference (`--since`) still reports the removal. Kept for a retention period; the
-- horizon says before when removals may have been forgotten, and an export since an older
-- version is refused (the site takes a full copy instead).
CREATE TABLE registry_tombstones (
    record_id     TEXT PRIMARY KEY,
    owner_pref    TEXT NOT NULL,
    removed_at_us INTEGER NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX registry_tombstones_removed ON registry_tombstones(removed_at_us, record_id);

CREATE TABLE registry_tombstone_horizon (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_before_us INTEGER NOT NULL
);
