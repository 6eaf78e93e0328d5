//! The feed result file: what Amazon did with each row (DOMAIN.md B3).
//!
//! \[seed\] A CSV with the columns Import Result, Error Type, Error Code(s),
//! Error Detail(s), then the feed's seven product columns. \[ours\] Columns
//! are found by name (trimmed, any case), so an extra or reordered column
//! does not break the parser; Import Result and External ID must be there.
//! Error Code(s) and Error Detail(s) may hold several values: split on `;`
//! or `|`, the raw text kept too. The seed names no Import Result values:
//! [`ImportOutcome::of`] is the one place that reads them.
//!
//! [`ResultReader`] streams rows; [`ResultSummary`] counts them (by result
//! and by error code, the first rows of each code) in memory bounded by the
//! number of distinct codes; [`crate::bwp::ListingState::apply_result`] is
//! the state update a row implies.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use crate::bwp::BwpError;
use crate::bwp::product::{Product, at_line};
use crate::finding::{Finding, Findings, Rule};
use crate::input::{self, Compression, LimitExceeded, Limits, Tracked};

/// What a result row says happened to the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportOutcome {
    /// The row was imported.
    Imported,
    /// The row failed.
    Failed,
    /// A value we do not recognise: the state is left as it was.
    Unrecognised,
}

impl ImportOutcome {
    /// Reads an Import Result value [ours: the seed names none]: any case,
    /// `success`, `succeeded`, `successful`, `imported`, `ok`, `created`,
    /// `updated` mean imported; `fail`, `failed`, `failure`, `error`,
    /// `rejected` mean failed; anything else is unrecognised.
    pub fn of(text: &str) -> ImportOutcome {
        let value = text.trim().to_ascii_lowercase();
        match value.as_str() {
            "success" | "succeeded" | "successful" | "imported" | "ok" | "created" | "updated" => {
                ImportOutcome::Imported
            }
            "fail" | "failed" | "failure" | "error" | "rejected" => ImportOutcome::Failed,
            _ => ImportOutcome::Unrecognised,
        }
    }
}

/// One result row, its columns as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResultRow {
    /// Import Result.
    pub import_result: String,
    /// Error Type.
    pub error_type: String,
    /// Error Code(s), raw.
    pub error_codes: String,
    /// Error Detail(s), raw.
    pub error_details: String,
    /// External ID.
    pub external_id: String,
    /// Updated External ID.
    pub updated_external_id: String,
    /// SKU.
    pub sku: String,
    /// Amazon SKU.
    pub amazon_sku: String,
    /// Offer Prime.
    pub offer_prime: String,
    /// Image URL.
    pub image_url: String,
    /// Product Detail Page URL.
    pub detail_page_url: String,
}

/// Splits a multi-valued cell on `;` or `|`, trimmed, empty parts dropped.
pub fn split_values(raw: &str) -> impl Iterator<Item = &str> {
    raw.split([';', '|'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl ResultRow {
    /// What happened to the row.
    pub fn outcome(&self) -> ImportOutcome {
        ImportOutcome::of(&self.import_result)
    }

    /// Each error code.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        split_values(&self.error_codes)
    }

    /// Each error detail.
    pub fn details(&self) -> impl Iterator<Item = &str> {
        split_values(&self.error_details)
    }

    /// The product as it stands after the row, under its new External ID
    /// when the row renamed it, with no rename pending.
    pub fn product_renamed(&self) -> Product {
        let text = |value: &str| (!value.trim().is_empty()).then(|| value.to_owned());
        let renamed = self.updated_external_id.trim();
        Product {
            external_id: if renamed.is_empty() {
                self.external_id.clone()
            } else {
                renamed.to_owned()
            },
            new_external_id: None,
            sku: text(&self.sku),
            amazon_sku: text(&self.amazon_sku),
            offer_prime: match self.offer_prime.trim() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            image_url: text(&self.image_url),
            detail_page_url: text(&self.detail_page_url),
        }
    }
}

/// The result file's columns, by the names the seed gives.
const RESULT_COLUMNS: [&str; 11] = [
    "Import Result",
    "Error Type",
    "Error Code(s)",
    "Error Detail(s)",
    "External ID",
    "Updated External ID",
    "SKU",
    "Amazon SKU",
    "Offer Prime",
    "Image URL",
    "Product Detail Page URL",
];

/// Streams the rows of a result file.
pub struct ResultReader<'a> {
    reader: csv::Reader<Tracked<Box<dyn std::io::BufRead + 'a>>>,
    /// For each of [`RESULT_COLUMNS`], its position in the file.
    positions: Option<[Option<usize>; 11]>,
    record: csv::ByteRecord,
    findings: Findings,
    rows: u64,
    compression: Compression,
}

impl std::fmt::Debug for ResultReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultReader")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<'a> ResultReader<'a> {
    /// Opens a result file (plain, gzip or zstd) and reads its header. A
    /// header without Import Result or External ID is a finding, and no row
    /// is read.
    pub fn new<R: Read + 'a>(input: R, max_findings: usize) -> Result<ResultReader<'a>, BwpError> {
        let (decoded, compression) = input::open(input)?;
        let limits = Limits {
            max_token_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(Tracked::new(decoded, &limits));
        let mut findings = Findings::with_cap(max_findings);
        let positions = match reader.headers() {
            Ok(headers) => {
                let mut positions = [None; 11];
                for (slot, name) in positions.iter_mut().zip(RESULT_COLUMNS) {
                    *slot = headers
                        .iter()
                        .position(|h| h.trim().eq_ignore_ascii_case(name));
                }
                let missing: Vec<&str> = [0, 4]
                    .into_iter()
                    .filter(|&at| positions[at].is_none())
                    .map(|at| RESULT_COLUMNS[at])
                    .collect();
                if missing.is_empty() {
                    Some(positions)
                } else {
                    findings.push(Finding::error(
                        Rule::BwpResultHeader,
                        at_line(1),
                        format!(
                            "the header row has no {} column; no row was read",
                            missing.join(" or ")
                        ),
                    ));
                    None
                }
            }
            Err(error) => {
                if let Some(failure) = BwpError::from_csv(&error) {
                    return Err(failure);
                }
                findings.push(Finding::error(
                    Rule::BwpResultHeader,
                    at_line(1),
                    format!("the header row cannot be read: {error}; no row was read"),
                ));
                None
            }
        };
        Ok(ResultReader {
            reader,
            positions,
            record: csv::ByteRecord::new(),
            findings,
            rows: 0,
            compression,
        })
    }

    /// The next readable row and its line; unreadable rows are findings.
    pub fn next_row(&mut self) -> Result<Option<(u64, ResultRow)>, BwpError> {
        let Some(positions) = self.positions else {
            return Ok(None);
        };
        loop {
            self.reader.get_mut().mark_token();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(error) => {
                    if let csv::ErrorKind::Io(io) = error.kind() {
                        if let Some(LimitExceeded::Token { limit }) = LimitExceeded::from_io(io) {
                            let line = self.reader.position().line();
                            self.findings.push(Finding::error(
                                Rule::BwpRowTooLarge,
                                at_line(line),
                                format!("a row is longer than the limit of {limit} bytes; the rest of the file was not read"),
                            ));
                            return Ok(None);
                        }
                        return Err(BwpError::from_csv_io(io));
                    }
                    let line = error.position().map_or(0, csv::Position::line);
                    self.findings.push(Finding::error(
                        Rule::BwpSyntax,
                        at_line(line),
                        format!("not a valid CSV row: {error}"),
                    ));
                    continue;
                }
            }
            self.rows += 1;
            let line = self.record.position().map_or(0, csv::Position::line);
            let mut cells: [String; 11] = Default::default();
            let mut bad = None;
            for ((cell, position), name) in cells.iter_mut().zip(positions).zip(RESULT_COLUMNS) {
                let Some(bytes) = position.and_then(|at| self.record.get(at)) else {
                    continue;
                };
                match std::str::from_utf8(bytes) {
                    Ok(text) => *cell = text.to_owned(),
                    Err(_) => bad = Some(name),
                }
            }
            if let Some(name) = bad {
                self.findings.push(Finding::error(
                    Rule::BwpEncoding,
                    at_line(line),
                    format!("{name} holds bytes that are not UTF-8; the row was not read"),
                ));
                continue;
            }
            let [
                import_result,
                error_type,
                error_codes,
                error_details,
                external_id,
                updated_external_id,
                sku,
                amazon_sku,
                offer_prime,
                image_url,
                detail_page_url,
            ] = cells;
            return Ok(Some((
                line,
                ResultRow {
                    import_result,
                    error_type,
                    error_codes,
                    error_details,
                    external_id,
                    updated_external_id,
                    sku,
                    amazon_sku,
                    offer_prime,
                    image_url,
                    detail_page_url,
                },
            )));
        }
    }

    /// Records a finding about a row (an unknown product, say).
    pub fn report(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The compression the file had.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Ends the reading: the findings.
    pub fn finish(self) -> Findings {
        self.findings
    }
}

/// One example row of an error code.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The line in the result file.
    pub line: u64,
    /// The product.
    pub external_id: String,
    /// Error Type.
    pub error_type: String,
    /// Error Detail(s), raw.
    pub error_details: String,
}

/// The rows of one error code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeSummary {
    /// Rows carrying the code.
    pub rows: u64,
    /// The first rows carrying it.
    pub examples: Vec<Example>,
}

/// Counts of a result file, bounded in memory.
#[derive(Debug, Clone, Serialize)]
pub struct ResultSummary {
    /// Rows summarised.
    pub rows: u64,
    /// Rows imported.
    pub imported: u64,
    /// Rows failed.
    pub failed: u64,
    /// Rows whose Import Result we do not recognise.
    pub unrecognised: u64,
    /// Rows per Import Result value, as written.
    pub by_result: BTreeMap<String, u64>,
    /// Rows per error code (a row with two codes counts under both).
    pub by_code: BTreeMap<String, CodeSummary>,
    /// Codes past the bound on distinct codes, counted together.
    pub other_codes: u64,
    #[serde(skip)]
    examples_per_code: usize,
}

impl ResultSummary {
    /// The most distinct Import Result values and error codes kept by name.
    pub const MAX_DISTINCT: usize = 1000;

    /// An empty summary keeping the first `examples_per_code` rows of each code.
    pub fn new(examples_per_code: usize) -> ResultSummary {
        ResultSummary {
            rows: 0,
            imported: 0,
            failed: 0,
            unrecognised: 0,
            by_result: BTreeMap::new(),
            by_code: BTreeMap::new(),
            other_codes: 0,
            examples_per_code,
        }
    }

    /// Counts one row.
    pub fn add(&mut self, line: u64, row: &ResultRow) {
        self.rows += 1;
        match row.outcome() {
            ImportOutcome::Imported => self.imported += 1,
            ImportOutcome::Failed => self.failed += 1,
            ImportOutcome::Unrecognised => self.unrecognised += 1,
        }
        let result = row.import_result.trim();
        if let Some(n) = self.by_result.get_mut(result) {
            *n += 1;
        } else if self.by_result.len() < Self::MAX_DISTINCT {
            self.by_result.insert(result.to_owned(), 1);
        }
        for code in row.codes() {
            if !self.by_code.contains_key(code) {
                if self.by_code.len() >= Self::MAX_DISTINCT {
                    self.other_codes += 1;
                    continue;
                }
                self.by_code.insert(code.to_owned(), CodeSummary::default());
            }
            let Some(summary) = self.by_code.get_mut(code) else {
                continue;
            };
            summary.rows += 1;
            if summary.examples.len() < self.examples_per_code {
                summary.examples.push(Example {
                    line,
                    external_id: row.external_id.clone(),
                    error_type: row.error_type.clone(),
                    error_details: row.error_details.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULT: &str = "Import Result,Error Type,Error Code(s),Error Detail(s),External ID,Updated External ID,SKU,Amazon SKU,Offer Prime,Image URL,Product Detail Page URL\n\
        SUCCESS,,,,p1,,S1,M1,true,https://i/1,https://p/1\n\
        FAILED,ValidationError,InvalidAmazonSku;MissingImage,Amazon SKU M2 not found|Image URL empty,p2,,S2,M2,false,,\n\
        FAILED,ValidationError,InvalidAmazonSku,Amazon SKU M3 not found,p3,,S3,M3,,https://i/3,\n\
        Pending,,,,p4,,S4,M4,,https://i/4,\n";

    #[test]
    fn reads_rows_splits_codes_and_summarises() {
        let mut reader = ResultReader::new(RESULT.as_bytes(), 100).unwrap();
        let mut summary = ResultSummary::new(1);
        let mut rows = Vec::new();
        while let Some((line, row)) = reader.next_row().unwrap() {
            summary.add(line, &row);
            rows.push(row);
        }
        assert!(reader.finish().is_clean());
        assert_eq!(
            rows[1].codes().collect::<Vec<_>>(),
            ["InvalidAmazonSku", "MissingImage"]
        );
        assert_eq!(rows[1].details().count(), 2);
        assert_eq!(rows[1].error_codes, "InvalidAmazonSku;MissingImage");
        assert_eq!(
            (summary.imported, summary.failed, summary.unrecognised),
            (1, 2, 1)
        );
        let invalid = &summary.by_code["InvalidAmazonSku"];
        assert_eq!(invalid.rows, 2);
        assert_eq!(invalid.examples.len(), 1);
        assert_eq!(invalid.examples[0].line, 3);
        assert_eq!(summary.by_result["FAILED"], 2);
    }

    #[test]
    fn a_file_without_the_key_columns_is_one_finding() {
        let mut reader = ResultReader::new(&b"Result,Id\nok,p1\n"[..], 10).unwrap();
        assert!(reader.next_row().unwrap().is_none());
        let findings = reader.finish();
        let finding = findings.iter().next().unwrap();
        assert_eq!(finding.rule, Rule::BwpResultHeader);
        assert!(finding.message.contains("Import Result or External ID"));
    }

    #[test]
    fn outcomes_are_read_in_one_place() {
        assert_eq!(ImportOutcome::of(" Success "), ImportOutcome::Imported);
        assert_eq!(ImportOutcome::of("FAILURE"), ImportOutcome::Failed);
        assert_eq!(ImportOutcome::of("maybe"), ImportOutcome::Unrecognised);
    }
}
