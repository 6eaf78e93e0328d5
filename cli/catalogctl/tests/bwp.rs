//! `catalogctl bwp build | validate | result` end to end, on the real binary.
//!
//! Feed files built here are read back by Python's `csv` module
//! (`tests/bwp/read_feed.py`), so a quoting bug our own validator would
//! forgive still fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const HEADER: &str = "\"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

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

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn build(source: &Path, out: &Path, state: Option<&Path>) -> Output {
    let mut args = vec![
        "bwp",
        "build",
        "--quiet",
        "--source",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(state) = state {
        args.extend(["--state", state.to_str().unwrap()]);
    }
    catalogctl(&args)
}

/// Python's reading of feed files: {file: {rows, first, last}}.
fn python_reads(files: &[PathBuf]) -> Value {
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/bwp/read_feed.py"))
        .args(files)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn validate(text: &str) -> (Output, Vec<(u64, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.csv");
    fs::write(&path, text).unwrap();
    let output = catalogctl(&["bwp", "validate", path.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let findings = report["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    (
                        f["position"]["line"].as_u64().unwrap(),
                        f["rule"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (output, findings)
}

#[test]
fn the_example_builds_one_feed_python_reads_with_the_exact_header() {
    let out = tempfile::tempdir().unwrap();
    let output = build(
        &workspace_root().join("examples/products.jsonl"),
        out.path(),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let feeds = files_ending(out.path(), ".csv");
    assert_eq!(feeds.len(), 1);
    let read = python_reads(&feeds);
    let feed = &read[feeds[0].to_str().unwrap()];
    assert_eq!(feed["rows"], 5);
    assert_eq!(feed["first"][0], "tee-classic-s");
    assert_eq!(feed["first"][4], "true");
    let socks = fs::read_to_string(&feeds[0]).unwrap();
    assert!(socks.contains("\"https://shop.example.com/img/socks,wool-3pack.jpg?w=800&h=800\""));

    let summary = files_ending(out.path(), ".summary.json");
    let summary: Value = serde_json::from_slice(&fs::read(&summary[0]).unwrap()).unwrap();
    assert_eq!(summary["status"], "built");
    assert_eq!(summary["first_listings"], 5);
    assert_eq!(files_ending(out.path(), ".listing.jsonl.zst").len(), 1);
    // No partial file is left behind.
    assert!(files_ending(out.path(), ".partial").is_empty());
}

#[test]
fn forty_thousand_products_make_three_files_of_15000_15000_and_10000() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("products.jsonl");
    let mut text = String::new();
    for i in 0..40_000 {
        writeln!(
            text,
            "{{\"external_id\":\"p{i}\",\"sku\":\"S{i}\",\"amazon_sku\":\"M{i}\",\"offer_prime\":{},\"image_url\":\"https://i.example/{i}.jpg\",\"detail_page_url\":\"https://shop.example/p/{i}\"}}",
            i % 2 == 0
        )
        .unwrap();
    }
    fs::write(&source, text).unwrap();
    let out = dir.path().join("out");
    let output = build(&source, &out, None);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let feeds = files_ending(&out, ".csv");
    let read = python_reads(&feeds);
    let rows: Vec<u64> = feeds
        .iter()
        .map(|f| read[f.to_str().unwrap()]["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [15_000, 15_000, 10_000]);
    assert_eq!(read[feeds[2].to_str().unwrap()]["last"][0], "p39999");
    for feed in &feeds {
        let output = catalogctl(&["bwp", "validate", feed.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }

    // The same export again, against the new state: nothing goes.
    let state = files_ending(&out, ".listing.jsonl.zst").remove(0);
    let again = dir.path().join("again");
    let output = build(&source, &again, Some(&state));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(files_ending(&again, ".csv").is_empty());
}

#[test]
fn validate_accepts_a_good_file() {
    let (output, findings) = validate(&format!(
        "{HEADER}\r\n\"p1\",\"\",\"S1\",\"M1\",\"true\",\"https://i.example/1.jpg\",\"https://shop.example/p1\"\r\np2,,S2,M2,false,https://i.example/2.jpg,\n"
    ));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(findings.is_empty());
}

#[test]
fn validate_refuses_a_file_without_its_header_row() {
    let (output, findings) =
        validate("p1,,S1,M1,true,https://i.example/1.jpg,https://shop.example/p1\n");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(findings, [(1, "bwp.header".to_owned())]);
}

#[test]
fn validate_refuses_a_first_listing_without_sku_amazon_sku_or_image_url() {
    let (output, findings) = validate(&format!(
        "{HEADER}\n\
         p1,,,M1,,https://i.example/1.jpg,\n\
         p2,,S2,,,https://i.example/2.jpg,\n\
         p3,,S3,M3,,,\n\
         p4,,S4,M4,,https://i.example/4.jpg,\n"
    ));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        findings,
        [
            (2, "bwp.required".to_owned()),
            (3, "bwp.required".to_owned()),
            (4, "bwp.required".to_owned()),
        ]
    );
}

#[test]
fn validate_refuses_offer_prime_yes_and_a_duplicate_external_id_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.csv");
    fs::write(
        &path,
        format!(
            "{HEADER}\n\
             p1,,S1,M1,yes,https://i.example/1.jpg,https://shop.example/p1\n\
             p2,,S2,M2,false,https://i.example/2.jpg,\n\
             p1,,S3,M3,false,https://i.example/3.jpg,\n"
        ),
    )
    .unwrap();
    let output = catalogctl(&["bwp", "validate", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let name = path.display();
    assert!(
        text.contains(&format!("{name}:2: error [bwp.offer-prime] item \"p1\": Offer Prime is \"yes\", not true or false (fix: write true or false")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{name}:4: error [bwp.duplicate-external-id] item \"p1\""
        )),
        "{text}"
    );
    assert!(text.contains("INVALID"), "{text}");
}

#[test]
fn a_result_file_lists_products_and_later_changes_go_as_relistings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("day1");
    let source = workspace_root().join("examples/products.jsonl");
    let output = build(&source, &out, None);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let state = files_ending(&out, ".listing.jsonl.zst").remove(0);

    let result = dir.path().join("result.csv");
    fs::write(
        &result,
        "Import Result,Error Type,Error Code(s),Error Detail(s),External ID,Updated External ID,SKU,Amazon SKU,Offer Prime,Image URL,Product Detail Page URL\n\
         SUCCESS,,,,tee-classic-s,,TEE-CL-S,AMZ-TEE-CL-S,true,https://shop.example.com/img/tee-classic.jpg,https://shop.example.com/p/tee-classic?size=s\n\
         SUCCESS,,,,tee-classic-m,,TEE-CL-M,AMZ-TEE-CL-M,true,https://shop.example.com/img/tee-classic.jpg,https://shop.example.com/p/tee-classic?size=m\n\
         FAILED,ValidationError,InvalidAmazonSkuConfiguration|MissingAmazonSkuConfiguration,mSKU not found;mSKU missing,mug-enamel,,MUG-EN,AMZ-MUG-EN,false,https://shop.example.com/img/mug-enamel.jpg,https://shop.example.com/p/mug-enamel\n",
    )
    .unwrap();
    let output = catalogctl(&[
        "bwp",
        "result",
        result.to_str().unwrap(),
        "--json",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed row: {}",
        describe(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["imported"], 2);
    assert_eq!(report["failed"], 1);
    assert_eq!(
        report["by_code"]["InvalidAmazonSkuConfiguration"]["rows"],
        1
    );
    assert_eq!(
        report["by_code"]["MissingAmazonSkuConfiguration"]["examples"][0]["external_id"],
        "mug-enamel"
    );
    assert_eq!(report["state"]["listed"], 2);
    let new_state = dir.path().join("result.listing.jsonl.zst");
    assert!(new_state.exists());

    // Day 2: every product changes its image; the two listed go as
    // re-listings, the rest as first listings again.
    let day2 = dir.path().join("day2.jsonl");
    fs::write(
        &day2,
        fs::read_to_string(&source)
            .unwrap()
            .replace("/img/", "/img/v2/"),
    )
    .unwrap();
    let out2 = dir.path().join("day2");
    let output = build(&day2, &out2, Some(&new_state));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let summary = files_ending(&out2, ".summary.json");
    let summary: Value = serde_json::from_slice(&fs::read(&summary[0]).unwrap()).unwrap();
    assert_eq!(summary["relistings"], 2);
    assert_eq!(summary["first_listings"], 3);

    // A re-listing needs only its External ID: `validate --state` knows
    // tee-classic-s is listed; without the state it is a first listing.
    let relisting = dir.path().join("relisting.csv");
    fs::write(&relisting, format!("{HEADER}\ntee-classic-s,,,,false,,\n")).unwrap();
    let with_state = catalogctl(&[
        "bwp",
        "validate",
        relisting.to_str().unwrap(),
        "--state",
        new_state.to_str().unwrap(),
    ]);
    assert_eq!(
        with_state.status.code(),
        Some(0),
        "{}",
        describe(&with_state)
    );
    let without = catalogctl(&["bwp", "validate", relisting.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(1), "{}", describe(&without));
    assert!(String::from_utf8_lossy(&without.stdout).contains(":2: error [bwp.required]"));

    let human = catalogctl(&["bwp", "result", result.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("3 rows: 2 imported, 1 failed"), "{text}");
    assert!(
        text.contains("InvalidAmazonSkuConfiguration: 1 rows"),
        "{text}"
    );
}

#[test]
fn the_bad_example_reports_each_row_by_line_and_sends_the_good_ones() {
    let out = tempfile::tempdir().unwrap();
    let output = build(
        &workspace_root().join("examples/products-bad.jsonl"),
        out.path(),
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "products-bad.jsonl:2: error [bwp.duplicate-external-id]",
        "products-bad.jsonl:3: error [bwp.duplicate-sku]",
        "products-bad.jsonl:4: error [bwp.required] item \"no-amazon-sku\": Amazon SKU is empty",
        "products-bad.jsonl:5: error [bwp.url]",
        "products-bad.jsonl:6: warning [bwp.prime-without-detail-page]",
        "products-bad.jsonl:7: error [bwp.offer-prime]",
        "products-bad.jsonl:8: error [bwp.syntax]",
        "products-bad.jsonl:9: error [bwp.updated-id-on-first-listing]",
        "products-bad.jsonl:10: error [bwp.syntax]",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    let feeds = files_ending(out.path(), ".csv");
    let read = python_reads(&feeds);
    assert_eq!(read[feeds[0].to_str().unwrap()]["rows"], 2);
}

#[test]
fn the_csv_example_builds_and_keeps_a_comma_in_an_external_id() {
    let out = tempfile::tempdir().unwrap();
    let output = build(
        &workspace_root().join("examples/products.csv"),
        out.path(),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let feeds = files_ending(out.path(), ".csv");
    let read = python_reads(&feeds);
    let feed = &read[feeds[0].to_str().unwrap()];
    assert_eq!(feed["rows"], 2);
    assert_eq!(feed["last"][0], "rug, wool");
    assert_eq!(feed["last"][6], "");
}
