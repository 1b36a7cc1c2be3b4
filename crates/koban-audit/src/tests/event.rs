//! Canonical event encoding.

use proptest::prelude::*;

use crate::*;

pub fn sample_event(seq: u64) -> AuditEvent {
    AuditEvent {
        seq,
        time_us: 1_700_000_000_000_000 + seq as i64 * 1_000,
        actor_id: (seq % 5 != 0).then(|| format!("user-{}", seq % 7)),
        actor_name: format!("officer{}", seq % 7),
        actor_roles: "investigator,viewer".to_string(),
        actor_unit: Some("unit-13-001".to_string()),
        action: ["auth.login", "user.create", "org.read"][(seq % 3) as usize].to_string(),
        object_type: Some("case".to_string()),
        object_id: Some(format!("case-{seq}")),
        scope_pref: (seq % 4 != 0).then(|| "13".to_string()),
        purpose: Some("investigation".to_string()),
        result: "success".to_string(),
        detail: format!("{{\"n\":{seq}}}"),
        client_addr: Some("192.0.2.1".to_string()),
        request_id: Some(format!("req-{seq}")),
    }
}

/// Every optional field, in encoding order.
fn optional_fields(ev: &mut AuditEvent) -> [&mut Option<String>; 8] {
    [
        &mut ev.actor_id,
        &mut ev.actor_unit,
        &mut ev.object_type,
        &mut ev.object_id,
        &mut ev.scope_pref,
        &mut ev.purpose,
        &mut ev.client_addr,
        &mut ev.request_id,
    ]
}

/// The string at position `i` of the encoding order, creating optional
/// fields as needed so that there is always a string to change.
fn field_mut(ev: &mut AuditEvent, i: usize) -> &mut String {
    match i {
        0 => ev.actor_id.get_or_insert_with(String::new),
        1 => &mut ev.actor_name,
        2 => &mut ev.actor_roles,
        3 => ev.actor_unit.get_or_insert_with(String::new),
        4 => &mut ev.action,
        5 => ev.object_type.get_or_insert_with(String::new),
        6 => ev.object_id.get_or_insert_with(String::new),
        7 => ev.scope_pref.get_or_insert_with(String::new),
        8 => ev.purpose.get_or_insert_with(String::new),
        9 => &mut ev.result,
        10 => &mut ev.detail,
        11 => ev.client_addr.get_or_insert_with(String::new),
        12 => ev.request_id.get_or_insert_with(String::new),
        _ => panic!("no string field {i}"),
    }
}

const STRING_FIELDS: usize = 13;

#[test]
fn encoding_starts_with_the_versioned_prefix_and_round_trips() {
    let ev = sample_event(42);
    let bytes = ev.canonical_bytes();
    assert!(bytes.starts_with(b"koban-audit-event/v1\0"));
    assert_eq!(&bytes[21..29], &42u64.to_be_bytes());
    assert_eq!(AuditEvent::from_canonical_bytes(&bytes).unwrap(), ev);
    assert_eq!(ev.leaf_hash(), leaf_hash(&bytes));
}

#[test]
fn changing_any_single_field_changes_the_encoding() {
    let base = sample_event(1);
    let mut variants = vec![base.clone()];
    let mut v = base.clone();
    v.seq += 1;
    variants.push(v);
    let mut v = base.clone();
    v.time_us += 1;
    variants.push(v);
    for i in 0..STRING_FIELDS {
        let mut v = base.clone();
        field_mut(&mut v, i).push('!');
        variants.push(v);
    }
    // Absent versus present-but-empty must differ for every optional field.
    for j in 0..8 {
        for value in [None, Some(String::new())] {
            let mut v = base.clone();
            *optional_fields(&mut v)[j] = value;
            variants.push(v);
        }
    }
    let encodings: Vec<Vec<u8>> = variants.iter().map(AuditEvent::canonical_bytes).collect();
    for a in 0..encodings.len() {
        for b in a + 1..encodings.len() {
            if variants[a] != variants[b] {
                assert_ne!(
                    encodings[a], encodings[b],
                    "{:?} vs {:?}",
                    variants[a], variants[b]
                );
                assert_ne!(variants[a].leaf_hash(), variants[b].leaf_hash());
            }
        }
    }
}

#[test]
fn moving_characters_between_adjacent_fields_changes_the_encoding() {
    let base = sample_event(3);
    let base_bytes = base.canonical_bytes();
    for i in 0..STRING_FIELDS - 1 {
        // Move the last character of field i to the front of field i + 1.
        let mut moved = base.clone();
        let ch = field_mut(&mut moved, i).pop().unwrap();
        field_mut(&mut moved, i + 1).insert(0, ch);
        assert_ne!(
            moved.canonical_bytes(),
            base_bytes,
            "fields {i} -> {}",
            i + 1
        );
        // And the first character of field i + 1 to the end of field i.
        let mut moved = base.clone();
        let ch = field_mut(&mut moved, i + 1).remove(0);
        field_mut(&mut moved, i).push(ch);
        assert_ne!(
            moved.canonical_bytes(),
            base_bytes,
            "fields {} -> {i}",
            i + 1
        );
    }
}

#[test]
fn decoder_rejects_non_canonical_input() {
    let bytes = sample_event(9).canonical_bytes();
    for cut in 0..bytes.len() {
        assert!(
            AuditEvent::from_canonical_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(AuditEvent::from_canonical_bytes(&trailing).is_err());
    let mut other_version = bytes.clone();
    other_version[19] = b'2';
    assert!(AuditEvent::from_canonical_bytes(&other_version).is_err());
    // Presence byte of actor_id (right after the two integers) set to 2.
    let mut presence = bytes.clone();
    presence[21 + 16] = 2;
    assert!(AuditEvent::from_canonical_bytes(&presence).is_err());
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{0,6}")
}

prop_compose! {
    fn arb_event()(
        seq in any::<u64>(),
        time_us in any::<i64>(),
        actor_id in opt_string(),
        actor_name in ".{0,6}",
        actor_roles in "[a-z,]{0,6}",
        actor_unit in opt_string(),
        action in ".{0,6}",
        object_type in opt_string(),
        object_id in opt_string(),
        scope_pref in opt_string(),
        purpose in opt_string(),
        result in ".{0,6}",
        detail in ".{0,6}",
        client_addr in opt_string(),
        request_id in opt_string(),
    ) -> AuditEvent {
        AuditEvent {
            seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, object_type,
            object_id, scope_pref, purpose, result, detail, client_addr, request_id,
        }
    }
}

proptest! {
    /// Decoding inverts encoding, so the encoding is injective: two different
    /// events can never share an encoding or (barring SHA-256 collisions) a leaf hash.
    #[test]
    fn canonical_encoding_is_invertible(ev in arb_event()) {
        let bytes = ev.canonical_bytes();
        prop_assert_eq!(AuditEvent::from_canonical_bytes(&bytes).unwrap(), ev.clone());
        prop_assert_eq!(ev.leaf_hash(), leaf_hash(&bytes));
    }

    #[test]
    fn distinct_events_encode_differently(a in arb_event(), b in arb_event()) {
        prop_assert_eq!(a == b, a.canonical_bytes() == b.canonical_bytes());
    }

    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut input = b"koban-audit-event/v1\0".to_vec();
        input.extend_from_slice(&bytes);
        if let Ok(ev) = AuditEvent::from_canonical_bytes(&input) {
            prop_assert_eq!(ev.canonical_bytes(), input);
        }
        let _ = AuditEvent::from_canonical_bytes(&bytes);
    }
}
