//! Stations and boxes created at run time, and their CSV import.

use std::collections::HashSet;

use crate::error::{FieldError, LineError, codes, excerpt};
use crate::pref::{PrefCode, prefecture_unit_id};
use crate::unit::{OrgUnit, UnitKind, is_area_headquarters_id, validate_unit_id};

/// The most data rows one CSV import may hold; the row that exceeds it is reported as an error
/// and the rest of the file is not read.
///
/// Japan has about 1,150 stations and 12,200 boxes, so a legitimate file stays far below this,
/// while the cap bounds the memory and time a mistaken or hostile upload can take.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Latitudes accepted for a unit, in degrees; a box around Japan's territory.
pub const LATITUDE_RANGE: std::ops::RangeInclusive<f64> = 20.0..=46.0;
/// Longitudes accepted for a unit, in degrees; a box around Japan's territory.
pub const LONGITUDE_RANGE: std::ops::RangeInclusive<f64> = 122.0..=154.0;

/// The columns of the import file, in their documented order.
pub const CSV_COLUMNS: [&str; 9] = [
    "id",
    "kind",
    "parent_id",
    "name_ja",
    "name_en",
    "pref_code",
    "latitude",
    "longitude",
    "address",
];

/// A station, koban or chuzaisho to be created, as an administrator or an import file gives it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewUnit {
    /// The new unit's id; see [`validate_unit_id`].
    pub id: String,
    /// Station, Koban or Chuzaisho.
    pub kind: UnitKind,
    /// For a station its prefecture's unit id (or, in Hokkaido, an area headquarters);
    /// for a box its station's id.
    pub parent_id: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// The prefecture the unit is in.
    pub pref_code: PrefCode,
    /// Latitude in degrees; given together with `longitude` or not at all.
    pub latitude: Option<f64>,
    /// Longitude in degrees; given together with `latitude` or not at all.
    pub longitude: Option<f64>,
    /// Postal address.
    pub address: Option<String>,
}

impl NewUnit {
    /// Checks the unit's own fields and returns the first problem found, in field order.
    ///
    /// Whether a box's parent station actually exists can only be checked against storage, so
    /// here only the parent id's shape is checked; the caller must look the station up.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self.errors().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem with the unit's fields, in field order, so that a form can mark them all.
    pub fn errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(e) = validate_unit_id(&self.id) {
            errors.push(FieldError::new("id", codes::INVALID_ID, e.to_string()));
        }
        match self.kind {
            UnitKind::Station | UnitKind::Koban | UnitKind::Chuzaisho => {
                if let Err(e) = self.check_parent() {
                    errors.push(e);
                }
            }
            // The parent rules depend on the kind, so with a wrong kind they are not checked.
            other => errors.push(FieldError::new(
                "kind",
                codes::INVALID_KIND,
                format!(
                    "kind {other} is built in; only station, koban and chuzaisho can be created"
                ),
            )),
        }
        errors.extend(check_name("name_ja", &self.name_ja));
        errors.extend(check_name("name_en", &self.name_en));
        errors.extend(check_coordinates(self.latitude, self.longitude));
        if let Some(address) = &self.address {
            errors.extend(check_address(address));
        }
        errors
    }

    fn check_parent(&self) -> Result<(), FieldError> {
        let invalid =
            |message: String| Err(FieldError::new("parent_id", codes::INVALID_PARENT, message));
        let own_pref = prefecture_unit_id(self.pref_code);
        if self.kind == UnitKind::Station {
            let ok = self.parent_id == own_pref
                || (self.pref_code == PrefCode::HOKKAIDO
                    && is_area_headquarters_id(&self.parent_id));
            if ok {
                return Ok(());
            }
            if self.pref_code == PrefCode::HOKKAIDO {
                return invalid(format!(
                    "a Hokkaido station's parent must be {own_pref} or an area headquarters (ahq-01-…), not {:?}",
                    excerpt(&self.parent_id)
                ));
            }
            return invalid(format!(
                "a station's parent must be its prefecture {own_pref}, not {:?}",
                excerpt(&self.parent_id)
            ));
        }
        // A box hangs under a station, and stations carry run-time ids.
        if validate_unit_id(&self.parent_id).is_err() {
            return invalid(format!(
                "a {}'s parent must be a police station id, not {:?}",
                self.kind,
                excerpt(&self.parent_id)
            ));
        }
        if self.parent_id == self.id {
            return invalid("a unit cannot be its own parent".to_owned());
        }
        Ok(())
    }
}

impl From<NewUnit> for OrgUnit {
    fn from(u: NewUnit) -> OrgUnit {
        OrgUnit {
            id: u.id,
            kind: u.kind,
            parent_id: Some(u.parent_id),
            name_ja: u.name_ja,
            name_en: u.name_en,
            pref_code: Some(u.pref_code),
            latitude: u.latitude,
            longitude: u.longitude,
            address: u.address,
        }
    }
}

/// Characters that may not appear in names and addresses: control characters, which break
/// logs, CSV exports and terminals, and bidirectional overrides, which can make a name display
/// as something other than what it is.
fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_text(field: &'static str, value: &str, max: usize) -> Option<FieldError> {
    if value.trim().is_empty() {
        return Some(FieldError::new(
            field,
            codes::REQUIRED,
            format!("{field} must not be empty"),
        ));
    }
    let len = value.chars().count();
    if len > max {
        return Some(FieldError::new(
            field,
            codes::TOO_LONG,
            format!("{field} has {len} characters; at most {max} are allowed"),
        ));
    }
    if value.chars().any(is_forbidden_char) {
        return Some(FieldError::new(
            field,
            codes::INVALID_CHARACTERS,
            format!("{field} must not contain control or text-direction characters"),
        ));
    }
    None
}

fn check_name(field: &'static str, value: &str) -> Option<FieldError> {
    check_text(field, value, MAX_NAME_CHARS)
}

fn check_address(value: &str) -> Option<FieldError> {
    // An empty address is refused rather than stored, so that "no address" has one spelling: None.
    check_text("address", value, MAX_ADDRESS_CHARS)
}

fn check_coordinates(lat: Option<f64>, lon: Option<f64>) -> Option<FieldError> {
    match (lat, lon) {
        (None, None) => None,
        (Some(_), None) => Some(FieldError::new(
            "longitude",
            codes::INCOMPLETE_COORDINATES,
            "latitude is given without longitude; give both or neither",
        )),
        (None, Some(_)) => Some(FieldError::new(
            "latitude",
            codes::INCOMPLETE_COORDINATES,
            "longitude is given without latitude; give both or neither",
        )),
        (Some(lat), Some(lon)) => {
            // `contains` is false for NaN, so non-numbers are caught here as well.
            if !LATITUDE_RANGE.contains(&lat) {
                Some(FieldError::new(
                    "latitude",
                    codes::OUT_OF_RANGE,
                    format!("latitude {lat} is outside Japan (20 to 46 degrees north)"),
                ))
            } else if !LONGITUDE_RANGE.contains(&lon) {
                Some(FieldError::new(
                    "longitude",
                    codes::OUT_OF_RANGE,
                    format!("longitude {lon} is outside Japan (122 to 154 degrees east)"),
                ))
            } else {
                None
            }
        }
    }
}

/// Tracks line numbers in the raw input.
///
/// The csv crate's own record positions are taken where the previous record ended, so blank
/// lines and the '\n' of a CRLF pair would make them too small; counting '\n' bytes up to each
/// record's first byte gives the line an editor shows.
struct LineCounter<'a> {
    input: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            offset: 0,
            line: 1,
        }
    }

    /// The line on which the next record starts, given that the csv reader has consumed
    /// `consumed` bytes so far.
    fn record_start(&mut self, consumed: u64) -> u64 {
        let target = usize::try_from(consumed)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        self.advance_to(target);
        // The csv reader skips empty lines before a record, so the record begins at the
        // first byte that is not a line terminator.
        while let Some(&b) = self.input.get(self.offset) {
            if b != b'\n' && b != b'\r' {
                break;
            }
            self.advance_to(self.offset + 1);
        }
        self.line
    }

    fn advance_to(&mut self, target: usize) {
        if target > self.offset {
            let skipped = self.input.get(self.offset..target).unwrap_or_default();
            let newlines = skipped.iter().filter(|&&b| b == b'\n').count();
            self.line = self.line.saturating_add(newlines as u64);
            self.offset = target;
        }
    }
}

/// Parse a stations/boxes CSV (UTF-8, optional BOM, header required):
/// `id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address` (latitude/longitude/address may be empty).
/// Returns every valid row and every error (one per bad line, naming the line and the field); never panics on any input.
///
/// The header's columns may come in any order but must be exactly these, each once. Fields are
/// trimmed of surrounding white space (full-width spaces included). Lines whose fields are all
/// empty, as spreadsheets leave at the end, are skipped. A duplicate id is an error on its
/// second and later occurrences. After [`MAX_IMPORT_ROWS`] data rows the next row is reported
/// and reading stops.
pub fn parse_units_csv(input: &[u8]) -> (Vec<NewUnit>, Vec<LineError>) {
    parse_units_csv_with_limit(input, MAX_IMPORT_ROWS)
}

fn parse_units_csv_with_limit(input: &[u8], max_rows: usize) -> (Vec<NewUnit>, Vec<LineError>) {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut units = Vec::new();
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Field counts are checked here so that a short line becomes one error, not a stop.
        .flexible(true)
        .from_reader(input);
    let mut lines = LineCounter::new(input);
    let mut record = csv::ByteRecord::new();

    let header_line = lines.record_start(0);
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            errors.push(LineError::new(
                1,
                "header",
                codes::MISSING_HEADER,
                format!(
                    "the file is empty; its first line must be the header {}",
                    CSV_COLUMNS.join(",")
                ),
            ));
            return (units, errors);
        }
        Err(e) => {
            errors.push(unreadable(header_line, &e));
            return (units, errors);
        }
    }
    let columns = match map_header(&record, header_line) {
        Ok(columns) => columns,
        Err(e) => {
            errors.push(e);
            return (units, errors);
        }
    };

    let mut seen_ids = HashSet::new();
    let mut rows = 0usize;
    loop {
        let line = lines.record_start(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // Reading from memory cannot fail with I/O errors, and the flexible byte reader
                // reports nothing else; stopping here guards against looping on one anyway.
                errors.push(unreadable(line, &e));
                break;
            }
        }
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        rows += 1;
        if rows > max_rows {
            errors.push(LineError::new(
                line,
                "record",
                codes::TOO_MANY_ROWS,
                format!("the file has more than {max_rows} rows; split it and import the parts separately"),
            ));
            break;
        }
        match parse_row(&record, &columns, line, &mut seen_ids) {
            Ok(unit) => units.push(unit),
            Err(e) => errors.push(e),
        }
    }
    (units, errors)
}

fn unreadable(line: u64, e: &csv::Error) -> LineError {
    LineError::new(
        line,
        "record",
        codes::UNREADABLE,
        format!("the file could not be read further: {e}"),
    )
}

/// For each of [`CSV_COLUMNS`], the index of that column in the file.
type ColumnMap = [usize; 9];

fn map_header(record: &csv::ByteRecord, line: u64) -> Result<ColumnMap, LineError> {
    let mut found: [Option<usize>; 9] = [None; 9];
    let mut unknown = Vec::new();
    let mut duplicate = Vec::new();
    for (index, raw) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        match CSV_COLUMNS.iter().position(|c| *c == name) {
            Some(col) => match found[col] {
                Some(_) => duplicate.push(name),
                None => found[col] = Some(index),
            },
            None => unknown.push(name),
        }
    }
    let missing: Vec<&str> = CSV_COLUMNS
        .iter()
        .zip(found)
        .filter(|(_, f)| f.is_none())
        .map(|(c, _)| *c)
        .collect();
    if missing.is_empty() && unknown.is_empty() && duplicate.is_empty() {
        let mut map = [0; 9];
        for (slot, f) in map.iter_mut().zip(found) {
            *slot = f.unwrap_or_default();
        }
        return Ok(map);
    }
    // One error for the header line that names every problem, so the file can be fixed at once.
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("{:?}", excerpt(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing column(s) {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        problems.push(format!("unknown column(s) {}", quoted(&unknown)));
    }
    if !duplicate.is_empty() {
        problems.push(format!("duplicate column(s) {}", quoted(&duplicate)));
    }
    let message = format!(
        "the header has {}; it must have exactly the columns {}",
        problems.join("; "),
        CSV_COLUMNS.join(",")
    );
    let (field, code) = if let Some(m) = missing.first() {
        ((*m).to_owned(), codes::MISSING_COLUMN)
    } else if let Some(u) = unknown.first() {
        (excerpt(u), codes::UNKNOWN_COLUMN)
    } else {
        (
            duplicate.first().cloned().unwrap_or_default(),
            codes::DUPLICATE_COLUMN,
        )
    };
    Err(LineError::new(line, field, code, message))
}

fn parse_row(
    record: &csv::ByteRecord,
    columns: &ColumnMap,
    line: u64,
    seen_ids: &mut HashSet<String>,
) -> Result<NewUnit, LineError> {
    if record.len() != CSV_COLUMNS.len() {
        return Err(LineError::new(
            line,
            "record",
            codes::WRONG_FIELD_COUNT,
            format!(
                "the line has {} fields; the header has {}",
                record.len(),
                CSV_COLUMNS.len()
            ),
        ));
    }
    // Decode every field first, so that the error names the first bad column in file order.
    let mut fields: [&str; 9] = [""; 9];
    for (col, name) in CSV_COLUMNS.iter().enumerate() {
        let raw = record.get(columns[col]).unwrap_or_default();
        fields[col] = std::str::from_utf8(raw)
            .map_err(|_| {
                LineError::new(
                    line,
                    *name,
                    codes::INVALID_UTF8,
                    format!("{name} is not valid UTF-8; save the file as UTF-8"),
                )
            })?
            .trim();
    }
    let [
        id,
        kind,
        parent_id,
        name_ja,
        name_en,
        pref_code,
        latitude,
        longitude,
        address,
    ] = fields;

    if let Err(e) = validate_unit_id(id) {
        return Err(LineError::new(line, "id", codes::INVALID_ID, e.to_string()));
    }
    // Only ids that passed validation are remembered, which also bounds the set's memory.
    if !seen_ids.insert(id.to_owned()) {
        return Err(LineError::new(
            line,
            "id",
            codes::DUPLICATE_ID,
            format!("id {id:?} already appears on an earlier line"),
        ));
    }
    let kind = UnitKind::parse(kind)
        .map_err(|e| LineError::new(line, "kind", codes::INVALID_KIND, e.to_string()))?;
    let pref_code = PrefCode::parse(pref_code).map_err(|e| {
        // Spreadsheets turn "01" into 1, so say what shape is expected.
        LineError::new(
            line,
            "pref_code",
            codes::INVALID_PREFECTURE,
            format!("{e} (keep the leading zero, e.g. 01)"),
        )
    })?;
    let latitude = parse_coordinate("latitude", latitude, line)?;
    let longitude = parse_coordinate("longitude", longitude, line)?;
    let unit = NewUnit {
        id: id.to_owned(),
        kind,
        parent_id: parent_id.to_owned(),
        name_ja: name_ja.to_owned(),
        name_en: name_en.to_owned(),
        pref_code,
        latitude,
        longitude,
        address: (!address.is_empty()).then(|| address.to_owned()),
    };
    unit.validate()
        .map_err(|e| LineError::from_field(line, e))?;
    Ok(unit)
}

fn parse_coordinate(field: &'static str, value: &str, line: u64) -> Result<Option<f64>, LineError> {
    if value.is_empty() {
        return Ok(None);
    }
    // Rust's float parser also takes "inf" and "NaN"; validation rejects those as out of range.
    value.parse::<f64>().map(Some).map_err(|_| {
        LineError::new(
            line,
            field,
            codes::INVALID_NUMBER,
            format!("{field} {:?} is not a decimal number", excerpt(value)),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HEADER: &str = "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n";

    fn parse(body: &str) -> (Vec<NewUnit>, Vec<LineError>) {
        parse_units_csv(format!("{HEADER}{body}").as_bytes())
    }

    /// Parses a file expected to have exactly one bad line and returns that line's error.
    fn one_error(body: &str) -> LineError {
        let (_, errors) = parse(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    fn station(id: &str) -> NewUnit {
        NewUnit {
            id: id.into(),
            kind: UnitKind::Station,
            parent_id: "pref-13".into(),
            name_ja: "丸の内警察署".into(),
            name_en: "Marunouchi Police Station".into(),
            pref_code: PrefCode::TOKYO,
            latitude: Some(35.68),
            longitude: Some(139.76),
            address: Some("東京都千代田区".into()),
        }
    }

    #[test]
    fn good_file() {
        let (units, errors) = parse(
            "st-13-marunouchi,station,pref-13,丸の内警察署,Marunouchi Police Station,13,35.6812,139.7671,東京都千代田区丸の内1-1\n\
             kb-13-yurakucho,koban,st-13-marunouchi,有楽町駅前交番,Yurakucho Station Koban,13,,,\n\
             cz-01-x,chuzaisho,st-01-asahikawa,某駐在所,Some Chuzaisho,01,43.77,142.36,\n\
             st-01-asahikawa,station,ahq-01-asahikawa,旭川東警察署,Asahikawa-higashi Police Station,01,,,\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(units.len(), 4);
        assert_eq!(units[0], {
            let mut s = station("st-13-marunouchi");
            s.latitude = Some(35.6812);
            s.longitude = Some(139.7671);
            s.address = Some("東京都千代田区丸の内1-1".into());
            s
        });
        assert_eq!(units[1].kind, UnitKind::Koban);
        assert_eq!(units[1].parent_id, "st-13-marunouchi");
        assert_eq!(units[1].latitude, None);
        assert_eq!(units[1].address, None);
        assert_eq!(units[2].kind, UnitKind::Chuzaisho);
        assert_eq!(units[3].parent_id, "ahq-01-asahikawa");
        let org: OrgUnit = units[1].clone().into();
        assert_eq!(org.parent_id.as_deref(), Some("st-13-marunouchi"));
        assert_eq!(org.pref_code, Some(PrefCode::TOKYO));
    }

    #[test]
    fn bom_crlf_and_column_order() {
        let input = "\u{FEFF}pref_code,id,kind,parent_id,name_ja,name_en,latitude,longitude,address\r\n\
                     14,st-14-kaga,station,pref-14,加賀町警察署,Kagacho Police Station,,,\r\n\
                     14,st-14-x,station,pref-13,X,X,,,\r\n";
        let (units, errors) = parse_units_csv(input.as_bytes());
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].id, "st-14-kaga");
        assert_eq!(units[0].pref_code.as_u8(), 14);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3, "CRLF lines are counted once");
        assert_eq!(errors[0].field, "parent_id");
        assert_eq!(errors[0].code, codes::INVALID_PARENT);
    }

    #[test]
    fn missing_column() {
        let (units, errors) =
            parse_units_csv(b"id,kind,parent_id,name_ja,name_en,latitude,longitude,address\nx,y\n");
        assert!(units.is_empty());
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!(
            (e.line, e.field.as_str(), e.code),
            (1, "pref_code", codes::MISSING_COLUMN)
        );
        assert!(e.message.contains("pref_code"), "{}", e.message);
    }

    #[test]
    fn unknown_and_duplicate_columns() {
        let (_, errors) =
            parse_units_csv(format!("{}phone\n", HEADER.trim_end().to_owned() + ",").as_bytes());
        assert_eq!(errors[0].code, codes::UNKNOWN_COLUMN);
        assert_eq!(errors[0].field, "phone");
        assert_eq!(errors[0].line, 1);
        let (_, errors) =
            parse_units_csv(format!("{}id\n", HEADER.trim_end().to_owned() + ",").as_bytes());
        assert_eq!(errors[0].code, codes::DUPLICATE_COLUMN);
    }

    #[test]
    fn empty_file() {
        for input in [&b""[..], b"\xEF\xBB\xBF", b"\n\n"] {
            let (units, errors) = parse_units_csv(input);
            assert!(units.is_empty());
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].code, codes::MISSING_HEADER);
            assert_eq!(errors[0].line, 1);
        }
        let (units, errors) = parse_units_csv(HEADER.as_bytes());
        assert!(units.is_empty() && errors.is_empty());
    }

    #[test]
    fn bad_kind() {
        let e = one_error("st-13-a,box,pref-13,A,A,13,,,\n");
        assert_eq!(
            (e.line, e.field.as_str(), e.code),
            (2, "kind", codes::INVALID_KIND)
        );
        let e = one_error("st-13-a,prefecture,pref-13,A,A,13,,,\n");
        assert_eq!((e.field.as_str(), e.code), ("kind", codes::INVALID_KIND));
        // The Japanese label is accepted.
        let (units, errors) = parse("st-13-a,警察署,pref-13,A,A,13,,,\n");
        assert!(errors.is_empty());
        assert_eq!(units[0].kind, UnitKind::Station);
    }

    #[test]
    fn bad_pref_code() {
        for code in ["1", "48", "00", "tokyo", "", "１３"] {
            let e = one_error(&format!("st-13-a,station,pref-13,A,A,{code},,,\n"));
            assert_eq!(
                (e.line, e.field.as_str(), e.code),
                (2, "pref_code", codes::INVALID_PREFECTURE),
                "{code}"
            );
        }
    }

    #[test]
    fn station_parent_must_match_prefecture() {
        let e = one_error("st-13-a,station,pref-14,A,A,13,,,\n");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("parent_id", codes::INVALID_PARENT)
        );
        let e = one_error("st-13-a,station,ahq-01-sapporo,A,A,13,,,\n");
        assert_eq!(e.code, codes::INVALID_PARENT);
        let e = one_error("kb-13-a,koban,pref-13,A,A,13,,,\n");
        assert_eq!(
            e.code,
            codes::INVALID_PARENT,
            "a koban hangs under a station"
        );
        let e = one_error("kb-13-a,koban,kb-13-a,A,A,13,,,\n");
        assert_eq!(e.code, codes::INVALID_PARENT);
    }

    #[test]
    fn lat_without_lon() {
        let e = one_error("st-13-a,station,pref-13,A,A,13,35.6,,\n");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("longitude", codes::INCOMPLETE_COORDINATES)
        );
        let e = one_error("st-13-a,station,pref-13,A,A,13,,139.7,\n");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("latitude", codes::INCOMPLETE_COORDINATES)
        );
    }

    #[test]
    fn out_of_japan_coordinates() {
        for (lat, lon, field) in [
            ("51.5", "-0.12", "latitude"),
            ("19.9", "139", "latitude"),
            ("35", "121.9", "longitude"),
            ("35", "154.1", "longitude"),
            ("NaN", "139", "latitude"),
            ("35", "inf", "longitude"),
        ] {
            let e = one_error(&format!("st-13-a,station,pref-13,A,A,13,{lat},{lon},\n"));
            assert_eq!(
                (e.field.as_str(), e.code),
                (field, codes::OUT_OF_RANGE),
                "{lat},{lon}"
            );
        }
        let e = one_error("st-13-a,station,pref-13,A,A,13,north,139,\n");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("latitude", codes::INVALID_NUMBER)
        );
        // The bounds themselves are inside.
        let (_, errors) = parse("st-13-a,station,pref-13,A,A,13,20,154,\n");
        assert!(errors.is_empty());
    }

    #[test]
    fn quoted_fields_with_commas_and_newlines() {
        let (units, errors) = parse(
            "st-13-a,station,pref-13,\"丸の内警察署\",\"Marunouchi, Chiyoda\",13,,,\"東京都千代田区丸の内1-1, 2階\"\n\
             st-13-b,station,pref-13,\"B \"\"quoted\"\"\",B,13,,,\n\
             st-13-c,station,pref-13,\"two\nlines\",C,13,,,\n\
             st-13-d,station,pref-13,D,D,13,,,\n",
        );
        assert_eq!(units.len(), 3, "{errors:?}");
        assert_eq!(units[0].name_en, "Marunouchi, Chiyoda");
        assert_eq!(
            units[0].address.as_deref(),
            Some("東京都千代田区丸の内1-1, 2階")
        );
        assert_eq!(units[1].name_ja, "B \"quoted\"");
        assert_eq!(errors.len(), 1);
        // The record with the embedded newline starts on line 4; line 5 is inside it.
        assert_eq!((errors[0].line, errors[0].field.as_str()), (4, "name_ja"));
        assert_eq!(errors[0].code, codes::INVALID_CHARACTERS);
        assert_eq!(units[2].id, "st-13-d");
    }

    #[test]
    fn duplicate_ids() {
        let (units, errors) = parse(
            "st-13-a,station,pref-13,A,A,13,,,\n\
             st-13-b,station,pref-13,B,B,13,,,\n\
             st-13-a,station,pref-13,A2,A2,13,,,\n\
             st-13-a,station,pref-13,A3,A3,13,,,\n",
        );
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].name_ja, "A");
        let lines: Vec<_> = errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(lines, [(4, codes::DUPLICATE_ID), (5, codes::DUPLICATE_ID)]);
    }

    #[test]
    fn japanese_text() {
        let (units, errors) = parse(
            "cz-47-hateruma,chuzaisho,st-47-yaeyama,波照間駐在所,Hateruma Chuzaisho,47,24.06,123.78,沖縄県八重山郡竹富町字波照間\n\
             st-13-x,station,pref-13,　,X,13,,,\n",
        );
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].name_ja, "波照間駐在所");
        assert_eq!(
            units[0].address.as_deref(),
            Some("沖縄県八重山郡竹富町字波照間")
        );
        // A name of only a full-width space is empty once trimmed.
        assert_eq!(
            (errors[0].line, errors[0].field.as_str(), errors[0].code),
            (3, "name_ja", codes::REQUIRED)
        );
    }

    #[test]
    fn shift_jis_is_reported_not_garbled() {
        // "交番" in Shift_JIS.
        let mut input = HEADER.as_bytes().to_vec();
        input.extend_from_slice(b"kb-13-a,koban,st-13-a,\x8c\xf0\x94\xd4,K,13,,,\n");
        let (units, errors) = parse_units_csv(&input);
        assert!(units.is_empty());
        assert_eq!(
            (errors[0].line, errors[0].field.as_str(), errors[0].code),
            (2, "name_ja", codes::INVALID_UTF8)
        );
    }

    #[test]
    fn wrong_field_count_blank_lines_and_ids() {
        let (units, errors) = parse(
            "\n\
             st-13-a,station,pref-13,A,A,13\n\
             ,,,,,,,,\n\
             \n\
             ST-13-B,station,pref-13,B,B,13,,,\n\
             pref-13,station,pref-13,B,B,13,,,\n\
             st-13-c,station,pref-13,C,C,13,,,\n",
        );
        assert_eq!(units.len(), 1);
        let got: Vec<_> = errors
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            got,
            [
                (3, "record", codes::WRONG_FIELD_COUNT),
                (6, "id", codes::INVALID_ID),
                (7, "id", codes::INVALID_ID),
            ]
        );
    }

    #[test]
    fn names_and_addresses() {
        let long = "あ".repeat(101);
        let e = one_error(&format!("st-13-a,station,pref-13,{long},A,13,,,\n"));
        assert_eq!((e.field.as_str(), e.code), ("name_ja", codes::TOO_LONG));
        let e = one_error(&format!(
            "st-13-a,station,pref-13,A,A,13,,,{}\n",
            "a".repeat(201)
        ));
        assert_eq!((e.field.as_str(), e.code), ("address", codes::TOO_LONG));
        let e = one_error("st-13-a,station,pref-13,A,,13,,,\n");
        assert_eq!((e.field.as_str(), e.code), ("name_en", codes::REQUIRED));
        let e = one_error("st-13-a,station,pref-13,A\u{202E}B,A,13,,,\n");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("name_ja", codes::INVALID_CHARACTERS)
        );
        let (_, errors) = parse(&format!(
            "st-13-a,station,pref-13,{},A,13,,,\n",
            "あ".repeat(100)
        ));
        assert!(errors.is_empty());
    }

    #[test]
    fn row_limit() {
        let body: String = (0..5)
            .map(|i| format!("st-13-n{i},station,pref-13,N,N,13,,,\n"))
            .collect();
        let input = format!("{HEADER}{body}");
        let (units, errors) = parse_units_csv_with_limit(input.as_bytes(), 3);
        assert_eq!(units.len(), 3);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].code), (5, codes::TOO_MANY_ROWS));
    }

    #[test]
    fn row_limit_is_max_import_rows() {
        let mut input = HEADER.to_owned();
        for i in 0..=MAX_IMPORT_ROWS {
            input.push_str(&format!("s{i:06},station,pref-13,N,N,13,,,\n"));
        }
        let (units, errors) = parse_units_csv(input.as_bytes());
        assert_eq!(units.len(), MAX_IMPORT_ROWS);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, codes::TOO_MANY_ROWS);
        assert_eq!(errors[0].line, MAX_IMPORT_ROWS as u64 + 2);
    }

    #[test]
    fn validate_directly() {
        assert!(station("st-13-a").validate().is_ok());
        let mut s = station("st-01-a");
        s.pref_code = PrefCode::HOKKAIDO;
        s.parent_id = "ahq-01-kushiro".into();
        assert!(s.validate().is_ok());
        s.parent_id = "pref-01".into();
        assert!(s.validate().is_ok());
        s.parent_id = "ahq-01-nowhere".into();
        assert_eq!(s.validate().unwrap_err().code, codes::INVALID_PARENT);

        let mut s = station("st-13-a");
        s.kind = UnitKind::National;
        assert_eq!(s.validate().unwrap_err().field, "kind");

        let mut s = station("npa-x");
        s.name_ja = String::new();
        s.latitude = None;
        s.address = Some(String::new());
        let fields: Vec<_> = s.errors().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["id", "name_ja", "latitude", "address"]);
        assert_eq!(s.validate().unwrap_err().field, "id");
    }

    #[test]
    fn line_error_display() {
        let e = one_error("st-13-a,box,pref-13,A,A,13,,,\n");
        assert!(e.to_string().starts_with("line 2, kind: "), "{e}");
    }
}
