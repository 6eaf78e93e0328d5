//! Amazon's ingestion reports, read back: whatever their format, one model.
//!
//! [`parse_report`] takes any `Read` (plain, gzip or zstd), recognises the
//! format by content, and hands each per-item result to a callback as it is
//! read, so JSON Lines and CSV reports of any size are read with flat
//! memory. HTML and single JSON documents are parsed whole, up to
//! [`ParseOptions::max_whole_bytes`] (64 MiB by default); a larger one is
//! [`Readability::TooLarge`]. Nothing in a report makes parsing fail: a bad
//! line is a [`ReportFinding`] with its line number and the rest still
//! counts; a file nothing can read is [`Readability::Unrecognised`]. Only a
//! failure of the input itself (the stream breaks) is an `Err`.
//!
//! [`summary`] turns the items into counts and samples and correlates the
//! report with the published ledger; [`rejections`] marks rejected items in
//! the catalog state; [`cadence`] checks the submission cadence.
//!
//! # What is inferred
//!
//! The format of EMBER ingestion reports is not public (DOMAIN.md A1). Every
//! assumption about it is here, with its evidence, so it can change in one
//! place when Amazon's word arrives:
//!
//! - **Formats.** Amazon's older Fire TV catalog pages describe reports as
//!   HTML files posted per upload ("verify your uploaded catalog file").
//!   Newer AWS services write JSON, JSON Lines or CSV reports (Buy with
//!   Prime's feed result is a CSV, DOMAIN.md B3). So all four are read, by
//!   content: `<` first is HTML; `[` first, or `{` first with a first line
//!   that is not a whole JSON value, is one JSON document; `{` first with a
//!   whole value on the first line is JSON Lines; otherwise CSV, if its
//!   first line names an item id and a status (or an error code) column,
//!   separated by `,`, `;`, tab or `|`.
//! - **Field names.** Matched case-insensitively, without separators,
//!   against the synonym lists in [`fields`] (`ITEM_ID`, `STATUS`,
//!   `ERROR_CODE`…), which take in the B3 result file's own headers
//!   ("Import Result", "Error Code(s)", "Error Detail(s)").
//! - **Status words.** `accepted/success/ok/…` accepted, `rejected/failed/
//!   error/…` rejected, `warning/accepted_with_warnings/…` a warning; any
//!   other word is `unknown` and kept. A record with an error code and no
//!   readable status is rejected.
//! - **Header facts.** A JSON document's top-level fields, a JSON Lines line
//!   without an item id, or `Name: value` lines of an HTML page's text give
//!   the report id, the submission it answers (a manifest or catalog name
//!   or key), the overall status and declared counts.
//! - **HTML tables.** A table whose header row (its `th` cells, else its
//!   first row) names an item id and a status or error code column holds
//!   per-item results, one row each; a row's "line" is its row number in
//!   the table. Without such a table, only the page's text is read.
//! - **Unknown fields** are kept in each item's `raw` record (and the
//!   header's), never dropped silently.

pub mod cadence;
pub mod fields;
mod html;
mod records;
pub mod rejections;
pub mod summary;
pub mod synthetic;

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::input::Compression;

/// The status of one item in a report.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// Ingested.
    Accepted,
    /// Refused: the item is not live at Amazon in this version.
    Rejected,
    /// Ingested with a warning.
    Warning,
    /// The report gave no status this code can read (kept in `raw`).
    #[default]
    Unknown,
}

impl ItemStatus {
    /// The status as written in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Accepted => "accepted",
            ItemStatus::Rejected => "rejected",
            ItemStatus::Warning => "warning",
            ItemStatus::Unknown => "unknown",
        }
    }
}

/// One item's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item's id.
    pub item_id: String,
    /// The version the report speaks of, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Accepted, rejected, warning or unknown.
    pub status: ItemStatus,
    /// The error code(s), `;`-separated when several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// 1-based line (a table's row number for HTML).
    pub line: u64,
    /// The fields this code does not know, as they were.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub raw: Map<String, Value>,
}

/// Counts a report declares about itself (not what was counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredCounts {
    /// Items processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Items accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    /// Items rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Items with warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<u64>,
}

/// What a report says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportHeader {
    /// The report's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    /// The submission it answers, as it names it (a manifest, a catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<String>,
    /// The overall status, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The counts it declares.
    #[serde(default)]
    pub declared: DeclaredCounts,
    /// Top-level fields this code does not know (at most 64).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub raw: Map<String, Value>,
}

/// The format a report was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// An HTML page.
    Html,
    /// One JSON document.
    Json,
    /// One JSON object a line.
    JsonLines,
    /// Comma- (or `;`, tab, `|`) separated values with a header row.
    Csv,
}

/// Whether the report could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "readable")]
pub enum Readability {
    /// Read (findings may still name bad lines).
    Read,
    /// Nothing could read it.
    Unrecognised {
        /// Why.
        reason: String,
    },
    /// An HTML or JSON document larger than it may be parsed whole.
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
}

/// A problem in one place of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFinding {
    /// 1-based line (0 when it is about the whole report).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// What parsing a report found, besides its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedReport {
    /// The format recognised, `None` when none.
    pub format: Option<ReportFormat>,
    /// The compression found.
    #[serde(with = "compression_name")]
    pub compression: Compression,
    /// Whether it could be read.
    #[serde(flatten)]
    pub readability: Readability,
    /// What it says about itself.
    pub header: ReportHeader,
    /// Items read.
    pub items: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Problems found, the first `max_findings`.
    pub findings: Vec<ReportFinding>,
    /// Problems found past the cap.
    pub findings_dropped: u64,
}

mod compression_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::input::Compression;

    pub fn serialize<S: Serializer>(value: &Compression, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match value {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        })
    }
}

/// Bounds on reading a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// The largest HTML or JSON document parsed whole (decompressed bytes).
    pub max_whole_bytes: u64,
    /// The longest line of JSON Lines (or CSV record) read; a longer one is
    /// a finding and skipped.
    pub max_line_bytes: usize,
    /// Findings kept; more are counted.
    pub max_findings: usize,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            max_whole_bytes: 64 << 20,
            max_line_bytes: 1 << 20,
            max_findings: 100,
        }
    }
}

/// The input itself failed (not the report's fault): retry.
#[derive(Debug, Error)]
#[error("reading the report failed after {offset} decompressed bytes: {source}; retry")]
pub struct ReportError {
    /// Decompressed bytes read before the failure.
    pub offset: u64,
    /// The I/O error.
    #[source]
    pub source: io::Error,
}

/// How many bytes are looked at to recognise the format.
const SNIFF_BYTES: usize = 64 * 1024;

/// Reads a report, handing each item to `on_item` as it is read.
pub fn parse_report<R: Read>(
    input: R,
    options: &ParseOptions,
    on_item: &mut dyn FnMut(&ItemResult),
) -> Result<ParsedReport, ReportError> {
    let failed = Rc::new(Cell::new(false));
    let watched = Watched {
        inner: input,
        failed: Rc::clone(&failed),
    };
    let (decoded, compression) =
        crate::input::open(watched).map_err(|source| ReportError { offset: 0, source })?;
    let mut ctx = Context {
        options: *options,
        findings: Vec::new(),
        findings_dropped: 0,
        source_failed: failed,
        bytes: 0,
        items: 0,
    };
    let mut decoded = Counting {
        inner: decoded,
        count: 0,
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    if let Err(error) = (&mut decoded)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
    {
        ctx.input_error(error, 0)?;
    }
    let format = recognise(&head);
    let mut header = ReportHeader::default();
    let rest = io::Cursor::new(head).chain(&mut decoded);
    let reader = BufReader::with_capacity(crate::input::READ_BUFFER, rest);
    let readability = match &format {
        Err(reason) => Readability::Unrecognised {
            reason: reason.clone(),
        },
        Ok(format) => {
            let format = *format;
            let mut count = |item: &ItemResult| {
                on_item(item);
            };
            let outcome = match format {
                ReportFormat::JsonLines => {
                    records::json_lines(reader, &mut ctx, &mut header, &mut count)
                }
                ReportFormat::Csv => records::csv(reader, &mut ctx, &mut header, &mut count),
                ReportFormat::Json => records::json(reader, &mut ctx, &mut header, &mut count),
                ReportFormat::Html => html::read(reader, &mut ctx, &mut header, &mut count),
            }?;
            match outcome {
                Readability::Read if ctx.items == 0 && header == ReportHeader::default() => {
                    Readability::Unrecognised {
                        reason: format!(
                            "looked like {} but held no item result and no report field",
                            format_name(format)
                        ),
                    }
                }
                other => other,
            }
        }
    };
    let recognised = !matches!(readability, Readability::Unrecognised { .. });
    Ok(ParsedReport {
        format: format.ok().filter(|_| recognised),
        compression,
        readability,
        header,
        items: ctx.items,
        bytes: decoded.count,
        findings: ctx.findings,
        findings_dropped: ctx.findings_dropped,
    })
}

fn format_name(format: ReportFormat) -> &'static str {
    match format {
        ReportFormat::Html => "HTML",
        ReportFormat::Json => "a JSON document",
        ReportFormat::JsonLines => "JSON Lines",
        ReportFormat::Csv => "CSV",
    }
}

/// Recognises the format from the first bytes (decompressed).
fn recognise(head: &[u8]) -> Result<ReportFormat, String> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err("empty".to_owned());
    };
    let text = &text[start..];
    if text.contains(&0) {
        return Err("binary content (NUL bytes)".to_owned());
    }
    // A cut multi-byte character at the end of the sniffed bytes is fine.
    if let Err(e) = std::str::from_utf8(text)
        && (e.error_len().is_some() || text.len() < SNIFF_BYTES - 4)
    {
        return Err(format!(
            "not UTF-8 text (invalid byte at offset {})",
            start + e.valid_up_to()
        ));
    }
    match text[0] {
        b'<' => Ok(ReportFormat::Html),
        b'[' => Ok(ReportFormat::Json),
        b'{' => {
            let first_line = text.split(|&b| b == b'\n').next().unwrap_or(text);
            let whole_line = first_line.len() < text.len() || text.len() < SNIFF_BYTES;
            if whole_line && serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_ok() {
                Ok(ReportFormat::JsonLines)
            } else {
                Ok(ReportFormat::Json)
            }
        }
        _ => {
            let first_line = text.split(|&b| b == b'\n').next().unwrap_or(text);
            let line = String::from_utf8_lossy(first_line);
            match records::csv_header(&line) {
                Some(_) => Ok(ReportFormat::Csv),
                None => Err(
                    "not HTML, JSON or JSON Lines, and the first line names no item id and status columns"
                        .to_owned(),
                ),
            }
        }
    }
}

/// What the format readers share: options, findings, counts.
pub(crate) struct Context {
    options: ParseOptions,
    findings: Vec<ReportFinding>,
    findings_dropped: u64,
    source_failed: Rc<Cell<bool>>,
    bytes: u64,
    items: u64,
}

impl Context {
    /// Reads a report that is parsed whole, up to `max_whole_bytes`;
    /// `None` when it is larger (the caller answers `TooLarge`).
    pub(crate) fn read_whole<R: Read>(
        &mut self,
        reader: R,
    ) -> Result<Option<Vec<u8>>, ReportError> {
        let limit = self.options.max_whole_bytes;
        let mut bytes = Vec::new();
        if let Err(error) = reader.take(limit + 1).read_to_end(&mut bytes) {
            self.input_error(error, 0)?;
        }
        Ok((bytes.len() as u64 <= limit).then_some(bytes))
    }

    /// Records a finding (capped).
    pub(crate) fn finding(&mut self, line: u64, message: impl Into<String>) {
        if self.findings.len() < self.options.max_findings {
            let mut message = message.into();
            if message.len() > 1024 {
                let mut cut = 1024;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push('…');
            }
            self.findings.push(ReportFinding { line, message });
        } else {
            self.findings_dropped += 1;
        }
    }

    /// An I/O error while reading: `Err` if the input itself failed (retry),
    /// else the decoded stream is corrupt or cut: a finding, and reading stops.
    pub(crate) fn input_error(&mut self, error: io::Error, line: u64) -> Result<(), ReportError> {
        if self.source_failed.get() {
            return Err(ReportError {
                offset: self.bytes,
                source: error,
            });
        }
        self.finding(
            line,
            format!(
                "the report ends early or its compressed stream is corrupt ({error}); what was read before counts"
            ),
        );
        Ok(())
    }

    pub(crate) fn options(&self) -> &ParseOptions {
        &self.options
    }

    pub(crate) fn item(&mut self, item: &ItemResult, on_item: &mut dyn FnMut(&ItemResult)) {
        self.items += 1;
        on_item(item);
    }
}

/// The raw input, noting whether it failed (as opposed to the decoder).
struct Watched<R> {
    inner: R,
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.set(true);
            }
        })
    }
}

/// Counts the decompressed bytes read.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (ParsedReport, Vec<ItemResult>) {
        let mut items = Vec::new();
        let parsed = parse_report(bytes, &ParseOptions::default(), &mut |i| {
            items.push(i.clone())
        })
        .unwrap();
        (parsed, items)
    }

    #[test]
    fn formats_are_recognised_by_content() {
        assert_eq!(recognise(b"<html>"), Ok(ReportFormat::Html));
        assert_eq!(recognise(b"  [1]"), Ok(ReportFormat::Json));
        assert_eq!(
            recognise(b"{\"a\":1}\n{\"a\":2}\n"),
            Ok(ReportFormat::JsonLines)
        );
        assert_eq!(recognise(b"{\n \"a\": 1\n}\n"), Ok(ReportFormat::Json));
        assert_eq!(recognise(b"id,status\nA,ok\n"), Ok(ReportFormat::Csv));
        assert!(recognise(b"hello world\n").is_err());
        assert!(recognise(b"").is_err());
        assert!(recognise(b"\x00\x01\x02garbage").is_err());
    }

    #[test]
    fn garbage_is_unrecognised_not_an_error() {
        let (parsed, items) = parse(b"\x89PNG\r\n\x1a\n\x00\x00binary");
        assert!(items.is_empty());
        assert!(matches!(
            parsed.readability,
            Readability::Unrecognised { .. }
        ));
        assert_eq!(parsed.format, None);
    }

    #[test]
    fn a_broken_input_is_an_error_to_retry() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        let err = parse_report(Broken, &ParseOptions::default(), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("retry"), "{err}");
    }
}
