//! The browser console's side of the API: map layers generated from the imported
//! reference data, and the console's own files (built into the binary by the
//! `koban-console` crate) served outside `/api/v1`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use koban_service::mapdata::{MAX_BOUNDARY_SPAN_DEG, MAX_ROAD_SPAN_DEG, parse_bbox};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Bearer};

type ApiResult<T> = Result<T, ApiError>;

/// One file of the console.
#[derive(Debug, Clone, Copy)]
pub struct StaticFile {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// Finds a console file by its path (without the leading `/`; `index.html` for `/`).
pub type StaticLookup = fn(&str) -> Option<StaticFile>;

/// What the console may load: its own files, its own API and event stream, images
/// sent as data URLs, and MapLibre's blob workers. Nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; worker-src 'self' blob:; child-src blob:; connect-src 'self' ws: wss:; \
font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BBoxQuery {
    bbox: String,
}

pub async fn boundaries(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<BBoxQuery>,
) -> ApiResult<impl IntoResponse> {
    let bbox = parse_bbox(&q.bbox, MAX_BOUNDARY_SPAN_DEG)?;
    Ok(Json(s.koban.boundaries_geojson(&t, bbox).await?))
}

pub async fn roads(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<BBoxQuery>,
) -> ApiResult<impl IntoResponse> {
    let bbox = parse_bbox(&q.bbox, MAX_ROAD_SPAN_DEG)?;
    Ok(Json(s.koban.roads_geojson(&t, bbox).await?))
}

/// Everything outside the API: a console file when there is one (the console's
/// screens live behind `#` routes, so any other path is simply not found).
pub async fn fallback(State(s): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let lookup = s.console.filter(|_| {
        (method == Method::GET || method == Method::HEAD) && !path.starts_with("/api/")
    });
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    let Some(file) = lookup.and_then(|f| f(name)) else {
        return ApiError::not_found().into_response();
    };
    let mut resp = (StatusCode::OK, file.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    // Bundled assets carry a content hash in their names; the page itself must be
    // revalidated so a new build is picked up.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
