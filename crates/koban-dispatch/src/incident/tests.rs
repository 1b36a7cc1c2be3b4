use proptest::prelude::*;

use super::*;

const T0: i64 = 1_700_000_000_000_000;

fn loc(lat: f64, lon: f64) -> UncertainLocation {
    UncertainLocation {
        point: LatLon { lat, lon },
        radius_m: 10.0,
    }
}

fn new_incident(id: &str, type_code: &str, lat: f64, lon: f64) -> NewIncident {
    NewIncident {
        id: id.into(),
        type_code: type_code.into(),
        priority: None,
        location: loc(lat, lon),
        narrative: String::new(),
        cautions: CautionFlags::default(),
        call_id: Some(format!("call-{id}")),
    }
}

fn make(id: &str, type_code: &str, lat: f64, lon: f64, at_us: i64) -> Incident {
    match Incident::create(
        new_incident(id, type_code, lat, lon),
        &IncidentTypeList::default(),
        at_us,
        "taker",
    ) {
        Ok(i) => i,
        Err(e) => panic!("create failed: {e}"),
    }
}

fn close(code: &str) -> IncidentCommand {
    IncidentCommand::Close {
        disposition: Some(code.into()),
    }
}

#[test]
fn create_takes_default_priority_and_records_creation() {
    let i = make("i1", "robbery", 35.0, 139.0, T0);
    assert_eq!(i.priority, 1);
    assert_eq!(i.state(), IncidentState::Created);
    assert_eq!(i.call_ids, vec!["call-i1".to_owned()]);
    assert_eq!(i.timeline().len(), 1);
    assert_eq!(i.timeline()[0].from, None);
    assert_eq!(i.timeline()[0].to, IncidentState::Created);
}

#[test]
fn create_refuses_unknown_type_and_bad_priority() {
    let types = IncidentTypeList::default();
    let r = Incident::create(new_incident("i", "nope", 35.0, 139.0), &types, T0, "a");
    assert_eq!(
        r.map(|_| ()).err().map(|e| e.code()),
        Some("unknown_incident_type")
    );
    let mut n = new_incident("i", "theft", 35.0, 139.0);
    n.priority = Some(9);
    let r = Incident::create(n, &types, T0, "a");
    assert_eq!(
        r.map(|_| ()).err().map(|e| e.code()),
        Some("invalid_priority")
    );
}

#[test]
fn create_refuses_bad_location() {
    let types = IncidentTypeList::default();
    let mut n = new_incident("i", "theft", 95.0, 139.0);
    assert_eq!(
        Incident::create(n.clone(), &types, T0, "a")
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("out_of_range")
    );
    n.location = loc(35.0, 139.0);
    n.location.radius_m = -1.0;
    assert!(Incident::create(n, &types, T0, "a").is_err());
}

#[test]
fn happy_path_to_closed() {
    let d = DispositionList::default();
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    for (n, cmd) in [
        IncidentCommand::Dispatch,
        IncidentCommand::ArriveOnScene,
        IncidentCommand::Clear,
        close("report_taken"),
    ]
    .iter()
    .enumerate()
    {
        assert!(
            i.apply(cmd, &d, T0 + n as i64, "disp", "").is_ok(),
            "{cmd:?}"
        );
    }
    assert_eq!(i.state(), IncidentState::Closed);
    assert_eq!(i.disposition(), Some("report_taken"));
    assert_eq!(i.timeline().len(), 5);
    // Reopening drops the disposition, since the incident is no longer closed.
    assert!(
        i.apply(&IncidentCommand::Reopen, &d, T0 + 9, "sup", "new info")
            .is_ok()
    );
    assert_eq!(i.state(), IncidentState::Created);
    assert_eq!(i.disposition(), None);
    assert_eq!(
        i.timeline().last().map(|e| e.note.as_str()),
        Some("new info")
    );
}

#[test]
fn illegal_transition_names_from_and_to_and_changes_nothing() {
    let d = DispositionList::default();
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    let before = i.clone();
    let err = i
        .apply(&IncidentCommand::Clear, &d, T0, "a", "")
        .map(|_| ())
        .err();
    assert_eq!(
        err,
        Some(DispatchError::IllegalTransition {
            machine: "incident",
            from: "created",
            to: "cleared"
        })
    );
    assert_eq!(err.map(|e| e.code()), Some("illegal_transition"));
    assert_eq!(i, before);
}

#[test]
fn close_requires_known_disposition() {
    let d = DispositionList::default();
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    for c in [
        IncidentCommand::Dispatch,
        IncidentCommand::ArriveOnScene,
        IncidentCommand::Clear,
    ] {
        assert!(i.apply(&c, &d, T0, "a", "").is_ok());
    }
    let none = IncidentCommand::Close { disposition: None };
    assert_eq!(
        i.apply(&none, &d, T0, "a", "").map(|_| ()).err(),
        Some(DispatchError::DispositionRequired)
    );
    assert_eq!(
        i.apply(&close("bogus"), &d, T0, "a", "")
            .map(|_| ())
            .err()
            .map(|e| e.code()),
        Some("unknown_disposition")
    );
    assert_eq!(i.state(), IncidentState::Cleared);
    assert!(i.apply(&close("arrest"), &d, T0, "a", "").is_ok());
}

#[test]
fn cancel_and_reopen_rules() {
    use IncidentState::*;
    for from in IncidentState::ALL {
        assert_eq!(
            incident_transition_allowed(from, Cancelled),
            matches!(from, Created | Dispatched | OnScene),
            "{from:?}"
        );
        assert_eq!(
            incident_transition_allowed(from, Created),
            matches!(from, Cleared | Closed | Cancelled),
            "{from:?}"
        );
    }
}

#[test]
fn link_call_ignores_repeats() {
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    assert!(i.link_call("c2"));
    assert!(!i.link_call("c2"));
    assert!(!i.link_call("call-i1"));
    assert_eq!(i.call_ids.len(), 2);
}

#[test]
fn answer_delay() {
    let c = Call {
        id: "c".into(),
        received_us: T0,
        answered_us: Some(T0 + 4_500_000),
        caller_number: None,
        caller_location: Some(loc(35.0, 139.0)),
        language: "ja".into(),
        call_taker_id: "u1".into(),
        statement: "車同士の事故".into(),
    };
    assert_eq!(c.answer_delay_s(), Some(4.5));
}

#[test]
fn duplicates_by_distance_time_type_and_state() {
    let types = IncidentTypeList::default();
    let d = DispositionList::default();
    // About 0.001° of latitude is 111 m.
    let near = make("near", "traffic_accident", 35.001, 139.0, T0);
    let nearer = make("nearer", "hit_and_run", 35.0005, 139.0, T0);
    let far = make("far", "traffic_accident", 35.01, 139.0, T0);
    let old = make(
        "old",
        "traffic_accident",
        35.0,
        139.0,
        T0 - 3_600 * US_PER_S,
    );
    let other_type = make("theft", "theft", 35.0, 139.0, T0);
    let mut cancelled = make("cancelled", "traffic_accident", 35.0, 139.0, T0);
    assert!(
        cancelled
            .apply(&IncidentCommand::Cancel, &d, T0, "a", "")
            .is_ok()
    );
    let unknown = make("unknown", "unknown", 35.0002, 139.0, T0);
    let all = [near, nearer, far, old, other_type, cancelled, unknown];
    let q = DuplicateQuery {
        location: LatLon {
            lat: 35.0,
            lon: 139.0,
        },
        at_us: T0 + 60 * US_PER_S,
        type_code: Some("traffic_accident"),
    };
    let got = duplicate_candidates(&types, &q, &all, &DuplicateConfig::default());
    let ids: Vec<_> = got
        .as_ref()
        .map(|v| v.iter().map(|c| c.incident_id.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["unknown", "nearer", "near"]);
    let first = got.as_ref().ok().and_then(|v| v.first().cloned());
    assert_eq!(first.map(|c| c.age_s), Some(60.0));

    // An untyped call matches every open type nearby.
    let q2 = DuplicateQuery {
        type_code: None,
        ..q.clone()
    };
    let n = duplicate_candidates(&types, &q2, &all, &DuplicateConfig::default()).map(|v| v.len());
    assert_eq!(n, Ok(4));

    // An unknown type code is an error, not an empty answer.
    let q3 = DuplicateQuery {
        type_code: Some("nope"),
        ..q
    };
    assert!(duplicate_candidates(&types, &q3, &all, &DuplicateConfig::default()).is_err());
}

#[test]
fn json_round_trip_and_restore_checks() {
    let d = DispositionList::default();
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    for c in [
        IncidentCommand::Dispatch,
        IncidentCommand::ArriveOnScene,
        IncidentCommand::Clear,
        close("arrest"),
    ] {
        assert!(i.apply(&c, &d, T0, "a", "").is_ok());
    }
    let json = serde_json::to_value(&i).unwrap_or_default();
    let back: Result<Incident, _> = serde_json::from_value(json.clone());
    assert_eq!(back.ok(), Some(i));

    // A closed incident without its disposition is refused.
    let mut no_disp = json.clone();
    no_disp["disposition"] = serde_json::Value::Null;
    assert!(serde_json::from_value::<Incident>(no_disp).is_err());
    // A state that the timeline does not end in is refused.
    let mut wrong_state = json.clone();
    wrong_state["state"] = "created".into();
    assert!(serde_json::from_value::<Incident>(wrong_state).is_err());
    // A timeline that skips a step is refused.
    let mut gap = json;
    if let Some(tl) = gap["timeline"].as_array_mut() {
        tl.remove(2);
    }
    assert!(serde_json::from_value::<Incident>(gap).is_err());
}

#[test]
fn set_priority_checks_range() {
    let mut i = make("i1", "theft", 35.0, 139.0, T0);
    assert!(i.set_priority(1).is_ok());
    assert_eq!(i.priority, 1);
    assert_eq!(
        i.set_priority(0).map_err(|e| e.code()),
        Err("invalid_priority")
    );
    assert_eq!(i.priority, 1);
}

fn arb_command() -> impl Strategy<Value = IncidentCommand> {
    prop_oneof![
        Just(IncidentCommand::Dispatch),
        Just(IncidentCommand::ArriveOnScene),
        Just(IncidentCommand::Clear),
        Just(IncidentCommand::Close { disposition: None }),
        Just(close("arrest")),
        Just(close("not_a_code")),
        Just(IncidentCommand::Cancel),
        Just(IncidentCommand::Reopen),
    ]
}

proptest! {
    #[test]
    fn random_commands_keep_the_incident_consistent(
        cmds in proptest::collection::vec(arb_command(), 0..40)
    ) {
        let d = DispositionList::default();
        let mut i = make("p", "theft", 35.0, 139.0, T0);
        let mut accepted = 0usize;
        for (n, cmd) in cmds.iter().enumerate() {
            let before = i.state();
            match i.apply(cmd, &d, T0 + n as i64, "a", "") {
                Ok(_) => {
                    accepted += 1;
                    prop_assert!(incident_transition_allowed(before, i.state()));
                    prop_assert_eq!(i.state(), cmd.target());
                }
                Err(e) => {
                    prop_assert_eq!(i.state(), before);
                    let illegal = !incident_transition_allowed(before, cmd.target());
                    prop_assert_eq!(e.code() == "illegal_transition", illegal);
                }
            }
            // Closed exactly when a disposition is held.
            prop_assert_eq!(i.state() == IncidentState::Closed, i.disposition().is_some());
        }
        let tl = i.timeline();
        prop_assert_eq!(tl.len(), accepted + 1);
        prop_assert_eq!(tl[0].from, None);
        prop_assert_eq!(tl[0].to, IncidentState::Created);
        for w in tl.windows(2) {
            prop_assert_eq!(w[1].from, Some(w[0].to));
            prop_assert!(incident_transition_allowed(w[0].to, w[1].to));
        }
        prop_assert_eq!(tl.last().map(|e| e.to), Some(i.state()));
        // Whatever sequence produced it, the incident survives storage unchanged.
        let json = serde_json::to_string(&i).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<Incident>(&json).ok(), Some(i.clone()));
    }

    #[test]
    fn duplicates_respect_limits(
        points in proptest::collection::vec((-0.01f64..0.01, -0.01f64..0.01, -1800i64..1800), 0..20)
    ) {
        let types = IncidentTypeList::default();
        let incidents: Vec<_> = points
            .iter()
            .enumerate()
            .map(|(n, (dlat, dlon, ds))| {
                make(&format!("i{n}"), "theft", 35.0 + dlat, 139.0 + dlon, T0 + ds * US_PER_S)
            })
            .collect();
        let cfg = DuplicateConfig::default();
        let q = DuplicateQuery { location: LatLon { lat: 35.0, lon: 139.0 }, at_us: T0, type_code: Some("theft") };
        let got = duplicate_candidates(&types, &q, &incidents, &cfg);
        prop_assert!(got.is_ok());
        let got = got.unwrap_or_default();
        for c in &got {
            prop_assert!(c.distance_m <= cfg.max_distance_m);
            prop_assert!(c.age_s.abs() <= cfg.window_s as f64);
        }
        for w in got.windows(2) {
            prop_assert!(w[0].distance_m <= w[1].distance_m);
        }
        let expected = incidents.iter().filter(|i| {
            haversine_m(q.location, i.location.point) <= cfg.max_distance_m
                && q.at_us.abs_diff(i.created_us) <= (cfg.window_s * US_PER_S) as u64
        }).count();
        prop_assert_eq!(got.len(), expected);
    }
}
