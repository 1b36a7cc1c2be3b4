//! The OpenAPI 3 description served at `/api/v1/openapi.json`.
//!
//! It is written by hand from [`OPERATIONS`], one row per route, so that the table is
//! the single list of what the API offers; an integration test calls every row and
//! checks the route exists and demands authentication where the row says so.

use serde_json::{Value, json};

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    /// Path under `/api/v1`, with `{name}` parameters.
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Whether a bearer token is required (everything but logon).
    pub auth: bool,
    /// Schema name of the JSON request body, if any (`csv` for a CSV upload).
    pub body: Option<&'static str>,
    /// Query parameters (all optional unless marked with a trailing `!`).
    pub query: &'static [&'static str],
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Option<&'static str>,
    query: &'static [&'static str],
) -> Operation {
    Operation {
        method,
        path,
        summary,
        tag,
        auth: true,
        body,
        query,
    }
}

/// Every operation of the API.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        auth: false,
        ..op(
            "post",
            "/auth/login",
            "Log on with password and TOTP code; returns a bearer token",
            "auth",
            Some("LoginRequest"),
            &[],
        )
    },
    op(
        "post",
        "/auth/logout",
        "End the current session",
        "auth",
        None,
        &[],
    ),
    op(
        "get",
        "/auth/session",
        "The current session and user",
        "auth",
        None,
        &[],
    ),
    op(
        "put",
        "/me/password",
        "Change one's own password (ends all sessions)",
        "auth",
        Some("PasswordChange"),
        &[],
    ),
    op("get", "/openapi.json", "This document", "meta", None, &[]),
    op(
        "get",
        "/org/units",
        "List organisation units in scope",
        "org",
        None,
        &["kind", "parent_id", "after_id", "limit"],
    ),
    op(
        "post",
        "/org/units",
        "Create a station, koban or chuzaisho",
        "org",
        Some("NewUnit"),
        &[],
    ),
    op(
        "post",
        "/org/units/import",
        "Import stations and boxes from CSV (all or nothing)",
        "org",
        Some("csv"),
        &[],
    ),
    op(
        "get",
        "/org/units/{id}",
        "One organisation unit",
        "org",
        None,
        &[],
    ),
    op(
        "patch",
        "/org/units/{id}",
        "Change a station or box",
        "org",
        Some("UnitPatch"),
        &[],
    ),
    op(
        "get",
        "/users",
        "List accounts in scope",
        "users",
        None,
        &["unit_id", "after_username", "limit"],
    ),
    op(
        "post",
        "/users",
        "Create an account; returns its TOTP secret once",
        "users",
        Some("NewUser"),
        &[],
    ),
    op("get", "/users/{id}", "One account", "users", None, &[]),
    op(
        "patch",
        "/users/{id}",
        "Change an account (role changes end its sessions)",
        "users",
        Some("UserPatch"),
        &[],
    ),
    op(
        "post",
        "/users/{id}/unlock",
        "Unlock an account locked by failed logons",
        "users",
        None,
        &[],
    ),
    op(
        "post",
        "/users/{id}/disable",
        "Disable an account and end its sessions",
        "users",
        None,
        &[],
    ),
    op(
        "post",
        "/users/{id}/enable",
        "Re-enable a disabled account",
        "users",
        None,
        &[],
    ),
    op(
        "post",
        "/users/{id}/reset-totp",
        "Issue a new TOTP secret",
        "users",
        None,
        &[],
    ),
    op(
        "put",
        "/users/{id}/password",
        "Set a new password for an account",
        "users",
        Some("PasswordReset"),
        &[],
    ),
    op(
        "put",
        "/users/{id}/grants/{pref}",
        "Grant access to another prefecture's data",
        "users",
        None,
        &[],
    ),
    op(
        "delete",
        "/users/{id}/grants/{pref}",
        "Revoke a prefecture grant",
        "users",
        None,
        &[],
    ),
    op(
        "get",
        "/terminals",
        "List command-room terminals",
        "terminals",
        None,
        &[],
    ),
    op(
        "post",
        "/terminals",
        "Register a terminal; returns its key once",
        "terminals",
        Some("NewTerminal"),
        &[],
    ),
    op(
        "post",
        "/terminals/{id}/disable",
        "Disable a terminal",
        "terminals",
        None,
        &[],
    ),
    op(
        "get",
        "/audit/events",
        "Search the audit log (newest first)",
        "audit",
        None,
        &[
            "actor",
            "object_type",
            "object_id",
            "action",
            "from",
            "to",
            "before_seq",
            "limit",
        ],
    ),
    op(
        "get",
        "/audit/checkpoint",
        "The latest signed checkpoint of the audit log",
        "audit",
        None,
        &[],
    ),
    op(
        "get",
        "/audit/proofs/inclusion",
        "RFC 9162 inclusion proof of one event",
        "audit",
        None,
        &["seq!", "tree_size"],
    ),
    op(
        "get",
        "/audit/proofs/consistency",
        "RFC 9162 consistency proof between two tree sizes",
        "audit",
        None,
        &["first!", "second"],
    ),
    op(
        "get",
        "/geo/geocode",
        "Geocode a Japanese address: best match (only when unambiguous), candidates, match level",
        "geo",
        None,
        &["q!", "limit"],
    ),
    op(
        "get",
        "/geo/suggest",
        "Type-ahead address suggestions",
        "geo",
        None,
        &["q!", "limit"],
    ),
    op(
        "get",
        "/geo/reverse",
        "Municipality and answering station of a point",
        "geo",
        None,
        &["lat!", "lon!"],
    ),
    op(
        "get",
        "/geo/route",
        "Road travel time and distance between two points",
        "geo",
        None,
        &["from_lat!", "from_lon!", "to_lat!", "to_lon!"],
    ),
    op(
        "get",
        "/geo/boundaries",
        "Municipality boundaries in a bounding box (min_lon,min_lat,max_lon,max_lat), as GeoJSON polygons",
        "geo",
        None,
        &["bbox!"],
    ),
    op(
        "get",
        "/geo/roads",
        "Road network segments in a bounding box (at most 0.6 degrees a side), as GeoJSON lines",
        "geo",
        None,
        &["bbox!"],
    ),
    op(
        "post",
        "/calls",
        "Record a 110 call; answers with likely duplicate incidents",
        "dispatch",
        Some("NewCall"),
        &[],
    ),
    op(
        "get",
        "/incident-types",
        "Incident types and disposition codes in force",
        "dispatch",
        None,
        &[],
    ),
    op(
        "get",
        "/incidents",
        "Incidents in scope, newest first",
        "dispatch",
        None,
        &["open", "limit"],
    ),
    op(
        "post",
        "/incidents",
        "Create an incident (optionally linking calls)",
        "dispatch",
        Some("NewIncident"),
        &[],
    ),
    op(
        "get",
        "/incidents/{id}",
        "One incident with its timeline",
        "dispatch",
        None,
        &[],
    ),
    op(
        "post",
        "/incidents/{id}/transitions",
        "Move an incident: dispatch, arrive_on_scene, clear, close, cancel, reopen",
        "dispatch",
        Some("Transition"),
        &[],
    ),
    op(
        "put",
        "/incidents/{id}/calls/{call_id}",
        "Link a call to an incident",
        "dispatch",
        None,
        &[],
    ),
    op(
        "get",
        "/incidents/{id}/recommendation",
        "Every unit ranked by travel time, with the reason for each one left out",
        "dispatch",
        None,
        &["max_position_age_s"],
    ),
    op(
        "get",
        "/incidents/{id}/assignments",
        "Units assigned to an incident, with their timelines",
        "dispatch",
        None,
        &[],
    ),
    op(
        "post",
        "/incidents/{id}/assignments",
        "Dispatch units to an incident in one action",
        "dispatch",
        Some("Dispatch"),
        &[],
    ),
    op(
        "put",
        "/incidents/{id}/assignments/{unit_id}",
        "A unit's step: acknowledged, en_route, on_scene, transporting, cleared",
        "dispatch",
        Some("AssignmentStep"),
        &[],
    ),
    op(
        "get",
        "/stats/response-times",
        "Response times (call to dispatch, dispatch to arrival) per station and prefecture",
        "dispatch",
        None,
        &["from!", "to!"],
    ),
    op(
        "get",
        "/units",
        "Dispatchable units in scope with position age",
        "dispatch",
        None,
        &[],
    ),
    op(
        "post",
        "/units",
        "Register a dispatchable unit at a station",
        "dispatch",
        Some("NewDispatchUnit"),
        &[],
    ),
    op(
        "post",
        "/units/positions",
        "Batch of AVL position reports (all or none)",
        "dispatch",
        Some("PositionBatch"),
        &[],
    ),
    op(
        "put",
        "/units/{id}/status",
        "Set a unit's status",
        "dispatch",
        Some("UnitStatus"),
        &[],
    ),
    op(
        "post",
        "/units/{id}/emergency",
        "Emergency button: alert every dispatcher watching the unit's prefecture",
        "dispatch",
        Some("Emergency"),
        &[],
    ),
    op(
        "get",
        "/events",
        "Live event stream (WebSocket): incidents, units, positions, assignments, messages; resumable with `after`",
        "dispatch",
        None,
        &["after"],
    ),
    op(
        "post",
        "/messages",
        "Send a message (text, JPEG/PNG image, location) to a unit, a station or everyone in scope; field officers report to the command room (`to: command`)",
        "dispatch",
        Some("NewMessage"),
        &[],
    ),
    op(
        "get",
        "/messages/{id}",
        "A sent message with its delivery and read receipts",
        "dispatch",
        None,
        &[],
    ),
    op(
        "post",
        "/messages/{id}/read",
        "Mark a message read on a unit's terminal",
        "dispatch",
        Some("ReadReceipt"),
        &[],
    ),
    op(
        "get",
        "/units/{id}/messages",
        "A unit's inbox (fetching marks delivery)",
        "dispatch",
        None,
        &[],
    ),
    op(
        "get",
        "/incidents/{id}/eido",
        "The incident as a NENA EIDO document (calls, assigned units, notes)",
        "dispatch",
        None,
        &[],
    ),
    op(
        "post",
        "/eido",
        "Import another agency's NENA EIDO document as an incident (or update the one imported before); 422 eido_invalid lists every schema violation",
        "dispatch",
        Some("EidoDocument"),
        &[],
    ),
    op(
        "post",
        "/records",
        "Enter a registry record (pending a second person's verification); answers the other owners' records on the same subject",
        "registry",
        Some("RecordFile"),
        &[],
    ),
    op(
        "get",
        "/records/{id}",
        "One registry record of one's prefecture",
        "registry",
        None,
        &[],
    ),
    op(
        "put",
        "/records/{id}",
        "Modify one's own record (the whole file, same kind)",
        "registry",
        Some("RecordFile"),
        &[],
    ),
    op(
        "get",
        "/records/{id}/history",
        "A record's history and hit confirmation requests",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/verify",
        "Second-person verification of a new entry",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/cancel",
        "Cancel one's own record",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/validate",
        "Validate one's own record (60–90 days after entry, then yearly)",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/clear",
        "Clear one's own record (found or recovered)",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/locate",
        "Locate a record after a confirmed hit",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/hit-requests",
        "Ask the owner to confirm a hit (urgent 10 min, routine 1 h)",
        "registry",
        Some("HitRequest"),
        &[],
    ),
    op(
        "post",
        "/records/{id}/hit-requests/{request_id}/resend",
        "Re-send an unanswered hit confirmation request",
        "registry",
        None,
        &[],
    ),
    op(
        "post",
        "/records/{id}/hit-requests/{request_id}/response",
        "Answer a hit confirmation request (owner)",
        "registry",
        Some("HitResponse"),
        &[],
    ),
    op(
        "post",
        "/registry/inquiries",
        "Query the national registry by plate, VIN, document, serial or person (needs officer and purpose)",
        "registry",
        Some("Inquiry"),
        &[],
    ),
    op(
        "post",
        "/registry/screenings",
        "Screen a passenger manifest (up to 300) against the person and travel-document files",
        "registry",
        Some("Manifest"),
        &[],
    ),
    op(
        "get",
        "/registry/hit-requests",
        "The hit-confirmation work queue of one's prefectures, soonest due first: side=owner (requests to answer) or side=inquirer (requests sent); overdue=true|false",
        "registry",
        None,
        &["side!", "overdue", "limit"],
    ),
    op(
        "get",
        "/registry/inquiries",
        "Who queried a subject or hit a record, when and why (auditors); a person's name is searched in the other scripts the registry holds for it",
        "registry",
        None,
        &[
            "record_id",
            "plate",
            "vehicle_id",
            "document_number",
            "issuing_state",
            "document_type",
            "firearm_serial",
            "firearm_make",
            "article_serial",
            "owner_applied_number",
            "name",
            "date_of_birth",
            "limit",
        ],
    ),
];

fn error_responses(auth: bool) -> Value {
    let err = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut r = json!({
        "400": err, "404": err, "413": err, "415": err, "422": err, "503": err,
    });
    if auth {
        r["401"] = err.clone();
        r["403"] = err.clone();
    }
    r
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for o in OPERATIONS {
        let mut params: Vec<Value> = Vec::new();
        for seg in o.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        for q in o.query {
            let (name, required) = match q.strip_suffix('!') {
                Some(n) => (n, true),
                None => (*q, false),
            };
            params.push(json!({"name": name, "in": "query", "required": required, "schema": {"type": "string"}}));
        }
        let mut responses = error_responses(o.auth);
        responses["200"] = json!({"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}});
        let mut operation = json!({
            "summary": o.summary,
            "tags": [o.tag],
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if o.auth {
            operation["security"] = json!([{"bearer": []}]);
        } else {
            operation["security"] = json!([]);
            operation["responses"]["429"] = json!({"description": "Too many logon attempts"});
        }
        match o.body {
            Some("csv") => {
                operation["requestBody"] = json!({"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}});
            }
            Some(schema) => {
                operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
            }
            None => {}
        }
        let entry = paths
            .entry(format!("/api/v1{}", o.path))
            .or_insert_with(|| json!({}));
        entry[o.method] = operation;
    }
    paths.insert("/healthz".into(), json!({"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "Alive"}}}}));
    paths.insert("/readyz".into(), json!({"get": {"summary": "Readiness (storage and audit log reachable)", "security": [], "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}}));

    let s = |props: Value, required: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": required});
    let string = json!({"type": "string"});
    let roles = json!({"type": "array", "items": {"type": "string", "enum": ["call_taker", "dispatcher", "field_officer", "query_operator", "records_clerk", "analyst", "auditor", "administrator"]}});
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "koban API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Police information & communications platform. Every call except logon needs a bearer token; every access to police data is recorded in a tamper-evident audit log. Errors have the shape {\"error\":{\"code\":\"…\",\"message\":\"…\",\"field\":\"…\"}}. State why you access data in the X-Koban-Purpose header where required."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": s(json!({"error": s(json!({"code": string, "message": string, "field": string, "lines": {"type": "array", "items": {"type": "object"}}}), &["code", "message"])}), &["error"]),
                "LoginRequest": s(json!({"username": string, "password": string, "totp_code": string, "terminal_key": string}), &["username", "password", "totp_code"]),
                "PasswordChange": s(json!({"current_password": string, "new_password": string}), &["current_password", "new_password"]),
                "PasswordReset": s(json!({"new_password": string}), &["new_password"]),
                "NewUnit": s(json!({"id": string, "kind": {"type": "string", "enum": ["station", "koban", "chuzaisho"]}, "parent_id": string, "name_ja": string, "name_en": string, "pref_code": {"type": "string", "pattern": "^(0[1-9]|[1-3][0-9]|4[0-7])$"}, "latitude": {"type": "number"}, "longitude": {"type": "number"}, "address": string}), &["id", "kind", "parent_id", "name_ja", "name_en", "pref_code"]),
                "UnitPatch": s(json!({"name_ja": string, "name_en": string, "latitude": {"type": "number"}, "longitude": {"type": "number"}, "address": string, "disabled": {"type": "boolean"}}), &[]),
                "NewUser": s(json!({"username": string, "display_name": string, "unit_id": string, "roles": roles, "password": string, "allow_concurrent": {"type": "boolean"}}), &["username", "display_name", "unit_id", "roles", "password"]),
                "UserPatch": s(json!({"display_name": string, "unit_id": string, "roles": roles, "allow_concurrent": {"type": "boolean"}}), &[]),
                "NewCall": s(json!({"caller_number": string, "received_at": string, "answered_at": string, "caller_location": {"type": "object"}, "language": string, "statement": string, "type_code": string}), &["statement"]),
                "NewIncident": s(json!({"type_code": string, "priority": {"type": "integer", "minimum": 1, "maximum": 5}, "location": {"type": "object"}, "narrative": string, "cautions": {"type": "object"}, "call_ids": {"type": "array", "items": string}}), &["type_code", "location"]),
                "EidoDocument": {"type": "object", "description": "A NENA EIDO document (root EmergencyIncidentDataObjectType of the NENA EIDO OpenAPI schema)"},
                "Transition": s(json!({"command": {"type": "string", "enum": ["dispatch", "arrive_on_scene", "clear", "close", "cancel", "reopen"]}, "disposition": string, "note": string}), &["command"]),
                "NewDispatchUnit": s(json!({"id": string, "kind": {"type": "string", "enum": ["patrol_car", "motorcycle", "foot_patrol", "aircraft", "boat"]}, "capabilities": {"type": "array", "items": string}, "crew_count": {"type": "integer"}, "home_station_id": string, "status": string}), &["id", "kind", "crew_count", "home_station_id"]),
                "PositionBatch": s(json!({"positions": {"type": "array", "items": {"type": "object", "properties": {"unit_id": string, "lat": {"type": "number"}, "lon": {"type": "number"}, "at": string, "heading_deg": {"type": "number"}, "speed_kmh": {"type": "number"}}}}}), &["positions"]),
                "Dispatch": s(json!({"unit_ids": {"type": "array", "items": string}}), &["unit_ids"]),
                "AssignmentStep": s(json!({"step": {"type": "string", "enum": ["acknowledged", "en_route", "on_scene", "transporting", "cleared"]}}), &["step"]),
                "UnitStatus": s(json!({"status": string}), &["status"]),
                "NewMessage": s(json!({"to": {"type": "string", "enum": ["unit", "station", "scope", "command"]}, "target_id": string, "incident_id": string, "text": string, "location": {"type": "object"}, "image_base64": string}), &["to"]),
                "ReadReceipt": s(json!({"unit_id": string}), &["unit_id"]),
                "Emergency": s(json!({"lat": {"type": "number"}, "lon": {"type": "number"}}), &[]),
                "NewTerminal": s(json!({"name": string, "unit_id": string, "idle_exempt": {"type": "boolean"}}), &["name", "unit_id"]),
            }
        }
    });
    registry_schemas(&mut doc["components"]["schemas"]);
    doc
}

/// The schemas of the registry's request bodies (kept apart: the main literal is at the
/// macro recursion limit).
fn registry_schemas(schemas: &mut Value) {
    let string = json!({"type": "string"});
    schemas["RecordFile"] = json!({"type": "object", "required": ["kind"], "description": "A record file: `kind` (wanted, missing, unidentified, stolen_vehicle, stolen_plate, stolen_firearm, stolen_article, travel_document) and that file's fields", "properties": {"kind": string}});
    schemas["HitRequest"] = json!({"type": "object", "additionalProperties": false, "properties": {"priority": {"type": "string", "enum": ["urgent", "routine"]}}});
    schemas["HitResponse"] = json!({"type": "object", "additionalProperties": false, "required": ["answer"], "properties": {"answer": {"type": "string", "enum": ["confirmed", "not_confirmed", "need_more_time"]}, "extra_minutes": {"type": "integer", "minimum": 1, "maximum": 1440}}});
    schemas["Manifest"] = json!({"type": "object", "additionalProperties": false, "required": ["passengers", "officer"], "properties": {
        "passengers": {"type": "array", "maxItems": 300, "items": {"type": "object", "required": ["passenger_id", "name", "date_of_birth"], "properties": {
            "passenger_id": string, "name": string, "date_of_birth": string, "document_number": string, "issuing_state": string}}},
        "dob_tolerance_years": {"type": "integer", "minimum": 0, "maximum": 5}, "officer": string, "purpose": string}});
    schemas["Inquiry"] = json!({"type": "object", "description": "Exactly one kind of key, plus officer and purpose (or the X-Koban-Purpose header)", "required": ["officer"], "properties": {
        "plate": string, "vehicle_id": string, "document_number": string, "issuing_state": string,
        "document_type": string, "firearm_serial": string, "firearm_make": string,
        "article_serial": string, "owner_applied_number": string, "name": string,
        "date_of_birth": string, "dob_tolerance_years": {"type": "integer", "minimum": 0, "maximum": 5},
        "officer": string, "purpose": string}});
}
