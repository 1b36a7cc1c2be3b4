//! `koban import records` end to end: bad lines are reported with file, line and field and
//! skipped, good lines are loaded, a second run refuses the duplicates, and the audit log
//! that records the batches still verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn koban(args: &[&str], data: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_koban"))
        .args(args)
        .arg("--data")
        .arg(data)
        .args(["--sqlite-sync", "normal"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_lines_are_reported_and_good_lines_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("records.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300あ1234","plates_taken":1,"stolen_on":"2025-01-10"}"#,
            "\n",
            r#"{"kind":"stolen_plate","owner_pref":"13","plate":"品川300ん1234","plates_taken":1,"stolen_on":"2025-01-10"}"#,
            "\n",
            r#"{"kind":"wanted","owner_pref":"27","name":{"kanji":"山田 太郎","kana":"ヤマダ タロウ"},"date_of_birth":"1970-01-02","descriptors":{"sex":"male"},"warrant":{"issuing_court":"大阪地方裁判所","warrant_number":"1","offence":"窃盗","issued_on":"2025-01-01","expires_on":"2099-01-01"}}"#,
            "\n",
            "not json\n",
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = koban(&["import", "records", f], &data);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("imported 2 records from 4 lines"), "{out}");
    assert!(err.contains(&format!("{f}:2: plate: ")), "{err}");
    assert!(
        err.contains(&format!("{f}:4: : ")) && err.contains("(invalid_json)"),
        "{err}"
    );
    // The same file again: every good line is now a duplicate; nothing is loaded twice.
    let (code, out, err) = koban(&["import", "records", f], &data);
    assert_eq!(code, 1);
    assert!(out.contains("imported 0 records"), "{out}");
    assert_eq!(err.matches("(duplicate_record)").count(), 2, "{err}");
    // A CSV with dotted columns.
    let csv = dir.path().join("plates.csv");
    std::fs::write(
        &csv,
        "kind,owner_pref,plate,plates_taken,stolen_on\nstolen_plate,14,横浜 500 さ 1,1,2025-02-02\n",
    )
    .unwrap();
    let (code, out, err) = koban(&["import", "records", csv.to_str().unwrap()], &data);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 1 records"), "{out}");
    // The batches and file summaries are in the audit log, which verifies.
    let (code, out, err) = koban(&["audit", "verify"], &data);
    assert_eq!(code, 0, "{out}{err}");
}

/// Lines are parsed on several threads in chunks; what is reported and loaded must be
/// exactly what a sequential read gives, across chunk and batch boundaries.
#[test]
fn a_large_file_is_parsed_in_parallel_without_losing_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("many.jsonl");
    let bad = [1usize, 2_000, 2_001, 4_500, 6_999];
    let mut text = String::new();
    for i in 1..=7_000usize {
        if bad.contains(&i) {
            text.push_str(&format!("{{\"kind\":\"stolen_article\",\"owner_pref\":\"13\",\"number\":{{\"kind\":\"serial\",\"number\":\"\"}},\"article_type\":\"bad {i}\",\"brand\":\"\",\"stolen_on\":\"2025-01-01\"}}\n"));
        } else {
            text.push_str(&format!("{{\"kind\":\"stolen_article\",\"owner_pref\":\"13\",\"number\":{{\"kind\":\"serial\",\"number\":\"SN{i:08}\"}},\"article_type\":\"PC\",\"brand\":\"\",\"stolen_on\":\"2025-01-01\"}}\n"));
        }
    }
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = koban(&["import", "records", "--batch", "1500", f], &data);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("imported 6995 records from 7000 lines"),
        "{out}"
    );
    let reported: Vec<usize> = err
        .lines()
        // The progress bar shares stderr, so a report may follow it on the same line.
        .filter_map(|l| {
            let at = l.find(&format!("{f}:"))?;
            l[at + f.len() + 1..].split(':').next()?.parse().ok()
        })
        .collect();
    assert_eq!(reported, bad, "{err}");
    // Loaded into an empty registry, the index was built at the end: a second run finds
    // every good line already registered.
    let (_, out, err) = koban(&["import", "records", f], &data);
    assert!(out.contains("imported 0 records"), "{out}");
    assert_eq!(err.matches("(duplicate_record)").count(), 6_995);
}

#[test]
fn registry_sweep_prints_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = koban(&["registry", "sweep"], &data);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["examined"], 0, "{out}");
    assert_eq!(report["resent"], 0, "{out}");
    assert_eq!(report["escalated"], 0, "{out}");
}

#[test]
fn registry_export_names_the_refusal_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("hot.jsonl");
    let out = out.to_str().unwrap();
    let (code, stdout, err) = koban(
        &["registry", "export", "--since", "garbage", "--out", out],
        &data,
    );
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(err.contains("invalid_format: since:"), "{err}");
    let (code, stdout, err) = koban(&["registry", "export", "--out", out], &data);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("exported 0 records and 0 removals"),
        "{stdout}"
    );
}
