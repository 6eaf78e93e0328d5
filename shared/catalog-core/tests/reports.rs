//! Fixture reports (`tests/reports/`, described in its README) → the
//! expected summaries (`tests/reports/expected/`). Set `UPDATE_GOLDEN=1` to
//! rewrite the expected files after a deliberate change, and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use catalog_core::input::Compression;
use catalog_core::report::summary::{ReportSummary, SummaryBuilder};
use catalog_core::report::synthetic::SyntheticJsonLines;
use catalog_core::report::{ParseOptions, Readability, parse_report};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reports")
}

fn summarise(name: &str, bytes: &[u8]) -> ReportSummary {
    let mut builder = SummaryBuilder::new(3);
    let parsed = parse_report(bytes, &ParseOptions::default(), &mut |item| {
        builder.add(item)
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    builder.finish(&format!("reports/staging/{name}"), "staging", parsed, None)
}

fn golden(name: &str) {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    let summary = summarise(name, &bytes);
    let got = serde_json::to_value(&summary).unwrap();
    let expected_path = dir().join("expected").join(format!("{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&got).unwrap();
        std::fs::write(&expected_path, text + "\n").unwrap();
    }
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    assert_eq!(got, expected, "{name}: the summary changed");
    // What is written reads back as the same summary.
    let back: ReportSummary = serde_json::from_value(got).unwrap();
    assert_eq!(back, summary);
}

#[test]
fn html_report_with_a_table_of_items() {
    golden("ember-report.html");
}

#[test]
fn json_report() {
    golden("ember-report.json");
}

#[test]
fn json_lines_report_with_a_bad_line() {
    golden("ember-report.jsonl");
}

#[test]
fn csv_report_with_the_feed_result_headers() {
    golden("ember-report.csv");
}

#[test]
fn truncated_mid_line() {
    golden("truncated.jsonl");
}

#[test]
fn garbage_is_unrecognised() {
    golden("garbage.bin");
}

#[test]
fn gzip_and_zstd_read_like_the_plain_file() {
    let plain = std::fs::read(dir().join("ember-report.jsonl")).unwrap();
    let expected = summarise("ember-report.jsonl", &plain);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    for (bytes, compression) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
        let mut got = summarise("ember-report.jsonl", &bytes);
        assert_eq!(got.parsed.compression, compression);
        got.parsed.compression = Compression::None;
        assert_eq!(got, expected);
    }
}

#[test]
fn a_compressed_report_cut_short_keeps_what_was_read() {
    let plain: Vec<u8> = std::io::Read::bytes(SyntheticJsonLines::new(20_000, 10))
        .map(Result::unwrap)
        .collect();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let cut = &zst[..zst.len() / 2];
    let summary = summarise("cut.jsonl.zst", cut);
    assert_eq!(summary.parsed.readability, Readability::Read);
    assert!(summary.counts.total() > 1000, "{:?}", summary.counts);
    assert!(summary.counts.total() < 20_000);
    assert!(
        summary
            .parsed
            .findings
            .iter()
            .any(|f| f.message.contains("ends early")),
        "{:?}",
        summary.parsed.findings
    );
}

/// The 200 MB run is the release-mode bench (`benches/report.rs`); a debug
/// test build reads a smaller one the same way, generated as it is read.
#[test]
fn a_large_json_lines_report_streams() {
    let items = 150_000;
    let report = SyntheticJsonLines::new(items, 100);
    let rejected = report.rejected();
    let mut builder = SummaryBuilder::new(5);
    let mut seen = 0u64;
    let parsed = parse_report(report, &ParseOptions::default(), &mut |item| {
        seen += 1;
        builder.add(item);
    })
    .unwrap();
    assert_eq!(seen, items);
    assert!(parsed.bytes > 19_000_000, "{}", parsed.bytes);
    let counts = builder.counts();
    assert_eq!(counts.rejected, rejected);
    assert_eq!(counts.accepted, items - rejected);
    assert!(parsed.findings.is_empty());
    assert_eq!(parsed.header.report_id.as_deref(), Some("SYNTHETIC"));
}
