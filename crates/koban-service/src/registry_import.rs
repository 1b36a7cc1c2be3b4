//! Bulk load of registry records (`koban import records`): CSV or JSON Lines, at scale.
//!
//! Lines are parsed and validated one by one ([`parse_json_line`], [`parse_csv_record`]);
//! a bad line becomes a [`LineProblem`] naming its field and is skipped, a good one becomes
//! an [`ImportItem`] holding its finished storage row. Good lines are stored in large
//! batches ([`Koban::system_import_records`]), each batch one transaction with one audit
//! event (count, line range, digest of the batch's lines), so a batch is either wholly
//! stored or not at all, and the audit log does not grow by one event per record. The
//! entry conflict check runs across the whole file in memory and, when the registry was
//! not empty, against storage too.
//!
//! Imported records were entered and verified in the source system; they arrive active
//! with a history that says they were imported (see `Lifecycle::imported`).

use std::collections::HashMap;
use std::hash::Hasher;

use koban_org::PrefCode;
use koban_registry::{
    Date, Lifecycle, RecordFile, RecordKind, RegistryError, compatible, date::jst_date,
};
use koban_store::{CollectedIndex, RegistryRow, registry_digest};
use serde::Serialize;

use crate::registry::{parse_file, parse_file_json, record_row};
use crate::{Koban, LineProblem, RequestCtx, ServiceError, new_id};

/// Most lines in one import batch (one transaction).
pub const MAX_BATCH: usize = 100_000;
/// Longest line accepted, in bytes (a record file is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One good line, ready to store.
#[derive(Clone, Debug)]
pub struct ImportItem {
    pub line: u64,
    pub owner: PrefCode,
    pub kind: RecordKind,
    /// Where the record's subject keys are in `row.keys` (the others are partial keys).
    pub subjects: Vec<usize>,
    /// The digests of the row's keys (in `row.keys` order), and of its name tokens with
    /// the date of birth, computed by the parsing threads. The conflict check looks the
    /// subject keys up by them, and a load into an empty registry builds its index from
    /// them.
    pub digests: koban_store::RecordDigests,
    pub row: RegistryRow,
}

impl ImportItem {
    /// The subject keys as `(digest, key)`.
    fn subject_keys(&self) -> impl Iterator<Item = (i64, &str)> {
        self.subjects.iter().filter_map(|&place| {
            Some((
                *self.digests.0.get(place)?,
                self.row.keys.get(place)?.as_str(),
            ))
        })
    }
}

/// A hasher for keys that are digests already (the import's subject keys): using the
/// value as it is saves hashing them a second time on the storing thread.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_i64` is expected; fold anything else in rather than lose it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = u64::from_ne_bytes(v.to_ne_bytes());
    }
}

/// What one batch did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportBatchReport {
    pub loaded: usize,
    /// Lines refused by the conflict check (duplicates, incompatible records).
    pub rejected: Vec<LineProblem>,
}

/// The conflict-check state of one import, carried from batch to batch.
#[derive(Debug, Default)]
pub struct ImportState {
    /// Subject key (its digest) → owner and kind of the first record of this import on it.
    seen: HashMap<i64, (PrefCode, RecordKind), std::hash::BuildHasherDefault<PreHashed>>,
    /// Whether storage already held records when the import began (then each subject is
    /// also looked up there).
    check_storage: Option<bool>,
    /// The index rows of a load into an empty registry, collected batch by batch; given
    /// up (`None`) for a registry that was not empty, or past `MAX_COLLECTED_INDEX_ROWS`.
    collected: Option<CollectedIndex>,
}

/// Most index rows an import keeps in memory for its final index pass (16 to 24 bytes
/// each, so under about 1.2 GiB, sorting included). Past it, the pass reads the stored
/// records instead, as after an interrupted load.
pub const MAX_COLLECTED_INDEX_ROWS: usize = 50_000_000;

impl ImportState {
    /// The index rows collected so far, for [`Koban::system_build_registry_index`].
    pub fn take_collected(&mut self) -> Option<CollectedIndex> {
        self.collected.take()
    }
}

fn problem(line: u64, field: &str, code: &str, message: impl Into<String>) -> LineProblem {
    LineProblem {
        line,
        field: field.to_string(),
        code: code.to_string(),
        message: message.into(),
    }
}

fn from_service(line: u64, e: ServiceError) -> LineProblem {
    match e {
        ServiceError::Invalid {
            field,
            code,
            message,
        } => problem(line, &field, code, message),
        other => problem(line, "", "invalid", other.to_string()),
    }
}

fn from_registry(line: u64, e: &RegistryError) -> LineProblem {
    problem(line, e.field().unwrap_or(""), e.code(), e.to_string())
}

/// Who registered a record in the source system, and when (microseconds).
struct EntryMeta {
    owner: PrefCode,
    entered_by: String,
    entered_at: i64,
}

/// Reads a line's `owner_pref`, `entered_by` and `entered_on` members.
fn entry_meta(
    line: u64,
    owner_pref: Option<serde_json::Value>,
    entered_by: Option<serde_json::Value>,
    entered_on: Option<serde_json::Value>,
    now: i64,
    today: Date,
) -> Result<EntryMeta, LineProblem> {
    let owner = match owner_pref {
        Some(serde_json::Value::String(s)) => PrefCode::parse(&s)
            .map_err(|e| problem(line, "owner_pref", "invalid_format", e.to_string()))?,
        Some(_) => {
            return Err(problem(
                line,
                "owner_pref",
                "invalid_format",
                "owner_pref is a two-digit JIS code in quotes",
            ));
        }
        None => {
            return Err(problem(
                line,
                "owner_pref",
                "required",
                "owner_pref is required",
            ));
        }
    };
    let entered_by = match entered_by {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
        None => "import".to_string(),
        Some(_) => {
            return Err(problem(
                line,
                "entered_by",
                "invalid_format",
                "entered_by is the user id in the source system",
            ));
        }
    };
    let entered_at = match entered_on {
        Some(serde_json::Value::String(s)) => {
            let d = koban_registry::date::parse_date("entered_on", &s)
                .map_err(|e| from_registry(line, &e))?;
            if d > today {
                return Err(problem(line, "entered_on", "out_of_range", "in the future"));
            }
            // Midnight in Japan of the day of entry.
            koban_registry::date::days_from_civil(
                i64::from(d.year),
                u32::from(d.month),
                u32::from(d.day),
            ) * koban_registry::date::DAY_US
                - 9 * 3_600_000_000
        }
        None => now,
        Some(_) => {
            return Err(problem(
                line,
                "entered_on",
                "invalid_format",
                "entered_on is YYYY-MM-DD",
            ));
        }
    };
    Ok(EntryMeta {
        owner,
        entered_by,
        entered_at,
    })
}

/// Parses the owner, entry metadata and file of one line's JSON object (a CSV record,
/// nested by its dotted columns).
fn item_from_value(
    line: u64,
    mut v: serde_json::Value,
    importer: &str,
    now: i64,
    today: Date,
) -> Result<ImportItem, LineProblem> {
    let obj = v
        .as_object_mut()
        .ok_or_else(|| problem(line, "", "invalid_json", "a line is one JSON object"))?;
    let meta = entry_meta(
        line,
        obj.remove("owner_pref"),
        obj.remove("entered_by"),
        obj.remove("entered_on"),
        now,
        today,
    )?;
    let file = parse_file(v).map_err(|e| from_service(line, e))?;
    item_from_file(line, meta, &file, importer, now, today)
}

/// Validates a parsed file and builds its storage row, digests included.
fn item_from_file(
    line: u64,
    meta: EntryMeta,
    file: &RecordFile,
    importer: &str,
    now: i64,
    today: Date,
) -> Result<ImportItem, LineProblem> {
    if let Some(e) = file.validate(today).first() {
        return Err(from_registry(line, e));
    }
    let importer = koban_registry::Actor {
        user: importer.to_string(),
        pref: meta.owner,
    };
    let life = Lifecycle::imported(
        file.kind(),
        meta.owner,
        &meta.entered_by,
        meta.entered_at,
        &importer,
        now,
    )
    .map_err(|e| from_registry(line, &e))?;
    let row = record_row(&new_id("rec"), file, &life, now).map_err(|e| from_service(line, e))?;
    // The row's keys are the subject keys plus the partial ones (`index::search_keys`).
    let subjects = (0..row.keys.len())
        .filter(|&place| !koban_registry::index::is_partial_key(&row.keys[place]))
        .collect();
    let digests = (
        row.keys.iter().map(|k| registry_digest(k)).collect(),
        row.names
            .iter()
            .map(|(t, dob)| (registry_digest(t), *dob))
            .collect(),
    );
    Ok(ImportItem {
        line,
        owner: meta.owner,
        kind: file.kind(),
        subjects,
        digests,
        row,
    })
}

/// The members of a JSON line that are not fields of its record file. Reading them first
/// (the file's own members are skipped unparsed) lets the file be parsed straight from the
/// text into its typed struct.
#[derive(serde::Deserialize)]
struct LineHead {
    kind: Option<serde_json::Value>,
    owner_pref: Option<serde_json::Value>,
    entered_by: Option<serde_json::Value>,
    entered_on: Option<serde_json::Value>,
}

/// Parses one JSON Lines line: a record file (with `kind`) plus `owner_pref` and,
/// optionally, `entered_by` and `entered_on` from the source system.
pub fn parse_json_line(
    line: u64,
    text: &str,
    importer: &str,
    now: i64,
) -> Result<ImportItem, LineProblem> {
    if text.len() > MAX_LINE_BYTES {
        return Err(problem(
            line,
            "",
            "line_too_long",
            "a line is at most 64 KiB",
        ));
    }
    // serde reads a struct from an array too (by position); a line must be an object.
    if !text.trim_start().starts_with('{') {
        return Err(problem(
            line,
            "",
            "invalid_json",
            "a line is one JSON object",
        ));
    }
    let head: LineHead =
        serde_json::from_str(text).map_err(|e| problem(line, "", "invalid_json", e.to_string()))?;
    let today = jst_date(now);
    let meta = entry_meta(
        line,
        head.owner_pref,
        head.entered_by,
        head.entered_on,
        now,
        today,
    )?;
    let file = parse_file_json(head.kind, text).map_err(|e| from_service(line, e))?;
    item_from_file(line, meta, &file, importer, now, today)
}

/// Columns whose cells are numbers.
const NUMBER_COLUMNS: &[&str] = &["descriptors.height_cm", "plates_taken"];
/// Columns whose cells are `true` or `false`.
const BOOL_COLUMNS: &[&str] = &[
    "juvenile",
    "vulnerable",
    "deceased",
    "caution.armed",
    "caution.violent",
    "caution.suicidal",
    "caution.escape_risk",
    "caution.mental_health",
];
/// Columns left out when empty (optional values that are not text).
const OPTIONAL_COLUMNS: &[&str] = &[
    "plate",
    "descriptors.height_cm",
    "estimated_age",
    "firearm.calibre",
    "holder_date_of_birth",
    "name.kanji",
    "name.kana",
    "name.latin",
    "holder.kanji",
    "holder.kana",
    "holder.latin",
    "entered_by",
    "entered_on",
];

/// Parses one CSV record. The header names fields with dots for nesting
/// (`kind,owner_pref,name.kanji,name.kana,date_of_birth,warrant.offence,…`); a file may
/// mix kinds, leaving the columns of other kinds empty. Text cells are taken as they are
/// (an empty mandatory text is then refused by validation), numbers and flags are typed
/// by column, and `estimated_age` is written `30-40`.
pub fn parse_csv_record(
    line: u64,
    header: &[String],
    cells: &csv::StringRecord,
    importer: &str,
    now: i64,
) -> Result<ImportItem, LineProblem> {
    if cells.len() != header.len() {
        return Err(problem(
            line,
            "",
            "invalid_csv",
            format!(
                "{} cells where the header has {}",
                cells.len(),
                header.len()
            ),
        ));
    }
    let mut root = serde_json::Map::new();
    let kind = cells.get(
        header
            .iter()
            .position(|h| h == "kind")
            .unwrap_or(usize::MAX),
    );
    for (col, cell) in header.iter().zip(cells.iter()) {
        let cell = cell.trim();
        if cell.is_empty() && (OPTIONAL_COLUMNS.contains(&col.as_str()) || !belongs(col, kind)) {
            continue;
        }
        let value = if NUMBER_COLUMNS.contains(&col.as_str()) {
            match cell.parse::<u64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => return Err(problem(line, col, "invalid_format", "not a number")),
            }
        } else if BOOL_COLUMNS.contains(&col.as_str()) {
            match cell {
                "true" | "1" | "yes" => serde_json::Value::Bool(true),
                "false" | "0" | "no" | "" => serde_json::Value::Bool(false),
                _ => return Err(problem(line, col, "invalid_format", "true or false")),
            }
        } else if col == "estimated_age" {
            let range = cell.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?))
            });
            match range {
                Some((a, b)) => serde_json::json!([a, b]),
                None => {
                    return Err(problem(
                        line,
                        col,
                        "invalid_format",
                        "an age range like 30-40",
                    ));
                }
            }
        } else {
            serde_json::Value::String(cell.to_string())
        };
        insert_path(&mut root, col, value);
    }
    item_from_value(
        line,
        serde_json::Value::Object(root),
        importer,
        now,
        jst_date(now),
    )
}

/// Whether a column is one of the fields of records of `kind` (columns of other kinds are
/// ignored when empty, so a file can mix kinds).
fn belongs(col: &str, kind: Option<&str>) -> bool {
    let top = col.split('.').next().unwrap_or(col);
    let fields: &[&str] = match kind.unwrap_or("") {
        "wanted" => &["name", "date_of_birth", "descriptors", "warrant", "caution"],
        "missing" => &[
            "name",
            "date_of_birth",
            "descriptors",
            "last_seen_on",
            "last_seen_place",
            "circumstances",
            "juvenile",
            "vulnerable",
            "caution",
        ],
        "unidentified" => &[
            "found_on",
            "found_place",
            "deceased",
            "estimated_age",
            "descriptors",
        ],
        "stolen_vehicle" => &[
            "vehicle_id",
            "plate",
            "make",
            "model",
            "colour",
            "stolen_on",
        ],
        "stolen_plate" => &["plate", "plates_taken", "stolen_on"],
        "stolen_firearm" => &["firearm", "firearm_type", "stolen_on"],
        "stolen_article" => &["number", "article_type", "brand", "stolen_on"],
        "travel_document" => &[
            "document",
            "status",
            "reported_on",
            "holder",
            "holder_date_of_birth",
        ],
        _ => &[],
    };
    matches!(top, "kind" | "owner_pref") || fields.contains(&top)
}

fn insert_path(
    root: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    v: serde_json::Value,
) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let child = root
                .entry(head.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(m) = child {
                insert_path(m, rest, v);
            }
        }
    }
}

impl Koban {
    /// Stores one batch of parsed lines in one transaction with one audit event, after the
    /// entry conflict check. Lines that fail the check are returned, not stored.
    pub async fn system_import_records(
        &self,
        operator: &str,
        source: &str,
        batch_sha256: &str,
        items: Vec<ImportItem>,
        state: &mut ImportState,
    ) -> Result<ImportBatchReport, ServiceError> {
        if items.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "batch",
                "batch_too_large",
                format!("at most {MAX_BATCH} records per batch"),
            ));
        }
        let (mut tx, actor) = self.begin_system(operator).await?;
        let mut ev = actor.draft(&RequestCtx::cli(), "registry.import");
        ev.object("registry_import", source);
        let mut digests = Vec::with_capacity(items.len());
        let r = async {
            let check_storage = match state.check_storage {
                Some(c) => c,
                None => {
                    let c = !tx.registry_is_empty().await?;
                    state.check_storage = Some(c);
                    state.collected = (!c).then(CollectedIndex::default);
                    c
                }
            };
            let first = items.first().map(|i| i.line).unwrap_or(0);
            let last = items.last().map(|i| i.line).unwrap_or(0);
            let mut report = ImportBatchReport::default();
            let mut rows = Vec::with_capacity(items.len());
            for item in items {
                match check(&mut *tx, state, &item, check_storage).await? {
                    Some(p) => report.rejected.push(p),
                    None => {
                        for (digest, _) in item.subject_keys() {
                            state.seen.entry(digest).or_insert((item.owner, item.kind));
                        }
                        rows.push(item.row);
                        digests.push(item.digests);
                    }
                }
            }
            // A load into an empty registry leaves the index rows to one sorted pass at
            // its end (`system_build_registry_index`): inserting them batch by batch
            // touches most leaves of large B-trees every time.
            let seqs = if check_storage {
                tx.insert_registry_records(&rows).await?;
                Vec::new()
            } else {
                tx.insert_registry_records_deferred(&rows).await?
            };
            report.loaded = rows.len();
            // Freeing a batch (tens of thousands of strings the parser threads allocated)
            // was a visible part of the storing thread's profile, and that thread is the
            // one a bulk load waits on; a blocking-pool thread frees it instead.
            tokio::task::spawn_blocking(move || drop(rows));
            ev.detail("loaded", report.loaded);
            ev.detail("rejected", report.rejected.len());
            ev.detail("lines", format!("{first}-{last}"));
            ev.detail("sha256", batch_sha256);
            Ok((report, seqs))
        }
        .await;
        let done = self.conclude(tx, ev, r).await;
        // Only what was committed joins the collected index rows.
        match (&done, state.collected.as_mut()) {
            (Ok((_, seqs)), Some(c)) => {
                c.add(seqs, &digests);
                if c.rows() > MAX_COLLECTED_INDEX_ROWS {
                    state.collected = None;
                }
            }
            (Err(_), _) => state.collected = None,
            _ => {}
        }
        done.map(|(report, _)| report)
    }

    /// Builds the index rows a bulk load deferred, or an interrupted one left, in one
    /// sorted pass; audited when there was anything to build. Returns the rows written.
    /// A load into an empty registry passes the rows it collected, which spares reading
    /// the records back where they cover exactly the pending ones.
    pub async fn system_build_registry_index(
        &self,
        operator: &str,
        collected: Option<CollectedIndex>,
    ) -> Result<u64, ServiceError> {
        let (mut tx, actor) = self.begin_system(operator).await?;
        let Some(from_seq) = tx.registry_index_pending().await? else {
            return Ok(0);
        };
        tracing::info!(from_seq, "building the registry index");
        let mut ev = actor.draft(&RequestCtx::cli(), "registry.index_build");
        ev.object("registry_index", "registry");
        let r = async {
            let rows = tx.build_registry_index(collected).await?;
            ev.detail("from_seq", from_seq);
            ev.detail("index_rows", rows);
            Ok(rows)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Records the end of an import: the file's digest and totals.
    pub async fn system_import_records_done(
        &self,
        operator: &str,
        source: &str,
        file_sha256: &str,
        (lines, loaded, rejected): (u64, u64, u64),
    ) -> Result<(), ServiceError> {
        let (tx, actor) = self.begin_system(operator).await?;
        let mut ev = actor.draft(&RequestCtx::cli(), "registry.import_file");
        ev.object("registry_import", source);
        ev.detail("sha256", file_sha256);
        ev.detail("lines", lines);
        ev.detail("loaded", loaded);
        ev.detail("rejected", rejected);
        self.conclude(tx, ev, Ok(())).await
    }
}

/// The conflict check of one imported line against the file so far and, when asked,
/// against storage.
async fn check(
    tx: &mut dyn koban_store::Tx,
    state: &ImportState,
    item: &ImportItem,
    check_storage: bool,
) -> Result<Option<LineProblem>, ServiceError> {
    for (digest, k) in item.subject_keys() {
        if let Some((owner, kind)) = state.seen.get(&digest) {
            if *owner == item.owner {
                return Ok(Some(problem(
                    item.line,
                    "",
                    "duplicate_record",
                    format!("an earlier line of this import holds the same subject ({k})"),
                )));
            }
            if !compatible(item.kind, *kind) {
                return Ok(Some(problem(
                    item.line,
                    "",
                    "incompatible_record",
                    format!("an earlier line of another owner holds the same subject ({k})"),
                )));
            }
        }
    }
    if check_storage {
        for (_, k) in item.subject_keys() {
            for row in tx.registry_by_key(k).await? {
                let live = matches!(
                    row.state.as_str(),
                    "pending_verification" | "active" | "located"
                );
                if !live {
                    continue;
                }
                let owner_same = row.owner_pref == item.owner;
                let kind: Option<RecordKind> =
                    serde_json::from_value(serde_json::Value::String(row.kind.clone())).ok();
                let clash = owner_same || kind.is_none_or(|kd| !compatible(item.kind, kd));
                if clash {
                    let code = if owner_same {
                        "duplicate_record"
                    } else {
                        "incompatible_record"
                    };
                    return Ok(Some(problem(
                        item.line,
                        "",
                        code,
                        format!("record {} already holds the same subject", row.id),
                    )));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;

    #[test]
    fn json_lines_name_the_bad_field() {
        let good = r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300あ1234","plates_taken":1,"stolen_on":"2025-01-10"}"#;
        let item = parse_json_line(1, good, "cli:test", NOW).unwrap();
        assert_eq!(item.row.state, "active");
        assert!(item.row.keys.iter().any(|k| k.starts_with("PLATEX|")));
        for (bad, field) in [
            (
                r#"{"kind":"stolen_plate","plate":"品川300あ1234","plates_taken":1,"stolen_on":"2025-01-10"}"#,
                "owner_pref",
            ),
            (
                r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300ん1234","plates_taken":1,"stolen_on":"2025-01-10"}"#,
                "plate",
            ),
            (
                r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300あ1234","plates_taken":1,"stolen_on":"2025-13-10"}"#,
                "stolen_on",
            ),
            (
                r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300あ1234","stolen_on":"2025-01-10"}"#,
                "plates_taken",
            ),
            (r#"{"kind":"boat","owner_pref":"13"}"#, "kind"),
        ] {
            let p = parse_json_line(7, bad, "cli:test", NOW).unwrap_err();
            assert_eq!((p.line, p.field.as_str()), (7, field), "{bad}: {p:?}");
        }
        assert_eq!(
            parse_json_line(2, "{", "cli:test", NOW).unwrap_err().code,
            "invalid_json"
        );
    }

    /// JSON lines are parsed straight from their text into the typed file; CSV records go
    /// through a JSON tree. Both must give the same rows and name the same bad fields.
    #[test]
    fn json_lines_parse_as_the_json_tree_does() {
        let lines = [
            r#"{"caution":{"armed":true},"date_of_birth":"1962-11-10","descriptors":{"sex":"male"},"kind":"wanted","name":{"kana":"ササキ アヤ","kanji":"佐々木 彩","latin":"SASAKI AYA"},"owner_pref":"20","warrant":{"expires_on":"2099-01-01","issued_on":"2025-01-01","issuing_court":"東京地方裁判所","offence":"窃盗","warrant_number":"W0"}}"#,
            r#"{"circumstances":"帰宅せず","date_of_birth":"1945-12-28","descriptors":{"description":"青い上着","sex":"female"},"juvenile":false,"kind":"missing","last_seen_on":"2025-06-01","last_seen_place":"新宿駅","name":{"kana":"オオタニ ミサキ","kanji":"大谷 美咲"},"owner_pref":"03","vulnerable":true,"entered_by":"src-user-7","entered_on":"2025-07-01"}"#,
            r#"{"kind":"unidentified","owner_pref":"13","found_on":"2025-02-01","found_place":"隅田川","deceased":true,"estimated_age":[30,40],"descriptors":{"sex":"male","height_cm":170}}"#,
            r#"{"colour":"白","kind":"stolen_vehicle","make":"マツダ","model":"デミオ","owner_pref":"24","plate":"豊橋 498 み 9286","stolen_on":"2019-06-05","vehicle_id":"MXPA10-0000002"}"#,
            r#"{"kind":"stolen_plate","owner_pref":"37","plate":"足立 526 そ 2502","plates_taken":1,"stolen_on":"2021-06-03"}"#,
            r#"{"firearm":{"calibre":"9mm","make":"Glock","serial":"G000000001"},"firearm_type":"拳銃","kind":"stolen_firearm","owner_pref":"21","stolen_on":"2021-06-10"}"#,
            r#"{"article_type":"ノートパソコン","brand":"","kind":"stolen_article","number":{"kind":"serial","number":"SN0000000011"},"owner_pref":"10","stolen_on":"2023-03-22"}"#,
            r#"{"document":{"document_type":"passport","issuing_state":"JPN","number":"SF0000017"},"kind":"travel_document","owner_pref":"47","reported_on":"2019-06-04","status":"lost","holder":{"latin":"SATO HANAKO"},"holder_date_of_birth":"1990-01-02"}"#,
            // Bad lines: a field of the wrong type, a missing field (top level and
            // nested), a bad value, bad metadata, an unknown kind, no kind.
            r#"{"kind":"stolen_plate","owner_pref":"37","plate":"足立 526 そ 2502","plates_taken":"one","stolen_on":"2021-06-03"}"#,
            r#"{"kind":"stolen_plate","owner_pref":"37","plate":"足立 526 そ 2502","stolen_on":"2021-06-03"}"#,
            r#"{"firearm":{"make":"Glock","serial":"G000000001"},"firearm_type":"拳銃","kind":"stolen_firearm","owner_pref":"21","stolen_on":"2021-06-10"}"#,
            r#"{"kind":"stolen_plate","owner_pref":"37","plate":"足立 526 ん 2502","plates_taken":1,"stolen_on":"2021-06-03"}"#,
            r#"{"kind":"stolen_plate","owner_pref":"99","plate":"足立 526 そ 2502","plates_taken":1,"stolen_on":"2021-06-03"}"#,
            r#"{"kind":"stolen_plate","owner_pref":"37","entered_on":"2999-01-01","plate":"足立 526 そ 2502","plates_taken":1,"stolen_on":"2021-06-03"}"#,
            r#"{"kind":"stolen_plate","owner_pref":37,"plate":"足立 526 そ 2502","plates_taken":1,"stolen_on":"2021-06-03"}"#,
            r#"{"kind":"boat","owner_pref":"37"}"#,
            r#"{"kind":7,"owner_pref":"37"}"#,
            r#"{"owner_pref":"37","plate":"足立 526 そ 2502"}"#,
        ];
        for text in lines {
            let direct = parse_json_line(3, text, "cli:test", NOW);
            let tree = item_from_value(
                3,
                serde_json::from_str(text).unwrap(),
                "cli:test",
                NOW,
                jst_date(NOW),
            );
            match (direct, tree) {
                (Ok(a), Ok(b)) => {
                    assert_eq!((a.owner, a.kind), (b.owner, b.kind), "{text}");
                    assert_eq!(a.row.file, b.row.file, "{text}");
                    assert_eq!(a.row.lifecycle, b.row.lifecycle, "{text}");
                    assert_eq!((&a.row.keys, &a.row.names), (&b.row.keys, &b.row.names));
                    assert_eq!((&a.subjects, &a.digests), (&b.subjects, &b.digests));
                    assert_ne!(a.row.id, b.row.id, "each record gets an id of its own");
                }
                (Err(a), Err(b)) => {
                    assert_eq!(
                        (a.line, &a.field, &a.code),
                        (3, &b.field, &b.code),
                        "{text}"
                    );
                    assert!(!a.field.is_empty(), "{text}: {a:?}");
                }
                (a, b) => panic!("{text}: direct {a:?}, through a tree {b:?}"),
            }
        }
        // A line must be an object, though serde would read a struct from an array.
        for text in [r#"["stolen_plate","37"]"#, "7", r#""x""#] {
            let p = parse_json_line(4, text, "cli:test", NOW).unwrap_err();
            assert_eq!((p.line, p.code.as_str()), (4, "invalid_json"), "{text}");
        }
    }

    #[test]
    fn csv_records_nest_dotted_columns() {
        let header: Vec<String> = "kind,owner_pref,name.kanji,name.kana,date_of_birth,descriptors.sex,descriptors.height_cm,descriptors.description,warrant.issuing_court,warrant.warrant_number,warrant.offence,warrant.issued_on,warrant.expires_on,caution.armed,plate,plates_taken,stolen_on"
            .split(',')
            .map(str::to_string)
            .collect();
        let rec = csv::StringRecord::from(vec![
            "wanted",
            "27",
            "山田 太郎",
            "ヤマダ タロウ",
            "1970-01-02",
            "male",
            "",
            "",
            "大阪地方裁判所",
            "123",
            "窃盗",
            "2025-01-01",
            "2099-01-01",
            "true",
            "",
            "",
            "",
        ]);
        let item = parse_csv_record(2, &header, &rec, "cli:test", NOW).unwrap();
        assert_eq!(item.kind, RecordKind::Wanted);
        assert!(
            item.row
                .names
                .iter()
                .any(|(t, d)| t == "yamada" && *d == 19_700_102)
        );
        let rec = csv::StringRecord::from(vec![
            "stolen_plate",
            "27",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "なにわ 500 は 12-34",
            "x",
            "2025-01-01",
        ]);
        let p = parse_csv_record(3, &header, &rec, "cli:test", NOW).unwrap_err();
        assert_eq!(p.field, "plates_taken");
    }
}
