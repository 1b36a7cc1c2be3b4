-- Incidents imported from other agencies' EIDO documents, keyed by who sent them, so that a
-- later document about the same incident updates it instead of recording it twice. Each
-- prefecture keeps its own mapping: two prefectures importing one document get one
-- incident each.
CREATE TABLE eido_imports (
    pref_code          TEXT NOT NULL,
    source_element     TEXT NOT NULL,
    source_incident_id TEXT NOT NULL,
    incident_id        TEXT NOT NULL REFERENCES incidents(id),
    imported_at_us     BIGINT NOT NULL,
    PRIMARY KEY (pref_code, source_element, source_incident_id)
);
