//! `catalogctl validate` on the hand-made fixtures in `tests/fixtures/`.
//!
//! Each invalid fixture breaks one rule; the table below says which rule and
//! on which line, and must match `tests/fixtures/README.md`. The real binary
//! runs on every fixture, so these tests cover the reader, the CLI's JSON
//! and text output, and its exit codes together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const KNOWN_HARBOR: &str = "tests/fixtures/valid/known-harbor.xml";

/// One invalid fixture and what `validate --json` must report for it.
struct Invalid {
    /// Relative to the workspace root.
    file: &'static str,
    /// Extra arguments before the file.
    args: &'static [&'static str],
    /// The rule the fixture breaks.
    rule: &'static str,
    /// The line the finding must name.
    line: u64,
    /// Other error rules the fixture may also raise (nothing else is allowed).
    also: &'static [&'static str],
}

const fn invalid(file: &'static str, rule: &'static str, line: u64) -> Invalid {
    Invalid {
        file,
        args: &[],
        rule,
        line,
        also: &[],
    }
}

/// The expected findings; keep in step with `tests/fixtures/README.md`.
const INVALID: &[Invalid] = &[
    invalid(
        "tests/fixtures/invalid/xml-malformed-mismatched-end.xml",
        "xml.malformed",
        4,
    ),
    // The end of the file: line 8 is the empty line after the last newline.
    invalid(
        "tests/fixtures/invalid/xml-malformed-truncated.xml",
        "xml.malformed",
        8,
    ),
    invalid(
        "tests/fixtures/invalid/xml-declaration-encoding.xml",
        "xml.declaration",
        1,
    ),
    invalid(
        "tests/fixtures/invalid/xml-doctype-billion-laughs.xml",
        "xml.doctype",
        2,
    ),
    Invalid {
        also: &["element.unknown"],
        ..invalid("tests/fixtures/invalid/xml-too-deep.xml", "xml.too-deep", 6)
    },
    Invalid {
        also: &["element.unknown"],
        ..invalid(
            "tests/fixtures/invalid/xml-too-deep-17-levels.xml",
            "xml.too-deep",
            6,
        )
    },
    Invalid {
        also: &["element.unknown"],
        ..invalid(
            "tests/fixtures/invalid/xml-too-deep-in-delete.xml",
            "xml.too-deep",
            4,
        )
    },
    Invalid {
        args: &["--max-xml-bytes", "256"],
        ..invalid(
            "tests/fixtures/invalid/xml-too-large.xml",
            "xml.too-large",
            8,
        )
    },
    invalid("tests/fixtures/invalid/root-element.xml", "root.element", 2),
    invalid(
        "tests/fixtures/invalid/root-attribute-bad-version.xml",
        "root.attribute",
        2,
    ),
    invalid(
        "tests/fixtures/invalid/root-element-program-catalog.xml",
        "root.element",
        3,
    ),
    invalid(
        "tests/fixtures/invalid/element-unknown-bare-title.xml",
        "element.unknown",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/ember-schema-version.xml",
        "ember.schema-version",
        2,
    ),
    invalid(
        "tests/fixtures/invalid/ember-child-order.xml",
        "ember.child-order",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/ember-offer-program-ref.xml",
        "ember.offer-program-ref",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/ember-offer-catalog-ref.xml",
        "ember.offer-catalog-ref",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/ember-offer-required.xml",
        "ember.offer-required",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/ember-catalog-placement.xml",
        "ember.catalog-placement",
        7,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-value-territories.xml",
        "item.bad-value",
        4,
    ),
    invalid(
        "tests/fixtures/invalid/root-attribute-bad-action.xml",
        "root.attribute",
        2,
    ),
    invalid(
        "tests/fixtures/invalid/element-unknown-element.xml",
        "element.unknown",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/element-unknown-attribute.xml",
        "element.unknown",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-required-child-no-title.xml",
        "item.required-child",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-required-child-season-no-series.xml",
        "item.required-child",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-duplicate-child-title.xml",
        "item.duplicate-child",
        5,
    ),
    invalid(
        "tests/fixtures/invalid/item-missing-id.xml",
        "item.missing-id",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-version-zero.xml",
        "item.bad-version",
        3,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-version-abc.xml",
        "item.bad-version",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-duplicate-id.xml",
        "item.duplicate-id",
        9,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-value-date.xml",
        "item.bad-value",
        3,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-value-url.xml",
        "item.bad-value",
        3,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-value-region.xml",
        "item.bad-value",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-bad-value-offer-window.xml",
        "item.bad-value",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-parent-missing.xml",
        "item.parent-missing",
        6,
    ),
    invalid(
        "tests/fixtures/invalid/item-parent-kind.xml",
        "item.parent-kind",
        6,
    ),
    Invalid {
        args: &["--known", KNOWN_HARBOR],
        ..invalid("tests/fixtures/invalid/delete-order.xml", "delete.order", 6)
    },
    invalid(
        "tests/fixtures/invalid/delete-orphans-child-in-file.xml",
        "delete.orphans-child",
        7,
    ),
    invalid(
        "tests/fixtures/invalid/delete-orphans-child-episode-first.xml",
        "delete.orphans-child",
        12,
    ),
    Invalid {
        args: &["--known", KNOWN_HARBOR],
        ..invalid(
            "tests/fixtures/invalid/delete-orphans-child-known.xml",
            "delete.orphans-child",
            4,
        )
    },
];

/// Invalid fixtures kept out of [`INVALID`] because of a validator bug (see the `BUG:` comments).
const NOT_IN_TABLE: &[&str] = &[];

/// Valid fixtures, with the arguments they need.
const VALID: &[(&str, &[&str])] = &[
    ("tests/fixtures/valid/seed-a2-incremental.xml", &[]),
    ("tests/fixtures/valid/seed-a4-delete-only.xml", &[]),
    ("tests/fixtures/valid/full-metadata.xml", &[]),
    ("tests/fixtures/valid/quick-start.xml", &[]),
    ("tests/fixtures/valid/known-harbor.xml", &[]),
    (
        "tests/fixtures/valid/delete-children-first.xml",
        &["--known", KNOWN_HARBOR],
    ),
];

/// Every rule code the XML reader can raise from a file (finding.rs, minus
/// the source-only and warning-only ones).
const READER_RULES: &[&str] = &[
    "xml.malformed",
    "xml.declaration",
    "input.compression",
    "xml.doctype",
    "xml.too-deep",
    "xml.too-large",
    "xml.text-too-large",
    "root.element",
    "root.attribute",
    "element.unknown",
    "item.required-child",
    "item.duplicate-child",
    "item.missing-id",
    "item.id-too-long",
    "item.bad-version",
    "item.duplicate-id",
    "item.bad-value",
    "item.parent-missing",
    "item.parent-kind",
    "item.pending-parents",
    "delete.order",
    "delete.orphans-child",
    "ember.schema-version",
    "ember.child-order",
    "ember.offer-program-ref",
    "ember.offer-catalog-ref",
    "ember.offer-required",
    "ember.catalog-placement",
];

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

/// Runs `catalogctl validate --json EXTRA… FILE` and parses the report.
fn validate_json(extra: &[&str], file: &str) -> (Option<i32>, Value, Output) {
    let mut args = vec!["validate", "--json"];
    args.extend_from_slice(extra);
    args.push(file);
    let output = catalogctl(&args);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{file}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report, output)
}

/// (rule, line) of every error finding in a JSON report.
fn errors(report: &Value) -> Vec<(String, u64)> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["position"]["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// What is wrong with a report that should refuse the file for `rule` at
/// `line` and raise no error outside `rule` and `also`; empty when it is right.
fn refusal_problems(
    name: &str,
    code: Option<i32>,
    report: &Value,
    rule: &str,
    line: u64,
    also: &[&str],
) -> Vec<String> {
    let found = errors(report);
    let mut problems = Vec::new();
    if code != Some(1) {
        problems.push(format!(
            "{name}: exit code {code:?}, not 1; findings {found:?}"
        ));
    }
    if report["valid"] != false {
        problems.push(format!(
            "{name}: \"valid\" is {}, not false",
            report["valid"]
        ));
    }
    if !found.iter().any(|(r, l)| r == rule && *l == line) {
        problems.push(format!(
            "{name}: expected an error [{rule}] at line {line}, found {found:?}"
        ));
    }
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(r, _)| r != rule && !also.contains(&r.as_str()))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "{name}: breaks one rule ({rule}) but also reported {unexpected:?}"
        ));
    }
    problems
}

#[test]
fn each_invalid_fixture_is_refused_with_its_rule_and_line() {
    let mut problems = Vec::new();
    for case in INVALID {
        let (code, report, _) = validate_json(case.args, case.file);
        problems.extend(refusal_problems(
            case.file, code, &report, case.rule, case.line, case.also,
        ));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn each_valid_fixture_is_accepted() {
    for (file, args) in VALID {
        let (code, report, _) = validate_json(args, file);
        assert_eq!(
            code,
            Some(0),
            "{file}: exit code; findings {:?}",
            errors(&report)
        );
        assert_eq!(report["valid"], true, "{file}: valid");
        assert_eq!(report["complete"], true, "{file}: complete");
        assert_eq!(report["errors"], 0, "{file}: errors");
    }
}

#[test]
fn valid_fixtures_count_their_entries() {
    let (_, report, _) = validate_json(&[], "tests/fixtures/valid/seed-a2-incremental.xml");
    assert_eq!(report["catalog_id"], "MY_CATALOG");
    assert_eq!(report["items"]["movie"], 2);
    assert_eq!(report["deletes"], 1);

    let (_, report, _) = validate_json(&[], "tests/fixtures/valid/seed-a4-delete-only.xml");
    assert_eq!(report["action"], "upsert", "action defaults to upsert");
    assert_eq!(report["deletes"], 2);

    let (_, report, _) = validate_json(&[], "tests/fixtures/valid/full-metadata.xml");
    assert_eq!(report["action"], "replace");
    let items = &report["items"];
    assert_eq!(
        (
            &items["movie"],
            &items["series"],
            &items["season"],
            &items["episode"]
        ),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        )
    );
}

/// Without the earlier catalog the delete-order fixture is only deletes of
/// unknown ids, which is fine: the rule needs `--known` to apply.
#[test]
fn delete_order_needs_the_known_catalog() {
    let (code, report, _) = validate_json(&[], "tests/fixtures/invalid/delete-order.xml");
    assert_eq!(code, Some(0), "findings {:?}", errors(&report));
}

#[test]
fn a_corrupt_zstd_frame_is_a_compression_finding() {
    let dir = tempfile::tempdir().unwrap();
    let plain =
        std::fs::read(workspace_root().join("tests/fixtures/valid/full-metadata.xml")).unwrap();
    let whole = zstd::encode_all(&plain[..], 3).unwrap();

    // A real frame cut short, and a zstd magic number followed by garbage.
    let truncated = &whole[..whole.len() / 2];
    let mut garbage = vec![0x28, 0xB5, 0x2F, 0xFD];
    garbage.extend_from_slice(b"this is not a zstd frame at all");

    for (name, bytes) in [
        ("truncated.xml.zst", truncated),
        ("garbage.xml.zst", &garbage[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let path = path.to_str().unwrap();
        let (code, report, _) = validate_json(&[], path);
        let problems = refusal_problems(name, code, &report, "input.compression", 1, &[]);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(report["compression"], "zstd", "{name}");
        assert_eq!(report["complete"], false, "{name}");
    }

    // The whole frame is fine: the corruption, not the compression, is the finding.
    let path = dir.path().join("whole.xml.zst");
    std::fs::write(&path, &whole).unwrap();
    let (code, report, _) = validate_json(&[], path.to_str().unwrap());
    assert_eq!(code, Some(0), "findings {:?}", errors(&report));
}

/// Rules whose files would be megabytes: (rule, line of the finding).
const SIZE_RULES: [(&str, u64); 3] = [
    ("item.id-too-long", 3),
    ("xml.text-too-large", 3),
    // The 1,117th season, on line 1,119, is the first over 64 MiB.
    ("item.pending-parents", 1119),
];

/// Writes `pieces` as one zstd stream of one frame per piece (a zstd
/// stream may hold several frames), each piece compressed once however
/// often it is repeated, so a file of tens of megabytes takes moments.
fn write_frames(path: &Path, pieces: &[(&[u8], usize)]) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    for (piece, times) in pieces {
        let frame = zstd::encode_all(*piece, 1).unwrap();
        for _ in 0..*times {
            file.write_all(&frame).unwrap();
        }
    }
}

#[test]
fn rules_about_sizes_are_checked_on_files_written_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let root =
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DataCollections><ProgramCatalog id=\"C\" version=\"1\">\n";
    let end = b"</ProgramCatalog></DataCollections>\n";
    let title = b"<Titles><Title language=\"en-US\">T</Title></Titles>";

    // An id of 65,536 bytes: one over what the state can store.
    let long_id = format!(
        "<Movie id=\"{}\" version=\"1\">{}</Movie>\n",
        "i".repeat(65_536),
        String::from_utf8_lossy(title)
    );
    let id_file = dir.path().join("id-too-long.xml.zst");
    write_frames(&id_file, &[(root, 1), (long_id.as_bytes(), 1), (end, 1)]);

    // A <Title> of nine 1 MiB runs split by comments: over the 8 MiB bound.
    let mut run = vec![b'x'; 1 << 20];
    run.extend_from_slice(b"<!---->");
    let text_file = dir.path().join("text-too-large.xml.zst");
    write_frames(
        &text_file,
        &[
            (root, 1),
            (
                b"<Movie id=\"m\" version=\"1\"><Titles><Title language=\"en-US\">",
                1,
            ),
            (&run, 9),
            (b"</Title></Titles></Movie>\n", 1),
            (end, 1),
        ],
    );

    // 1,200 seasons on one line each, all naming a series of a 60,000-byte
    // id that is not there (yet): each holds about 60,100 bytes while it
    // waits, so the 1,117th goes over 64 MiB. Ids must be unique, so each
    // season's number is its own frame.
    let series = "s".repeat(60_000);
    let head = b"<TVSeason id=\"season-";
    let tail = format!(
        "\" version=\"1\">{}<Relationships><Relationship type=\"series\" programRef=\"{series}\" sequence=\"1\"/></Relationships></TVSeason>\n",
        String::from_utf8_lossy(title)
    );
    let numbers: Vec<String> = (0..1_200).map(|n| n.to_string()).collect();
    let mut pieces: Vec<(&[u8], usize)> = vec![(root, 1)];
    for number in &numbers {
        pieces.extend([(&head[..], 1), (number.as_bytes(), 1), (tail.as_bytes(), 1)]);
    }
    pieces.push((end, 1));
    let pending_file = dir.path().join("pending-parents.xml.zst");
    write_frames(&pending_file, &pieces);

    for ((rule, line), file) in SIZE_RULES.iter().zip([&id_file, &text_file, &pending_file]) {
        let (code, report, _) = validate_json(&[], file.to_str().unwrap());
        let problems = refusal_problems(rule, code, &report, rule, *line, &[]);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(
            report["errors"],
            1,
            "{rule}: one finding, {:?}",
            errors(&report)
        );
    }
}

#[test]
fn the_text_report_reads_file_line_column_severity_rule() {
    let file = "tests/fixtures/invalid/element-unknown-element.xml";
    let output = catalogctl(&["validate", file]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let expected = format!(
        "{file}:5:5: error [element.unknown] item \"mv-1\": <Movie> does not take <Director>"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with(&expected)),
        "no line starting with {expected:?} in:\n{stdout}"
    );
    assert!(stdout.contains("(fix: "), "the fix is printed:\n{stdout}");
    assert!(
        stdout.contains(&format!("{file}: INVALID")),
        "a verdict line:\n{stdout}"
    );

    let file = "tests/fixtures/invalid/root-attribute-bad-action.xml";
    let stdout = String::from_utf8(catalogctl(&["validate", file]).stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "{file}:2:40: error [root.attribute]: <ProgramCatalog> action \"merge\""
        )),
        "{stdout}"
    );

    let file = "tests/fixtures/valid/seed-a2-incremental.xml";
    let output = catalogctl(&["validate", file]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains(&format!("{file}: valid")), "{stdout}");
    assert!(!stdout.contains("error ["), "{stdout}");
}

#[test]
fn a_missing_file_is_a_failure_naming_it() {
    let file = "tests/fixtures/invalid/no-such-catalog.xml";
    for args in [vec!["validate", file], vec!["validate", "--json", file]] {
        let output = catalogctl(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(file), "stderr names the file: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "nothing on stdout: {:?}",
            output.stdout
        );
    }
}

#[test]
fn a_missing_known_catalog_is_a_failure_naming_it() {
    let known = "tests/fixtures/valid/no-such-known.xml";
    let output = catalogctl(&[
        "validate",
        "--known",
        known,
        "tests/fixtures/valid/delete-children-first.xml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(known), "stderr names the file: {stderr}");
}

#[test]
fn the_table_covers_every_reader_rule() {
    let mut covered: BTreeSet<&str> = INVALID.iter().map(|c| c.rule).collect();
    // Written at run time by a_corrupt_zstd_frame_is_a_compression_finding.
    covered.insert("input.compression");
    // Megabytes each: written at run time by rules_about_sizes_are_checked_on_files_written_at_run_time.
    for rule in SIZE_RULES {
        covered.insert(rule.0);
    }
    let missing: Vec<_> = READER_RULES
        .iter()
        .filter(|r| !covered.contains(*r))
        .collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
}

#[test]
fn the_table_the_readme_and_the_folders_agree() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("tests/fixtures/README.md")).unwrap();
    let listed: BTreeSet<String> = INVALID
        .iter()
        .map(|c| c.file)
        .chain(NOT_IN_TABLE.iter().copied())
        .chain(VALID.iter().map(|(f, _)| *f))
        .map(str::to_owned)
        .collect();
    for folder in ["tests/fixtures/invalid", "tests/fixtures/valid"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = format!("{folder}/{name}");
            assert!(listed.contains(&path), "{path} is in no table");
            assert!(
                readme.contains(&format!("`{name}`")),
                "{path} is not described in tests/fixtures/README.md"
            );
        }
    }
    for path in &listed {
        assert!(root.join(path).is_file(), "{path} is listed but missing");
    }
    for case in INVALID {
        let name = case.file.rsplit('/').next().unwrap();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no README row for {name}"));
        let expected = format!("| `{}`, {}", case.rule, case.line);
        assert!(
            row.contains(&expected),
            "README row for {name} does not say {expected:?}: {row}"
        );
    }
}
