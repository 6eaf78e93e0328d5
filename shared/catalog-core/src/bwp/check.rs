//! The feed validator: every rule a feed row must keep before it is uploaded.
//!
//! [`check_row`] is the one place the rules live. The feed builder calls it
//! on every row before the row is written; [`validate_feed`] streams a
//! whole feed file through it (`catalogctl bwp validate`), adding the
//! rules only a file has: the exact header row first, the same column count
//! on every row, at most [`MAX_PRODUCTS_PER_FILE`] products.
//!
//! The rules: \[seed\] the header row first or the upload fails; External ID
//! always, and SKU, Amazon SKU and Image URL on a first listing; Offer
//! Prime `true` or `false` (empty is false); Updated External ID only when
//! re-listing. \[ours\] http(s) URLs, no control characters or line breaks in
//! a value, no External ID or SKU twice in one file, and a warning for
//! Offer Prime true without a detail page URL (Prime cannot be enabled).

use std::io::{BufRead, Read};

use serde::Serialize;

use crate::bwp::feed::FeedRow;
use crate::bwp::product::at_line;
use crate::bwp::{BwpError, FEED_COLUMNS, ListingKind, MAX_PRODUCTS_PER_FILE};
use crate::finding::{Finding, Findings, Position, Rule};
use crate::ids::IdSet;
use crate::input::{self, Compression, LimitExceeded, Limits, Tracked};
use crate::rules::is_http_url;

/// The External IDs and SKUs seen in one feed file (as 64-bit hashes).
#[derive(Debug, Default)]
pub struct FileIds {
    external_ids: IdSet,
    skus: IdSet,
}

impl FileIds {
    /// Forgets every id: a new file starts.
    pub fn reset(&mut self) {
        *self = FileIds::default();
    }
}

/// Checks one feed row against every rule; `report` gets each finding
/// (about the row's External ID, at `at`). True when the row has no error
/// (warnings allowed), so it may be written.
pub fn check_row(
    row: &FeedRow<'_>,
    kind: ListingKind,
    ids: &mut FileIds,
    at: Position,
    report: &mut dyn FnMut(Finding),
) -> bool {
    let mut clean = true;
    let id = row.external_id;
    let mut error = |rule: Rule, message: String| {
        clean = false;
        report(Finding::error(rule, at, message).for_item(id));
    };
    for (name, value) in FEED_COLUMNS.iter().zip(row.fields()) {
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            error(
                Rule::BwpText,
                format!(
                    "{name} holds U+{:04X}, a control character or line break",
                    c as u32
                ),
            );
        }
    }
    let mut required = vec![("External ID", row.external_id)];
    if kind == ListingKind::FirstListing {
        required.extend([
            ("SKU", row.sku),
            ("Amazon SKU", row.amazon_sku),
            ("Image URL", row.image_url),
        ]);
    }
    for (name, value) in required {
        if value.trim().is_empty() {
            error(
                Rule::BwpRequired,
                format!("{name} is empty; a {} needs it", kind.describe()),
            );
        }
    }
    if kind == ListingKind::FirstListing && !row.updated_external_id.is_empty() {
        error(
            Rule::BwpUpdatedIdOnFirstListing,
            format!(
                "Updated External ID {:?} is given on a first listing; the product is not listed yet",
                row.updated_external_id
            ),
        );
    }
    if !matches!(row.offer_prime, "" | "true" | "false") {
        error(
            Rule::BwpOfferPrime,
            format!("Offer Prime is {:?}, not true or false", row.offer_prime),
        );
    }
    for (name, url) in [
        ("Image URL", row.image_url),
        ("Product Detail Page URL", row.detail_page_url),
    ] {
        if !url.is_empty() && !is_http_url(url) {
            error(
                Rule::BwpUrl,
                format!("{name} {url:?} is not an absolute http(s) URL"),
            );
        }
    }
    if !row.external_id.is_empty() && !ids.external_ids.insert(row.external_id) {
        error(
            Rule::BwpDuplicateExternalId,
            format!(
                "External ID {:?} appears on an earlier row of this file",
                row.external_id
            ),
        );
    }
    if !row.sku.is_empty() && !ids.skus.insert(row.sku) {
        error(
            Rule::BwpDuplicateSku,
            format!("SKU {:?} appears on an earlier row of this file", row.sku),
        );
    }
    if row.offer_prime == "true" && row.detail_page_url.trim().is_empty() {
        report(
            Finding::warning(
                Rule::BwpPrimeWithoutDetailPage,
                at,
                "Offer Prime is true but the Product Detail Page URL is empty; Prime cannot be enabled without it",
            )
            .for_item(id),
        );
    }
    clean
}

/// What [`validate_feed`] found in a feed file.
#[derive(Debug, Serialize)]
pub struct FeedReport {
    /// Whether the first row is exactly the documented header.
    pub header_ok: bool,
    /// Product rows read (not counting the header).
    pub rows: u64,
    /// Rows checked as first listings.
    pub first_listings: u64,
    /// Rows checked as re-listings.
    pub relistings: u64,
    /// Rows with at least one error.
    pub rows_in_error: u64,
    /// Every finding, by line.
    pub findings: Findings,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// The compression the file had.
    #[serde(skip)]
    pub compression: Compression,
}

impl FeedReport {
    /// True when the file may be uploaded: the header and every row are
    /// free of errors.
    pub fn is_valid(&self) -> bool {
        self.findings.is_clean()
    }
}

/// Streams a feed file (plain, gzip or zstd) through every rule. `kind_of`
/// tells each row's listing kind: a caller with a listing state asks it;
/// without one, a row is a re-listing only when it carries an Updated
/// External ID (checking a re-listing as a first listing is the strict side).
pub fn validate_feed<R: Read>(
    input: R,
    kind_of: &mut dyn FnMut(&FeedRow<'_>) -> ListingKind,
    max_findings: usize,
) -> Result<FeedReport, BwpError> {
    let (decoded, compression) = input::open(input)?;
    let limits = Limits {
        max_token_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut tracked = Tracked::new(decoded, &limits);
    let bom = tracked
        .fill_buf()
        .map_err(BwpError::from_io)?
        .starts_with(b"\xEF\xBB\xBF");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(tracked);
    let mut report = FeedReport {
        header_ok: false,
        rows: 0,
        first_listings: 0,
        relistings: 0,
        rows_in_error: 0,
        findings: Findings::with_cap(max_findings),
        bytes: 0,
        compression,
    };
    if bom {
        // The csv crate skips it; whether Amazon's reader does is not
        // documented, and the header must come first [ours].
        report.findings.push(Finding::warning(
            Rule::BwpHeader,
            at_line(1),
            "the file starts with a UTF-8 byte order mark (as spreadsheet \"CSV UTF-8\" exports write); Amazon may not read the header behind it",
        ));
    }
    let mut ids = FileIds::default();
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    loop {
        reader.get_mut().mark_token();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                if let csv::ErrorKind::Io(io) = error.kind() {
                    if let Some(LimitExceeded::Token { limit }) = LimitExceeded::from_io(io) {
                        let line = reader.position().line();
                        report.findings.push(Finding::error(
                            Rule::BwpRowTooLarge,
                            at_line(line),
                            format!("a row is longer than the limit of {limit} bytes; the rest of the file was not read"),
                        ));
                        break;
                    }
                    return Err(BwpError::from_csv_io(io));
                }
                let line = error.position().map_or(0, csv::Position::line);
                report.findings.push(Finding::error(
                    Rule::BwpSyntax,
                    at_line(line),
                    format!("not a valid CSV row: {error}"),
                ));
                report.rows_in_error += 1;
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let at = at_line(line);
        if std::mem::take(&mut first) {
            match header_problem(&record) {
                None => {
                    report.header_ok = true;
                    continue;
                }
                Some((message, is_data)) => {
                    report
                        .findings
                        .push(Finding::error(Rule::BwpHeader, at, message));
                    if !is_data {
                        continue;
                    }
                }
            }
        }
        report.rows += 1;
        if report.rows == MAX_PRODUCTS_PER_FILE + 1 {
            report.findings.push(Finding::error(
                Rule::BwpTooManyProducts,
                at,
                format!("the file holds more than {MAX_PRODUCTS_PER_FILE} products from this row on; one upload takes at most {MAX_PRODUCTS_PER_FILE}"),
            ));
        }
        let Some(row) = row_of(&record, at, &mut report.findings) else {
            report.rows_in_error += 1;
            continue;
        };
        let kind = kind_of(&row);
        match kind {
            ListingKind::FirstListing => report.first_listings += 1,
            ListingKind::Relisting => report.relistings += 1,
        }
        let findings = &mut report.findings;
        if !check_row(&row, kind, &mut ids, at, &mut |f| findings.push(f)) {
            report.rows_in_error += 1;
        }
    }
    if first {
        report.findings.push(Finding::error(
            Rule::BwpHeader,
            at_line(1),
            "the file is empty: not even the header row",
        ));
    }
    report.bytes = reader.get_ref().offset();
    Ok(report)
}

/// What is wrong with a first row that should be the header, and whether
/// it looks like a product row instead (no field names a column).
fn header_problem(record: &csv::ByteRecord) -> Option<(String, bool)> {
    let fields: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    if fields.iter().map(String::as_str).eq(FEED_COLUMNS) {
        return None;
    }
    let names_a_column = fields.iter().any(|f| {
        FEED_COLUMNS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(f.trim()))
    });
    if !names_a_column {
        return Some((
            "the first row is not the header row (it names no feed column); Amazon fails an upload whose first row is not the header".into(),
            true,
        ));
    }
    let differs = FEED_COLUMNS
        .iter()
        .enumerate()
        .find(|&(at, name)| fields.get(at).map(String::as_str) != Some(*name));
    let message = match differs {
        Some((at, name)) => match fields.get(at) {
            Some(found) => format!(
                "the header row's column {} is {found:?}, not {name:?}; the header must be exactly the documented one",
                at + 1
            ),
            None => format!(
                "the header row has {} columns; column {} must be {name:?}",
                fields.len(),
                at + 1
            ),
        },
        None => format!(
            "the header row has {} columns; the feed has exactly {}",
            fields.len(),
            FEED_COLUMNS.len()
        ),
    };
    Some((message, false))
}

/// A record as a feed row, or a finding when it has the wrong number of
/// fields or bytes that are not UTF-8.
fn row_of<'r>(
    record: &'r csv::ByteRecord,
    at: Position,
    findings: &mut Findings,
) -> Option<FeedRow<'r>> {
    if record.len() != FEED_COLUMNS.len() {
        findings.push(Finding::error(
            Rule::BwpSyntax,
            at,
            format!(
                "the row has {} fields; a feed row has exactly {} (one per header column)",
                record.len(),
                FEED_COLUMNS.len()
            ),
        ));
        return None;
    }
    let mut fields = [""; 7];
    for (at_column, (slot, bytes)) in fields.iter_mut().zip(record).enumerate() {
        match std::str::from_utf8(bytes) {
            Ok(text) => *slot = text,
            Err(_) => {
                findings.push(Finding::error(
                    Rule::BwpEncoding,
                    at,
                    format!("{} holds bytes that are not UTF-8", FEED_COLUMNS[at_column]),
                ));
                return None;
            }
        }
    }
    Some(FeedRow::from_fields(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"\n";

    fn validate(text: &str) -> FeedReport {
        let mut guess = |row: &FeedRow<'_>| {
            if row.updated_external_id.is_empty() {
                ListingKind::FirstListing
            } else {
                ListingKind::Relisting
            }
        };
        validate_feed(text.as_bytes(), &mut guess, 100).unwrap()
    }

    fn codes(report: &FeedReport) -> Vec<(u64, &'static str)> {
        report
            .findings
            .iter()
            .map(|f| (f.position.line, f.rule.code()))
            .collect()
    }

    #[test]
    fn a_good_file_is_valid() {
        let text = format!(
            "{HEADER}p1,,S1,M1,true,https://i.example/1.jpg,https://shop.example/p1\np2,p2b,,,,,\n"
        );
        let report = validate(&text);
        assert!(report.is_valid(), "{:?}", codes(&report));
        assert_eq!(
            (report.rows, report.first_listings, report.relistings),
            (2, 1, 1)
        );
    }

    #[test]
    fn each_rule_names_its_line() {
        let text = format!(
            "{HEADER}\
             p1,,,M1,false,https://i/1,\n\
             p2,,S2,M2,yes,https://i/2,\n\
             p1,,S3,M3,,https://i/3,\n\
             p4,,S2,M4,,ftp://i/4,\n\
             p5,,S5,M5,true,https://i/5,\n\
             p6,,S6,M6\n"
        );
        let report = validate(&text);
        assert_eq!(
            codes(&report),
            [
                (2, "bwp.required"),
                (3, "bwp.offer-prime"),
                (4, "bwp.duplicate-external-id"),
                (5, "bwp.url"),
                (5, "bwp.duplicate-sku"),
                (6, "bwp.prime-without-detail-page"),
                (7, "bwp.syntax"),
            ]
        );
        assert_eq!(report.rows_in_error, 5);
    }

    #[test]
    fn a_file_without_its_header_row_is_refused_and_its_rows_still_checked() {
        let report = validate("p1,,S1,M1,false,https://i/1,\np2,,S2,,false,https://i/2,\n");
        assert!(!report.header_ok);
        assert_eq!(codes(&report), [(1, "bwp.header"), (2, "bwp.required")]);
        assert_eq!(report.rows, 2);

        let report = validate("External ID,SKU\n");
        assert_eq!(codes(&report), [(1, "bwp.header")]);
        assert!(
            report
                .findings
                .iter()
                .next()
                .unwrap()
                .message
                .contains("column 2")
        );

        let report = validate("");
        assert_eq!(codes(&report), [(1, "bwp.header")]);
    }

    #[test]
    fn a_byte_order_mark_is_a_warning() {
        let report = validate(&format!("\u{FEFF}{HEADER}p1,,S1,M1,,https://i/1,\n"));
        assert!(report.is_valid() && report.header_ok);
        assert_eq!(codes(&report), [(1, "bwp.header")]);
        assert_eq!(report.findings.warning_count(), 1);
    }

    #[test]
    fn an_unquoted_header_is_the_same_header() {
        let report = validate(
            "External ID,Updated External ID,SKU,Amazon SKU,Offer Prime,Image URL,Product Detail Page URL\r\n",
        );
        assert!(report.is_valid() && report.header_ok);
    }

    #[test]
    fn more_than_15000_products_is_refused_at_the_row_past_the_bound() {
        let mut text = HEADER.to_owned();
        for n in 0..15_001 {
            text.push_str(&format!("p{n},,S{n},M{n},,https://i/{n},\n"));
        }
        let report = validate(&text);
        assert_eq!(codes(&report), [(15_002, "bwp.too-many-products")]);
    }

    #[test]
    fn a_first_listing_may_not_rename() {
        let row = FeedRow::from_fields(["p1", "p1b", "S", "M", "", "https://i/1", ""]);
        let mut found = Vec::new();
        let clean = check_row(
            &row,
            ListingKind::FirstListing,
            &mut FileIds::default(),
            at_line(9),
            &mut |f| found.push(f.rule),
        );
        assert!(!clean);
        assert_eq!(found, [Rule::BwpUpdatedIdOnFirstListing]);
    }

    #[test]
    fn a_value_with_a_line_break_is_refused() {
        let row = FeedRow::from_fields(["p1", "", "S\n2", "M", "", "https://i/1", ""]);
        let mut found = Vec::new();
        check_row(
            &row,
            ListingKind::Relisting,
            &mut FileIds::default(),
            at_line(2),
            &mut |f| found.push(f.rule),
        );
        assert_eq!(found, [Rule::BwpText]);
    }
}
