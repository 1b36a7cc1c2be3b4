//! NENA EIDO exchange: an incident written as an EIDO document for another agency, and
//! another agency's EIDO recorded as an incident of the caller's prefecture (or, when the
//! same incident was imported before, as an update to it). Both are audited like any read
//! or write of police data.

use std::path::Path;

use koban_access::Action;
use koban_dispatch::{Incident, NewIncident};
use koban_eido::{EidoError, ExportInput, ExportUnit, ImportedIncident, Schema, TypeMatch};
use koban_org::PrefCode;
use koban_store::EidoImportRow;
use serde::Serialize;

use crate::incidents::{
    IncidentView, PointIn, check_point, dispatch_error, from_row, home_pref, to_row,
};
use crate::live::{LiveDraft, kinds};
use crate::{Koban, RequestCtx, ServiceError, new_id};

/// Reads and checks the schema file at start-up; a configured file that cannot be used
/// stops the server rather than leaving import silently broken.
pub(crate) fn load_schema(path: Option<&Path>) -> Result<Option<Schema>, ServiceError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::Internal(format!("EIDO schema {}: {e}", path.display())))?;
    Schema::from_yaml(&text)
        .map(Some)
        .map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display())))
}

/// The result of an import.
#[derive(Clone, Debug, Serialize)]
pub struct EidoImportView {
    /// True when a new incident was recorded, false when an earlier import was updated.
    pub created: bool,
    /// The sender's issuing element and incident identifier.
    pub source_element: String,
    pub source_incident_id: String,
    /// How the sender's incident type became a koban type.
    pub type_match: TypeMatch,
    pub incident: IncidentView,
}

/// The issuing element named in documents a prefecture sends: the prefecture within this
/// installation, whose name is the audit log's origin.
fn issuing_element(origin: &str, pref: PrefCode) -> String {
    format!("pref{}.{origin}", pref.as_str())
}

fn eido_error(e: EidoError) -> ServiceError {
    match e {
        EidoError::Invalid(inv) => ServiceError::InvalidEido(inv),
        EidoError::Unusable {
            pointer,
            code,
            message,
        } => ServiceError::invalid(pointer, code, message),
        EidoError::TooLarge { .. } | EidoError::NotJson(_) => {
            ServiceError::invalid("document", e.code(), e.to_string())
        }
        EidoError::Schema(m) => ServiceError::Internal(m),
    }
}

/// The narrative kept for an imported incident: the sender's, plus its own type name when
/// that did not map onto a koban type (so the dispatcher still sees what was reported).
fn narrative_of(imp: &ImportedIncident) -> String {
    if imp.type_match == TypeMatch::Fallback && !imp.sender_type.is_empty() {
        let line = format!("[EIDO type: {}]", imp.sender_type);
        if imp.narrative.is_empty() {
            line
        } else {
            format!("{}\n{line}", imp.narrative)
        }
    } else {
        imp.narrative.clone()
    }
}

impl Koban {
    /// The incident as a NENA EIDO document, with its calls and assigned units.
    pub async fn export_eido(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<serde_json::Value, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.eido_export");
        ev.object("incident", id);
        let r = async {
            actor.require(Action::IncidentRead)?;
            let (row, incident) = crate::incidents::visible_incident(&mut *tx, &actor, id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            let calls = tx
                .calls_of_incident(id)
                .await?
                .iter()
                .map(|c| {
                    serde_json::from_str::<koban_dispatch::Call>(&c.doc)
                        .map_err(|e| ServiceError::Internal(format!("stored call {}: {e}", c.id)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut units = Vec::new();
            for a in tx.assignments_of_incident(id).await? {
                let assignment = crate::fleet::assignment_of(&a)?;
                let Some(unit_row) = tx.get_dispatch_unit(&a.unit_id).await? else {
                    continue;
                };
                units.push((
                    crate::fleet::unit_of(&unit_row)?,
                    assignment.step(),
                    a.active,
                ));
            }
            let export_units: Vec<ExportUnit<'_>> = units
                .iter()
                .map(|(unit, step, active)| ExportUnit {
                    unit,
                    step: *step,
                    active: *active,
                })
                .collect();
            let type_name = self
                .config()
                .incident_types
                .get(&incident.type_code)
                .ok()
                .map(|t| t.name_en.as_str());
            let element = issuing_element(&self.config().audit_origin, row.pref_code);
            let doc = koban_eido::export(&ExportInput {
                incident: &incident,
                type_name,
                pref_code: row.pref_code.as_str(),
                agency_name: koban_org::prefecture_name_ja(row.pref_code),
                issuing_element: &element,
                calls: &calls,
                units: &export_units,
                updated_us: row.updated_at_us,
            });
            ev.detail("calls", calls.len());
            ev.detail("units", export_units.len());
            Ok(doc)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Records another agency's EIDO document as an incident of the caller's prefecture, or
    /// updates the incident an earlier document about the same incident created. A
    /// document that fails the schema changes nothing and is refused with every violation.
    pub async fn import_eido(
        &self,
        ctx: &RequestCtx,
        token: &str,
        doc: serde_json::Value,
    ) -> Result<EidoImportView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.eido_import");
        let r = async {
            actor.require(Action::IncidentWrite)?;
            let pref = home_pref(&actor)?;
            ev.scope_pref = Some(pref.to_string());
            let schema = self.inner.eido.as_ref().ok_or(ServiceError::Unavailable {
                code: "eido_schema_unavailable",
                message:
                    "no EIDO schema is configured (--eido-schema), so documents cannot be validated"
                        .into(),
            })?;
            let size = serde_json::to_vec(&doc)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            let max = schema.limits().max_document_bytes;
            if size > max {
                return Err(ServiceError::invalid(
                    "document",
                    "too_large",
                    format!("an EIDO document may be at most {max} bytes"),
                ));
            }
            let types = &self.config().incident_types;
            let imp = koban_eido::import(schema, &doc, types).map_err(eido_error)?;
            ev.detail("source_element", imp.source_element.clone());
            ev.detail("source_incident_id", imp.source_incident_id.clone());
            ev.detail("type_match", format!("{:?}", imp.type_match));
            let location = check_point(
                "/locationComponent",
                PointIn {
                    lat: imp.lat,
                    lon: imp.lon,
                    radius_m: imp.radius_m,
                },
            )?;
            let narrative = narrative_of(&imp);
            let now = self.now_us();
            let earlier = tx
                .eido_import(pref, &imp.source_element, &imp.source_incident_id)
                .await?;
            let (view, created) = match earlier {
                Some(incident_id) => {
                    let row = tx.get_incident(&incident_id).await?.ok_or_else(|| {
                        ServiceError::Internal(format!(
                            "imported incident {incident_id} is missing"
                        ))
                    })?;
                    let mut incident: Incident = from_row(&row)?;
                    incident.type_code = imp.type_code.clone();
                    incident.location = location;
                    incident.narrative = narrative;
                    if let Some(p) = imp.priority {
                        incident.set_priority(p).map_err(|e| {
                            dispatch_error("/incidentComponent/incidentCommonPriorityNumber", e)
                        })?;
                    }
                    let view =
                        crate::incidents::save_incident(&mut *tx, &mut ev, incident, &row, now)
                            .await?;
                    (view, false)
                }
                None => {
                    let incident = Incident::create(
                        NewIncident {
                            id: new_id("inc"),
                            type_code: imp.type_code.clone(),
                            priority: imp.priority,
                            location,
                            narrative,
                            cautions: Default::default(),
                            call_id: None,
                        },
                        types,
                        now,
                        &actor.user.id,
                    )
                    .map_err(|e| dispatch_error("/incidentComponent", e))?;
                    tx.insert_incident(&to_row(&incident, pref, now, now)?)
                        .await?;
                    tx.insert_eido_import(&EidoImportRow {
                        pref_code: pref,
                        source_element: imp.source_element.clone(),
                        source_incident_id: imp.source_incident_id.clone(),
                        incident_id: incident.id.clone(),
                        imported_at_us: now,
                    })
                    .await?;
                    let view = IncidentView::of(incident, pref);
                    ev.publish(LiveDraft::of(kinds::INCIDENT_CREATED, Some(pref), &view)?);
                    (view, true)
                }
            };
            ev.object("incident", view.incident.id.clone());
            ev.detail("created", created);
            Ok(EidoImportView {
                created,
                source_element: imp.source_element,
                source_incident_id: imp.source_incident_id,
                type_match: imp.type_match,
                incident: view,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}
