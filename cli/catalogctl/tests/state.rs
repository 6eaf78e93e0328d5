//! `build --state`, `diff` and `demo`: a provider's life in a few runs of the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn catalogctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catalogctl"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("run catalogctl")
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

#[test]
fn demo_prints_both_days_and_leaves_valid_catalogs() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = catalogctl(&["demo", "--dir", demo.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("day 1") && stdout.contains("CATALOG_FULL"),
        "{stdout}"
    );
    assert!(
        stdout.contains("day 2") && stdout.contains("CATALOG_UPDATE"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "deletes, children first: tv-harbor-s2e1 (episode), tv-orbit-kitchen-s1e1 (episode)"
        ),
        "{stdout}"
    );
    let catalogs = files(&demo.join("outbox/staging/catalogs"), ".xml.zst");
    assert_eq!(catalogs.len(), 2, "{catalogs:?}");
    // The full alone; the update against what the full made live.
    let (full, update) = (catalogs[0].to_str().unwrap(), catalogs[1].to_str().unwrap());
    for args in [
        vec!["validate", full],
        vec!["validate", update, "--known", full],
    ] {
        let validate = catalogctl(&args);
        assert!(
            validate.status.success(),
            "{}",
            String::from_utf8_lossy(&validate.stdout)
        );
    }
    assert!(demo.join("state/catalog-state.jsonl.zst").exists());
    // Both went through the gate into Amazon's bucket, laid out locally.
    let amazon = demo.join("destination/example-provider/staging");
    let published = files(&amazon.join("catalogs"), ".xml.zst");
    assert_eq!(published.len(), 2, "{published:?}");
    for (source, copy) in catalogs.iter().zip(&published) {
        assert_eq!(std::fs::read(source).unwrap(), std::fs::read(copy).unwrap());
    }
    let manifests = files(&amazon.join("manifests"), ".manifest");
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    let update: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifests[1]).unwrap()).unwrap();
    assert_eq!(update["type"], "CATALOG_UPDATE");
    assert_eq!(update["schema"], "EMBER");
    assert_eq!(
        update["s3Keys"][0],
        format!(
            "example-provider/staging/catalogs/{}",
            published[1].file_name().unwrap().to_str().unwrap()
        )
    );
    assert!(
        stdout.contains("gate: checked against the state, then published"),
        "{stdout}"
    );
    // Run again in the same folder: it starts over, same result.
    assert!(
        catalogctl(&["demo", "--dir", demo.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        files(&demo.join("outbox/staging/catalogs"), ".xml.zst").len(),
        2
    );
    // A folder it did not make is refused.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let refused = catalogctl(&["demo", "--dir", other.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(other.join("keep.txt").exists());
}

#[test]
fn manifest_prints_the_seed_shape_for_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<PathBuf> = (1..=2)
        .map(|n| {
            dir.path()
                .join(format!("catalog-x-full-part{n:04}.xml.zst"))
        })
        .collect();
    for part in &parts {
        std::fs::write(part, b"").unwrap();
    }
    let out = catalogctl(&[
        "manifest",
        "--catalog",
        parts[0].to_str().unwrap(),
        parts[1].to_str().unwrap(),
        "--type",
        "full",
        "--provider",
        "acme",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        r#"{
    "s3Bucket": "amazon-media-catalogs",
    "s3Keys": [
        "acme/staging/catalogs/catalog-x-full-part0001.xml.zst",
        "acme/staging/catalogs/catalog-x-full-part0002.xml.zst"
    ],
    "type": "CATALOG_FULL",
    "schema": "EMBER"
}
"#
    );
    let refused = catalogctl(&[
        "manifest",
        "--catalog",
        "missing.xml.zst",
        "--type",
        "update",
        "--provider",
        "acme",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("missing.xml.zst: no such file"));
}

#[test]
fn build_with_state_sends_changes_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out1 = dir.path().join("day1");
    let state0 = dir.path().join("none.jsonl.zst");
    let day1 = catalogctl(&[
        "build",
        "--source",
        "examples/provider-export.jsonl",
        "--out",
        out1.to_str().unwrap(),
        "--state",
        state0.to_str().unwrap(),
        "--now",
        "2026-01-05T06:00:00Z",
    ]);
    assert!(
        day1.status.success(),
        "{}",
        String::from_utf8_lossy(&day1.stderr)
    );
    let state1 = files(&out1, ".state.jsonl.zst").pop().expect("a new state");
    assert!(files(&out1, "-full.xml.zst").len() == 1);

    // diff shows what day 2 would send, without writing anything.
    let diff = catalogctl(&[
        "diff",
        "--state",
        state1.to_str().unwrap(),
        "--source",
        "examples/provider-export-day2.jsonl",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(report["ids"]["new"], serde_json::json!(["mv-new-arrival"]));
    assert_eq!(
        report["ids"]["changed"],
        serde_json::json!(["mv-heat-1995", "tv-harbor-s1e2"])
    );
    assert_eq!(report["removed"], 6);

    let out2 = dir.path().join("day2");
    let day2 = catalogctl(&[
        "build",
        "--source",
        "examples/provider-export-day2.jsonl",
        "--out",
        out2.to_str().unwrap(),
        "--state",
        state1.to_str().unwrap(),
        "--now",
        "2026-01-06T06:00:00Z",
    ]);
    assert!(
        day2.status.success(),
        "{}",
        String::from_utf8_lossy(&day2.stderr)
    );
    let update = files(&out2, "-update.xml.zst").pop().expect("an update");
    let known = files(&out1, "-full.xml.zst").pop().unwrap();
    let validate = catalogctl(&[
        "validate",
        update.to_str().unwrap(),
        "--known",
        known.to_str().unwrap(),
    ]);
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );
    let state2 = files(&out2, ".state.jsonl.zst").pop().unwrap();

    // The same export the next day: nothing to do, no catalog, exit 0.
    let out3 = dir.path().join("day3");
    let day3 = catalogctl(&[
        "build",
        "--source",
        "examples/provider-export-day2.jsonl",
        "--out",
        out3.to_str().unwrap(),
        "--state",
        state2.to_str().unwrap(),
        "--now",
        "2026-01-07T06:00:00Z",
    ]);
    assert!(day3.status.success());
    assert!(String::from_utf8_lossy(&day3.stdout).contains("nothing to do"));
    assert!(files(&out3, ".xml.zst").is_empty());
}

/// The content hash gained the fields of issue 16 (external ids, several
/// titles, descriptions, …) without a state format bump: an item without
/// them hashes as before. A state saved by the code before that change,
/// for the example export of that time, finds the same export unchanged,
/// so nothing is resent; the export with the new fields changes every item
/// that has them, which go out at version 2.
#[test]
fn a_state_saved_before_the_new_fields_finds_the_same_export_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let build = |source: &str| {
        catalogctl(&[
            "build",
            "--source",
            source,
            "--out",
            out.to_str().unwrap(),
            "--state",
            "tests/fixtures/state/before-issue-16.state.jsonl.zst",
            "--now",
            "2026-01-02T00:00:00Z",
            "-q",
        ])
    };
    let same = build("tests/fixtures/state/before-issue-16.jsonl");
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let summaries = files(&out, ".summary.json");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summaries[0]).unwrap()).unwrap();
    assert_eq!(summary["status"], "nothing-to-do", "{summary:#}");
    assert!(files(&out, ".xml.zst").is_empty());

    std::fs::remove_dir_all(&out).unwrap();
    let richer = build("examples/provider-export.jsonl");
    assert!(
        richer.status.success(),
        "{}",
        String::from_utf8_lossy(&richer.stderr)
    );
    let catalogs = files(&out, ".xml.zst");
    assert_eq!(catalogs.len(), 1, "{catalogs:?}");
    let xml =
        String::from_utf8(zstd::decode_all(std::fs::File::open(&catalogs[0]).unwrap()).unwrap())
            .unwrap();
    assert!(
        xml.contains(r#"<Movie id="mv-heat-1995" version="2">"#)
            && xml.contains(r#"<ExternalId scheme="imdb">tt0113277</ExternalId>"#),
        "{xml}"
    );
}
