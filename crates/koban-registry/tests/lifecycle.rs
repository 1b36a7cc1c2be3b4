//! The lifecycle state machine: examples of each rule, and properties over random message
//! sequences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use koban_org::PrefCode;
use koban_registry::date::{DAY_US, days_from_civil};
use koban_registry::lifecycle::*;
use koban_registry::{RecordKind, RegistryError};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000_000;
const MIN: i64 = 60_000_000;

fn actor(user: &str, pref: u8) -> Actor {
    Actor {
        user: user.into(),
        pref: PrefCode::new(pref).unwrap(),
    }
}

fn active(kind: RecordKind) -> Lifecycle {
    let mut l = Lifecycle::enter(kind, &actor("enterer", 13), T0).unwrap();
    l.apply(&Message::Verify, &actor("checker", 13), T0 + MIN)
        .unwrap();
    l
}

fn confirm(l: &mut Lifecycle, id: &str, from: u8, at: i64) {
    l.apply(
        &Message::HitConfirmationRequest {
            request_id: id.into(),
            priority: Priority::Urgent,
        },
        &actor("inquirer", from),
        at,
    )
    .unwrap();
    l.apply(
        &Message::HitConfirmationResponse {
            request_id: id.into(),
            answer: HitAnswer::Confirmed,
        },
        &actor("owner-desk", 13),
        at + MIN,
    )
    .unwrap();
}

#[test]
fn entry_needs_a_second_person() {
    let mut l = Lifecycle::enter(RecordKind::Wanted, &actor("a", 13), T0).unwrap();
    assert_eq!(l.state(), RecordState::PendingVerification);
    assert!(!l.in_active_file());
    let e = l.apply(&Message::Verify, &actor("a", 13), T0).unwrap_err();
    assert_eq!(e, RegistryError::SameVerifier);
    assert_eq!(e.code(), "same_verifier");
    let e = l.apply(&Message::Verify, &actor("b", 14), T0).unwrap_err();
    assert_eq!(e.code(), "not_owner");
    assert_eq!(l.history().len(), 1);
    l.apply(&Message::Verify, &actor("b", 13), T0 + 1).unwrap();
    assert_eq!(l.state(), RecordState::Active);
    let h = l.history().last().unwrap();
    assert_eq!(
        (h.message, h.from, h.to, h.actor.as_str(), h.at),
        (
            "verify",
            Some(RecordState::PendingVerification),
            RecordState::Active,
            "b",
            T0 + 1
        )
    );
    assert_eq!(
        l.apply(&Message::Verify, &actor("c", 13), T0)
            .unwrap_err()
            .code(),
        "illegal_transition"
    );
}

#[test]
fn only_the_owner_modifies_cancels_and_clears() {
    let mut l = active(RecordKind::StolenVehicle);
    for m in [
        Message::Modify,
        Message::Cancel,
        Message::Clear,
        Message::Validate,
    ] {
        assert_eq!(
            l.apply(&m, &actor("x", 27), T0).unwrap_err().code(),
            "not_owner"
        );
    }
    l.apply(&Message::Modify, &actor("x", 13), T0).unwrap();
    assert_eq!(l.state(), RecordState::Active);
    l.apply(&Message::Cancel, &actor("x", 13), T0).unwrap();
    assert_eq!(l.state(), RecordState::Cancelled);
    assert!(l.apply(&Message::Modify, &actor("x", 13), T0).is_err());
}

#[test]
fn locate_only_after_a_confirmed_hit_from_the_locating_prefecture() {
    let mut l = active(RecordKind::Wanted);
    let inq = actor("officer", 27);
    assert_eq!(
        l.apply(&Message::Locate, &inq, T0).unwrap_err().code(),
        "hit_not_confirmed"
    );
    l.apply(
        &Message::HitConfirmationRequest {
            request_id: "q1".into(),
            priority: Priority::Routine,
        },
        &inq,
        T0,
    )
    .unwrap();
    // Unanswered and refused hits do not allow a locate.
    assert!(l.apply(&Message::Locate, &inq, T0).is_err());
    l.apply(
        &Message::HitConfirmationResponse {
            request_id: "q1".into(),
            answer: HitAnswer::NotConfirmed,
        },
        &actor("desk", 13),
        T0,
    )
    .unwrap();
    assert!(l.apply(&Message::Locate, &inq, T0).is_err());
    // A hit confirmed to Osaka does not let Kyoto locate.
    confirm(&mut l, "q2", 27, T0);
    assert!(l.apply(&Message::Locate, &actor("k", 26), T0).is_err());
    l.apply(&Message::Locate, &inq, T0 + 5 * MIN).unwrap();
    assert_eq!(l.state(), RecordState::Located);
    assert!(l.in_active_file());
    assert_eq!(
        l.located(),
        Some((T0 + 5 * MIN, PrefCode::new(27).unwrap()))
    );
    // Not cleared within two weeks: purge candidate.
    assert_eq!(l.purge_reason(T0 + 14 * DAY_US), None);
    assert_eq!(
        l.purge_reason(T0 + 5 * MIN + 14 * DAY_US),
        Some(PurgeReason::LocatedNotCleared)
    );
    l.apply(&Message::Clear, &actor("desk", 13), T0 + DAY_US)
        .unwrap();
    assert_eq!(l.state(), RecordState::Cleared);
    assert_eq!(l.purge_reason(T0 + 100 * DAY_US), None);
}

#[test]
fn a_located_missing_person_leaves_the_active_file_at_once() {
    let mut l = active(RecordKind::Missing);
    confirm(&mut l, "q", 1, T0);
    l.apply(&Message::Locate, &actor("o", 1), T0 + MIN).unwrap();
    assert_eq!(l.state(), RecordState::Located);
    assert!(!l.in_active_file());
    assert_eq!(
        l.purge_reason(T0 + MIN),
        Some(PurgeReason::MissingPersonLocated)
    );
    // No further hit confirmations on a record out of the active file.
    assert!(
        l.apply(
            &Message::HitConfirmationRequest {
                request_id: "z".into(),
                priority: Priority::Urgent
            },
            &actor("o", 2),
            T0
        )
        .is_err()
    );
}

#[test]
fn overdue_requests_are_resent_then_escalated() {
    let mut l = active(RecordKind::StolenVehicle);
    let inq = actor("o", 11);
    l.apply(
        &Message::HitConfirmationRequest {
            request_id: "u".into(),
            priority: Priority::Urgent,
        },
        &inq,
        T0,
    )
    .unwrap();
    l.apply(
        &Message::HitConfirmationRequest {
            request_id: "r".into(),
            priority: Priority::Routine,
        },
        &inq,
        T0,
    )
    .unwrap();
    assert!(l.overdue_requests(T0 + 10 * MIN).is_empty());
    let o = l.overdue_requests(T0 + 10 * MIN + 1);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.id.as_str(), o[0].1), ("u", OverdueAction::Resend));
    // Reusing an id is refused.
    assert_eq!(
        l.apply(
            &Message::HitConfirmationRequest {
                request_id: "u".into(),
                priority: Priority::Urgent
            },
            &inq,
            T0
        )
        .unwrap_err()
        .code(),
        "unknown_request"
    );
    l.apply(
        &Message::HitConfirmationResend {
            request_id: "u".into(),
        },
        &inq,
        T0 + 11 * MIN,
    )
    .unwrap();
    assert!(l.overdue_requests(T0 + 21 * MIN).is_empty());
    let o = l.overdue_requests(T0 + 22 * MIN);
    assert_eq!((o[0].0.id.as_str(), o[0].1), ("u", OverdueAction::Escalate));
    // The routine request falls due after an hour; the owner asks for 30 minutes more.
    assert_eq!(l.overdue_requests(T0 + 61 * MIN).len(), 2);
    l.apply(
        &Message::HitConfirmationResponse {
            request_id: "r".into(),
            answer: HitAnswer::NeedMoreTime { extra_us: 30 * MIN },
        },
        &actor("desk", 13),
        T0 + 50 * MIN,
    )
    .unwrap();
    let o = l.overdue_requests(T0 + 61 * MIN);
    assert_eq!(o.len(), 1);
    assert_eq!(l.overdue_requests(T0 + 91 * MIN).len(), 2);
    // Bad extensions are refused.
    assert_eq!(
        l.apply(
            &Message::HitConfirmationResponse {
                request_id: "r".into(),
                answer: HitAnswer::NeedMoreTime { extra_us: 0 },
            },
            &actor("desk", 13),
            T0,
        )
        .unwrap_err()
        .code(),
        "out_of_range"
    );
    // Answered requests are no longer overdue, and cannot be answered twice.
    let answer = Message::HitConfirmationResponse {
        request_id: "u".into(),
        answer: HitAnswer::Confirmed,
    };
    l.apply(&answer, &actor("desk", 13), T0 + 30 * MIN).unwrap();
    assert!(l.apply(&answer, &actor("desk", 13), T0 + 30 * MIN).is_err());
    assert_eq!(l.overdue_requests(T0 + 91 * MIN).len(), 1);
}

fn request(l: &mut Lifecycle, id: &str, from: u8, priority: Priority, at: i64) {
    l.apply(
        &Message::HitConfirmationRequest {
            request_id: id.into(),
            priority,
        },
        &actor("inquirer", from),
        at,
    )
    .unwrap();
}

#[test]
fn the_sweep_resends_then_escalates_once() {
    let mut l = active(RecordKind::Wanted);
    request(&mut l, "u", 27, Priority::Urgent, T0);
    let sweep = actor("system:hit-sweep", 27);
    // Not yet due: nothing to send, and an early escalation is refused.
    assert_eq!(l.sweep_message("u", T0 + 10 * MIN), None);
    let early = Message::HitConfirmationEscalate {
        request_id: "u".into(),
    };
    assert_eq!(
        l.apply(&early, &sweep, T0 + 11 * MIN).unwrap_err().code(),
        "not_escalable",
        "re-sends are left"
    );
    // Overdue: re-send, with a new deadline.
    let m = l.sweep_message("u", T0 + 11 * MIN).unwrap();
    assert_eq!(
        m,
        Message::HitConfirmationResend {
            request_id: "u".into()
        }
    );
    l.apply(&m, &sweep, T0 + 11 * MIN).unwrap();
    assert_eq!(l.requests()[0].due_at, T0 + 21 * MIN);
    assert_eq!(l.sweep_message("u", T0 + 11 * MIN), None, "idempotent");
    // Overdue again after the re-send: escalate, once.
    let m = l.sweep_message("u", T0 + 22 * MIN).unwrap();
    assert_eq!(m, early);
    // Only the inquiring prefecture escalates its request.
    assert_eq!(
        l.apply(&m, &actor("x", 1), T0 + 22 * MIN)
            .unwrap_err()
            .code(),
        "unknown_request"
    );
    l.apply(&m, &sweep, T0 + 22 * MIN).unwrap();
    assert_eq!(l.requests()[0].escalated_at, Some(T0 + 22 * MIN));
    assert_eq!(l.sweep_message("u", T0 + 500 * MIN), None);
    assert_eq!(
        l.apply(&m, &sweep, T0 + 23 * MIN).unwrap_err().code(),
        "not_escalable",
        "escalated once only"
    );
    assert_eq!(
        l.overdue_requests(T0 + 23 * MIN)[0].1,
        OverdueAction::AwaitSupervisor
    );
    let h = l.history().last().unwrap();
    assert_eq!(
        (h.message, h.actor.as_str(), h.pref),
        (
            "hit_confirmation_escalate",
            "system:hit-sweep",
            PrefCode::new(27).unwrap()
        )
    );
    assert_eq!(l.request_state(&l.requests()[0]), HitRequestState::Open);
    // The owner's answer closes it.
    l.apply(
        &Message::HitConfirmationResponse {
            request_id: "u".into(),
            answer: HitAnswer::NotConfirmed,
        },
        &actor("desk", 13),
        T0 + 30 * MIN,
    )
    .unwrap();
    assert_eq!(l.request_state(&l.requests()[0]), HitRequestState::Answered);
    assert!(l.overdue_requests(T0 + 500 * MIN).is_empty());
}

#[test]
fn requests_close_when_the_record_leaves_the_active_file() {
    let mut l = active(RecordKind::StolenPlate);
    request(&mut l, "r", 27, Priority::Routine, T0);
    assert_eq!(l.request_state(&l.requests()[0]), HitRequestState::Open);
    l.apply(&Message::Cancel, &actor("desk", 13), T0 + MIN)
        .unwrap();
    assert_eq!(l.request_state(&l.requests()[0]), HitRequestState::Closed);
    assert_eq!(l.sweep_message("r", T0 + 100 * MIN), None);
    assert!(l.overdue_requests(T0 + 100 * MIN).is_empty());
}

#[test]
fn a_record_keeps_a_bounded_number_of_requests() {
    let mut l = active(RecordKind::StolenPlate);
    for i in 0..MAX_REQUESTS_PER_RECORD {
        request(&mut l, &format!("r{i}"), 27, Priority::Routine, T0);
    }
    let e = l
        .apply(
            &Message::HitConfirmationRequest {
                request_id: "one-too-many".into(),
                priority: Priority::Urgent,
            },
            &actor("inquirer", 27),
            T0,
        )
        .unwrap_err();
    assert_eq!(e.code(), "too_many_requests");
    assert_eq!(l.requests().len(), MAX_REQUESTS_PER_RECORD);
}

#[test]
fn stored_requests_without_escalation_still_read() {
    // A lifecycle stored before escalation existed has no `escalated_at`.
    let mut l = active(RecordKind::StolenPlate);
    request(&mut l, "r", 27, Priority::Routine, T0);
    let mut v = serde_json::to_value(&l).unwrap();
    v["requests"][0]
        .as_object_mut()
        .unwrap()
        .remove("escalated_at");
    assert!(v["requests"][0].get("escalated_at").is_none());
    let back: Lifecycle = serde_json::from_value(v).unwrap();
    assert_eq!(back, l);
    assert_eq!(back.requests()[0].escalated_at, None);
}

#[test]
fn stored_lifecycles_leave_out_the_entry_message_the_fields_imply() {
    let importer = actor("loader", 27);
    let imported = Lifecycle::imported(
        RecordKind::StolenPlate,
        PrefCode::new(13).unwrap(),
        "legacy-user",
        T0,
        &importer,
        T0 + MIN,
    )
    .unwrap();
    let mut verified = active(RecordKind::Wanted);
    confirm(&mut verified, "r1", 27, T0 + 2 * MIN);
    let entered = Lifecycle::enter(RecordKind::Missing, &actor("enterer", 13), T0).unwrap();
    for l in [&imported, &verified, &entered] {
        let json = serde_json::to_string(l).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v.get("history").is_none(), "{json}");
        assert!(!json.contains("\"entry\""), "{json}");
        assert!(!json.contains("\"from\":null"), "{json}");
        assert_eq!(
            v.get("later").map_or(0, |l| l.as_array().unwrap().len()),
            l.history().len() - 1
        );
        assert_eq!(&serde_json::from_str::<Lifecycle>(&json).unwrap(), l);
        // The form written before: the whole history, `from` as null.
        let mut old = v.clone();
        let o = old.as_object_mut().unwrap();
        o.remove("later");
        o.insert("history".into(), serde_json::to_value(l.history()).unwrap());
        assert!(old.to_string().contains("\"from\":null"));
        assert_eq!(&serde_json::from_value::<Lifecycle>(old).unwrap(), l);
    }
    // The entry message and `from: null` were over a third of an imported lifecycle.
    let lean = serde_json::to_string(&imported).unwrap();
    let mut whole = serde_json::to_value(&imported).unwrap();
    whole.as_object_mut().unwrap().remove("later");
    whole["history"] = serde_json::to_value(imported.history()).unwrap();
    let whole = whole.to_string();
    assert!(lean.len() * 3 <= whole.len() * 2, "{lean} against {whole}");
    // A history whose first entry is not the one the fields imply is stored whole.
    let mut v = serde_json::to_value(&entered).unwrap();
    let mut first = serde_json::to_value(&entered.history()[0]).unwrap();
    first["actor"] = "someone-else".into();
    v["history"] = serde_json::json!([first]);
    let unusual: Lifecycle = serde_json::from_value(v).unwrap();
    assert_eq!(unusual.history()[0].actor, "someone-else");
    let json = serde_json::to_string(&unusual).unwrap();
    assert!(
        json.contains("\"history\"") && !json.contains("\"later\""),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), unusual);
    // Both forms at once are refused rather than guessed at.
    let mut both = serde_json::to_value(&verified).unwrap();
    both["history"] = serde_json::to_value(verified.history()).unwrap();
    assert!(serde_json::from_value::<Lifecycle>(both).is_err());
}

#[test]
fn empty_values_are_left_out_of_stored_lifecycles_and_explicit_ones_still_read() {
    let fresh = active(RecordKind::StolenVehicle);
    let json = serde_json::to_string(&fresh).unwrap();
    for absent in ["last_validated_at", "located_at", "located_by", "requests"] {
        assert!(!json.contains(absent), "{absent} written in {json}");
    }
    assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), fresh);
    // The form written before: every field present, empty ones as null and [].
    let mut v = serde_json::to_value(&fresh).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["last_validated_at", "located_at", "located_by"] {
        o.insert(k.into(), serde_json::Value::Null);
    }
    o.insert("requests".into(), serde_json::json!([]));
    assert_eq!(serde_json::from_value::<Lifecycle>(v).unwrap(), fresh);
    // Values that are present are written.
    let mut hit = active(RecordKind::StolenPlate);
    request(&mut hit, "r", 27, Priority::Routine, T0);
    let v = serde_json::to_value(&hit).unwrap();
    assert_eq!(v["requests"][0]["id"], "r");
    assert_eq!(serde_json::from_value::<Lifecycle>(v).unwrap(), hit);
}

#[test]
fn validation_windows_and_purge() {
    let mut l = active(RecordKind::StolenVehicle);
    assert_eq!(l.validation_window(), (T0 + 60 * DAY_US, T0 + 90 * DAY_US));
    assert!(!l.is_validation_overdue(T0 + 90 * DAY_US));
    assert!(l.is_validation_overdue(T0 + 90 * DAY_US + 1));
    assert_eq!(
        l.purge_reason(T0 + 91 * DAY_US),
        Some(PurgeReason::Unvalidated)
    );
    let v = T0 + 70 * DAY_US;
    l.apply(&Message::Validate, &actor("desk", 13), v).unwrap();
    assert_eq!(l.validation_window(), (v + 335 * DAY_US, v + 365 * DAY_US));
    assert_eq!(l.purge_reason(T0 + 91 * DAY_US), None);
    assert_eq!(
        l.purge_reason(v + 366 * DAY_US),
        Some(PurgeReason::Unvalidated)
    );

    // Missing persons are kept until located or cancelled, validated or not.
    let m = active(RecordKind::Missing);
    assert!(m.is_validation_overdue(T0 + 400 * DAY_US));
    assert_eq!(m.purge_reason(T0 + 400 * DAY_US), None);

    // Pending entries are neither overdue nor purged.
    let p = Lifecycle::enter(RecordKind::Wanted, &actor("a", 13), T0).unwrap();
    assert_eq!(p.purge_reason(T0 + 400 * DAY_US), None);
}

#[test]
fn stolen_articles_are_kept_to_the_end_of_the_following_year() {
    // Entered 2024-03-10 12:00 JST: kept until 2026-01-01 00:00 JST.
    let entered = days_from_civil(2024, 3, 10) * DAY_US + 3 * 3_600_000_000;
    let mut l = Lifecycle::enter(RecordKind::StolenArticle, &actor("a", 13), entered).unwrap();
    l.apply(&Message::Verify, &actor("b", 13), entered).unwrap();
    let end = days_from_civil(2025, 12, 31) * DAY_US + 15 * 3_600_000_000;
    assert_eq!(l.retention_ends_at(), Some(end));
    // Keep it validated so only retention matters.
    l.apply(&Message::Validate, &actor("b", 13), end - DAY_US)
        .unwrap();
    assert_eq!(l.purge_reason(end - 1), None);
    assert_eq!(l.purge_reason(end), Some(PurgeReason::RetentionExpired));
    assert_eq!(active(RecordKind::Wanted).retention_ends_at(), None);
}

fn message() -> impl Strategy<Value = Message> {
    let id = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string())
    ];
    let answer = prop_oneof![
        Just(HitAnswer::Confirmed),
        Just(HitAnswer::NotConfirmed),
        (-5i64..100).prop_map(|m| HitAnswer::NeedMoreTime { extra_us: m * MIN }),
    ];
    let prio = prop_oneof![Just(Priority::Urgent), Just(Priority::Routine)];
    prop_oneof![
        Just(Message::Verify),
        Just(Message::Modify),
        Just(Message::Cancel),
        Just(Message::Validate),
        Just(Message::Locate),
        Just(Message::Clear),
        (id.clone(), prio).prop_map(|(request_id, priority)| Message::HitConfirmationRequest {
            request_id,
            priority
        }),
        id.clone()
            .prop_map(|request_id| Message::HitConfirmationResend { request_id }),
        id.clone()
            .prop_map(|request_id| Message::HitConfirmationEscalate { request_id }),
        (id, answer).prop_map(|(request_id, answer)| Message::HitConfirmationResponse {
            request_id,
            answer
        }),
    ]
}

fn any_actor() -> impl Strategy<Value = Actor> {
    (
        prop_oneof![Just("enterer"), Just("checker"), Just("other")],
        prop_oneof![Just(13u8), Just(27u8), Just(1u8)],
    )
        .prop_map(|(u, p)| actor(u, p))
}

fn kind() -> impl Strategy<Value = RecordKind> {
    proptest::sample::select(RecordKind::ALL.to_vec())
}

proptest! {
    #[test]
    fn random_message_sequences_keep_the_rules(
        kind in kind(),
        steps in proptest::collection::vec((message(), any_actor(), 0i64..(40 * DAY_US)), 0..60),
    ) {
        let mut l = Lifecycle::enter(kind, &actor("enterer", 13), T0).unwrap();
        let mut now = T0;
        for (m, a, dt) in steps {
            now += dt;
            let before = l.clone();
            match l.apply(&m, &a, now) {
                Ok(to) => {
                    prop_assert_eq!(to, l.state());
                    prop_assert_eq!(l.history().len(), before.history().len() + 1);
                    let h = l.history().last().unwrap();
                    prop_assert_eq!(h.from, Some(before.state()));
                    prop_assert_eq!(h.to, l.state());
                    prop_assert_eq!(h.at, now);
                    prop_assert_eq!(h.message, m.as_str());
                    prop_assert_eq!(&h.actor, &a.user);
                    // Terminal states are never left.
                    prop_assert!(before.state().is_live());
                    // An escalation is never undone or moved.
                    for (b, a) in before.requests().iter().zip(l.requests()) {
                        if b.escalated_at.is_some() {
                            prop_assert_eq!(b.escalated_at, a.escalated_at);
                        }
                    }
                    if let Message::HitConfirmationEscalate { request_id } = &m {
                        let r = l.requests().iter().find(|r| &r.id == request_id).unwrap();
                        prop_assert_eq!(r.escalated_at, Some(now));
                        prop_assert!(r.resends >= MAX_RESENDS);
                        prop_assert_eq!(r.from, a.pref);
                    }
                }
                Err(_) => prop_assert_eq!(&l, &before),
            }
            prop_assert_eq!(l.owner(), PrefCode::new(13).unwrap());
        }
        // Replay the history: each step starts where the previous ended, active is only
        // reached by a verify from the owner by someone else, located only by a locate from
        // a prefecture that holds a confirmed hit.
        let h = l.history();
        prop_assert_eq!(h[0].to, RecordState::PendingVerification);
        for w in h.windows(2) {
            prop_assert_eq!(w[1].from, Some(w[0].to));
        }
        for e in h {
            if e.from == Some(RecordState::PendingVerification) && e.to == RecordState::Active {
                prop_assert_eq!(e.message, "verify");
                prop_assert_ne!(e.actor.as_str(), "enterer");
                prop_assert_eq!(e.pref, PrefCode::new(13).unwrap());
            }
            if e.to == RecordState::Active {
                prop_assert!(e.from == Some(RecordState::PendingVerification) || e.from == Some(RecordState::Active));
            }
            if e.to == RecordState::Located && e.from == Some(RecordState::Active) {
                prop_assert_eq!(e.message, "locate");
                prop_assert!(l.requests().iter().any(|r| r.from == e.pref && r.answer == Some(true)));
            }
        }
        if l.state() == RecordState::Located {
            prop_assert!(l.located().is_some());
        }
        // Whatever the messages did, the stored form reads back as the same lifecycle.
        let stored = serde_json::to_string(&l).unwrap();
        prop_assert_eq!(serde_json::from_str::<Lifecycle>(&stored).unwrap(), l);
    }

    /// The sweep, run at any times, re-sends each unanswered request at most MAX_RESENDS
    /// times and then escalates it exactly once; running it twice at one time acts once;
    /// and what it sends is always accepted by the lifecycle.
    #[test]
    fn sweeps_resend_then_escalate_exactly_once(
        priorities in proptest::collection::vec(prop_oneof![Just(Priority::Urgent), Just(Priority::Routine)], 1..4),
        gaps in proptest::collection::vec(0i64..(3 * 60 * MIN), 1..20),
    ) {
        let mut l = active(RecordKind::StolenVehicle);
        let ids: Vec<String> = (0..priorities.len()).map(|i| format!("q{i}")).collect();
        for (id, p) in ids.iter().zip(&priorities) {
            request(&mut l, id, 27, *p, T0);
        }
        let sweeper = actor("sweeper", 27);
        let mut now = T0;
        for gap in gaps {
            now += gap;
            for _ in 0..2 {
                let mut acted = 0;
                for id in &ids {
                    if let Some(m) = l.sweep_message(id, now) {
                        prop_assert!(l.apply(&m, &sweeper, now).is_ok());
                        acted += 1;
                    }
                }
                // The second pass at the same time finds nothing to do.
                if acted > 0 {
                    for id in &ids {
                        prop_assert_eq!(l.sweep_message(id, now), None);
                    }
                }
            }
            for r in l.requests() {
                prop_assert!(r.resends <= MAX_RESENDS);
                prop_assert!(r.escalated_at.is_none() || r.resends == MAX_RESENDS);
                // Nothing overdue is left without an action taken.
                if let Some(a) = r.overdue_action(now) {
                    prop_assert_eq!(a, OverdueAction::AwaitSupervisor);
                }
            }
        }
        let escalations = l.history().iter().filter(|h| h.message == "hit_confirmation_escalate").count();
        prop_assert!(escalations <= ids.len());
        let resends = l.history().iter().filter(|h| h.message == "hit_confirmation_resend").count();
        prop_assert!(resends <= ids.len() * MAX_RESENDS as usize);
    }
}
