//! The HTTP handlers: thin translations between JSON and [`koban_service::Koban`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use koban_org::{NewUnit, UnitKind};
use koban_service::{
    AccountChange, AuditSearch, LoginRequest, NewTerminal, NewUser, UnitPatch, UserPatch,
};
use koban_store::{UnitFilter, UserFilter};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Bearer, Ctx};

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when storage answers and the audit log can be appended to (its head reads).
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let store = s.koban.store();
    let ok = store.ping().await.is_ok() && store.audit_head().await.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            serde_json::json!({"status": if ok { "ready" } else { "unavailable" }, "database": store.backend().to_string()}),
        ),
    )
}

pub async fn openapi(State(s): State<AppState>, Bearer(t): Bearer) -> ApiResult<impl IntoResponse> {
    s.koban.check_session(&t).await?;
    Ok(Json(crate::openapi::document()))
}

pub async fn login(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    if let Some(ip) = ctx.client_addr.as_deref().and_then(|a| a.parse().ok()) {
        if let Err(wait_s) = s.limiter.check(ip) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many logon attempts; wait and try again",
            );
            e.retry_after_s = Some(wait_s);
            return Err(e);
        }
    }
    Ok(Json(s.koban.login(&ctx, req).await?))
}

pub async fn logout(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    s.koban.logout(&ctx, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn session(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.session(&ctx, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<PasswordChange>,
) -> ApiResult<impl IntoResponse> {
    s.koban
        .change_own_password(&ctx, &t, &b.current_password, &b.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitListQuery {
    kind: Option<UnitKind>,
    parent_id: Option<String>,
    after_id: Option<String>,
    limit: Option<u32>,
}

pub async fn list_units(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<UnitListQuery>,
) -> ApiResult<impl IntoResponse> {
    let filter = UnitFilter {
        prefs: None,
        kind: q.kind,
        parent_id: q.parent_id,
        after_id: q.after_id,
        limit: q.limit.unwrap_or(0),
    };
    Ok(Json(s.koban.list_units(&ctx, &t, filter).await?))
}

pub async fn get_unit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.get_unit(&ctx, &t, &id).await?))
}

/// The JSON form of a new station or box.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUnitBody {
    id: String,
    kind: UnitKind,
    parent_id: String,
    name_ja: String,
    name_en: String,
    pref_code: koban_org::PrefCode,
    latitude: Option<f64>,
    longitude: Option<f64>,
    address: Option<String>,
}

pub async fn create_unit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<NewUnitBody>,
) -> ApiResult<impl IntoResponse> {
    let new = NewUnit {
        id: b.id,
        kind: b.kind,
        parent_id: b.parent_id,
        name_ja: b.name_ja,
        name_en: b.name_en,
        pref_code: b.pref_code,
        latitude: b.latitude,
        longitude: b.longitude,
        address: b.address,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_unit(&ctx, &t, new).await?),
    ))
}

pub async fn update_unit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<UnitPatch>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.update_unit(&ctx, &t, &id, p).await?))
}

pub async fn import_units(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.import_units(&ctx, &t, &body).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    unit_id: Option<String>,
    after_username: Option<String>,
    limit: Option<u32>,
}

pub async fn list_users(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> ApiResult<impl IntoResponse> {
    let filter = UserFilter {
        prefs: None,
        unit_id: q.unit_id,
        after_username: q.after_username,
        limit: q.limit.unwrap_or(0),
    };
    Ok(Json(s.koban.list_users(&ctx, &t, filter).await?))
}

pub async fn create_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<NewUser>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_user(&ctx, &t, b).await?),
    ))
}

pub async fn get_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.get_user(&ctx, &t, &id).await?))
}

pub async fn update_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<UserPatch>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.update_user(&ctx, &t, &id, p).await?))
}

pub async fn unlock_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .change_account(&ctx, &t, &id, AccountChange::Unlock)
            .await?,
    ))
}

pub async fn disable_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .change_account(&ctx, &t, &id, AccountChange::Disable)
            .await?,
    ))
}

pub async fn enable_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .change_account(&ctx, &t, &id, AccountChange::Enable)
            .await?,
    ))
}

pub async fn reset_totp(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.reset_totp(&ctx, &t, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    new_password: String,
}

pub async fn reset_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PasswordReset>,
) -> ApiResult<impl IntoResponse> {
    s.koban
        .reset_password(&ctx, &t, &id, &b.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_grant(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, pref)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.set_grant(&ctx, &t, &id, &pref, true).await?))
}

pub async fn delete_grant(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, pref)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.set_grant(&ctx, &t, &id, &pref, false).await?))
}

pub async fn list_terminals(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.list_terminals(&ctx, &t).await?))
}

pub async fn create_terminal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<NewTerminal>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_terminal(&ctx, &t, b).await?),
    ))
}

pub async fn disable_terminal(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.disable_terminal(&ctx, &t, &id).await?))
}

pub async fn search_audit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<AuditSearch>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.search_audit(&ctx, &t, q).await?))
}

pub async fn audit_checkpoint(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.audit_checkpoint(&ctx, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    tree_size: Option<u64>,
}

pub async fn audit_inclusion(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .audit_inclusion(&ctx, &t, q.seq, q.tree_size)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    first: u64,
    second: Option<u64>,
}

pub async fn audit_consistency(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .audit_consistency(&ctx, &t, q.first, q.second)
            .await?,
    ))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this resource",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeocodeQuery {
    q: String,
    limit: Option<usize>,
}

pub async fn geocode(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<GeocodeQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban.geocode(&t, &q.q, q.limit.unwrap_or(10)).await?,
    ))
}

pub async fn suggest(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<GeocodeQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .suggest_address(&t, &q.q, q.limit.unwrap_or(10))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseQuery {
    lat: f64,
    lon: f64,
}

pub async fn reverse(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<ReverseQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.reverse_geocode(&t, q.lat, q.lon).await?))
}

pub async fn create_call(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<koban_service::incidents::NewCall>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_call(&ctx, &t, b).await?),
    ))
}

pub async fn create_incident(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<koban_service::incidents::NewIncidentIn>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_incident(&ctx, &t, b).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentListQuery {
    open: Option<bool>,
    limit: Option<u32>,
}

pub async fn list_incidents(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<IncidentListQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .list_incidents(&ctx, &t, q.open.unwrap_or(false), q.limit.unwrap_or(200))
            .await?,
    ))
}

pub async fn get_incident(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.get_incident(&ctx, &t, &id).await?))
}

pub async fn transition_incident(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<koban_service::incidents::TransitionIn>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.transition_incident(&ctx, &t, &id, b).await?))
}

pub async fn link_call(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, call_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.link_call(&ctx, &t, &id, &call_id).await?))
}

pub async fn incident_types(
    State(s): State<AppState>,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    s.koban.check_session(&t).await?;
    Ok(Json(serde_json::json!({
        "incident_types": s.koban.config().incident_types,
        "dispositions": s.koban.config().dispositions,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteQuery {
    from_lat: f64,
    from_lon: f64,
    to_lat: f64,
    to_lon: f64,
}

pub async fn route(
    State(s): State<AppState>,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<RouteQuery>,
) -> ApiResult<impl IntoResponse> {
    let from = koban_geo::GeoPoint {
        lat: q.from_lat,
        lon: q.from_lon,
    };
    let to = koban_geo::GeoPoint {
        lat: q.to_lat,
        lon: q.to_lon,
    };
    Ok(Json(s.koban.route(&t, from, to).await?))
}

pub async fn create_dispatch_unit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<koban_service::fleet::NewDispatchUnit>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.create_dispatch_unit(&ctx, &t, b).await?),
    ))
}

pub async fn list_dispatch_units(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.list_dispatch_units(&ctx, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionBatch {
    positions: Vec<koban_service::fleet::PositionReport>,
}

pub async fn report_positions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<PositionBatch>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.report_positions(&ctx, &t, b.positions).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: koban_dispatch::UnitStatus,
}

pub async fn set_unit_status(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<StatusBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban.set_unit_status(&ctx, &t, &id, b.status).await?,
    ))
}

pub async fn unit_emergency(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(at): ApiJson<koban_service::fleet::EmergencyIn>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.unit_emergency(&ctx, &t, &id, at).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    max_position_age_s: Option<i64>,
}

pub async fn recommend(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RecommendQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .recommend_units(&ctx, &t, &id, q.max_position_age_s)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    unit_ids: Vec<String>,
}

pub async fn dispatch_units(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DispatchBody>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.dispatch_units(&ctx, &t, &id, b.unit_ids).await?),
    ))
}

pub async fn incident_assignments(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.incident_assignments(&ctx, &t, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    step: koban_dispatch::AssignmentStep,
}

pub async fn advance_assignment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path((id, unit_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<StepBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban
            .advance_assignment(&ctx, &t, &id, &unit_id, b.step)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    from: String,
    to: String,
}

pub async fn response_times(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.koban.response_times(&ctx, &t, &q.from, &q.to).await?,
    ))
}

pub async fn send_message(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    ApiJson(b): ApiJson<koban_service::messages::NewMessage>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(s.koban.send_message(&ctx, &t, b).await?),
    ))
}

pub async fn get_message(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.get_message(&ctx, &t, &id).await?))
}

pub async fn unit_inbox(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.unit_inbox(&ctx, &t, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    unit_id: String,
}

pub async fn read_message(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Bearer(t): Bearer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReadBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.koban.read_message(&ctx, &t, &id, &b.unit_id).await?))
}
