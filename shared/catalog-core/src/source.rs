//! The provider source format: what a provider exports from its own system.
//!
//! Two shapes, each optionally zstd- or gzip-compressed (sniffed, not guessed
//! from the name):
//!
//! - **JSON Lines** (`.jsonl`): one object per line with a `type` of `movie`,
//!   `series`, `season` or `episode`. See [`SourceRecord`] for the fields.
//!   Parents come before their children: a series before its seasons, a
//!   season before its episodes.
//! - **CSV** (`.csv`): a flat list of movies with a header row. See
//!   [`CsvMovie`] for the columns.
//!
//! [`SourceLoader`] streams rows into [`Item`]s. A bad row (not JSON, unknown
//! type or field, missing title, bad date, duplicate id, an episode whose
//! season is not earlier in the export, …) becomes a [`Finding`] with its
//! line number and is left out; good rows still go through. Text XML cannot
//! carry (control characters) is removed with a warning, never silently.
//!
//! The rules on values are [`rules::check_item`]'s, the same the XML reader
//! applies.

use std::io::{self, BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::finding::{Finding, Findings, Position, Rule};
use crate::ids::{IdHashMap, IdSet, id_hash};
use crate::input::{self, Compression, LimitExceeded, Limits, Tracked};
use crate::json_rows::JsonRows;
use crate::model::{
    Credit, Image, Item, ItemKind, KindTag, LocalizedText, Metadata, Offer, OfferKind, Price,
    Rating,
};
use crate::rules::{self, is_xml_char};

/// The shape of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// One JSON object per line.
    JsonLines,
    /// A CSV list of movies with a header row.
    Csv,
}

impl SourceFormat {
    /// Guesses the format from a file name: `.csv` (optionally `.gz`/`.zst`
    /// after it) is CSV, anything else JSON Lines.
    pub fn from_path(path: &Path) -> SourceFormat {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let name = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name);
        if name.ends_with(".csv") {
            SourceFormat::Csv
        } else {
            SourceFormat::JsonLines
        }
    }
}

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The locale of titles whose row names none.
    pub default_locale: String,
    /// Size bounds on the (decompressed) input; one token is one line.
    pub limits: Limits,
    /// How many findings to keep (all are counted).
    pub max_findings: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            default_locale: "en-US".into(),
            limits: Limits {
                max_token_bytes: 1 << 20,
                ..Limits::default()
            },
            max_findings: Findings::DEFAULT_CAP,
        }
    }
}

/// The source input failed underneath the loader, or a bound was crossed.
///
/// What the export says is never an error: a bad row, bytes that are not
/// UTF-8, a line over the bound, an unusable CSV header are findings.
#[derive(Debug, Error)]
pub enum LoadError {
    /// Reading failed (or a compressed stream is corrupt).
    #[error("could not read the source export: {0}")]
    Io(#[from] io::Error),
    /// The input crossed a size bound.
    #[error("the source export is too large: {0}")]
    TooLarge(LimitExceeded),
}

impl LoadError {
    fn from_io(error: io::Error) -> LoadError {
        match LimitExceeded::from_io(&error) {
            Some(limit) => LoadError::TooLarge(limit.clone()),
            None => LoadError::Io(error),
        }
    }
}

/// One JSON Lines row. Unknown fields are refused (a typo must not vanish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRecord {
    /// `movie`, `series`, `season` or `episode`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider's id, unique in the export.
    pub id: String,
    /// An explicit version; when absent, 1 (or what the catalog state assigns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A language tag; the loader's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synopsis: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    /// Whole minutes, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_minutes: Option<u32>,
    /// Genre names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genres: Vec<String>,
    /// `{"system": "MPAA", "value": "PG-13"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<SourceRating>,
    /// `[{"role": "director", "name": "…"}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<SourceCredit>,
    /// `[{"type": "poster", "url": "https://…"}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<SourceImage>,
    /// Availability windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<SourceOffer>,
    /// The URI that opens the title in the provider's app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_link: Option<String>,
    /// Seasons and episodes: the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_id: Option<String>,
    /// Episodes: the season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season_id: Option<String>,
    /// Seasons: the season's number (0 for specials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season_number: Option<u32>,
    /// Episodes: the episode's number within its season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_number: Option<u32>,
}

/// A rating in a source row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRating {
    /// e.g. `MPAA`.
    pub system: String,
    /// e.g. `PG-13`.
    pub value: String,
}

/// A credit in a source row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCredit {
    /// e.g. `actor`.
    pub role: String,
    /// The person.
    pub name: String,
}

/// An image in a source row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceImage {
    /// e.g. `poster`.
    #[serde(rename = "type")]
    pub kind: String,
    /// An absolute http(s) URL.
    pub url: String,
}

/// An offer in a source row. `regions` lists where it applies; each region
/// becomes one `<Offer>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceOffer {
    /// `subscription`, `free`, `purchase` or `rental`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Two-letter region codes.
    pub regions: Vec<String>,
    /// RFC 3339 start of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// RFC 3339 end of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// A decimal string (`"3.99"`); required for purchase and rental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// ISO 4217 code, with the price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// One CSV row: a movie. Lists (`genres`, `regions`) are `|`-separated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CsvMovie {
    /// Required.
    pub id: String,
    /// Required.
    pub title: String,
    /// Optional; the loader's default when empty.
    #[serde(default)]
    pub locale: String,
    /// Optional.
    #[serde(default)]
    pub synopsis: String,
    /// Optional, `YYYY-MM-DD`.
    #[serde(default)]
    pub release_date: String,
    /// Optional whole minutes.
    #[serde(default)]
    pub runtime_minutes: String,
    /// `Drama|Crime`.
    #[serde(default)]
    pub genres: String,
    /// With `rating`.
    #[serde(default)]
    pub rating_system: String,
    /// With `rating_system`.
    #[serde(default)]
    pub rating: String,
    /// A poster image URL.
    #[serde(default)]
    pub poster_url: String,
    /// The app deep link.
    #[serde(default)]
    pub deep_link: String,
    /// `subscription`, `free`, `purchase` or `rental`; empty for no offer.
    #[serde(default)]
    pub offer_type: String,
    /// `US|CA`.
    #[serde(default)]
    pub regions: String,
    /// RFC 3339.
    #[serde(default)]
    pub offer_start: String,
    /// RFC 3339.
    #[serde(default)]
    pub offer_end: String,
    /// Decimal, for purchase and rental.
    #[serde(default)]
    pub price: String,
    /// ISO 4217, with the price.
    #[serde(default)]
    pub currency: String,
    /// An explicit version.
    #[serde(default)]
    pub version: String,
}

/// What a finished load found.
#[derive(Debug)]
pub struct LoadReport {
    /// Every problem found, by line.
    pub findings: Findings,
    /// Items yielded per kind, indexed like [`KindTag::ALL`].
    pub items: [u64; 4],
    /// Rows read (not counting blank lines and the CSV header).
    pub rows: u64,
    /// Rows left out.
    pub rejected: u64,
    /// The ids of the rows left out, where the row named one: the export
    /// still lists these items, so a diff must not take them for removed.
    pub rejected_ids: Vec<String>,
    /// Rows left out whose id could not be made out at all.
    pub unreadable_rows: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// The compression the input had.
    pub compression: Compression,
}

impl LoadReport {
    /// All items yielded.
    pub fn total_items(&self) -> u64 {
        self.items.iter().sum()
    }
}

/// Why a row could not be parsed.
struct Unparsed {
    /// The rule the row breaks.
    rule: Rule,
    /// What is wrong; `None` when a finding already said so (every row
    /// under an unusable CSV header).
    message: Option<String>,
    /// The row's id, when it could still be made out.
    id: Option<String>,
}

impl Unparsed {
    fn syntax(message: String, id: Option<String>) -> Unparsed {
        Unparsed {
            rule: Rule::SourceSyntax,
            message: Some(message),
            id,
        }
    }
}

/// A row as read: its line, and the record or why it could not be parsed.
type RawRow = (u64, Result<SourceRecord, Unparsed>);

/// A JSON Lines row as parsed (on the parsing thread, see
/// [`JsonRows`]): the row, and the text fields that held JSON numbers.
struct JsonRow {
    row: RawRow,
    numbers_as_text: Vec<(&'static str, String)>,
}

/// Parses one non-blank line of a JSON Lines export.
fn parse_json_row(line_number: u64, line: &[u8]) -> JsonRow {
    let mut numbers = Vec::new();
    let parsed = match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str::<SourceRecord>(text).or_else(|e| {
            // Real exports hold titles like 1776 or 300 as JSON
            // numbers: taken as text, with a warning. Only on
            // this error path, so good rows pay nothing.
            numbers_as_text(text, &mut numbers)
                .ok_or_else(|| Unparsed::syntax(describe_json_error(e), id_of_json_row(text)))
        }),
        Err(error) => Err(Unparsed {
            rule: Rule::SourceEncoding,
            message: Some(format!(
                "the line holds bytes that are not UTF-8 (at column {}); the row is left out",
                error.valid_up_to() + 1
            )),
            // An id holding a replaced byte is not the item's.
            id: id_of_json_row(&String::from_utf8_lossy(line))
                .filter(|id| !id.contains(char::REPLACEMENT_CHARACTER)),
        }),
    };
    JsonRow {
        row: (line_number, parsed),
        numbers_as_text: numbers,
    }
}

enum Rows<'a> {
    Json(Box<JsonRows<'a, JsonRow>>),
    Csv {
        reader: Box<csv::Reader<Tracked<Box<dyn BufRead + 'a>>>>,
        /// The header row, when it is usable.
        headers: Option<csv::StringRecord>,
        record: csv::ByteRecord,
        /// A row over the bound stopped the reading: where the next row
        /// starts cannot be found in what follows.
        stopped: bool,
    },
}

/// Streams a source export into items, reporting bad rows.
pub struct SourceLoader<'a> {
    rows: Rows<'a>,
    options: LoadOptions,
    compression: Compression,
    findings: Findings,
    ids: IdSet,
    series: IdSet,
    /// Season id hash → the season's series id.
    seasons: IdHashMap<String>,
    items: [u64; 4],
    rows_read: u64,
    rejected: u64,
    rejected_ids: Vec<String>,
    unreadable: u64,
    /// Text fields of the row just read that held JSON numbers, taken as text.
    numbers_as_text: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for SourceLoader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceLoader")
            .field("rows_read", &self.rows_read)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<'a> SourceLoader<'a> {
    /// Opens a source export of the given format, sniffing compression.
    pub fn new<R: Read + 'a>(
        input: R,
        format: SourceFormat,
        options: LoadOptions,
    ) -> Result<SourceLoader<'a>, LoadError> {
        let (decoded, compression) = input::open(input)?;
        let tracked = Tracked::new(decoded, &options.limits);
        let mut findings = Findings::with_cap(options.max_findings);
        let rows = match format {
            SourceFormat::JsonLines => {
                let max_line = options.limits.max_token_bytes;
                let too_long = move |line_number, start: &[u8]| {
                    let message = format!(
                        "the line is longer than the limit of {max_line} bytes; the row is left out"
                    );
                    let unparsed = Unparsed {
                        rule: Rule::SourceRowTooLarge,
                        message: Some(message),
                        id: json_id_prefix(start),
                    };
                    JsonRow {
                        row: (line_number, Err(unparsed)),
                        numbers_as_text: Vec::new(),
                    }
                };
                Rows::Json(Box::new(JsonRows::new(
                    tracked,
                    max_line,
                    parse_json_row,
                    Box::new(too_long),
                )))
            }
            SourceFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .trim(csv::Trim::Headers)
                    .from_reader(tracked);
                let headers = match csv_headers(&mut reader)? {
                    Ok(headers) => Some(headers),
                    Err(message) => {
                        let at = Position {
                            line: 1,
                            column: 0,
                            offset: 0,
                        };
                        findings.push(Finding::error(Rule::SourceHeader, at, message));
                        None
                    }
                };
                Rows::Csv {
                    reader: Box::new(reader),
                    headers,
                    record: csv::ByteRecord::new(),
                    stopped: false,
                }
            }
        };
        Ok(SourceLoader {
            rows,
            findings,
            options,
            compression,
            ids: IdSet::new(),
            series: IdSet::new(),
            seasons: IdHashMap::default(),
            items: [0; 4],
            rows_read: 0,
            rejected: 0,
            rejected_ids: Vec::new(),
            unreadable: 0,
            numbers_as_text: Vec::new(),
        })
    }

    /// The findings so far.
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// The compression the input was found to have.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Decompressed bytes read so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        match &self.rows {
            Rows::Json(rows) => rows.input().offset(),
            Rows::Csv { reader, .. } => reader.get_ref().offset(),
        }
    }

    /// The next good item, or `None` at the end. Bad rows are reported and skipped.
    pub fn next_item(&mut self) -> Result<Option<Item>, LoadError> {
        loop {
            let Some((line, record)) = self.next_record()? else {
                return Ok(None);
            };
            self.rows_read += 1;
            let position = Position {
                line,
                column: 0,
                offset: 0,
            };
            let id = record.as_ref().ok().map(|r| r.id.clone());
            for (field, number) in std::mem::take(&mut self.numbers_as_text) {
                let mut finding = Finding::warning(
                    Rule::SourceNumberAsText,
                    position,
                    format!(
                        "{field} is the JSON number {number}; it is taken as the text {number:?}"
                    ),
                );
                if let Some(id) = &id {
                    finding = finding.for_item(id.clone());
                }
                self.findings.push(finding);
            }
            match self.admit(record, position) {
                Some(item) => {
                    self.items[item.kind.tag() as usize] += 1;
                    return Ok(Some(item));
                }
                None => self.rejected += 1,
            }
        }
    }

    /// Ends the load and reports.
    pub fn finish(self) -> LoadReport {
        let bytes = self.bytes_read();
        LoadReport {
            findings: self.findings,
            items: self.items,
            rows: self.rows_read,
            rejected: self.rejected,
            rejected_ids: self.rejected_ids,
            unreadable_rows: self.unreadable,
            bytes,
            compression: self.compression,
        }
    }

    /// Reads the next non-blank row as a record, or why it cannot be
    /// parsed. `Ok(None)` at the end of input.
    fn next_record(&mut self) -> Result<Option<RawRow>, LoadError> {
        match &mut self.rows {
            Rows::Json(rows) => {
                let Some(JsonRow {
                    row,
                    numbers_as_text,
                }) = rows.next_row().map_err(LoadError::from_io)?
                else {
                    return Ok(None);
                };
                self.numbers_as_text = numbers_as_text;
                Ok(Some(row))
            }
            Rows::Csv {
                reader,
                headers,
                record,
                stopped,
            } => {
                if *stopped {
                    return Ok(None);
                }
                reader.get_mut().mark_token();
                match reader.read_byte_record(record) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let line = record.position().map_or(0, csv::Position::line);
                        let Some(headers) = headers else {
                            // The header finding said why no row can be read.
                            let unparsed = Unparsed {
                                rule: Rule::SourceHeader,
                                message: None,
                                id: None,
                            };
                            return Ok(Some((line, Err(unparsed))));
                        };
                        Ok(Some((line, csv_row(headers, record))))
                    }
                    Err(error) => {
                        if let csv::ErrorKind::Io(io) = error.kind() {
                            if let Some(LimitExceeded::Token { limit }) = LimitExceeded::from_io(io)
                            {
                                *stopped = true;
                                let message = format!(
                                    "the row is longer than the limit of {limit} bytes; \
                                     it and the rest of the export were not read"
                                );
                                let unparsed = Unparsed {
                                    rule: Rule::SourceRowTooLarge,
                                    message: Some(message),
                                    id: None,
                                };
                                return Ok(Some((reader.position().line(), Err(unparsed))));
                            }
                            return Err(csv_io_error(io));
                        }
                        let line = error.position().map_or(0, csv::Position::line);
                        let message = format!("not a valid row: {error}");
                        Ok(Some((line, Err(Unparsed::syntax(message, None)))))
                    }
                }
            }
        }
    }

    /// Turns a parsed row into an item, or reports why not.
    fn admit(
        &mut self,
        record: Result<SourceRecord, Unparsed>,
        position: Position,
    ) -> Option<Item> {
        let mut record = match record {
            Ok(record) => record,
            Err(Unparsed { rule, message, id }) => {
                let finding = message.map(|message| Finding::error(rule, position, message));
                let finding = match id {
                    Some(id) => {
                        let finding = finding.map(|f| f.for_item(&id));
                        self.rejected_ids.push(id);
                        finding
                    }
                    None => {
                        self.unreadable += 1;
                        finding
                    }
                };
                if let Some(finding) = finding {
                    self.findings.push(finding);
                }
                return None;
            }
        };
        let removed = strip_control_characters(&mut record);
        let id = record.id.clone();
        let error =
            |rule: Rule, message: String| Finding::error(rule, position, message).for_item(&id);
        for (field, c) in removed {
            self.findings.push(
                Finding::warning(
                    Rule::ControlCharacter,
                    position,
                    format!(
                        "{field} held U+{:04X}, which XML cannot carry; it was removed",
                        c as u32
                    ),
                )
                .for_item(&id),
            );
        }
        let mut problems: Vec<Finding> = Vec::new();
        if record.id.trim().is_empty() {
            problems.push(error(Rule::MissingId, "the row has an empty id".into()));
        }
        let Some(kind) = KindTag::ALL
            .into_iter()
            .find(|k| k.source_name() == record.kind)
        else {
            problems.push(error(
                Rule::SourceType,
                format!(
                    "type {:?} is not movie, series, season or episode",
                    record.kind
                ),
            ));
            return self.reject(problems, &id);
        };
        let item_kind = match self.item_kind(kind, &record, &mut problems, &error) {
            Some(k) => k,
            None => return self.reject(problems, &id),
        };
        let Some(title) = record.title.take().filter(|t| !t.trim().is_empty()) else {
            problems.push(error(
                Rule::RequiredChild,
                format!("the {kind} has no title"),
            ));
            return self.reject(problems, &id);
        };
        let version = record.version.unwrap_or(1);
        let meta = match self.metadata(title, record, &mut problems, &error) {
            Some(meta) => meta,
            None => return self.reject(problems, &id),
        };
        let item = Item {
            id: id.clone(),
            version,
            kind: item_kind,
            meta,
        };
        rules::check_item(&item, &mut |rule, message| {
            problems.push(error(rule, message))
        });
        if !problems.is_empty() {
            return self.reject(problems, &id);
        }
        if !self.ids.insert(&item.id) {
            return self.reject(
                vec![error(
                    Rule::DuplicateId,
                    format!(
                        "id {:?} appears earlier in the export; this row is left out",
                        item.id
                    ),
                )],
                &id,
            );
        }
        match &item.kind {
            ItemKind::Series => {
                self.series.insert(&item.id);
            }
            ItemKind::Season { series_id, .. } => {
                self.seasons.insert(id_hash(&item.id), series_id.clone());
            }
            ItemKind::Movie | ItemKind::Episode { .. } => {}
        }
        Some(item)
    }

    fn reject(&mut self, problems: Vec<Finding>, id: &str) -> Option<Item> {
        if !id.trim().is_empty() {
            self.rejected_ids.push(id.to_owned());
        }
        for finding in problems {
            self.findings.push(finding);
        }
        None
    }

    /// The kind-specific part, checking parents appear earlier in the export.
    fn item_kind(
        &self,
        kind: KindTag,
        record: &SourceRecord,
        problems: &mut Vec<Finding>,
        error: &dyn Fn(Rule, String) -> Finding,
    ) -> Option<ItemKind> {
        let mut missing = |field: &str| {
            problems.push(error(
                Rule::RequiredChild,
                format!("the {kind} has no {field}"),
            ));
        };
        match kind {
            KindTag::Movie => Some(ItemKind::Movie),
            KindTag::Series => Some(ItemKind::Series),
            KindTag::Season => {
                let (Some(series_id), Some(season_number)) =
                    (record.series_id.clone(), record.season_number)
                else {
                    if record.series_id.is_none() {
                        missing("series_id");
                    }
                    if record.season_number.is_none() {
                        missing("season_number");
                    }
                    return None;
                };
                if !self.series.contains(&series_id) {
                    problems.push(error(
                        Rule::ParentMissing,
                        format!(
                            "season names series {series_id:?}, which is not earlier in the export"
                        ),
                    ));
                    return None;
                }
                Some(ItemKind::Season {
                    series_id,
                    season_number,
                })
            }
            KindTag::Episode => {
                let (Some(season_id), Some(episode_number)) =
                    (record.season_id.clone(), record.episode_number)
                else {
                    if record.season_id.is_none() {
                        missing("season_id");
                    }
                    if record.episode_number.is_none() {
                        missing("episode_number");
                    }
                    return None;
                };
                let Some(season_series) = self.seasons.get(&id_hash(&season_id)) else {
                    problems.push(error(
                        Rule::ParentMissing,
                        format!(
                            "episode names season {season_id:?}, which is not earlier in the export"
                        ),
                    ));
                    return None;
                };
                let series_id = match &record.series_id {
                    Some(named) if named != season_series => {
                        problems.push(error(
                            Rule::ParentKind,
                            format!("episode names series {named:?}, but its season {season_id:?} belongs to {season_series:?}"),
                        ));
                        return None;
                    }
                    _ => season_series.clone(),
                };
                Some(ItemKind::Episode {
                    series_id,
                    season_id,
                    episode_number,
                })
            }
        }
    }

    fn metadata(
        &self,
        title: String,
        record: SourceRecord,
        problems: &mut Vec<Finding>,
        error: &dyn Fn(Rule, String) -> Finding,
    ) -> Option<Metadata> {
        let mut offers = Vec::new();
        for offer in record.offers {
            let Some(kind) = OfferKind::parse(&offer.kind) else {
                problems.push(error(
                    Rule::BadValue,
                    format!(
                        "offer type {:?} is not subscription, free, purchase or rental",
                        offer.kind
                    ),
                ));
                continue;
            };
            if offer.regions.is_empty() {
                problems.push(error(
                    Rule::RequiredChild,
                    format!("the {} offer lists no regions", offer.kind),
                ));
            }
            let price = match (offer.price, offer.currency) {
                (Some(amount), Some(currency)) => Some(Price { amount, currency }),
                (None, None) => None,
                (Some(_), None) => {
                    problems.push(error(
                        Rule::RequiredChild,
                        format!("the {} offer has a price but no currency", offer.kind),
                    ));
                    None
                }
                (None, Some(_)) => {
                    problems.push(error(
                        Rule::RequiredChild,
                        format!("the {} offer has a currency but no price", offer.kind),
                    ));
                    None
                }
            };
            for region in offer.regions {
                offers.push(Offer {
                    kind,
                    region,
                    start: offer.start.clone(),
                    end: offer.end.clone(),
                    price: price.clone(),
                });
            }
        }
        if !problems.is_empty() {
            return None;
        }
        Some(Metadata {
            title: LocalizedText {
                locale: record
                    .locale
                    .unwrap_or_else(|| self.options.default_locale.clone()),
                text: title,
            },
            synopsis: record.synopsis,
            release_date: record.release_date,
            runtime_minutes: record.runtime_minutes,
            genres: record.genres,
            rating: record.rating.map(|r| Rating {
                system: r.system,
                value: r.value,
            }),
            credits: record
                .credits
                .into_iter()
                .map(|c| Credit {
                    role: c.role,
                    name: c.name,
                })
                .collect(),
            images: record
                .images
                .into_iter()
                .map(|i| Image {
                    kind: i.kind,
                    url: i.url,
                })
                .collect(),
            offers,
            deep_link: record.deep_link,
        })
    }
}

/// The `id` of a row that did not parse as a record, if it is JSON at all.
fn id_of_json_row(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let id = value.get("id")?.as_str()?.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// The `id` of a JSON row cut short (a line over the bound), if it comes
/// first and is a plain string: `{"id":"…"` or `{"type":"…","id":"…"`.
fn json_id_prefix(line: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&line[..error.valid_up_to()]).ok()?,
    };
    let start = text.find("\"id\":\"")? + 6;
    let rest = text.get(start..)?;
    let end = rest.find(['"', '\\'])?;
    let id = rest[..end].trim();
    (!id.is_empty() && id.len() <= rules::MAX_ID_BYTES).then(|| id.to_owned())
}

/// Reads the CSV header row: `Err` with what is wrong when it is not usable
/// (not UTF-8, or without an `id` or `title` column).
fn csv_headers<R: io::Read>(
    reader: &mut csv::Reader<R>,
) -> Result<Result<csv::StringRecord, String>, LoadError> {
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(error) => {
            if let csv::ErrorKind::Io(io) = error.kind() {
                return Err(csv_io_error(io));
            }
            return Ok(Err(format!(
                "the header row cannot be read: {error}; no row was read"
            )));
        }
    };
    for required in ["id", "title"] {
        if !headers.iter().any(|h| h == required) {
            return Ok(Err(format!(
                "the header row {:?} has no {required:?} column; no row was read",
                headers.iter().collect::<Vec<_>>().join(",")
            )));
        }
    }
    Ok(Ok(headers))
}

/// The load error for an I/O error the CSV reader holds (by reference,
/// so it is rebuilt; a crossed bound stays one).
fn csv_io_error(io: &io::Error) -> LoadError {
    match LimitExceeded::from_io(io) {
        Some(limit) => LoadError::TooLarge(limit.clone()),
        None => LoadError::Io(io::Error::new(io.kind(), io.to_string())),
    }
}

/// One CSV row as a record, or why not (bytes that are not UTF-8 are
/// named by column).
fn csv_row(headers: &csv::StringRecord, row: &csv::ByteRecord) -> Result<SourceRecord, Unparsed> {
    let id = headers
        .iter()
        .position(|h| h == "id")
        .and_then(|at| row.get(at))
        .and_then(|id| std::str::from_utf8(id).ok())
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned);
    if let Some(at) = row
        .iter()
        .position(|field| std::str::from_utf8(field).is_err())
    {
        let column = headers.get(at).unwrap_or("?");
        let message =
            format!("column {column:?} holds bytes that are not UTF-8; the row is left out");
        return Err(Unparsed {
            rule: Rule::SourceEncoding,
            message: Some(message),
            id,
        });
    }
    row.deserialize::<CsvMovie>(Some(headers.as_byte_record()))
        .map_err(|e| format!("not a valid row: {e}"))
        .and_then(csv_to_record)
        .map_err(|message| Unparsed::syntax(message, id))
}

/// serde_json says "at line 1 column N" of the one-line string; the finding
/// already names the file's line, so keep only the column.
fn describe_json_error(error: serde_json::Error) -> String {
    let message = error.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |at| &message[..at]);
    format!("not a valid row: {message} (at column {})", error.column())
}

/// Turns a CSV movie row into the JSON Lines record shape.
fn csv_to_record(row: CsvMovie) -> Result<SourceRecord, String> {
    let some = |s: String| (!s.trim().is_empty()).then_some(s);
    let list = |s: &str| -> Vec<String> {
        s.split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let runtime_minutes = match some(row.runtime_minutes) {
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .map_err(|_| format!("runtime_minutes {text:?} is not a whole number"))?,
        ),
        None => None,
    };
    let version = match some(row.version) {
        Some(text) => Some(
            crate::reader::parse_version(text.trim())
                .ok_or_else(|| format!("version {text:?} is not a positive integer"))?,
        ),
        None => None,
    };
    let rating = match (some(row.rating_system), some(row.rating)) {
        (Some(system), Some(value)) => Some(SourceRating { system, value }),
        (None, None) => None,
        _ => return Err("rating_system and rating go together; give both or neither".into()),
    };
    let offers = match some(row.offer_type) {
        Some(kind) => vec![SourceOffer {
            kind,
            regions: list(&row.regions),
            start: some(row.offer_start),
            end: some(row.offer_end),
            price: some(row.price),
            currency: some(row.currency),
        }],
        None => Vec::new(),
    };
    Ok(SourceRecord {
        kind: "movie".into(),
        id: row.id,
        version,
        title: some(row.title),
        locale: some(row.locale),
        synopsis: some(row.synopsis),
        release_date: some(row.release_date),
        runtime_minutes,
        genres: list(&row.genres),
        rating,
        images: some(row.poster_url)
            .map(|url| {
                vec![SourceImage {
                    kind: "poster".into(),
                    url,
                }]
            })
            .unwrap_or_default(),
        offers,
        deep_link: some(row.deep_link),
        ..SourceRecord::default()
    })
}

/// Removes characters XML cannot carry from every text field, returning
/// which field held which character.
fn strip_control_characters(record: &mut SourceRecord) -> Vec<(&'static str, char)> {
    let mut removed = Vec::new();
    let mut clean = |field: &'static str, text: &mut String| {
        if let Some(c) = crate::rules::first_non_xml_char(text) {
            removed.push((field, c));
            text.retain(is_xml_char);
        }
    };
    let opt =
        |field, text: &mut Option<String>, clean: &mut dyn FnMut(&'static str, &mut String)| {
            if let Some(text) = text {
                clean(field, text);
            }
        };
    clean("id", &mut record.id);
    opt("title", &mut record.title, &mut clean);
    opt("locale", &mut record.locale, &mut clean);
    opt("synopsis", &mut record.synopsis, &mut clean);
    opt("deep_link", &mut record.deep_link, &mut clean);
    opt("series_id", &mut record.series_id, &mut clean);
    opt("season_id", &mut record.season_id, &mut clean);
    for genre in &mut record.genres {
        clean("genres", genre);
    }
    if let Some(rating) = &mut record.rating {
        clean("rating", &mut rating.value);
        clean("rating", &mut rating.system);
    }
    for credit in &mut record.credits {
        clean("credits", &mut credit.name);
        clean("credits", &mut credit.role);
    }
    removed
}

impl From<&Item> for SourceRecord {
    /// The source row an item would come from (offers one per region).
    fn from(item: &Item) -> SourceRecord {
        let meta = &item.meta;
        let (series_id, season_id, season_number, episode_number) = match &item.kind {
            ItemKind::Movie | ItemKind::Series => (None, None, None, None),
            ItemKind::Season {
                series_id,
                season_number,
            } => (Some(series_id.clone()), None, Some(*season_number), None),
            ItemKind::Episode {
                series_id,
                season_id,
                episode_number,
            } => (
                Some(series_id.clone()),
                Some(season_id.clone()),
                None,
                Some(*episode_number),
            ),
        };
        SourceRecord {
            kind: item.kind.tag().source_name().into(),
            id: item.id.clone(),
            version: None,
            title: Some(meta.title.text.clone()),
            locale: Some(meta.title.locale.clone()),
            synopsis: meta.synopsis.clone(),
            release_date: meta.release_date.clone(),
            runtime_minutes: meta.runtime_minutes,
            genres: meta.genres.clone(),
            rating: meta.rating.as_ref().map(|r| SourceRating {
                system: r.system.clone(),
                value: r.value.clone(),
            }),
            credits: meta
                .credits
                .iter()
                .map(|c| SourceCredit {
                    role: c.role.clone(),
                    name: c.name.clone(),
                })
                .collect(),
            images: meta
                .images
                .iter()
                .map(|i| SourceImage {
                    kind: i.kind.clone(),
                    url: i.url.clone(),
                })
                .collect(),
            offers: meta
                .offers
                .iter()
                .map(|o| SourceOffer {
                    kind: o.kind.as_str().into(),
                    regions: vec![o.region.clone()],
                    start: o.start.clone(),
                    end: o.end.clone(),
                    price: o.price.as_ref().map(|p| p.amount.clone()),
                    currency: o.price.as_ref().map(|p| p.currency.clone()),
                })
                .collect(),
            deep_link: meta.deep_link.clone(),
            series_id,
            season_id,
            season_number,
            episode_number,
        }
    }
}

/// Text fields a provider's export may hold as JSON numbers.
const TEXT_FIELDS: [&str; 6] = [
    "id",
    "title",
    "synopsis",
    "series_id",
    "season_id",
    "locale",
];

/// Parses a row whose text fields (and genre names, credit names, rating
/// values) hold JSON numbers, taking each number as its text; records the
/// fields so the loader warns. `None` when the row is wrong in another way.
fn numbers_as_text(text: &str, fields: &mut Vec<(&'static str, String)>) -> Option<SourceRecord> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object_mut()?;
    let mut to_text = |field: &'static str, v: &mut serde_json::Value| {
        if let serde_json::Value::Number(n) = v {
            let number = n.to_string();
            fields.push((field, number.clone()));
            *v = serde_json::Value::String(number);
        }
    };
    for field in TEXT_FIELDS {
        if let Some(v) = object.get_mut(field) {
            to_text(field, v);
        }
    }
    if let Some(serde_json::Value::Array(genres)) = object.get_mut("genres") {
        for genre in genres {
            to_text("genres", genre);
        }
    }
    if let Some(serde_json::Value::Array(credits)) = object.get_mut("credits") {
        for credit in credits.iter_mut().filter_map(|c| c.as_object_mut()) {
            if let Some(name) = credit.get_mut("name") {
                to_text("credits.name", name);
            }
        }
    }
    if let Some(value) = object
        .get_mut("rating")
        .and_then(|r| r.as_object_mut())
        .and_then(|r| r.get_mut("value"))
    {
        to_text("rating.value", value);
    }
    if fields.is_empty() {
        return None;
    }
    match serde_json::from_value(value) {
        Ok(record) => Some(record),
        Err(_) => {
            fields.clear();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, format: SourceFormat) -> (Vec<Item>, LoadReport) {
        let mut loader =
            SourceLoader::new(text.as_bytes(), format, LoadOptions::default()).unwrap();
        let mut items = Vec::new();
        while let Some(item) = loader.next_item().unwrap() {
            items.push(item);
        }
        (items, loader.finish())
    }

    fn found(report: &LoadReport) -> Vec<(u64, &'static str)> {
        report
            .findings
            .iter()
            .map(|f| (f.position.line, f.rule.code()))
            .collect()
    }

    #[test]
    fn good_rows_go_through_and_bad_rows_are_reported_by_line() {
        let text = r#"{"type":"movie","id":"m1","title":"Heat","release_date":"1995-12-15"}
{"type":"movie","id":"m2"}
{"type":"film","id":"m3","title":"X"}

{"type":"movie","id":"m4","title":"Y","release_date":"1995-13-01"}
not json
{"type":"series","id":"s1","title":"Show"}
{"type":"season","id":"s1-1","series_id":"s1","season_number":1,"title":"Season 1"}
{"type":"episode","id":"s1-1-1","season_id":"s1-1","episode_number":1,"title":"Pilot"}
{"type":"episode","id":"s1-2-1","season_id":"s1-2","episode_number":1,"title":"Orphan"}
{"type":"movie","id":"m1","title":"Heat again"}
{"type":"movie","id":"m5","title":"Typo","synposis":"x"}
"#;
        let (items, report) = load(text, SourceFormat::JsonLines);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "s1", "s1-1", "s1-1-1"]);
        assert_eq!(
            found(&report),
            vec![
                (2, "item.required-child"),
                (3, "source.type"),
                (5, "item.bad-value"),
                (6, "source.syntax"),
                (10, "item.parent-missing"),
                (11, "item.duplicate-id"),
                (12, "source.syntax"),
            ]
        );
        assert_eq!(report.rows, 11);
        assert_eq!(report.rejected, 7);
        match &items[3].kind {
            ItemKind::Episode { series_id, .. } => assert_eq!(series_id, "s1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn control_characters_are_removed_with_a_warning() {
        let text = "{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"Bell\\u0007s\"}\n";
        let (items, report) = load(text, SourceFormat::JsonLines);
        assert_eq!(items[0].meta.title.text, "Bells");
        assert_eq!(found(&report), vec![(1, "text.control-character")]);
        assert!(report.findings.is_clean());
    }

    #[test]
    fn csv_movies() {
        let text = "id,title,locale,genres,regions,offer_type,price,currency\n\
                    m1,Heat,en-US,Crime|Drama,US|CA,rental,3.99,USD\n\
                    m2,,en-US,,,,,\n\
                    m3,Ronin,,,,subscription,,\n";
        let (items, report) = load(text, SourceFormat::Csv);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].meta.genres, ["Crime", "Drama"]);
        assert_eq!(items[0].meta.offers.len(), 2);
        assert_eq!(
            found(&report),
            vec![(3, "item.required-child"), (4, "item.required-child")]
        );
    }

    fn load_bytes(bytes: &[u8], format: SourceFormat) -> (Vec<Item>, LoadReport) {
        let mut loader = SourceLoader::new(bytes, format, LoadOptions::default()).unwrap();
        let mut items = Vec::new();
        while let Some(item) = loader.next_item().unwrap() {
            items.push(item);
        }
        (items, loader.finish())
    }

    #[test]
    fn a_json_line_with_invalid_utf8_is_a_finding_on_its_line() {
        let mut bytes = b"{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"A\"}\n".to_vec();
        bytes.extend_from_slice(b"{\"type\":\"movie\",\"id\":\"m2\",\"title\":\"B\xff\xfe\"}\n");
        bytes.extend_from_slice(b"{\"type\":\"movie\",\"id\":\"m3\",\"title\":\"C\"}\n");
        let (items, report) = load_bytes(&bytes, SourceFormat::JsonLines);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m3"]);
        assert_eq!(found(&report), vec![(2, "source.encoding")]);
        assert_eq!(report.rows, 3);
        assert_eq!(report.rejected, 1);
        // The id before the bad bytes is still made out, so m2 is held, not removed.
        assert_eq!(report.rejected_ids, ["m2"]);
    }

    /// Invalid bytes inside the id: the id read with replacement characters
    /// is not the item's, so holding it would let the real item be taken
    /// for removed. The row is unreadable instead, which holds every removal.
    #[test]
    fn a_json_line_with_invalid_utf8_in_its_id_holds_every_removal() {
        let bytes = b"{\"type\":\"movie\",\"id\":\"m\xff1\",\"title\":\"A\"}\n";
        let (items, report) = load_bytes(bytes, SourceFormat::JsonLines);
        assert!(items.is_empty());
        assert_eq!(found(&report), vec![(1, "source.encoding")]);
        assert!(report.rejected_ids.is_empty(), "{:?}", report.rejected_ids);
        assert_eq!(report.unreadable_rows, 1);
    }

    #[test]
    fn a_csv_row_with_invalid_utf8_is_a_finding_on_its_line() {
        let mut bytes = b"id,title\nm1,A\n".to_vec();
        bytes.extend_from_slice(b"m2,B\xff\n");
        bytes.extend_from_slice(b"m3,C\n");
        let (items, report) = load_bytes(&bytes, SourceFormat::Csv);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m3"]);
        assert_eq!(found(&report), vec![(3, "source.encoding")]);
        assert_eq!(report.rejected_ids, ["m2"]);
    }

    #[test]
    fn an_id_over_65535_bytes_is_a_finding_on_its_line() {
        let long = "x".repeat(65_536);
        let text = format!(
            "{{\"type\":\"movie\",\"id\":\"{long}\",\"title\":\"A\"}}\n\
             {{\"type\":\"movie\",\"id\":\"m2\",\"title\":\"B\"}}\n"
        );
        let (items, report) = load(&text, SourceFormat::JsonLines);
        assert_eq!(items.len(), 1);
        assert_eq!(found(&report), vec![(1, "item.id-too-long")]);
        let at_limit = "y".repeat(65_535);
        let text = format!("{{\"type\":\"movie\",\"id\":\"{at_limit}\",\"title\":\"A\"}}\n");
        let (items, report) = load(&text, SourceFormat::JsonLines);
        assert_eq!(items.len(), 1, "{:?}", found(&report));
    }

    #[test]
    fn a_csv_header_without_an_id_column_is_one_finding_and_no_row() {
        let text = "identifier,title\nm1,A\nm2,B\n";
        let (items, report) = load(text, SourceFormat::Csv);
        assert!(items.is_empty());
        assert_eq!(found(&report), vec![(1, "source.header")]);
        assert_eq!(report.rows, 2);
        assert_eq!(report.rejected, 2);
        assert_eq!(report.unreadable_rows, 2);
    }

    #[test]
    fn a_csv_header_with_invalid_utf8_is_one_finding() {
        let (items, report) = load_bytes(b"id,tit\xffle\nm1,A\n", SourceFormat::Csv);
        assert!(items.is_empty());
        assert_eq!(found(&report), vec![(1, "source.header")]);
    }

    #[test]
    fn a_json_line_over_the_bound_is_a_finding_and_the_next_rows_load() {
        let long = "x".repeat(3_000);
        let text = format!(
            "{{\"id\":\"m1\",\"type\":\"movie\",\"title\":\"{long}\"}}\n\
             {{\"type\":\"movie\",\"id\":\"m2\",\"title\":\"B\"}}\n"
        );
        let options = LoadOptions {
            limits: Limits {
                max_token_bytes: 1_000,
                ..Limits::default()
            },
            ..LoadOptions::default()
        };
        let mut loader =
            SourceLoader::new(text.as_bytes(), SourceFormat::JsonLines, options).unwrap();
        let mut items = Vec::new();
        while let Some(item) = loader.next_item().unwrap() {
            items.push(item);
        }
        let report = loader.finish();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "m2");
        assert_eq!(found(&report), vec![(1, "source.row-too-large")]);
        assert_eq!(report.rejected_ids, ["m1"]);
    }

    /// Found by the mutation fuzz: a bit flip turned the `T` of an offer's
    /// start into U+0014, the time parser took it as the separator, and the
    /// writer then refused the item, failing the whole build.
    #[test]
    fn a_control_character_in_an_offer_time_is_a_finding_not_a_build_failure() {
        let text = "{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"A\",\"offers\":[{\"type\":\"free\",\"regions\":[\"US\"],\"start\":\"2025-01-01\\u001400:00:00Z\"}]}\n\
                    {\"type\":\"movie\",\"id\":\"m2\",\"title\":\"B\",\"offers\":[{\"type\":\"free\",\"regions\":[\"US\"],\"end\":\"2025-01-01 00:00:00Z\"}]}\n";
        let (items, report) = load(text, SourceFormat::JsonLines);
        assert!(items.is_empty(), "{items:?}");
        assert_eq!(
            found(&report),
            vec![
                (1, "item.bad-value"),
                (1, "text.control-character"),
                (2, "item.bad-value")
            ]
        );
    }

    /// A CSV row over the bound failed the whole load with an error. The
    /// CSV reader cannot find the next row in what follows (a quoted field
    /// may hold line breaks), so it is one finding and the rest is not read:
    /// the rows before load, every removal is held.
    #[test]
    fn a_csv_row_over_the_bound_is_a_finding_and_stops_the_load() {
        // The bound is checked as the input is buffered (256 KiB at a time).
        let long = "x".repeat(600_000);
        let text = format!("id,title\nm1,A\nm2,{long}\nm3,C\n");
        let options = LoadOptions {
            limits: Limits {
                max_token_bytes: 1_000,
                ..Limits::default()
            },
            ..LoadOptions::default()
        };
        let mut loader = SourceLoader::new(text.as_bytes(), SourceFormat::Csv, options).unwrap();
        let mut items = Vec::new();
        while let Some(item) = loader.next_item().unwrap() {
            items.push(item);
        }
        let report = loader.finish();
        assert_eq!(items.len(), 1);
        assert_eq!(found(&report), vec![(3, "source.row-too-large")]);
        assert!(report.unreadable_rows >= 1);
        let message = &report.findings.iter().next().unwrap().message;
        assert!(message.contains("1000 bytes"), "{message}");
    }

    #[test]
    fn format_from_path() {
        assert_eq!(
            SourceFormat::from_path(Path::new("a/export.csv.gz")),
            SourceFormat::Csv
        );
        assert_eq!(
            SourceFormat::from_path(Path::new("export.jsonl.zst")),
            SourceFormat::JsonLines
        );
    }

    #[test]
    fn a_json_number_where_text_is_expected_is_taken_as_text_with_a_warning() {
        let export = "{\"type\":\"movie\",\"id\":1776,\"title\":1776,\"genres\":[\"War\",300]}\n";
        let mut loader = SourceLoader::new(
            export.as_bytes(),
            SourceFormat::JsonLines,
            LoadOptions::default(),
        )
        .unwrap();
        let item = loader.next_item().unwrap().expect("the row loads");
        assert_eq!(item.id, "1776");
        assert_eq!(item.meta.title.text, "1776");
        assert_eq!(item.meta.genres, ["War", "300"]);
        let report = loader.finish();
        let found: Vec<_> = report
            .findings
            .iter()
            .map(|f| (f.rule.code(), f.severity, f.message.clone()))
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .all(|(code, severity, _)| *code == "source.number-as-text"
                    && *severity == crate::finding::Severity::Warning)
        );
        assert!(
            found[1].2.starts_with("title is the JSON number 1776"),
            "{found:?}"
        );
    }
}
