//! Record files: what each kind of record must hold, and its validation.
//!
//! Identifiers inside a file are already typed (a [`Plate`] cannot be malformed), so
//! `validate` checks what types cannot: mandatory text, lengths, dates against today and
//! against each other, and the rules of each file. It returns every error at once, each
//! naming its field (`warrant.expires_on`), so a form can mark them all.

use koban_names::NameKey;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::date::{check_date_of_birth, serde_date, serde_opt_date};
use crate::document::{REGISTRY_STATE, TravelDocumentId};
use crate::error::RegistryError;
use crate::plate::Plate;
use crate::serial::{ArticleNumber, FirearmId};
use crate::text::{check_optional_text, check_required_text, collect};
use crate::vehicle::VehicleId;

/// Longest name part (kanji, kana or Latin), in characters.
pub const MAX_NAME_LEN: usize = 60;
/// Longest short text field (court, make, colour, place), in characters.
pub const MAX_SHORT_TEXT: usize = 60;
/// Longest warrant number, in characters.
pub const MAX_WARRANT_NUMBER: usize = 30;
/// Longest narrative field (circumstances, description), in characters.
pub const MAX_NARRATIVE: usize = 1000;
/// Age under which a missing person is a juvenile (少年, Juvenile Act art. 2).
pub const JUVENILE_AGE: i32 = 20;
/// Plausible height range, in centimetres.
pub const HEIGHT_CM: std::ops::RangeInclusive<u16> = 30..=250;

/// The kinds of record, one per file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A person wanted on a warrant.
    Wanted,
    /// A missing person.
    Missing,
    /// An unidentified person (living or dead).
    Unidentified,
    /// A stolen vehicle.
    StolenVehicle,
    /// A stolen licence plate.
    StolenPlate,
    /// A stolen firearm.
    StolenFirearm,
    /// A stolen article.
    StolenArticle,
    /// A lost or stolen travel document.
    TravelDocument,
}

impl RecordKind {
    /// Every kind, for tables and tests.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Wanted,
        RecordKind::Missing,
        RecordKind::Unidentified,
        RecordKind::StolenVehicle,
        RecordKind::StolenPlate,
        RecordKind::StolenFirearm,
        RecordKind::StolenArticle,
        RecordKind::TravelDocument,
    ];

    /// The stable name, e.g. `stolen_vehicle`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Wanted => "wanted",
            RecordKind::Missing => "missing",
            RecordKind::Unidentified => "unidentified",
            RecordKind::StolenVehicle => "stolen_vehicle",
            RecordKind::StolenPlate => "stolen_plate",
            RecordKind::StolenFirearm => "stolen_firearm",
            RecordKind::StolenArticle => "stolen_article",
            RecordKind::TravelDocument => "travel_document",
        }
    }

    /// True for the person files.
    pub fn is_person(self) -> bool {
        matches!(
            self,
            RecordKind::Wanted | RecordKind::Missing | RecordKind::Unidentified
        )
    }
}

/// A person's name: kanji with its kana reading (フリガナ) and/or the romanised form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    /// The name in kanji (or as written in Japanese), e.g. `佐藤 花子`.
    pub kanji: Option<String>,
    /// The kana reading, e.g. `サトウ ハナコ`.
    pub kana: Option<String>,
    /// The romanised name, e.g. `SATO HANAKO` (as in a passport).
    pub latin: Option<String>,
}

impl PersonName {
    /// Checks that some form of the name is given and each form is plausible.
    pub fn validate(&self, field: &str) -> Vec<RegistryError> {
        let mut errors = Vec::new();
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.kanji) && blank(&self.kana) && blank(&self.latin) {
            errors.push(RegistryError::required(&format!("{field}.kanji")));
            return errors;
        }
        for (part, value) in [
            ("kanji", &self.kanji),
            ("kana", &self.kana),
            ("latin", &self.latin),
        ] {
            if let Some(v) = value {
                collect(
                    &mut errors,
                    check_optional_text(&format!("{field}.{part}"), v, MAX_NAME_LEN),
                );
            }
        }
        if let Some(k) = &self.kana
            && !k
                .chars()
                .all(|c| is_kana(c) || c.is_whitespace() || c == '・' || c == 'ー')
        {
            errors.push(RegistryError::invalid(
                &format!("{field}.kana"),
                "a reading is written in kana only",
            ));
        }
        if let Some(l) = &self.latin
            && !l
                .chars()
                .all(|c| is_latin_letter(c) || c.is_whitespace() || "-'.<,".contains(c))
        {
            errors.push(RegistryError::invalid(
                &format!("{field}.latin"),
                "a romanised name is letters only",
            ));
        }
        errors
    }

    /// The matching key for [`koban_names::compare_keys`]: the kanji with the kana reading
    /// when both are given; the romanised form stands in for a missing reading. When a kana
    /// reading is given the romanised form is not added, because the reading already folds
    /// to the same phonetic key and a second spelling would only add noise.
    pub fn name_key(&self) -> NameKey {
        let reading = self.kana.as_ref().or(self.latin.as_ref());
        match (&self.kanji, reading) {
            (Some(k), Some(r)) => koban_names::name_key_with_reading(k, r),
            (Some(k), None) => koban_names::name_key(k),
            (None, Some(r)) => koban_names::name_key(r),
            (None, None) => koban_names::name_key(""),
        }
    }

    /// Exact subject keys: each written form with spaces removed, e.g. `佐藤花子`.
    fn exact_forms(&self) -> Vec<String> {
        [&self.kanji, &self.kana, &self.latin]
            .into_iter()
            .flatten()
            .map(|s| {
                crate::text::fold(s)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .flat_map(char::to_uppercase)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Latin letters, including those with macrons and other diacritics (SATŌ).
fn is_latin_letter(c: char) -> bool {
    c.is_alphabetic() && (c as u32) < 0x250
}

fn is_kana(c: char) -> bool {
    matches!(c, 'ぁ'..='ゖ' | 'ァ'..='ヺ' | 'ｦ'..='ﾟ')
}

/// Cautions carried in every answer that hits the record (a hit alone is not grounds for
/// action, but the officer must know the danger before approaching). A flag left out is
/// not set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CautionFlags {
    /// May be armed.
    pub armed: bool,
    /// Known to be violent.
    pub violent: bool,
    /// Suicidal.
    pub suicidal: bool,
    /// Likely to try to escape.
    pub escape_risk: bool,
    /// Mental-health concern.
    pub mental_health: bool,
}

impl CautionFlags {
    /// The flags that are set, by stable name.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.armed, "armed"),
            (self.violent, "violent"),
            (self.suicidal, "suicidal"),
            (self.escape_risk, "escape_risk"),
            (self.mental_health, "mental_health"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }

    /// True if any caution is set.
    pub fn any(&self) -> bool {
        !self.names().is_empty()
    }
}

/// Sex as recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Not known.
    #[default]
    Unknown,
}

/// Physical descriptors (any left out are unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Descriptors {
    /// Sex.
    pub sex: Sex,
    /// Height in centimetres, if known.
    pub height_cm: Option<u16>,
    /// Build, hair, scars, marks, tattoos, clothing: free text.
    pub description: String,
}

impl Descriptors {
    fn validate(&self, field: &str, errors: &mut Vec<RegistryError>) {
        if let Some(h) = self.height_cm
            && !HEIGHT_CM.contains(&h)
        {
            errors.push(RegistryError::OutOfRange {
                field: format!("{field}.height_cm"),
                reason: "height must be 30 to 250 cm",
            });
        }
        collect(
            errors,
            check_optional_text(
                &format!("{field}.description"),
                &self.description,
                MAX_NARRATIVE,
            ),
        );
    }
}

/// The warrant behind a wanted-person record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warrant {
    /// The issuing court, e.g. `東京地方裁判所`.
    pub issuing_court: String,
    /// The warrant number.
    pub warrant_number: String,
    /// The offence, e.g. `強盗致傷`.
    pub offence: String,
    /// The day the warrant was issued.
    #[serde(with = "serde_date")]
    pub issued_on: Date,
    /// The last day the warrant may be executed (arrest warrants run 7 days by default and
    /// are renewed; the record must carry the current one).
    #[serde(with = "serde_date")]
    pub expires_on: Date,
}

impl Warrant {
    fn validate(&self, today: Date, errors: &mut Vec<RegistryError>) {
        collect(
            errors,
            check_required_text("warrant.issuing_court", &self.issuing_court, MAX_SHORT_TEXT),
        );
        collect(
            errors,
            check_required_text(
                "warrant.warrant_number",
                &self.warrant_number,
                MAX_WARRANT_NUMBER,
            ),
        );
        collect(
            errors,
            check_required_text("warrant.offence", &self.offence, MAX_SHORT_TEXT),
        );
        if self.issued_on > today {
            errors.push(RegistryError::OutOfRange {
                field: "warrant.issued_on".into(),
                reason: "in the future",
            });
        }
        if self.expires_on < self.issued_on {
            errors.push(RegistryError::Inconsistent {
                field: "warrant.expires_on".into(),
                reason: "expires before it was issued",
            });
        } else if self.expires_on < today {
            errors.push(RegistryError::OutOfRange {
                field: "warrant.expires_on".into(),
                reason: "the warrant has expired",
            });
        }
    }
}

/// A person wanted on a warrant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedPerson {
    /// The name.
    pub name: PersonName,
    /// Date of birth.
    #[serde(with = "serde_date")]
    pub date_of_birth: Date,
    /// Descriptors.
    pub descriptors: Descriptors,
    /// The warrant.
    pub warrant: Warrant,
    /// Cautions (none when left out).
    #[serde(default)]
    pub caution: CautionFlags,
}

/// A missing person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingPerson {
    /// The name.
    pub name: PersonName,
    /// Date of birth.
    #[serde(with = "serde_date")]
    pub date_of_birth: Date,
    /// Descriptors.
    pub descriptors: Descriptors,
    /// The day the person was last seen.
    #[serde(with = "serde_date")]
    pub last_seen_on: Date,
    /// Where the person was last seen.
    pub last_seen_place: String,
    /// How the person went missing.
    pub circumstances: String,
    /// Under 20 when last seen (must agree with the dates).
    pub juvenile: bool,
    /// Elderly, disabled, ill or otherwise at risk.
    pub vulnerable: bool,
    /// Cautions (none when left out).
    #[serde(default)]
    pub caution: CautionFlags,
}

/// An unidentified person, living (e.g. amnesia) or dead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnidentifiedPerson {
    /// The day the person was found.
    #[serde(with = "serde_date")]
    pub found_on: Date,
    /// Where.
    pub found_place: String,
    /// True for a body.
    pub deceased: bool,
    /// Estimated age range, if any.
    pub estimated_age: Option<(u8, u8)>,
    /// Descriptors; the description is mandatory, as it is all there is to match on.
    pub descriptors: Descriptors,
}

/// A stolen vehicle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StolenVehicle {
    /// VIN or 車台番号 (mandatory: plates are changed, the chassis is not).
    pub vehicle_id: VehicleId,
    /// The plate it carried, with place name.
    pub plate: Option<Plate>,
    /// Make, e.g. `トヨタ`.
    pub make: String,
    /// Model, e.g. `プリウス`.
    pub model: String,
    /// Colour.
    pub colour: String,
    /// The day of the theft.
    #[serde(with = "serde_date")]
    pub stolen_on: Date,
}

/// A stolen licence plate (one or both of a pair).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StolenPlate {
    /// The plate, with place name.
    pub plate: Plate,
    /// How many of the pair were taken: 1 or 2.
    pub plates_taken: u8,
    /// The day of the theft.
    #[serde(with = "serde_date")]
    pub stolen_on: Date,
}

/// A stolen firearm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StolenFirearm {
    /// Make, serial and calibre.
    pub firearm: FirearmId,
    /// Type, e.g. `拳銃`, `散弾銃`.
    pub firearm_type: String,
    /// The day of the theft.
    #[serde(with = "serde_date")]
    pub stolen_on: Date,
}

/// A stolen article identified by serial or owner-applied number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StolenArticle {
    /// The identifying number.
    pub number: ArticleNumber,
    /// What it is, e.g. `ノートパソコン`.
    pub article_type: String,
    /// Brand, if known.
    pub brand: String,
    /// The day of the theft.
    #[serde(with = "serde_date")]
    pub stolen_on: Date,
}

/// Why a travel document is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Reported lost.
    Lost,
    /// Reported stolen.
    Stolen,
    /// Revoked by the issuer.
    Revoked,
}

/// A lost or stolen travel document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TravelDocumentRecord {
    /// State, type and number.
    pub document: TravelDocumentId,
    /// Lost, stolen or revoked.
    pub status: DocumentStatus,
    /// The day it was reported.
    #[serde(with = "serde_date")]
    pub reported_on: Date,
    /// The holder, if known.
    pub holder: Option<PersonName>,
    /// The holder's date of birth, if known.
    #[serde(with = "serde_opt_date", default)]
    pub holder_date_of_birth: Option<Date>,
}

/// One record file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordFile {
    /// A wanted person.
    Wanted(WantedPerson),
    /// A missing person.
    Missing(MissingPerson),
    /// An unidentified person.
    Unidentified(UnidentifiedPerson),
    /// A stolen vehicle.
    StolenVehicle(StolenVehicle),
    /// A stolen plate.
    StolenPlate(StolenPlate),
    /// A stolen firearm.
    StolenFirearm(StolenFirearm),
    /// A stolen article.
    StolenArticle(StolenArticle),
    /// A lost or stolen travel document.
    TravelDocument(TravelDocumentRecord),
}

impl RecordFile {
    /// The kind of record.
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordFile::Wanted(_) => RecordKind::Wanted,
            RecordFile::Missing(_) => RecordKind::Missing,
            RecordFile::Unidentified(_) => RecordKind::Unidentified,
            RecordFile::StolenVehicle(_) => RecordKind::StolenVehicle,
            RecordFile::StolenPlate(_) => RecordKind::StolenPlate,
            RecordFile::StolenFirearm(_) => RecordKind::StolenFirearm,
            RecordFile::StolenArticle(_) => RecordKind::StolenArticle,
            RecordFile::TravelDocument(_) => RecordKind::TravelDocument,
        }
    }

    /// The cautions an answer hitting this record must carry.
    pub fn caution(&self) -> CautionFlags {
        match self {
            RecordFile::Wanted(w) => w.caution,
            RecordFile::Missing(m) => m.caution,
            _ => CautionFlags::default(),
        }
    }

    /// Every field error of the file, as of `today`; empty when the file is valid.
    pub fn validate(&self, today: Date) -> Vec<RegistryError> {
        let mut e = Vec::new();
        let not_future = |field: &str, d: Date, e: &mut Vec<RegistryError>| {
            if d > today {
                e.push(RegistryError::OutOfRange {
                    field: field.into(),
                    reason: "in the future",
                });
            }
        };
        match self {
            RecordFile::Wanted(w) => {
                e.extend(w.name.validate("name"));
                collect(
                    &mut e,
                    check_date_of_birth("date_of_birth", w.date_of_birth, today),
                );
                w.descriptors.validate("descriptors", &mut e);
                w.warrant.validate(today, &mut e);
            }
            RecordFile::Missing(m) => {
                e.extend(m.name.validate("name"));
                collect(
                    &mut e,
                    check_date_of_birth("date_of_birth", m.date_of_birth, today),
                );
                m.descriptors.validate("descriptors", &mut e);
                not_future("last_seen_on", m.last_seen_on, &mut e);
                if m.last_seen_on < m.date_of_birth {
                    e.push(RegistryError::Inconsistent {
                        field: "last_seen_on".into(),
                        reason: "before the date of birth",
                    });
                } else if m.juvenile != (age_on(m.date_of_birth, m.last_seen_on) < JUVENILE_AGE) {
                    e.push(RegistryError::Inconsistent {
                        field: "juvenile".into(),
                        reason: "must be set exactly when the person was under 20 when last seen",
                    });
                }
                collect(
                    &mut e,
                    check_required_text("last_seen_place", &m.last_seen_place, MAX_SHORT_TEXT),
                );
                collect(
                    &mut e,
                    check_required_text("circumstances", &m.circumstances, MAX_NARRATIVE),
                );
            }
            RecordFile::Unidentified(u) => {
                not_future("found_on", u.found_on, &mut e);
                collect(
                    &mut e,
                    check_required_text("found_place", &u.found_place, MAX_SHORT_TEXT),
                );
                if let Some((lo, hi)) = u.estimated_age
                    && (lo > hi || hi > 130)
                {
                    e.push(RegistryError::OutOfRange {
                        field: "estimated_age".into(),
                        reason: "must be a range from low to high, at most 130",
                    });
                }
                u.descriptors.validate("descriptors", &mut e);
                collect(
                    &mut e,
                    check_required_text(
                        "descriptors.description",
                        &u.descriptors.description,
                        MAX_NARRATIVE,
                    ),
                );
            }
            RecordFile::StolenVehicle(v) => {
                if let Some(p) = &v.plate
                    && !p.is_complete()
                {
                    e.push(RegistryError::required("plate.place"));
                }
                collect(&mut e, check_required_text("make", &v.make, MAX_SHORT_TEXT));
                collect(
                    &mut e,
                    check_optional_text("model", &v.model, MAX_SHORT_TEXT),
                );
                collect(
                    &mut e,
                    check_required_text("colour", &v.colour, MAX_SHORT_TEXT),
                );
                not_future("stolen_on", v.stolen_on, &mut e);
            }
            RecordFile::StolenPlate(p) => {
                if !p.plate.is_complete() {
                    e.push(RegistryError::required("plate.place"));
                }
                if !(1..=2).contains(&p.plates_taken) {
                    e.push(RegistryError::OutOfRange {
                        field: "plates_taken".into(),
                        reason: "must be 1 or 2",
                    });
                }
                not_future("stolen_on", p.stolen_on, &mut e);
            }
            RecordFile::StolenFirearm(f) => {
                collect(
                    &mut e,
                    check_required_text("firearm_type", &f.firearm_type, MAX_SHORT_TEXT),
                );
                not_future("stolen_on", f.stolen_on, &mut e);
            }
            RecordFile::StolenArticle(a) => {
                collect(
                    &mut e,
                    check_required_text("article_type", &a.article_type, MAX_SHORT_TEXT),
                );
                collect(
                    &mut e,
                    check_optional_text("brand", &a.brand, MAX_SHORT_TEXT),
                );
                not_future("stolen_on", a.stolen_on, &mut e);
            }
            RecordFile::TravelDocument(t) => {
                if t.document.issuing_state.as_str() != REGISTRY_STATE {
                    e.push(RegistryError::NotIssuingState {
                        field: "document.issuing_state".into(),
                    });
                }
                // Deserialised ids bypass the constructor, so its rule is checked again.
                if let Err(err) = TravelDocumentId::new(
                    t.document.issuing_state.clone(),
                    t.document.document_type,
                    t.document.number.clone(),
                ) {
                    e.push(err.within("document"));
                }
                not_future("reported_on", t.reported_on, &mut e);
                if let Some(h) = &t.holder {
                    e.extend(h.validate("holder"));
                }
                if let Some(d) = t.holder_date_of_birth {
                    collect(
                        &mut e,
                        check_date_of_birth("holder_date_of_birth", d, today),
                    );
                }
            }
        }
        e
    }

    /// Exact subject keys, namespaced by what they identify: `P|<name>|<dob>` for persons,
    /// `VEH|…`, `PLATE|…`, `GUN|…`, `ART|…`, `DOC|…` for property. Two records on the same
    /// subject share at least one key. Unidentified persons have none: they are matched by
    /// description, never by key.
    pub fn subject_keys(&self) -> Vec<String> {
        let person = |n: &PersonName, dob: Date| {
            n.exact_forms()
                .into_iter()
                .map(|f| {
                    let mut key = String::with_capacity(f.len() + 13);
                    key.push_str("P|");
                    key.push_str(&f);
                    key.push('|');
                    crate::date::push_date(&mut key, dob);
                    key
                })
                .collect::<Vec<_>>()
        };
        match self {
            RecordFile::Wanted(w) => person(&w.name, w.date_of_birth),
            RecordFile::Missing(m) => person(&m.name, m.date_of_birth),
            RecordFile::Unidentified(_) => Vec::new(),
            RecordFile::StolenVehicle(v) => {
                let mut k = vec![format!("VEH|{}", v.vehicle_id.key())];
                if let Some(p) = &v.plate {
                    k.push(format!("PLATE|{}", p.key()));
                }
                k
            }
            RecordFile::StolenPlate(p) => vec![format!("PLATE|{}", p.plate.key())],
            RecordFile::StolenFirearm(f) => vec![format!("GUN|{}", f.firearm.key())],
            RecordFile::StolenArticle(a) => vec![format!("ART|{}", a.number.key())],
            RecordFile::TravelDocument(t) => vec![format!("DOC|{}", t.document.key())],
        }
    }
}

/// Age in whole years on `on` of a person born on `dob`.
pub fn age_on(dob: Date, on: Date) -> i32 {
    let mut age = on.year - dob.year;
    if (on.month, on.day) < (dob.month, dob.day) {
        age -= 1;
    }
    age
}
