//! A validator for the subset of OpenAPI 3.0 schemas that the NENA EIDO schema file uses.
//!
//! The file is read once (YAML text in, [`Schema`] out) and every document is then checked
//! against `components/schemas/EmergencyIncidentDataObjectType`. Every violation is reported
//! with the JSON pointer of the value at fault, up to [`Limits::max_violations`], so that a
//! sending agency can fix its whole document at once rather than one error per round trip.
//!
//! Supported keywords: `$ref` (to `#/components/schemas/...`), `allOf`, `type`, `required`,
//! `properties`, `items`, `enum`, `minItems`, `maxItems`, `minLength`, `maxLength`,
//! `format` (`date-time` strictly, `uri` and `uri-reference` loosely, `int32`). `$ref`s into
//! other files (the NIEM components) are not followed: what they describe is accepted
//! unchecked. A schema that uses any other validation keyword is refused when it is loaded:
//! silently ignoring a constraint would accept documents the schema's authors meant to
//! refuse.

use serde_json::{Map, Value};

use crate::EidoError;

/// The root type every EIDO document must be.
pub const ROOT_TYPE: &str = "EmergencyIncidentDataObjectType";
/// Most `$ref` hops followed without descending into the document; more means a cycle.
const MAX_REF_HOPS: usize = 32;

/// Keywords that only describe and never constrain; they are skipped.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "example",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "externalDocs",
    "xml",
    "nullable",
];
/// Keywords this validator enforces.
const SUPPORTED: &[&str] = &[
    "$ref",
    "allOf",
    "type",
    "required",
    "properties",
    "items",
    "enum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "format",
];
/// Keywords whose value is a count and must be a non-negative integer.
const COUNTS: &[&str] = &["minItems", "maxItems", "minLength", "maxLength"];

/// Bounds on the work one document may cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes of JSON text.
    pub max_document_bytes: usize,
    /// Deepest nesting of objects and arrays examined.
    pub max_depth: usize,
    /// Most violations reported; validation stops after that many.
    pub max_violations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 1024 * 1024,
            max_depth: 48,
            max_violations: 100,
        }
    }
}

/// One way a document fails the schema.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// JSON pointer (RFC 6901) of the value at fault; for `required`, of the missing member.
    pub pointer: String,
    /// The schema keyword that failed: `required`, `type`, `enum`, `format`, `minItems`, …
    pub keyword: &'static str,
    /// What was expected, in words.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.pointer, self.keyword, self.message)
    }
}

/// The outcome of validating a document that failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Invalid {
    /// The violations found, in document order.
    pub violations: Vec<Violation>,
    /// True when validation stopped at [`Limits::max_violations`] and more may exist.
    pub truncated: bool,
}

/// A loaded, checked EIDO schema.
#[derive(Clone, Debug)]
pub struct Schema {
    schemas: Map<String, Value>,
    limits: Limits,
}

impl Schema {
    /// Reads the OpenAPI YAML text of the EIDO schema.
    ///
    /// Refuses a file without `components/schemas/EmergencyIncidentDataObjectType`, with a
    /// `$ref` that does not resolve, or with a validation keyword this validator cannot
    /// enforce.
    pub fn from_yaml(text: &str) -> Result<Schema, EidoError> {
        let doc: Value =
            yaml_serde::from_str(text).map_err(|e| EidoError::Schema(format!("YAML: {e}")))?;
        Schema::from_openapi(doc)
    }

    /// Builds the validator from the OpenAPI document already turned into JSON values.
    pub fn from_openapi(mut doc: Value) -> Result<Schema, EidoError> {
        let schemas = match doc
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
            .map(Value::take)
        {
            Some(Value::Object(m)) => m,
            _ => return Err(EidoError::Schema("no components/schemas object".into())),
        };
        let mut schema = Schema {
            schemas,
            limits: Limits::default(),
        };
        if !schema.schemas.contains_key(ROOT_TYPE) {
            return Err(EidoError::Schema(format!("no schema named {ROOT_TYPE}")));
        }
        let names: Vec<String> = schema.schemas.keys().cloned().collect();
        for name in names {
            if let Some(s) = schema.schemas.get_mut(&name) {
                normalise(s, &format!("#/components/schemas/{name}"))?;
            }
        }
        for (name, s) in &schema.schemas {
            schema.check_refs(s, &format!("#/components/schemas/{name}"))?;
        }
        Ok(schema)
    }

    /// The same schema with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Schema {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Parses JSON text and validates it, refusing text over the size limit.
    pub fn parse_and_validate(&self, bytes: &[u8]) -> Result<Value, EidoError> {
        if bytes.len() > self.limits.max_document_bytes {
            return Err(EidoError::TooLarge {
                max_bytes: self.limits.max_document_bytes,
            });
        }
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| EidoError::NotJson(e.to_string()))?;
        self.validate(&doc).map_err(EidoError::Invalid)?;
        Ok(doc)
    }

    /// Checks a document against `EmergencyIncidentDataObjectType`.
    pub fn validate(&self, doc: &Value) -> Result<(), Invalid> {
        let mut out = Out {
            violations: Vec::new(),
            truncated: false,
            max: self.limits.max_violations.max(1),
        };
        let root = Value::String(format!("#/components/schemas/{ROOT_TYPE}"));
        let mut root_schema = Map::new();
        root_schema.insert("$ref".into(), root);
        let mut path = String::new();
        self.check(&Value::Object(root_schema), doc, &mut path, 0, 0, &mut out);
        if out.violations.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                violations: out.violations,
                truncated: out.truncated,
            })
        }
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        reference
            .strip_prefix("#/components/schemas/")
            .and_then(|name| self.schemas.get(name))
    }

    /// Every `$ref` must name a schema of the file, so a typo fails at start-up, not on the
    /// first document that happens to reach it.
    fn check_refs(&self, s: &Value, at: &str) -> Result<(), EidoError> {
        let Some(obj) = s.as_object() else {
            return Ok(());
        };
        if let Some(r) = obj.get("$ref") {
            match r.as_str() {
                Some(r) if self.resolve(r).is_some() || is_external(r) => {}
                _ => {
                    return Err(EidoError::Schema(format!(
                        "{at}: $ref {r} does not name a schema of the file"
                    )));
                }
            }
        }
        for (i, sub) in obj
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.check_refs(sub, &format!("{at}/allOf/{i}"))?;
        }
        if let Some(items) = obj.get("items") {
            self.check_refs(items, &format!("{at}/items"))?;
        }
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (name, sub) in props {
                self.check_refs(sub, &format!("{at}/properties/{name}"))?;
            }
        }
        Ok(())
    }

    fn check(
        &self,
        schema: &Value,
        value: &Value,
        path: &mut String,
        depth: usize,
        hops: usize,
        out: &mut Out,
    ) {
        if out.full() {
            // Stopped with work left: more violations may exist.
            out.truncated = true;
            return;
        }
        let Some(s) = schema.as_object() else {
            return;
        };
        // In OpenAPI 3.0 a `$ref` replaces its object: siblings (often a description) are
        // ignored, as the specification says.
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            if is_external(r) {
                return;
            }
            match self.resolve(r) {
                Some(target) if hops < MAX_REF_HOPS => {
                    self.check(target, value, path, depth, hops + 1, out)
                }
                _ => out.push(
                    path,
                    "$ref",
                    format!("schema reference {r} cannot be followed"),
                ),
            }
            return;
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, value, path, depth, hops + 1, out);
            }
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            if !type_matches(t, value) {
                out.push(path, "type", format!("must be {} {t}", article(t)));
                // The other keywords would only restate the same mistake.
                return;
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                out.push(path, "enum", format!("must be one of {}", list.join(", ")));
            }
        }
        if let (Some(f), Some(text)) = (s.get("format").and_then(Value::as_str), value.as_str()) {
            if let Some(problem) = format_problem(f, text) {
                out.push(path, "format", problem);
            }
        }
        if let (Some(f), Some(_)) = (s.get("format").and_then(Value::as_str), value.as_number()) {
            if f == "int32" && value.as_i64().and_then(|n| i32::try_from(n).ok()).is_none() {
                out.push(path, "format", "must be a 32-bit integer".into());
            }
        }
        if let Some(text) = value.as_str() {
            let chars = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if chars < min {
                    out.push(path, "minLength", format!("at least {min} characters"));
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if chars > max {
                    out.push(path, "maxLength", format!("at most {max} characters"));
                }
            }
        }
        match value {
            Value::Object(members) => {
                if let Some(required) = s.get("required").and_then(Value::as_array) {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !members.contains_key(name) {
                            let len = path.len();
                            push_token(path, name);
                            out.push(path, "required", "is required".into());
                            path.truncate(len);
                        }
                    }
                }
                if let Some(Value::Object(props)) = s.get("properties") {
                    for (name, v) in members {
                        let Some(sub) = props.get(name) else {
                            continue;
                        };
                        if depth + 1 > self.limits.max_depth {
                            out.push(
                                path,
                                "depth",
                                format!("nested deeper than {} levels", self.limits.max_depth),
                            );
                            return;
                        }
                        let len = path.len();
                        push_token(path, name);
                        self.check(sub, v, path, depth + 1, 0, out);
                        path.truncate(len);
                    }
                }
            }
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                    if n < min {
                        out.push(path, "minItems", format!("at least {min} items"));
                    }
                }
                if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                    if n > max {
                        out.push(path, "maxItems", format!("at most {max} items"));
                    }
                }
                if let Some(sub) = s.get("items") {
                    if depth + 1 > self.limits.max_depth && !items.is_empty() {
                        out.push(
                            path,
                            "depth",
                            format!("nested deeper than {} levels", self.limits.max_depth),
                        );
                        return;
                    }
                    for (i, v) in items.iter().enumerate() {
                        let len = path.len();
                        path.push('/');
                        path.push_str(&i.to_string());
                        self.check(sub, v, path, depth + 1, 0, out);
                        path.truncate(len);
                        if out.full() {
                            return;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a `$ref` points into another file. The EIDO file refers to NIEM component files
/// (`NIEMComponents/nc.yaml#/...`) for persons, organisations, vehicles and items, which NENA
/// does not publish beside it; values there are accepted unchecked rather than refusing
/// every document that describes a person.
fn is_external(reference: &str) -> bool {
    !reference.starts_with('#')
}

/// Collected violations with the cap applied.
struct Out {
    violations: Vec<Violation>,
    truncated: bool,
    max: usize,
}

impl Out {
    fn full(&self) -> bool {
        self.violations.len() >= self.max
    }

    fn push(&mut self, path: &str, keyword: &'static str, message: String) {
        if self.full() {
            self.truncated = true;
            return;
        }
        let pointer = if path.is_empty() { "/" } else { path };
        // Two `allOf` branches may both demand the same thing (every EIDO component is
        // `allOf: [Prologue, {type: object}]`); one report of it is enough.
        if self
            .violations
            .iter()
            .any(|v| v.pointer == pointer && v.keyword == keyword)
        {
            return;
        }
        self.violations.push(Violation {
            pointer: pointer.to_string(),
            keyword,
            message,
        });
    }
}

/// Appends one RFC 6901 reference token (`~` and `/` escaped).
fn push_token(path: &mut String, name: &str) {
    path.push('/');
    for c in name.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

fn article(t: &str) -> &'static str {
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        // JSON has one number type; an integer is a number without a fractional part.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        // Unknown names were refused when the schema was loaded.
        _ => false,
    }
}

/// What is wrong with `text` for format `f`, if anything. Unknown formats are annotations
/// in OpenAPI 3.0 and pass.
fn format_problem(f: &str, text: &str) -> Option<String> {
    match f {
        "date-time" => {
            if is_date_time(text) {
                None
            } else {
                Some("must be an RFC 3339 date-time, e.g. 2026-01-31T09:30:00+09:00".into())
            }
        }
        // Loosely: a scheme, a colon, and no spaces or controls. A full RFC 3986 parser
        // would refuse little more in practice and is not worth its weight here.
        "uri" => {
            let scheme_ok = text.split_once(':').is_some_and(|(scheme, _)| {
                scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
            if scheme_ok && !text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                None
            } else {
                Some("must be an absolute URI".into())
            }
        }
        "uri-reference" => {
            if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some("must be a URI reference".into())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// RFC 3339 `date-time` (section 5.6), checked with the `time` crate's strict parser.
pub fn is_date_time(text: &str) -> bool {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Checks one schema object of the file and repairs the known typo, recursively.
fn normalise(s: &mut Value, at: &str) -> Result<(), EidoError> {
    let Some(obj) = s.as_object_mut() else {
        return Err(EidoError::Schema(format!(
            "{at}: a schema must be an object"
        )));
    };
    for (key, v) in obj.iter_mut() {
        let k = key.as_str();
        if ANNOTATIONS.contains(&k) {
            continue;
        }
        if !SUPPORTED.contains(&k) {
            return Err(EidoError::Schema(format!(
                "{at}: keyword {k} is not supported by this validator"
            )));
        }
        if COUNTS.contains(&k) {
            // The published EIDO file has `minItems: 1,` on AgentType.agentRoleRegistryText
            // (a stray comma, so YAML reads the string "1,"). NENA plainly meant 1: treat a
            // count written as digits with trailing punctuation as that number, and refuse
            // anything else so other mistakes still surface.
            let n = match &*v {
                Value::Number(n) => n.as_u64(),
                Value::String(t) => t.trim().trim_end_matches([',', ';']).trim().parse().ok(),
                _ => None,
            };
            match n {
                Some(n) => *v = Value::from(n),
                None => {
                    return Err(EidoError::Schema(format!(
                        "{at}: {k} must be a non-negative integer, found {v}"
                    )));
                }
            }
        }
        if k == "type" {
            let ok = v.as_str().is_some_and(|t| {
                ["object", "array", "string", "integer", "number", "boolean"].contains(&t)
            });
            if !ok {
                return Err(EidoError::Schema(format!("{at}: unknown type {v}")));
            }
        }
    }
    if let Some(Value::Array(all)) = obj.get_mut("allOf") {
        for (i, sub) in all.iter_mut().enumerate() {
            normalise(sub, &format!("{at}/allOf/{i}"))?;
        }
    }
    if let Some(items) = obj.get_mut("items") {
        normalise(items, &format!("{at}/items"))?;
    }
    if let Some(props) = obj.get_mut("properties") {
        let Some(props) = props.as_object_mut() else {
            return Err(EidoError::Schema(format!(
                "{at}: properties must be an object"
            )));
        };
        for (name, sub) in props.iter_mut() {
            normalise(sub, &format!("{at}/properties/{name}"))?;
        }
    }
    Ok(())
}
