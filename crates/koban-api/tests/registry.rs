//! End-to-end tests of the national records registry, each run against SQLite and
//! against PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Server, TestUser};
use koban_access::Role;
use serde_json::{Value, json};

fn wanted() -> Value {
    json!({
        "kind": "wanted",
        "name": {"kanji": "佐藤 翔一", "kana": "サトウ ショウイチ", "latin": null},
        "date_of_birth": "1980-04-01",
        "descriptors": {"sex": "male", "height_cm": 172, "description": "右頬にほくろ"},
        "warrant": {
            "issuing_court": "東京地方裁判所",
            "warrant_number": "令和7年(令わ)第123号",
            "offence": "強盗致傷",
            "issued_on": "2025-05-20",
            "expires_on": "2099-11-20"
        },
        "caution": {"armed": true, "violent": false, "suicidal": false, "escape_risk": false, "mental_health": false}
    })
}

fn stolen_plate(plate: &str) -> Value {
    json!({"kind": "stolen_plate", "plate": plate, "plates_taken": 1, "stolen_on": "2025-01-10"})
}

struct Desk {
    clerk: String,
    checker: String,
    query: String,
}

async fn desk(s: &Server, pref: &str, tag: &str) -> Desk {
    let unit = format!("pref-{pref}");
    let c1 = s
        .user(&format!("clerk-a-{tag}"), &unit, &[Role::RecordsClerk])
        .await;
    let c2 = s
        .user(&format!("clerk-b-{tag}"), &unit, &[Role::RecordsClerk])
        .await;
    let q = s
        .user(&format!("query-{tag}"), &unit, &[Role::QueryOperator])
        .await;
    Desk {
        clerk: s.login(&c1).await,
        checker: s.login(&c2).await,
        query: s.login(&q).await,
    }
}

async fn inquire(s: &Server, token: &str, q: Value, purpose: Option<&str>) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url("/api/v1/registry/inquiries"))
        .bearer_auth(token)
        .json(&q);
    if let Some(p) = purpose {
        req = req.header("x-koban-purpose", p);
    }
    let r = req.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap())
}

async fn enter_and_verify(s: &Server, d: &Desk, file: Value) -> String {
    let (st, v) = s
        .call("post", "/api/v1/records", Some(&d.clerk), Some(file))
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["record"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["record"]["state"], "pending_verification");
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/verify"),
            Some(&d.checker),
            None,
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("active")), "{v}");
    id
}

/// Entry, second-person verification, inquiry by plate in any spelling, modify, cancel,
/// each audited; duplicates and bad input are refused with the field named.
async fn entry_inquiry_modify_cancel(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    // Pending records are not searchable, and the enterer cannot verify their own entry.
    let (st, v) = s
        .call(
            "post",
            "/api/v1/records",
            Some(&tokyo.clerk),
            Some(stolen_plate("品川 300 あ 12-34")),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["record"]["id"].as_str().unwrap().to_string();
    let q = json!({"plate": "300あ1234", "officer": "PC-101"});
    let (st, v) = inquire(s, &tokyo.query, q.clone(), Some("traffic%20stop")).await;
    assert_eq!((st, v["hit"].as_bool()), (200, Some(false)), "{v}");
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/verify"),
            Some(&tokyo.clerk),
            None,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("same_verifier"))
    );
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/verify"),
            Some(&tokyo.checker),
            None,
        )
        .await;
    assert_eq!(st, 200);
    // Found by plate with or without the place, in full width, by another prefecture.
    let kanagawa = desk(s, "14", "k").await;
    for plate in ["品川300あ1234", "３００ あ １２－３４", "品川 300 あ 12-34"] {
        let (st, v) = inquire(
            s,
            &kanagawa.query,
            json!({"plate": plate, "officer": "PC-7"}),
            Some("%E8%81%B7%E5%8B%99%E8%B3%AA%E5%95%8F"),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["hit"], true, "{plate}: {v}");
        assert_eq!(v["hits"][0]["record_id"], id.as_str());
        assert_eq!(v["hits"][0]["owner_pref"], "13");
        assert!(v["reminder"].as_str().unwrap().contains("confirm"));
    }
    // The purpose is required and recorded decoded, with the officer.
    let (st, v) = inquire(
        s,
        &kanagawa.query,
        json!({"plate": "300あ1234", "officer": "PC-7"}),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("purpose")),
        "{v}"
    );
    let events = s.audit_events("action=registry.inquiry&limit=100").await;
    assert!(
        events
            .iter()
            .any(|e| e["purpose"] == "職務質問" && e["detail"]["officer"] == "PC-7"),
        "{events:?}"
    );
    // A second record on the same plate by the same owner is a duplicate; nothing stored.
    let before = s.audit_size().await;
    let (st, v) = s
        .call(
            "post",
            "/api/v1/records",
            Some(&tokyo.clerk),
            Some(stolen_plate("品川300あ1234")),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("duplicate_record")),
        "{v}"
    );
    assert_eq!(s.audit_size().await, before + 1, "the refusal is audited");
    // Bad input names the field.
    for (body, field) in [
        (stolen_plate("品川 300 ん 12-34"), "plate"),
        (
            json!({"kind": "stolen_plate", "plate": "品川300あ1234", "plates_taken": 3, "stolen_on": "2025-01-10"}),
            "plates_taken",
        ),
        (
            json!({"kind": "stolen_plate", "plate": "品川300あ1234", "plates_taken": 1, "stolen_on": "2025-02-30"}),
            "stolen_on",
        ),
        (json!({"kind": "stolen_car"}), "kind"),
    ] {
        let (st, v) = s
            .call("post", "/api/v1/records", Some(&kanagawa.clerk), Some(body))
            .await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (st, v) = inquire(s, &kanagawa.query, json!({"officer": "PC-7"}), Some("x")).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("empty_query")),
        "{v}"
    );
    // Kanagawa cannot modify or cancel a Tokyo record: it is not found.
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/cancel"),
            Some(&kanagawa.clerk),
            None,
        )
        .await;
    assert_eq!(st, 404);
    // The owner modifies the plate; the old plate no longer hits, the new one does.
    let (st, v) = s
        .call(
            "put",
            &format!("/api/v1/records/{id}"),
            Some(&tokyo.clerk),
            Some(stolen_plate("練馬 500 さ 1")),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = inquire(s, &kanagawa.query, q.clone(), Some("x")).await;
    assert_eq!(v["hit"], false, "{v}");
    let (_, v) = inquire(
        s,
        &kanagawa.query,
        json!({"plate": "練馬500さ・・・1", "officer": "o"}),
        Some("x"),
    )
    .await;
    assert_eq!(v["hit"], true, "{v}");
    // Cancel removes it from the active file; the history keeps every message.
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/cancel"),
            Some(&tokyo.clerk),
            None,
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("cancelled")));
    let (_, v) = inquire(
        s,
        &kanagawa.query,
        json!({"plate": "練馬500さ1", "officer": "o"}),
        Some("x"),
    )
    .await;
    assert_eq!(v["hit"], false);
    let (st, v) = s
        .get(&format!("/api/v1/records/{id}/history"), &tokyo.clerk)
        .await;
    assert_eq!(st, 200, "{v}");
    let messages: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["entry", "verify", "modify", "cancel"]);
    // Query operators cannot enter records.
    let (st, _) = s
        .call(
            "post",
            "/api/v1/records",
            Some(&tokyo.query),
            Some(stolen_plate("品川300あ1235")),
        )
        .await;
    assert_eq!(st, 403);
}
both!(entry_inquiry_modify_cancel);

/// A person is found by name in kanji, kana or any romanisation, in either order, with
/// the date of birth exact or within ± N years; the answer carries the caution.
async fn person_name_inquiry(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let id = enter_and_verify(s, &tokyo, wanted()).await;
    for (name, dob, tol) in [
        ("佐藤 翔一", "1980-04-01", 0),
        ("SATO SHOICHI", "1980-04-01", 0),
        ("Shouichi Satou", "1980-04-01", 0),
        ("SATOH SHOICHI", "1980-04-01", 0),
        ("SATŌ SHŌICHI", "1980-04-01", 0),
        ("さとう しょういち", "1980-04-01", 0),
        ("SATO SHOICHI", "1981-02-01", 1),
    ] {
        let (st, v) = inquire(
            s,
            &tokyo.query,
            json!({"name": name, "date_of_birth": dob, "dob_tolerance_years": tol, "officer": "PC-1"}),
            Some("arrest"),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["hit"], true, "{name}: {v}");
        assert_eq!(v["hits"][0]["record_id"], id.as_str());
        assert_eq!(v["hits"][0]["caution"], json!(["armed"]));
    }
    for (name, dob) in [
        ("SAITO SHOICHI", "1980-04-01"),
        ("SATO SHOICHI", "1981-04-02"),
        // Never read kanji with Chinese readings: a Latin name does not match kanji alone.
        ("ZUO TENG XIANG YI", "1980-04-01"),
    ] {
        let (_, v) = inquire(
            s,
            &tokyo.query,
            json!({"name": name, "date_of_birth": dob, "officer": "PC-1"}),
            Some("arrest"),
        )
        .await;
        assert_eq!(v["hit"], false, "{name}: {v}");
    }
    let (st, v) = inquire(
        s,
        &tokyo.query,
        json!({"name": "SATO", "officer": "PC-1"}),
        Some("x"),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("date_of_birth")),
        "{v}"
    );
}
both!(person_name_inquiry);

async fn user_token(s: &Server, name: &str, unit: &str, roles: &[Role]) -> (TestUser, String) {
    let u = s.user(name, unit, roles).await;
    let t = s.login(&u).await;
    (u, t)
}

/// Hit confirmation, locate only after a confirmed hit, clear, validation, history, and
/// "who queried" for auditors.
async fn hit_confirmation_locate_clear(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let osaka = desk(s, "27", "o").await;
    let id = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let (_, v) = inquire(
        s,
        &osaka.query,
        json!({"plate": "品川300あ1234", "officer": "PC-9"}),
        Some("patrol"),
    )
    .await;
    assert_eq!(v["hit"], true);
    // Locate before a confirmed hit is refused.
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/locate"),
            Some(&osaka.query),
            None,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("hit_not_confirmed")),
        "{v}"
    );
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/hit-requests"),
            Some(&osaka.query),
            Some(json!({"priority": "urgent"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let req = v["hit_requests"][0]["id"].as_str().unwrap().to_string();
    let sent = v["hit_requests"][0]["sent_at"].as_i64().unwrap();
    assert_eq!(
        v["hit_requests"][0]["due_at"].as_i64().unwrap() - sent,
        600_000_000
    );
    // Eleven minutes on, the request is overdue: re-send it.
    s.clock.advance_s(660);
    let (st, v) = s.get(&format!("/api/v1/records/{id}"), &tokyo.clerk).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["overdue_requests"][0]["action"], "resend", "{v}");
    let tq = s
        .login(&s.user("query-o2", "pref-27", &[Role::QueryOperator]).await)
        .await;
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/hit-requests/{req}/resend"),
            Some(&tq),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // The owner answers; bad answers name the field.
    let tc = s
        .login(&s.user("clerk-t3", "pref-13", &[Role::RecordsClerk]).await)
        .await;
    let path = format!("/api/v1/records/{id}/hit-requests/{req}/response");
    let (st, v) = s
        .call("post", &path, Some(&tc), Some(json!({"answer": "maybe"})))
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("answer")),
        "{v}"
    );
    let (st, v) = s
        .call(
            "post",
            &path,
            Some(&tc),
            Some(json!({"answer": "confirmed"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/locate"),
            Some(&tq),
            None,
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("located")), "{v}");
    // Located records still answer inquiries (a plate is not a missing person)…
    let (_, v) = inquire(
        s,
        &osaka.query,
        json!({"plate": "品川300あ1234", "officer": "PC-9"}),
        Some("patrol"),
    )
    .await;
    assert_eq!(v["hits"][0]["state"], "located", "{v}");
    // …until the owner validates and clears it.
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/validate"),
            Some(&tc),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/clear"),
            Some(&tc),
            None,
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("cleared")));
    let (_, v) = s.get(&format!("/api/v1/records/{id}/history"), &tc).await;
    let messages: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "entry",
            "verify",
            "hit_confirmation_request",
            "hit_confirmation_resend",
            "hit_confirmation_response",
            "locate",
            "validate",
            "clear"
        ]
    );
    // Auditors ask who queried the plate (in any spelling) and who hit the record.
    let (_, ta) = user_token(s, "auditor-n", "npa", &[Role::Auditor]).await;
    let (st, v) = s
        .get(
            "/api/v1/registry/inquiries?plate=%E5%93%81%E5%B7%9D%20300%20%E3%81%82%2012-34",
            &ta,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{v}");
    assert!(
        events
            .iter()
            .all(|e| e["purpose"] == "patrol" && e["detail"]["officer"] == "PC-9")
    );
    let (st, v) = s
        .get(&format!("/api/v1/registry/inquiries?record_id={id}"), &ta)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["events"].as_array().unwrap().len(), 2, "{v}");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "registry.hit")
    );
    // Query operators cannot ask who queried.
    let (st, _) = s
        .get(
            &format!("/api/v1/registry/inquiries?record_id={id}"),
            &osaka.query,
        )
        .await;
    assert_eq!(st, 403);
}
both!(hit_confirmation_locate_clear);

/// The scheduled purge removes records whose validation window closed unvalidated, audits
/// each removal with its reason, and leaves validated records alone.
async fn purge_of_unvalidated_records(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let stale = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let kept = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-35")).await;
    // Sixty-one days on the validation window is open; the owner validates one record.
    s.clock.advance_s(61 * 86_400);
    let clerk = s
        .login(&s.user("clerk-p", "pref-13", &[Role::RecordsClerk]).await)
        .await;
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{kept}/validate"),
            Some(&clerk),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let r = s.koban.system_purge_records("test").await.unwrap();
    assert!(r.purged.is_empty(), "nothing is due yet: {r:?}");
    // Past ninety days the unvalidated record is purged.
    s.clock.advance_s(30 * 86_400);
    let r = s.koban.system_purge_records("test").await.unwrap();
    assert_eq!(r.purged.get("unvalidated"), Some(&1), "{r:?}");
    let q = s
        .login(&s.user("query-p", "pref-13", &[Role::QueryOperator]).await)
        .await;
    let (_, v) = inquire(
        s,
        &q,
        json!({"plate": "品川300あ1234", "officer": "o"}),
        Some("x"),
    )
    .await;
    assert_eq!(v["hit"], false, "{v}");
    let (_, v) = inquire(
        s,
        &q,
        json!({"plate": "品川300あ1235", "officer": "o"}),
        Some("x"),
    )
    .await;
    assert_eq!(v["hit"], true, "{v}");
    let events = s
        .audit_events(&format!("action=registry.purge&object_id={stale}"))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["reason"], "unvalidated");
}
both!(purge_of_unvalidated_records);

/// The offline copy: a full export holds the active records; an export since its version
/// holds only what changed, removals included.
async fn export_by_difference(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let a = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let b = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-35")).await;
    let mut full = Vec::new();
    let r = s
        .koban
        .system_export_records("test", "", &mut full)
        .await
        .unwrap();
    assert_eq!((r.records, r.removed), (2, 0));
    let text = String::from_utf8(full).unwrap();
    assert!(text.contains(&a) && text.contains(&b));
    s.clock.advance_s(60);
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{a}/cancel"),
            Some(&tokyo.clerk),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let mut diff = Vec::new();
    let r2 = s
        .koban
        .system_export_records("test", &r.version, &mut diff)
        .await
        .unwrap();
    assert_eq!(
        (r2.records, r2.removed),
        (0, 1),
        "{}",
        String::from_utf8_lossy(&diff)
    );
    let line: Value = serde_json::from_slice(diff.split(|c| *c == b'\n').next().unwrap()).unwrap();
    assert_eq!(
        (line["id"].as_str(), line["removed"].as_bool()),
        (Some(a.as_str()), Some(true))
    );
    let mut none = Vec::new();
    let r3 = s
        .koban
        .system_export_records("test", &r2.version, &mut none)
        .await
        .unwrap();
    assert_eq!((r3.records, r3.removed, r3.version), (0, 0, r2.version));
    assert!(
        s.koban
            .system_export_records("test", "garbage", &mut none)
            .await
            .is_err()
    );
}
both!(export_by_difference);

/// A manifest is screened against the person files by name and against the travel
/// documents by number; bad passengers are named; oversize manifests are refused.
async fn manifest_screening(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let wanted_id = enter_and_verify(s, &tokyo, wanted()).await;
    let doc = json!({"kind": "travel_document", "document": {"issuing_state": "JPN", "document_type": "passport", "number": "TK1234567"},
                     "status": "stolen", "reported_on": "2025-01-01"});
    let doc_id = enter_and_verify(s, &tokyo, doc).await;
    let manifest = json!({"officer": "immigration-7", "purpose": "API screening NH110", "passengers": [
        {"passenger_id": "P1", "name": "SATO<<SHOICHI", "date_of_birth": "1980-04-01"},
        {"passenger_id": "P2", "name": "TANAKA HANAKO", "date_of_birth": "1990-01-01", "document_number": "TK1234567"},
        {"passenger_id": "P3", "name": "SUZUKI ICHIRO", "date_of_birth": "1970-05-05"}
    ]});
    let (st, v) = s
        .call(
            "post",
            "/api/v1/registry/screenings",
            Some(&tokyo.query),
            Some(manifest),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["screened"], 3);
    let hits: Vec<(String, String, String)> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["passenger_id"].as_str().unwrap().to_string(),
                h["by"].as_str().unwrap().to_string(),
                h["hit"]["record_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        hits,
        vec![
            ("P1".to_string(), "name".to_string(), wanted_id),
            ("P2".to_string(), "document".to_string(), doc_id)
        ]
    );
    let bad = json!({"officer": "o", "purpose": "x", "passengers": [
        {"passenger_id": "P1", "name": "SATO SHOICHI", "date_of_birth": "1980-02-30"}]});
    let (st, v) = s
        .call(
            "post",
            "/api/v1/registry/screenings",
            Some(&tokyo.query),
            Some(bad),
        )
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("passengers[0].date_of_birth")),
        "{v}"
    );
    let many: Vec<Value> = (0..301)
        .map(|i| json!({"passenger_id": format!("P{i}"), "name": "A B", "date_of_birth": "1980-01-01"}))
        .collect();
    let (st, v) = s
        .call(
            "post",
            "/api/v1/registry/screenings",
            Some(&tokyo.query),
            Some(json!({"officer": "o", "purpose": "x", "passengers": many})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("batch_too_large")),
        "{v}"
    );
}
both!(manifest_screening);

/// The kinds of the live events after `after` that `token`'s user receives (the stream's
/// own role and scope filter), with the prefecture each is for.
async fn live_kinds(s: &Server, token: &str, after: u64) -> Vec<(String, String)> {
    let ctx = koban_service::RequestCtx::default();
    let mut sub = s
        .koban
        .subscribe_live(&ctx, token, Some(after))
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(ev)) =
        tokio::time::timeout(Duration::from_millis(400), sub.next(&s.koban)).await
    {
        out.push((
            ev.kind.clone(),
            ev.pref_code.map(|p| p.to_string()).unwrap_or_default(),
        ));
    }
    out
}

async fn sweep(s: &Server) -> koban_service::registry::SweepReport {
    s.koban
        .system_sweep_hit_requests("test-sweep")
        .await
        .unwrap()
}

async fn queue(s: &Server, token: &str, query: &str) -> (u16, Value) {
    s.get(&format!("/api/v1/registry/hit-requests?{query}"), token)
        .await
}

/// An urgent request nobody answers is re-sent by the sweep after ten minutes and
/// escalated after the next deadline, each step audited and in the record's history; a
/// second sweep does nothing; the answer closes it. Each prefecture sees only its own side
/// of the queue, and the query centres (not analysts, not other prefectures) see it live.
async fn hit_queue_resend_escalate_answer(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let osaka = desk(s, "27", "o").await;
    let kanagawa = desk(s, "14", "k").await;
    let (_, analyst) = user_token(s, "analyst-t", "pref-13", &[Role::Analyst]).await;
    let id = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let head = s.koban.live().head();
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/hit-requests"),
            Some(&osaka.query),
            Some(json!({"priority": "urgent"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let req = v["hit_requests"][0]["id"].as_str().unwrap().to_string();

    // Tokyo's clerks must answer it; Osaka's query centre waits for it.
    let (st, v) = queue(s, &tokyo.clerk, "side=owner").await;
    assert_eq!(st, 200, "{v}");
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    let it = &items[0];
    assert_eq!(
        (
            it["record_id"].as_str(),
            it["record_kind"].as_str(),
            it["request_id"].as_str(),
            it["priority"].as_str(),
            it["from_pref"].as_str(),
            it["overdue_s"].as_i64(),
            it["resends"].as_i64(),
            it["escalated"].as_bool(),
            it["next_action"].as_str(),
        ),
        (
            Some(id.as_str()),
            Some("stolen_plate"),
            Some(req.as_str()),
            Some("urgent"),
            Some("27"),
            Some(0),
            Some(0),
            Some(false),
            Some("await_answer")
        ),
        "{it}"
    );
    let (_, v) = queue(s, &osaka.query, "side=inquirer").await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let (_, v) = queue(s, &osaka.clerk, "side=owner").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    // Answering needs record_enter: a query operator does not list the owner side.
    let (st, v) = queue(s, &tokyo.query, "side=owner").await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    // Kanagawa never sees Tokyo's or Osaka's queue.
    for (token, q) in [
        (&kanagawa.clerk, "side=owner"),
        (&kanagawa.query, "side=inquirer"),
        (&kanagawa.clerk, "side=inquirer"),
    ] {
        let (st, v) = queue(s, token, q).await;
        assert_eq!(st, 200, "{v}");
        assert!(v.as_array().unwrap().is_empty(), "{q}: {v}");
    }
    // Bad input names the field.
    for (q, status, field, code) in [
        ("", 422, "side", "required"),
        ("side=both", 422, "side", "invalid_format"),
        ("side=owner&overdue=maybe", 422, "overdue", "invalid_format"),
        ("side=owner&limit=0", 422, "limit", "out_of_range"),
        ("side=owner&limit=1001", 422, "limit", "out_of_range"),
        ("side=owner&limit=many", 422, "limit", "invalid_format"),
        ("side=owner&colour=red", 400, "colour", "invalid_query"),
    ] {
        let (st, v) = queue(s, &tokyo.clerk, q).await;
        assert_eq!(
            (
                st,
                v["error"]["field"].as_str(),
                v["error"]["code"].as_str()
            ),
            (status, Some(field), Some(code)),
            "{q}: {v}"
        );
    }
    // Listings are audited.
    let listed = s.audit_events("action=registry.hit_queue&limit=100").await;
    assert!(listed.iter().any(|e| e["detail"]["side"] == "inquirer"));

    // Eleven minutes on: overdue, and the sweep re-sends it with a new deadline.
    s.clock.advance_s(660);
    let (_, v) = queue(s, &tokyo.clerk, "side=owner&overdue=true").await;
    // At least the minute past the deadline (logons on the way move the test clock too).
    let late = v[0]["overdue_s"].as_i64().unwrap();
    assert!((60..600).contains(&late), "{v}");
    assert_eq!(v[0]["next_action"], "resend", "{v}");
    let (_, v) = queue(s, &tokyo.clerk, "side=owner&overdue=false").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    let r = sweep(s).await;
    assert_eq!((r.examined, r.resent, r.escalated), (1, 1, 0), "{r:?}");
    let again = sweep(s).await;
    assert_eq!(
        (again.examined, again.resent, again.escalated),
        (0, 0, 0),
        "a second sweep does nothing: {again:?}"
    );
    let (_, v) = queue(s, &tokyo.clerk, "side=owner").await;
    assert_eq!(
        (v[0]["resends"].as_i64(), v[0]["next_action"].as_str()),
        (Some(1), Some("await_answer")),
        "{v}"
    );
    let (_, v) = queue(s, &tokyo.clerk, "side=owner&overdue=true").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");

    // Past the new deadline: escalated, once.
    s.clock.advance_s(660);
    let r = sweep(s).await;
    assert_eq!((r.examined, r.resent, r.escalated), (1, 0, 1), "{r:?}");
    assert_eq!(r.steps[0].request_id, req);
    let again = sweep(s).await;
    assert_eq!((again.examined, again.escalated), (0, 0), "{again:?}");
    let (_, v) = queue(s, &tokyo.clerk, "side=owner&overdue=true").await;
    assert_eq!(
        (v[0]["escalated"].as_bool(), v[0]["next_action"].as_str()),
        (Some(true), Some("await_supervisor")),
        "{v}"
    );
    let (_, v) = s.get(&format!("/api/v1/records/{id}"), &tokyo.clerk).await;
    assert_eq!(
        v["overdue_requests"][0]["action"], "await_supervisor",
        "{v}"
    );
    assert!(v["hit_requests"][0]["escalated_at"].is_i64(), "{v}");

    // Each step is audited and in the history, under the sweep's name for Osaka.
    for action in ["registry.hit_resend", "registry.hit_escalate"] {
        let events = s
            .audit_events(&format!("action={action}&object_id={id}"))
            .await;
        assert_eq!(events.len(), 1, "{action}: {events:?}");
        assert_eq!(events[0]["actor_name"], "test-sweep");
        assert_eq!(events[0]["detail"]["automatic"], true);
        assert_eq!(events[0]["detail"]["request_id"], req.as_str());
    }

    // The owner answers: the request leaves both sides of the queue.
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/hit-requests/{req}/response"),
            Some(&tokyo.clerk),
            Some(json!({"answer": "confirmed"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = queue(s, &tokyo.clerk, "side=owner").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    let (_, v) = queue(s, &osaka.query, "side=inquirer").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    let r = sweep(s).await;
    assert_eq!(r.examined, 0, "{r:?}");
    let (_, v) = s
        .get(&format!("/api/v1/records/{id}/history"), &tokyo.clerk)
        .await;
    let steps: Vec<(&str, &str)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["message"].as_str().unwrap(), h["actor"].as_str().unwrap()))
        .filter(|(m, _)| m.starts_with("hit_"))
        .collect();
    assert_eq!(steps.len(), 4, "{v}");
    assert_eq!(steps[1], ("hit_confirmation_resend", "test-sweep"));
    assert_eq!(steps[2], ("hit_confirmation_escalate", "test-sweep"));

    // Live: both query centres follow the request; analysts and Kanagawa see nothing of it.
    let expect = |pref: &str| {
        [
            "registry.hit_request.sent",
            "registry.hit_request.resent",
            "registry.hit_request.escalated",
            "registry.hit_request.closed",
        ]
        .iter()
        .map(|k| (k.to_string(), pref.to_string()))
        .collect::<Vec<_>>()
    };
    let registry_only = |v: Vec<(String, String)>| {
        v.into_iter()
            .filter(|(k, _)| k.starts_with("registry."))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        registry_only(live_kinds(s, &tokyo.query, head).await),
        expect("13")
    );
    assert_eq!(
        registry_only(live_kinds(s, &tokyo.clerk, head).await),
        expect("13")
    );
    assert_eq!(
        registry_only(live_kinds(s, &osaka.query, head).await),
        expect("27")
    );
    assert!(live_kinds(s, &analyst, head).await.is_empty());
    assert!(live_kinds(s, &kanagawa.query, head).await.is_empty());
}
both!(hit_queue_resend_escalate_answer);

/// A cancelled record's requests leave the queue at once and are never swept.
async fn cancelled_records_leave_the_queue(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let osaka = desk(s, "27", "o").await;
    let id = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/hit-requests"),
            Some(&osaka.query),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = queue(s, &tokyo.clerk, "side=owner").await;
    assert_eq!(v[0]["priority"], "routine", "{v}");
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{id}/cancel"),
            Some(&tokyo.clerk),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (_, v) = queue(s, &tokyo.clerk, "side=owner").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    let (_, v) = queue(s, &osaka.query, "side=inquirer").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    s.clock.advance_s(2 * 3600);
    let r = sweep(s).await;
    assert_eq!((r.examined, r.resent, r.escalated), (0, 0, 0), "{r:?}");
}
both!(cancelled_records_leave_the_queue);

/// "Who queried" a person finds the inquiries typed in kanji, kana, passport Hepburn and
/// word-processor romaji, asked in any of those forms, when the registry holds the person;
/// a person it does not hold is matched only within the script the auditor typed.
async fn who_queried_across_scripts(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let osaka = desk(s, "27", "o").await;
    enter_and_verify(s, &tokyo, wanted()).await;
    let forms = [
        "佐藤 翔一",
        "サトウ ショウイチ",
        "SATO SHOICHI",
        "SATOU SHOUICHI",
    ];
    for name in forms {
        let (st, v) = inquire(
            s,
            &osaka.query,
            json!({"name": name, "date_of_birth": "1980-04-01", "officer": "PC-5"}),
            Some("checkpoint"),
        )
        .await;
        assert_eq!((st, v["hit"].as_bool()), (200, Some(true)), "{name}: {v}");
    }
    // Someone the registry does not hold, asked about in kanji and in romaji.
    for name in ["田中 一郎", "TANAKA ICHIRO"] {
        let (st, v) = inquire(
            s,
            &osaka.query,
            json!({"name": name, "date_of_birth": "1990-01-01", "officer": "PC-5"}),
            Some("checkpoint"),
        )
        .await;
        assert_eq!((st, v["hit"].as_bool()), (200, Some(false)), "{name}: {v}");
    }
    let (_, auditor) = user_token(s, "auditor-w", "npa", &[Role::Auditor]).await;
    let who = |name: &str, dob: &str| {
        let q = format!(
            "/api/v1/registry/inquiries?name={}&date_of_birth={dob}",
            urlencode(name)
        );
        let auditor = auditor.clone();
        async move { s.get(&q, &auditor).await }
    };
    for name in forms {
        let (st, v) = who(name, "1980-04-01").await;
        assert_eq!(st, 200, "{v}");
        let inquiries: Vec<&Value> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "registry.inquiry")
            .collect();
        assert_eq!(inquiries.len(), 4, "asked as {name}: {v}");
        assert!(inquiries.iter().all(|e| e["detail"]["officer"] == "PC-5"));
        let subjects: Vec<&str> = v["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert!(
            subjects.contains(&"PERSON|佐藤 翔一|1980-04-01")
                && subjects.contains(&"PERSON|sato shoichi|1980-04-01"),
            "{subjects:?}"
        );
    }
    for name in ["田中 一郎", "TANAKA ICHIRO"] {
        let (st, v) = who(name, "1990-01-01").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["subjects"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["events"].as_array().unwrap().len(), 1, "{name}: {v}");
    }
    // Another date of birth is another person: no dictionary, no cross-script match.
    let (_, v) = who("佐藤 翔一", "1980-04-02").await;
    assert_eq!(v["subjects"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["events"].as_array().unwrap().is_empty(), "{v}");
    // An auditor of another prefecture cannot use Tokyo's record as a dictionary.
    let (_, k_auditor) = user_token(s, "auditor-k", "pref-14", &[Role::Auditor]).await;
    let (_, v) = s
        .get(
            &format!(
                "/api/v1/registry/inquiries?name={}&date_of_birth=1980-04-01",
                urlencode("佐藤 翔一")
            ),
            &k_auditor,
        )
        .await;
    assert_eq!(v["subjects"].as_array().unwrap().len(), 1, "{v}");
}
both!(who_queried_across_scripts);

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A purged record leaves a tombstone, so an export since an earlier version reports its
/// removal; tombstones are pruned after their retention, and a site behind that horizon is
/// told to take a full copy.
async fn exports_report_purged_records(s: &Server) {
    let tokyo = desk(s, "13", "t").await;
    let a = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-34")).await;
    let b = enter_and_verify(s, &tokyo, stolen_plate("品川 300 あ 12-35")).await;
    let mut full = Vec::new();
    let v1 = s
        .koban
        .system_export_records("test", "", &mut full)
        .await
        .unwrap();
    assert_eq!((v1.records, v1.removed), (2, 0));
    // Sixty-one days on b is validated; ninety-one days on a is purged unvalidated.
    s.clock.advance_s(61 * 86_400);
    let (_, clerk) = user_token(s, "clerk-e", "pref-13", &[Role::RecordsClerk]).await;
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/records/{b}/validate"),
            Some(&clerk),
            None,
        )
        .await;
    assert_eq!(st, 200);
    s.clock.advance_s(30 * 86_400);
    let p = s.koban.system_purge_records("test").await.unwrap();
    assert_eq!(p.purged.get("unvalidated"), Some(&1), "{p:?}");
    let mut diff = Vec::new();
    let v2 = s
        .koban
        .system_export_records("test", &v1.version, &mut diff)
        .await
        .unwrap();
    let text = String::from_utf8(diff).unwrap();
    assert_eq!((v2.records, v2.removed), (1, 1), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], b.as_str(), "changes in order: {text}");
    assert_eq!(
        (lines[1]["id"].as_str(), lines[1]["removed"].as_bool()),
        (Some(a.as_str()), Some(true)),
        "{text}"
    );
    assert_eq!(lines[1]["version"], v2.version.as_str());
    let mut none = Vec::new();
    let v3 = s
        .koban
        .system_export_records("test", &v2.version, &mut none)
        .await
        .unwrap();
    assert_eq!((v3.records, v3.removed), (0, 0));
    // Over 400 days later the tombstone is pruned (b, unvalidated for a year, goes now).
    s.clock.advance_s(401 * 86_400);
    let p = s.koban.system_purge_records("test").await.unwrap();
    assert_eq!(
        (p.purged.get("unvalidated"), p.tombstones_pruned),
        (Some(&1), 1),
        "{p:?}"
    );
    assert_eq!(
        s.audit_events("action=registry.tombstone_prune")
            .await
            .len(),
        1
    );
    // A copy from before the horizon cannot catch up by difference.
    for old in [&v1.version, &v2.version] {
        let mut out = Vec::new();
        match s.koban.system_export_records("test", old, &mut out).await {
            Err(koban_service::ServiceError::Invalid { field, code, .. }) => {
                assert_eq!((field.as_str(), code), ("since", "full_copy_required"));
            }
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty());
    }
    let refused = s.audit_events("action=registry.export").await;
    assert!(
        refused.iter().any(|e| e["result"] == "invalid"),
        "{refused:?}"
    );
    // A full copy, then differences from it, work again.
    let mut out = Vec::new();
    let v4 = s
        .koban
        .system_export_records("test", "", &mut out)
        .await
        .unwrap();
    assert_eq!((v4.records, v4.removed), (0, 0));
    let mut out = Vec::new();
    s.koban
        .system_export_records("test", &v4.version, &mut out)
        .await
        .unwrap();
}
both!(exports_report_purged_records);
