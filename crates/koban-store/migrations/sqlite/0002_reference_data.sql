-- Reference data imported by administrators (address points, municipality boundaries),
-- kept verbatim so every instance builds the same in-memory indexes from it.
CREATE TABLE reference_datasets (
    kind           TEXT NOT NULL,
    part           INTEGER NOT NULL,
    source_name    TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    bytes          BLOB NOT NULL,
    imported_at_us INTEGER NOT NULL,
    PRIMARY KEY (kind, part)
);
