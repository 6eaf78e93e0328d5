//! Cut-short catalogs: a file that ends early (an interrupted upload, a
//! partial download) is reported as a finding and an incomplete read, never
//! a panic and never a valid report. What was read before the cut is a
//! prefix of what was written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use catalog_core::input::Compression;
use catalog_core::model::{Action, CatalogHeader, Entry, Item};
use catalog_core::reader::{CatalogReader, ReadOptions, ReadReport};
use catalog_core::synthetic::Synthetic;
use catalog_core::{Rule, Severity};
use common::{Catalog, catalog, findings_text};
use proptest::prelude::*;
use proptest::sample::Index;

fn synthetic_catalog() -> Catalog {
    let items: Vec<Item> = Synthetic::new(2000, 3).collect();
    Catalog {
        header: CatalogHeader {
            id: "SYNTHETIC".into(),
            version: 1,
            action: Action::Upsert,
        },
        items,
        deletes: Vec::new(),
    }
}

/// Reads `bytes` entry by entry; the reader must open and must not panic.
fn read_cut(bytes: &[u8]) -> (Vec<Entry>, ReadReport) {
    let mut reader = CatalogReader::new(bytes, ReadOptions::default())
        .expect("a cut-short file is the catalog's fault, not an input failure");
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry() {
        entries.push(entry);
    }
    (entries, reader.finish())
}

/// What every cut-short read must show.
fn assert_incomplete(expected: &[Entry], entries: &[Entry], report: &ReadReport, cut: usize) {
    assert!(!report.complete, "cut at {cut}: the report says complete");
    assert!(!report.is_valid(), "cut at {cut}: the report is valid");
    assert!(
        report.findings.error_count() > 0,
        "cut at {cut}: no error finding"
    );
    assert!(
        entries.len() <= expected.len() && entries == &expected[..entries.len()],
        "cut at {cut}: the entries read are not a prefix of those written"
    );
    let yielded = report.total_items() + report.deletes;
    assert_eq!(yielded, entries.len() as u64, "cut at {cut}");
}

/// The compressed-stream finding a truncated zstd file must carry.
fn assert_compression_finding(report: &ReadReport, cut: usize) {
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == Rule::Compression && f.severity == Severity::Error),
        "cut at {cut}: no {} finding in:\n{}",
        Rule::Compression,
        findings_text(report)
    );
}

/// The synthetic catalog compressed with zstd and cut in the middle of the
/// frame: the items before the cut come out, then a compression finding,
/// and the report says the read is incomplete.
#[test]
fn zstd_cut_in_the_middle_is_an_incomplete_read_with_a_finding() {
    let catalog = synthetic_catalog();
    let (zst, _) = catalog.to_zstd();
    let expected = catalog.expected_entries();
    let cut = zst.len() / 2;

    let (entries, report) = read_cut(&zst[..cut]);

    assert_eq!(report.compression, Compression::Zstd);
    assert_incomplete(&expected, &entries, &report, cut);
    assert_compression_finding(&report, cut);
    assert!(
        !entries.is_empty() && entries.len() < expected.len(),
        "half a file should give some items, not all: {} of {}",
        entries.len(),
        expected.len()
    );
    assert_eq!(
        report.header.as_ref(),
        Some(&catalog.header),
        "the root was read"
    );
}

/// `validate_to_end` reports the same way: `Ok` with an incomplete report,
/// not an `Err` (the input did not fail; the file is short).
#[test]
fn zstd_cut_in_the_middle_validates_to_an_incomplete_report() {
    let (zst, _) = synthetic_catalog().to_zstd();
    let cut = zst.len() / 2;
    let reader = CatalogReader::new(&zst[..cut], ReadOptions::default()).unwrap();
    let report = reader.validate_to_end().unwrap();
    assert!(!report.complete);
    assert!(!report.is_valid());
    assert_compression_finding(&report, cut);
}

/// Cutting only the last bytes of the frame (the document is all there
/// but the frame never ends) is still incomplete.
#[test]
fn zstd_missing_its_last_byte_is_incomplete() {
    let catalog = synthetic_catalog();
    let (zst, _) = catalog.to_zstd();
    let cut = zst.len() - 1;
    let (entries, report) = read_cut(&zst[..cut]);
    assert_incomplete(&catalog.expected_entries(), &entries, &report, cut);
    assert_compression_finding(&report, cut);
}

proptest! {
    /// A plain document cut anywhere before the end of `</ProgramCatalog>`
    /// is incomplete, has an error finding, and gave a prefix of its entries.
    #[test]
    fn plain_xml_cut_anywhere_is_incomplete(catalog in catalog(4, 3), at in any::<Index>()) {
        let (xml, _) = catalog.to_xml();
        // The last byte is the newline after `</ProgramCatalog>`; keep it
        // and everything before the `>` out of reach.
        let cut = at.index(xml.len() - 1);
        let (entries, report) = read_cut(&xml[..cut]);
        assert_incomplete(&catalog.expected_entries(), &entries, &report, cut);
    }

    /// A zstd file cut anywhere after its 4-byte magic number is incomplete
    /// with a compression finding.
    #[test]
    fn zstd_cut_anywhere_is_incomplete(catalog in catalog(4, 3), at in any::<Index>()) {
        let (zst, _) = catalog.to_zstd();
        let cut = 4 + at.index(zst.len() - 4);
        let (entries, report) = read_cut(&zst[..cut]);
        prop_assert_eq!(report.compression, Compression::Zstd);
        assert_incomplete(&catalog.expected_entries(), &entries, &report, cut);
        assert_compression_finding(&report, cut);
    }
}
