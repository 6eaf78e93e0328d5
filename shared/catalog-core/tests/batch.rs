//! The parts of a multi-part catalog validated as one logical catalog
//! ([`BatchValidation`], [`validate_parts`]): one reader state across the
//! parts, each part's root checked on its own, findings in the report of the
//! part they come from, end-of-catalog checks once after the last part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use catalog_core::ids::KnownCatalog;
use catalog_core::reader::{BatchReport, BatchValidation, ReadOptions, validate_parts};
use catalog_core::{Rule, Severity};

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// One part: the root, then `body` from line 3 on.
fn part(body: &str) -> String {
    format!(
        "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"7\">\n{body}</ProgramCatalog></DataCollections>\n"
    )
}

const SERIES: &str = "<TVSeries id=\"x\" version=\"1\"><Titles><Title language=\"en-US\">X</Title></Titles></TVSeries>\n";
const SEASON: &str = "<TVSeason id=\"x-1\" version=\"1\"><Titles><Title language=\"en-US\">S1</Title></Titles><Relationships><Relationship type=\"series\" programRef=\"x\" sequence=\"1\"/></Relationships></TVSeason>\n";
const EPISODE: &str = "<TVEpisode id=\"x-1-1\" version=\"1\"><Titles><Title language=\"en-US\">E1</Title></Titles><Relationships><Relationship type=\"season\" programRef=\"x-1\" sequence=\"1\"/><Relationship type=\"series\" programRef=\"x\"/></Relationships></TVEpisode>\n";
const MOVIE: &str =
    "<Movie id=\"m\" version=\"1\"><Titles><Title language=\"en-US\">M</Title></Titles></Movie>\n";

fn validate(parts: &[String]) -> BatchReport {
    validate_parts(parts.iter().map(|p| p.as_bytes()), ReadOptions::default()).unwrap()
}

/// (part, rule, line) of every error.
fn errors(report: &BatchReport) -> Vec<(usize, &'static str, u64)> {
    let mut found = Vec::new();
    for (at, part) in report.parts.iter().enumerate() {
        for finding in &part.findings {
            if finding.severity == Severity::Error {
                found.push((at + 1, finding.rule.code(), finding.position.line));
            }
        }
    }
    found
}

#[test]
fn a_child_in_part_2_whose_parent_is_new_in_part_1_is_accepted() {
    let parts = [
        part(SERIES),
        part(&format!("{SEASON}{EPISODE}")),
        part(MOVIE),
    ];
    let report = validate(&parts);
    assert_eq!(errors(&report), vec![]);
    assert!(report.is_valid());
    assert_eq!(report.parts.len(), 3);
    assert_eq!(report.items(), [1, 1, 1, 1]);
    assert_eq!(report.total_items(), 4);

    // Each part on its own, as the gate did: the season's series is missing.
    let alone = validate(&parts[1..2]);
    assert_eq!(
        errors(&alone),
        vec![(1, "item.parent-missing", 3), (1, "item.parent-missing", 4)]
    );
}

#[test]
fn a_parent_later_in_the_batch_resolves_too() {
    let report = validate(&[part(SEASON), part(SERIES)]);
    assert_eq!(errors(&report), vec![]);
    assert!(report.is_valid());
}

#[test]
fn a_duplicate_id_across_parts_is_found_in_the_part_it_is_repeated_in() {
    let report = validate(&[part(MOVIE), part(SERIES), part(MOVIE)]);
    assert_eq!(errors(&report), vec![(3, "item.duplicate-id", 3)]);
    assert!(!report.is_valid());
    assert!(report.parts[0].findings.is_clean());
}

#[test]
fn an_orphan_is_reported_once_after_the_last_part_in_its_own_part() {
    let report = validate(&[
        part(MOVIE),
        part(SEASON),
        part(SERIES.replace("\"x\"", "\"y\"").as_str()),
    ]);
    assert_eq!(errors(&report), vec![(2, "item.parent-missing", 3)]);
    let finding = report.parts[1].findings.iter().next().unwrap();
    assert_eq!(finding.rule, Rule::ParentMissing);
    assert_eq!(finding.item_id.as_deref(), Some("x-1"));
}

#[test]
fn each_part_has_its_own_root_checked() {
    let broken = format!(
        "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"x\">\n{MOVIE}</ProgramCatalog></DataCollections>\n"
    );
    let report = validate(&[part(SERIES), broken]);
    assert_eq!(errors(&report), vec![(2, "root.attribute", 2)]);
    assert_eq!(report.parts[0].header.as_ref().unwrap().version, 7);
    assert_eq!(report.parts[1].header.as_ref().unwrap().version, 0);
}

#[test]
fn a_parent_deleted_in_part_1_with_its_child_alive_in_part_2_is_found() {
    let mut known = KnownCatalog::new();
    for body in [SERIES, SEASON] {
        let document = part(body);
        let mut reader =
            catalog_core::reader::CatalogReader::new(document.as_bytes(), ReadOptions::default())
                .unwrap();
        while let Some(entry) = reader.next_entry() {
            known.apply(&entry);
        }
    }
    let options = ReadOptions {
        known: Some(&known),
        ..ReadOptions::default()
    };
    let mut batch = BatchValidation::new(options);
    let delete = part("<Delete id=\"x\" version=\"2\"/>\n");
    batch.validate_part(delete.as_bytes()).unwrap();
    let season = part(SEASON.replace("version=\"1\"", "version=\"2\"").as_str());
    batch.validate_part(season.as_bytes()).unwrap();
    assert_eq!(batch.parts_read(), 2);
    let report = batch.finish();
    assert_eq!(errors(&report), vec![(2, "delete.orphans-child", 3)]);
    let message = &report.parts[1].findings.iter().next().unwrap().message;
    assert!(message.contains("line 3 of part 1"), "{message}");
    assert_eq!(report.deletes(), 1);
}

#[test]
fn a_known_child_left_alive_is_found_after_the_last_part() {
    let mut known = KnownCatalog::new();
    for body in [SERIES, SEASON] {
        let document = part(body);
        let mut reader =
            catalog_core::reader::CatalogReader::new(document.as_bytes(), ReadOptions::default())
                .unwrap();
        while let Some(entry) = reader.next_entry() {
            known.apply(&entry);
        }
    }
    let options = ReadOptions {
        known: Some(&known),
        ..ReadOptions::default()
    };
    let parts = [part(MOVIE), part("<Delete id=\"x\" version=\"2\"/>\n")];
    let report = validate_parts(parts.iter().map(|p| p.as_bytes()), options).unwrap();
    assert_eq!(errors(&report), vec![(2, "delete.orphans-child", 3)]);

    // Deleting the season first, in an earlier part, is the right order.
    let parts = [
        part("<Delete id=\"x-1\" version=\"2\"/>\n"),
        part("<Delete id=\"x\" version=\"2\"/>\n"),
    ];
    let report = validate_parts(parts.iter().map(|p| p.as_bytes()), options).unwrap();
    assert_eq!(errors(&report), vec![]);
}

#[test]
fn a_part_cut_short_leaves_waiting_references_unsettled() {
    // The season's series may be in what was not read: no parent-missing.
    let cut = part(MOVIE).replace("</ProgramCatalog></DataCollections>\n", "");
    let report = validate(&[part(SEASON), cut]);
    assert_eq!(errors(&report), vec![(2, "xml.malformed", 4)]);
    assert!(!report.is_valid());
}

#[test]
fn an_empty_batch_is_not_valid() {
    let report = validate(&[]);
    assert!(report.parts.is_empty());
    assert!(!report.is_valid());
}

#[test]
fn the_parts_a_build_writes_validate_as_one_catalog() {
    let parts = common::example_in_parts();
    assert!(parts.len() >= 4, "{} parts", parts.len());
    let report = validate_parts(parts.iter().map(Vec::as_slice), ReadOptions::default()).unwrap();
    assert_eq!(errors(&report), vec![]);
    assert!(report.is_valid());
    assert_eq!(report.total_items(), 15);

    // Checked one by one with fresh readers, some children lose their parents.
    let alone: u64 = parts
        .iter()
        .map(|p| validate_parts([p.as_slice()], ReadOptions::default()).unwrap())
        .map(|r| r.error_count())
        .sum();
    assert!(alone > 0);
}
