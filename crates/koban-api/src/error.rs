//! The one error shape of the HTTP API: `{"error":{"code":"…","message":"…"}}`, with
//! `field` naming the offending request field where there is one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use koban_service::{LineProblem, ServiceError};
use serde::Serialize;

/// An API error: status, stable machine-readable code, human message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub lines: Vec<LineProblem>,
    /// Every schema violation of a refused EIDO document (boxed: rare, and every result
    /// of every handler carries this type).
    pub eido: Option<Box<koban_eido::Invalid>>,
    pub retry_after_s: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    lines: &'a [LineProblem],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    violations: &'a [koban_eido::Violation],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    violations_truncated: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            lines: Vec::new(),
            eido: None,
            retry_after_s: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                lines: &self.lines,
                violations: self.eido.as_deref().map_or(&[], |i| &i.violations[..]),
                violations_truncated: self.eido.as_deref().is_some_and(|i| i.truncated),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            ServiceError::Unauthenticated { reason } => {
                let mut err = ApiError::new(S::UNAUTHORIZED, "unauthenticated", msg);
                // The precise reason lets a console tell "locked for inactivity" from
                // "logged out elsewhere" without exposing anything sensitive.
                err.code = match reason {
                    "session_idle_timeout" => "session_idle_timeout",
                    "session_expired" => "session_expired",
                    _ => "unauthenticated",
                };
                err
            }
            ServiceError::InvalidCredentials => {
                ApiError::new(S::UNAUTHORIZED, "invalid_credentials", msg)
            }
            ServiceError::AccountLocked => ApiError::new(S::LOCKED, "account_locked", msg),
            ServiceError::AccountDisabled => ApiError::new(S::FORBIDDEN, "account_disabled", msg),
            ServiceError::Forbidden { .. } => ApiError::new(S::FORBIDDEN, "forbidden", msg),
            ServiceError::NotFound { .. } => ApiError::new(S::NOT_FOUND, "not_found", msg),
            ServiceError::Invalid {
                field,
                code,
                message,
            } => ApiError::new(S::UNPROCESSABLE_ENTITY, code, format!("{field}: {message}"))
                .field(field),
            ServiceError::InvalidLines(lines) => {
                let mut err = ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_lines", msg);
                err.lines = lines;
                err
            }
            ServiceError::InvalidEido(invalid) => {
                // The first violation names the field, as for any invalid request; the
                // whole list lets the sender fix its document in one go.
                let mut err = ApiError::new(S::UNPROCESSABLE_ENTITY, "eido_invalid", msg);
                err.field = invalid.violations.first().map(|v| v.pointer.clone());
                err.eido = Some(Box::new(invalid));
                err
            }
            ServiceError::Conflict { code, message } => ApiError::new(S::CONFLICT, code, message),
            ServiceError::AuditIntegrity(_) => {
                tracing::error!(error = %msg, "audit log integrity failure");
                ApiError::new(S::INTERNAL_SERVER_ERROR, "audit_integrity", msg)
            }
            ServiceError::Unavailable { code, message } => {
                ApiError::new(S::SERVICE_UNAVAILABLE, code, message)
            }
            ServiceError::Store(inner) => {
                tracing::error!(error = %inner, "storage error");
                ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is unavailable; nothing was changed",
                )
            }
            ServiceError::Internal(inner) => {
                tracing::error!(error = %inner, "internal error");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; nothing was changed",
                )
            }
        }
    }
}
