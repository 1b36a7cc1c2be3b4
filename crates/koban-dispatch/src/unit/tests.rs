use proptest::prelude::*;

use super::*;

fn unit(status: UnitStatus) -> Unit {
    Unit {
        id: "pc1".into(),
        kind: UnitKind::PatrolCar,
        capabilities: ["traffic".to_owned()].into_iter().collect(),
        crew_count: 2,
        home_station_id: "13-001".into(),
        status,
        position: None,
    }
}

#[test]
fn every_status_maps_to_one_primary_and_a_dispatchability() {
    for s in UnitStatus::ALL {
        // Primary and dispatchability agree: an Available unit can always be sent and a
        // Blocked one is never Available.
        let p = s.eido_primary();
        let d = s.dispatchability();
        if p == EidoPrimaryStatus::Available {
            assert_eq!(d, Dispatchability::Dispatchable, "{s:?}");
        }
        if d == Dispatchability::Blocked {
            assert_eq!(p, EidoPrimaryStatus::NotAvailable, "{s:?}");
        }
        assert!(!s.eido_secondary().is_empty(), "{s:?}");
        assert!(!s.name_ja().is_empty());
    }
    assert_eq!(UnitStatus::OnPatrol.name_ja(), "警ら中");
    assert_eq!(
        UnitStatus::Break.eido_primary(),
        EidoPrimaryStatus::ConditionallyAvailable
    );
    assert_eq!(
        UnitStatus::Transporting.dispatchability(),
        Dispatchability::Blocked
    );
    assert_eq!(
        UnitStatus::OffDuty.eido_secondary(),
        &[EidoSecondaryStatus::OutofService]
    );
}

#[test]
fn eido_fields_use_schema_names_and_registry_spelling() {
    let v = serde_json::to_value(UnitStatus::Dispatched.eido_fields()).unwrap_or_default();
    assert_eq!(
        v,
        serde_json::json!({
            "primaryUnitStatusRegistryText": "NotAvailable",
            "secondaryUnitStatusRegistryText": ["InService", "Assigned", "Dispatched"],
            "unitStatusInternal": ["dispatched"],
        })
    );
    // as_str and serde agree for every value.
    for s in UnitStatus::ALL {
        let p = s.eido_primary();
        assert_eq!(serde_json::to_value(p).ok(), Some(p.as_str().into()));
        for sec in s.eido_secondary() {
            assert_eq!(serde_json::to_value(sec).ok(), Some(sec.as_str().into()));
        }
        assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
    }
}

#[test]
fn names_round_trip() {
    for k in UnitKind::ALL {
        assert_eq!(UnitKind::parse(k.as_str()), Ok(k));
    }
    assert!(UnitKind::parse("tank").is_err());
}

#[test]
fn capabilities() {
    let u = unit(UnitStatus::OnPatrol);
    assert!(u.has_capabilities(&["traffic"]));
    assert!(u.has_capabilities::<&str>(&[]));
    assert!(!u.has_capabilities(&["traffic", "firearms_team"]));
}

#[test]
fn assignment_drives_unit_status() {
    let mut u = unit(UnitStatus::OnPatrol);
    let mut a = Assignment::new("pc1", "i1", 0, "disp");
    assert!(
        a.advance_unit(&mut u, AssignmentStep::Dispatched, 10, "disp")
            .is_ok()
    );
    assert_eq!(u.status, UnitStatus::Dispatched);
    assert!(
        a.advance_unit(&mut u, AssignmentStep::Acknowledged, 20, "pc1")
            .is_ok()
    );
    assert!(
        a.advance_unit(&mut u, AssignmentStep::EnRoute, 30, "pc1")
            .is_ok()
    );
    assert_eq!(u.status, UnitStatus::Dispatched);
    assert!(
        a.advance_unit(&mut u, AssignmentStep::OnScene, 40, "pc1")
            .is_ok()
    );
    assert_eq!(u.status, UnitStatus::OnScene);
    assert!(
        a.advance_unit(&mut u, AssignmentStep::Transporting, 50, "pc1")
            .is_ok()
    );
    assert_eq!(u.status, UnitStatus::Transporting);
    assert!(
        a.advance_unit(&mut u, AssignmentStep::Cleared, 60, "pc1")
            .is_ok()
    );
    assert_eq!(u.status, UnitStatus::OnPatrol);
    assert_eq!(a.timeline().len(), 7);
    assert_eq!(a.time_of(AssignmentStep::OnScene), Some(40));
    // Cleared is final.
    let err = a.advance(AssignmentStep::OnScene, 70, "pc1");
    assert_eq!(
        err,
        Err(DispatchError::IllegalTransition {
            machine: "assignment",
            from: "cleared",
            to: "on_scene"
        })
    );
}

#[test]
fn assigned_does_not_change_status_and_wrong_unit_is_refused() {
    let mut u = unit(UnitStatus::AvailableAtStation);
    let mut a = Assignment::new("other", "i1", 0, "disp");
    assert!(
        a.advance_unit(&mut u, AssignmentStep::Dispatched, 1, "d")
            .is_err()
    );
    assert_eq!(a.step(), AssignmentStep::Assigned);
    assert_eq!(u.status, UnitStatus::AvailableAtStation);
    assert_eq!(AssignmentStep::Assigned.unit_status(), None);
}

#[test]
fn legal_orders() {
    use AssignmentStep::*;
    assert!(assignment_transition_allowed(Assigned, Dispatched));
    assert!(assignment_transition_allowed(Assigned, Cleared));
    assert!(!assignment_transition_allowed(Assigned, OnScene));
    assert!(assignment_transition_allowed(Dispatched, OnScene));
    assert!(!assignment_transition_allowed(EnRoute, Transporting));
    assert!(assignment_transition_allowed(OnScene, Transporting));
    assert!(!assignment_transition_allowed(OnScene, EnRoute));
    assert!(!assignment_transition_allowed(Dispatched, Dispatched));
    for s in AssignmentStep::ALL {
        assert!(!assignment_transition_allowed(Cleared, s));
    }
}

#[test]
fn first_times_over_assignments() {
    let mut a = Assignment::new("a", "i", 0, "d");
    let mut b = Assignment::new("b", "i", 0, "d");
    assert!(a.advance(AssignmentStep::Dispatched, 20, "d").is_ok());
    assert!(b.advance(AssignmentStep::Dispatched, 10, "d").is_ok());
    assert!(a.advance(AssignmentStep::OnScene, 100, "d").is_ok());
    assert_eq!(first_dispatch_and_arrival(&[a, b]), (Some(10), Some(100)));
    assert_eq!(first_dispatch_and_arrival(&[]), (None, None));
}

#[test]
fn assignment_json_round_trip_and_restore_checks() {
    let mut a = Assignment::new("u", "i", 0, "d");
    assert!(a.advance(AssignmentStep::Dispatched, 1, "d").is_ok());
    assert!(a.advance(AssignmentStep::OnScene, 2, "u").is_ok());
    let json = serde_json::to_value(&a).unwrap_or_default();
    assert_eq!(
        serde_json::from_value::<Assignment>(json.clone()).ok(),
        Some(a)
    );
    let mut wrong = json.clone();
    wrong["step"] = "cleared".into();
    assert!(serde_json::from_value::<Assignment>(wrong).is_err());
    let mut gap = json;
    if let Some(tl) = gap["timeline"].as_array_mut() {
        tl.remove(1);
    }
    assert!(serde_json::from_value::<Assignment>(gap).is_err());
}

#[test]
fn derived_status_over_several_assignments() {
    let mut a = Assignment::new("u", "i1", 0, "d");
    let mut b = Assignment::new("u", "i2", 0, "d");
    assert_eq!(derived_unit_status([&a, &b]), None);
    assert!(a.advance(AssignmentStep::Dispatched, 1, "d").is_ok());
    assert!(b.advance(AssignmentStep::Dispatched, 1, "d").is_ok());
    assert!(b.advance(AssignmentStep::OnScene, 2, "d").is_ok());
    assert_eq!(derived_unit_status([&a, &b]), Some(UnitStatus::OnScene));
    assert!(b.advance(AssignmentStep::Cleared, 3, "d").is_ok());
    // Clearing one incident leaves the unit still dispatched to the other.
    assert_eq!(derived_unit_status([&a, &b]), Some(UnitStatus::Dispatched));
    assert!(a.advance(AssignmentStep::Cleared, 4, "d").is_ok());
    assert_eq!(derived_unit_status([&a, &b]), Some(UnitStatus::OnPatrol));
}

#[test]
fn steps_drive_the_incident() {
    use crate::incident::{IncidentCommand as C, IncidentState as S};
    assert_eq!(
        incident_commands_for_step(S::Created, AssignmentStep::Dispatched),
        [C::Dispatch]
    );
    assert_eq!(
        incident_commands_for_step(S::Created, AssignmentStep::OnScene),
        [C::Dispatch, C::ArriveOnScene]
    );
    assert_eq!(
        incident_commands_for_step(S::Dispatched, AssignmentStep::EnRoute),
        []
    );
    assert_eq!(
        incident_commands_for_step(S::OnScene, AssignmentStep::OnScene),
        []
    );
    assert_eq!(
        incident_commands_for_step(S::Closed, AssignmentStep::Dispatched),
        []
    );
    assert_eq!(
        incident_commands_for_step(S::Created, AssignmentStep::Cleared),
        []
    );
    // Every command suggested is legal from the state it is applied in.
    for state in S::ALL {
        for step in AssignmentStep::ALL {
            let mut s = state;
            for c in incident_commands_for_step(state, step) {
                assert!(crate::incident::incident_transition_allowed(s, c.target()));
                s = c.target();
            }
        }
    }
}

proptest! {
    #[test]
    fn random_steps_keep_the_assignment_consistent(
        steps in proptest::collection::vec(0usize..7, 0..30)
    ) {
        let mut a = Assignment::new("u", "i", 0, "d");
        let mut accepted = 0usize;
        for (n, idx) in steps.iter().enumerate() {
            let to = AssignmentStep::ALL[*idx];
            let before = a.step();
            match a.advance(to, n as i64, "d") {
                Ok(status) => {
                    accepted += 1;
                    prop_assert_eq!(a.step(), to);
                    prop_assert_eq!(status, to.unit_status());
                }
                Err(e) => {
                    prop_assert_eq!(e.code(), "illegal_transition");
                    prop_assert_eq!(a.step(), before);
                }
            }
        }
        let tl = a.timeline();
        prop_assert_eq!(tl.len(), accepted + 1);
        prop_assert_eq!(tl[0].to, AssignmentStep::Assigned);
        for w in tl.windows(2) {
            prop_assert_eq!(w[1].from, Some(w[0].to));
            // Steps only go forward, so the timeline is strictly ordered.
            prop_assert!(w[1].to > w[0].to);
        }
        prop_assert_eq!(tl.last().map(|e| e.to), Some(a.step()));
        let json = serde_json::to_string(&a).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<Assignment>(&json).ok(), Some(a.clone()));
        // Transporting only ever follows on_scene.
        for w in tl.windows(2) {
            if w[1].to == AssignmentStep::Transporting {
                prop_assert_eq!(w[0].to, AssignmentStep::OnScene);
            }
        }
    }
}
