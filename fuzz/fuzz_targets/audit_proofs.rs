//! Proof verification and the decoders of stored audit data take hostile input: none may
//! panic, and a proof built from fuzz bytes must never verify against a real tree's root
//! unless it is the genuine proof.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = koban_audit::Frontier::from_bytes(data);
    let _ = koban_audit::Checkpoint::parse_body(data);
    let _ = koban_audit::AuditEvent::from_canonical_bytes(data);
    if data.len() < 17 {
        return;
    }
    let index = u64::from_le_bytes(data[0..8].try_into().unwrap_or([0; 8]));
    let size = u64::from_le_bytes(data[8..16].try_into().unwrap_or([0; 8]));
    let hashes: Vec<koban_audit::Hash> = data[16..]
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect();
    let leaf = [data[16]; 32];
    let root = [data[data.len() - 1]; 32];
    let _ = koban_audit::verify_inclusion(&leaf, index, size, &hashes, &root);
    let _ = koban_audit::verify_consistency(index, size, &leaf, &root, &hashes);
});
