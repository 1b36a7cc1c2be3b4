-- Dispatchable units (patrol cars, motorcycles, foot patrols, aircraft, boats): the
-- validated JSON record beside the columns that scope, status and position queries use.
CREATE TABLE dispatch_units (
    id             TEXT PRIMARY KEY,
    pref_code      TEXT NOT NULL,
    status         TEXT NOT NULL,
    lat            REAL,
    lon            REAL,
    position_at_us INTEGER,
    updated_at_us  INTEGER NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX dispatch_units_scope ON dispatch_units(pref_code);
