//! Organisation units: the built-in chart, and the stations and boxes administrators add.

use koban_access::Action;
use koban_org::{NewUnit, OrgUnit, UnitKind};
use koban_store::{MAX_PAGE_ROWS, Tx, UnitFilter, UnitRow};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::{Actor, Koban, LineProblem, RequestCtx, ServiceError, check_text};

/// A unit as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UnitView {
    #[serde(flatten)]
    pub unit: OrgUnit,
    pub builtin: bool,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UnitRow> for UnitView {
    fn from(r: &UnitRow) -> Self {
        UnitView {
            unit: r.unit.clone(),
            builtin: r.builtin,
            disabled: r.disabled,
            created_at: rfc3339(r.created_at_us),
            updated_at: rfc3339(r.updated_at_us),
        }
    }
}

/// Changes to a station or box. Absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitPatch {
    pub name_ja: Option<String>,
    pub name_en: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub disabled: Option<bool>,
}

/// What an import stored.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub ids: Vec<String>,
}

/// Whether the actor may see a unit: the organisation chart is visible to everyone
/// signed in; stations and boxes only within the actor's scope.
fn visible(actor: &Actor, row: &UnitRow) -> bool {
    row.builtin || actor.sees(row.unit.pref_code)
}

impl Koban {
    pub async fn list_units(
        &self,
        ctx: &RequestCtx,
        token: &str,
        mut filter: UnitFilter,
    ) -> Result<Vec<UnitView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "org.list");
        let r = async {
            actor.require(Action::OrgRead)?;
            filter.prefs = actor.pref_filter();
            if filter.limit == 0 || filter.limit > MAX_PAGE_ROWS {
                filter.limit = MAX_PAGE_ROWS;
            }
            let rows = tx.list_units(&filter).await?;
            ev.detail("count", rows.len());
            Ok(rows.iter().map(UnitView::from).collect())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn get_unit(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<UnitView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "org.read");
        ev.object("org_unit", id);
        let r = async {
            actor.require(Action::OrgRead)?;
            let row = visible_unit(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.unit.pref_code.map(|p| p.to_string());
            Ok(UnitView::from(&row))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn create_unit(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewUnit,
    ) -> Result<UnitView, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        self.create_unit_as(ctx, tx, actor, new).await
    }

    /// Creates a unit as the server console (CLI import, demo).
    pub async fn system_create_unit(
        &self,
        name: &str,
        new: NewUnit,
    ) -> Result<UnitView, ServiceError> {
        let (tx, actor) = self.begin_system(name).await?;
        self.create_unit_as(&RequestCtx::cli(), tx, actor, new)
            .await
    }

    async fn create_unit_as(
        &self,
        ctx: &RequestCtx,
        mut tx: Box<dyn Tx>,
        actor: Actor,
        new: NewUnit,
    ) -> Result<UnitView, ServiceError> {
        let mut ev = actor.draft(ctx, "org.create");
        ev.object("org_unit", new.id.clone());
        ev.scope_pref = Some(new.pref_code.to_string());
        let r = async {
            actor.require(Action::OrgManage)?;
            let row = self.insert_new_unit(&mut *tx, &actor, &new, &[]).await?;
            Ok(UnitView::from(&row))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Validates and inserts one unit. `pending` are units earlier in the same import,
    /// which may be parents of this one.
    async fn insert_new_unit(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        new: &NewUnit,
        pending: &[NewUnit],
    ) -> Result<UnitRow, ServiceError> {
        new.validate()
            .map_err(|e| ServiceError::invalid(e.field, e.code, e.message.clone()))?;
        if !actor.sees(Some(new.pref_code)) {
            return Err(ServiceError::Forbidden {
                action: "org_manage outside your scope",
            });
        }
        let parent = match pending.iter().find(|p| p.id == new.parent_id) {
            Some(p) => (p.kind, Some(p.pref_code)),
            None => match tx.get_unit(&new.parent_id).await? {
                Some(p) if visible(actor, &p) => (p.unit.kind, p.unit.pref_code),
                _ => {
                    return Err(ServiceError::invalid(
                        "parent_id",
                        "unknown_parent",
                        "no such unit",
                    ));
                }
            },
        };
        let parent_ok = match new.kind {
            UnitKind::Station => {
                matches!(parent.0, UnitKind::Prefecture | UnitKind::AreaHeadquarters)
                    && parent.1 == Some(new.pref_code)
            }
            UnitKind::Koban | UnitKind::Chuzaisho => {
                parent.0 == UnitKind::Station && parent.1 == Some(new.pref_code)
            }
            _ => false,
        };
        if !parent_ok {
            return Err(ServiceError::invalid(
                "parent_id",
                "invalid_parent",
                "a station belongs to its prefecture (or a Hokkaido area headquarters); a koban or chuzaisho to a station of the same prefecture",
            ));
        }
        let now = self.now_us();
        let row = UnitRow {
            unit: OrgUnit {
                id: new.id.clone(),
                kind: new.kind,
                parent_id: Some(new.parent_id.clone()),
                name_ja: new.name_ja.clone(),
                name_en: new.name_en.clone(),
                pref_code: Some(new.pref_code),
                latitude: new.latitude,
                longitude: new.longitude,
                address: new.address.clone(),
            },
            builtin: false,
            disabled: false,
            created_at_us: now,
            updated_at_us: now,
        };
        tx.insert_unit(&row).await.map_err(|e| match e {
            koban_store::StoreError::Duplicate { .. } => ServiceError::Conflict {
                code: "duplicate_id",
                message: format!("a unit with id {} already exists", new.id),
            },
            other => other.into(),
        })?;
        Ok(row)
    }

    pub async fn update_unit(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        patch: UnitPatch,
    ) -> Result<UnitView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "org.update");
        ev.object("org_unit", id);
        let r = async {
            actor.require(Action::OrgManage)?;
            let mut row = visible_unit(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.unit.pref_code.map(|p| p.to_string());
            if row.builtin {
                return Err(ServiceError::Conflict {
                    code: "builtin_unit",
                    message: "the built-in organisation cannot be changed".into(),
                });
            }
            if let Some(v) = patch.name_ja {
                check_text("name_ja", &v, 100)?;
                row.unit.name_ja = v;
            }
            if let Some(v) = patch.name_en {
                check_text("name_en", &v, 100)?;
                row.unit.name_en = v;
            }
            if let Some(v) = patch.address {
                check_text("address", &v, 200)?;
                row.unit.address = Some(v);
            }
            if patch.latitude.is_some() || patch.longitude.is_some() {
                row.unit.latitude = patch.latitude.or(row.unit.latitude);
                row.unit.longitude = patch.longitude.or(row.unit.longitude);
            }
            if let Some(d) = patch.disabled {
                row.disabled = d;
            }
            // Re-run the same validation a new unit gets, so a patch cannot produce a
            // unit that could not have been created.
            let check = NewUnit {
                id: row.unit.id.clone(),
                kind: row.unit.kind,
                parent_id: row.unit.parent_id.clone().unwrap_or_default(),
                name_ja: row.unit.name_ja.clone(),
                name_en: row.unit.name_en.clone(),
                pref_code: row
                    .unit
                    .pref_code
                    .ok_or_else(|| ServiceError::Internal("station without prefecture".into()))?,
                latitude: row.unit.latitude,
                longitude: row.unit.longitude,
                address: row.unit.address.clone(),
            };
            check
                .validate()
                .map_err(|e| ServiceError::invalid(e.field, e.code, e.message.clone()))?;
            row.updated_at_us = self.now_us();
            tx.update_unit(&row).await?;
            Ok(UnitView::from(&row))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Imports stations and boxes from CSV: all rows or none.
    pub async fn import_units(
        &self,
        ctx: &RequestCtx,
        token: &str,
        csv: &[u8],
    ) -> Result<ImportReport, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        self.import_units_as(ctx, tx, actor, csv).await
    }

    /// The same import, run from the server console.
    pub async fn system_import_units(
        &self,
        name: &str,
        csv: &[u8],
    ) -> Result<ImportReport, ServiceError> {
        let (tx, actor) = self.begin_system(name).await?;
        self.import_units_as(&RequestCtx::cli(), tx, actor, csv)
            .await
    }

    async fn import_units_as(
        &self,
        ctx: &RequestCtx,
        mut tx: Box<dyn Tx>,
        actor: Actor,
        csv: &[u8],
    ) -> Result<ImportReport, ServiceError> {
        let mut ev = actor.draft(ctx, "org.import");
        let r = async {
            actor.require(Action::OrgManage)?;
            let (units, errors) = koban_org::parse_units_csv(csv);
            let mut problems: Vec<LineProblem> = errors
                .into_iter()
                .map(|e| LineProblem {
                    line: e.line,
                    field: e.field,
                    code: e.code.to_string(),
                    message: e.message,
                })
                .collect();
            if problems.is_empty() {
                for (i, unit) in units.iter().enumerate() {
                    if let Err(e) = self
                        .insert_new_unit(&mut *tx, &actor, unit, &units[..i])
                        .await
                    {
                        // Data lines start at line 2, after the header.
                        let line = i as u64 + 2;
                        let (field, code, message) = match &e {
                            ServiceError::Invalid {
                                field,
                                code,
                                message,
                            } => (field.clone(), *code, message.clone()),
                            ServiceError::Forbidden { .. } => {
                                ("pref_code".into(), "outside_scope", e.to_string())
                            }
                            ServiceError::Conflict { code, message } => {
                                ("id".into(), *code, message.clone())
                            }
                            _ => return Err(e),
                        };
                        problems.push(LineProblem {
                            line,
                            field,
                            code: code.into(),
                            message,
                        });
                    }
                }
            }
            if !problems.is_empty() {
                return Err(ServiceError::InvalidLines(problems));
            }
            ev.detail("created", units.len());
            Ok(ImportReport {
                created: units.len(),
                ids: units.iter().map(|u| u.id.clone()).collect(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// Loads a unit the actor may see; anything else is "not found".
async fn visible_unit(tx: &mut dyn Tx, actor: &Actor, id: &str) -> Result<UnitRow, ServiceError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ServiceError::invalid(
            "id",
            "invalid_id",
            "not a valid unit id",
        ));
    }
    match tx.get_unit(id).await? {
        Some(row) if visible(actor, &row) => Ok(row),
        _ => Err(ServiceError::NotFound {
            what: "organisation unit",
        }),
    }
}
