//! `GET /api/v1/events`: the live event stream over WebSocket.
//!
//! Browsers cannot set headers on a WebSocket, so a client may authenticate with its first
//! message, `{"type":"auth","token":"kbn_…","after":N}`, within [`AUTH_TIMEOUT_MS`]; other
//! clients may send `Authorization: Bearer` and `?after=N` with the upgrade request instead.
//! The server answers `{"type":"ready","head":H,"complete":true}`, then sends every event
//! after `after` the user may see, in order, and keeps sending as events happen. Errors
//! arrive as `{"type":"error","code":"…","message":"…"}` followed by a close.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use koban_service::{Koban, RequestCtx};
use serde::Deserialize;

use crate::extract::{ApiQuery, Bearer, Ctx};
use crate::{ApiError, AppState};

/// How long a client has to authenticate after the upgrade.
pub const AUTH_TIMEOUT_MS: u64 = 10_000;
/// How often a subscriber's session is re-checked (logout, expiry, disabling end streams).
pub const SESSION_CHECK_MS: u64 = 15_000;
/// Keep-alive ping interval, under common proxy idle limits.
pub const PING_MS: u64 = 20_000;
/// Largest message a client may send (only the auth message is expected).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub after: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Auth { token: String, after: Option<u64> },
}

/// The upgrade request's bearer token, if it carries one.
pub(crate) struct OptionalBearer(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalBearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // No header: the browser will authenticate with its first message. A header that
        // is there is checked exactly as on every other endpoint.
        if parts.headers.get(AUTHORIZATION).is_none() {
            return Ok(OptionalBearer(None));
        }
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        Ok(OptionalBearer(Some(token)))
    }
}

pub(crate) async fn events(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    bearer: OptionalBearer,
    ApiQuery(q): ApiQuery<EventsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let app = s.koban.clone();
    let ws = match (ws, &bearer.0) {
        (Ok(ws), _) => ws,
        // Authentication comes first: a plain request without a token learns nothing.
        (Err(_), None) => {
            return ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a bearer token is required",
            )
            .into_response();
        }
        (Err(e), Some(_)) => {
            return ApiError::new(
                axum::http::StatusCode::UPGRADE_REQUIRED,
                "websocket_required",
                format!("this endpoint is a WebSocket: {e}"),
            )
            .into_response();
        }
    };
    let pre = match bearer.0 {
        // Authenticate before upgrading, so a bad token is a plain 401.
        Some(token) => match app.subscribe_live(&ctx, &token, q.after).await {
            Ok(sub) => Some(sub),
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    ws.max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(app, socket, ctx, pre))
}

async fn send_error(socket: &mut WebSocket, code: &str, message: &str) {
    let frame = serde_json::json!({"type": "error", "code": code, "message": message});
    let _ = socket.send(Message::Text(frame.to_string().into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Waits for the auth message.
async fn first_message(socket: &mut WebSocket) -> Result<(String, Option<u64>), ApiError> {
    let bad = |m: &str| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            m.to_string(),
        )
    };
    let wait = tokio::time::timeout(Duration::from_millis(AUTH_TIMEOUT_MS), async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Text(t))) => return Ok(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return Err(bad("the connection closed before authenticating")),
            }
        }
    })
    .await
    .map_err(|_| bad("no auth message within 10 s"))??;
    match serde_json::from_str::<ClientMessage>(&wait) {
        Ok(ClientMessage::Auth { token, after }) => Ok((token, after)),
        Err(e) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("expected {{\"type\":\"auth\",\"token\":…}}: {e}"),
        )),
    }
}

async fn run(
    app: Koban,
    mut socket: WebSocket,
    ctx: RequestCtx,
    pre: Option<koban_service::live::Subscription>,
) {
    let mut sub = match pre {
        Some(sub) => sub,
        None => {
            let (token, after) = match first_message(&mut socket).await {
                Ok(x) => x,
                Err(e) => return send_error(&mut socket, e.code, &e.message).await,
            };
            match app.subscribe_live(&ctx, &token, after).await {
                Ok(sub) => sub,
                Err(e) => {
                    let e = ApiError::from(e);
                    return send_error(&mut socket, e.code, &e.message).await;
                }
            }
        }
    };
    let ready = serde_json::json!({"type": "ready", "head": sub.head, "complete": sub.complete});
    if socket
        .send(Message::Text(ready.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut check = tokio::time::interval(Duration::from_millis(SESSION_CHECK_MS));
    check.tick().await;
    let mut ping = tokio::time::interval(Duration::from_millis(PING_MS));
    ping.tick().await;
    loop {
        tokio::select! {
            next = sub.next(&app) => match next {
                Ok(ev) => {
                    if socket.send(Message::Text(ev.frame.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    send_error(&mut socket, e.code, &e.message).await;
                    break;
                }
            },
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                // Pings are answered by the library; anything else from the client is ignored.
                Some(Ok(_)) => {}
            },
            _ = check.tick() => {
                if let Err(e) = app.session_alive(sub.token()).await {
                    let e = ApiError::from(e);
                    send_error(&mut socket, e.code, &e.message).await;
                    break;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::debug!(user = %sub.actor.user.username, cursor = sub.cursor(), "event stream closed");
}
