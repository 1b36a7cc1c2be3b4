//! Handlers of the national records registry: thin translations between JSON and the
//! registry methods of [`koban_service::Koban`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use koban_registry::RawQuery;
use koban_service::RequestCtx;
use koban_service::registry::{HitQueueQuery, HitRequestIn, HitResponseIn, ManifestIn, WhoQueried};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Bearer, Ctx, PURPOSE_HEADER, percent_decode};

type ApiResult<T> = Result<T, ApiError>;

/// The request context with its purpose percent-decoded: headers carry only visible ASCII,
/// so a purpose written in Japanese arrives encoded, and the audit log must hold the text
/// the officer gave, not its escapes.
fn decoded(mut ctx: RequestCtx) -> ApiResult<RequestCtx> {
    if let Some(p) = ctx.purpose.take() {
        let text = percent_decode(&p).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_purpose",
                "the purpose header has a malformed %-escape or is not UTF-8",
            )
            .field(PURPOSE_HEADER)
        })?;
        ctx.purpose = Some(text);
    }
    Ok(ctx)
}

pub async fn enter_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    let file = koban_service::registry::parse_file(body)?;
    Ok((
        StatusCode::CREATED,
        Json(s.koban.enter_record(&ctx, &t, file).await?),
    ))
}

pub async fn get_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.get_record(&ctx, &t, &id).await?))
}

pub async fn modify_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.modify_record(&ctx, &t, &id, body).await?))
}

pub async fn record_history(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.record_history(&ctx, &t, &id).await?))
}

pub async fn verify_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.verify_record(&ctx, &t, &id).await?))
}

pub async fn cancel_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.cancel_record(&ctx, &t, &id).await?))
}

pub async fn validate_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.validate_record(&ctx, &t, &id).await?))
}

pub async fn clear_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.clear_record(&ctx, &t, &id).await?))
}

pub async fn locate_record(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.locate_record(&ctx, &t, &id).await?))
}

pub async fn request_hit_confirmation(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HitRequestIn>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok((
        StatusCode::CREATED,
        Json(s.koban.request_hit_confirmation(&ctx, &t, &id, b).await?),
    ))
}

pub async fn resend_hit_confirmation(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, request_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(
        s.koban
            .resend_hit_confirmation(&ctx, &t, &id, &request_id)
            .await?,
    ))
}

pub async fn answer_hit_confirmation(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, request_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<HitResponseIn>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(
        s.koban
            .answer_hit_confirmation(&ctx, &t, &id, &request_id, b)
            .await?,
    ))
}

pub async fn inquire(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(q): ApiJson<RawQuery>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.inquire(&ctx, &t, q).await?))
}

pub async fn who_queried(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<WhoQueried>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.who_queried(&ctx, &t, q).await?))
}

pub async fn screen_manifest(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(m): ApiJson<ManifestIn>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.screen_manifest(&ctx, &t, m).await?))
}

pub async fn hit_queue(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<HitQueueQuery>,
) -> ApiResult<impl IntoResponse> {
    let ctx = decoded(ctx)?;
    Ok(Json(s.koban.hit_queue(&ctx, &t, q).await?))
}
