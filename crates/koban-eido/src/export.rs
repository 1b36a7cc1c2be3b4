//! A koban incident, with its calls and assigned units, written as an EIDO document.
//!
//! Every data component carries the prologue the schema requires (`$id`,
//! `lastUpdateTimeStamp`, `updatedByAgencyReference`). Identifiers are URNs built from the
//! issuing element and koban's own ids, so they are globally unique as long as the issuing
//! element is: `urn:emergency:uid:incidentid:<id>:<element>` for the incident (the form
//! NENA-STA-024 gives) and `urn:koban:<element>:<kind>:<id>` for the other components.

use koban_dispatch::{AssignmentStep, Call, Incident, Unit, UnitKind};
use serde_json::{Value, json};

use crate::rfc3339_us;

/// One unit assigned to the incident.
#[derive(Clone, Copy, Debug)]
pub struct ExportUnit<'a> {
    /// The unit as it is now.
    pub unit: &'a Unit,
    /// Where its assignment to this incident stands.
    pub step: AssignmentStep,
    /// Whether the assignment is still active.
    pub active: bool,
}

/// Everything an export needs, gathered by the caller.
#[derive(Clone, Copy, Debug)]
pub struct ExportInput<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// English name of its type in the list in force, if the code is still listed.
    pub type_name: Option<&'a str>,
    /// JIS X 0401 code of the owning prefecture, e.g. `13`.
    pub pref_code: &'a str,
    /// The owning agency's name, e.g. 警視庁.
    pub agency_name: &'a str,
    /// Identifier of the functional element issuing the document.
    pub issuing_element: &'a str,
    /// Calls linked to the incident.
    pub calls: &'a [Call],
    /// Units assigned to it (active or not).
    pub units: &'a [ExportUnit<'a>],
    /// When the incident last changed, UTC µs.
    pub updated_us: i64,
}

/// The EIDO incident-type text for a koban type code, and back (see [`crate::import`]).
///
/// NENA leaves the common incident-type registry to be populated; until it is, these are
/// koban's stable English names. Custom codes not in the table export as their own code.
const TYPE_TABLE: &[(&str, &str)] = &[
    ("traffic_accident", "Traffic Collision"),
    ("hit_and_run", "Hit and Run"),
    ("theft", "Theft"),
    ("robbery", "Robbery"),
    ("armed_person", "Armed Person"),
    ("assault", "Assault"),
    ("domestic_violence", "Domestic Violence"),
    ("stalking", "Stalking"),
    ("suspicious_person", "Suspicious Person"),
    ("lost_child", "Lost Child"),
    ("missing_person", "Missing Person"),
    ("drunk_person", "Intoxicated Person"),
    ("noise", "Noise Complaint"),
    ("fire", "Fire"),
    ("medical", "Medical Emergency"),
    ("unknown", "Unknown"),
];

/// The common-registry text koban sends for a type code.
pub fn common_type_text(code: &str) -> String {
    TYPE_TABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, t)| (*t).to_string())
        .unwrap_or_else(|| code.to_string())
}

/// The koban type code for a common-registry text, compared without case or spacing.
pub(crate) fn code_for_common_text(text: &str) -> Option<&'static str> {
    let key = fold(text);
    TYPE_TABLE
        .iter()
        .find(|(c, t)| fold(t) == key || fold(c) == key)
        .map(|(c, _)| *c)
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Escapes text for the HTML5 the schema asks notes to be in.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// A PIDF-LO presence document holding a GML circle (a point when the radius is 0).
pub(crate) fn pidf_lo(entity: &str, lat: f64, lon: f64, radius_m: f64) -> String {
    let shape = if radius_m > 0.0 {
        format!(
            "<gs:Circle srsName=\"urn:ogc:def:crs:EPSG::4326\"><gml:pos>{lat} {lon}</gml:pos>\
             <gs:radius uom=\"urn:ogc:def:uom:EPSG::9001\">{radius_m}</gs:radius></gs:Circle>"
        )
    } else {
        format!(
            "<gml:Point srsName=\"urn:ogc:def:crs:EPSG::4326\"><gml:pos>{lat} {lon}</gml:pos></gml:Point>"
        )
    };
    format!(
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" \
         xmlns:gml=\"http://www.opengis.net/gml\" xmlns:gs=\"http://www.opengis.net/pidflo/1.0\" \
         entity=\"{}\"><tuple id=\"location\"><status><gp:geopriv><gp:location-info>{shape}\
         </gp:location-info></gp:geopriv></status></tuple></presence>",
        html_escape(entity)
    )
}

fn unit_kind_text(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::PatrolCar => "Law Enforcement Patrol Vehicle",
        UnitKind::Motorcycle => "Law Enforcement Motorcycle",
        UnitKind::FootPatrol => "Law Enforcement Foot Patrol",
        UnitKind::Aircraft => "Law Enforcement Aircraft",
        UnitKind::Boat => "Law Enforcement Boat",
    }
}

fn unit_kind_code(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::PatrolCar => "patrol_car",
        UnitKind::Motorcycle => "motorcycle",
        UnitKind::FootPatrol => "foot_patrol",
        UnitKind::Aircraft => "aircraft",
        UnitKind::Boat => "boat",
    }
}

/// The EIDO incident status (common registry) for a koban state.
fn status_text(state: koban_dispatch::IncidentState) -> &'static str {
    use koban_dispatch::IncidentState::*;
    match state {
        Created => "Pending",
        Dispatched => "Dispatched",
        OnScene => "OnScene",
        Cleared => "Cleared",
        Closed => "Closed",
        Cancelled => "Cancelled",
    }
}

/// Writes the EIDO document for an incident.
pub fn export(input: &ExportInput<'_>) -> Value {
    let el = input.issuing_element;
    let inc = input.incident;
    let id = |kind: &str, local: &str| format!("urn:koban:{el}:{kind}:{local}");
    let agency_id = id("agency", &format!("pref-{}", input.pref_code));
    let updated = rfc3339_us(input.updated_us);
    let prologue = |this: &str, at: &str| {
        json!({
            "$id": this,
            "lastUpdateTimeStamp": at,
            "updatedByAgencyReference": { "$ref": agency_id },
        })
    };
    let with = |mut base: Value, extra: Value| {
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            b.extend(e);
        }
        base
    };
    let tracking = format!("urn:emergency:uid:incidentid:{}:{el}", inc.id);

    let mut notes = Vec::new();
    let mut incident_notes = Vec::new();
    if !inc.narrative.is_empty() {
        let nid = id("note", &format!("{}-narrative", inc.id));
        notes.push(with(
            prologue(&nid, &updated),
            json!({ "notesActionComments": html_escape(&inc.narrative) }),
        ));
        incident_notes.push(json!({ "$ref": nid }));
    }
    // The timeline travels as notes of its own, not referenced by the incident, so that an
    // importing agency's narrative is the narrative and not the sender's state history.
    for (i, e) in inc.timeline().iter().enumerate() {
        let text = match e.from {
            None => format!("{} created", inc.id),
            Some(from) => format!("{} → {}", from.as_str(), e.to.as_str()),
        };
        let text = if e.note.is_empty() {
            text
        } else {
            format!("{text}: {}", e.note)
        };
        let nid = id("note", &format!("{}-timeline-{i}", inc.id));
        notes.push(with(
            prologue(&nid, &rfc3339_us(e.at_us)),
            json!({ "notesActionComments": html_escape(&text) }),
        ));
    }

    let loc_id = id("location", &format!("{}-scene", inc.id));
    let mut locations = vec![with(
        prologue(&loc_id, &updated),
        json!({
            "locationTypeDescriptionRegistryText": "Incident",
            "locationByValue": pidf_lo(
                &format!("pres:{}@{el}", inc.id),
                inc.location.point.lat,
                inc.location.point.lon,
                inc.location.radius_m,
            ),
        }),
    )];

    let mut calls = Vec::new();
    for c in input.calls {
        let cid = id("call", &c.id);
        let mut extra = json!({
            "callStateRegistryText": if c.answered_us.is_some() { "Answered" } else { "Queued" },
            "standardPrimaryCallType": "Emergency",
            "direction": "incoming",
            "callStartTimestamp": rfc3339_us(c.received_us),
            "localCallType": "110",
        });
        if let Some(a) = c.answered_us {
            extra["answerDate"] = json!(rfc3339_us(a));
        }
        if !c.statement.is_empty() {
            let nid = id("note", &format!("{}-statement", c.id));
            notes.push(with(
                prologue(&nid, &rfc3339_us(c.received_us)),
                json!({ "notesActionComments": html_escape(&c.statement) }),
            ));
            extra["notesReference"] = json!([{ "$ref": nid }]);
        }
        if let Some(l) = c.caller_location {
            let lid = id("location", &format!("{}-caller", c.id));
            locations.push(with(
                prologue(&lid, &rfc3339_us(c.received_us)),
                json!({
                    "locationTypeDescriptionRegistryText": "Caller",
                    "locationByValue": pidf_lo(
                        &format!("pres:{}@{el}", c.id),
                        l.point.lat,
                        l.point.lon,
                        l.radius_m,
                    ),
                }),
            ));
            extra["locationReference"] = json!([{ "$ref": lid }]);
        }
        // The caller's number is not sent: the receiving agency can ask for it through the
        // owning agency, which keeps the disclosure on its own audit log.
        calls.push(with(prologue(&cid, &rfc3339_us(c.received_us)), extra));
    }

    let mut agents = Vec::new();
    let mut resources = Vec::new();
    for u in input.units {
        let unit = u.unit;
        let agent_id = id("agent", &format!("unit-{}", unit.id));
        agents.push(with(
            prologue(&agent_id, &updated),
            json!({
                "agentRoleRegistryText": ["Responder"],
                "agencyReference": { "$ref": agency_id },
            }),
        ));
        let status = unit.status.eido_fields();
        let mut attributes: Vec<String> = unit.capabilities.iter().cloned().collect();
        attributes.insert(0, unit_kind_code(unit.kind).to_string());
        let mut extra = json!({
            "agentReference": [{ "$ref": agent_id }],
            "emergencyResourceTypeCommonRegistryText": unit_kind_text(unit.kind),
            "emergencyResourceTypeInternalText": unit_kind_code(unit.kind),
            "resourceAttributeRegistryText": ["Other"],
            "resourceAttributeInternalText": attributes,
            "emergencyResourceName": unit.id,
            "primaryUnitStatusRegistryText": status.primary_unit_status_registry_text,
            "secondaryUnitStatusRegistryText": status.secondary_unit_status_registry_text,
            "unitStatusInternal": status.unit_status_internal,
        });
        if u.active {
            extra["activeOnIncidentId"] = json!(tracking);
        }
        if let Some(p) = unit.position {
            let lid = id("location", &format!("unit-{}", unit.id));
            locations.push(with(
                prologue(&lid, &rfc3339_us(p.at_us)),
                json!({
                    "locationTypeDescriptionRegistryText": "Unit",
                    "locationByValue": pidf_lo(
                        &format!("pres:{}@{el}", unit.id),
                        p.point.lat,
                        p.point.lon,
                        0.0,
                    ),
                }),
            ));
            extra["unitLocationReference"] = json!({ "$ref": lid });
        }
        if let Some(a) = extra["unitStatusInternal"].as_array_mut() {
            a.push(json!(format!("assignment:{:?}", u.step)));
        }
        resources.push(with(prologue(&id("resource", &unit.id), &updated), extra));
    }

    let type_text = common_type_text(&inc.type_code);
    let mut incident = with(
        prologue(&id("incident", &inc.id), &updated),
        json!({
            "incidentTrackingIdentifier": tracking,
            "internalIncidentId": inc.id,
            "incidentTypeCommonRegistryText": type_text,
            "incidentTypeInternalCode": inc.type_code,
            "incidentStatusCommonRegistryText": [status_text(inc.state())],
            "incidentStatusInternalText": [inc.state().as_str()],
            "incidentPriorityInternalText": inc.priority.to_string(),
            "incidentCommonPriorityNumber": inc.priority,
            "locationReference": [{ "$ref": loc_id }],
        }),
    );
    if let Some(name) = input.type_name {
        incident["incidentTypeInternalText"] = json!(name);
    }
    if !incident_notes.is_empty() {
        incident["notesReference"] = json!(incident_notes);
    }

    let jcard = json!([
        "vcard",
        [
            ["version", {}, "text", "4.0"],
            ["fn", {}, "text", input.agency_name]
        ]
    ]);
    let agency = with(
        prologue(&agency_id, &updated),
        json!({
            "agencyJcard": jcard.to_string(),
            "agencyRoleDescriptionRegistryText": ["Primary"],
            "agencyType": ["police"],
            "incidentOwningAgencyIndicator": true,
        }),
    );

    let mut doc = with(
        prologue(&id("eido", &inc.id), &updated),
        json!({
            "eidoVersion": "1.0",
            "issuingElementIdentification": el,
            "agencyComponent": [agency],
            "incidentComponent": incident,
            "locationComponent": locations,
        }),
    );
    if !calls.is_empty() {
        doc["callComponent"] = json!(calls);
    }
    if !notes.is_empty() {
        doc["notesComponent"] = json!(notes);
    }
    if !resources.is_empty() {
        doc["agentComponent"] = json!(agents);
        doc["emergencyResourceComponent"] = json!(resources);
    }
    doc
}
