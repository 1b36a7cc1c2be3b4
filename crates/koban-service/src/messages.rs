//! Messages from the command room to a unit, a station's units or every unit in scope:
//! text, an image (size-limited, type-checked by its bytes) or a location, with a
//! delivery and a read receipt per addressed unit.

use koban_access::Action;
use koban_org::UnitKind as OrgKind;
use koban_store::{MessageRow, ReceiptRow};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::live::{LiveDraft, kinds};
use crate::{Koban, RequestCtx, ServiceError, check_id, new_id};

/// Largest image accepted, in bytes (before base64).
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// Longest message text.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Messages returned per inbox request.
pub const MAX_INBOX: u32 = 200;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `unit`, `station` or `scope` (every unit of the sender's prefecture).
    pub to: String,
    /// Unit call sign or station id (not for `scope`).
    pub target_id: Option<String>,
    pub incident_id: Option<String>,
    #[serde(default)]
    pub text: String,
    pub location: Option<crate::incidents::PointIn>,
    /// Base64 JPEG or PNG.
    pub image_base64: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub sender_id: String,
    pub created_at: String,
    pub to: String,
    pub target_id: Option<String>,
    pub incident_id: Option<String>,
    pub text: String,
    pub location: Option<(f64, f64)>,
    pub image_type: Option<String>,
    /// Base64 of the image, when there is one.
    pub image_base64: Option<String>,
    pub receipts: Vec<ReceiptView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReceiptView {
    pub unit_id: String,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
}

fn receipt_view(r: &ReceiptRow) -> ReceiptView {
    ReceiptView {
        unit_id: r.unit_id.clone(),
        delivered_at: r.delivered_at_us.map(rfc3339),
        read_at: r.read_at_us.map(rfc3339),
    }
}

fn message_view(m: &MessageRow, receipts: Vec<ReceiptView>) -> MessageView {
    MessageView {
        id: m.id.clone(),
        sender_id: m.sender_id.clone(),
        created_at: rfc3339(m.created_at_us),
        to: m.target_kind.clone(),
        target_id: m.target_id.clone(),
        incident_id: m.incident_id.clone(),
        text: m.text.clone(),
        location: m.lat.zip(m.lon),
        image_type: m.image_type.clone(),
        image_base64: m.image.as_ref().map(|b| data_encoding::BASE64.encode(b)),
        receipts,
    }
}

/// A message event: the image itself stays out of the stream (up to 2 MiB each); the
/// subscriber fetches it with the message when it wants to show it.
fn live_draft(
    kind: &'static str,
    pref: koban_org::PrefCode,
    view: &MessageView,
) -> Result<LiveDraft, ServiceError> {
    let mut slim = view.clone();
    slim.image_base64 = None;
    LiveDraft::of(kind, Some(pref), &slim)
}

/// The image's type from its first bytes; anything but JPEG and PNG is refused.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

impl Koban {
    /// Sends a message; one receipt per addressed unit.
    pub async fn send_message(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewMessage,
    ) -> Result<MessageView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "message.send");
        let r = async {
            // Field officers report to the command room; only the command room sends to
            // units, stations and everyone.
            actor.require(if new.to == "command" {
                Action::MessageReport
            } else {
                Action::MessageSend
            })?;
            let pref = actor.user.pref_code.ok_or_else(|| {
                ServiceError::invalid(
                    "to",
                    "no_prefecture",
                    "messages are sent by a prefecture's command room",
                )
            })?;
            if new.text.chars().count() > MAX_MESSAGE_CHARS
                || new.text.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(ServiceError::invalid(
                    "text",
                    "invalid_text",
                    "at most 2,000 visible characters",
                ));
            }
            let image = match &new.image_base64 {
                Some(b64) => {
                    if b64.len() > MAX_IMAGE_BYTES * 4 / 3 + 4 {
                        return Err(ServiceError::invalid(
                            "image_base64",
                            "image_too_large",
                            "at most 2 MiB",
                        ));
                    }
                    let bytes = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|_| {
                        ServiceError::invalid("image_base64", "invalid_base64", "not valid base64")
                    })?;
                    if bytes.len() > MAX_IMAGE_BYTES {
                        return Err(ServiceError::invalid(
                            "image_base64",
                            "image_too_large",
                            "at most 2 MiB",
                        ));
                    }
                    let kind = image_type(&bytes).ok_or_else(|| {
                        ServiceError::invalid(
                            "image_base64",
                            "unsupported_image",
                            "only JPEG and PNG images",
                        )
                    })?;
                    Some((kind, bytes))
                }
                None => None,
            };
            let location = new
                .location
                .map(|p| crate::incidents::check_point("location", p))
                .transpose()?;
            if new.text.trim().is_empty() && image.is_none() && location.is_none() {
                return Err(ServiceError::invalid(
                    "text",
                    "empty_message",
                    "a message needs text, an image or a location",
                ));
            }
            if let Some(inc) = &new.incident_id {
                check_id("incident_id", inc, "inc")?;
                match tx.get_incident(inc).await? {
                    Some(i) if i.pref_code == pref => {}
                    _ => {
                        return Err(ServiceError::invalid(
                            "incident_id",
                            "unknown_incident",
                            "no such incident",
                        ));
                    }
                }
            }
            let units = tx.list_dispatch_units(Some(&[pref])).await?;
            let recipients: Vec<String> = match (new.to.as_str(), new.target_id.as_deref()) {
                ("unit", Some(id)) => match units.iter().find(|u| u.id == id) {
                    Some(u) => vec![u.id.clone()],
                    None => {
                        return Err(ServiceError::invalid(
                            "target_id",
                            "unknown_unit",
                            "no such unit",
                        ));
                    }
                },
                ("station", Some(id)) => {
                    match tx.get_unit(id).await? {
                        Some(s)
                            if s.unit.kind == OrgKind::Station
                                && s.unit.pref_code == Some(pref) => {}
                        _ => {
                            return Err(ServiceError::invalid(
                                "target_id",
                                "unknown_station",
                                "no such station",
                            ));
                        }
                    }
                    let mut ids = Vec::new();
                    for u in &units {
                        let unit: koban_dispatch::Unit = serde_json::from_str(&u.doc)
                            .map_err(|e| ServiceError::Internal(e.to_string()))?;
                        if unit.home_station_id == id {
                            ids.push(u.id.clone());
                        }
                    }
                    ids
                }
                ("scope", None) => units.iter().map(|u| u.id.clone()).collect(),
                // To the prefecture's command room: no unit receipts; every dispatcher in
                // scope sees it on the live stream and in the message list.
                ("command", None) => Vec::new(),
                ("command", Some(_)) => {
                    return Err(ServiceError::invalid(
                        "target_id",
                        "not_allowed",
                        "a report goes to the command room, not to a unit or station",
                    ));
                }
                ("unit" | "station", None) => {
                    return Err(ServiceError::invalid(
                        "target_id",
                        "required",
                        "say which unit or station",
                    ));
                }
                _ => {
                    return Err(ServiceError::invalid(
                        "to",
                        "invalid_target",
                        "to is unit, station, scope or command",
                    ));
                }
            };
            let row = MessageRow {
                id: new_id("msg"),
                pref_code: pref,
                sender_id: actor.user.id.clone(),
                created_at_us: self.now_us(),
                target_kind: new.to.clone(),
                target_id: new.target_id.clone(),
                incident_id: new.incident_id.clone(),
                text: new.text.clone(),
                lat: location.map(|l| l.point.lat),
                lon: location.map(|l| l.point.lon),
                image_type: image.as_ref().map(|(k, _)| (*k).to_string()),
                image: image.map(|(_, b)| b),
            };
            tx.insert_message(&row, &recipients).await?;
            ev.object("message", row.id.clone());
            ev.scope_pref = Some(pref.to_string());
            ev.detail("recipients", recipients.len());
            let receipts = recipients
                .iter()
                .map(|u| ReceiptView {
                    unit_id: u.clone(),
                    delivered_at: None,
                    read_at: None,
                })
                .collect();
            let view = message_view(&row, receipts);
            ev.publish(live_draft(kinds::MESSAGE_CREATED, pref, &view)?);
            Ok(view)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// A unit's inbox; fetching marks the messages delivered.
    pub async fn unit_inbox(
        &self,
        ctx: &RequestCtx,
        token: &str,
        unit_id: &str,
    ) -> Result<Vec<MessageView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "message.inbox");
        ev.object("dispatch_unit", unit_id);
        let r = async {
            actor.require(Action::MessageReceive)?;
            let unit = match tx.get_dispatch_unit(unit_id).await? {
                Some(u) if actor.sees(Some(u.pref_code)) => u,
                _ => return Err(ServiceError::NotFound { what: "unit" }),
            };
            ev.scope_pref = Some(unit.pref_code.to_string());
            let now = self.now_us();
            let items = tx.messages_of_unit(unit_id, MAX_INBOX).await?;
            let mut out = Vec::with_capacity(items.len());
            for (m, mut rcpt) in items {
                if rcpt.delivered_at_us.is_none() {
                    tx.mark_receipt(&m.id, unit_id, now, false).await?;
                    rcpt.delivered_at_us = Some(now);
                    // The sender watches delivery live.
                    let all = tx
                        .receipts_of_message(&m.id)
                        .await?
                        .iter()
                        .map(receipt_view)
                        .collect();
                    ev.publish(live_draft(
                        kinds::MESSAGE_UPDATED,
                        m.pref_code,
                        &message_view(&m, all),
                    )?);
                }
                out.push(message_view(&m, vec![receipt_view(&rcpt)]));
            }
            ev.detail("count", out.len());
            Ok(out)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Marks a message read on a unit's terminal.
    pub async fn read_message(
        &self,
        ctx: &RequestCtx,
        token: &str,
        message_id: &str,
        unit_id: &str,
    ) -> Result<MessageView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "message.read");
        ev.object("message", message_id);
        let r = async {
            actor.require(Action::MessageReceive)?;
            let m = visible_message(&mut *tx, &actor, message_id).await?;
            ev.scope_pref = Some(m.pref_code.to_string());
            if !tx
                .mark_receipt(message_id, unit_id, self.now_us(), true)
                .await?
            {
                return Err(ServiceError::invalid(
                    "unit_id",
                    "not_addressed",
                    "the message was not sent to this unit",
                ));
            }
            let receipts = tx
                .receipts_of_message(message_id)
                .await?
                .iter()
                .map(receipt_view)
                .collect();
            let view = message_view(&m, receipts);
            ev.publish(live_draft(kinds::MESSAGE_UPDATED, m.pref_code, &view)?);
            Ok(view)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// A sent message with every receipt (for the dispatcher).
    pub async fn get_message(
        &self,
        ctx: &RequestCtx,
        token: &str,
        message_id: &str,
    ) -> Result<MessageView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "message.get");
        ev.object("message", message_id);
        let r = async {
            actor.require(Action::MessageSend)?;
            let m = visible_message(&mut *tx, &actor, message_id).await?;
            ev.scope_pref = Some(m.pref_code.to_string());
            let receipts = tx
                .receipts_of_message(message_id)
                .await?
                .iter()
                .map(receipt_view)
                .collect();
            Ok(message_view(&m, receipts))
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// Loads a message the actor may see; anything else is "not found".
async fn visible_message(
    tx: &mut dyn koban_store::Tx,
    actor: &crate::Actor,
    id: &str,
) -> Result<MessageRow, ServiceError> {
    check_id("id", id, "msg")?;
    match tx.get_message(id).await? {
        Some(m) if actor.sees(Some(m.pref_code)) => Ok(m),
        _ => Err(ServiceError::NotFound { what: "message" }),
    }
}
