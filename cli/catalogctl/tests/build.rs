//! `catalogctl build` and `generate` end to end, on the examples in `examples/`.
//!
//! Every catalog built here is decompressed, checked by `catalogctl validate`
//! and by `xmllint` (libxml2), so a writer bug that the project's own reader
//! would forgive still fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `catalogctl ARGS…` from the workspace root.
fn catalogctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catalogctl"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("catalogctl runs")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `catalogctl build --quiet --source SOURCE --out OUT EXTRA…`.
fn build(source: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        "--quiet",
        "--source",
        source,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    catalogctl(&args)
}

/// The files in `dir` whose names end with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// Every file name in `dir`, hidden ones included.
fn all_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The one summary in `dir`, parsed.
fn summary(dir: &Path) -> Value {
    let summaries = files_ending(dir, ".summary.json");
    assert_eq!(summaries.len(), 1, "one summary in {:?}", all_names(dir));
    serde_json::from_slice(&fs::read(&summaries[0]).unwrap()).unwrap()
}

/// The one catalog in `dir`.
fn the_catalog(dir: &Path) -> PathBuf {
    let catalogs = files_ending(dir, ".xml.zst");
    assert_eq!(catalogs.len(), 1, "one catalog in {:?}", all_names(dir));
    catalogs.into_iter().next().unwrap()
}

/// `catalogctl validate --json FILE`: asserts it is valid and returns the report.
fn assert_validates(file: &Path) -> Value {
    let output = catalogctl(&["validate", "--json", file.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("validate --json is not JSON ({e}): {}", describe(&output)));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(report["valid"], true, "{report:#}");
    report
}

/// Decompresses `catalog` next to itself and checks it with `catalogctl` and
/// `xmllint`. Returns the validation report of the decompressed file.
fn assert_catalog_is_valid(catalog: &Path, scratch: &Path) -> Value {
    let compressed = assert_validates(catalog);
    assert_eq!(compressed["compression"], "zstd");

    let xml = zstd::decode_all(&fs::read(catalog).unwrap()[..]).unwrap();
    assert!(
        xml.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "the catalog starts with an XML declaration"
    );
    let plain = scratch.join("catalog.xml");
    fs::write(&plain, &xml).unwrap();
    let report = assert_validates(&plain);
    assert_eq!(report["compression"], "none");
    assert_eq!(report["items"], compressed["items"]);
    assert_xmllint_accepts(&plain);
    report
}

fn assert_xmllint_accepts(file: &Path) {
    let output = match Command::new("xmllint").arg("--noout").arg(file).output() {
        Ok(output) => output,
        Err(error) => panic!(
            "xmllint could not be run ({error}); install it with `apt-get install -y libxml2-utils` \
             (this test never skips the libxml2 check)"
        ),
    };
    assert!(
        output.status.success(),
        "xmllint --noout {} failed: {}",
        file.display(),
        describe(&output)
    );
}

fn item_counts(value: &Value) -> [u64; 4] {
    ["movie", "series", "season", "episode"].map(|k| value[k].as_u64().unwrap())
}

#[test]
fn the_example_export_builds_one_valid_catalog_and_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let output = build("examples/provider-export.jsonl", out.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let names = all_names(out.path());
    assert_eq!(names.len(), 2, "exactly a catalog and a summary: {names:?}");
    let catalog = the_catalog(out.path());
    let summary = summary(out.path());

    assert_eq!(summary["status"], "built");
    assert_eq!(
        summary["catalog"],
        catalog.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(summary["manifest_type"], "CATALOG_FULL");
    assert_eq!(item_counts(&summary["items"]), [4, 2, 3, 6]);
    assert_eq!(summary["rows"], 15);
    assert_eq!(summary["rows_rejected"], 0);
    assert_eq!(summary["errors"], 0);
    // Prices and the deep link of programs without offers have no EMBER
    // home: one warning says they were not sent.
    assert_eq!(summary["warnings"], 1);
    assert_eq!(summary["findings"][0]["rule"], "ember.not-sent");
    assert_eq!(
        summary["compressed_bytes"].as_u64().unwrap(),
        fs::metadata(&catalog).unwrap().len()
    );

    let report = assert_catalog_is_valid(&catalog, scratch.path());
    assert_eq!(item_counts(&report["items"]), [4, 2, 3, 6]);
    assert_eq!(report["xml_bytes"], summary["xml_bytes"]);
}

/// Lines of the bad example and what each one is (see the file itself).
const BAD_ERROR_LINES: [u64; 8] = [2, 3, 4, 5, 6, 7, 9, 10];
/// Line 0: the build-wide "not sent" warning (prices have no EMBER home).
const BAD_WARNING_LINES: [u64; 2] = [8, 0];

fn finding_lines(summary: &Value, severity: &str) -> Vec<u64> {
    summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["position"]["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_bad_export_is_refused_with_every_finding_by_line() {
    let out = tempfile::tempdir().unwrap();
    let output = build("examples/provider-export-bad.jsonl", out.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));

    let names = all_names(out.path());
    assert!(
        files_ending(out.path(), ".xml.zst").is_empty(),
        "no catalog: {names:?}"
    );
    assert_eq!(
        names.len(),
        1,
        "only the summary, no partial file: {names:?}"
    );

    let summary = summary(out.path());
    assert_eq!(summary["status"], "refused");
    assert_eq!(summary["catalog"], Value::Null);
    assert_eq!(summary["compressed_bytes"], 0);
    assert_eq!(finding_lines(&summary, "error"), BAD_ERROR_LINES);
    assert_eq!(finding_lines(&summary, "warning"), BAD_WARNING_LINES);
    assert_eq!(summary["errors"], 8);
    assert_eq!(summary["warnings"], 2);
    assert_eq!(summary["rows"], 11);
    assert_eq!(summary["rows_rejected"], 8);

    let rules: Vec<_> = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "item.required-child",
            "source.type",
            "item.bad-value",
            "item.duplicate-id",
            "item.parent-missing",
            "item.bad-value",
            "text.control-character",
            "source.syntax",
            "source.syntax",
            "ember.not-sent",
        ]
    );

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("examples/provider-export-bad.jsonl:2: error [item.required-child]"),
        "findings are printed by line: {stderr}"
    );
}

#[test]
fn allow_partial_builds_the_good_rows_and_still_exits_1() {
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let output = build(
        "examples/provider-export-bad.jsonl",
        out.path(),
        &["--allow-partial"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));

    let names = all_names(out.path());
    assert_eq!(names.len(), 2, "a catalog and a summary: {names:?}");
    let catalog = the_catalog(out.path());
    let summary = summary(out.path());
    assert_eq!(summary["status"], "built-partial");
    assert_eq!(
        summary["catalog"],
        catalog.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(item_counts(&summary["items"]), [3, 0, 0, 0]);
    assert_eq!(finding_lines(&summary, "error"), BAD_ERROR_LINES);

    let report = assert_catalog_is_valid(&catalog, scratch.path());
    assert_eq!(item_counts(&report["items"]), [3, 0, 0, 0]);
    assert_eq!(report["deletes"], 0);
}

#[test]
fn the_csv_example_builds_two_movies() {
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let output = build("examples/movies.csv", out.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let summary = summary(out.path());
    assert_eq!(summary["status"], "built");
    assert_eq!(item_counts(&summary["items"]), [2, 0, 0, 0]);
    let report = assert_catalog_is_valid(&the_catalog(out.path()), scratch.path());
    assert_eq!(item_counts(&report["items"]), [2, 0, 0, 0]);
}

#[test]
fn generate_is_deterministic_and_its_export_builds() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    let other_seed = dir.path().join("other-seed.jsonl");
    for (path, seed) in [(&first, "5"), (&second, "5"), (&other_seed, "6")] {
        let output = catalogctl(&[
            "generate",
            "--items",
            "1000",
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }
    let first_bytes = fs::read(&first).unwrap();
    let first_text = std::str::from_utf8(&first_bytes).unwrap();
    assert_eq!(first_text.lines().count(), 1000, "one JSON line per item");
    assert!(
        first_bytes == fs::read(&second).unwrap(),
        "the same seed gives the same bytes"
    );
    assert!(
        first_bytes != fs::read(&other_seed).unwrap(),
        "another seed gives another export"
    );

    let output = build(first.to_str().unwrap(), out.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let summary = summary(out.path());
    assert_eq!(summary["status"], "built");
    assert_eq!(item_counts(&summary["items"]).iter().sum::<u64>(), 1000);
    assert_eq!(summary["errors"], 0);

    let report = assert_catalog_is_valid(&the_catalog(out.path()), dir.path());
    assert_eq!(item_counts(&report["items"]).iter().sum::<u64>(), 1000);
    assert_eq!(report["items"], summary["items"]);
}
