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
//! Beyond a title, a row may carry what EMBER carries (`docs/source-format.md`
//! says where each field lands): external ids by scheme (a movie, series or
//! episode without an IMDb id loads with a warning), titles in several
//! languages with territories (exactly one default: `title`, else the one
//! `titles` entry marked default, else the only entry; the default has no
//! territories), a short description and a long synopsis (the default ones
//! in the default title's language, others by language), release dates
//! with their type, keywords, studios, and images with aspect ratio, MIME
//! type and resolution. A JSON number in any text field is taken as its
//! text, with a warning naming the field's path and the line.
//!
//! The rules on values are [`rules::check_item`]'s, the same the XML reader
//! applies; what only a source row can get wrong (two default titles, an
//! IMDb id's shape, an image's aspect ratio) is checked here.

use std::io::{self, BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::finding::{Finding, Findings, Position, Rule, Severity};
use crate::ids::{IdHashMap, IdSet, id_hash};
use crate::input::{self, Compression, LimitExceeded, Limits, Tracked};
use crate::json_row;
use crate::model::{
    Credit, ExternalId, Image, Item, ItemKind, KindTag, LocalizedText, Metadata, Offer, OfferKind,
    Price, Rating, ReleaseDate, Title,
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
    /// The item's ids in other systems: `[{"scheme": "imdb", "id": "tt0113277"}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<SourceExternalId>,
    /// The default title; required unless `titles` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The language of `title` (and of `description` and `synopsis`); the
    /// loader's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Titles in several languages, some for some territories only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub titles: Vec<SourceTitle>,
    /// The default short description, in the default title's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Short descriptions in other languages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<SourceText>,
    /// The default long synopsis, in the default title's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synopsis: Option<String>,
    /// Synopses in other languages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synopses: Vec<SourceText>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    /// The type of `release_date` (`streaming`, `theatrical`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_type: Option<String>,
    /// More release dates, each with its type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_dates: Vec<SourceReleaseDate>,
    /// Whole minutes, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_minutes: Option<u32>,
    /// Genre names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genres: Vec<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// `{"system": "MPAA", "value": "PG-13"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<SourceRating>,
    /// Studio names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub studios: Vec<String>,
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

/// An id of the item in another system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceExternalId {
    /// The system: `imdb`, `tmdb`, `eidr`, …
    #[serde(default)]
    pub scheme: Option<String>,
    /// The id in that system.
    #[serde(default)]
    pub id: Option<String>,
}

/// One title of a source row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTitle {
    /// The title.
    #[serde(default)]
    pub text: Option<String>,
    /// Its language tag.
    #[serde(default)]
    pub language: Option<String>,
    /// Where it applies: two-letter region codes, or `["GLOBAL"]`; everywhere when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub territories: Vec<String>,
    /// Whether this is the default title (exactly one is; see the module doc).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// A description or synopsis in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceText {
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// Its language tag.
    #[serde(default)]
    pub language: Option<String>,
}

/// A release date with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceReleaseDate {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// `streaming`, `theatrical`, …; optional.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub release_type: Option<String>,
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
    /// e.g. `16:9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// e.g. `image/jpeg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// e.g. `4K`, `1920x1080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
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
    /// Optional: the short description.
    #[serde(default)]
    pub description: String,
    /// Optional.
    #[serde(default)]
    pub synopsis: String,
    /// Optional, `YYYY-MM-DD`.
    #[serde(default)]
    pub release_date: String,
    /// Optional: the type of `release_date`.
    #[serde(default)]
    pub release_type: String,
    /// The IMDb id, `tt0113277`.
    #[serde(default)]
    pub imdb_id: String,
    /// Other ids: `scheme:id|scheme:id`, e.g. `tmdb:949|eidr:10.5240/…`.
    #[serde(default)]
    pub external_ids: String,
    /// `Warner Bros.|Regency`.
    #[serde(default)]
    pub studios: String,
    /// `heist|los angeles`.
    #[serde(default)]
    pub keywords: String,
    /// `role:name|role:name`, e.g. `director:Michael Mann|actor:Al Pacino`.
    #[serde(default)]
    pub credits: String,
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
    /// The poster's aspect ratio, `2:3`.
    #[serde(default)]
    pub poster_aspect_ratio: String,
    /// The poster's MIME type, `image/jpeg`.
    #[serde(default)]
    pub poster_mime_type: String,
    /// The poster's resolution, `4K`.
    #[serde(default)]
    pub poster_resolution: String,
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

enum Rows<'a> {
    Json {
        input: Tracked<Box<dyn BufRead + 'a>>,
        line: Vec<u8>,
        line_number: u64,
    },
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
    /// Text fields of the row just read that held JSON numbers, taken as
    /// text: (the field's path, the number).
    numbers_as_text: Vec<(String, String)>,
    /// Whether the raw row just read cannot hold a character XML cannot
    /// carry ([`json_row_is_xml_safe`]): then its texts are not scanned
    /// again, once to strip and once to check (the scans were 8% of a
    /// build's main thread).
    row_xml_safe: bool,
    /// Whether the default locale, which rows may take, is such text.
    default_locale_xml_safe: bool,
    /// Buffers of strings the caller is done with ([`Self::recycle`]).
    pool: json_row::StringPool,
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
            SourceFormat::JsonLines => Rows::Json {
                input: tracked,
                line: Vec::new(),
                line_number: 0,
            },
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
        let default_locale_xml_safe = rules::first_non_xml_char(&options.default_locale).is_none();
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
            row_xml_safe: false,
            default_locale_xml_safe,
            pool: json_row::StringPool::default(),
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
            Rows::Json { input, .. } => input.offset(),
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
            let id = record.as_ref().ok().map(|r| r.id.as_str());
            for (field, number) in self.numbers_as_text.drain(..) {
                let mut finding = Finding::warning(
                    Rule::SourceNumberAsText,
                    position,
                    format!(
                        "{field} is the JSON number {number}; it is taken as the text {number:?}"
                    ),
                );
                if let Some(id) = id {
                    finding = finding.for_item(id);
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

    /// Takes back an item the caller is done with: its strings' buffers
    /// hold the next rows' strings, instead of each row's strings being
    /// allocated and freed.
    pub fn recycle(&mut self, mut item: Item) {
        item.drain_strings(&mut |text| self.pool.give(text));
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
        let max_line = self.options.limits.max_token_bytes;
        match &mut self.rows {
            Rows::Json {
                input,
                line,
                line_number,
            } => loop {
                let Some(whole) = input
                    .read_bounded_line(line, max_line)
                    .map_err(LoadError::from_io)?
                else {
                    return Ok(None);
                };
                *line_number += 1;
                if !whole {
                    let message = format!(
                        "the line is longer than the limit of {max_line} bytes; the row is left out"
                    );
                    let id = json_id_prefix(line);
                    let unparsed = Unparsed {
                        rule: Rule::SourceRowTooLarge,
                        message: Some(message),
                        id,
                    };
                    return Ok(Some((*line_number, Err(unparsed))));
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                self.numbers_as_text.clear();
                self.row_xml_safe = json_row_is_xml_safe(line);
                let parsed = match std::str::from_utf8(line) {
                    Ok(text) => match json_row::parse_row(text, &mut self.pool) {
                        Some(record) => Ok(record),
                        None => serde_json::from_str::<SourceRecord>(text),
                    }
                    .or_else(|e| {
                        // Real exports hold titles like 1776 or 300 as JSON
                        // numbers: taken as text, with a warning. Only on
                        // this error path, so good rows pay nothing.
                        numbers_as_text(text, &mut self.numbers_as_text).ok_or_else(|| {
                            Unparsed::syntax(describe_json_error(e), id_of_json_row(text))
                        })
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
                return Ok(Some((*line_number, parsed)));
            },
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
                        self.row_xml_safe = std::str::from_utf8(record.as_slice())
                            .is_ok_and(|text| rules::first_non_xml_char(text).is_none());
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
        let xml_safe = self.row_xml_safe && self.default_locale_xml_safe;
        let removed = if xml_safe {
            Vec::new()
        } else {
            strip_control_characters(&mut record)
        };
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
        self.pool.give(std::mem::take(&mut record.kind));
        let item_kind = match self.item_kind(kind, &record, &mut problems, &error) {
            Some(k) => k,
            None => return self.reject(problems, &id),
        };
        let version = record.version.unwrap_or(1);
        let meta = match self.metadata(kind, record, &mut problems, &error) {
            Some(meta) => meta,
            None => return self.reject(problems, &id),
        };
        let item = Item {
            id: id.clone(),
            version,
            kind: item_kind,
            meta,
        };
        let mut report = |rule, message| problems.push(error(rule, message));
        if xml_safe {
            rules::check_item_values(&item, &mut report);
        } else {
            rules::check_item(&item, &mut report);
        }
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
        if kind != KindTag::Season && !item.meta.external_ids.iter().any(ExternalId::is_imdb) {
            self.findings.push_with(Severity::Warning, || {
                Finding::warning(
                    Rule::SourceImdbMissing,
                    position,
                    format!("the {kind} has no IMDb id in external_ids; the row was loaded"),
                )
                .for_item(&id)
            });
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
        kind: KindTag,
        mut record: SourceRecord,
        problems: &mut Vec<Finding>,
        error: &dyn Fn(Rule, String) -> Finding,
    ) -> Option<Metadata> {
        let mut report = |rule, message| problems.push(error(rule, message));
        let titles = self.titles(kind, &mut record, &mut report);
        let mut offers = Vec::new();
        for offer in record.offers {
            let Some(kind) = OfferKind::parse(&offer.kind) else {
                report(
                    Rule::BadValue,
                    format!(
                        "offer type {:?} is not subscription, free, purchase or rental",
                        offer.kind
                    ),
                );
                continue;
            };
            if offer.regions.is_empty() {
                report(
                    Rule::RequiredChild,
                    format!("the {} offer lists no regions", offer.kind),
                );
            }
            let price = match (offer.price, offer.currency) {
                (Some(amount), Some(currency)) => Some(Price { amount, currency }),
                (None, None) => None,
                (Some(_), None) => {
                    report(
                        Rule::RequiredChild,
                        format!("the {} offer has a price but no currency", offer.kind),
                    );
                    None
                }
                (None, Some(_)) => {
                    report(
                        Rule::RequiredChild,
                        format!("the {} offer has a currency but no price", offer.kind),
                    );
                    None
                }
            };
            // The window and price are moved into the last region's offer,
            // cloned for the others.
            let (mut start, mut end, mut price) = (offer.start, offer.end, price);
            let mut regions = offer.regions.into_iter().peekable();
            while let Some(region) = regions.next() {
                let last = regions.peek().is_none();
                offers.push(Offer {
                    kind,
                    region,
                    start: moved_if(last, &mut start),
                    end: moved_if(last, &mut end),
                    price: moved_if(last, &mut price),
                });
            }
        }
        let external_ids = external_ids(record.external_ids, &mut report);
        let other_descriptions = other_texts("descriptions", record.descriptions, &mut report);
        let other_synopses = other_texts("synopses", record.synopses, &mut report);
        let release_dates = release_dates(
            record.release_date,
            record.release_type,
            record.release_dates,
            &mut report,
        );
        let keywords = names("keywords", record.keywords, &mut report);
        let studios = names("studios", record.studios, &mut report);
        let images = images(record.images, &mut report);
        let (title, other_titles) = titles?;
        if !problems.is_empty() {
            return None;
        }
        Some(Metadata {
            external_ids,
            title,
            other_titles,
            description: record.description,
            other_descriptions,
            synopsis: record.synopsis,
            other_synopses,
            release_dates,
            runtime_minutes: record.runtime_minutes,
            genres: record.genres,
            keywords,
            rating: record.rating.map(|r| Rating {
                system: r.system,
                value: r.value,
            }),
            studios,
            credits: record
                .credits
                .into_iter()
                .map(|c| Credit {
                    role: c.role,
                    name: c.name,
                })
                .collect(),
            images,
            offers,
            deep_link: record.deep_link,
        })
    }

    /// The default title and the others. Exactly one title is the default:
    /// `title` when the row gives it (then no `titles` entry may be marked
    /// default), else the one `titles` entry marked `"default": true`, or
    /// the only entry. The default title applies everywhere (no territories).
    fn titles(
        &self,
        kind: KindTag,
        record: &mut SourceRecord,
        report: &mut dyn FnMut(Rule, String),
    ) -> Option<(LocalizedText, Vec<Title>)> {
        let given = record.title.take().filter(|t| !t.trim().is_empty());
        let marked: Vec<usize> = (0..record.titles.len())
            .filter(|&i| record.titles[i].default)
            .collect();
        let default_entry = match (&given, marked.as_slice()) {
            (Some(_), []) => None,
            (Some(_), [i, ..]) => {
                report(
                    Rule::BadValue,
                    format!(
                        "titles[{i}] is marked default, but title is the default title; exactly one title is the default, so drop the mark or the title field"
                    ),
                );
                return None;
            }
            (None, [i]) => Some(*i),
            (None, [i, j, ..]) => {
                report(
                    Rule::BadValue,
                    format!(
                        "titles[{i}] and titles[{j}] are both marked default; exactly one title is the default"
                    ),
                );
                return None;
            }
            (None, []) if record.titles.len() == 1 => Some(0),
            (None, []) if record.titles.is_empty() => {
                report(Rule::RequiredChild, format!("the {kind} has no title"));
                return None;
            }
            (None, []) => {
                report(
                    Rule::RequiredChild,
                    format!(
                        "none of the {} titles is marked default; mark exactly one with \"default\": true (or give the title field)",
                        record.titles.len()
                    ),
                );
                return None;
            }
        };
        let mut ok = true;
        let mut entries: Vec<(String, String, String)> = Vec::with_capacity(record.titles.len());
        for (i, entry) in record.titles.iter().enumerate() {
            let text = entry.text.clone().filter(|t| !t.trim().is_empty());
            let Some(text) = text else {
                report(Rule::RequiredChild, format!("titles[{i}] has no text"));
                ok = false;
                continue;
            };
            let Some(language) = entry.language.clone() else {
                report(
                    Rule::RequiredChild,
                    format!("titles[{i}] has no language (a tag like fr-CA)"),
                );
                ok = false;
                continue;
            };
            let territories = match territories(&entry.territories) {
                Ok(territories) => territories,
                Err(bad) => {
                    report(
                        Rule::BadValue,
                        format!(
                            "titles[{i}].territories holds {bad:?}; use two-letter codes like US, or GLOBAL alone"
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if default_entry == Some(i) && !territories.is_empty() {
                report(
                    Rule::BadValue,
                    format!(
                        "titles[{i}] is the default title, which applies everywhere; give territories only to the other titles"
                    ),
                );
                ok = false;
                continue;
            }
            entries.push((language, text, territories));
        }
        if !ok {
            return None;
        }
        let (title, skip) = match (given, default_entry) {
            (Some(text), _) => {
                let locale = record
                    .locale
                    .take()
                    .unwrap_or_else(|| self.options.default_locale.clone());
                (LocalizedText { locale, text }, None)
            }
            (None, Some(i)) => {
                let (language, text, _) = entries[i].clone();
                if let Some(locale) = &record.locale
                    && *locale != language
                {
                    report(
                        Rule::BadValue,
                        format!(
                            "locale {locale:?} is the language of the title field, but the default title is titles[{i}] in {language:?}; drop locale or make them agree"
                        ),
                    );
                    return None;
                }
                (
                    LocalizedText {
                        locale: language,
                        text,
                    },
                    Some(i),
                )
            }
            (None, None) => return None,
        };
        let mut others: Vec<Title> = Vec::with_capacity(entries.len());
        for (i, (locale, text, territories)) in entries.into_iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let repeats = (territories.is_empty() && locale == title.locale)
                || others
                    .iter()
                    .any(|o| o.locale == locale && o.territories == territories);
            if repeats {
                report(
                    Rule::BadValue,
                    format!(
                        "titles[{i}] repeats the language {locale:?} and territories of another title; give each language and territories one title"
                    ),
                );
                return None;
            }
            others.push(Title {
                locale,
                text,
                territories,
            });
        }
        Some((title, others))
    }
}

/// `value` itself when `last` (leaving `None`), else a clone of it.
fn moved_if<T: Clone>(last: bool, value: &mut Option<T>) -> Option<T> {
    if last { value.take() } else { value.clone() }
}

/// EMBER's `TerritoriesType` from a list of region codes (`["US","CA"]` →
/// `US,CA`; `["GLOBAL"]` → `GLOBAL`), or the first code that is not one.
fn territories(codes: &[String]) -> Result<String, String> {
    if let [only] = codes
        && only == "GLOBAL"
    {
        return Ok(only.clone());
    }
    if let Some(bad) = codes.iter().find(|c| !rules::is_region(c)) {
        return Err(bad.clone());
    }
    Ok(codes.join(","))
}

/// Whether `text` is blank or holds whitespace, which a name-like value must not.
fn is_blank_or_spaced(text: &str) -> bool {
    text.trim().is_empty() || text.chars().any(char::is_whitespace)
}

fn external_ids(
    entries: Vec<SourceExternalId>,
    report: &mut dyn FnMut(Rule, String),
) -> Vec<ExternalId> {
    let mut ids = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let scheme = entry.scheme.unwrap_or_default();
        let id = entry.id.unwrap_or_default();
        if is_blank_or_spaced(&scheme) {
            report(
                Rule::BadValue,
                format!("external_ids[{i}].scheme {scheme:?} is not a name like imdb (no spaces)"),
            );
            continue;
        }
        if id.trim().is_empty() {
            report(Rule::RequiredChild, format!("external_ids[{i}] has no id"));
            continue;
        }
        let external = ExternalId { scheme, id };
        if external.is_imdb() && !is_imdb_title_id(&external.id) {
            report(
                Rule::BadValue,
                format!(
                    "external_ids[{i}]: IMDb id {:?} is not tt followed by at least 7 digits, like tt0113277",
                    external.id
                ),
            );
            continue;
        }
        ids.push(external);
    }
    ids
}

/// An IMDb title id: `tt` and at least seven digits.
fn is_imdb_title_id(id: &str) -> bool {
    id.strip_prefix("tt")
        .is_some_and(|digits| digits.len() >= 7 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Descriptions or synopses in other languages.
fn other_texts(
    field: &str,
    entries: Vec<SourceText>,
    report: &mut dyn FnMut(Rule, String),
) -> Vec<LocalizedText> {
    let mut texts = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        match (entry.text, entry.language) {
            (Some(text), Some(locale)) if !text.trim().is_empty() => {
                texts.push(LocalizedText { locale, text });
            }
            (_, None) => report(
                Rule::RequiredChild,
                format!("{field}[{i}] has no language (a tag like fr-CA)"),
            ),
            _ => report(Rule::RequiredChild, format!("{field}[{i}] has no text")),
        }
    }
    texts
}

fn release_dates(
    date: Option<String>,
    release_type: Option<String>,
    entries: Vec<SourceReleaseDate>,
    report: &mut dyn FnMut(Rule, String),
) -> Vec<ReleaseDate> {
    let mut dates = Vec::with_capacity(entries.len() + 1);
    let check_type = |field: &dyn Fn() -> String,
                      kind: &Option<String>,
                      report: &mut dyn FnMut(Rule, String)| {
        if let Some(kind) = kind
            && is_blank_or_spaced(kind)
        {
            report(
                Rule::BadValue,
                format!(
                    "{} {kind:?} is not a word like streaming or theatrical",
                    field()
                ),
            );
        }
    };
    check_type(&|| "release_type".into(), &release_type, report);
    match date {
        Some(date) => dates.push(ReleaseDate { date, release_type }),
        None if release_type.is_some() => report(
            Rule::RequiredChild,
            "release_type is the type of release_date, which the row does not give".into(),
        ),
        None => {}
    }
    for (i, entry) in entries.into_iter().enumerate() {
        check_type(
            &|| format!("release_dates[{i}].type"),
            &entry.release_type,
            report,
        );
        match entry.date {
            Some(date) => dates.push(ReleaseDate {
                date,
                release_type: entry.release_type,
            }),
            None => report(
                Rule::RequiredChild,
                format!("release_dates[{i}] has no date"),
            ),
        }
    }
    dates
}

/// Keywords or studios: blank names are refused.
fn names(field: &str, names: Vec<String>, report: &mut dyn FnMut(Rule, String)) -> Vec<String> {
    if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
        report(Rule::BadValue, format!("{field}[{i}] is empty"));
    }
    names
}

fn images(entries: Vec<SourceImage>, report: &mut dyn FnMut(Rule, String)) -> Vec<Image> {
    let mut images = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        if let Some(ratio) = &entry.aspect_ratio
            && !is_aspect_ratio(ratio)
        {
            report(
                Rule::BadValue,
                format!("images[{i}].aspect_ratio {ratio:?} is not width:height like 16:9"),
            );
        }
        if let Some(mime) = &entry.mime_type
            && !is_image_mime_type(mime)
        {
            report(
                Rule::BadValue,
                format!("images[{i}].mime_type {mime:?} is not an image type like image/jpeg"),
            );
        }
        if let Some(resolution) = &entry.resolution
            && is_blank_or_spaced(resolution)
        {
            report(
                Rule::BadValue,
                format!(
                    "images[{i}].resolution {resolution:?} is not a value like 4K or 1920x1080"
                ),
            );
        }
        images.push(Image {
            kind: entry.kind,
            url: entry.url,
            aspect_ratio: entry.aspect_ratio,
            mime_type: entry.mime_type,
            resolution: entry.resolution,
        });
    }
    images
}

/// `16:9`, `2.39:1`: two positive numbers around a colon.
fn is_aspect_ratio(text: &str) -> bool {
    let number = |n: &str| {
        let (whole, fraction) = n.split_once('.').unwrap_or((n, "0"));
        !whole.is_empty()
            && !fraction.is_empty()
            && whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
            && n.bytes().any(|b| (b'1'..=b'9').contains(&b))
    };
    text.split_once(':')
        .is_some_and(|(w, h)| number(w) && number(h))
}

/// `image/jpeg`, `image/png`, `image/svg+xml`.
fn is_image_mime_type(text: &str) -> bool {
    text.strip_prefix("image/").is_some_and(|subtype| {
        !subtype.is_empty()
            && subtype
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    })
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
    let pairs = |column: &str, text: &str| -> Result<Vec<(String, String)>, String> {
        list(text)
            .into_iter()
            .map(|entry| match entry.split_once(':') {
                Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
                    Ok((key.trim().to_owned(), value.trim().to_owned()))
                }
                _ => Err(format!(
                    "{column} entry {entry:?} is not key:value (e.g. {})",
                    if column == "credits" {
                        "director:Michael Mann"
                    } else {
                        "tmdb:949"
                    }
                )),
            })
            .collect()
    };
    let mut external_ids: Vec<SourceExternalId> = some(row.imdb_id)
        .map(|id| SourceExternalId {
            scheme: Some(ExternalId::IMDB.into()),
            id: Some(id.trim().to_owned()),
        })
        .into_iter()
        .collect();
    for (scheme, id) in pairs("external_ids", &row.external_ids)? {
        external_ids.push(SourceExternalId {
            scheme: Some(scheme),
            id: Some(id),
        });
    }
    let credits = pairs("credits", &row.credits)?
        .into_iter()
        .map(|(role, name)| SourceCredit { role, name })
        .collect();
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
    let (aspect_ratio, mime_type, resolution) = (
        some(row.poster_aspect_ratio),
        some(row.poster_mime_type),
        some(row.poster_resolution),
    );
    Ok(SourceRecord {
        kind: "movie".into(),
        id: row.id,
        version,
        external_ids,
        title: some(row.title),
        locale: some(row.locale),
        description: some(row.description),
        synopsis: some(row.synopsis),
        release_date: some(row.release_date),
        release_type: some(row.release_type),
        runtime_minutes,
        genres: list(&row.genres),
        keywords: list(&row.keywords),
        rating,
        studios: list(&row.studios),
        credits,
        images: some(row.poster_url)
            .map(|url| {
                vec![SourceImage {
                    kind: "poster".into(),
                    url,
                    aspect_ratio,
                    mime_type,
                    resolution,
                }]
            })
            .unwrap_or_default(),
        offers,
        deep_link: some(row.deep_link),
        ..SourceRecord::default()
    })
}

/// Whether no string of this JSON row can decode to a character XML cannot
/// carry. JSON strings hold no raw control character (such a row does not
/// parse), so one can only come from an escape (`\b`, `\f`, `\u0001`,
/// `\uFFFE`…) or be U+FFFE / U+FFFF written as UTF-8 (`EF BF BE|BF`). A
/// `false` only means the row's texts are scanned field by field.
fn json_row_is_xml_safe(line: &[u8]) -> bool {
    let mut at = 0;
    while let Some(rest) = line.get(at..) {
        let Some(found) = memchr::memchr2(b'\\', 0xEF, rest) else {
            return true;
        };
        let i = at + found;
        if line[i] == 0xEF {
            if line.get(i + 1) == Some(&0xBF) && matches!(line.get(i + 2), Some(0xBE | 0xBF)) {
                return false;
            }
            at = i + 1;
            continue;
        }
        match line.get(i + 1) {
            Some(b'b' | b'f') => return false,
            Some(b'u') => {
                let code = line
                    .get(i + 2..i + 6)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                match code {
                    Some(0x9 | 0xA | 0xD) => {}
                    Some(code) if (0x20..0xFFFE).contains(&code) => {}
                    _ => return false,
                }
                at = i + 6;
            }
            _ => at = i + 2,
        }
    }
    true
}

/// Removes characters XML cannot carry from every free-text field,
/// returning which field held which character. Values with a format (dates,
/// times, regions, territories, URLs, image attributes) keep them: their
/// rules refuse the row, naming the character.
fn strip_control_characters(record: &mut SourceRecord) -> Vec<(&'static str, char)> {
    let mut removed = Vec::new();
    let mut clean = |field: &'static str, text: &mut String| {
        if let Some(c) = rules::first_non_xml_char(text) {
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
    opt("description", &mut record.description, &mut clean);
    opt("synopsis", &mut record.synopsis, &mut clean);
    opt("release_type", &mut record.release_type, &mut clean);
    opt("deep_link", &mut record.deep_link, &mut clean);
    opt("series_id", &mut record.series_id, &mut clean);
    opt("season_id", &mut record.season_id, &mut clean);
    for external in &mut record.external_ids {
        opt("external_ids", &mut external.scheme, &mut clean);
        opt("external_ids", &mut external.id, &mut clean);
    }
    for title in &mut record.titles {
        opt("titles", &mut title.text, &mut clean);
        opt("titles", &mut title.language, &mut clean);
    }
    for (field, list) in [
        ("descriptions", &mut record.descriptions),
        ("synopses", &mut record.synopses),
    ] {
        for text in list {
            opt(field, &mut text.text, &mut clean);
            opt(field, &mut text.language, &mut clean);
        }
    }
    for release in &mut record.release_dates {
        opt("release_dates", &mut release.release_type, &mut clean);
    }
    for (field, list) in [
        ("genres", &mut record.genres),
        ("keywords", &mut record.keywords),
        ("studios", &mut record.studios),
    ] {
        for name in list {
            clean(field, name);
        }
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
            external_ids: meta
                .external_ids
                .iter()
                .map(|e| SourceExternalId {
                    scheme: Some(e.scheme.clone()),
                    id: Some(e.id.clone()),
                })
                .collect(),
            title: Some(meta.title.text.clone()),
            locale: Some(meta.title.locale.clone()),
            titles: meta
                .other_titles
                .iter()
                .map(|t| SourceTitle {
                    text: Some(t.text.clone()),
                    language: Some(t.locale.clone()),
                    territories: if t.territories.is_empty() {
                        Vec::new()
                    } else {
                        t.territories.split(',').map(str::to_owned).collect()
                    },
                    default: false,
                })
                .collect(),
            description: meta.description.clone(),
            descriptions: source_texts(&meta.other_descriptions),
            synopsis: meta.synopsis.clone(),
            synopses: source_texts(&meta.other_synopses),
            release_date: None,
            release_type: None,
            release_dates: meta
                .release_dates
                .iter()
                .map(|r| SourceReleaseDate {
                    date: Some(r.date.clone()),
                    release_type: r.release_type.clone(),
                })
                .collect(),
            runtime_minutes: meta.runtime_minutes,
            genres: meta.genres.clone(),
            keywords: meta.keywords.clone(),
            studios: meta.studios.clone(),
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
                    aspect_ratio: i.aspect_ratio.clone(),
                    mime_type: i.mime_type.clone(),
                    resolution: i.resolution.clone(),
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

fn source_texts(texts: &[LocalizedText]) -> Vec<SourceText> {
    texts
        .iter()
        .map(|t| SourceText {
            text: Some(t.text.clone()),
            language: Some(t.locale.clone()),
        })
        .collect()
}

/// Where a JSON Lines row holds text: a provider's export may hold any of
/// these as a JSON number (titles like `1776`, ids, prices), taken as text.
#[derive(Debug, Clone, Copy)]
enum TextShape {
    /// A string.
    Text,
    /// An array of strings.
    Texts,
    /// An object with these text fields.
    Object(&'static [(&'static str, TextShape)]),
    /// An array of such objects.
    Objects(&'static [(&'static str, TextShape)]),
}

use TextShape::{Object, Objects, Text, Texts};

/// Every text field of [`SourceRecord`], in the order warnings name them.
const RECORD_TEXT: &[(&str, TextShape)] = &[
    ("id", Text),
    ("title", Text),
    ("locale", Text),
    ("description", Text),
    ("synopsis", Text),
    ("release_date", Text),
    ("release_type", Text),
    ("deep_link", Text),
    ("series_id", Text),
    ("season_id", Text),
    ("external_ids", Objects(&[("scheme", Text), ("id", Text)])),
    (
        "titles",
        Objects(&[("text", Text), ("language", Text), ("territories", Texts)]),
    ),
    (
        "descriptions",
        Objects(&[("text", Text), ("language", Text)]),
    ),
    ("synopses", Objects(&[("text", Text), ("language", Text)])),
    ("release_dates", Objects(&[("date", Text), ("type", Text)])),
    ("genres", Texts),
    ("keywords", Texts),
    ("rating", Object(&[("system", Text), ("value", Text)])),
    ("studios", Texts),
    ("credits", Objects(&[("role", Text), ("name", Text)])),
    (
        "images",
        Objects(&[
            ("type", Text),
            ("url", Text),
            ("aspect_ratio", Text),
            ("mime_type", Text),
            ("resolution", Text),
        ]),
    ),
    (
        "offers",
        Objects(&[
            ("type", Text),
            ("regions", Texts),
            ("start", Text),
            ("end", Text),
            ("price", Text),
            ("currency", Text),
        ]),
    ),
];

/// Parses a row whose text fields ([`RECORD_TEXT`]) hold JSON numbers,
/// taking each number as its text; records each field by its path
/// (`titles[1].text`) so the loader warns. `None` when the row is wrong
/// in another way.
fn numbers_as_text(text: &str, fields: &mut Vec<(String, String)>) -> Option<SourceRecord> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object_mut()?;
    numbers_in_object(object, RECORD_TEXT, "", fields);
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

fn numbers_in_object(
    object: &mut serde_json::Map<String, serde_json::Value>,
    shape: &[(&str, TextShape)],
    prefix: &str,
    fields: &mut Vec<(String, String)>,
) {
    for &(name, shape) in shape {
        if let Some(value) = object.get_mut(name) {
            numbers_in(value, shape, &format!("{prefix}{name}"), fields);
        }
    }
}

fn numbers_in(
    value: &mut serde_json::Value,
    shape: TextShape,
    path: &str,
    fields: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    match (shape, value) {
        (Text, value @ Value::Number(_)) => {
            let number = value.to_string();
            fields.push((path.to_owned(), number.clone()));
            *value = Value::String(number);
        }
        (Texts, Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                numbers_in(item, Text, &format!("{path}[{i}]"), fields);
            }
        }
        (Object(inner), Value::Object(object)) => {
            numbers_in_object(object, inner, &format!("{path}."), fields);
        }
        (Objects(inner), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                if let Value::Object(object) = item {
                    numbers_in_object(object, inner, &format!("{path}[{i}]."), fields);
                }
            }
        }
        _ => {}
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

    /// The findings as (line, code), leaving out the missing-IMDb warning
    /// that most rows of these tests earn (its own tests look for it).
    fn found(report: &LoadReport) -> Vec<(u64, &'static str)> {
        report
            .findings
            .iter()
            .filter(|f| f.rule != Rule::SourceImdbMissing)
            .map(|f| (f.position.line, f.rule.code()))
            .collect()
    }

    /// Every finding as (line, code, item id, message).
    fn messages(report: &LoadReport) -> Vec<(u64, &'static str, String, String)> {
        report
            .findings
            .iter()
            .map(|f| {
                (
                    f.position.line,
                    f.rule.code(),
                    f.item_id.clone().unwrap_or_default(),
                    f.message.clone(),
                )
            })
            .collect()
    }

    const IMDB: &str = r#""external_ids":[{"scheme":"imdb","id":"tt0113277"}]"#;

    #[test]
    fn external_ids_by_scheme_and_a_missing_imdb_id_is_a_warning() {
        let text = String::from(
            "{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"Heat\",\"external_ids\":[{\"scheme\":\"imdb\",\"id\":\"tt0113277\"},{\"scheme\":\"tmdb\",\"id\":\"949\"}]}\n\
             {\"type\":\"series\",\"id\":\"s1\",\"title\":\"Show\"}\n\
             {\"type\":\"season\",\"id\":\"s1-1\",\"series_id\":\"s1\",\"season_number\":1,\"title\":\"S1\"}\n\
             {\"type\":\"episode\",\"id\":\"e1\",\"season_id\":\"s1-1\",\"episode_number\":1,\"title\":\"Pilot\"}\n\
             {\"type\":\"movie\",\"id\":\"m2\",\"title\":\"Bad\",\"external_ids\":[{\"scheme\":\"imdb\",\"id\":\"113277\"}]}\n\
             {\"type\":\"movie\",\"id\":\"m3\",\"title\":\"No id\",\"external_ids\":[{\"scheme\":\"eidr\"}]}\n\
             {\"type\":\"movie\",\"id\":\"m4\",\"title\":\"Spaced\",\"external_ids\":[{\"scheme\":\"my db\",\"id\":\"1\"}]}\n",
        );
        let (items, report) = load(&text, SourceFormat::JsonLines);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "s1", "s1-1", "e1"]);
        assert_eq!(
            items[0].meta.external_ids,
            [
                ExternalId {
                    scheme: "imdb".into(),
                    id: "tt0113277".into()
                },
                ExternalId {
                    scheme: "tmdb".into(),
                    id: "949".into()
                }
            ]
        );
        let all = messages(&report);
        // The series and the episode lack an IMDb id: warnings, the rows
        // load; the season is not asked for one.
        let warnings: Vec<_> = all
            .iter()
            .filter(|f| f.1 == "source.imdb-missing")
            .map(|f| (f.0, f.2.as_str(), f.3.as_str()))
            .collect();
        assert_eq!(
            warnings,
            [
                (
                    2,
                    "s1",
                    "the series has no IMDb id in external_ids; the row was loaded"
                ),
                (
                    4,
                    "e1",
                    "the episode has no IMDb id in external_ids; the row was loaded"
                ),
            ]
        );
        assert!(
            report
                .findings
                .iter()
                .filter(|f| f.rule == Rule::SourceImdbMissing)
                .all(|f| f.severity == crate::finding::Severity::Warning)
        );
        let errors: Vec<_> = all
            .iter()
            .filter(|f| f.1 != "source.imdb-missing")
            .map(|f| (f.0, f.1, f.2.as_str(), f.3.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    5,
                    "item.bad-value",
                    "m2",
                    "external_ids[0]: IMDb id \"113277\" is not tt followed by at least 7 digits, like tt0113277"
                ),
                (6, "item.required-child", "m3", "external_ids[0] has no id"),
                (
                    7,
                    "item.bad-value",
                    "m4",
                    "external_ids[0].scheme \"my db\" is not a name like imdb (no spaces)"
                ),
            ]
        );
    }

    #[test]
    fn several_titles_with_exactly_one_default_and_territories() {
        let text = format!(
            "{{\"type\":\"movie\",\"id\":\"m1\",{IMDB},\"title\":\"Heat\",\"locale\":\"en-US\",\"titles\":[{{\"text\":\"Heat (UK)\",\"language\":\"en-GB\",\"territories\":[\"GB\",\"IE\"]}},{{\"text\":\"ヒート\",\"language\":\"ja-JP\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m2\",{IMDB},\"titles\":[{{\"text\":\"Amélie\",\"language\":\"fr-FR\",\"default\":true}},{{\"text\":\"Amelie\",\"language\":\"en-US\",\"territories\":[\"GLOBAL\"]}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m3\",{IMDB},\"titles\":[{{\"text\":\"Only\",\"language\":\"de\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m4\",{IMDB},\"title\":\"Two\",\"titles\":[{{\"text\":\"Zwei\",\"language\":\"de\",\"default\":true}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m5\",{IMDB},\"titles\":[{{\"text\":\"A\",\"language\":\"de\",\"default\":true}},{{\"text\":\"B\",\"language\":\"fr\",\"default\":true}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m6\",{IMDB},\"titles\":[{{\"text\":\"A\",\"language\":\"de\"}},{{\"text\":\"B\",\"language\":\"fr\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m7\",{IMDB},\"title\":\"T\",\"titles\":[{{\"text\":\"U\",\"language\":\"en-GB\",\"territories\":[\"uk\"]}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m8\",{IMDB},\"titles\":[{{\"text\":\"A\",\"language\":\"de\",\"default\":true,\"territories\":[\"DE\"]}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m9\",{IMDB},\"title\":\"T\",\"locale\":\"de\",\"titles\":[{{\"text\":\"U\",\"language\":\"de\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m10\",{IMDB},\"titles\":[{{\"text\":\"  \",\"language\":\"de\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m11\",{IMDB},\"title\":\"T\",\"titles\":[{{\"text\":\"U\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m12\",{IMDB},\"locale\":\"en-US\",\"titles\":[{{\"text\":\"U\",\"language\":\"de\"}}]}}\n"
        );
        let (items, report) = load(&text, SourceFormat::JsonLines);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3"]);
        let m1 = &items[0].meta;
        assert_eq!(
            (m1.title.locale.as_str(), m1.title.text.as_str()),
            ("en-US", "Heat")
        );
        assert_eq!(
            m1.other_titles,
            [
                Title {
                    locale: "en-GB".into(),
                    text: "Heat (UK)".into(),
                    territories: "GB,IE".into()
                },
                Title {
                    locale: "ja-JP".into(),
                    text: "ヒート".into(),
                    territories: String::new()
                }
            ]
        );
        let m2 = &items[1].meta;
        assert_eq!(
            (m2.title.locale.as_str(), m2.title.text.as_str()),
            ("fr-FR", "Amélie")
        );
        assert_eq!(m2.other_titles.len(), 1);
        assert_eq!(m2.other_titles[0].territories, "GLOBAL");
        assert_eq!(items[2].meta.title.text, "Only");
        assert!(items[2].meta.other_titles.is_empty());
        let errors: Vec<_> = messages(&report).into_iter().collect();
        let expect = [
            (
                4,
                "item.bad-value",
                "m4",
                "titles[0] is marked default, but title is the default title; exactly one title is the default, so drop the mark or the title field",
            ),
            (
                5,
                "item.bad-value",
                "m5",
                "titles[0] and titles[1] are both marked default; exactly one title is the default",
            ),
            (
                6,
                "item.required-child",
                "m6",
                "none of the 2 titles is marked default; mark exactly one with \"default\": true (or give the title field)",
            ),
            (
                7,
                "item.bad-value",
                "m7",
                "titles[0].territories holds \"uk\"; use two-letter codes like US, or GLOBAL alone",
            ),
            (
                8,
                "item.bad-value",
                "m8",
                "titles[0] is the default title, which applies everywhere; give territories only to the other titles",
            ),
            (
                9,
                "item.bad-value",
                "m9",
                "titles[0] repeats the language \"de\" and territories of another title; give each language and territories one title",
            ),
            (10, "item.required-child", "m10", "titles[0] has no text"),
            (
                11,
                "item.required-child",
                "m11",
                "titles[0] has no language (a tag like fr-CA)",
            ),
            (
                12,
                "item.bad-value",
                "m12",
                "locale \"en-US\" is the language of the title field, but the default title is titles[0] in \"de\"; drop locale or make them agree",
            ),
        ];
        assert_eq!(errors.len(), expect.len(), "{errors:#?}");
        for (got, want) in errors.iter().zip(expect) {
            assert_eq!(
                (got.0, got.1, got.2.as_str(), got.3.as_str()),
                want,
                "{errors:#?}"
            );
        }
    }

    #[test]
    fn descriptions_synopses_release_dates_keywords_studios_and_image_attributes() {
        let text = format!(
            "{{\"type\":\"movie\",\"id\":\"m1\",{IMDB},\"title\":\"Heat\",\"locale\":\"en-US\",\"description\":\"Cops & robbers.\",\"descriptions\":[{{\"text\":\"Flics et voleurs.\",\"language\":\"fr-FR\"}}],\"synopsis\":\"Long.\",\"synopses\":[{{\"text\":\"Lang.\",\"language\":\"de\"}}],\"release_date\":\"1995-12-15\",\"release_type\":\"theatrical\",\"release_dates\":[{{\"date\":\"2020-01-01\",\"type\":\"streaming\"}},{{\"date\":\"2021-01-01\"}}],\"keywords\":[\"heist\",\"los angeles\"],\"studios\":[\"Warner Bros.\",\"Regency\"],\"images\":[{{\"type\":\"cover\",\"url\":\"https://img.example.com/c.jpg\",\"aspect_ratio\":\"2:3\",\"mime_type\":\"image/jpeg\",\"resolution\":\"4K\"}},{{\"type\":\"background\",\"url\":\"https://img.example.com/b.jpg\",\"aspect_ratio\":\"2.39:1\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m2\",{IMDB},\"title\":\"T\",\"images\":[{{\"type\":\"cover\",\"url\":\"https://img.example.com/c.jpg\",\"aspect_ratio\":\"wide\",\"mime_type\":\"jpeg\",\"resolution\":\"very big\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m3\",{IMDB},\"title\":\"T\",\"release_type\":\"streaming\",\"release_dates\":[{{\"type\":\"dvd\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m4\",{IMDB},\"title\":\"T\",\"descriptions\":[{{\"text\":\"x\"}}],\"synopses\":[{{\"language\":\"de\"}}],\"keywords\":[\"\"]}}\n\
             {{\"type\":\"movie\",\"id\":\"m5\",{IMDB},\"title\":\"T\",\"release_dates\":[{{\"date\":\"2021-01-30\",\"type\":\"home video\"}}]}}\n\
             {{\"type\":\"movie\",\"id\":\"m6\",{IMDB},\"title\":\"T\",\"release_dates\":[{{\"date\":\"2021-02-30\",\"type\":\"dvd\"}}]}}\n"
        );
        let (items, report) = load(&text, SourceFormat::JsonLines);
        assert_eq!(items.len(), 1, "{:#?}", messages(&report));
        let meta = &items[0].meta;
        assert_eq!(meta.description.as_deref(), Some("Cops & robbers."));
        assert_eq!(
            meta.other_descriptions,
            [LocalizedText {
                locale: "fr-FR".into(),
                text: "Flics et voleurs.".into()
            }]
        );
        assert_eq!(meta.synopsis.as_deref(), Some("Long."));
        assert_eq!(meta.other_synopses[0].locale, "de");
        let release = |date: &str, kind: Option<&str>| ReleaseDate {
            date: date.into(),
            release_type: kind.map(Into::into),
        };
        assert_eq!(
            meta.release_dates,
            [
                release("1995-12-15", Some("theatrical")),
                release("2020-01-01", Some("streaming")),
                release("2021-01-01", None)
            ]
        );
        assert_eq!(meta.keywords, ["heist", "los angeles"]);
        assert_eq!(meta.studios, ["Warner Bros.", "Regency"]);
        assert_eq!(
            meta.images[0],
            Image {
                kind: "cover".into(),
                url: "https://img.example.com/c.jpg".into(),
                aspect_ratio: Some("2:3".into()),
                mime_type: Some("image/jpeg".into()),
                resolution: Some("4K".into()),
            }
        );
        assert_eq!(meta.images[1].aspect_ratio.as_deref(), Some("2.39:1"));
        let errors: Vec<_> = messages(&report)
            .into_iter()
            .map(|(line, code, _, message)| (line, code, message))
            .collect();
        let expect = [
            (
                2,
                "item.bad-value",
                "images[0].aspect_ratio \"wide\" is not width:height like 16:9",
            ),
            (
                2,
                "item.bad-value",
                "images[0].mime_type \"jpeg\" is not an image type like image/jpeg",
            ),
            (
                2,
                "item.bad-value",
                "images[0].resolution \"very big\" is not a value like 4K or 1920x1080",
            ),
            (
                3,
                "item.required-child",
                "release_type is the type of release_date, which the row does not give",
            ),
            (3, "item.required-child", "release_dates[0] has no date"),
            (
                4,
                "item.required-child",
                "descriptions[0] has no language (a tag like fr-CA)",
            ),
            (4, "item.required-child", "synopses[0] has no text"),
            (4, "item.bad-value", "keywords[0] is empty"),
            (
                5,
                "item.bad-value",
                "release_dates[0].type \"home video\" is not a word like streaming or theatrical",
            ),
        ];
        assert_eq!(errors.len(), expect.len() + 1, "{errors:#?}");
        for (got, want) in errors.iter().zip(expect) {
            assert_eq!((got.0, got.1, got.2.as_str()), want, "{errors:#?}");
        }
        // The impossible date is the value rules' finding.
        assert_eq!(
            (errors[9].0, errors[9].2.as_str()),
            (
                6,
                "release date \"2021-02-30\" is not a calendar date YYYY-MM-DD"
            )
        );
    }

    #[test]
    fn every_text_field_may_hold_a_json_number_taken_as_text_with_a_warning() {
        let text = "{\"type\":\"movie\",\"id\":\"m1\",\"title\":300,\"titles\":[{\"text\":1776,\"language\":\"fr-FR\"}],\"description\":42,\"external_ids\":[{\"scheme\":\"imdb\",\"id\":\"tt0416449\"},{\"scheme\":\"tmdb\",\"id\":1271}],\"keywords\":[\"sparta\",480],\"studios\":[20],\"credits\":[{\"role\":\"actor\",\"name\":7}],\"release_dates\":[{\"date\":\"2007-03-09\",\"type\":3}],\"images\":[{\"type\":\"cover\",\"url\":\"https://img.example.com/c.jpg\",\"resolution\":1080}],\"offers\":[{\"type\":\"rental\",\"regions\":[\"US\"],\"price\":3.99,\"currency\":\"USD\"}]}\n\
                    {\"type\":\"movie\",\"id\":\"m2\",\"title\":\"T\",\"runtime_minutes\":\"long\"}\n";
        let (items, report) = load(text, SourceFormat::JsonLines);
        assert_eq!(items.len(), 1);
        let meta = &items[0].meta;
        assert_eq!(meta.title.text, "300");
        assert_eq!(meta.other_titles[0].text, "1776");
        assert_eq!(meta.description.as_deref(), Some("42"));
        assert_eq!(meta.external_ids[1].id, "1271");
        assert_eq!(meta.keywords, ["sparta", "480"]);
        assert_eq!(meta.studios, ["20"]);
        assert_eq!(meta.credits[0].name, "7");
        assert_eq!(meta.release_dates[0].release_type.as_deref(), Some("3"));
        assert_eq!(meta.images[0].resolution.as_deref(), Some("1080"));
        assert_eq!(
            meta.offers[0].price.as_ref().map(|p| p.amount.as_str()),
            Some("3.99")
        );
        let found = messages(&report);
        let warnings: Vec<_> = found
            .iter()
            .filter(|f| f.1 == "source.number-as-text")
            .map(|f| (f.0, f.2.as_str(), f.3.as_str()))
            .collect();
        let named = |field: &str, number: &str| {
            format!("{field} is the JSON number {number}; it is taken as the text \"{number}\"")
        };
        let expect = [
            named("title", "300"),
            named("description", "42"),
            named("external_ids[1].id", "1271"),
            named("titles[0].text", "1776"),
            named("release_dates[0].type", "3"),
            named("keywords[1]", "480"),
            named("studios[0]", "20"),
            named("credits[0].name", "7"),
            named("images[0].resolution", "1080"),
            named("offers[0].price", "3.99"),
        ];
        assert_eq!(
            warnings,
            expect
                .iter()
                .map(|m| (1, "m1", m.as_str()))
                .collect::<Vec<_>>()
        );
        // A number where text is expected is fixed; text where a number is
        // expected is still a syntax error, on its line.
        assert!(
            found
                .iter()
                .any(|f| f.0 == 2 && f.1 == "source.syntax" && f.2 == "m2"),
            "{found:#?}"
        );
    }

    #[test]
    fn csv_carries_the_new_columns() {
        let text = "id,title,description,imdb_id,external_ids,studios,keywords,credits,release_date,release_type,poster_url,poster_aspect_ratio,poster_mime_type,poster_resolution\n\
                    m1,Heat,Cops & robbers.,tt0113277,tmdb:949|eidr:10.5240/1,Warner Bros.|Regency,heist|la,director:Michael Mann|actor:Al Pacino,1995-12-15,theatrical,https://img.example.com/p.jpg,2:3,image/jpeg,4K\n\
                    m2,Ronin,,,tmdb,,,,,,,,,\n\
                    m3,Other,,,,,,Michael Mann,,,,,,\n\
                    m4,No IMDb,,,,,,,,,,,,\n";
        let (items, report) = load(text, SourceFormat::Csv);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m4"]);
        let meta = &items[0].meta;
        assert_eq!(meta.description.as_deref(), Some("Cops & robbers."));
        let schemes: Vec<_> = meta
            .external_ids
            .iter()
            .map(|e| (e.scheme.as_str(), e.id.as_str()))
            .collect();
        assert_eq!(
            schemes,
            [
                ("imdb", "tt0113277"),
                ("tmdb", "949"),
                ("eidr", "10.5240/1")
            ]
        );
        assert_eq!(meta.studios, ["Warner Bros.", "Regency"]);
        assert_eq!(meta.keywords, ["heist", "la"]);
        assert_eq!(meta.credits.len(), 2);
        assert_eq!(meta.credits[1].name, "Al Pacino");
        assert_eq!(
            meta.release_dates[0].release_type.as_deref(),
            Some("theatrical")
        );
        assert_eq!(meta.images[0].mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(meta.images[0].resolution.as_deref(), Some("4K"));
        let found: Vec<_> = messages(&report).into_iter().collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(
            (found[0].0, found[0].1, found[0].2.as_str()),
            (3, "source.syntax", "m2")
        );
        assert!(
            found[0]
                .3
                .contains("external_ids entry \"tmdb\" is not key:value (e.g. tmdb:949)"),
            "{found:#?}"
        );
        assert_eq!((found[1].0, found[1].1), (4, "source.syntax"));
        assert!(
            found[1].3.contains("credits entry \"Michael Mann\""),
            "{found:#?}"
        );
        assert_eq!(
            (found[2].0, found[2].1, found[2].2.as_str()),
            (5, "source.imdb-missing", "m4")
        );
    }

    #[test]
    fn an_item_turned_back_into_a_row_loads_as_the_same_item() {
        for item in crate::synthetic::Synthetic::new(40, 5) {
            let mut item = item;
            item.meta.other_titles.push(Title {
                locale: "fr-FR".into(),
                text: "Titre".into(),
                territories: "FR,BE".into(),
            });
            item.meta.description = Some("Short.".into());
            item.meta.keywords = vec!["k".into()];
            item.meta.studios = vec!["S".into()];
            item.meta.release_dates[0].release_type = Some("streaming".into());
            item.meta.images[0].aspect_ratio = Some("2:3".into());
            let row = serde_json::to_string(&SourceRecord::from(&item)).unwrap();
            // A season or episode needs its parents earlier in the export.
            if item.kind.parent_id().is_some() {
                continue;
            }
            let (items, report) = load(&format!("{row}\n"), SourceFormat::JsonLines);
            assert_eq!(found(&report), [], "{row}");
            let mut expected = item.clone();
            expected.version = 1;
            // Offers come back one per region, as they were.
            assert_eq!(items, [expected], "{row}");
        }
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

    /// A row the quick test calls safe decodes to no character XML cannot
    /// carry, whatever its escapes; the rows it does not call safe are the
    /// ones scanned field by field.
    #[test]
    fn a_row_called_xml_safe_holds_no_character_xml_cannot_carry() {
        let pieces = [
            "a",
            "é",
            "東京",
            "\\n",
            "\\",
            "\\\\",
            "\\\"",
            "\\b",
            "\\f",
            "\\t",
            "\\r",
            "\\u0001",
            "\\u0009",
            "\\u001F",
            "\\u0020",
            "\\u00e9",
            "\\uFFFE",
            "\\uffff",
            "\\uFFFD",
            "\\ud83c\\udfac",
            "\u{FFFE}",
            "\u{FFFF}",
            "\u{FFFD}",
            "\\\\u0001",
            "\\\\b",
        ];
        let mut random = crate::synthetic::SplitMix64::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut next = |n: usize| random.below(n as u64) as usize;
        let (mut safe, mut unsafe_rows) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..1 + next(5) {
                text.push_str(pieces[next(pieces.len())]);
            }
            let row = format!("{{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"{text}\"}}");
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&row) else {
                continue;
            };
            let title = value["title"].as_str().unwrap();
            let bad = rules::first_non_xml_char(title);
            if json_row_is_xml_safe(row.as_bytes()) {
                safe += 1;
                assert_eq!(bad, None, "{row}");
            } else {
                unsafe_rows += 1;
            }
        }
        assert!(safe > 1_000 && unsafe_rows > 1_000, "{safe} {unsafe_rows}");
        // Escaped backslashes are text, not escapes.
        assert!(json_row_is_xml_safe(br#"{"title":"C:\\bin\\u0001"}"#));
        assert!(!json_row_is_xml_safe(br#"{"title":"bell\u0007"}"#));
        assert!(!json_row_is_xml_safe(br#"{"title":"cut \u00"}"#));
        assert!(!json_row_is_xml_safe("{\"title\":\"\u{FFFF}\"}".as_bytes()));
    }

    /// The rows that skip the scans still get every finding the scans gave.
    #[test]
    fn control_characters_are_found_in_json_and_csv_rows() {
        let text = "{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"Form\\ffeed\"}\n\
                    {\"type\":\"movie\",\"id\":\"m2\",\"title\":\"Non\u{FFFE}char\"}\n\
                    {\"type\":\"movie\",\"id\":\"m3\",\"title\":\"C:\\\\bin\"}\n";
        let (items, report) = load(text, SourceFormat::JsonLines);
        let titles: Vec<&str> = items.iter().map(|i| i.meta.title.text.as_str()).collect();
        assert_eq!(titles, ["Formfeed", "Nonchar", "C:\\bin"]);
        assert_eq!(
            found(&report),
            vec![(1, "text.control-character"), (2, "text.control-character")]
        );
        let text = "id,title\nm1,Bell\u{7}s\nm2,Fine\n";
        let (items, report) = load(text, SourceFormat::Csv);
        let titles: Vec<&str> = items.iter().map(|i| i.meta.title.text.as_str()).collect();
        assert_eq!(titles, ["Bells", "Fine"]);
        assert_eq!(found(&report), vec![(2, "text.control-character")]);
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
        let message = &report
            .findings
            .iter()
            .find(|f| f.rule == Rule::SourceRowTooLarge)
            .unwrap()
            .message;
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
            .filter(|f| f.rule != Rule::SourceImdbMissing)
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
