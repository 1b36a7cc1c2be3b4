//! Inquiries: what a query searches on, and who asks for whom and why.
//!
//! A query searches on exactly one kind of key. A query by a unique identifier searches
//! only that identifier; a person query needs a name and a date of birth, matched exactly or
//! within ±N years when asked. Every query records the requesting officer (the officer on
//! the radio, for whom the query centre asks) and the purpose.

use serde::{Deserialize, Serialize};

use crate::Date;
use crate::document::{DocumentNumber, DocumentType, IssuingState};
use crate::error::RegistryError;
use crate::plate::Plate;
use crate::serial::{ArticleNumber, ArticleNumberKind, FirearmMake, SerialNumber};
use crate::text::check_required_text;
use crate::vehicle::VehicleId;

/// Longest officer id, in characters.
pub const MAX_OFFICER_LEN: usize = 64;
/// Longest purpose, in characters.
pub const MAX_PURPOSE_LEN: usize = 200;
/// Longest name in a query, in characters.
pub const MAX_QUERY_NAME_LEN: usize = 60;
/// Widest date-of-birth tolerance, in years.
pub const MAX_DOB_TOLERANCE_YEARS: u8 = 5;

/// A query as it arrives: every key optional, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawQuery {
    /// A plate, with or without place name.
    pub plate: Option<String>,
    /// A VIN or 車台番号.
    pub vehicle_id: Option<String>,
    /// A travel document number…
    pub document_number: Option<String>,
    /// …optionally with its issuing state…
    pub issuing_state: Option<String>,
    /// …and type.
    pub document_type: Option<String>,
    /// A firearm serial…
    pub firearm_serial: Option<String>,
    /// …optionally with its make.
    pub firearm_make: Option<String>,
    /// An article serial.
    pub article_serial: Option<String>,
    /// An owner-applied number.
    pub owner_applied_number: Option<String>,
    /// A person's name (any script)…
    pub name: Option<String>,
    /// …with its date of birth…
    pub date_of_birth: Option<String>,
    /// …matched within this many years (0 = exact).
    pub dob_tolerance_years: Option<u8>,
    /// The officer for whom the query is made.
    pub officer: String,
    /// Why.
    pub purpose: String,
}

/// What a query searches on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum QueryKey {
    /// A plate (place may be missing: then any place matches).
    Plate {
        /// The plate.
        plate: Plate,
    },
    /// A VIN or 車台番号.
    Vehicle {
        /// The id.
        vehicle_id: VehicleId,
    },
    /// A travel document number, optionally narrowed by state and type.
    Document {
        /// The number.
        number: DocumentNumber,
        /// The issuing state, if given.
        issuing_state: Option<IssuingState>,
        /// The type, if given.
        document_type: Option<DocumentType>,
    },
    /// A firearm serial, optionally narrowed by make.
    Firearm {
        /// The serial.
        serial: SerialNumber,
        /// The make, if given.
        make: Option<FirearmMake>,
    },
    /// An article number.
    Article {
        /// The number.
        number: ArticleNumber,
    },
    /// A person by name and date of birth.
    Person {
        /// The name as given.
        name: String,
        /// The date of birth.
        #[serde(with = "crate::date::serde_date")]
        date_of_birth: Date,
        /// ± years (0 = exact).
        tolerance_years: u8,
    },
}

impl QueryKey {
    /// The exact lookup key for identifier queries, in the namespace of
    /// [`crate::RecordFile::subject_keys`] where one applies (`PLATE|…`, `VEH|…`, `ART|…`);
    /// `None` for partial identifiers and person queries, which need an index scan.
    pub fn exact_key(&self) -> Option<String> {
        match self {
            QueryKey::Plate { plate } if plate.is_complete() => {
                Some(format!("PLATE|{}", plate.key()))
            }
            QueryKey::Vehicle { vehicle_id } => Some(format!("VEH|{}", vehicle_id.key())),
            QueryKey::Document {
                number,
                issuing_state: Some(s),
                document_type: Some(t),
            } => Some(format!("DOC|{s}|{}|{number}", t.code())),
            QueryKey::Firearm {
                serial,
                make: Some(m),
            } => Some(format!("GUN|{}|{}", m.key(), serial.key())),
            QueryKey::Article { number } => Some(format!("ART|{}", number.key())),
            _ => None,
        }
    }
}

/// True if a record's date of birth falls within the query's tolerance: same day, or
/// within `years` years either side (by calendar date).
pub fn dob_matches(query: Date, record: Date, years: u8) -> bool {
    let shift = |d: Date, by: i32| (d.year + by, d.month, d.day);
    let r = (record.year, record.month, record.day);
    let y = i32::from(years);
    shift(query, -y) <= r && r <= shift(query, y)
}

/// A validated query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// What it searches on.
    pub key: QueryKey,
    /// The officer for whom it is made.
    pub officer: String,
    /// Why.
    pub purpose: String,
}

impl Query {
    /// Validates a raw query as of `today`, returning every error found.
    pub fn parse(raw: &RawQuery, today: Date) -> Result<Query, Vec<RegistryError>> {
        let mut errors = Vec::new();
        if let Err(e) = check_required_text("officer", &raw.officer, MAX_OFFICER_LEN) {
            errors.push(e);
        }
        if let Err(e) = check_required_text("purpose", &raw.purpose, MAX_PURPOSE_LEN) {
            errors.push(e);
        }
        let given = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
        let groups = [
            given(&raw.plate),
            given(&raw.vehicle_id),
            given(&raw.document_number),
            given(&raw.firearm_serial),
            given(&raw.article_serial),
            given(&raw.owner_applied_number),
            given(&raw.name) || given(&raw.date_of_birth),
        ];
        let key = match groups.iter().filter(|&&g| g).count() {
            0 => Err(RegistryError::EmptyQuery),
            1 => parse_key(raw, today, &given),
            _ => Err(RegistryError::AmbiguousQuery),
        };
        match key {
            Ok(key) if errors.is_empty() => Ok(Query {
                key,
                officer: raw.officer.trim().to_string(),
                purpose: raw.purpose.trim().to_string(),
            }),
            Ok(_) => Err(errors),
            Err(e) => {
                errors.insert(0, e);
                Err(errors)
            }
        }
    }
}

fn parse_key(
    raw: &RawQuery,
    today: Date,
    given: &dyn Fn(&Option<String>) -> bool,
) -> Result<QueryKey, RegistryError> {
    if let Some(p) = opt(&raw.plate) {
        return Ok(QueryKey::Plate {
            plate: Plate::parse(p)?,
        });
    }
    if let Some(v) = opt(&raw.vehicle_id) {
        return Ok(QueryKey::Vehicle {
            vehicle_id: VehicleId::parse(v)?,
        });
    }
    if let Some(n) = opt(&raw.document_number) {
        return Ok(QueryKey::Document {
            number: DocumentNumber::parse(n)?,
            issuing_state: opt(&raw.issuing_state)
                .map(IssuingState::parse)
                .transpose()?,
            document_type: opt(&raw.document_type)
                .map(DocumentType::parse)
                .transpose()?,
        });
    }
    if let Some(s) = opt(&raw.firearm_serial) {
        return Ok(QueryKey::Firearm {
            serial: SerialNumber::parse_field("firearm_serial", s)?,
            make: opt(&raw.firearm_make).map(FirearmMake::parse).transpose()?,
        });
    }
    if let Some(s) = opt(&raw.article_serial) {
        return Ok(QueryKey::Article {
            number: ArticleNumber::parse(ArticleNumberKind::Serial, s)?,
        });
    }
    if let Some(s) = opt(&raw.owner_applied_number) {
        return Ok(QueryKey::Article {
            number: ArticleNumber::parse(ArticleNumberKind::OwnerApplied, s)?,
        });
    }
    // Only the person group is left.
    if !given(&raw.name) {
        return Err(RegistryError::required("name"));
    }
    let name = raw.name.as_deref().unwrap_or_default();
    check_required_text("name", name, MAX_QUERY_NAME_LEN)?;
    if koban_names::name_key(name).is_empty() {
        return Err(RegistryError::invalid(
            "name",
            "no comparable name in the text",
        ));
    }
    let dob_text = raw.date_of_birth.as_deref().unwrap_or_default();
    let date_of_birth = crate::date::parse_date_of_birth("date_of_birth", dob_text, today)?;
    let tolerance_years = raw.dob_tolerance_years.unwrap_or(0);
    if tolerance_years > MAX_DOB_TOLERANCE_YEARS {
        return Err(RegistryError::OutOfRange {
            field: "dob_tolerance_years".into(),
            reason: "at most 5 years",
        });
    }
    Ok(QueryKey::Person {
        name: crate::text::tidy(name),
        date_of_birth,
        tolerance_years,
    })
}

fn opt(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.trim().is_empty())
}
