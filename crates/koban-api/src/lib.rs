//! koban's HTTP API: axum, JSON, under `/api/v1`.
//!
//! This crate owns the wire: routing, request limits, extracting and validating input,
//! the one error shape, the logon rate limit, TLS, and the OpenAPI description. It holds
//! no business rules; every handler calls one method of [`koban_service::Koban`], which
//! authenticates, authorises and audits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use koban_service::Koban;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub mod console;
mod eido_handlers;
pub mod error;
pub mod extract;
mod handlers;
mod live;
pub mod openapi;
pub mod ratelimit;
mod registry_handlers;

pub use error::ApiError;
pub use ratelimit::RateLimit;

/// Largest JSON body accepted by any endpoint.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// Largest CSV upload (station lists).
pub const MAX_IMPORT_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Largest EIDO document accepted: another agency's incident with many calls, units and
/// notes is far larger than an ordinary request.
pub const MAX_EIDO_BODY_BYTES: usize = 1024 * 1024;
/// Largest message body (a 2 MiB image travels base64-encoded).
pub const MAX_MESSAGE_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Longest any request may take before the server gives up on it.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub koban: Koban,
    pub limiter: Arc<ratelimit::Limiter>,
    /// The browser console's files, when this binary carries them.
    pub console: Option<console::StaticLookup>,
}

/// The request id, generated per request, echoed in `x-request-id` and recorded in the
/// audit event, so an operator can match a client's report to the log.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

async fn request_id(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Builds the router.
pub fn router(koban: Koban, rate_limit: RateLimit) -> Router {
    build(koban, rate_limit, None)
}

/// Builds the router, serving the browser console's files outside `/api/v1`.
pub fn router_with_console(
    koban: Koban,
    rate_limit: RateLimit,
    console: console::StaticLookup,
) -> Router {
    build(koban, rate_limit, Some(console))
}

fn build(koban: Koban, rate_limit: RateLimit, console: Option<console::StaticLookup>) -> Router {
    use handlers as h;
    use registry_handlers as r;
    let state = AppState {
        koban,
        limiter: Arc::new(ratelimit::Limiter::new(rate_limit)),
        console,
    };
    let api = Router::new()
        .route("/openapi.json", get(h::openapi))
        .route("/auth/login", post(h::login))
        .route("/auth/logout", post(h::logout))
        .route("/auth/session", get(h::session))
        .route("/me/password", put(h::change_password))
        .route("/org/units", get(h::list_units).post(h::create_unit))
        .route(
            "/org/units/import",
            post(h::import_units).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        )
        .route("/org/units/{id}", get(h::get_unit).patch(h::update_unit))
        .route("/users", get(h::list_users).post(h::create_user))
        .route("/users/{id}", get(h::get_user).patch(h::update_user))
        .route("/users/{id}/unlock", post(h::unlock_user))
        .route("/users/{id}/disable", post(h::disable_user))
        .route("/users/{id}/enable", post(h::enable_user))
        .route("/users/{id}/reset-totp", post(h::reset_totp))
        .route("/users/{id}/password", put(h::reset_password))
        .route(
            "/users/{id}/grants/{pref}",
            put(h::put_grant).delete(h::delete_grant),
        )
        .route(
            "/terminals",
            get(h::list_terminals).post(h::create_terminal),
        )
        .route("/terminals/{id}/disable", post(h::disable_terminal))
        .route("/audit/events", get(h::search_audit))
        .route("/audit/checkpoint", get(h::audit_checkpoint))
        .route("/audit/proofs/inclusion", get(h::audit_inclusion))
        .route("/audit/proofs/consistency", get(h::audit_consistency))
        .route("/geo/geocode", get(h::geocode))
        .route("/geo/suggest", get(h::suggest))
        .route("/geo/reverse", get(h::reverse))
        .route("/geo/route", get(h::route))
        .route("/geo/boundaries", get(console::boundaries))
        .route("/geo/roads", get(console::roads))
        .route("/calls", post(h::create_call))
        .route("/incident-types", get(h::incident_types))
        .route(
            "/incidents",
            get(h::list_incidents).post(h::create_incident),
        )
        .route("/incidents/{id}", get(h::get_incident))
        .route("/incidents/{id}/transitions", post(h::transition_incident))
        .route("/incidents/{id}/recommendation", get(h::recommend))
        .route(
            "/incidents/{id}/assignments",
            get(h::incident_assignments).post(h::dispatch_units),
        )
        .route(
            "/incidents/{id}/assignments/{unit_id}",
            put(h::advance_assignment),
        )
        .route("/stats/response-times", get(h::response_times))
        .route(
            "/messages",
            post(h::send_message).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY_BYTES)),
        )
        .route("/messages/{id}", get(h::get_message))
        .route("/messages/{id}/read", post(h::read_message))
        .route("/units/{id}/messages", get(h::unit_inbox))
        .route(
            "/units",
            get(h::list_dispatch_units).post(h::create_dispatch_unit),
        )
        .route("/units/positions", post(h::report_positions))
        .route("/units/{id}/status", put(h::set_unit_status))
        .route("/incidents/{id}/calls/{call_id}", put(h::link_call))
        .route("/units/{id}/emergency", post(h::unit_emergency))
        .route("/events", get(live::events))
        .route("/incidents/{id}/eido", get(eido_handlers::export_eido))
        .route(
            "/eido",
            post(eido_handlers::import_eido).layer(DefaultBodyLimit::max(MAX_EIDO_BODY_BYTES)),
        )
        .route("/records", post(r::enter_record))
        .route("/records/{id}", get(r::get_record).put(r::modify_record))
        .route("/records/{id}/history", get(r::record_history))
        .route("/records/{id}/verify", post(r::verify_record))
        .route("/records/{id}/cancel", post(r::cancel_record))
        .route("/records/{id}/validate", post(r::validate_record))
        .route("/records/{id}/clear", post(r::clear_record))
        .route("/records/{id}/locate", post(r::locate_record))
        .route(
            "/records/{id}/hit-requests",
            post(r::request_hit_confirmation),
        )
        .route(
            "/records/{id}/hit-requests/{request_id}/resend",
            post(r::resend_hit_confirmation),
        )
        .route(
            "/records/{id}/hit-requests/{request_id}/response",
            post(r::answer_hit_confirmation),
        )
        .route("/registry/inquiries", post(r::inquire).get(r::who_queried))
        .route("/registry/screenings", post(r::screen_manifest))
        .route("/registry/hit-requests", get(r::hit_queue));
    Router::new()
        .route("/healthz", get(h::healthz))
        .route("/readyz", get(h::readyz))
        .nest("/api/v1", api)
        .fallback(console::fallback)
        .method_not_allowed_fallback(h::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(REQUEST_TIMEOUT_MS),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// TLS certificate and key, PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves until `shutdown` resolves. With `tls`, serves HTTPS only (TLS 1.2 and 1.3 via
/// rustls); without, plain HTTP for a loopback or a TLS-terminating front.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, make)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(files) => {
            let config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await?;
            let handle = axum_server::Handle::new();
            let h2 = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                h2.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(make)
                .await
        }
    }
}
