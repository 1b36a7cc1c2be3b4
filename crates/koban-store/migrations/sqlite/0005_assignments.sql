-- Units assigned to incidents, each with its own validated timeline (JSON).
CREATE TABLE assignments (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    unit_id       TEXT NOT NULL REFERENCES dispatch_units(id),
    pref_code     TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    updated_at_us INTEGER NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX assignments_incident ON assignments(incident_id);
CREATE INDEX assignments_unit ON assignments(unit_id, active);
