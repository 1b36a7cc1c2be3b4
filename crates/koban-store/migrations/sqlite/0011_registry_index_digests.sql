-- Registry index, second form. Index rows hold 64-bit digests of identifier keys and name
-- tokens and point at a record's sequence number instead of its text id, which makes them
-- a third of their former size. Each record keeps the terms it is indexed by
-- (`index_terms`, JSON), so its index rows can be removed exactly and rebuilt from the
-- record alone: a bulk load writes them in one sorted pass at its end, instead of at
-- random places of large B-trees.
CREATE TABLE registry_records_v2 (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL,
    owner_pref        TEXT NOT NULL,
    state             TEXT NOT NULL,
    entered_at_us     INTEGER NOT NULL,
    updated_at_us     INTEGER NOT NULL,
    validation_due_us INTEGER NOT NULL,
    index_terms       TEXT NOT NULL,
    file              TEXT NOT NULL,
    lifecycle         TEXT NOT NULL
);
INSERT INTO registry_records_v2 (id, kind, owner_pref, state, entered_at_us, updated_at_us,
                                 validation_due_us, index_terms, file, lifecycle)
SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us,
       r.validation_due_us,
       json_object(
           'keys', json(COALESCE((SELECT json_group_array(k.key) FROM registry_keys k
                                  WHERE k.record_id = r.id), '[]')),
           'names', json(COALESCE((SELECT json_group_array(json_array(n.token, n.dob))
                                   FROM registry_names n WHERE n.record_id = r.id), '[]'))),
       r.file, r.lifecycle
FROM registry_records r
ORDER BY r.id;
DROP TABLE registry_records;
ALTER TABLE registry_records_v2 RENAME TO registry_records;
-- The former (owner_pref, state, validation_due_us) index served no query and cost every
-- insert a B-tree; only the export's change order needs one.
CREATE INDEX registry_records_updated ON registry_records(updated_at_us);

DROP TABLE registry_keys;
DROP TABLE registry_names;
CREATE TABLE registry_keys (
    key_hash INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (key_hash, seq)
) WITHOUT ROWID;
CREATE TABLE registry_names (
    token_hash INTEGER NOT NULL,
    dob        INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (token_hash, dob, seq)
) WITHOUT ROWID;

-- Records from `from_seq` on may lack index rows: a bulk load in progress or interrupted,
-- or this migration. The service builds them before it answers anything.
CREATE TABLE registry_unindexed (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    from_seq INTEGER NOT NULL
);
INSERT INTO registry_unindexed (id, from_seq)
SELECT 1, 1 WHERE EXISTS (SELECT 1 FROM registry_records);
