//! Request extractors that turn every kind of bad input into an [`ApiError`] naming the
//! field, instead of axum's plain-text rejections.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Rejects a missing or wrong content type, oversize bodies, malformed JSON,
/// wrong types and unknown fields, each with its own code and the path of the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads the body, mapping the body-size limit to 413.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                rejection.body_text(),
            )
        }
    })
}

/// Parses JSON with the path of the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let (code, status) = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ("invalid_json", StatusCode::BAD_REQUEST)
            }
            _ => ("invalid_field", StatusCode::UNPROCESSABLE_ENTITY),
        };
        let msg = inner.to_string();
        let field = if path == "." {
            // serde reports unknown and missing fields at the parent; pull the name out
            // of the message so the client still learns which field.
            backticked(&msg).unwrap_or_default()
        } else {
            path
        };
        let message = if field.is_empty() {
            msg
        } else {
            format!("{field}: {msg}")
        };
        let e = ApiError::new(status, code, message);
        if field.is_empty() { e } else { e.field(field) }
    })
}

fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// Query parameters, with a JSON error naming the bad parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_de(q);
        de.map(ApiQuery)
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    // axum's own Query extractor already depends on serde_urlencoded; reuse it through
    // axum to avoid a second parser, and keep its message (which names the parameter).
    let uri: axum::http::Uri = format!("/?{q}").parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "malformed query string",
        )
    })?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|axum::extract::Query(v)| v)
        .map_err(|e| {
            let text = e.body_text();
            let e2 = ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", text.clone());
            match backticked(&text) {
                Some(f) => e2.field(f),
                None => e2,
            }
        })
}

/// The bearer token of the request.
#[derive(Debug)]
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256);
        match value {
            Some(t) => Ok(Bearer(t.to_string())),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "an Authorization: Bearer token is required",
            )),
        }
    }
}

/// Audit context of the request: client address, request id and stated purpose.
#[derive(Debug, Clone)]
pub struct Ctx(pub koban_service::RequestCtx);

/// Header in which a client states why it is accessing data.
pub const PURPOSE_HEADER: &str = "x-koban-purpose";

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string());
        let request_id = parts
            .extensions
            .get::<crate::RequestId>()
            .map(|r| r.0.clone());
        let purpose = match parts.headers.get(PURPOSE_HEADER) {
            None => None,
            Some(v) => {
                let s = v.to_str().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_purpose",
                        "the purpose header must be visible ASCII; percent-encode other text",
                    )
                    .field(PURPOSE_HEADER)
                })?;
                if s.len() > 500 {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_purpose",
                        "the purpose is too long",
                    )
                    .field(PURPOSE_HEADER));
                }
                Some(s.to_string())
            }
        };
        Ok(Ctx(koban_service::RequestCtx {
            client_addr,
            request_id,
            purpose,
        }))
    }
}

/// Decodes `%XX` escapes into UTF-8 text; `None` for a malformed escape or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("case%20123").unwrap(), "case 123");
        assert_eq!(percent_decode("%E6%8D%9C%E6%9F%BB").unwrap(), "捜査");
        assert!(percent_decode("%E6%8D").is_none(), "truncated UTF-8");
        assert!(percent_decode("%G1").is_none());
        assert!(percent_decode("abc%").is_none());
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
            b: Vec<String>,
        }
        let e = parse_json::<T>(br#"{"a": "x", "b": []}"#).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_field", Some("a")));
        let e = parse_json::<T>(br#"{"a": 1, "b": [1]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("b[0]"));
        let e = parse_json::<T>(br#"{"a": 1, "b": [], "c": 0}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("c"));
        let e = parse_json::<T>(br#"{"a": 1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("b"));
        let e = parse_json::<T>(b"{").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        assert!(parse_json::<T>(br#"{"a": 1, "b": ["x"]}"#).is_ok());
    }
}
