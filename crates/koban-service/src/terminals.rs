//! Command-room terminals. A registered terminal presents its key at logon; if the
//! administrator marked it exempt, its sessions skip the 30-minute idle lock (a dispatch
//! console in the secured command room must not lock in the middle of a call).

use koban_access::Action;
use koban_auth::token::generate_terminal_key;
use koban_store::TerminalRow;
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::{Koban, RequestCtx, ServiceError, check_id, check_text, new_id};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTerminal {
    pub name: String,
    pub unit_id: String,
    #[serde(default)]
    pub idle_exempt: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TerminalView {
    pub id: String,
    pub name: String,
    pub unit_id: String,
    pub pref_code: Option<String>,
    pub idle_exempt: bool,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&TerminalRow> for TerminalView {
    fn from(t: &TerminalRow) -> Self {
        TerminalView {
            id: t.id.clone(),
            name: t.name.clone(),
            unit_id: t.unit_id.clone(),
            pref_code: t.pref_code.map(|p| p.to_string()),
            idle_exempt: t.idle_exempt,
            disabled: t.disabled_at_us.is_some(),
            created_at: rfc3339(t.created_at_us),
        }
    }
}

/// The registered terminal and its key, shown exactly once.
#[derive(Clone, Debug, Serialize)]
pub struct TerminalCreated {
    pub terminal: TerminalView,
    pub terminal_key: String,
}

impl Koban {
    pub async fn create_terminal(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewTerminal,
    ) -> Result<TerminalCreated, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "terminal.create");
        let r = async {
            actor.require(Action::TerminalManage)?;
            check_text("name", &new.name, 100)?;
            let unit = match tx.get_unit(&new.unit_id).await? {
                Some(u) if actor.sees(u.unit.pref_code) => u,
                _ => {
                    return Err(ServiceError::invalid(
                        "unit_id",
                        "unknown_unit",
                        "no such organisation unit",
                    ));
                }
            };
            let (key, hash) = generate_terminal_key()
                .map_err(|e| ServiceError::Internal(format!("terminal key: {e}")))?;
            let row = TerminalRow {
                id: new_id("trm"),
                name: new.name.clone(),
                unit_id: unit.unit.id.clone(),
                pref_code: unit.unit.pref_code,
                key_hash: hash.0.to_vec(),
                idle_exempt: new.idle_exempt,
                created_at_us: self.now_us(),
                disabled_at_us: None,
            };
            ev.object("terminal", row.id.clone());
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            ev.detail("idle_exempt", row.idle_exempt);
            tx.insert_terminal(&row).await?;
            Ok(TerminalCreated {
                terminal: TerminalView::from(&row),
                terminal_key: key,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn list_terminals(
        &self,
        ctx: &RequestCtx,
        token: &str,
    ) -> Result<Vec<TerminalView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "terminal.list");
        let r = async {
            actor.require(Action::TerminalManage)?;
            let prefs = actor.pref_filter();
            let rows = tx.list_terminals(prefs.as_deref()).await?;
            ev.detail("count", rows.len());
            Ok(rows.iter().map(TerminalView::from).collect())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn disable_terminal(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<TerminalView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "terminal.disable");
        ev.object("terminal", id);
        let r = async {
            actor.require(Action::TerminalManage)?;
            check_id("id", id, "trm")?;
            let row = match tx.get_terminal(id).await? {
                Some(t) if actor.sees(t.pref_code) => t,
                _ => return Err(ServiceError::NotFound { what: "terminal" }),
            };
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let now = self.now_us();
            tx.disable_terminal(id, now).await?;
            Ok(TerminalView::from(&TerminalRow {
                disabled_at_us: Some(now),
                ..row
            }))
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}
