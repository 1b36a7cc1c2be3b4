//! The live event stream over WebSocket, on SQLite and PostgreSQL: order, scope, resume,
//! refusals that publish nothing, and both ways of authenticating.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Server;
use futures_util::{SinkExt, StreamExt};
use koban_access::Role;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(s: &Server, query: &str) -> String {
    format!(
        "{}{}",
        s.url("/api/v1/events").replacen("http", "ws", 1),
        query
    )
}

/// Connects with the token in the first message (as a browser does).
async fn connect(s: &Server, token: &str, after: Option<u64>) -> (Ws, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(s, ""))
        .await
        .unwrap();
    let mut auth = json!({"type": "auth", "token": token});
    if let Some(a) = after {
        auth["after"] = json!(a);
    }
    ws.send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    let ready = next_frame(&mut ws).await;
    (ws, ready)
}

/// The next text frame, as JSON; panics after 5 s.
async fn next_frame(ws: &mut Ws) -> Value {
    let f = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            }
        }
    })
    .await;
    f.expect("no frame within 5 s")
}

/// No text frame arrives within `ms`.
async fn quiet(ws: &mut Ws, ms: u64) {
    if let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(ms), ws.next()).await
    {
        panic!("unexpected frame {t}");
    }
}

async fn station(s: &Server, pref: &str, id: &str, lat: f64, lon: f64) {
    let admin = s
        .user(
            &format!("admin-{id}"),
            &format!("pref-{pref}"),
            &[Role::Administrator],
        )
        .await;
    let t = s.login(&admin).await;
    let (st, v) = s
        .call(
            "post",
            "/api/v1/org/units",
            Some(&t),
            Some(json!({"id": id, "kind": "station", "parent_id": format!("pref-{pref}"), "name_ja": "署", "name_en": "Station", "pref_code": pref, "latitude": lat, "longitude": lon})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

async fn incident(s: &Server, token: &str, lat: f64, lon: f64) -> Value {
    let (st, v) = s
        .call(
            "post",
            "/api/v1/incidents",
            Some(token),
            Some(json!({"type_code": "theft", "location": {"lat": lat, "lon": lon}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v
}

/// A dispatcher sees, in order and with dense sequence numbers, every change of the
/// dispatch flow: incident, unit, positions, assignment steps and messages.
async fn events_follow_the_dispatch_flow(s: &Server) {
    station(s, "13", "st-13-a", 35.68, 139.76).await;
    let d = s.user("disp", "pref-13", &[Role::Dispatcher]).await;
    let t = s.login(&d).await;
    let (mut ws, ready) = connect(s, &t, None).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["complete"], true);
    let head = ready["head"].as_u64().unwrap();

    let inc = incident(s, &t, 35.68, 139.76).await;
    let e = next_frame(&mut ws).await;
    assert_eq!(e["type"], "event");
    assert_eq!(e["kind"], "incident.created");
    assert_eq!(e["prefecture"], "13");
    assert_eq!(e["data"]["id"], inc["id"]);
    assert_eq!(
        e["data"], inc,
        "the event carries the object as the API shows it"
    );
    let mut seq = e["seq"].as_u64().unwrap();
    assert_eq!(seq, head + 1);

    let (st, _) = s
        .call("post", "/api/v1/units", Some(&t), Some(json!({"id": "a-1", "kind": "patrol_car", "crew_count": 2, "home_station_id": "st-13-a"})))
        .await;
    assert_eq!(st, 201);
    let e = next_frame(&mut ws).await;
    assert_eq!(
        (e["kind"].as_str(), e["seq"].as_u64()),
        (Some("unit.updated"), Some(seq + 1))
    );
    seq += 1;

    let at = koban_service::clock::rfc3339(s.clock_now());
    let (st, v) = s
        .call("post", "/api/v1/units/positions", Some(&t), Some(json!({"positions": [{"unit_id": "a-1", "lat": 35.681, "lon": 139.761, "at": at, "speed_kmh": 30.0}]})))
        .await;
    assert_eq!(st, 200, "{v}");
    let e = next_frame(&mut ws).await;
    assert_eq!(e["kind"], "unit.position");
    assert_eq!(e["data"]["unit_id"], "a-1");
    assert_eq!(e["data"]["speed_kmh"], 30.0);
    assert_eq!(e["seq"].as_u64(), Some(seq + 1));
    seq += 1;

    let id = inc["id"].as_str().unwrap();
    let (st, v) = s
        .call(
            "post",
            &format!("/api/v1/incidents/{id}/assignments"),
            Some(&t),
            Some(json!({"unit_ids": ["a-1"]})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let kinds: Vec<String> = {
        let mut k = Vec::new();
        for _ in 0..3 {
            let e = next_frame(&mut ws).await;
            assert_eq!(e["seq"].as_u64(), Some(seq + 1), "dense and ordered: {e}");
            seq += 1;
            k.push(e["kind"].as_str().unwrap().to_string());
        }
        k
    };
    assert_eq!(
        kinds,
        ["assignment.updated", "unit.updated", "incident.updated"]
    );

    let (st, v) = s
        .call("post", "/api/v1/messages", Some(&t), Some(json!({"to": "unit", "target_id": "a-1", "text": "急行せよ", "image_base64": "iVBORw0KGgoAAAAN"})))
        .await;
    assert_eq!(st, 201, "{v}");
    let e = next_frame(&mut ws).await;
    assert_eq!(e["kind"], "message.created");
    assert_eq!(e["data"]["text"], "急行せよ");
    assert_eq!(e["data"]["image_type"], "image/png");
    assert!(
        e["data"]["image_base64"].is_null(),
        "images stay out of the stream"
    );

    let (st, v) = s
        .call(
            "post",
            "/api/v1/units/a-1/emergency",
            Some(&t),
            Some(json!({"lat": 35.69, "lon": 139.7})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let e = next_frame(&mut ws).await;
    assert_eq!(e["kind"], "unit.emergency");
    assert_eq!(e["data"]["unit_id"], "a-1");
    assert_eq!(e["data"]["by"], "disp");
    let emergencies = s.audit_events("action=unit.emergency").await;
    assert_eq!(emergencies.len(), 1);

    // A refused change publishes nothing.
    let (st, _) = s
        .call(
            "post",
            &format!("/api/v1/incidents/{id}/transitions"),
            Some(&t),
            Some(json!({"command": "close", "disposition": "no_such_code"})),
        )
        .await;
    assert!(st >= 400);
    quiet(&mut ws, 300).await;
    // Opening the stream is audited.
    let subs = s.audit_events("action=events.subscribe").await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    ws.close(None).await.unwrap();
}
both!(events_follow_the_dispatch_flow);

/// A Kanagawa dispatcher's stream never carries Tokyo's events; an analyst (no message
/// role) gets incidents but not messages.
async fn events_are_scoped(s: &Server) {
    station(s, "13", "st-13-a", 35.68, 139.76).await;
    let tokyo = s.user("disp-13", "pref-13", &[Role::Dispatcher]).await;
    let kana = s.user("disp-14", "pref-14", &[Role::Dispatcher]).await;
    let analyst = s.user("analyst-13", "pref-13", &[Role::Analyst]).await;
    let tt = s.login(&tokyo).await;
    let tk = s.login(&kana).await;
    let ta = s.login(&analyst).await;
    let (mut wk, _) = connect(s, &tk, None).await;
    let (mut wa, _) = connect(s, &ta, None).await;
    let tokyo_inc = incident(s, &tt, 35.68, 139.76).await;
    let (st, _) = s
        .call("post", "/api/v1/units", Some(&tt), Some(json!({"id": "a-1", "kind": "patrol_car", "crew_count": 2, "home_station_id": "st-13-a"})))
        .await;
    assert_eq!(st, 201);
    let (st, _) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&tt),
            Some(json!({"to": "unit", "target_id": "a-1", "text": "x"})),
        )
        .await;
    assert_eq!(st, 201);
    let kana_inc = incident(s, &tk, 35.45, 139.63).await;
    let e = next_frame(&mut wk).await;
    assert_eq!(
        e["data"]["id"], kana_inc["id"],
        "Tokyo's events were skipped"
    );
    assert_eq!(e["prefecture"], "14");
    let e = next_frame(&mut wa).await;
    assert_eq!(e["data"]["id"], tokyo_inc["id"]);
    let e = next_frame(&mut wa).await;
    assert_eq!(e["kind"], "unit.updated");
    quiet(&mut wa, 300).await;
}
both!(events_are_scoped);

/// A subscriber that reconnects with the last seq it saw gets exactly what it missed.
async fn streams_resume_without_loss(s: &Server) {
    let d = s.user("disp", "pref-13", &[Role::Dispatcher]).await;
    let t = s.login(&d).await;
    let (mut ws, _) = connect(s, &t, None).await;
    let first = incident(s, &t, 35.68, 139.76).await;
    let e = next_frame(&mut ws).await;
    assert_eq!(e["data"]["id"], first["id"]);
    let last = e["seq"].as_u64().unwrap();
    ws.close(None).await.unwrap();
    drop(ws);
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(incident(s, &t, 35.68 + f64::from(i) * 0.001, 139.76).await["id"].clone());
    }
    let (mut ws, ready) = connect(s, &t, Some(last)).await;
    assert_eq!(ready["complete"], true);
    for (i, id) in missed.iter().enumerate() {
        let e = next_frame(&mut ws).await;
        assert_eq!(e["seq"].as_u64(), Some(last + 1 + i as u64));
        assert_eq!(&e["data"]["id"], id);
    }
    // Then live again, with no repeat.
    let live = incident(s, &t, 35.7, 139.8).await;
    let e = next_frame(&mut ws).await;
    assert_eq!(e["data"]["id"], live["id"]);
    assert_eq!(e["seq"].as_u64(), Some(last + 6));

    // With a header token and ?after= (non-browser clients) the replay is the same.
    let mut req = ws_url(s, &format!("?after={last}"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    let (mut ws2, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let ready = next_frame(&mut ws2).await;
    assert_eq!(ready["type"], "ready");
    let e = next_frame(&mut ws2).await;
    assert_eq!(e["seq"].as_u64(), Some(last + 1));

    // A resume point beyond the head is refused, naming the field.
    let (mut ws3, _) = tokio_tungstenite::connect_async(ws_url(s, ""))
        .await
        .unwrap();
    ws3.send(Message::Text(
        json!({"type": "auth", "token": t, "after": last + 1000})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let err = next_frame(&mut ws3).await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("after_head")),
        "{err}"
    );
}
both!(streams_resume_without_loss);

/// Bad or missing credentials get a clear error and no events.
async fn stream_authentication(s: &Server) {
    // Garbage token in the first message.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(s, ""))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": "kbn_garbage"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let e = next_frame(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("unauthenticated")),
        "{e}"
    );
    // Something that is not an auth message.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(s, ""))
        .await
        .unwrap();
    ws.send(Message::Text("{\"hello\":1}".into()))
        .await
        .unwrap();
    let e = next_frame(&mut ws).await;
    assert_eq!(e["code"], "invalid_json", "{e}");
    // A bad header token is refused before the upgrade.
    let mut req = ws_url(s, "").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer kbn_garbage".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // A role without dispatch or message rights may not subscribe.
    let aud = s.user("aud", "pref-13", &[Role::Auditor]).await;
    let ta = s.login(&aud).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(s, ""))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": ta}).to_string().into(),
    ))
    .await
    .unwrap();
    let e = next_frame(&mut ws).await;
    assert_eq!(e["code"], "forbidden", "{e}");
    // A plain GET with a token is told to upgrade.
    let (st, v) = s.get("/api/v1/events", &ta).await;
    assert_eq!(st, 426, "{v}");
}
both!(stream_authentication);

/// A field officer reports to the command room with a photo: every dispatcher in scope
/// sees it live and can open the image; a field officer still cannot message units.
async fn field_reports_reach_the_command_room(s: &Server) {
    station(s, "13", "st-13-a", 35.68, 139.76).await;
    let d = s.user("disp", "pref-13", &[Role::Dispatcher]).await;
    let f = s.user("officer", "st-13-a", &[Role::FieldOfficer]).await;
    let td = s.login(&d).await;
    let tf = s.login(&f).await;
    let (mut ws, _) = connect(s, &td, None).await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let (st, v) = s
        .call("post", "/api/v1/messages", Some(&tf), Some(json!({"to": "command", "text": "現場写真", "image_base64": png, "location": {"lat": 35.681, "lon": 139.761}})))
        .await;
    assert_eq!(st, 201, "{v}");
    let e = next_frame(&mut ws).await;
    assert_eq!(e["kind"], "message.created");
    assert_eq!(e["data"]["to"], "command");
    assert_eq!(e["data"]["sender_id"], f.id.as_str());
    let id = e["data"]["id"].as_str().unwrap();
    let (st, m) = s.get(&format!("/api/v1/messages/{id}"), &td).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["image_base64"], png);
    // Only the command room sends to units; a report names no unit.
    let (st, v) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&tf),
            Some(json!({"to": "scope", "text": "x"})),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (st, v) = s
        .call(
            "post",
            "/api/v1/messages",
            Some(&tf),
            Some(json!({"to": "command", "target_id": "a-1", "text": "x"})),
        )
        .await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("target_id")));
}
both!(field_reports_reach_the_command_room);
