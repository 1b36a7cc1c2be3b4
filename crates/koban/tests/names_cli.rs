//! `koban names compare` and `koban screen` as a user runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn koban(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_koban"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn names_compare_adds_a_score_column() {
    let (code, out, err) = koban(
        &["names", "compare"],
        "id,name1,name2\n1,SATO HANAKO,さとう はなこ\n2,SATO HANAKO,SAITO HANAKO\n3,\"Scholz, Olaf\",Olaf Scholz\n",
    );
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<String>> = out
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows[0], ["id", "name1", "name2", "score"]);
    let score = |line: &str| -> f64 { line.rsplit(',').next().unwrap().parse().unwrap() };
    let lines: Vec<&str> = out.lines().collect();
    assert!(score(lines[1]) >= 0.99, "{out}");
    assert!(score(lines[2]) < 0.8, "{out}");
    assert!(score(lines[3]) >= 0.9, "{out}");
    let (code, _, err) = koban(&["names", "compare"], "a,b\nx,y\n");
    assert_eq!(code, 2);
    assert!(err.contains("line 1") && err.contains("name1"), "{err}");
}

#[test]
fn screen_reports_suspected_matches_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.csv");
    let m = dir.path().join("m.csv");
    std::fs::write(
        &w,
        "id,family_name,given_name,family_name_kana,given_name_kana,date_of_birth,nationality\n\
         W1,佐藤,花子,さとう,はなこ,1985-04-12,JPN\nW2,大田,陽子,おおた,ようこ,1990-01-31,JPN\n",
    )
    .unwrap();
    std::fs::write(
        &m,
        "passenger_id,surname,given_names,date_of_birth,nationality,document_number\n\
         P1,SATOH,HANAKO,1985-04-12,JPN,TK1234567\nP2,OTA,YOKO,1991-01-31,JPN,TK7654321\nP3,SAITO,HANAKO,1985-04-12,JPN,TK0000001\n",
    )
    .unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "screen",
            "--watchlist",
            w.to_str().unwrap(),
            "--manifest",
            m.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let a = args(&[]);
    let (code, out, err) = koban(&a.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "passenger_id,watchlist_id,score");
    assert_eq!(lines.len(), 2, "only P1 matches exactly: {out}");
    assert!(lines[1].starts_with("P1,W1,"));
    let a = args(&["--dob-years", "1"]);
    let (_, out, _) = koban(&a.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert!(out.lines().any(|l| l.starts_with("P2,W2,")), "{out}");
    std::fs::write(&m, "passenger_id,surname,given_names,date_of_birth,nationality,document_number\nP1,SATO,HANAKO,1985-02-30,JPN,X\n").unwrap();
    let a = args(&[]);
    let (code, _, err) = koban(&a.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert_eq!(code, 2);
    assert!(
        err.contains("line 2") && err.contains("date_of_birth"),
        "{err}"
    );
}
