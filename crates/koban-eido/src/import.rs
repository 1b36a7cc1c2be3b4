//! Another agency's EIDO read into what koban needs to record (or update) an incident.
//!
//! The document must first pass the schema; then the importer needs three things the schema
//! leaves optional: an incident component, an identifier for it, and a location koban can
//! read (a PIDF-LO point or circle in `locationByValue`). Everything else is taken when
//! present and defaulted when not.

use koban_dispatch::IncidentTypeList;
use serde_json::Value;

use crate::export::code_for_common_text;
use crate::{EidoError, Schema};

/// Longest narrative kept; longer ones are cut (an agency's long history is no reason to
/// refuse its incident).
pub const MAX_NARRATIVE_CHARS: usize = 4000;
/// Longest identifier accepted from a sender.
pub const MAX_IDENTIFIER_BYTES: usize = 256;

/// How the sender's incident type became a koban type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeMatch {
    /// `incidentTypeCommonRegistryText` matched koban's table.
    CommonRegistry,
    /// `incidentTypeInternalCode` is a code of the list in force (another koban sent it).
    InternalCode,
    /// Nothing matched; the fallback type (`unknown`) was used.
    Fallback,
}

/// An incident as read from an EIDO document.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImportedIncident {
    /// The sender's `issuingElementIdentification`.
    pub source_element: String,
    /// The sender's incident identifier (`incidentTrackingIdentifier`, else the incident
    /// component's `$id`).
    pub source_incident_id: String,
    /// The koban type code.
    pub type_code: String,
    /// How it was found.
    pub type_match: TypeMatch,
    /// The sender's own type text, kept for the narrative when it did not map.
    pub sender_type: String,
    /// Priority 1 to 5 when the sender gave one koban can use.
    pub priority: Option<u8>,
    /// Latitude of the incident.
    pub lat: f64,
    /// Longitude of the incident.
    pub lon: f64,
    /// Uncertainty radius in metres (0 for a point).
    pub radius_m: f64,
    /// The narrative: the notes the incident component references, as plain text.
    pub narrative: String,
}

fn unusable(pointer: &str, code: &'static str, message: &str) -> EidoError {
    EidoError::Unusable {
        pointer: pointer.into(),
        code,
        message: message.into(),
    }
}

fn identifier(v: Option<&Value>, pointer: &str) -> Result<Option<String>, EidoError> {
    match v.and_then(Value::as_str) {
        None => Ok(None),
        Some(s) => {
            let s = s.trim();
            if s.is_empty() || s.len() > MAX_IDENTIFIER_BYTES || s.chars().any(char::is_control) {
                Err(unusable(
                    pointer,
                    "invalid_identifier",
                    "identifiers must be 1 to 256 bytes without control characters",
                ))
            } else {
                Ok(Some(s.to_string()))
            }
        }
    }
}

/// Validates `doc` and reads the incident it describes.
pub fn import(
    schema: &Schema,
    doc: &Value,
    types: &IncidentTypeList,
) -> Result<ImportedIncident, EidoError> {
    schema.validate(doc).map_err(EidoError::Invalid)?;
    let source_element = identifier(
        doc.get("issuingElementIdentification"),
        "/issuingElementIdentification",
    )?
    .ok_or_else(|| {
        unusable(
            "/issuingElementIdentification",
            "invalid_identifier",
            "the issuing element must be named",
        )
    })?;
    let inc = doc.get("incidentComponent").ok_or_else(|| {
        unusable(
            "/incidentComponent",
            "no_incident",
            "the document describes no incident",
        )
    })?;
    let source_incident_id = match identifier(
        inc.get("incidentTrackingIdentifier"),
        "/incidentComponent/incidentTrackingIdentifier",
    )? {
        Some(id) => id,
        None => identifier(inc.get("$id"), "/incidentComponent/$id")?.ok_or_else(|| {
            unusable(
                "/incidentComponent/incidentTrackingIdentifier",
                "no_identifier",
                "the incident has no identifier",
            )
        })?,
    };

    let sender_type = inc
        .get("incidentTypeCommonRegistryText")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let listed = |code: &str| types.get(code).is_ok();
    let (type_code, type_match) =
        if let Some(c) = code_for_common_text(&sender_type).filter(|c| listed(c)) {
            (c.to_string(), TypeMatch::CommonRegistry)
        } else if let Some(c) = inc
            .get("incidentTypeInternalCode")
            .and_then(Value::as_str)
            .filter(|c| listed(c))
        {
            (c.to_string(), TypeMatch::InternalCode)
        } else {
            let fallback = if listed("unknown") {
                "unknown".to_string()
            } else {
                types
                    .types()
                    .first()
                    .map(|t| t.code.clone())
                    .ok_or_else(|| {
                        unusable(
                            "/incidentComponent",
                            "no_type",
                            "no incident types are configured",
                        )
                    })?
            };
            (fallback, TypeMatch::Fallback)
        };

    let priority = inc
        .get("incidentCommonPriorityNumber")
        .and_then(Value::as_i64)
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| (1..=5).contains(p));

    let (lat, lon, radius_m) = incident_location(doc, inc)?;

    let notes = by_id(doc, "notesComponent");
    let mut parts = Vec::new();
    for r in inc
        .get("notesReference")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(note) = r.get("$ref").and_then(Value::as_str).and_then(&notes) {
            if let Some(text) = note.get("notesActionComments").and_then(Value::as_str) {
                parts.push(html_to_text(text));
            }
        }
    }
    let narrative: String = parts
        .join("\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(MAX_NARRATIVE_CHARS)
        .collect();

    Ok(ImportedIncident {
        source_element,
        source_incident_id,
        type_code,
        type_match,
        sender_type,
        priority,
        lat,
        lon,
        radius_m,
        narrative,
    })
}

/// A lookup of the components of one array by their `$id`.
fn by_id<'a>(doc: &'a Value, component: &str) -> impl Fn(&str) -> Option<&'a Value> + use<'a> {
    let list = doc.get(component).and_then(Value::as_array);
    move |id: &str| {
        list.into_iter()
            .flatten()
            .find(|c| c.get("$id").and_then(Value::as_str) == Some(id))
    }
}

/// The incident's location: the first referenced location koban can read, else the first
/// readable location typed `Incident`.
fn incident_location(doc: &Value, inc: &Value) -> Result<(f64, f64, f64), EidoError> {
    let locations = by_id(doc, "locationComponent");
    let readable = |l: &Value| {
        l.get("locationByValue")
            .and_then(Value::as_str)
            .and_then(parse_pidf_lo)
    };
    for r in inc
        .get("locationReference")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = r
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(&locations)
            .and_then(readable)
        {
            return Ok(p);
        }
    }
    doc.get("locationComponent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| {
            l.get("locationTypeDescriptionRegistryText")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("incident"))
        })
        .find_map(readable)
        .ok_or_else(|| {
            unusable(
                "/incidentComponent/locationReference",
                "no_location",
                "no location of the incident is given as a PIDF-LO point or circle in locationByValue",
            )
        })
}

/// The text of the first element whose local name is `name`, e.g. `pos` for `<gml:pos>`.
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let tag_name = tag.split(|c: char| c.is_whitespace() || c == '/').next()?;
        let local = tag_name.rsplit(':').next()?;
        if local == name && !tag.ends_with('/') && !tag.starts_with('/') {
            let body = &rest[end + 1..];
            let close = body.find('<')?;
            return Some(body[..close].trim());
        }
        rest = &rest[end + 1..];
    }
    None
}

/// Reads a point or circle (WGS 84, `lat lon` order as EPSG:4326 has it) from PIDF-LO text.
pub fn parse_pidf_lo(xml: &str) -> Option<(f64, f64, f64)> {
    let pos = element_text(xml, "pos")?;
    let mut it = pos.split_whitespace().map(str::parse::<f64>);
    let lat = it.next()?.ok()?;
    let lon = it.next()?.ok()?;
    if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
        return None;
    }
    let radius = match element_text(xml, "radius") {
        Some(r) => r
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 0.0)?,
        None => 0.0,
    };
    Some((lat, lon, radius))
}

/// The plain text of an HTML5 note: `<br>` and paragraph ends become newlines, other tags
/// are dropped, and the common entities are decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let Some(end) = rest.find('>') else {
                // An unclosed tag is text, as a browser would show it.
                out.push_str(rest);
                return out;
            };
            let tag = rest[1..end].trim().to_ascii_lowercase();
            if tag.starts_with("br") || tag == "/p" || tag == "/div" {
                out.push('\n');
            }
            rest = &rest[end + 1..];
        } else {
            let end = rest.find(';').filter(|&e| e <= 10);
            let decoded = end.and_then(|e| match &rest[1..e] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            });
            match (decoded, end) {
                (Some(c), Some(e)) => {
                    out.push(c);
                    rest = &rest[e + 1..];
                }
                _ => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out.trim_end_matches('\n').to_string()
}
