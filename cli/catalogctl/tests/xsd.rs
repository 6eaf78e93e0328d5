//! Every catalog the writer produces validates against the reconstructed
//! EMBER schema (`tests/schema/ember-vod-subset.xsd`, a copy of
//! `shared/spec/ember-vod-subset.xsd`) with `xmllint --schema`, and with
//! `catalogctl validate --xsd`: the bundled examples, the demo's two days,
//! an export with every optional field, and a deletes-only update. A writer
//! change that breaks the documented structure fails here.
//!
//! `xmllint` comes with libxml2 (`apt-get install libxml2-utils`;
//! `scripts/test` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SCHEMA: &str = "tests/schema/ember-vod-subset.xsd";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn catalogctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catalogctl"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run catalogctl")
}

fn catalogs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            catalogs_under(&path, found);
        } else if path.to_string_lossy().ends_with(".xml.zst") {
            found.push(path);
        }
    }
    found.sort();
}

/// `xmllint --noout --schema SCHEMA -` on the decompressed catalog.
fn xmllint(catalog: &Path) -> Output {
    let mut xml = Vec::new();
    zstd::Decoder::new(std::fs::File::open(catalog).unwrap())
        .unwrap()
        .read_to_end(&mut xml)
        .unwrap();
    let mut child = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join(SCHEMA))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint is installed (apt-get install libxml2-utils; scripts/test installs it)");
    child.stdin.take().unwrap().write_all(&xml).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_schema_valid(catalog: &Path) {
    let lint = xmllint(catalog);
    assert!(
        lint.status.success(),
        "{} does not validate against {SCHEMA}:\n{}",
        catalog.display(),
        String::from_utf8_lossy(&lint.stderr)
    );
    // The schema half of `validate --xsd` (an update's own checks need
    // the catalogs before it, which `--known` gives; not the point here).
    let ours = catalogctl(&[
        "validate",
        "--json",
        "--xsd",
        SCHEMA,
        catalog.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&ours.stderr));
    });
    assert_eq!(
        report["xsd"]["valid"],
        true,
        "catalogctl validate --xsd refuses {}: {:#}",
        catalog.display(),
        report["xsd"]
    );
}

fn build(args: &[&str]) {
    let out = catalogctl(args);
    assert!(
        out.status.success(),
        "catalogctl {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One row per kind with every optional field the source format has (the
/// movie every one, several titles and descriptions included).
const EVERY_FIELD: &str = r#"{"type":"movie","id":"mv-all","external_ids":[{"scheme":"imdb","id":"tt0113277"},{"scheme":"tmdb","id":"949"},{"scheme":"eidr","id":"10.5240/7791-8534-2C23-9030-8610-5"}],"title":"Everything & <more> \"quoted\" 🎬 東京","locale":"en-US","titles":[{"text":"Tout & <plus>","language":"fr-FR","territories":["FR","BE"]},{"text":"すべて","language":"ja-JP"},{"text":"Everything (worldwide)","language":"en-GB","territories":["GLOBAL"]}],"description":"Short & \"sweet\".","descriptions":[{"text":"Court.","language":"fr-FR"}],"synopsis":"Long synopsis.","synopses":[{"text":"Synopsis longue.","language":"fr-FR"}],"release_date":"2024-02-29","release_type":"theatrical","release_dates":[{"date":"2024-06-01","type":"streaming"},{"date":"2024-09-01"}],"runtime_minutes":117,"genres":["Drama","Crime & Law"],"keywords":["heist","crime & law"],"rating":{"system":"MPAA","value":"PG-13"},"studios":["Acme \"Pictures\"","Other Studio"],"credits":[{"role":"director","name":"Siobhán O'Brien"}],"images":[{"type":"cover","url":"https://img.example.com/a.jpg?w=1&h=2","aspect_ratio":"2:3","mime_type":"image/jpeg","resolution":"4K"},{"type":"background","url":"https://img.example.com/b.jpg","aspect_ratio":"16:9"}],"offers":[{"type":"subscription","regions":["US","CA"],"start":"2025-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z"},{"type":"free","regions":["GB"]},{"type":"purchase","regions":["DE"],"price":"9.99","currency":"EUR"},{"type":"rental","regions":["FR"],"price":"3.99","currency":"EUR"}],"deep_link":"app://title/mv-all?x=1&y=2"}
{"type":"series","id":"tv-all","title":"Series","genres":["Drama"],"images":[{"type":"hero","url":"https://img.example.com/s.jpg"}],"offers":[{"type":"free","regions":["US"]}],"deep_link":"app://series/tv-all","external_ids":[{"scheme":"imdb","id":"tt0000002"}],"description":"A series.","keywords":["drama"],"studios":["Acme"]}
{"type":"season","id":"tv-all-s1","series_id":"tv-all","season_number":1,"title":"Season 1","release_date":"2024-01-01"}
{"type":"episode","id":"tv-all-s1e1","season_id":"tv-all-s1","episode_number":1,"title":"Pilot","synopsis":"First.","runtime_minutes":52,"offers":[{"type":"subscription","regions":["US"]}],"deep_link":"app://episode/tv-all-s1e1","external_ids":[{"scheme":"imdb","id":"tt0000003"}],"titles":[{"text":"Pilote","language":"fr-FR"}],"release_dates":[{"date":"2024-01-02","type":"streaming"}]}
"#;

#[test]
fn every_catalog_the_writer_produces_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mut catalogs = Vec::new();

    // The bundled examples.
    for (name, source) in [
        ("jsonl", "examples/provider-export.jsonl"),
        ("csv", "examples/movies.csv"),
    ] {
        let target = out.join(name);
        build(&[
            "build",
            "--source",
            source,
            "--out",
            target.to_str().unwrap(),
            "-q",
        ]);
        catalogs_under(&target, &mut catalogs);
    }

    // The demo's two days.
    let demo = out.join("demo");
    build(&["demo", "--dir", demo.to_str().unwrap()]);
    catalogs_under(&demo, &mut catalogs);

    // Every optional field, then a deletes-only update of the same catalog.
    let every = out.join("every.jsonl");
    std::fs::write(&every, EVERY_FIELD).unwrap();
    let first = out.join("every-1");
    let state = out.join("none.state.jsonl.zst");
    build(&[
        "build",
        "--source",
        every.to_str().unwrap(),
        "--out",
        first.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--now",
        "2026-01-01T00:00:00Z",
        "-q",
    ]);
    catalogs_under(&first, &mut catalogs);
    let mut states = Vec::new();
    for entry in std::fs::read_dir(&first).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".state.jsonl.zst") {
            states.push(path);
        }
    }
    let movie_only: String = EVERY_FIELD
        .lines()
        .take(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let smaller = out.join("smaller.jsonl");
    std::fs::write(&smaller, movie_only).unwrap();
    let second = out.join("every-2");
    build(&[
        "build",
        "--source",
        smaller.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
        "--state",
        states[0].to_str().unwrap(),
        "--now",
        "2026-01-02T00:00:00Z",
        "-q",
    ]);
    let mut updates = Vec::new();
    catalogs_under(&second, &mut updates);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0].to_string_lossy().ends_with("-update.xml.zst"));
    catalogs.extend(updates);

    assert!(catalogs.len() >= 6, "{catalogs:?}");
    for catalog in &catalogs {
        assert_schema_valid(catalog);
    }
}

#[test]
fn validate_xsd_refuses_what_the_schema_refuses_and_says_where() {
    let file = "tests/fixtures/invalid/ember-child-order.xml";
    let out = catalogctl(&["validate", "--xsd", SCHEMA, file]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{file}:4: Schemas validity error")),
        "{stdout}"
    );
    assert!(stdout.contains("INVALID against"), "{stdout}");

    let out = catalogctl(&["validate", "--json", "--xsd", SCHEMA, file]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["xsd"]["valid"], false);

    let out = catalogctl(&["validate", "--xsd", "no/such.xsd", file]);
    assert_eq!(out.status.code(), Some(2));
}
