-- koban foundation schema, SQLite flavour. Times are UTC microseconds since the Unix epoch.

CREATE TABLE org_units (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    parent_id     TEXT REFERENCES org_units(id),
    name_ja       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    pref_code     TEXT,
    latitude      REAL,
    longitude     REAL,
    address       TEXT,
    builtin       BOOLEAN NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_us INTEGER NOT NULL,
    updated_at_us INTEGER NOT NULL
);
CREATE INDEX org_units_pref ON org_units(pref_code, kind);
CREATE INDEX org_units_parent ON org_units(parent_id);

CREATE TABLE users (
    id                     TEXT PRIMARY KEY,
    username               TEXT NOT NULL UNIQUE,
    display_name           TEXT NOT NULL,
    unit_id                TEXT NOT NULL REFERENCES org_units(id),
    pref_code              TEXT,
    roles                  TEXT NOT NULL,
    password_hash          TEXT NOT NULL,
    totp_secret            TEXT NOT NULL,
    totp_last_step         INTEGER,
    failed_count           INTEGER NOT NULL DEFAULT 0,
    failed_window_start_us INTEGER,
    locked_at_us           INTEGER,
    disabled_at_us         INTEGER,
    allow_concurrent       BOOLEAN NOT NULL DEFAULT FALSE,
    last_login_us          INTEGER,
    created_at_us          INTEGER NOT NULL,
    updated_at_us          INTEGER NOT NULL
);
CREATE INDEX users_pref ON users(pref_code);

CREATE TABLE user_grants (
    user_id       TEXT NOT NULL REFERENCES users(id),
    pref_code     TEXT NOT NULL,
    granted_by    TEXT NOT NULL,
    granted_at_us INTEGER NOT NULL,
    PRIMARY KEY (user_id, pref_code)
);

CREATE TABLE terminals (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    unit_id        TEXT NOT NULL REFERENCES org_units(id),
    pref_code      TEXT,
    key_hash       BLOB NOT NULL UNIQUE,
    idle_exempt    BOOLEAN NOT NULL,
    created_at_us  INTEGER NOT NULL,
    disabled_at_us INTEGER
);

CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    ended_at_us   INTEGER,
    end_reason    TEXT,
    terminal_id   TEXT REFERENCES terminals(id),
    idle_exempt   BOOLEAN NOT NULL,
    client_addr   TEXT
);
CREATE INDEX sessions_user ON sessions(user_id, ended_at_us);

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    time_us     INTEGER NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT NOT NULL,
    actor_roles TEXT NOT NULL,
    actor_unit  TEXT,
    action      TEXT NOT NULL,
    object_type TEXT,
    object_id   TEXT,
    scope_pref  TEXT,
    purpose     TEXT,
    result      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    client_addr TEXT,
    request_id  TEXT,
    leaf_hash   BLOB NOT NULL,
    tree_root   BLOB NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events(actor_id, seq);
CREATE INDEX audit_events_actor_name ON audit_events(actor_name, seq);
CREATE INDEX audit_events_object ON audit_events(object_type, object_id, seq);
CREATE INDEX audit_events_time ON audit_events(time_us);

-- The signed head of the log, rewritten by every audited transaction. It is what makes
-- truncation of the newest events detectable between stored checkpoints.
CREATE TABLE audit_head (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size    INTEGER NOT NULL,
    frontier     BLOB NOT NULL,
    root_hash    BLOB NOT NULL,
    timestamp_us INTEGER NOT NULL,
    origin       TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    signature    BLOB NOT NULL,
    last_checkpoint_size INTEGER NOT NULL,
    last_checkpoint_us   INTEGER NOT NULL
);

CREATE TABLE audit_checkpoints (
    tree_size    INTEGER PRIMARY KEY,
    root_hash    BLOB NOT NULL,
    timestamp_us INTEGER NOT NULL,
    origin       TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    signature    BLOB NOT NULL
);

CREATE TABLE audit_keys (
    key_id        TEXT PRIMARY KEY,
    public_key    BLOB NOT NULL,
    created_at_us INTEGER NOT NULL
);
