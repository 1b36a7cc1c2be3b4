//! Checkpoint encoding, signing and verification.

use crate::*;

fn key() -> SigningKey {
    SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap()
}

fn sample() -> Checkpoint {
    Checkpoint::new(
        "koban.example/audit",
        1234,
        leaf_hash(b"root"),
        1_700_000_000_123_456,
    )
    .unwrap()
}

#[test]
fn signed_body_format() {
    let cp = Checkpoint::new("o", 5, [0u8; 32], -7).unwrap();
    assert_eq!(
        String::from_utf8(cp.signed_body()).unwrap(),
        "koban-audit-checkpoint/v1\no\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-7\n"
    );
    let cp = sample();
    assert_eq!(Checkpoint::parse_body(&cp.signed_body()).unwrap(), cp);
}

#[test]
fn parse_body_rejects_non_canonical_forms() {
    let good = String::from_utf8(sample().signed_body()).unwrap();
    let variants = [
        good.replace("\n1234\n", "\n01234\n"),
        good.replace("\n1234\n", "\n+1234\n"),
        good.replace("/v1", "/v2"),
        format!("{good}\n"),
        good.trim_end().to_string(),
        good.replace('\n', "\r\n"),
        good.replace("\n1234\n", "\n-1\n"),
        String::new(),
    ];
    for v in variants {
        assert!(Checkpoint::parse_body(v.as_bytes()).is_err(), "{v:?}");
    }
    assert!(Checkpoint::parse_body(&[0xff, 0xfe]).is_err());
}

#[test]
fn sign_verify_round_trip() {
    let k = key();
    let cp = sample();
    let sig = k.sign(&cp).unwrap();
    verify_checkpoint(&k.public_key(), &cp, &sig).unwrap();
    // Re-loading the same PKCS#8 gives the same key and identifier.
    let pkcs8 = SigningKey::generate_pkcs8().unwrap();
    let (a, b) = (
        SigningKey::from_pkcs8(&pkcs8).unwrap(),
        SigningKey::from_pkcs8(&pkcs8).unwrap(),
    );
    assert_eq!(a.public_key(), b.public_key());
    assert_eq!(a.key_id(), key_id_of(&b.public_key()));
    assert_eq!(a.key_id().len(), 16);
    // Ed25519 is deterministic.
    assert_eq!(a.sign(&cp).unwrap(), b.sign(&cp).unwrap());
}

#[test]
fn any_change_breaks_the_signature() {
    let k = key();
    let pk = k.public_key();
    let cp = sample();
    let sig = k.sign(&cp).unwrap();

    let mut changed = Vec::new();
    let mut c = cp.clone();
    c.origin.push('x');
    changed.push(c);
    let mut c = cp.clone();
    c.tree_size += 1;
    changed.push(c);
    let mut c = cp.clone();
    c.root_hash[31] ^= 1;
    changed.push(c);
    let mut c = cp.clone();
    c.timestamp_us -= 1;
    changed.push(c);
    for c in &changed {
        assert_eq!(
            verify_checkpoint(&pk, c, &sig),
            Err(AuditError::BadSignature),
            "{c:?}"
        );
    }
    for i in 0..64 {
        for bit in [0, 7] {
            let mut s = sig;
            s[i] ^= 1 << bit;
            assert!(verify_checkpoint(&pk, &cp, &s).is_err());
        }
    }
    assert!(verify_checkpoint(&pk, &cp, &sig[..63]).is_err());
    assert!(verify_checkpoint(&pk, &cp, &[sig.as_slice(), &[0]].concat()).is_err());
    assert!(verify_checkpoint(&pk, &cp, &[]).is_err());
    // Another key does not verify it.
    assert!(verify_checkpoint(&key().public_key(), &cp, &sig).is_err());
    assert!(verify_checkpoint(&[0u8; 32], &cp, &sig).is_err());
}

#[test]
fn origins_with_newlines_are_refused() {
    let k = key();
    for bad in ["", "a\nb", "a\r", "tab\there", "x\n5\n"] {
        assert!(Checkpoint::new(bad, 1, [0; 32], 0).is_err(), "{bad:?}");
        let cp = Checkpoint {
            origin: bad.to_string(),
            ..sample()
        };
        assert!(matches!(k.sign(&cp), Err(AuditError::InvalidOrigin(_))));
        let good_sig = k.sign(&sample()).unwrap();
        assert!(verify_checkpoint(&k.public_key(), &cp, &good_sig).is_err());
    }
    assert!(Checkpoint::new("県警/audit", 1, [0; 32], 0).is_ok());
}

#[test]
fn bad_keys_are_rejected() {
    assert!(matches!(
        SigningKey::from_pkcs8(b"not a key"),
        Err(AuditError::KeyRejected(_))
    ));
    assert!(SigningKey::from_pkcs8(&[]).is_err());
    let mut pkcs8 = SigningKey::generate_pkcs8().unwrap();
    let last = pkcs8.len() - 1;
    // The embedded public key no longer matches the private key.
    pkcs8[last] ^= 1;
    assert!(SigningKey::from_pkcs8(&pkcs8).is_err());
}

#[test]
fn debug_output_hides_the_secret() {
    let pkcs8 = SigningKey::generate_pkcs8().unwrap();
    let k = SigningKey::from_pkcs8(&pkcs8).unwrap();
    let dbg = format!("{k:?}");
    assert!(dbg.contains(&k.key_id()));
    // Ring's PKCS#8 v2 layout carries the 32-byte seed at offset 16.
    let seed = hex(&pkcs8[16..48]);
    assert!(!dbg.contains(&seed));
    assert!(!dbg.contains(&hex(&pkcs8)));
}

#[test]
fn checkpoint_serde_shape_is_stable() {
    // The derive is part of the public API; this pins that it exists.
    fn assert_serde<T: serde::Serialize + serde::de::DeserializeOwned>() {}
    assert_serde::<Checkpoint>();
    assert_serde::<AuditEvent>();
}
