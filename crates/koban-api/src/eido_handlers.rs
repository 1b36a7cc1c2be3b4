//! NENA EIDO routes: `GET /incidents/{id}/eido` writes an incident as an EIDO document and
//! `POST /eido` imports one from another agency.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::AppState;
use crate::extract::{ApiJson, Bearer, Ctx};
use crate::handlers::ApiResult;

pub async fn export_eido(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.export_eido(&ctx, &t, &id).await?))
}

/// 201 with the new incident, or 200 when an earlier import of the same incident was
/// updated.
pub async fn import_eido(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(doc): ApiJson<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    let view = s.koban.import_eido(&ctx, &t, doc).await?;
    let status = if view.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}
