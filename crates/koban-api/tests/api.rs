//! End-to-end tests of the HTTP API against a real server on a random port, each run
//! against SQLite and against PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use koban_access::Role;
use serde_json::{Value, json};

const ROLES_ALL: &[Role] = &Role::ALL;

async fn health_and_readiness(s: &Server) {
    let (st, v) = s.call("get", "/healthz", None, None).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    let (st, v) = s.call("get", "/readyz", None, None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("get", "/no/such/thing", None, None).await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
}
both!(health_and_readiness);

async fn login_session_logout(s: &Server) {
    let u = s.user("dispatcher1", "pref-13", &[Role::Dispatcher]).await;
    let t1 = s.login(&u).await;
    let (st, v) = s.get("/api/v1/auth/session", &t1).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["user"]["username"], "dispatcher1");
    assert_eq!(v["scope"], json!(["13"]));
    assert_eq!(v["idle_timeout_s"], 1800);
    // A second logon gives a fresh token; both stay valid because this account allows
    // concurrent sessions.
    let t2 = s.login(&u).await;
    assert_ne!(t1, t2);
    assert_eq!(s.get("/api/v1/auth/session", &t2).await.0, 200);
    // Logout really ends the session.
    let (st, _) = s.call("post", "/api/v1/auth/logout", Some(&t2), None).await;
    assert_eq!(st, 204);
    let (st, v) = s.get("/api/v1/auth/session", &t2).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(s.get("/api/v1/auth/session", &t1).await.0, 200);
    // Garbage tokens are refused without a server error.
    for bad in [
        "",
        "x",
        "kbn_",
        "kbn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer",
    ] {
        let (st, _) = s.get("/api/v1/auth/session", bad).await;
        assert_eq!(st, 401, "{bad}");
    }
    let ok = s.audit_events("action=auth.login&actor=dispatcher1").await;
    assert_eq!(ok.iter().filter(|e| e["result"] == "success").count(), 2);
    let out = s.audit_events("action=auth.logout").await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["actor_name"], "dispatcher1");
}
both!(login_session_logout);

async fn single_session_accounts_lose_the_old_session(s: &Server) {
    let u = s.user("officer1", "pref-13", &[Role::FieldOfficer]).await;
    // Make the account single-session through the admin API.
    let admin = s.user("admin13", "pref-13", &[Role::Administrator]).await;
    let ta = s.login(&admin).await;
    let (st, v) = s
        .call(
            "patch",
            &format!("/api/v1/users/{}", u.id),
            Some(&ta),
            Some(json!({"allow_concurrent": false})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t1 = s.login(&u).await;
    let t2 = s.login(&u).await;
    assert_eq!(s.get("/api/v1/auth/session", &t1).await.0, 401);
    assert_eq!(s.get("/api/v1/auth/session", &t2).await.0, 200);
}
both!(single_session_accounts_lose_the_old_session);

async fn failed_logons_are_refused_alike_and_audited(s: &Server) {
    let u = s.user("calltaker1", "pref-13", &[Role::CallTaker]).await;
    let code = s.code(&u);
    // Wrong password with a right code, right password with a wrong code, unknown user:
    // all look the same to the client.
    let r = s.login_raw(&u, "wrong-password-123", &code).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_credentials");
    let r = s.login_raw(&u, &u.password, "000000").await;
    assert_eq!(r.status(), 401);
    let ghost = common::TestUser {
        username: "nobody".into(),
        ..u.clone()
    };
    let r = s.login_raw(&ghost, &u.password, &code).await;
    assert_eq!(r.status(), 401);
    // A code works once: the successful logon consumes it, a replay fails.
    let code = s.code(&u);
    assert_eq!(s.login_raw(&u, &u.password, &code).await.status(), 200);
    assert_eq!(s.login_raw(&u, &u.password, &code).await.status(), 401);
    let failures = s.audit_events("action=auth.login").await;
    let reasons: Vec<&str> = failures
        .iter()
        .filter(|e| e["result"] == "failure")
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    for r in ["bad_password", "bad_totp", "unknown_user"] {
        assert!(reasons.contains(&r), "{r} missing from {reasons:?}");
    }
    let unknown = s.audit_events("actor=nobody").await;
    assert_eq!(
        unknown.len(),
        1,
        "a failed logon under an unknown name is findable by that name"
    );
}
both!(failed_logons_are_refused_alike_and_audited);

async fn five_failures_lock_until_an_administrator_unlocks(s: &Server) {
    let u = s.user("clerk1", "pref-14", &[Role::RecordsClerk]).await;
    for i in 1..=5 {
        let code = s.code(&u);
        let r = s.login_raw(&u, "not-the-password-9", &code).await;
        let expect = if i < 5 { 401 } else { 423 };
        assert_eq!(r.status(), expect, "attempt {i}");
    }
    // Locked even with the right password, and no automatic expiry.
    s.clock.advance_s(24 * 3600);
    let code = s.code(&u);
    let r = s.login_raw(&u, &u.password, &code).await;
    assert_eq!(r.status(), 423);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "account_locked");
    assert_eq!(s.audit_events("action=auth.lockout").await.len(), 1);
    // A Tokyo administrator cannot see, let alone unlock, a Kanagawa account.
    let tokyo = s
        .user("admin-tokyo", "pref-13", &[Role::Administrator])
        .await;
    let tt = s.login(&tokyo).await;
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/users/{}/unlock", u.id),
            Some(&tt),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let admin = s
        .user("admin-kanagawa", "pref-14", &[Role::Administrator])
        .await;
    let ta = s.login(&admin).await;
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/users/{}/unlock", u.id),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["locked"], false);
    s.login(&u).await;
    // Failures spread over more than 15 minutes do not lock.
    for _ in 0..4 {
        let code = s.code(&u);
        assert_eq!(
            s.login_raw(&u, "nope-nope-nope-1", &code).await.status(),
            401
        );
    }
    s.clock.advance_s(16 * 60);
    let code = s.code(&u);
    assert_eq!(
        s.login_raw(&u, "nope-nope-nope-1", &code).await.status(),
        401
    );
    s.login(&u).await;
}
both!(five_failures_lock_until_an_administrator_unlocks);

async fn idle_and_absolute_session_limits(s: &Server) {
    let u = s.user("analyst1", "pref-13", &[Role::Analyst]).await;
    let t = s.login(&u).await;
    s.clock.advance_s(29 * 60);
    assert_eq!(
        s.get("/api/v1/auth/session", &t).await.0,
        200,
        "activity within 30 minutes keeps it open"
    );
    s.clock.advance_s(31 * 60);
    let (st, v) = s.get("/api/v1/auth/session", &t).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("session_idle_timeout"))
    );
    assert_eq!(
        s.get("/api/v1/auth/session", &t).await.0,
        401,
        "an idle session stays ended"
    );
    assert!(!s.audit_events("action=auth.session_end").await.is_empty());

    // A registered command-room terminal exempt from the idle lock.
    let admin = s.user("admin-t", "pref-13", &[Role::Administrator]).await;
    let ta = s.login(&admin).await;
    let (st, v) = s
        .call(
            "post",
            "/api/v1/terminals",
            Some(&ta),
            Some(json!({"name": "指令台1", "unit_id": "pref-13", "idle_exempt": true})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let key = v["terminal_key"].as_str().unwrap().to_string();
    let code = s.code(&u);
    let r = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"username": u.username, "password": u.password, "totp_code": code, "terminal_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["session"]["idle_timeout_s"], Value::Null);
    let te = v["token"].as_str().unwrap().to_string();
    s.clock.advance_s(3 * 3600);
    assert_eq!(
        s.get("/api/v1/auth/session", &te).await.0,
        200,
        "exempt terminals do not idle-lock"
    );
    // …but the 12-hour limit holds for everyone.
    s.clock.advance_s(9 * 3600);
    let (st, v) = s.get("/api/v1/auth/session", &te).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("session_expired"))
    );
    // An unknown terminal key fails the logon.
    let code = s.code(&u);
    let r = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"username": u.username, "password": u.password, "totp_code": code, "terminal_key": "kbt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
both!(idle_and_absolute_session_limits);

async fn role_changes_and_disabling_end_sessions(s: &Server) {
    let admin = s.user("admin-r", "pref-13", &[Role::Administrator]).await;
    let ta = s.login(&admin).await;
    let u = s.user("changing", "pref-13", &[Role::CallTaker]).await;
    let tu = s.login(&u).await;
    let (st, v) = s
        .call(
            "patch",
            &format!("/api/v1/users/{}", u.id),
            Some(&ta),
            Some(json!({"roles": ["dispatcher"]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.get("/api/v1/auth/session", &tu).await.0, 401);
    let tu = s.login(&u).await;
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/users/{}/disable", u.id),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(s.get("/api/v1/auth/session", &tu).await.0, 401);
    let code = s.code(&u);
    let r = s.login_raw(&u, &u.password, &code).await;
    assert_eq!(r.status(), 403);
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/users/{}/enable", u.id),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(st, 200);
    s.login(&u).await;
    // Own password change ends every session; the new password works.
    let tu = s.login(&u).await;
    let (st, v) = s
        .call(
            "put",
            "/api/v1/me/password",
            Some(&tu),
            Some(json!({"current_password": u.password, "new_password": "short1"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("password_too_short"))
    );
    let (st, v) = s
        .call(
            "put",
            "/api/v1/me/password",
            Some(&tu),
            Some(json!({"current_password": u.password, "new_password": "p@ssw0rd2024"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("new_password")),
        "{v}"
    );
    let refused = s.audit_events("action=auth.password_change").await;
    assert_eq!(
        refused.iter().filter(|e| e["result"] == "invalid").count(),
        2,
        "refusals are audited"
    );
    let (st, _) = s
        .call(
            "put",
            "/api/v1/me/password",
            Some(&tu),
            Some(
                json!({"current_password": u.password, "new_password": "夜勤明けの交番で飲むお茶"}),
            ),
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(s.get("/api/v1/auth/session", &tu).await.0, 401);
    let u2 = common::TestUser {
        password: "夜勤明けの交番で飲むお茶".into(),
        ..u
    };
    s.login(&u2).await;
}
both!(role_changes_and_disabling_end_sessions);

/// Tokyo objects of every kind that has ids, for the cross-prefecture tests.
struct TokyoObjects {
    station: String,
    user: String,
    terminal: String,
    incident: String,
    call: String,
    unit: String,
    message: String,
}

async fn tokyo_objects(s: &Server) -> TokyoObjects {
    let admin = s
        .user("admin-tokyo-objs", "pref-13", &[Role::Administrator])
        .await;
    let ta = s.login(&admin).await;
    let (st, v) = s
        .call(
            "post",
            "/api/v1/org/units",
            Some(&ta),
            Some(json!({"id": "st-13-marunouchi", "kind": "station", "parent_id": "pref-13", "name_ja": "丸の内警察署", "name_en": "Marunouchi", "pref_code": "13", "latitude": 35.68, "longitude": 139.76})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let user = s
        .user("tokyo-officer", "st-13-marunouchi", &[Role::FieldOfficer])
        .await;
    let (st, v) = s
        .call(
            "post",
            "/api/v1/terminals",
            Some(&ta),
            Some(json!({"name": "指令台", "unit_id": "pref-13"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let terminal = v["terminal"]["id"].as_str().unwrap().to_string();
    let disp = s
        .user("tokyo-dispatcher", "pref-13", &[Role::Dispatcher])
        .await;
    let td = s.login(&disp).await;
    let (st, call) = s
        .call("post", "/api/v1/calls", Some(&td), Some(json!({"statement": "交差点で事故", "caller_location": {"lat": 35.68, "lon": 139.76, "radius_m": 50}})))
        .await;
    assert_eq!(st, 201, "{call}");
    let (st, inc) = s
        .call(
            "post",
            "/api/v1/incidents",
            Some(&td),
            Some(
                json!({"type_code": "traffic_accident", "location": {"lat": 35.68, "lon": 139.76}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{inc}");
    let (st, unit) = s
        .call("post", "/api/v1/units", Some(&td), Some(json!({"id": "marunouchi-1", "kind": "patrol_car", "crew_count": 2, "home_station_id": "st-13-marunouchi"})))
        .await;
    assert_eq!(st, 201, "{unit}");
    let (st, msg) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&td),
            Some(json!({"to": "unit", "target_id": "marunouchi-1", "text": "至急"})),
        )
        .await;
    assert_eq!(st, 201, "{msg}");
    TokyoObjects {
        station: "st-13-marunouchi".into(),
        user: user.id,
        terminal,
        incident: inc["id"].as_str().unwrap().to_string(),
        call: call["call"]["id"].as_str().unwrap().to_string(),
        unit: "marunouchi-1".into(),
        message: msg["id"].as_str().unwrap().to_string(),
    }
}

fn fill(path: &str, o: &TokyoObjects) -> String {
    let id = if path.starts_with("/org/units/{id}") {
        &o.station
    } else if path.starts_with("/terminals/") {
        &o.terminal
    } else if path.starts_with("/incidents/") {
        &o.incident
    } else if path.starts_with("/units/") {
        &o.unit
    } else if path.starts_with("/messages/") {
        &o.message
    } else {
        &o.user
    };
    path.replace("{id}", id)
        .replace("{pref}", "13")
        .replace("{call_id}", &o.call)
        .replace("{unit_id}", &o.unit)
}

fn sample_body(op: &koban_api::openapi::Operation) -> Option<Value> {
    match op.body {
        None | Some("csv") => None,
        Some("UnitPatch") => Some(json!({"name_en": "changed"})),
        Some("UserPatch") => Some(json!({"display_name": "changed"})),
        Some("PasswordReset") => Some(json!({"new_password": "a-very-long-new-passphrase"})),
        Some("Transition") => Some(json!({"command": "dispatch"})),
        Some("UnitStatus") => Some(json!({"status": "on_patrol"})),
        Some("Dispatch") => Some(json!({"unit_ids": ["marunouchi-1"]})),
        Some("AssignmentStep") => Some(json!({"step": "en_route"})),
        Some("ReadReceipt") => Some(json!({"unit_id": "marunouchi-1"})),
        Some(_) => Some(json!({})),
    }
}

/// Every endpoint that takes an id answers 404 to a Kanagawa administrator (who holds
/// every role) asking about a Tokyo object, the attempt is audited, and nothing changes.
async fn other_prefectures_objects_are_not_found_on_every_endpoint(s: &Server) {
    let o = tokyo_objects(s).await;
    let k = s.user("kanagawa-all", "pref-14", ROLES_ALL).await;
    let tk = s.login(&k).await;
    let mut checked = 0;
    for op in koban_api::openapi::OPERATIONS
        .iter()
        .filter(|op| op.path.contains("{id}"))
    {
        let path = format!("/api/v1{}", fill(op.path, &o));
        let before = s.audit_size().await;
        let (st, v) = s.call(op.method, &path, Some(&tk), sample_body(op)).await;
        assert_eq!(st, 404, "{} {path}: {v}", op.method);
        assert_eq!(v["error"]["code"], "not_found");
        assert_eq!(
            s.audit_size().await,
            before + 1,
            "{} {path} must be audited",
            op.method
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} endpoints checked");
    let denied = s.audit_events("actor=kanagawa-all").await;
    assert!(denied.iter().filter(|e| e["result"] == "not_found").count() >= checked);
    // Lists are scoped too: no Tokyo station, user or terminal shows up.
    let (_, units) = s.get("/api/v1/org/units?kind=station", &tk).await;
    assert!(units.as_array().unwrap().is_empty(), "{units}");
    let (_, users) = s.get("/api/v1/users", &tk).await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["pref_code"] == "14"),
        "{users}"
    );
    let (_, terms) = s.get("/api/v1/terminals", &tk).await;
    assert!(terms.as_array().unwrap().is_empty());
    // The Tokyo station is unchanged.
    let tokyo = s.user("tokyo-reader", "pref-13", &[Role::Dispatcher]).await;
    let tt = s.login(&tokyo).await;
    let (st, v) = s
        .get(&format!("/api/v1/org/units/{}", o.station), &tt)
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["name_en"], "Marunouchi");
    // A grant widens the scope: the national administrator grants Tokyo to the Kanagawa user.
    let npa = s.user("npa-admin", "npa", &[Role::Administrator]).await;
    let tn = s.login(&npa).await;
    let (st, v) = s
        .call(
            "put",
            &format!("/api/v1/users/{}/grants/13", k.id),
            Some(&tn),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let tk = s.login(&k).await;
    assert_eq!(
        s.get(&format!("/api/v1/org/units/{}", o.station), &tk)
            .await
            .0,
        200
    );
    // The Kanagawa administrator cannot grant Tokyo to anyone (outside their scope)…
    let k2 = s.user("kanagawa-2", "pref-14", &[Role::Dispatcher]).await;
    let tk2 = {
        let ka = s
            .user("kanagawa-admin-only", "pref-14", &[Role::Administrator])
            .await;
        s.login(&ka).await
    };
    let (st, _) = s
        .call(
            "put",
            &format!("/api/v1/users/{}/grants/13", k2.id),
            Some(&tk2),
            None,
        )
        .await;
    assert_eq!(st, 403);
}
both!(other_prefectures_objects_are_not_found_on_every_endpoint);

/// Every endpoint but logon refuses a request without a valid token.
async fn every_endpoint_authenticates(s: &Server) {
    let o = TokyoObjects {
        station: "st-13-x".into(),
        user: "usr_0".into(),
        terminal: "trm_0".into(),
        incident: "inc_0".into(),
        call: "cal_0".into(),
        unit: "unit-0".into(),
        message: "msg_0".into(),
    };
    for op in koban_api::openapi::OPERATIONS {
        let path = format!("/api/v1{}", fill(op.path, &o));
        let (st, v) = s.call(op.method, &path, None, sample_body(op)).await;
        if op.auth {
            assert_eq!(st, 401, "{} {path}: {v}", op.method);
        } else {
            assert_ne!(st, 404, "{} {path} must exist", op.method);
        }
    }
    let (st, _) = s
        .call("get", "/api/v1/openapi.json", Some("kbn_garbage"), None)
        .await;
    assert_eq!(st, 401);
}
both!(every_endpoint_authenticates);

/// Roles deny by default: each management endpoint refuses roles that lack it, and the
/// refusal is audited as denied.
async fn roles_deny_by_default(s: &Server) {
    let ct = s
        .user(
            "ct1",
            "pref-13",
            &[Role::CallTaker, Role::Dispatcher, Role::FieldOfficer],
        )
        .await;
    let t = s.login(&ct).await;
    let cases = [
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/terminals"),
        ("get", "/api/v1/audit/events"),
        ("get", "/api/v1/audit/checkpoint"),
        ("post", "/api/v1/org/units"),
    ];
    for (m, p) in cases {
        let body = (m == "post").then(|| {
            if p.contains("users") {
                json!({"username": "x", "display_name": "x", "unit_id": "pref-13", "roles": ["auditor"], "password": "long-enough-password-1"})
            } else {
                json!({"id": "st-13-x", "kind": "station", "parent_id": "pref-13", "name_ja": "x", "name_en": "x", "pref_code": "13"})
            }
        });
        let (st, v) = s.call(m, p, Some(&t), body).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{m} {p}"
        );
    }
    let denied = s.audit_events("actor=ct1").await;
    assert_eq!(
        denied.iter().filter(|e| e["result"] == "denied").count(),
        cases.len()
    );
    // Nothing was created.
    let (st, _) = s
        .call("get", "/api/v1/org/units/st-13-x", Some(&t), None)
        .await;
    assert_eq!(st, 404);
}
both!(roles_deny_by_default);

/// Bad input: 4xx with a stable code naming the field, and nothing stored.
async fn bad_input_is_refused_precisely(s: &Server) {
    let admin = s.user("admin-b", "pref-13", &[Role::Administrator]).await;
    let t = s.login(&admin).await;
    let post = |body: String, ct: &'static str| {
        let req = s
            .http
            .post(s.url("/api/v1/users"))
            .bearer_auth(&t)
            .header("content-type", ct)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    let users_before = s.get("/api/v1/users", &t).await.1.as_array().unwrap().len();
    let (st, v) = post("{not json".into(), "application/json").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (st, v) = post(json!({"username": 5}).to_string(), "application/json").await;
    assert_eq!(
        (
            st,
            v["error"]["code"].as_str(),
            v["error"]["field"].as_str()
        ),
        (422, Some("invalid_field"), Some("username"))
    );
    let good = json!({"username": "newuser", "display_name": "新 規", "unit_id": "pref-13", "roles": ["dispatcher"], "password": "a-decent-passphrase-42"});
    let mut extra = good.clone();
    extra["is_admin"] = json!(true);
    let (st, v) = post(extra.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("is_admin")),
        "{v}"
    );
    let mut bad_role = good.clone();
    bad_role["roles"] = json!(["superuser"]);
    let (st, v) = post(bad_role.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("roles[0]")),
        "{v}"
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("unit_id");
    let (st, v) = post(missing.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("unit_id")),
        "{v}"
    );
    let (st, v) = post(good.to_string(), "text/plain").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let mut huge = good.clone();
    huge["display_name"] = json!("x".repeat(100_000));
    let (st, v) = post(huge.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let mut long_name = good.clone();
    long_name["display_name"] = json!("x".repeat(101));
    let (st, v) = post(long_name.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("display_name"))
    );
    let mut bad_user = good.clone();
    bad_user["username"] = json!("Bad Name");
    let (st, v) = post(bad_user.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("invalid_username"))
    );
    let mut weak = good.clone();
    weak["password"] = json!("password123");
    let (st, v) = post(weak.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("password_common")),
        "{v}"
    );
    let mut bad_unit = good.clone();
    bad_unit["unit_id"] = json!("pref-99");
    let (st, v) = post(bad_unit.to_string(), "application/json").await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("unit_id")));
    // Bad ids in paths and queries.
    let (st, v) = s.get("/api/v1/users/not-an-id", &t).await;
    assert_eq!((st, v["error"]["code"].as_str()), (422, Some("invalid_id")));
    let (st, v) = s.get("/api/v1/audit/proofs/inclusion?seq=abc", &t).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_query")),
        "{v}"
    );
    let (st, v) = s.get("/api/v1/org/units?limit=-1", &t).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_query")),
        "{v}"
    );
    let (st, v) = s.get("/api/v1/org/units?colour=red", &t).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("colour")),
        "{v}"
    );
    // Nothing was written.
    let users_after = s.get("/api/v1/users", &t).await.1.as_array().unwrap().len();
    assert_eq!(users_before, users_after);
    // Then the good request works, and a duplicate is a conflict.
    let (st, v) = post(good.to_string(), "application/json").await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["totp_secret"].as_str().unwrap().len(), 32);
    assert!(
        v["totp_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(v["user"].get("password_hash").is_none());
    // The TOTP secret is sealed at rest, bound to its account.
    let secret = v["totp_secret"].as_str().unwrap().to_string();
    let stored = s
        .koban
        .store()
        .peek_user(koban_store::UserKey::Username("newuser"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.totp_secret.starts_with("kbs1:"), "stored sealed");
    assert!(!stored.totp_secret.contains(&secret));
    let (st, v) = post(good.to_string(), "application/json").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("duplicate_username"))
    );
}
both!(bad_input_is_refused_precisely);

async fn stations_and_boxes(s: &Server) {
    let admin = s.user("admin-o", "pref-14", &[Role::Administrator]).await;
    let t = s.login(&admin).await;
    let (st, v) = s.get("/api/v1/org/units?limit=1000", &t).await;
    assert_eq!(st, 200);
    assert_eq!(v.as_array().unwrap().len(), 60, "the built-in organisation");
    let (_, v) = s.get("/api/v1/org/units/pref-13", &t).await;
    assert_eq!(v["name_ja"], "警視庁");
    let (_, v) = s.get("/api/v1/org/units/rpb-shikoku", &t).await;
    assert_eq!(v["parent_id"], "rpb-chugoku-shikoku");
    // Built-in units are read-only.
    let (st, v) = s
        .call(
            "patch",
            "/api/v1/org/units/pref-14",
            Some(&t),
            Some(json!({"name_en": "x"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("builtin_unit"))
    );
    // Import: one bad line means nothing is stored, and every bad line is named.
    let bad = "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
               st-14-kagacho,station,pref-14,加賀町警察署,Kagacho,14,35.44,139.64,\n\
               kb-14-x,koban,st-14-kagacho,中華街交番,Chinatown,14,95.0,139.6,\n\
               st-14-tokyo,station,pref-13,越境署,Cross,14,,,\n";
    let r = s
        .http
        .post(s.url("/api/v1/org/units/import"))
        .bearer_auth(&t)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let lines = v["error"]["lines"].as_array().unwrap();
    assert_eq!(lines[0]["line"], 3, "{v}");
    assert_eq!(lines[0]["field"], "latitude");
    assert_eq!(
        s.get("/api/v1/org/units/st-14-kagacho", &t).await.0,
        404,
        "nothing half-written"
    );
    let good = "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
                st-14-kagacho,station,pref-14,加賀町警察署,Kagacho,14,35.44,139.64,神奈川県横浜市中区\n\
                kb-14-chinatown,koban,st-14-kagacho,中華街交番,Chinatown,14,35.44,139.64,\n";
    let r = s
        .http
        .post(s.url("/api/v1/org/units/import"))
        .bearer_auth(&t)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, v) = s.get("/api/v1/org/units?parent_id=st-14-kagacho", &t).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    // Importing into Tokyo is outside a Kanagawa administrator's scope.
    let tokyo = "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
                 st-13-x,station,pref-13,x署,X,13,,,\n";
    let r = s
        .http
        .post(s.url("/api/v1/org/units/import"))
        .bearer_auth(&t)
        .body(tokyo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // A koban must hang under a station of its own prefecture.
    let (st, v) = s
        .call("post", "/api/v1/org/units", Some(&t), Some(json!({"id": "kb-14-bad", "kind": "koban", "parent_id": "pref-14", "name_ja": "x", "name_en": "x", "pref_code": "14"})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("invalid_parent"))
    );
    let (st, v) = s
        .call(
            "patch",
            "/api/v1/org/units/kb-14-chinatown",
            Some(&t),
            Some(json!({"latitude": 10.0})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("latitude")),
        "{v}"
    );
    let (st, v) = s
        .call(
            "patch",
            "/api/v1/org/units/kb-14-chinatown",
            Some(&t),
            Some(json!({"name_en": "Yokohama Chinatown Koban"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["name_en"], "Yokohama Chinatown Koban");
}
both!(stations_and_boxes);

async fn audit_log_answers_with_verifiable_proofs(s: &Server) {
    let auditor = s.user("auditor13", "pref-13", &[Role::Auditor]).await;
    let t = s.login(&auditor).await;
    let (st, cp) = s.get("/api/v1/audit/checkpoint", &t).await;
    assert_eq!(st, 200, "{cp}");
    let size1 = cp["tree_size"].as_u64().unwrap();
    let root1 = koban_audit::parse_hex_hash(cp["root_hash"].as_str().unwrap()).unwrap();
    // The signature checks out with the published key over the published body.
    let pk: [u8; 32] = data_encoding::BASE64
        .decode(cp["public_key"].as_str().unwrap().as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    let sig = data_encoding::BASE64
        .decode(cp["signature"].as_str().unwrap().as_bytes())
        .unwrap();
    let checkpoint = koban_audit::Checkpoint {
        origin: cp["origin"].as_str().unwrap().into(),
        tree_size: size1,
        root_hash: root1,
        timestamp_us: cp["timestamp_us"].as_i64().unwrap(),
    };
    koban_audit::verify_checkpoint(&pk, &checkpoint, &sig).unwrap();
    assert_eq!(
        cp["signed_body"].as_str().unwrap().as_bytes(),
        checkpoint.signed_body()
    );
    // More activity, then a consistency proof from the old head to the new one.
    for _ in 0..5 {
        s.get("/api/v1/auth/session", &t).await;
    }
    let (_, cp2) = s.get("/api/v1/audit/checkpoint", &t).await;
    let size2 = cp2["tree_size"].as_u64().unwrap();
    let root2 = koban_audit::parse_hex_hash(cp2["root_hash"].as_str().unwrap()).unwrap();
    assert!(size2 > size1);
    let (st, p) = s
        .get(
            &format!("/api/v1/audit/proofs/consistency?first={size1}&second={size2}"),
            &t,
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let proof: Vec<koban_audit::Hash> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| koban_audit::parse_hex_hash(h.as_str().unwrap()).unwrap())
        .collect();
    koban_audit::verify_consistency(size1, size2, &root1, &root2, &proof).unwrap();
    // Inclusion of an event found by search, against the signed root.
    let events = s.audit_events("action=auth.login&actor=auditor13").await;
    let seq = events[0]["seq"].as_u64().unwrap();
    let (st, p) = s
        .get(
            &format!("/api/v1/audit/proofs/inclusion?seq={seq}&tree_size={size2}"),
            &t,
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let leaf = koban_audit::parse_hex_hash(p["leaf_hash"].as_str().unwrap()).unwrap();
    let path: Vec<koban_audit::Hash> = p["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| koban_audit::parse_hex_hash(h.as_str().unwrap()).unwrap())
        .collect();
    koban_audit::verify_inclusion(&leaf, seq, size2, &path, &root2).unwrap();
    // Bad proof requests are clean 4xx.
    let (st, _) = s
        .get(
            &format!("/api/v1/audit/proofs/inclusion?seq={}", size2 * 10),
            &t,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s.get("/api/v1/audit/proofs/consistency?first=0", &t).await;
    assert_eq!(st, 422);
    // A prefecture auditor sees only their prefecture's events; time filters work.
    let (st, evs) = s.get("/api/v1/audit/events?limit=1000", &t).await;
    assert_eq!(st, 200);
    assert!(
        evs.as_array()
            .unwrap()
            .iter()
            .all(|e| e["scope_pref"] == "13"),
        "{evs}"
    );
    let (_, none) = s
        .get("/api/v1/audit/events?from=2999-01-01T00:00:00Z", &t)
        .await;
    assert!(none.as_array().unwrap().is_empty());
    let (st, v) = s.get("/api/v1/audit/events?from=yesterday", &t).await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("from")));
    // Events carry UTC times to the microsecond.
    let time = evs[0]["time"].as_str().unwrap();
    assert!(
        time.ends_with('Z') && time.len() == "2026-01-01T00:00:00.000000Z".len(),
        "{time}"
    );
}
both!(audit_log_answers_with_verifiable_proofs);

/// A storage failure in the middle of a request rolls back the action and its audit
/// event together.
async fn storage_failure_rolls_back_action_and_audit(s: &Server) {
    let admin = s.user("admin-f", "pref-13", &[Role::Administrator]).await;
    let t = s.login(&admin).await;
    let before = s.audit_size().await;
    // Make the audit insert of one particular action fail inside the database.
    match s.db {
        common::Db::Sqlite => {
            let conn = rusqlite::Connection::open(s.url.trim_start_matches("sqlite://")).unwrap();
            conn.execute_batch("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events WHEN NEW.action = 'org.create' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
                .unwrap();
        }
        common::Db::Postgres => {
            let pool = sqlx::PgPool::connect(&s.url).await.unwrap();
            sqlx::query("CREATE FUNCTION fail_audit() RETURNS trigger AS $$ BEGIN IF NEW.action = 'org.create' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
                .execute(&pool).await.unwrap();
            sqlx::query("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_audit()")
                .execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let (st, v) = s
        .call("post", "/api/v1/org/units", Some(&t), Some(json!({"id": "st-13-ghost", "kind": "station", "parent_id": "pref-13", "name_ja": "幽霊署", "name_en": "Ghost", "pref_code": "13"})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (503, Some("storage_unavailable")),
        "{v}"
    );
    let (st, _) = s.get("/api/v1/org/units/st-13-ghost", &t).await;
    assert_eq!(
        st, 404,
        "the station must not exist without its audit event"
    );
    // Exactly one event was added since: the audit of that failed GET (not the create).
    let events = s
        .audit_events("object_type=org_unit&object_id=st-13-ghost")
        .await;
    assert!(
        events.iter().all(|e| e["action"] != "org.create"),
        "{events:?}"
    );
    assert!(s.audit_size().await > before);
}
both!(storage_failure_rolls_back_action_and_audit);

async fn openapi_document(s: &Server) {
    let u = s.user("reader", "pref-13", &[Role::Analyst]).await;
    let t = s.login(&u).await;
    let (st, v) = s.get("/api/v1/openapi.json", &t).await;
    assert_eq!(st, 200);
    assert_eq!(v["openapi"], "3.0.3");
    for op in koban_api::openapi::OPERATIONS {
        let p = format!("/api/v1{}", op.path);
        assert!(
            v["paths"][&p][op.method].is_object(),
            "{p} {} undocumented",
            op.method
        );
    }
}
both!(openapi_document);

#[tokio::test]
async fn login_is_rate_limited_per_client() {
    let s = Server::start_with(
        common::Db::Sqlite,
        koban_api::RateLimit {
            burst: 3,
            per_minute: 1,
        },
    )
    .await
    .unwrap();
    let u = s.user("limited", "pref-13", &[Role::Analyst]).await;
    for _ in 0..3 {
        let r = s.login_raw(&u, "wrong-password-x1", "123456").await;
        assert_eq!(r.status(), 401);
    }
    let r = s.login_raw(&u, &u.password, "123456").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    s.stop().await;
}

/// Two koban instances (each with its own signing key) on one PostgreSQL database write
/// concurrently; the audit log stays one consistent, verifiable tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_verifiable_log_on_postgres() {
    let Some(a) = Server::start(common::Db::Postgres).await else {
        return;
    };
    let data_b = tempfile::tempdir().unwrap();
    let store_b = koban_store::connect(&a.url, koban_store::SqliteSync::Normal)
        .await
        .unwrap();
    let clock_b: std::sync::Arc<koban_service::ManualClock> = a.clock.clone();
    let b = koban_service::Koban::open(
        store_b,
        data_b.path(),
        clock_b,
        koban_service::Config::default(),
    )
    .await
    .unwrap();
    assert_ne!(a.koban.audit().key_id(), b.audit().key_id());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let koban = if i % 2 == 0 {
            a.koban.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            for j in 0..5 {
                koban
                    .system_import_units(
                        "test",
                        format!(
                            "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\nst-13-i{i}-{j},station,pref-13,署{i}{j},S{i}{j},13,,,\n"
                        )
                        .as_bytes(),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let outcome =
        koban_service::verify::verify_store(a.koban.store().as_ref(), Some(a.data.path()), |_| {})
            .await
            .unwrap();
    match outcome {
        koban_service::verify::VerifyOutcome::Intact { summary, keys } => {
            assert!(summary.events_checked >= 30 + 3);
            assert_eq!(
                keys.from_database.len(),
                1,
                "instance B's key is known from the database"
            );
        }
        koban_service::verify::VerifyOutcome::Tampered { fault, .. } => panic!("{fault}"),
    }
    b.store().close().await;
    a.stop().await;
}

const SMALL_ADDRESSES: &str = "都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度\n\
東京都,千代田区,丸の内一丁目,,35.681236,139.767125\n\
東京都,千代田区,丸の内二丁目,,35.679,139.764\n\
東京都,府中市,宮町一丁目,,35.672,139.479\n\
広島県,府中市,府川町,,34.568,133.236\n";

const SMALL_BOUNDARY: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"N03_001":"東京都","N03_002":null,"N03_003":null,"N03_004":"千代田区","N03_007":"13101"},"geometry":{"type":"Polygon","coordinates":[[[139.73,35.67],[139.79,35.67],[139.79,35.70],[139.73,35.70],[139.73,35.67]]]}}]}"#;

async fn geocoding_after_import(s: &Server) {
    let u = s.user("calltaker-geo", "pref-13", &[Role::CallTaker]).await;
    let t = s.login(&u).await;
    // Before any import: a clear 503, not an empty answer.
    let (st, v) = s
        .get("/api/v1/geo/geocode?q=%E4%B8%B8%E3%81%AE%E5%86%85", &t)
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (503, Some("reference_data_missing")),
        "{v}"
    );
    let before = s.audit_size().await;
    // A bad file is refused whole.
    let bad = s
        .koban
        .system_import_geo(
            "test",
            koban_service::geo::ADDRESSES,
            vec![("bad.csv".into(), b"x,y\n1,2\n".to_vec())],
        )
        .await;
    assert!(bad.is_err());
    s.koban
        .system_import_geo(
            "test",
            koban_service::geo::ADDRESSES,
            vec![("a.csv".into(), SMALL_ADDRESSES.as_bytes().to_vec())],
        )
        .await
        .unwrap();
    s.koban
        .system_import_geo(
            "test",
            koban_service::geo::BOUNDARIES,
            vec![("b.geojson".into(), SMALL_BOUNDARY.as_bytes().to_vec())],
        )
        .await
        .unwrap();
    assert!(s.audit_size().await >= before + 2, "imports are audited");
    let q = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let (st, v) = s
        .get(
            &format!("/api/v1/geo/geocode?q={}", q("千代田区丸の内１丁目")),
            &t,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["best"]["town"], "丸の内一丁目", "{v}");
    assert!((v["best"]["point"]["lat"].as_f64().unwrap() - 35.681236).abs() < 1e-6);
    // Ambiguous: two 府中市 — candidates, no silent guess.
    let (_, v) = s
        .get(&format!("/api/v1/geo/geocode?q={}", q("府中市")), &t)
        .await;
    assert!(v["best"].is_null(), "{v}");
    assert!(v["candidates"].as_array().unwrap().len() >= 2, "{v}");
    let (st, v) = s.get("/api/v1/geo/geocode?q=", &t).await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("q")));
    let (st, v) = s
        .get(&format!("/api/v1/geo/suggest?q={}", q("丸の内")), &t)
        .await;
    assert_eq!(st, 200);
    assert!(!v.as_array().unwrap().is_empty(), "{v}");
    // Reverse: the polygon, and the nearest station of the caller's scope.
    let admin = s.user("admin-geo", "pref-13", &[Role::Administrator]).await;
    let ta = s.login(&admin).await;
    let (st, _) = s
        .call("post", "/api/v1/org/units", Some(&ta), Some(json!({"id": "st-13-marunouchi", "kind": "station", "parent_id": "pref-13", "name_ja": "丸の内警察署", "name_en": "Marunouchi", "pref_code": "13", "latitude": 35.6843, "longitude": 139.7640})))
        .await;
    assert_eq!(st, 201);
    let t = s.login(&u).await;
    let (st, v) = s
        .get("/api/v1/geo/reverse?lat=35.6812&lon=139.7671", &t)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["municipality"]["code"], "13101");
    assert_eq!(v["station"]["id"], "st-13-marunouchi");
    assert_eq!(v["station"]["method"], "nearest_station");
    // With jurisdiction polygons, the station whose area holds the point answers, even
    // when another station is nearer; a polygon naming no station is refused whole.
    let (st, _) = s
        .call("post", "/api/v1/org/units", Some(&ta), Some(json!({"id": "st-13-kanda", "kind": "station", "parent_id": "pref-13", "name_ja": "神田警察署", "name_en": "Kanda", "pref_code": "13", "latitude": 35.6940, "longitude": 139.7700})))
        .await;
    assert_eq!(st, 201);
    let area = |id: &str| {
        json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"station_id": id}, "geometry": {"type": "Polygon", "coordinates": [[[139.760, 35.675], [139.775, 35.675], [139.775, 35.690], [139.760, 35.690], [139.760, 35.675]]]}}]})
        .to_string()
        .into_bytes()
    };
    let refused = s
        .koban
        .system_import_geo(
            "test",
            koban_service::geo::JURISDICTIONS,
            vec![("j.geojson".into(), area("st-13-nowhere"))],
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("st-13-nowhere"), "{refused}");
    s.koban
        .system_import_geo(
            "test",
            koban_service::geo::JURISDICTIONS,
            vec![("j.geojson".into(), area("st-13-kanda"))],
        )
        .await
        .unwrap();
    let (_, v) = s
        .get("/api/v1/geo/reverse?lat=35.6812&lon=139.7671", &t)
        .await;
    assert_eq!(v["station"]["id"], "st-13-kanda", "{v}");
    assert_eq!(v["station"]["method"], "jurisdiction");
    let (_, v) = s
        .get("/api/v1/geo/reverse?lat=35.70&lon=139.7640", &t)
        .await;
    assert_eq!(
        v["station"]["method"], "nearest_station",
        "outside every polygon: {v}"
    );
    let (st, v) = s.get("/api/v1/geo/reverse?lat=51.5&lon=-0.12", &t).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("outside_japan"))
    );
    // A restarted instance loads the stored data again.
    let again = koban_service::Koban::open(
        s.koban.store().clone(),
        s.data.path(),
        s.clock.clone(),
        koban_service::Config::default(),
    )
    .await
    .unwrap();
    let t2 = s.login(&u).await;
    let r = again.geocode(&t2, "丸の内二丁目", 5).await.unwrap();
    assert!(r.best.is_some());
}
both!(geocoding_after_import);

/// A 110 call becomes an incident; a second caller is offered it as a likely duplicate and
/// linked; the dispatcher moves it through its states; illegal moves are refused.
async fn calls_and_incidents(s: &Server) {
    let ct = s.user("calltaker-i", "pref-13", &[Role::CallTaker]).await;
    let tc = s.login(&ct).await;
    let dp = s.user("dispatcher-i", "pref-13", &[Role::Dispatcher]).await;
    let td = s.login(&dp).await;
    let (st, types) = s.get("/api/v1/incident-types", &tc).await;
    assert_eq!(st, 200);
    assert!(
        types["incident_types"].to_string().contains("交通事故"),
        "{types}"
    );
    let here = json!({"lat": 35.6812, "lon": 139.7671, "radius_m": 30});
    let (st, c1) = s
        .call("post", "/api/v1/calls", Some(&tc), Some(json!({"caller_number": "090-1234-5678", "statement": "車同士の事故です", "caller_location": here, "type_code": "traffic_accident"})))
        .await;
    assert_eq!(st, 201, "{c1}");
    assert!(c1["likely_duplicates"].as_array().unwrap().is_empty());
    let c1_id = c1["call"]["id"].as_str().unwrap();
    let (st, inc) = s
        .call("post", "/api/v1/incidents", Some(&tc), Some(json!({"type_code": "traffic_accident", "location": here, "narrative": "乗用車2台", "cautions": {"child": true}, "call_ids": [c1_id]})))
        .await;
    assert_eq!(st, 201, "{inc}");
    assert_eq!(inc["state"], "created");
    assert_eq!(inc["call_ids"], json!([c1_id]));
    let id = inc["id"].as_str().unwrap().to_string();
    // A second caller 100 m away is offered the open incident.
    let (_, c2) = s
        .call("post", "/api/v1/calls", Some(&tc), Some(json!({"statement": "事故を見ました", "caller_location": {"lat": 35.6821, "lon": 139.7671, "radius_m": 100}, "type_code": "traffic_accident"})))
        .await;
    assert_eq!(
        c2["likely_duplicates"][0]["incident_id"],
        id.as_str(),
        "{c2}"
    );
    let c2_id = c2["call"]["id"].as_str().unwrap();
    let (st, v) = s
        .call(
            "put",
            &format!("/api/v1/incidents/{id}/calls/{c2_id}"),
            Some(&tc),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["call_ids"].as_array().unwrap().len(), 2);
    // Only dispatchers move incidents.
    let path = format!("/api/v1/incidents/{id}/transitions");
    let (st, _) = s
        .call(
            "post",
            &path,
            Some(&tc),
            Some(json!({"command": "dispatch"})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = s
        .call("post", &path, Some(&td), Some(json!({"command": "clear"})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{v}"
    );
    for cmd in ["dispatch", "arrive_on_scene", "clear"] {
        let (st, v) = s
            .call(
                "post",
                &path,
                Some(&td),
                Some(json!({"command": cmd, "note": "無線で報告"})),
            )
            .await;
        assert_eq!(st, 200, "{cmd}: {v}");
    }
    let (st, v) = s
        .call("post", &path, Some(&td), Some(json!({"command": "close"})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("disposition_required"))
    );
    let (st, v) = s
        .call(
            "post",
            &path,
            Some(&td),
            Some(json!({"command": "close", "disposition": "report_taken"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["disposition"].as_str()),
        (Some("closed"), Some("report_taken"))
    );
    let (_, v) = s.get(&format!("/api/v1/incidents/{id}"), &td).await;
    let steps: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["created", "dispatched", "on_scene", "cleared", "closed"]
    );
    let (_, open) = s.get("/api/v1/incidents?open=true", &td).await;
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id.as_str())
    );
    let (_, all) = s.get("/api/v1/incidents", &td).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str())
    );
    // Bad input.
    let (st, v) = s
        .call(
            "post",
            "/api/v1/incidents",
            Some(&tc),
            Some(json!({"type_code": "alien_landing", "location": here})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("type_code")),
        "{v}"
    );
    let (st, v) = s
        .call(
            "post",
            "/api/v1/incidents",
            Some(&tc),
            Some(json!({"type_code": "theft", "location": {"lat": 51.5, "lon": -0.1}})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("outside_japan"))
    );
    let (st, v) = s
        .call(
            "post",
            "/api/v1/calls",
            Some(&tc),
            Some(json!({"statement": ""})),
        )
        .await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("statement")));
    let (st, v) = s
        .call(
            "post",
            &path,
            Some(&td),
            Some(json!({"command": "teleport"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("unknown_command"))
    );
    // Every step is in the audit log with the incident as object.
    let evs = s
        .audit_events(&format!("object_type=incident&object_id={id}"))
        .await;
    assert!(
        evs.iter()
            .filter(|e| e["action"] == "incident.transition" && e["result"] == "success")
            .count()
            == 4,
        "{evs:?}"
    );
}
both!(calls_and_incidents);

async fn road_routes_after_import(s: &Server) {
    let u = s
        .user("dispatcher-road", "pref-13", &[Role::Dispatcher])
        .await;
    let t = s.login(&u).await;
    let (st, v) = s
        .get(
            "/api/v1/geo/route?from_lat=35.68&from_lon=139.76&to_lat=35.685&to_lon=139.765",
            &t,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (503, Some("reference_data_missing"))
    );
    let mut osm = Vec::new();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(12, 7), &mut osm).unwrap();
    let report = s
        .koban
        .system_import_roads("test", "city.osm".into(), osm)
        .await
        .unwrap();
    assert!(report.records > 100);
    let (st, v) = s
        .get(
            "/api/v1/geo/route?from_lat=35.6770&from_lon=139.7570&to_lat=35.6830&to_lon=139.7630",
            &t,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // The path to draw runs from the start to the end, in GeoJSON order, along the grid.
    let path = v["path"].as_array().unwrap();
    assert!(path.len() > 3, "{v}");
    assert_eq!(path[0], json!([139.7570, 35.6770]));
    assert_eq!(path[path.len() - 1], json!([139.7630, 35.6830]));
    let time_s = v["time_s"].as_f64().unwrap();
    assert!(time_s > 30.0 && time_s < 600.0, "{v}");
    assert!(v["distance_m"].as_f64().unwrap() > 500.0, "{v}");
    let (st, v) = s
        .get(
            "/api/v1/geo/route?from_lat=35.60&from_lon=139.60&to_lat=35.683&to_lon=139.763",
            &t,
        )
        .await;
    assert_eq!(
        (
            st,
            v["error"]["code"].as_str(),
            v["error"]["field"].as_str()
        ),
        (422, Some("off_network"), Some("from"))
    );
    let bad = s
        .koban
        .system_import_roads("test", "x.osm".into(), b"<osm><way".to_vec())
        .await;
    assert!(
        bad.is_err(),
        "a broken file is refused and the old network stays"
    );
    let (st, _) = s
        .get(
            "/api/v1/geo/route?from_lat=35.6770&from_lon=139.7570&to_lat=35.6830&to_lon=139.7630",
            &t,
        )
        .await;
    assert_eq!(st, 200);
}
both!(road_routes_after_import);

/// Units report positions; the recommendation ranks every unit by travel time and says
/// why each one was left out; bad reports are refused whole.
async fn units_positions_and_recommendation(s: &Server) {
    let admin = s.user("admin-u", "pref-13", &[Role::Administrator]).await;
    let ta = s.login(&admin).await;
    let (st, _) = s
        .call("post", "/api/v1/org/units", Some(&ta), Some(json!({"id": "st-13-marunouchi", "kind": "station", "parent_id": "pref-13", "name_ja": "丸の内警察署", "name_en": "Marunouchi", "pref_code": "13", "latitude": 35.6843, "longitude": 139.7640})))
        .await;
    assert_eq!(st, 201);
    let dp = s.user("dispatcher-u", "pref-13", &[Role::Dispatcher]).await;
    let td = s.login(&dp).await;
    let officer = s.user("officer-u", "pref-13", &[Role::FieldOfficer]).await;
    let to = s.login(&officer).await;
    for (id, caps, status) in [
        ("pc-near", json!(["traffic"]), "on_patrol"),
        ("pc-far", json!(["traffic"]), "on_patrol"),
        ("pc-stale", json!(["traffic"]), "on_patrol"),
        ("pc-nocap", json!([]), "on_patrol"),
        ("pc-maint", json!(["traffic"]), "maintenance"),
        ("pc-nopos", json!(["traffic"]), "available_at_station"),
    ] {
        let (st, v) = s
            .call("post", "/api/v1/units", Some(&td), Some(json!({"id": id, "kind": "patrol_car", "capabilities": caps, "crew_count": 2, "home_station_id": "st-13-marunouchi", "status": status})))
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = s
        .call("post", "/api/v1/units", Some(&td), Some(json!({"id": "pc-near", "kind": "patrol_car", "crew_count": 2, "home_station_id": "st-13-marunouchi"})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("duplicate_id"))
    );
    let now = koban_service::clock::rfc3339(s.clock_now());
    let old = koban_service::clock::rfc3339(s.clock_now() - 3600 * 1_000_000);
    let batch = json!({"positions": [
        {"unit_id": "pc-near", "lat": 35.6815, "lon": 139.7675, "at": now},
        {"unit_id": "pc-far", "lat": 35.70, "lon": 139.70, "at": now},
        {"unit_id": "pc-stale", "lat": 35.6813, "lon": 139.7672, "at": old},
        {"unit_id": "pc-nocap", "lat": 35.6813, "lon": 139.7672, "at": now},
        {"unit_id": "pc-maint", "lat": 35.6813, "lon": 139.7672, "at": now}
    ]});
    let (st, v) = s
        .call(
            "post",
            "/api/v1/units/positions",
            Some(&to),
            Some(batch.clone()),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 5);
    // The same batch again: duplicates, refused whole, naming the first bad item.
    let (st, v) = s
        .call("post", "/api/v1/units/positions", Some(&to), Some(batch))
        .await;
    assert_eq!(
        (
            st,
            v["error"]["code"].as_str(),
            v["error"]["field"].as_str()
        ),
        (422, Some("duplicate_position"), Some("positions[0].at")),
        "{v}"
    );
    let (st, v) = s
        .call("post", "/api/v1/units/positions", Some(&to), Some(json!({"positions": [{"unit_id": "pc-ghost", "lat": 35.68, "lon": 139.76, "at": now}]})))
        .await;
    assert_eq!(
        (
            st,
            v["error"]["code"].as_str(),
            v["error"]["field"].as_str()
        ),
        (422, Some("unknown_unit"), Some("positions[0].unit_id"))
    );
    let (st, v) = s
        .call(
            "post",
            "/api/v1/units/positions",
            Some(&to),
            Some(
                json!({"positions": [{"unit_id": "pc-far", "lat": 48.85, "lon": 2.35, "at": now}]}),
            ),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("outside_japan"))
    );
    let (st, v) = s
        .call(
            "post",
            "/api/v1/units/positions",
            Some(&to),
            Some(json!({"positions": []})),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (422, Some("batch_size")));
    // A call-taker cannot report positions.
    let ct = s.user("calltaker-u", "pref-13", &[Role::CallTaker]).await;
    let tc = s.login(&ct).await;
    let (st, _) = s
        .call(
            "post",
            "/api/v1/units/positions",
            Some(&tc),
            Some(
                json!({"positions": [{"unit_id": "pc-far", "lat": 35.7, "lon": 139.7, "at": now}]}),
            ),
        )
        .await;
    assert_eq!(st, 403);
    // An incident at Tokyo Station that needs a traffic unit.
    let (st, inc) = s
        .call("post", "/api/v1/incidents", Some(&td), Some(json!({"type_code": "traffic_accident", "location": {"lat": 35.6812, "lon": 139.7671}})))
        .await;
    assert_eq!(st, 201);
    let id = inc["id"].as_str().unwrap();
    let (st, r) = s
        .get(&format!("/api/v1/incidents/{id}/recommendation"), &td)
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["travel_model"], "straight_line");
    let ranked: Vec<&str> = r["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit_id"].as_str().unwrap())
        .collect();
    assert_eq!(ranked, ["pc-near", "pc-far"], "{r}");
    let reason = |unit: &str| {
        r["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["unit_id"] == unit)
            .map(|e| e["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("pc-stale").as_deref(), Some("stale_position"), "{r}");
    assert_eq!(
        reason("pc-nocap").as_deref(),
        Some("missing_capability"),
        "{r}"
    );
    assert_eq!(
        reason("pc-maint").as_deref(),
        Some("not_dispatchable"),
        "{r}"
    );
    assert_eq!(reason("pc-nopos").as_deref(), Some("no_position"), "{r}");
    // With a road network loaded, the model says so.
    let mut osm = Vec::new();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(20, 3), &mut osm).unwrap();
    s.koban
        .system_import_roads("test", "city.osm".into(), osm)
        .await
        .unwrap();
    let (_, r) = s
        .get(&format!("/api/v1/incidents/{id}/recommendation"), &td)
        .await;
    assert_eq!(r["travel_model"], "road", "{r}");
    assert_eq!(
        r["ranked"].as_array().unwrap().len() + r["excluded"].as_array().unwrap().len(),
        6
    );
    // Dispatch the top unit; the officer steps through; the incident follows.
    let top = r["ranked"][0]["unit_id"].as_str().unwrap().to_string();
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/incidents/{id}/assignments"),
            Some(&td),
            Some(json!({"unit_ids": [top]})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, inc) = s.get(&format!("/api/v1/incidents/{id}"), &td).await;
    assert_eq!(inc["state"], "dispatched");
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/incidents/{id}/assignments"),
            Some(&td),
            Some(json!({"unit_ids": [top]})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("already_assigned"))
    );
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/incidents/{id}/assignments"),
            Some(&td),
            Some(json!({"unit_ids": ["pc-maint"]})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("not_dispatchable")),
        "{v}"
    );
    for step in ["acknowledged", "en_route", "on_scene"] {
        let (st, v) = s
            .call(
                "put",
                &format!("/api/v1/incidents/{id}/assignments/{top}"),
                Some(&to),
                Some(json!({"step": step})),
            )
            .await;
        assert_eq!(st, 200, "{step}: {v}");
    }
    let (st, v) = s
        .call(
            "put",
            &format!("/api/v1/incidents/{id}/assignments/{top}"),
            Some(&to),
            Some(json!({"step": "en_route"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{v}"
    );
    let (_, inc) = s.get(&format!("/api/v1/incidents/{id}"), &td).await;
    assert_eq!(inc["state"], "on_scene");
    let (_, units) = s.get("/api/v1/units", &td).await;
    let unit = units
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == top.as_str())
        .unwrap()
        .clone();
    assert_eq!(unit["status"], "on_scene");
    let (st, v) = s
        .call(
            "put",
            &format!("/api/v1/incidents/{id}/assignments/{top}"),
            Some(&to),
            Some(json!({"step": "cleared"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, units) = s.get("/api/v1/units", &td).await;
    let unit = units
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == top.as_str())
        .unwrap()
        .clone();
    assert_eq!(unit["status"], "on_patrol", "back on patrol once cleared");
    let (_, asg) = s
        .get(&format!("/api/v1/incidents/{id}/assignments"), &td)
        .await;
    let steps: Vec<&str> = asg[0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "assigned",
            "dispatched",
            "acknowledged",
            "en_route",
            "on_scene",
            "cleared"
        ]
    );
    // Response times for the period: one incident, dispatched and arrived.
    let from = koban_service::clock::rfc3339(s.clock_now() - 3600 * 1_000_000);
    let until = koban_service::clock::rfc3339(s.clock_now() + 60 * 1_000_000);
    let (st, stats) = s
        .get(
            &format!("/api/v1/stats/response-times?from={from}&to={until}"),
            &td,
        )
        .await;
    assert_eq!(st, 200, "{stats}");
    assert!(stats.to_string().contains("st-13-marunouchi"), "{stats}");
    let (st, v) = s
        .get(
            &format!("/api/v1/stats/response-times?from={until}&to={from}"),
            &td,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("invalid_period"))
    );
    // Messages: to one unit, to a station's units; delivery on fetch, read on open.
    let png =
        data_encoding::BASE64.encode(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0]);
    let (st, m) = s
        .call("post", "/api/v1/messages", Some(&td), Some(json!({"to": "unit", "target_id": "pc-near", "incident_id": id, "text": "現場は交差点北側", "location": {"lat": 35.6812, "lon": 139.7671}, "image_base64": png})))
        .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["image_type"], "image/png");
    let mid = m["id"].as_str().unwrap().to_string();
    let (st, m2) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&td),
            Some(json!({"to": "station", "target_id": "st-13-marunouchi", "text": "全車両へ"})),
        )
        .await;
    assert_eq!(st, 201, "{m2}");
    assert_eq!(m2["receipts"].as_array().unwrap().len(), 6);
    let (_, inbox) = s.get("/api/v1/units/pc-near/messages", &to).await;
    assert_eq!(inbox.as_array().unwrap().len(), 2, "{inbox}");
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/messages/{mid}/read"),
            Some(&to),
            Some(json!({"unit_id": "pc-near"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, sent) = s.get(&format!("/api/v1/messages/{mid}"), &td).await;
    let r0 = &sent["receipts"][0];
    assert!(
        r0["delivered_at"].is_string() && r0["read_at"].is_string(),
        "{sent}"
    );
    let (st, v) = s.call("post", "/api/v1/messages", Some(&td), Some(json!({"to": "unit", "target_id": "pc-near", "image_base64": data_encoding::BASE64.encode(b"GIF89a....")}))).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("unsupported_image"))
    );
    let (st, v) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&td),
            Some(json!({"to": "unit", "target_id": "pc-ghost", "text": "x"})),
        )
        .await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("target_id")));
    let (st, v) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&td),
            Some(json!({"to": "scope"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("empty_message"))
    );
    let (st, _) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&to),
            Some(json!({"to": "scope", "text": "x"})),
        )
        .await;
    assert_eq!(st, 403, "officers do not broadcast");
    // Status changes from the car terminal.
    let (st, v) = s
        .call(
            "put",
            "/api/v1/units/pc-maint/status",
            Some(&to),
            Some(json!({"status": "on_patrol"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, units) = s.get("/api/v1/units", &td).await;
    assert_eq!(units.as_array().unwrap().len(), 6);
    let (st, v) = s
        .call(
            "put",
            "/api/v1/units/pc-maint/status",
            Some(&to),
            Some(json!({"status": "flying"})),
        )
        .await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("status")));
}
both!(units_positions_and_recommendation);
