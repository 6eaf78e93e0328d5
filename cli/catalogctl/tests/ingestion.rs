//! `catalogctl report` and `catalogctl status`, run as a person would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn catalogctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_catalogctl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/catalog-core/tests/reports")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn report_prints_counts_by_code_and_exits_1_on_rejections() {
    let (code, text) = catalogctl(&["report", &fixture("ember-report.html")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("RPT-20260105-0001"), "{text}");
    assert!(
        text.contains("4 read: 1 accepted, 2 rejected, 1 warnings"),
        "{text}"
    );
    assert!(text.contains("INVALID_RATING"), "{text}");

    let (code, text) = catalogctl(&["report", "--json", &fixture("ember-report.csv")]);
    assert_eq!(code, 1);
    let summary: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["format"], "csv");
    assert_eq!(summary["counts"]["rejected"], 2);

    let (code, text) = catalogctl(&["report", &fixture("garbage.bin")]);
    assert_eq!(code, 1);
    assert!(text.contains("unrecognised"), "{text}");
}

#[test]
fn status_shows_submissions_reports_rejections_and_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |key: &str, value: &Value| {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
    };
    let catalog = "catalog-20260920T000000Z-full.xml.zst";
    write(
        &format!("state/ledger/published/{catalog}.json"),
        &json!({
            "catalog": catalog, "env": "staging", "manifest_type": "CATALOG_FULL",
            "bucket": "amazon-media-catalogs", "manifest": "acme/staging/manifests/x.manifest",
            "trigger": "outbox/staging/catalogs/x", "trigger_etag": "e", "files": [],
            "catalog_id": "P", "catalog_version": 1, "built_as_version": 1,
            "items": {"movie": 0, "series": 0, "season": 0, "episode": 0}, "deletes": 0, "xml_bytes": 1, "dropped": 0, "warnings": 0,
            "validated_at": "2026-09-20T00:00:00Z"
        }),
    );
    let report = std::fs::read(fixture("ember-report.jsonl")).unwrap();
    let mut builder = catalog_core::report::summary::SummaryBuilder::new(3);
    let parsed = catalog_core::report::parse_report(&report[..], &Default::default(), &mut |i| {
        builder.add(i)
    })
    .unwrap();
    let mut summary = builder.finish("reports/staging/r.jsonl", "staging", parsed, None);
    summary.answers = Some(catalog_core::report::summary::Answers {
        catalog: catalog.to_owned(),
        manifest_type: "CATALOG_FULL".into(),
        manifest: "m".into(),
        catalog_version: 1,
        validated_at: "2026-09-20T00:00:00Z".into(),
    });
    write(
        "summaries/staging/r.jsonl.json",
        &serde_json::to_value(&summary).unwrap(),
    );
    std::fs::create_dir_all(root.join("state/rejections/staging")).unwrap();
    std::fs::write(
        root.join("state/rejections/staging/r.jsonl.jsonl"),
        "{\"id\":\"MOVIE_2\",\"version\":1,\"code\":\"INVALID_RATING\",\"reported_at\":1}\n",
    )
    .unwrap();

    // Two days later. The summary is there, but the pass that records the
    // outcome in the ledger did not run (written by hand above), so the
    // submission counts as unreported past 24 hours.
    let at = "1790208000"; // 2026-09-22T00:00:00Z
    let (code, text) = catalogctl(&["status", "--dir", root.to_str().unwrap(), "--at", at]);
    assert!(text.contains(catalog), "{text}");
    assert!(text.contains("MOVIE_2"), "{text}");
    assert!(text.contains("CADENCE staging"), "{text}");
    // No outcome recorded in the ledger for it: the missing-report alarm.
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no ingestion report"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let (code, text) = catalogctl(&["status", "--dir", empty.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing published yet"), "{text}");
}
