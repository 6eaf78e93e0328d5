//! The streaming EMBER reader and validator.
//!
//! [`CatalogReader`] reads a catalog from any `Read` (plain XML, zstd or
//! gzip, sniffed), one event at a time, and yields the entries that are
//! valid. Everything else is a [`Finding`] with the item id, the line and
//! column, the rule and a fix; findings are collected up to a cap, never
//! stopping at the first.
//!
//! The XML is tokenized on a worker thread, and decompressed on another,
//! ahead of the checks (a bounded amount ahead; see the `xml_events`
//! module); the input itself is read on the caller's thread. Memory does not
//! grow with the document beyond what the checks keep per id.
//!
//! What it checks from the file alone (EMBER.md, DOMAIN.md A3): the root
//! `<DataCollections>` and its `schemaVersion`, the `ProgramCatalog`'s
//! attributes (`action` is `upsert` or `replace`; a missing `version` is
//! EMBER's default 1), element names and the `xs:sequence` order of a
//! program's children from the schema table ([`crate::ember::schema`]),
//! the required `Titles`, attribute values (`default`, `territories`),
//! value formats (through [`rules::check_item`]), positive integer
//! versions that fit EMBER's `long`, unique ids, that a season's series and
//! an episode's season (from their `Relationships`) exist in the file or
//! are known to the caller ([`KnownItems`]), that no parent is deleted
//! while a child in the file stays alive, and, for deleted ids the caller
//! knows, that children are deleted before their parents and none is left
//! behind; in the `OfferCatalog`, that each `ProgramOffers` has an id, at
//! least one `ProgramOffer`, a `programRef` naming a program of this
//! document or a live one, and (when given) a `programCatalogRef` naming
//! this document's program catalog; and, when the caller knows what was
//! last sent per id ([`KnownItems::sent`]), that versions only go up
//! ([`rules::check_item_version`], [`rules::check_delete_version`]; a
//! `Delete`'s version must be above the last one sent, stricter than
//! EMBER's "greater than or equal"). What the docs leave open (other
//! catalogs and program types, the inside of `Studios`, the content of a
//! `Keyword`, other entitlement types, `ProgramOffer`'s child order) is
//! accepted as it is; where it has the shape the writer writes
//! (`<Studio>` or `<Keyword>` with text) it is taken into the model, as
//! are external ids, every title, description and synopsis, release dates
//! with their type and image attributes, so an item read back hashes as
//! the item written.
//!
//! A catalog split into parts (several documents, each with its own root)
//! is checked as one logical catalog by [`BatchValidation`] (or
//! [`validate_parts`]): one reader state across the parts, so a parent in
//! part 1 serves a child in part 2 and an id repeated across parts is a
//! duplicate; each part keeps its own root checks and its own report, and
//! the end-of-catalog checks run once, after the last part.
//!
//! Hostile input: a DOCTYPE (and so any entity declaration) is refused,
//! nesting is bounded, the decompressed size, the size of one token and the
//! text of one element (however comments, CDATA and references split it)
//! are bounded, and so are the parent references waiting for parents not
//! read yet ([`Limits`]). Those stop reading with one fatal finding.
//! [`CatalogReader::next_entry`] returns `Err` only when the underlying input
//! fails (a broken connection), which is not the catalog's fault.

use std::borrow::Cow;
use std::io::{self, Read};
use std::mem;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use thiserror::Error;

use crate::diff::{program_hash, tier_hash};
use crate::ember::Omit;
use crate::ember::schema::{self, Inferred, PROGRAM_CHILDREN};
#[cfg(test)]
use crate::finding::Severity;
use crate::finding::{Finding, Findings, Position, Rule};
use crate::ids::{IdHashMap, IdSet, KnownItems, id_hash};
use crate::input::{self, Compression, LimitExceeded, Limits};
use crate::model::{
    Action, CatalogHeader, Credit, Delete, Entry, ExternalId, Image, Item, ItemKind, KindTag,
    LocalizedText, Metadata, Offer, OfferKind, Rating, ReleaseDate, Title, drain_offer_strings,
};
use crate::rules;
use crate::words;
use crate::xml_events::{EventStream, Failure, Scanned, XmlFailure};

/// How to read.
#[derive(Clone, Copy)]
pub struct ReadOptions<'k> {
    /// Size and depth bounds.
    pub limits: Limits,
    /// How many findings to keep (all are counted).
    pub max_findings: usize,
    /// Items already live, usable as parents and for delete-order checks.
    pub known: Option<&'k dyn KnownItems>,
    /// Inferred elements the writer was told not to send: with
    /// `Relationships` omitted, seasons and episodes without one are
    /// accepted (and counted, but not yielded: the model needs their parents).
    pub omit: Omit,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            limits: Limits::default(),
            max_findings: Findings::DEFAULT_CAP,
            known: None,
            omit: Omit::NONE,
        }
    }
}

impl std::fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("limits", &self.limits)
            .field("max_findings", &self.max_findings)
            .field("known", &self.known.is_some())
            .finish()
    }
}

/// The input failed underneath the reader; the catalog may be fine.
#[derive(Debug, Error)]
#[error("could not read the catalog input: {0}")]
pub struct ReadError(#[from] pub io::Error);

/// What a finished read found.
#[derive(Debug)]
pub struct ReadReport {
    /// The root's attributes, when the root was read.
    pub header: Option<CatalogHeader>,
    /// Every problem found.
    pub findings: Findings,
    /// Valid items yielded per kind, indexed like [`KindTag::ALL`].
    pub items: [u64; 4],
    /// Valid deletes yielded.
    pub deletes: u64,
    /// Valid `<ProgramOffers>` read (they are checked, not yielded).
    pub program_offers: u64,
    /// Valid offer `<Delete>`s read in the `OfferCatalog`.
    pub offer_deletes: u64,
    /// Entries found invalid and not yielded.
    pub rejected: u64,
    /// Valid items the caller's [`KnownItems`] knows to be live: with
    /// [`ReadReport::total_items`], what a full catalog would drop.
    pub known_live: u64,
    /// Decompressed bytes read.
    pub xml_bytes: u64,
    /// The compression the input had.
    pub compression: Compression,
    /// False when a fatal finding stopped reading before the end.
    pub complete: bool,
}

impl ReadReport {
    /// True when the whole document was read and no error was found.
    pub fn is_valid(&self) -> bool {
        self.complete && self.findings.is_clean()
    }

    /// All valid items yielded.
    pub fn total_items(&self) -> u64 {
        self.items.iter().sum()
    }
}

/// Marks errors raised by the raw input (below any decoder).
#[derive(Debug)]
struct RawInputError(io::Error);

impl std::fmt::Display for RawInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RawInputError {}

struct RawInput<R>(R);

impl<R: Read> Read for RawInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), RawInputError(e)))
    }
}

/// Where in the document the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Directly inside `<DataCollections>`.
    Root,
    /// Inside `<ProgramCatalog>`.
    Program,
    /// Inside `<OfferCatalog>`.
    Offer,
}

impl Section {
    fn element(self) -> &'static str {
        match self {
            Section::Root => schema::ROOT,
            Section::Program => schema::PROGRAM_CATALOG,
            Section::Offer => schema::OFFER_CATALOG,
        }
    }
}

/// A fatal problem: reading stops.
enum Stop {
    /// Recorded as a finding; the document is not read further.
    Finding,
    /// The input failed.
    Io(io::Error),
}

/// The parts of one logical catalog, validated in order with one reader
/// state.
///
/// A catalog too large for one file is split into parts, each a complete
/// document with its own root. Checked one by one with fresh readers, a
/// child in part 2 whose parent is new in part 1 would be refused, and a
/// duplicate id across parts missed. A `BatchValidation` carries what the
/// checks keep (the ids seen, the series and seasons, the references waiting
/// for parents, the deletes) from part to part:
///
/// - [`validate_part`](Self::validate_part) reads the next part to its end:
///   its prolog and root are checked on their own, its entries against
///   everything read before, and its findings go to its own [`ReadReport`]
///   (positions are lines of that part);
/// - [`finish`](Self::finish) runs the end-of-catalog checks once (parent
///   references still waiting, known children left alive by a deleted
///   parent), adds each finding to the report of the part it points into,
///   and returns every part's report. The waiting references are settled
///   only when every part was read to its end: otherwise their parents may
///   be in what was not read.
///
/// ```
/// use catalog_core::reader::{BatchValidation, ReadOptions};
///
/// let decl = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
/// let part1 = format!(r#"{decl}<DataCollections schemaVersion="1.0.0"><ProgramCatalog id="C" version="1">
/// <TVSeries id="x" version="1"><Titles><Title language="en-US">X</Title></Titles></TVSeries>
/// </ProgramCatalog></DataCollections>"#);
/// let part2 = format!(r#"{decl}<DataCollections schemaVersion="1.0.0"><ProgramCatalog id="C" version="1">
/// <TVSeason id="x-1" version="1"><Titles><Title language="en-US">S1</Title></Titles><Relationships><Relationship type="series" programRef="x" sequence="1"/></Relationships></TVSeason>
/// </ProgramCatalog></DataCollections>"#);
/// let mut batch = BatchValidation::new(ReadOptions::default());
/// for part in [&part1, &part2] {
///     batch.validate_part(part.as_bytes())?;
/// }
/// let report = batch.finish();
/// assert!(report.is_valid());
/// assert_eq!(report.parts.len(), 2);
/// # Ok::<(), catalog_core::reader::ReadError>(())
/// ```
pub struct BatchValidation<'k> {
    options: ReadOptions<'k>,
    seen: Carried,
    parts: Vec<ReadReport>,
}

impl std::fmt::Debug for BatchValidation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchValidation")
            .field("options", &self.options)
            .field("parts_read", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl<'k> BatchValidation<'k> {
    /// A batch with no part read yet. `options` apply to every part (the
    /// findings cap is per part).
    pub fn new(options: ReadOptions<'k>) -> BatchValidation<'k> {
        BatchValidation {
            options,
            seen: Carried::default(),
            parts: Vec::new(),
        }
    }

    /// Reads and checks the next part, in order, against every part read
    /// before it, and returns its report (the end-of-catalog checks may add
    /// to it in [`finish`](Self::finish)).
    ///
    /// `Err` only when the input fails (a broken stream), which is not the
    /// catalog's fault; the part was then read in part, so the batch cannot
    /// be trusted further and should be dropped.
    pub fn validate_part<R: Read>(&mut self, input: R) -> Result<&ReadReport, ReadError> {
        let mut seen = std::mem::take(&mut self.seen);
        seen.part = self.parts.len();
        let mut reader = CatalogReader::open(input, self.options, seen)?;
        reader.discard = true;
        let outcome = loop {
            match reader.try_next_entry() {
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(error) => break Err(error),
            }
        };
        let (report, seen) = reader.finish_part();
        self.seen = seen;
        outcome?;
        self.parts.push(report);
        Ok(&self.parts[self.parts.len() - 1])
    }

    /// How many parts were read.
    pub fn parts_read(&self) -> usize {
        self.parts.len()
    }

    /// Runs the end-of-catalog checks once and returns every part's report.
    pub fn finish(mut self) -> BatchReport {
        let complete = !self.parts.is_empty() && self.parts.iter().all(|p| p.complete);
        let parts = &mut self.parts;
        self.seen
            .end_of_catalog(self.options.known, complete, &mut |part, finding| {
                if let Some(report) = parts.get_mut(part) {
                    report.findings.push(finding);
                }
            });
        BatchReport { parts: self.parts }
    }
}

/// Validates `parts`, in order, as one logical catalog: a
/// [`BatchValidation`] fed every part, then finished.
pub fn validate_parts<'k, R: Read>(
    parts: impl IntoIterator<Item = R>,
    options: ReadOptions<'k>,
) -> Result<BatchReport, ReadError> {
    let mut batch = BatchValidation::new(options);
    for part in parts {
        batch.validate_part(part)?;
    }
    Ok(batch.finish())
}

/// What validating a batch found: one report per part, in order.
#[derive(Debug)]
pub struct BatchReport {
    /// Each part's report: its header, its findings (end-of-catalog ones
    /// included, in the part they point into), its counts.
    pub parts: Vec<ReadReport>,
}

impl BatchReport {
    /// True when there was at least one part and every part was read to
    /// its end with no error.
    pub fn is_valid(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(ReadReport::is_valid)
    }

    /// Errors in all parts.
    pub fn error_count(&self) -> u64 {
        self.parts.iter().map(|p| p.findings.error_count()).sum()
    }

    /// Valid items per kind in all parts, indexed like [`KindTag::ALL`].
    pub fn items(&self) -> [u64; 4] {
        let mut items = [0; 4];
        for part in &self.parts {
            for (total, n) in items.iter_mut().zip(part.items) {
                *total += n;
            }
        }
        items
    }

    /// All valid items in all parts.
    pub fn total_items(&self) -> u64 {
        self.items().iter().sum()
    }

    /// Valid deletes in all parts.
    pub fn deletes(&self) -> u64 {
        self.parts.iter().map(|p| p.deletes).sum()
    }

    /// Valid items the caller's [`KnownItems`] knows to be live, in all parts.
    pub fn known_live(&self) -> u64 {
        self.parts.iter().map(|p| p.known_live).sum()
    }
}

/// Reads one EMBER catalog, yielding valid entries and collecting findings.
pub struct CatalogReader<'a> {
    /// The document's events, read on a second thread. Taken out while
    /// reading (so an event can borrow it while `self` changes).
    events: EventStream<'a>,
    /// Where the input was after the last event read.
    at: Position,
    /// The text of the leaf element being read.
    text: String,
    /// What the scan found of the text the last event was cut from.
    scanned: Scanned,
    /// Some text read since the last item was checked may hold a character
    /// XML cannot carry: it came from text not scanned, a character
    /// reference, or attributes quick-xml read. Otherwise the item's
    /// character check is skipped.
    unscanned: bool,
    /// Entries are checked and dropped, not returned (`validate_to_end`):
    /// their allocations are then reused through `spare`.
    discard: bool,
    spare: Spare,
    options: ReadOptions<'a>,
    compression: Compression,
    findings: Findings,
    header: Option<CatalogHeader>,
    /// What the checks keep about the whole catalog (every part of a batch).
    seen: Carried,
    items: [u64; 4],
    deletes: u64,
    program_offers: u64,
    offer_deletes: u64,
    rejected: u64,
    known_live: u64,
    /// Which catalog the reader is in.
    section: Section,
    offer_catalog_seen: bool,
    root_closed: bool,
    finished: bool,
    complete: bool,
}

impl std::fmt::Debug for CatalogReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogReader")
            .field("header", &self.header)
            .field("findings", &self.findings.error_count())
            .finish_non_exhaustive()
    }
}

impl<'a> CatalogReader<'a> {
    /// Opens a catalog, sniffing zstd or gzip compression. Reads the prolog
    /// and the root element; problems there become findings.
    ///
    /// Starts the worker threads that tokenize (and decompress) the input;
    /// they end when the reader is dropped. Fails if the input fails or a
    /// thread cannot be started.
    pub fn new<R: Read + 'a>(input: R, options: ReadOptions<'a>) -> Result<Self, ReadError> {
        CatalogReader::open(input, options, Carried::default())
    }

    /// Opens one document (a whole catalog, or one part of a batch) with
    /// what the checks already know of the catalog.
    fn open<R: Read + 'a>(
        input: R,
        options: ReadOptions<'a>,
        seen: Carried,
    ) -> Result<Self, ReadError> {
        let (raw, compression) = input::sniff(RawInput(input)).map_err(ReadError)?;
        let events = EventStream::start(raw, compression, options.limits).map_err(ReadError)?;
        let mut reader = CatalogReader {
            events,
            at: Position {
                line: 1,
                column: 1,
                offset: 0,
            },
            text: String::new(),
            scanned: Scanned::default(),
            unscanned: true,
            discard: false,
            spare: Spare::default(),
            options,
            compression,
            findings: Findings::with_cap(options.max_findings),
            header: None,
            seen,
            items: [0; 4],
            deletes: 0,
            program_offers: 0,
            offer_deletes: 0,
            rejected: 0,
            known_live: 0,
            section: Section::Root,
            offer_catalog_seen: false,
            root_closed: false,
            finished: false,
            complete: false,
        };
        let mut events = std::mem::take(&mut reader.events);
        let prolog = reader.read_prolog(&mut events);
        reader.events = events;
        match prolog {
            Ok(()) => {}
            Err(Stop::Finding) => reader.finished = true,
            Err(Stop::Io(e)) => return Err(ReadError(e)),
        }
        Ok(reader)
    }

    /// The root's attributes, once read.
    pub fn header(&self) -> Option<&CatalogHeader> {
        self.header.as_ref()
    }

    /// The findings so far.
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// The next valid entry, or `None` at the end of the document (or after
    /// a fatal finding). Invalid entries are reported and skipped.
    #[allow(clippy::should_implement_trait)]
    pub fn next_entry(&mut self) -> Option<Entry> {
        match self.try_next_entry() {
            Ok(entry) => entry,
            Err(error) => {
                self.fatal(
                    Rule::XmlMalformed,
                    self.position(),
                    format!("the input failed: {}", error.0),
                );
                None
            }
        }
    }

    /// Like [`next_entry`](Self::next_entry), but an input failure (not the
    /// catalog's fault) is returned as an error rather than a finding.
    pub fn try_next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        while !self.finished {
            let mut events = std::mem::take(&mut self.events);
            let read = self.read_top_level(&mut events);
            self.events = events;
            match read {
                Ok(Some(entry)) => return Ok(Some(entry)),
                Ok(None) => {}
                Err(Stop::Finding) => self.finished = true,
                Err(Stop::Io(e)) => {
                    self.finished = true;
                    return Err(ReadError(e));
                }
            }
        }
        Ok(None)
    }

    /// Reads to the end, discarding entries, and reports.
    pub fn validate_to_end(mut self) -> Result<ReadReport, ReadError> {
        self.discard = true;
        while self.try_next_entry()?.is_some() {}
        Ok(self.finish())
    }

    /// Ends reading: runs the end-of-document checks and returns the report.
    /// Call it after `next_entry` returned `None`.
    ///
    /// A read stopped early by a fatal finding skips the check of parent
    /// references still waiting: the parents may be in what was not read.
    pub fn finish(self) -> ReadReport {
        let known = self.options.known;
        let (mut report, mut seen) = self.finish_part();
        let complete = report.complete;
        seen.end_of_catalog(known, complete, &mut |_, finding| {
            report.findings.push(finding);
        });
        report
    }

    /// Ends this document without the end-of-catalog checks: its report,
    /// and what the checks keep for the next part.
    fn finish_part(self) -> (ReadReport, Carried) {
        let report = ReadReport {
            header: self.header,
            findings: self.findings,
            items: self.items,
            deletes: self.deletes,
            program_offers: self.program_offers,
            offer_deletes: self.offer_deletes,
            rejected: self.rejected,
            known_live: self.known_live,
            xml_bytes: self.at.offset,
            compression: self.compression,
            complete: self.complete,
        };
        (report, self.seen)
    }

    fn position(&self) -> Position {
        self.at
    }

    fn report(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    fn error(&mut self, rule: Rule, position: Position, id: Option<&str>, message: String) {
        let mut finding = Finding::error(rule, position, message);
        if let Some(id) = id {
            finding = finding.for_item(id);
        }
        self.report(finding);
    }

    fn fatal(&mut self, rule: Rule, position: Position, message: String) {
        self.report(Finding::error(rule, position, message));
        self.finished = true;
    }

    /// Reads the next event, turning parser errors into a fatal finding.
    #[inline(always)]
    fn read_event<'b>(&mut self, buf: &'b mut EventStream<'a>) -> Result<Event<'b>, Stop> {
        match buf.next_event() {
            Ok((event, after, scanned)) => {
                self.at = after;
                self.scanned = scanned;
                self.unscanned |= !scanned.xml_chars;
                Ok(event)
            }
            Err(Failure::Xml(failure)) => {
                let XmlFailure { error, at, after } = *failure;
                self.at = after;
                Err(self.classify(error, at))
            }
            Err(Failure::Lost(error)) => Err(Stop::Io(error)),
        }
    }

    fn classify(&mut self, error: quick_xml::Error, at: u64) -> Stop {
        let position = Position {
            offset: at,
            ..self.position()
        };
        if let quick_xml::Error::Io(io) = &error {
            if let Some(limit) = LimitExceeded::from_io(io) {
                let message = limit.to_string();
                self.report(Finding::error(Rule::XmlTooLarge, position, message));
                return Stop::Finding;
            }
            let raw = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<RawInputError>())
                .is_some();
            if raw {
                return Stop::Io(io::Error::new(io.kind(), io.to_string()));
            }
            let message = format!("the compressed stream is corrupt or truncated: {io}");
            self.report(Finding::error(Rule::Compression, position, message));
            return Stop::Finding;
        }
        self.report(Finding::error(
            Rule::XmlMalformed,
            position,
            format!("not well-formed XML: {error}"),
        ));
        Stop::Finding
    }

    fn read_prolog(&mut self, buf: &mut EventStream<'a>) -> Result<(), Stop> {
        let mut declared = false;
        loop {
            let position = self.position();
            let event = self.read_event(buf)?;
            let empty = matches!(event, Event::Empty(_));
            match event {
                Event::Decl(decl) => {
                    declared = true;
                    let encoding = decl
                        .encoding()
                        .and_then(Result::ok)
                        .map(|e| e.to_ascii_lowercase());
                    let version = decl.version().ok().map(|v| v.into_owned());
                    if let Some(encoding) = encoding.filter(|e| e != "utf-8" && e != "utf8") {
                        let message = format!(
                            "the document declares encoding {encoding:?}; EMBER catalogs are UTF-8"
                        );
                        self.fatal(Rule::XmlEncoding, position, message);
                        return Err(Stop::Finding);
                    }
                    if version.as_deref() != Some("1.0") {
                        let message = format!(
                            "the declaration says XML version {}; write version=\"1.0\"",
                            version.as_deref().unwrap_or("?")
                        );
                        self.error(Rule::XmlEncoding, position, None, message);
                    }
                }
                Event::DocType(_) => {
                    self.fatal(
                        Rule::XmlDoctype,
                        position,
                        "the document has a DOCTYPE; entity declarations are refused".into(),
                    );
                    return Err(Stop::Finding);
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(text) if is_blank(&text) => {}
                Event::Start(start) | Event::Empty(start) if start.name().0 == schema::ROOT => {
                    let start = start.into_owned();
                    if !declared {
                        self.report(Finding::warning(
                            Rule::XmlEncoding,
                            position,
                            "the document has no XML declaration; start it with <?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                        ));
                    }
                    self.read_root(&start, position);
                    if empty {
                        self.error(
                            Rule::RootElement,
                            position,
                            None,
                            "<DataCollections> is empty; it holds one or more catalogs".into(),
                        );
                        self.root_closed = true;
                    }
                    return Ok(());
                }
                Event::Start(start) | Event::Empty(start) => {
                    let name = start.name().0.to_owned();
                    let hint = if name == schema::PROGRAM_CATALOG {
                        "; wrap it in <DataCollections schemaVersion=\"1.0.0\">"
                    } else {
                        ""
                    };
                    self.fatal(
                        Rule::RootElement,
                        position,
                        format!("the root element is <{name}>, not <DataCollections>{hint}"),
                    );
                    return Err(Stop::Finding);
                }
                Event::Eof => {
                    self.fatal(Rule::RootElement, position, "the document is empty".into());
                    return Err(Stop::Finding);
                }
                _ => {
                    self.fatal(
                        Rule::XmlMalformed,
                        position,
                        "content before the root element".into(),
                    );
                    return Err(Stop::Finding);
                }
            }
        }
    }

    /// Checks `<DataCollections>`'s attributes: `schemaVersion` is optional
    /// and, when present, `1.0.0` [doc S1].
    fn read_root(&mut self, start: &BytesStart<'_>, position: Position) {
        let mut attributes = Attributes::default();
        self.attributes(start, position, schema::ROOT, &mut attributes);
        for (key, value) in attributes {
            match key {
                "schemaVersion" => {
                    if value != schema::SCHEMA_VERSION {
                        self.error(
                            Rule::SchemaVersion,
                            position,
                            None,
                            format!(
                                "schemaVersion {value:?} is not {:?}, the EMBER version this checker knows",
                                schema::SCHEMA_VERSION
                            ),
                        );
                    }
                }
                key if key.starts_with("xmlns") || key.starts_with("xsi:") => {}
                other => self.unknown_attribute(position, None, schema::ROOT, other),
            }
        }
    }

    /// Reads a catalog's `id`, `version` and `action` [doc S2, S3]: the id
    /// is optional (its default names the catalog), the version defaults
    /// to 1. `None` for the id when absent.
    fn catalog_attributes(
        &mut self,
        start: &BytesStart<'_>,
        position: Position,
        element: &str,
    ) -> (Option<String>, u64, Action) {
        let mut id = None;
        let mut version = 1;
        let mut action = Action::Upsert;
        let mut attributes = Attributes::default();
        self.attributes(start, position, element, &mut attributes);
        for (key, value) in attributes {
            match key {
                "id" => {
                    if value.is_empty()
                        || value.contains([' ', '\t', '\n', '\r'])
                        || rules::first_non_xml_char(&value).is_some()
                    {
                        self.error(
                            Rule::RootAttribute,
                            position,
                            None,
                            format!("<{element}> id {value:?} is empty or holds spaces"),
                        );
                    } else {
                        id = Some(value.into_owned());
                    }
                }
                "version" => match parse_version(&value) {
                    Some(v) => version = v,
                    None => {
                        let message =
                            format!("<{element}> version {value:?} is not a positive integer");
                        self.error(Rule::RootAttribute, position, None, message);
                        version = 0;
                    }
                },
                "action" => match Action::parse(&value) {
                    Some(a) => action = a,
                    None => self.error(
                        Rule::RootAttribute,
                        position,
                        None,
                        format!("<{element}> action {value:?} is neither upsert nor replace"),
                    ),
                },
                other => self.unknown_attribute(position, None, element, other),
            }
        }
        (id, version, action)
    }

    /// The `<ProgramCatalog>`'s attributes become the header (the first
    /// program catalog's, when a document holds several).
    fn read_header(&mut self, start: &BytesStart<'_>, position: Position) {
        let (id, version, action) =
            self.catalog_attributes(start, position, schema::PROGRAM_CATALOG);
        if self.header.is_some() {
            return;
        }
        let id = id.unwrap_or_else(|| schema::DEFAULT_PROGRAM_CATALOG.to_owned());
        self.header = Some(CatalogHeader {
            id,
            version,
            action,
        });
    }

    /// Reads top-level events until an entry is complete. `Ok(None)` means
    /// "nothing yielded this time, keep going".
    fn read_top_level(&mut self, buf: &mut EventStream<'a>) -> Result<Option<Entry>, Stop> {
        let position = self.position();
        let event = self.read_event(buf)?;
        let empty = matches!(event, Event::Empty(_));
        let container = self.section.element();
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if self.root_closed {
                    self.fatal(
                        Rule::XmlMalformed,
                        position,
                        "an element after </DataCollections>; a document has one root".into(),
                    );
                    return Err(Stop::Finding);
                }
                let name = start.name().0;
                match self.section {
                    Section::Program => {
                        if let Some(kind) = KindTag::from_element(name) {
                            // The attributes are read before the body, so the start
                            // tag need not outlive the next event.
                            let (id, version) =
                                self.entry_attributes(&start, position, kind.element());
                            return self.read_item(buf, kind, id, version, empty, position);
                        }
                        if name == schema::DELETE {
                            let start = start.into_owned();
                            return self.delete_element(buf, start, empty, position, false);
                        }
                        if schema::OTHER_PROGRAM_TYPES.contains(&name) {
                            // Outside the VOD subset: accepted, content open.
                            if !empty {
                                self.skip_subtree(buf, 3)?;
                            }
                            return Ok(None);
                        }
                        self.error(
                            Rule::UnknownElement,
                            position,
                            None,
                            format!("<{name}> is not an EMBER program type; expected Movie, TVSeries, TVSeason, TVEpisode or Delete"),
                        );
                        if !empty {
                            self.skip_subtree(buf, 3)?;
                        }
                        Ok(None)
                    }
                    Section::Offer => {
                        if name == schema::PROGRAM_OFFERS {
                            let start = start.into_owned();
                            self.read_program_offers(buf, &start, empty, position)?;
                            return Ok(None);
                        }
                        if name == schema::DELETE {
                            let start = start.into_owned();
                            return self.delete_element(buf, start, empty, position, true);
                        }
                        if schema::OTHER_OFFER_ENTRIES.contains(&name) {
                            if !empty {
                                self.skip_subtree(buf, 3)?;
                            }
                            return Ok(None);
                        }
                        let message = if KindTag::from_element(name).is_some() {
                            format!(
                                "<{name}> sits in the <OfferCatalog>; programs belong in the <ProgramCatalog>"
                            )
                        } else {
                            format!(
                                "<{name}> is not an EMBER offer entry; expected ProgramOffers or Delete"
                            )
                        };
                        let rule = if KindTag::from_element(name).is_some() {
                            Rule::CatalogPlacement
                        } else {
                            Rule::UnknownElement
                        };
                        self.error(rule, position, None, message);
                        if !empty {
                            self.skip_subtree(buf, 3)?;
                        }
                        Ok(None)
                    }
                    Section::Root => {
                        let start = start.into_owned();
                        self.read_catalog_start(buf, start, empty, position)
                    }
                }
            }
            Event::End(_) => {
                // check_end_names guarantees the end tag matches.
                match self.section {
                    Section::Root => self.root_closed = true,
                    _ => self.section = Section::Root,
                }
                buf.scan_characters(false);
                Ok(None)
            }
            Event::Text(text) => {
                if !is_blank(&text) {
                    self.error(
                        Rule::UnknownElement,
                        position,
                        None,
                        format!("text directly inside <{container}>; only elements belong there"),
                    );
                }
                Ok(None)
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                self.error(
                    Rule::UnknownElement,
                    position,
                    None,
                    format!("text directly inside <{container}>; only elements belong there"),
                );
                Ok(None)
            }
            Event::Comment(_) | Event::PI(_) => Ok(None),
            Event::Decl(_) => {
                self.fatal(
                    Rule::XmlMalformed,
                    position,
                    "a second XML declaration".into(),
                );
                Err(Stop::Finding)
            }
            Event::DocType(_) => {
                self.fatal(
                    Rule::XmlDoctype,
                    position,
                    "a DOCTYPE inside the document; entity declarations are refused".into(),
                );
                Err(Stop::Finding)
            }
            Event::Eof => {
                if self.root_closed {
                    self.complete = true;
                    if self.header.is_none() {
                        self.report(Finding::error(
                            Rule::CatalogPlacement,
                            position,
                            "the document has no <ProgramCatalog>; its id and version identify the catalog",
                        ));
                    }
                } else {
                    self.report(Finding::error(
                        Rule::XmlMalformed,
                        position,
                        "the document ends before </DataCollections>; the file is truncated",
                    ));
                }
                self.finished = true;
                Ok(None)
            }
        }
    }

    /// A child of `<DataCollections>`: a catalog, or a `Delete`.
    fn read_catalog_start(
        &mut self,
        buf: &mut EventStream<'a>,
        start: BytesStart<'static>,
        empty: bool,
        position: Position,
    ) -> Result<Option<Entry>, Stop> {
        let name = start.name().0;
        match name {
            "ProgramCatalog" => {
                self.read_header(&start, position);
                if self.offer_catalog_seen {
                    self.error(
                        Rule::CatalogPlacement,
                        position,
                        None,
                        "a <ProgramCatalog> after the <OfferCatalog>: put programs first, so every programRef names a program already read".into(),
                    );
                }
                if !empty {
                    self.section = Section::Program;
                    // Items' characters are checked here (see `unscanned`).
                    buf.scan_characters(true);
                }
                Ok(None)
            }
            "OfferCatalog" => {
                let (id, _version, _action) =
                    self.catalog_attributes(&start, position, schema::OFFER_CATALOG);
                if self.header.is_none() {
                    self.error(
                        Rule::CatalogPlacement,
                        position,
                        None,
                        "an <OfferCatalog> before any <ProgramCatalog>: put the programs first, as Amazon's template does".into(),
                    );
                }
                if let (Some(id), Some(header)) = (&id, &self.header)
                    && *id == header.id
                {
                    self.error(
                        Rule::RootAttribute,
                        position,
                        None,
                        format!("the <OfferCatalog> has the id {id:?} of the <ProgramCatalog>; give it its own"),
                    );
                }
                self.offer_catalog_seen = true;
                if !empty {
                    self.section = Section::Offer;
                }
                Ok(None)
            }
            "Delete" => self.delete_element(buf, start, empty, position, false),
            name if schema::ROOT_CHILDREN.contains(&name) => {
                // Schedule, station, lineup and policy catalogs: content open.
                let (_id, _version, _action) = self.catalog_attributes(&start, position, name);
                if !empty {
                    self.skip_subtree(buf, 2)?;
                }
                Ok(None)
            }
            name => {
                let rule = if KindTag::from_element(name).is_some() || name == "ProgramOffers" {
                    Rule::CatalogPlacement
                } else {
                    Rule::UnknownElement
                };
                self.error(
                    rule,
                    position,
                    None,
                    format!("<{name}> directly inside <DataCollections>; it holds catalogs (ProgramCatalog, OfferCatalog, …) and Deletes"),
                );
                if !empty {
                    self.skip_subtree(buf, 2)?;
                }
                Ok(None)
            }
        }
    }

    /// A `<Delete>`: of a program (in the root or the program catalog) or of
    /// a `ProgramOffers` (in the offer catalog).
    fn delete_element(
        &mut self,
        buf: &mut EventStream<'a>,
        start: BytesStart<'static>,
        empty: bool,
        position: Position,
        offers: bool,
    ) -> Result<Option<Entry>, Stop> {
        let depth = if self.section == Section::Root { 2 } else { 3 };
        if !empty {
            // Rare: the children are reported before the attributes.
            self.skip_children(buf, position, "Delete", depth)?;
        }
        if offers {
            self.read_offer_delete(&start, position);
            return Ok(None);
        }
        Ok(self.read_delete(&start, position))
    }

    /// A `<Delete>` in the offer catalog: removes a `ProgramOffers`.
    fn read_offer_delete(&mut self, start: &BytesStart<'_>, position: Position) {
        let (id, version) = self.entry_attributes(start, position, "Delete");
        let Some(id) = id else {
            self.rejected += 1;
            return;
        };
        if !self.seen.offer_ids.insert(&id) {
            self.error(
                Rule::DuplicateId,
                position,
                Some(&id),
                format!("offer id {id:?} appears more than once in this offer catalog (here as a Delete)"),
            );
            self.rejected += 1;
            return;
        }
        if version.is_some() {
            self.offer_deletes += 1;
        } else {
            self.rejected += 1;
        }
    }

    /// Collects an element's attributes, decoded, without copying them out
    /// of the event; broken ones become findings.
    fn attributes<'x>(
        &mut self,
        start: &'x BytesStart<'_>,
        position: Position,
        element: &str,
        out: &mut Attributes<'x>,
    ) {
        if has_no_attributes(start) || simple_attributes(start.attributes_raw(), out) {
            return;
        }
        // Values may hold references to any character.
        self.unscanned = true;
        for attribute in start.attributes() {
            match attribute {
                Ok(attribute) => {
                    let key = attribute.key.0;
                    match attribute.normalized_value(XmlVersion::Implicit1_0) {
                        Ok(value) => out.push(key, value),
                        Err(error) => self.error(
                            Rule::XmlMalformed,
                            position,
                            None,
                            format!("attribute {key} of <{element}> cannot be read: {error}"),
                        ),
                    }
                }
                Err(error) => self.error(
                    Rule::XmlMalformed,
                    position,
                    None,
                    format!("an attribute of <{element}> is malformed: {error}"),
                ),
            }
        }
    }

    /// A string for an entry: `value` itself when it owns one, else a copy,
    /// in a spare allocation when there is one.
    #[inline]
    fn own(&mut self, value: Cow<'_, str>) -> String {
        match value {
            Cow::Owned(owned) => owned,
            Cow::Borrowed(text) => self.spare.copy(text),
        }
    }

    fn unknown_attribute(
        &mut self,
        position: Position,
        id: Option<&str>,
        element: &str,
        name: &str,
    ) {
        self.error(
            Rule::UnknownElement,
            position,
            id,
            format!("<{element}> has an unknown attribute {name:?}"),
        );
    }

    /// Reads the `id` and `version` attributes every entry has.
    fn entry_attributes(
        &mut self,
        start: &BytesStart<'_>,
        position: Position,
        element: &str,
    ) -> (Option<String>, Option<u64>) {
        let mut id: Option<String> = None;
        let mut version = None;
        let mut raw_version = None;
        let mut attributes = Attributes::default();
        self.attributes(start, position, element, &mut attributes);
        for (key, value) in &mut attributes {
            match key {
                "id" => id = Some(self.own(value)),
                "version" => {
                    version = parse_version(&value);
                    raw_version = Some(value);
                }
                other => self.unknown_attribute(position, id.as_deref(), element, other),
            }
        }
        let id = id.filter(|id| !id.trim().is_empty());
        if id.is_none() {
            self.error(
                Rule::MissingId,
                position,
                None,
                format!("<{element}> has no id attribute (or an empty one)"),
            );
        }
        match raw_version {
            // EMBER's default [doc S2, S3].
            None => version = Some(1),
            Some(raw) if version.is_none() => {
                let message = format!("<{element}> version {raw:?} is not a positive integer");
                self.error(Rule::BadVersion, position, id.as_deref(), message);
            }
            Some(_) => {}
        }
        (id, version)
    }

    fn read_delete(&mut self, start: &BytesStart<'_>, position: Position) -> Option<Entry> {
        let (id, version) = self.entry_attributes(start, position, "Delete");
        let Some(id) = id else {
            self.rejected += 1;
            return None;
        };
        let mut valid = version.is_some();
        if let Err((rule, message)) = rules::check_id_length(&id) {
            valid = false;
            self.error(rule, position, Some(&id), message);
        }
        if !self.seen.ids.insert(&id) {
            valid = false;
            self.error(
                Rule::DuplicateId,
                position,
                Some(&id),
                format!("id {id:?} appears more than once in this catalog (here as a Delete)"),
            );
        }
        if let (Some(version), Some(sent)) = (version, self.options.known.and_then(|k| k.sent(&id)))
            && let Err((rule, message)) = rules::check_delete_version(&id, version, &sent)
        {
            valid = false;
            self.error(rule, position, Some(&id), message);
        }
        let hash = id_hash(&id);
        if let Some(child_at) = self.seen.live_parents.get(&hash).copied() {
            let at = self.seen.describe(child_at);
            self.error(
                Rule::DeleteOrphansChild,
                position,
                Some(&id),
                format!("{id:?} is deleted but an item at {at} of this catalog still names it as its parent"),
            );
        }
        let known = self.options.known.and_then(|k| k.get(&id));
        let known_parent = known
            .as_ref()
            .is_some_and(|k| matches!(k.kind, KindTag::Series | KindTag::Season));
        if let Some(parent) = known.and_then(|k| k.parent)
            && let Some(parent_at) = self.seen.deleted.get(&id_hash(&parent)).copied()
        {
            let at = self.seen.describe(parent_at);
            self.error(
                Rule::DeleteOrder,
                position,
                Some(&id),
                format!(
                    "{id:?} is deleted after its parent {parent:?} (deleted at {at}); delete children first"
                ),
            );
        }
        let here = self.seen.here(position);
        self.seen.deleted.insert(hash, here);
        // Only a known series or season can leave known children alive; its
        // id is kept for that check at the end (bounded by what is known,
        // not by how many deletes the file holds).
        if known_parent {
            self.seen.deleted_order.push((id.clone(), here));
        }
        match version {
            Some(_) if valid && self.discard => {
                self.deletes += 1;
                self.spare.string(id);
                None
            }
            Some(version) if valid => {
                self.deletes += 1;
                Some(Entry::Delete(Delete { id, version }))
            }
            _ => {
                self.rejected += 1;
                None
            }
        }
    }

    fn read_item(
        &mut self,
        buf: &mut EventStream<'a>,
        kind: KindTag,
        id: Option<String>,
        version: Option<u64>,
        empty: bool,
        position: Position,
    ) -> Result<Option<Entry>, Stop> {
        let element = kind.element();
        let mut parts = ItemParts::default();
        if self.discard {
            self.spare.lists(&mut parts);
        }
        if !empty {
            self.read_item_body(buf, kind, id.as_deref(), &mut parts)?;
        }
        let Some(id) = id else {
            self.rejected += 1;
            return Ok(None);
        };
        let errors_before = self.findings.error_count();
        // Hashed once: the id set, the hierarchy and the offer checks use it.
        let hash = id_hash(&id);
        if !self.seen.ids.insert_hash(hash) {
            self.error(
                Rule::DuplicateId,
                position,
                Some(&id),
                format!("id {id:?} appears more than once in this catalog"),
            );
        }
        let item_kind = self.item_kind(kind, &id, &mut parts, position);
        if parts.title.is_none() {
            let message = if parts.titles_seen {
                format!("<{element}> has an empty <Titles>; it needs at least one <Title>")
            } else {
                format!("<{element}> has no <Titles>, the one child EMBER requires")
            };
            self.error(Rule::RequiredChild, position, Some(&id), message);
        }
        if parts.hierarchy_omitted && self.findings.error_count() == errors_before {
            // Accepted without its parents (Relationships switched off); a
            // live item sent again still counts as live for the shrink guard.
            self.items[kind as usize] += 1;
            let sent = self.options.known.and_then(|k| k.sent(&id));
            if sent.is_some_and(|sent| !sent.deleted) {
                self.known_live += 1;
            }
            return Ok(None);
        }
        let (Some(version), Some(item_kind), Some((locale, text, _, _))) =
            (version, item_kind, parts.title.take())
        else {
            self.rejected += 1;
            return Ok(None);
        };
        let title = LocalizedText { locale, text };
        let item = Item {
            id,
            version,
            kind: item_kind,
            meta: Metadata {
                external_ids: parts.external_ids,
                title,
                other_titles: parts.other_titles,
                description: parts.description,
                other_descriptions: parts.other_descriptions,
                synopsis: parts.synopsis,
                other_synopses: parts.other_synopses,
                release_dates: parts.release_dates,
                runtime_minutes: parts.runtime_minutes,
                genres: parts.genres,
                keywords: parts.keywords,
                rating: parts.rating,
                studios: parts.studios,
                credits: parts.credits,
                images: parts.images,
                offers: Vec::new(),
                deep_link: None,
            },
        };
        let mut problems = Vec::new();
        let mut report = |rule, message| problems.push((rule, message));
        if mem::replace(&mut self.unscanned, false) {
            rules::check_item(&item, &mut report);
        } else {
            // Every text of the item was cut from scanned text free of
            // characters XML cannot carry.
            rules::check_item_values(&item, &mut report);
        }
        for (rule, message) in problems {
            self.error(rule, position, Some(&item.id), message);
        }
        let sent = self.options.known.and_then(|k| k.sent(&item.id));
        if let Some(sent) = &sent {
            // The program's part of the recorded hash is checked here; what
            // it leaves over is owed by the program's offers, later in the
            // document (see Carried::offer_checks).
            let mut remainder = 0;
            let program = program_hash(&item);
            let checked = rules::check_item_version(&item.id, item.version, sent, || {
                let recorded = sent.content.unwrap_or(program);
                remainder = recorded ^ program;
                recorded
            });
            if let Err((rule, message)) = checked {
                self.error(rule, position, Some(&item.id), message);
            } else if remainder != 0 {
                let at = self.seen.here(position);
                self.seen.offer_checks.insert(hash, remainder);
                self.seen.offer_check_log.push(at, &item.id, item.version);
            }
        }
        self.check_parents(&item, hash, position)?;
        if self.findings.error_count() > errors_before || parts.invalid {
            self.rejected += 1;
            if self.discard {
                self.spare.item(item);
            }
            return Ok(None);
        }
        self.items[kind as usize] += 1;
        if sent.is_some_and(|sent| !sent.deleted) {
            self.known_live += 1;
        }
        if self.discard {
            self.spare.item(item);
            return Ok(None);
        }
        Ok(Some(Entry::Item(item)))
    }

    /// Builds the kind-specific part from the item's `Relationships`,
    /// reporting what a season or episode lacks.
    fn item_kind(
        &mut self,
        kind: KindTag,
        id: &str,
        parts: &mut ItemParts,
        position: Position,
    ) -> Option<ItemKind> {
        let element = kind.element();
        if matches!(kind, KindTag::Season | KindTag::Episode)
            && !parts.relationships_seen
            && self.options.omit.omits(Inferred::Relationships)
        {
            parts.hierarchy_omitted = true;
            return None;
        }
        let require = |this: &mut Self, present: bool, what: &str| {
            if !present {
                this.error(
                    Rule::RequiredChild,
                    position,
                    Some(id),
                    format!("<{element}> has no <Relationships><Relationship {what}/>; EMBER relates seasons to their series and episodes to their season and series"),
                );
            }
        };
        match kind {
            KindTag::Movie => Some(ItemKind::Movie),
            KindTag::Series => Some(ItemKind::Series),
            KindTag::Season => {
                require(
                    self,
                    parts.series_id.is_some(),
                    "type=\"series\" programRef=\"…\"",
                );
                require(
                    self,
                    parts.season_number.is_some(),
                    "type=\"series\" sequence=\"N\"",
                );
                Some(ItemKind::Season {
                    series_id: parts.series_id.take()?,
                    season_number: parts.season_number?,
                })
            }
            KindTag::Episode => {
                require(
                    self,
                    parts.series_id.is_some(),
                    "type=\"series\" programRef=\"…\"",
                );
                require(
                    self,
                    parts.season_id.is_some(),
                    "type=\"season\" programRef=\"…\"",
                );
                require(
                    self,
                    parts.episode_number.is_some(),
                    "type=\"season\" sequence=\"N\"",
                );
                Some(ItemKind::Episode {
                    series_id: parts.series_id.take()?,
                    season_id: parts.season_id.take()?,
                    episode_number: parts.episode_number?,
                })
            }
        }
    }

    /// Records the item as a possible parent and checks its own parents.
    fn check_parents(&mut self, item: &Item, hash: u64, position: Position) -> Result<(), Stop> {
        match &item.kind {
            ItemKind::Movie => {}
            ItemKind::Series => {
                self.seen.series.insert_hash(hash);
            }
            ItemKind::Season { series_id, .. } => {
                self.seen.seasons.insert(hash, id_hash(series_id));
                self.check_parent(&item.id, series_id, KindTag::Series, position)?;
            }
            ItemKind::Episode {
                series_id,
                season_id,
                ..
            } => {
                self.check_parent(&item.id, series_id, KindTag::Series, position)?;
                self.check_parent(&item.id, season_id, KindTag::Season, position)?;
                if let Some(&season_series) = self.seen.seasons.get(&id_hash(season_id))
                    && season_series != id_hash(series_id)
                {
                    self.error(
                        Rule::ParentKind,
                        position,
                        Some(&item.id),
                        format!("episode names series {series_id:?}, but its season {season_id:?} belongs to another series"),
                    );
                }
            }
        }
        Ok(())
    }

    fn check_parent(
        &mut self,
        child: &str,
        parent: &str,
        kind: KindTag,
        position: Position,
    ) -> Result<(), Stop> {
        let hash = id_hash(parent);
        let here = self.seen.here(position);
        self.seen.live_parents.entry(hash).or_insert(here);
        if let Some(deleted_at) = self.seen.deleted.get(&hash).copied() {
            let at = self.seen.describe(deleted_at);
            self.error(
                Rule::DeleteOrphansChild,
                position,
                Some(child),
                format!(
                    "{child:?} stays alive but its parent {parent:?} is deleted at {at} of this catalog"
                ),
            );
            return Ok(());
        }
        let present = match kind {
            KindTag::Series => self.seen.series.contains_hash(hash),
            _ => self.seen.seasons.contains_key(&hash),
        };
        if present {
            return Ok(());
        }
        if self.seen.ids.contains_hash(hash) {
            self.error(
                Rule::ParentKind,
                position,
                Some(child),
                format!(
                    "{parent:?} is in this catalog but is not a {}",
                    kind.element()
                ),
            );
            return Ok(());
        }
        match self.options.known.and_then(|k| k.get(parent)) {
            Some(known) if known.kind == kind => Ok(()),
            Some(known) => {
                self.error(
                    Rule::ParentKind,
                    position,
                    Some(child),
                    format!(
                        "{parent:?} is a live {}, not a {}",
                        known.kind.element(),
                        kind.element()
                    ),
                );
                Ok(())
            }
            None => {
                let limit = self.options.limits.max_pending_bytes;
                if self.seen.wait_for_parent(child, parent, kind, here, limit) {
                    return Ok(());
                }
                let message = format!(
                    "more than {limit} bytes of parent references wait for parents not read yet \
                     (here {child:?} names {} {parent:?}); reading stopped",
                    kind.element()
                );
                self.error(Rule::PendingParents, position, Some(child), message);
                self.finished = true;
                Err(Stop::Finding)
            }
        }
    }

    fn read_item_body(
        &mut self,
        buf: &mut EventStream<'a>,
        kind: KindTag,
        id: Option<&str>,
        parts: &mut ItemParts,
    ) -> Result<(), Stop> {
        let element = kind.element();
        loop {
            let position = self.position();
            let event = self.read_event(buf)?;
            let (start, empty) = match event {
                Event::End(_) => return Ok(()),
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::Text(text) if is_blank(&text) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => return self.truncated(position),
                _ => {
                    self.error(
                        Rule::UnknownElement,
                        position,
                        id,
                        format!("text directly inside <{element}>; put it in a child element"),
                    );
                    parts.invalid = true;
                    continue;
                }
            };
            let name = start.name().0;
            let Some((index, child)) = schema::program_child(name) else {
                let hint = match PROGRAM_CHILDREN.iter().find(|c| c.item == Some(name)) {
                    Some(c) => format!(
                        "; EMBER wraps it: <{}><{name}>…</{name}></{}>",
                        c.wrapper, c.wrapper
                    ),
                    None => String::new(),
                };
                self.error(
                    Rule::UnknownElement,
                    position,
                    id,
                    format!("<{element}> does not take <{name}>{hint}"),
                );
                parts.invalid = true;
                if !empty {
                    self.skip_subtree(buf, 4)?;
                }
                continue;
            };
            match parts.last_child {
                Some(last) if last == index => {
                    self.error(
                        Rule::DuplicateChild,
                        position,
                        id,
                        format!(
                            "<{name}> appears more than once; put every {} in one <{name}>",
                            child.item.unwrap_or("entry")
                        ),
                    );
                    parts.invalid = true;
                }
                Some(last) if last > index => {
                    let before = PROGRAM_CHILDREN[last].wrapper;
                    self.error(
                        Rule::ChildOrder,
                        position,
                        id,
                        format!("<{name}> comes after <{before}>; EMBER's sequence puts <{name}> before <{before}>"),
                    );
                    parts.invalid = true;
                }
                _ => parts.last_child = Some(index),
            }
            if name == "Titles" {
                parts.titles_seen = true;
            }
            if name == "Relationships" {
                parts.relationships_seen = true;
            }
            // Inside not documented: accepted as it is (Studio elements
            // with text are taken into the model).
            let open = matches!(name, "Studios" | "PictureColor");
            if !open {
                self.no_attributes(&start, position, id, child.wrapper);
            }
            if empty {
                continue;
            }
            match child.item {
                Some(member) if name == "Studios" => {
                    self.read_open_list(buf, member, id, &mut parts.studios)?
                }
                Some(member) if !open => self.read_list(buf, child.wrapper, member, id, parts)?,
                // Inner structure not documented: accepted as it is.
                _ => self.skip_subtree(buf, 4)?,
            }
        }
    }

    /// Reads the members of a wrapper (`Titles`, `Images`, …) up to its end tag.
    fn read_list(
        &mut self,
        buf: &mut EventStream<'a>,
        list: &'static str,
        member: &'static str,
        id: Option<&str>,
        parts: &mut ItemParts,
    ) -> Result<(), Stop> {
        loop {
            let position = self.position();
            let event = self.read_event(buf)?;
            let (start, empty) = match event {
                Event::End(_) => return Ok(()),
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::Text(text) if is_blank(&text) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => return self.truncated(position),
                _ => {
                    self.error(
                        Rule::UnknownElement,
                        position,
                        id,
                        format!(
                            "text directly inside <{list}>; only <{member}> elements belong there"
                        ),
                    );
                    parts.invalid = true;
                    continue;
                }
            };
            let name = start.name().0;
            if name != member {
                self.error(
                    Rule::UnknownElement,
                    position,
                    id,
                    format!("<{list}> holds <{name}>; only <{member}> elements belong there"),
                );
                parts.invalid = true;
                if !empty {
                    self.skip_subtree(buf, 5)?;
                }
                continue;
            }
            // Attributes first, then the content (the start tag lives in `buf`).
            match member {
                "Title" => {
                    let (language, default, territories) =
                        self.localized_attributes(&start, position, id, member, parts);
                    let text = self.leaf_text(buf, empty, id, member)?;
                    let language = language.unwrap_or_default();
                    let territories = territories.unwrap_or_default();
                    // The first one marked default is the default title;
                    // when none is, the first one. The rest in order.
                    match parts.title.take() {
                        None => parts.title = Some((language, text, territories, default)),
                        Some(first) if default && !first.3 => {
                            let (locale, text_before, territories_before, _) = first;
                            parts.other_titles.insert(
                                0,
                                Title {
                                    locale,
                                    text: text_before,
                                    territories: territories_before,
                                },
                            );
                            parts.title = Some((language, text, territories, default));
                        }
                        Some(kept) => {
                            parts.title = Some(kept);
                            parts.other_titles.push(Title {
                                locale: language,
                                text,
                                territories,
                            });
                        }
                    }
                }
                "Description" | "Synopsis" => {
                    let (language, default, _) =
                        self.localized_attributes(&start, position, id, member, parts);
                    let text = self.leaf_text(buf, empty, id, member)?;
                    let (slot, others) = if member == "Synopsis" {
                        (&mut parts.synopsis, &mut parts.other_synopses)
                    } else {
                        (&mut parts.description, &mut parts.other_descriptions)
                    };
                    // The first one marked default is the default one (the
                    // writer puts it in the title's language); the rest in order.
                    if default && slot.is_none() {
                        *slot = Some(text);
                    } else {
                        others.push(LocalizedText {
                            locale: language.unwrap_or_default(),
                            text,
                        });
                    }
                }
                "ExternalId" => {
                    let mut scheme = None;
                    let mut attributes = Attributes::default();
                    self.attributes(&start, position, member, &mut attributes);
                    for (key, value) in &mut attributes {
                        // scheme [doc S7, ex S6]; others are not documented: accepted.
                        if key == "scheme" {
                            scheme = Some(self.own(value));
                        }
                    }
                    let text = self.leaf_text(buf, empty, id, member)?;
                    parts.external_ids.push(ExternalId {
                        scheme: scheme.unwrap_or_default(),
                        id: text,
                    });
                }
                "Image" => {
                    let mut category = None;
                    let mut attributes = Attributes::default();
                    self.attributes(&start, position, member, &mut attributes);
                    let mut image = Image::default();
                    for (key, value) in &mut attributes {
                        match key {
                            "category" => category = Some(self.own(value)),
                            "default" => self.check_boolean(position, id, member, &value, parts),
                            "aspectRatio" => image.aspect_ratio = Some(self.own(value)),
                            "mimeType" => image.mime_type = Some(self.own(value)),
                            "resolution" => image.resolution = Some(self.own(value)),
                            // language [ex S6] and others: the full list is not published.
                            _ => {}
                        }
                    }
                    let url = self.leaf_text(buf, empty, id, member)?;
                    image.kind = category.unwrap_or_default();
                    image.url = url.trim().to_owned();
                    parts.images.push(image);
                }
                "Genre" => {
                    let text = self.leaf_text(buf, empty, id, member)?;
                    parts.genres.push(text);
                }
                "Keyword" => {
                    // Content not documented: text is taken, anything else accepted.
                    if self.read_leaf_in(buf, empty, id, member, true)? {
                        let text = self.text.as_str().to_owned();
                        parts.keywords.push(text);
                    }
                }
                "Rating" | "Credit" => {
                    let wanted = if member == "Rating" { "system" } else { "role" };
                    let mut key_value = None;
                    let mut attributes = Attributes::default();
                    self.attributes(&start, position, member, &mut attributes);
                    for (key, value) in &mut attributes {
                        if key == wanted {
                            key_value = Some(self.own(value));
                        }
                    }
                    let text = self.leaf_text(buf, empty, id, member)?;
                    // Another shape is accepted (the content is not
                    // documented) but not taken into the model.
                    if let Some(key_value) = key_value {
                        if member == "Rating" {
                            if parts.rating.is_none() {
                                parts.rating = Some(Rating {
                                    system: key_value,
                                    value: text,
                                });
                            }
                        } else {
                            parts.credits.push(Credit {
                                role: key_value,
                                name: text,
                            });
                        }
                    }
                }
                "RunLength" => {
                    self.read_leaf(buf, empty, id, member)?;
                    let minutes = self
                        .text
                        .trim()
                        .strip_prefix("PT")
                        .and_then(|t| t.strip_suffix('M'))
                        .and_then(|t| t.parse::<u32>().ok());
                    if parts.runtime_minutes.is_none() {
                        parts.runtime_minutes = minutes;
                    }
                }
                "ReleaseDate" => {
                    let mut release_type = None;
                    let mut attributes = Attributes::default();
                    self.attributes(&start, position, member, &mut attributes);
                    for (key, value) in &mut attributes {
                        // releaseType [ex S8]; others are not documented: accepted.
                        if key == "releaseType" {
                            release_type = Some(self.own(value));
                        }
                    }
                    let text = self.leaf_text(buf, empty, id, member)?;
                    parts.release_dates.push(ReleaseDate {
                        date: text.trim().to_owned(),
                        release_type,
                    });
                }
                "Relationship" => {
                    let mut kind = None;
                    let mut target = None;
                    let mut sequence = None;
                    let mut attributes = Attributes::default();
                    self.attributes(&start, position, member, &mut attributes);
                    for (key, value) in &mut attributes {
                        match key {
                            "type" => kind = Some(self.own(value)),
                            "programRef" => target = Some(self.own(value)),
                            "sequence" => match value.trim().parse::<u32>() {
                                Ok(n) => sequence = Some(n),
                                Err(_) => {
                                    self.error(
                                        Rule::BadValue,
                                        position,
                                        id,
                                        format!("<Relationship> sequence {value:?} is not a whole number"),
                                    );
                                    parts.invalid = true;
                                }
                            },
                            _ => {}
                        }
                    }
                    if !empty {
                        self.skip_subtree(buf, 5)?;
                    }
                    match kind.as_deref() {
                        Some(schema::RELATION_SERIES) => {
                            parts.series_id = target;
                            parts.season_number = sequence;
                        }
                        Some(schema::RELATION_SEASON) => {
                            parts.season_id = target;
                            parts.episode_number = sequence;
                        }
                        // Other relationships are not documented: accepted.
                        _ => {}
                    }
                }
                // Tag: content not used by the model.
                _ => {
                    if !empty {
                        self.skip_subtree(buf, 5)?;
                    }
                }
            }
        }
    }

    /// Reads a list whose inside the docs leave open (`Studios`): the text
    /// of each `member` holding text only is taken; anything else is
    /// accepted as it is.
    fn read_open_list(
        &mut self,
        buf: &mut EventStream<'a>,
        member: &'static str,
        id: Option<&str>,
        into: &mut Vec<String>,
    ) -> Result<(), Stop> {
        loop {
            let position = self.position();
            let event = self.read_event(buf)?;
            let (name_is_member, empty) = match &event {
                Event::End(_) => return Ok(()),
                Event::Start(start) => (start.name().0 == member, false),
                Event::Empty(start) => (start.name().0 == member, true),
                Event::Eof => return self.truncated(position),
                _ => continue,
            };
            if name_is_member {
                if self.read_leaf_in(buf, empty, id, member, true)? {
                    into.push(self.text.as_str().to_owned());
                }
            } else if !empty {
                self.skip_subtree(buf, 5)?;
            }
        }
    }

    /// Reads `language`, `default` and `territories` of a Title, Description
    /// or Synopsis, checking `default` is a boolean and `territories` a
    /// comma list of region codes or `GLOBAL` [doc S4, S7].
    fn localized_attributes(
        &mut self,
        start: &BytesStart<'_>,
        position: Position,
        id: Option<&str>,
        element: &str,
        parts: &mut ItemParts,
    ) -> (Option<String>, bool, Option<String>) {
        let mut language = None;
        let mut default = false;
        let mut territories = None;
        let mut attributes = Attributes::default();
        self.attributes(start, position, element, &mut attributes);
        for (key, value) in &mut attributes {
            match key {
                "language" => language = Some(self.own(value)),
                "default" => {
                    self.check_boolean(position, id, element, &value, parts);
                    default = matches!(value.trim(), "true" | "1");
                }
                "territories" => {
                    territories = Some(self.own(value.clone()));
                    if !rules::is_territories(&value) {
                        self.error(
                            Rule::BadValue,
                            position,
                            id,
                            format!("<{element}> territories {value:?} is not GLOBAL or a comma list of two-letter codes like US,CA"),
                        );
                        parts.invalid = true;
                    }
                }
                other => {
                    self.unknown_attribute(position, id, element, other);
                    parts.invalid = true;
                }
            }
        }
        (language, default, territories)
    }

    fn check_boolean(
        &mut self,
        position: Position,
        id: Option<&str>,
        element: &str,
        value: &str,
        parts: &mut ItemParts,
    ) {
        if !matches!(value.trim(), "true" | "false" | "1" | "0") {
            self.error(
                Rule::BadValue,
                position,
                id,
                format!("<{element}> default {value:?} is not true or false"),
            );
            parts.invalid = true;
        }
    }

    /// Reads a `<ProgramOffers>` [doc S3]: its id, its program reference,
    /// its offers; checks the reference and settles the version check of
    /// its program (see [`Carried::offer_checks`]).
    fn read_program_offers(
        &mut self,
        buf: &mut EventStream<'a>,
        start: &BytesStart<'_>,
        empty: bool,
        position: Position,
    ) -> Result<(), Stop> {
        let element = schema::PROGRAM_OFFERS;
        let mut id: Option<String> = None;
        let mut program_ref: Option<String> = None;
        let mut catalog_ref: Option<String> = None;
        let errors_before = self.findings.error_count();
        let mut attributes = Attributes::default();
        self.attributes(start, position, element, &mut attributes);
        for (key, value) in &mut attributes {
            match key {
                "id" => id = Some(self.own(value)),
                "version" => {
                    if parse_version(&value).is_none() {
                        self.error(
                            Rule::BadVersion,
                            position,
                            id.as_deref(),
                            format!("<ProgramOffers> version {value:?} is not a positive integer"),
                        );
                    }
                }
                "programRef" => program_ref = Some(self.own(value)),
                "programCatalogRef" => catalog_ref = Some(self.own(value)),
                other => self.unknown_attribute(position, id.as_deref(), element, other),
            }
        }
        let id = id.filter(|id| !id.trim().is_empty());
        match &id {
            None => self.error(
                Rule::MissingId,
                position,
                None,
                "<ProgramOffers> has no id attribute (or an empty one)".into(),
            ),
            Some(id) => {
                if !self.seen.offer_ids.insert(id) {
                    self.error(
                        Rule::DuplicateId,
                        position,
                        Some(id),
                        format!("offer id {id:?} appears more than once in this offer catalog"),
                    );
                }
            }
        }
        let program_ref = program_ref.filter(|p| !p.trim().is_empty());
        self.check_program_ref(
            position,
            id.as_deref(),
            program_ref.as_deref(),
            catalog_ref.as_deref(),
        );
        // Spare allocations (entries discarded): the offer catalog has no
        // items to give strings back, so its own are kept for the next.
        let mut offers = self.spare.offers.pop().unwrap_or_default();
        let mut deep_link = None;
        let mut count = 0u32;
        let mut open = false;
        if !empty {
            loop {
                let at = self.position();
                let event = self.read_event(buf)?;
                let (child, child_empty) = match event {
                    Event::End(_) => break,
                    Event::Start(s) => (s, false),
                    Event::Empty(s) => (s, true),
                    Event::Text(text) if is_blank(&text) => continue,
                    Event::Comment(_) | Event::PI(_) => continue,
                    Event::Eof => return self.truncated(at),
                    _ => {
                        self.error(
                            Rule::UnknownElement,
                            at,
                            id.as_deref(),
                            "text directly inside <ProgramOffers>; only <ProgramOffer> elements belong there".into(),
                        );
                        continue;
                    }
                };
                if child.name().0 != schema::PROGRAM_OFFER {
                    let name = child.name().0;
                    self.error(
                        Rule::UnknownElement,
                        at,
                        id.as_deref(),
                        format!("<ProgramOffers> holds <{name}>; only <ProgramOffer> elements belong there"),
                    );
                    if !child_empty {
                        self.skip_subtree(buf, 4)?;
                    }
                    continue;
                }
                count += 1;
                let mut offer = Offer {
                    kind: OfferKind::Free,
                    region: String::new(),
                    start: None,
                    end: None,
                    price: None,
                };
                let mut attributes = Attributes::default();
                self.attributes(&child, at, schema::PROGRAM_OFFER, &mut attributes);
                for (key, value) in &mut attributes {
                    match key {
                        "startTime" => offer.start = Some(self.own(value)),
                        "endTime" => offer.end = Some(self.own(value)),
                        // Attributes of ProgramOffer are not documented: accepted.
                        _ => {}
                    }
                }
                let mut kind = None;
                if !child_empty {
                    self.read_offer_children(
                        buf,
                        id.as_deref(),
                        &mut kind,
                        &mut offer,
                        &mut deep_link,
                        &mut open,
                    )?;
                }
                self.check_offer_values(at, id.as_deref(), &offer);
                match kind {
                    Some(kind) => {
                        offer.kind = kind;
                        offers.push(offer);
                    }
                    None => open = true,
                }
            }
        }
        if count == 0 {
            self.error(
                Rule::OfferRequired,
                position,
                id.as_deref(),
                "<ProgramOffers> has no <ProgramOffer>".into(),
            );
        }
        if let Some(program) = &program_ref {
            self.settle_offer_check(program, &offers, deep_link.as_deref(), open);
        }
        if self.findings.error_count() > errors_before {
            self.rejected += 1;
        } else {
            self.program_offers += 1;
        }
        if self.discard {
            for text in [id, program_ref, catalog_ref, deep_link]
                .into_iter()
                .flatten()
            {
                self.spare.string(text);
            }
            self.spare.offers(offers);
        }
        Ok(())
    }

    /// The children of one `<ProgramOffer>`: names from the schema table,
    /// order open (not documented), the inferred shapes read when present.
    #[allow(clippy::too_many_arguments)]
    fn read_offer_children(
        &mut self,
        buf: &mut EventStream<'a>,
        id: Option<&str>,
        kind: &mut Option<OfferKind>,
        offer: &mut Offer,
        deep_link: &mut Option<String>,
        open: &mut bool,
    ) -> Result<(), Stop> {
        loop {
            let at = self.position();
            let event = self.read_event(buf)?;
            let (child, empty) = match event {
                Event::End(_) => return Ok(()),
                Event::Start(s) => (s, false),
                Event::Empty(s) => (s, true),
                Event::Text(text) if is_blank(&text) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => return self.truncated(at),
                _ => {
                    self.error(
                        Rule::UnknownElement,
                        at,
                        id,
                        "text directly inside <ProgramOffer>; put it in a child element".into(),
                    );
                    continue;
                }
            };
            let name = child.name().0;
            let Some((_, entry)) = schema::offer_child(name) else {
                self.error(
                    Rule::UnknownElement,
                    at,
                    id,
                    format!("<ProgramOffer> does not take <{name}>"),
                );
                if !empty {
                    self.skip_subtree(buf, 5)?;
                }
                continue;
            };
            if empty {
                continue;
            }
            let member = entry.item;
            // One level down: Entitlement, Region, LaunchTarget.
            loop {
                let at = self.position();
                let event = self.read_event(buf)?;
                let (inner, inner_empty) = match event {
                    Event::End(_) => break,
                    Event::Start(s) => (s, false),
                    Event::Empty(s) => (s, true),
                    Event::Eof => return self.truncated(at),
                    _ => continue,
                };
                let inner_name = inner.name().0;
                if member.is_some_and(|m| m != inner_name) && entry.wrapper == "Entitlements" {
                    self.error(
                        Rule::UnknownElement,
                        at,
                        id,
                        format!("<Entitlements> holds <{inner_name}>; only <Entitlement> elements belong there"),
                    );
                    if !inner_empty {
                        self.skip_subtree(buf, 6)?;
                    }
                    continue;
                }
                let mut wanted = None;
                let mut attributes = Attributes::default();
                self.attributes(&inner, at, inner_name, &mut attributes);
                let key_name = match entry.wrapper {
                    "Entitlements" => "type",
                    "GeoRestrictions" => "territories",
                    _ => "",
                };
                for (key, value) in &mut attributes {
                    if key == key_name {
                        wanted = Some(self.own(value));
                    }
                }
                match (entry.wrapper, member) {
                    ("Entitlements", _) => {
                        match wanted.as_deref().and_then(OfferKind::parse) {
                            Some(k) if kind.is_none() => *kind = Some(k),
                            // Other entitlement types (and several in one
                            // offer) are not documented: accepted as they are.
                            _ => *open = true,
                        }
                        if let Some(text) = wanted
                            && self.discard
                        {
                            self.spare.string(text);
                        }
                        if !inner_empty {
                            self.skip_subtree(buf, 6)?;
                        }
                    }
                    ("GeoRestrictions", Some(m)) if m == inner_name => {
                        if let Some(territories) = wanted {
                            offer.region = territories;
                        }
                        if !inner_empty {
                            self.skip_subtree(buf, 6)?;
                        }
                    }
                    ("LaunchTargets", Some(m)) if m == inner_name => {
                        let link = self.leaf_text(buf, inner_empty, id, m)?;
                        if deep_link.is_none() {
                            *deep_link = Some(link);
                        }
                    }
                    _ => {
                        *open = true;
                        if !inner_empty {
                            self.skip_subtree(buf, 6)?;
                        }
                    }
                }
            }
        }
    }

    /// The values of our inferred offer shape, when present: territories
    /// (`TerritoriesType` [doc S4]) and the window (RFC 3339, end after start).
    fn check_offer_values(&mut self, at: Position, id: Option<&str>, offer: &Offer) {
        if !offer.region.is_empty() && !rules::is_territories(&offer.region) {
            self.error(
                Rule::BadValue,
                at,
                id,
                format!(
                    "territories {:?} is not GLOBAL or a comma list of two-letter codes like US,CA",
                    offer.region
                ),
            );
        }
        let start = offer
            .start
            .as_deref()
            .map(|v| (v, rules::parse_datetime(v)));
        let end = offer.end.as_deref().map(|v| (v, rules::parse_datetime(v)));
        for (name, value) in [("startTime", start), ("endTime", end)] {
            if let Some((text, None)) = value {
                self.error(
                    Rule::BadValue,
                    at,
                    id,
                    format!("<ProgramOffer> {name} {text:?} is not an RFC 3339 time like 2025-04-20T00:00:00Z"),
                );
            }
        }
        if let (Some((s, Some(start))), Some((e, Some(end)))) = (start, end)
            && start >= end
        {
            self.error(
                Rule::BadValue,
                at,
                id,
                format!("<ProgramOffer> window ends ({e}) before it starts ({s})"),
            );
        }
    }

    /// `programRef` must name a program of this document or one known to be
    /// live; `programCatalogRef`, when given, this document's program catalog.
    fn check_program_ref(
        &mut self,
        position: Position,
        id: Option<&str>,
        program_ref: Option<&str>,
        catalog_ref: Option<&str>,
    ) {
        let Some(program) = program_ref else {
            self.error(
                Rule::OfferProgramRef,
                position,
                id,
                "<ProgramOffers> has no programRef naming its program".into(),
            );
            return;
        };
        if let (Some(catalog), Some(header)) = (catalog_ref, &self.header)
            && catalog != header.id
        {
            self.error(
                Rule::OfferCatalogRef,
                position,
                id,
                format!(
                    "programCatalogRef {catalog:?} is not this document's program catalog {:?}",
                    header.id
                ),
            );
        }
        let hash = id_hash(program);
        if self.seen.deleted.contains_key(&hash) {
            self.error(
                Rule::OfferProgramRef,
                position,
                id,
                format!("programRef {program:?} names a program this document deletes; delete its offers instead"),
            );
            return;
        }
        if self.seen.ids.contains_hash(hash) {
            return;
        }
        let live = self.options.known.is_some_and(|known| {
            known.get(program).is_some() && known.sent(program).is_none_or(|s| !s.deleted)
        });
        if !live {
            self.error(
                Rule::OfferProgramRef,
                position,
                id,
                format!("programRef {program:?} names no program of this document's ProgramCatalog and none known to be live"),
            );
        }
    }

    /// Takes one tier's hash off what the program's recorded hash still
    /// owes (see [`Carried::offer_checks`]); offers the model cannot read
    /// (`open`) settle nothing, so an undocumented shape is not flagged.
    fn settle_offer_check(
        &mut self,
        program: &str,
        offers: &[Offer],
        deep_link: Option<&str>,
        open: bool,
    ) {
        let hash = id_hash(program);
        if open {
            self.seen.offer_checks.remove(&hash);
            return;
        }
        let Some(tier) = offers.first().map(|o| o.kind) else {
            return;
        };
        if let Some(remainder) = self.seen.offer_checks.get_mut(&hash) {
            *remainder ^= tier_hash(tier, offers.iter(), deep_link);
            if *remainder == 0 {
                self.seen.offer_checks.remove(&hash);
            }
        }
    }

    fn no_attributes(
        &mut self,
        start: &BytesStart<'_>,
        position: Position,
        id: Option<&str>,
        element: &str,
    ) {
        if has_no_attributes(start) {
            return;
        }
        let mut attributes = Attributes::default();
        self.attributes(start, position, element, &mut attributes);
        for (key, _) in &mut attributes {
            self.unknown_attribute(position, id, element, key);
        }
    }

    /// Reads the text of a leaf element up to its end tag, as a new string.
    fn leaf_text(
        &mut self,
        buf: &mut EventStream<'a>,
        empty: bool,
        id: Option<&str>,
        element: &str,
    ) -> Result<String, Stop> {
        self.read_leaf(buf, empty, id, element)?;
        // A copy, so `self.text` keeps its capacity: handing it over and
        // reading on into a smaller spare string made each long text grow
        // its buffer again, realloc after realloc.
        Ok(self.spare.copy(&self.text))
    }

    /// Reads the text of a leaf element up to its end tag into `self.text`.
    fn read_leaf(
        &mut self,
        buf: &mut EventStream<'a>,
        empty: bool,
        id: Option<&str>,
        element: &str,
    ) -> Result<(), Stop> {
        self.read_leaf_in(buf, empty, id, element, false)?;
        Ok(())
    }

    /// [`read_leaf`](Self::read_leaf), or for an element whose content the
    /// docs leave `open`, the same without reporting child elements (they
    /// are skipped). Returns whether the content was text only.
    fn read_leaf_in(
        &mut self,
        buf: &mut EventStream<'a>,
        empty: bool,
        id: Option<&str>,
        element: &str,
        open: bool,
    ) -> Result<bool, Stop> {
        self.text.clear();
        let mut text_only = true;
        if empty {
            return Ok(true);
        }
        loop {
            let at = self.position();
            let event = self.read_event(buf)?;
            let nested = matches!(event, Event::Start(_));
            match event {
                Event::End(_) => break,
                // No carriage return anywhere in the batch: nothing to normalize.
                Event::Text(t) if self.scanned.no_cr => self.push_text(&t, at, id, element)?,
                Event::CData(c) if self.scanned.no_cr => self.push_text(&c, at, id, element)?,
                Event::Text(t) => self.push_text(&t.xml10_content(), at, id, element)?,
                Event::CData(c) => self.push_text(&c.xml10_content(), at, id, element)?,
                Event::GeneralRef(r) => match resolve_reference(&r) {
                    Some(resolved) => {
                        self.unscanned |= r.is_char_ref();
                        self.push_text(&resolved, at, id, element)?
                    }
                    None => {
                        let name = r.into_inner();
                        self.error(
                            Rule::XmlMalformed,
                            at,
                            id,
                            format!("<{element}> uses the undefined entity &{name};"),
                        );
                    }
                },
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => {
                    self.truncated(at)?;
                    break;
                }
                Event::Start(s) | Event::Empty(s) => {
                    text_only = false;
                    if !open {
                        let name = s.name().0;
                        self.error(
                            Rule::UnknownElement,
                            at,
                            id,
                            format!("<{element}> holds text only, not <{name}>"),
                        );
                    }
                    if nested {
                        self.skip_subtree(buf, 5)?;
                    }
                }
                Event::Decl(_) | Event::DocType(_) => {
                    self.fatal(
                        Rule::XmlMalformed,
                        at,
                        "a declaration inside an element".into(),
                    );
                    return Err(Stop::Finding);
                }
            }
        }
        Ok(text_only)
    }

    /// Adds a piece of a leaf element's text to `self.text`, holding the
    /// whole text to the token bound: comments, CDATA sections and
    /// references split a text into tokens each under the bound, and the
    /// value must not grow past it either.
    #[inline(always)]
    fn push_text(
        &mut self,
        piece: &str,
        at: Position,
        id: Option<&str>,
        element: &str,
    ) -> Result<(), Stop> {
        let limit = self.options.limits.max_token_bytes;
        let total = (self.text.len() as u64).saturating_add(piece.len() as u64);
        if total > limit {
            return self.text_too_large(at, id, element);
        }
        self.text.push_str(piece);
        Ok(())
    }

    /// [`push_text`](Self::push_text) past the bound.
    #[cold]
    #[inline(never)]
    fn text_too_large(
        &mut self,
        at: Position,
        id: Option<&str>,
        element: &str,
    ) -> Result<(), Stop> {
        let limit = self.options.limits.max_token_bytes;
        let message = format!(
            "the text of <{element}> is larger than the limit of {limit} bytes \
             (counted across the comments, CDATA sections and references that split it); reading stopped"
        );
        self.error(Rule::TextTooLarge, at, id, message);
        self.finished = true;
        self.text.clear();
        self.text.shrink_to(SPARE_MAX_BYTES);
        Err(Stop::Finding)
    }

    /// Skips the children of an element that must be empty (`Delete` at
    /// depth 2, `Image` at depth 4), reporting them, within the depth bound.
    fn skip_children(
        &mut self,
        buf: &mut EventStream<'a>,
        position: Position,
        element: &str,
        base: usize,
    ) -> Result<(), Stop> {
        let max_depth = self.options.limits.max_depth;
        let mut reported = false;
        let mut depth = 1usize;
        loop {
            let at = self.position();
            let event = self.read_event(buf)?;
            match event {
                Event::Start(_) => {
                    depth += 1;
                    if base + depth - 1 > max_depth {
                        self.fatal(
                            Rule::XmlTooDeep,
                            at,
                            format!("elements nest deeper than {max_depth} levels"),
                        );
                        return Err(Stop::Finding);
                    }
                }
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Event::Eof => return self.truncated(position),
                Event::Text(text) if is_blank(&text) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                _ => {}
            }
            if !reported {
                reported = true;
                self.error(
                    Rule::UnknownElement,
                    position,
                    None,
                    format!("<{element}> must be empty"),
                );
            }
        }
    }

    /// Skips the rest of an element whose start tag was just read; `depth`
    /// is that element's depth from the root (the root is 1), so the bound
    /// counts from the root whatever is skipped.
    fn skip_subtree(&mut self, buf: &mut EventStream<'a>, mut depth: usize) -> Result<(), Stop> {
        let max_depth = self.options.limits.max_depth;
        let outside = depth - 1;
        loop {
            let position = self.position();
            let event = self.read_event(buf)?;
            match event {
                Event::Start(_) => {
                    depth += 1;
                    if depth > max_depth {
                        self.fatal(
                            Rule::XmlTooDeep,
                            position,
                            format!("elements nest deeper than {max_depth} levels"),
                        );
                        return Err(Stop::Finding);
                    }
                }
                Event::End(_) => {
                    depth -= 1;
                    if depth == outside {
                        return Ok(());
                    }
                }
                Event::Eof => return self.truncated(position),
                Event::DocType(_) => {
                    self.fatal(
                        Rule::XmlDoctype,
                        position,
                        "a DOCTYPE inside the document".into(),
                    );
                    return Err(Stop::Finding);
                }
                _ => {}
            }
        }
    }

    fn truncated(&mut self, position: Position) -> Result<(), Stop> {
        self.fatal(
            Rule::XmlMalformed,
            position,
            "the document ends inside an element; the file is truncated".into(),
        );
        Err(Stop::Finding)
    }
}

/// Where something was seen: the part of the catalog (0 for a single
/// document) and the position in it.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    part: usize,
    position: Position,
}

/// A parent reference waiting for its parent.
#[derive(Debug)]
struct Pending {
    child: String,
    parent: String,
    /// The kind the parent must be.
    kind: KindTag,
    at: Seen,
}

/// What the checks keep about the logical catalog while it is read: the ids
/// seen, the series and seasons (the hierarchy), the references waiting for
/// their parents, and the deletes (for the delete-order checks). A single
/// document keeps it from entry to entry; a batch carries it from part to
/// part ([`BatchValidation`]).
#[derive(Debug, Default)]
struct Carried {
    /// The part being read, 0-based.
    part: usize,
    /// Every id seen, item or delete.
    ids: IdSet,
    series: IdSet,
    /// Season id hash → its series id hash.
    seasons: IdHashMap<u64>,
    /// Parents that an upserted item points at, and where the first did.
    live_parents: IdHashMap<Seen>,
    /// Deleted ids: hash → where; and the known series and seasons
    /// deleted, in the order seen.
    deleted: IdHashMap<Seen>,
    deleted_order: Vec<(String, Seen)>,
    /// Parent references not yet resolved, and the bytes they hold.
    pending: Vec<Pending>,
    pending_bytes: u64,
    /// Every `ProgramOffers` and offer `Delete` id seen.
    offer_ids: IdSet,
    /// Programs sent again at the version the state records, whose
    /// program part matched the recorded hash only up to a remainder that
    /// their offers must make up: the recorded hash is the program's hash
    /// XOR one hash per `ProgramOffers` ([`crate::diff::content_hash`]).
    /// What is left at the end is content that differs at the same version.
    /// Id hash → what the offers still owe.
    offer_checks: IdHashMap<u64>,
    /// Where each of those programs was, with its id and version, in the
    /// order read. A full catalog sent again puts every program here
    /// while only the few left at the end need naming, so this is kept
    /// packed and apart from the map (a `String` and a position per entry
    /// made the map several times the size of the known-items state).
    offer_check_log: CheckLog,
}

/// One program's record in a [`CheckLog`].
#[derive(Debug)]
struct CheckRecord {
    at: Seen,
    id: String,
    version: u64,
}

/// [`CheckRecord`]s packed one after the other, each number a LEB128
/// varint. Records come in reading order, so the part, line and offset
/// are kept as the (wrapping) difference from the record before, and the
/// id as the length it shares with the id before and the bytes after that:
/// a full catalog's programs then take about a dozen bytes each.
#[derive(Debug, Default)]
struct CheckLog {
    bytes: Vec<u8>,
    /// The record pushed last (zeros and "" before the first).
    last: Seen,
    last_id: String,
}

impl CheckLog {
    fn push(&mut self, at: Seen, id: &str, version: u64) {
        let last = self.last.position;
        let shared = id
            .bytes()
            .zip(self.last_id.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let rest = id.as_bytes().get(shared..).unwrap_or_default();
        for n in [
            (at.part as u64).wrapping_sub(self.last.part as u64),
            at.position.line.wrapping_sub(last.line),
            at.position.column,
            at.position.offset.wrapping_sub(last.offset),
            version,
            shared as u64,
            rest.len() as u64,
        ] {
            self.push_number(n);
        }
        self.bytes.extend_from_slice(rest);
        self.last = at;
        self.last_id.clear();
        self.last_id.push_str(id);
    }

    fn push_number(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.bytes.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.bytes.push(n as u8);
    }

    /// The records in the order pushed.
    fn records(&self) -> impl Iterator<Item = CheckRecord> + '_ {
        let mut rest = &self.bytes[..];
        let mut last = Seen::default();
        let mut id: Vec<u8> = Vec::new();
        std::iter::from_fn(move || {
            let mut number = || {
                let mut n = 0u64;
                for shift in (0..64).step_by(7) {
                    let (&byte, tail) = rest.split_first()?;
                    rest = tail;
                    n |= u64::from(byte & 0x7f) << shift;
                    if byte < 0x80 {
                        return Some(n);
                    }
                }
                None
            };
            let part = (last.part as u64).wrapping_add(number()?);
            let position = Position {
                line: last.position.line.wrapping_add(number()?),
                column: number()?,
                offset: last.position.offset.wrapping_add(number()?),
            };
            let version = number()?;
            let shared = usize::try_from(number()?).ok()?;
            let len = usize::try_from(number()?).ok()?;
            let (tail, after) = rest.split_at_checked(len)?;
            rest = after;
            id.truncate(shared);
            id.extend_from_slice(tail);
            last = Seen {
                part: usize::try_from(part).ok()?,
                position,
            };
            Some(CheckRecord {
                at: last,
                id: std::str::from_utf8(&id).ok()?.to_owned(),
                version,
            })
        })
    }
}

/// What one waiting reference costs besides its two ids (two `String`s,
/// the kind and the position), rounded up.
const PENDING_OVERHEAD: u64 = 96;

impl Carried {
    /// `position` in the part being read.
    fn here(&self, position: Position) -> Seen {
        Seen {
            part: self.part,
            position,
        }
    }

    /// "line N", with the part when it is another part than this one.
    fn describe(&self, seen: Seen) -> String {
        if seen.part == self.part {
            format!("line {}", seen.position.line)
        } else {
            format!("line {} of part {}", seen.position.line, seen.part + 1)
        }
    }

    /// Keeps a reference until the end of the catalog, unless the waiting
    /// references would then hold more than `limit` bytes.
    fn wait_for_parent(
        &mut self,
        child: &str,
        parent: &str,
        kind: KindTag,
        at: Seen,
        limit: u64,
    ) -> bool {
        let cost = (child.len() as u64)
            .saturating_add(parent.len() as u64)
            .saturating_add(PENDING_OVERHEAD);
        let total = self.pending_bytes.saturating_add(cost);
        if total > limit {
            return false;
        }
        self.pending_bytes = total;
        self.pending.push(Pending {
            child: child.to_owned(),
            parent: parent.to_owned(),
            kind,
            at,
        });
        true
    }

    /// The checks that need the whole catalog, run once after its last
    /// part: references still waiting for their parents (skipped when
    /// reading stopped early, as the parents may be in what was not read),
    /// and known children left alive by a deleted parent. Each finding is
    /// handed over with the part it points into.
    fn end_of_catalog(
        &mut self,
        known: Option<&dyn KnownItems>,
        complete: bool,
        emit: &mut dyn FnMut(usize, Finding),
    ) {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let checks = std::mem::take(&mut self.offer_checks);
        let log = std::mem::take(&mut self.offer_check_log);
        if complete {
            for waiting in pending {
                self.resolve(waiting, emit);
            }
            // The checks left name their programs through the log; the
            // last record of an id is its check's (a duplicate id sent
            // again replaced the check).
            let mut left: IdHashMap<CheckRecord> = IdHashMap::default();
            if !checks.is_empty() {
                for record in log.records() {
                    let hash = id_hash(&record.id);
                    if checks.contains_key(&hash) {
                        left.insert(hash, record);
                    }
                }
            }
            let mut left: Vec<_> = left.into_values().collect();
            left.sort_by_key(|c| (c.at.part, c.at.position.offset));
            for record in left {
                let CheckRecord { at, id, version } = record;
                let message = format!(
                    "{id:?} is sent as version {version} with content (its program or its ProgramOffers) that differs from version {version} already sent; Amazon would ignore the change"
                );
                emit(
                    at.part,
                    Finding::error(Rule::VersionReused, at.position, message).for_item(&id),
                );
            }
        }
        self.check_known_children(known, emit);
    }

    /// Settles one reference to an item later in the catalog.
    fn resolve(&self, waiting: Pending, emit: &mut dyn FnMut(usize, Finding)) {
        let Pending {
            child,
            parent,
            kind,
            at,
        } = waiting;
        let present = match kind {
            KindTag::Series => self.series.contains(&parent),
            _ => self.seasons.contains_key(&id_hash(&parent)),
        };
        // A parent deleted in this catalog: delete.orphans-child said so.
        if present || self.deleted.contains_key(&id_hash(&parent)) {
            return;
        }
        let finding = if self.ids.contains(&parent) {
            let message = format!(
                "{parent:?} is in this catalog but is not a {}",
                kind.element()
            );
            Finding::error(Rule::ParentKind, at.position, message)
        } else {
            let message = format!(
                "{child:?} names {} {parent:?}, which is neither in this catalog nor known to be live",
                kind.element()
            );
            Finding::error(Rule::ParentMissing, at.position, message)
        };
        emit(at.part, finding.for_item(child));
    }

    /// A known parent deleted here must not leave a known child alive.
    fn check_known_children(
        &mut self,
        known: Option<&dyn KnownItems>,
        emit: &mut dyn FnMut(usize, Finding),
    ) {
        let Some(known) = known else {
            return;
        };
        for (parent, at) in std::mem::take(&mut self.deleted_order) {
            for child in known.children(&parent) {
                // A child upserted in this catalog names its parent there,
                // and that reference was checked when it was read.
                let upserted_here = self.ids.contains(&child);
                if !upserted_here && !self.deleted.contains_key(&id_hash(&child)) {
                    let message = format!(
                        "{parent:?} is deleted but its child {child:?} stays alive; delete it first"
                    );
                    let finding = Finding::error(Rule::DeleteOrphansChild, at.position, message)
                        .for_item(&parent);
                    emit(at.part, finding);
                }
            }
        }
    }
}

/// Whether a start tag has no attributes (nothing but spaces after the name).
fn has_no_attributes(start: &BytesStart<'_>) -> bool {
    start
        .attributes_raw()
        .bytes()
        .all(|b| b.is_ascii_whitespace())
}

/// Reads attributes written the plain way (`name="value"`, `=` right after
/// the name, the quote right after it, no duplicate name, no character that
/// attribute-value normalization would change: tab, CR, LF, `&`) into `out`,
/// as quick-xml's checked iterator and `normalized_value` would (names and
/// values borrowed). Anything else, it leaves `out` empty and returns false,
/// and quick-xml reads the attributes (and reports what is wrong).
fn simple_attributes<'x>(raw: &'x str, out: &mut Attributes<'x>) -> bool {
    let bytes = raw.as_bytes();
    let is_space = quick_xml::utils::is_whitespace;
    let mut at = 0;
    let plain = 'parse: loop {
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        if at == bytes.len() {
            break 'parse true;
        }
        let key_start = at;
        let rest = bytes.get(at..).unwrap_or_default();
        at += words::first(rest, name_ends, is_name_end).unwrap_or(rest.len());
        // An empty name, a space before `=`, or no `=`: not plain.
        if at == key_start || bytes.get(at) != Some(&b'=') {
            break 'parse false;
        }
        let key_end = at;
        let quote = match bytes.get(at + 1) {
            Some(&quote @ (b'"' | b'\'')) => quote,
            _ => break 'parse false,
        };
        let value_start = at + 2;
        let mut value_end = value_start;
        loop {
            let rest = bytes.get(value_end..).unwrap_or_default();
            let Some(stop) = words::first(rest, value_stops, is_value_stop) else {
                break 'parse false;
            };
            value_end += stop;
            match bytes.get(value_end) {
                Some(&b) if b == quote => break,
                // The other quote is the value's own.
                Some(b'"' | b'\'') => value_end += 1,
                _ => break 'parse false,
            }
        }
        // Both ends are next to ASCII delimiters, so these are char boundaries.
        let (Some(key), Some(value)) =
            (raw.get(key_start..key_end), raw.get(value_start..value_end))
        else {
            break 'parse false;
        };
        if out.has(key) {
            break 'parse false;
        }
        out.push(key, Cow::Borrowed(value));
        at = value_end + 1;
    };
    if !plain {
        *out = Attributes::default();
    }
    plain
}

/// What ends an attribute's name: `=`, or a space or control character
/// (then the attributes are not plain).
fn is_name_end(b: u8) -> bool {
    b == b'=' || b <= b' '
}

/// [`is_name_end`] for the eight bytes of a word.
fn name_ends(word: u64) -> u64 {
    words::below(word, b' ' + 1) | words::equal(word, b'=')
}

/// What [`simple_attributes`] stops at in a value: a quote (its end, or
/// the other quote in it), `&`, or a control character up to CR (tab, LF
/// and CR are what normalization would change; then it is not plain).
fn is_value_stop(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'&') || b <= b'\r'
}

/// [`is_value_stop`] for the eight bytes of a word.
fn value_stops(word: u64) -> u64 {
    words::below(word, b'\r' + 1)
        | words::equal(word, b'"')
        | words::equal(word, b'\'')
        | words::equal(word, b'&')
}

/// How many strings, and lists of each kind, [`Spare`] keeps.
const SPARE_STRINGS: usize = 256;
const SPARE_LISTS: usize = 4;
/// Larger allocations are not kept, so a huge value does not stay around.
const SPARE_MAX_BYTES: usize = 4096;
const SPARE_MAX_MEMBERS: usize = 64;

/// Allocations of entries already checked and dropped, for the next ones.
/// Only used when entries are discarded, so an entry handed to the caller
/// never carries a larger allocation than its value needs.
#[derive(Default)]
struct Spare {
    strings: Vec<String>,
    genres: Vec<Vec<String>>,
    credits: Vec<Vec<Credit>>,
    images: Vec<Vec<Image>>,
    offers: Vec<Vec<Offer>>,
}

impl Spare {
    /// A copy of `text`, in a spare string if there is one.
    #[inline]
    fn copy(&mut self, text: &str) -> String {
        match self.strings.last_mut() {
            // One too small stays for a shorter text: growing it would copy
            // its old bytes for nothing.
            Some(spare) if spare.capacity() >= text.len() => {
                let mut spare = std::mem::take(spare);
                self.strings.pop();
                spare.clear();
                spare.push_str(text);
                spare
            }
            _ => text.to_owned(),
        }
    }

    fn string(&mut self, spare: String) {
        if self.strings.len() < SPARE_STRINGS && spare.capacity() <= SPARE_MAX_BYTES {
            self.strings.push(spare);
        }
    }

    fn list<T>(lists: &mut Vec<Vec<T>>, list: Vec<T>) {
        if lists.len() < SPARE_LISTS && list.capacity() <= SPARE_MAX_MEMBERS {
            lists.push(list);
        }
    }

    /// Empty lists for an item's parts.
    fn lists(&mut self, parts: &mut ItemParts) {
        parts.genres = self.genres.pop().unwrap_or_default();
        parts.credits = self.credits.pop().unwrap_or_default();
        parts.images = self.images.pop().unwrap_or_default();
    }

    /// Keeps the allocations of an item that is done with.
    fn item(&mut self, mut item: Item) {
        item.drain_strings(&mut |text| self.string(text));
        let meta = item.meta;
        Self::list(&mut self.genres, meta.genres);
        Self::list(&mut self.credits, meta.credits);
        Self::list(&mut self.images, meta.images);
        Self::list(&mut self.offers, meta.offers);
    }

    /// Keeps the allocations of offers that are done with.
    fn offers(&mut self, mut offers: Vec<Offer>) {
        drain_offer_strings(&mut offers, &mut |text| self.string(text));
        Self::list(&mut self.offers, offers);
    }
}

/// How many attributes [`Attributes`] holds without allocating.
const INLINE_ATTRIBUTES: usize = 4;

/// An element's attributes as (name, value), borrowed from the event where
/// they can be: the first few in place, any more in a `Vec`. Iterating
/// takes them out in order.
#[derive(Default)]
struct Attributes<'x> {
    len: usize,
    next: usize,
    inline: [Option<(&'x str, Cow<'x, str>)>; INLINE_ATTRIBUTES],
    more: Vec<(&'x str, Cow<'x, str>)>,
}

impl<'x> Attributes<'x> {
    /// Whether an attribute named `key` was pushed (and not yet taken out).
    fn has(&self, key: &str) -> bool {
        let inline = self.inline.get(..self.len).unwrap_or(&self.inline);
        inline.iter().flatten().any(|&(seen, _)| seen == key)
            || self.more.iter().any(|&(seen, _)| seen == key)
    }

    fn push(&mut self, key: &'x str, value: Cow<'x, str>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some((key, value)),
            None => self.more.push((key, value)),
        }
        self.len += 1;
    }
}

impl<'x> Iterator for Attributes<'x> {
    type Item = (&'x str, Cow<'x, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.next;
        if at >= self.len {
            return None;
        }
        self.next += 1;
        match self.inline.get_mut(at) {
            Some(slot) => slot.take(),
            None => self
                .more
                .get_mut(at - INLINE_ATTRIBUTES)
                .map(|slot| std::mem::replace(slot, ("", Cow::Borrowed("")))),
        }
    }
}

/// The children of an item as read, before the item is built.
#[derive(Default)]
struct ItemParts {
    external_ids: Vec<ExternalId>,
    /// The default title: (language, text, territories, marked default).
    title: Option<(String, String, String, bool)>,
    other_titles: Vec<Title>,
    description: Option<String>,
    other_descriptions: Vec<LocalizedText>,
    synopsis: Option<String>,
    other_synopses: Vec<LocalizedText>,
    release_dates: Vec<ReleaseDate>,
    runtime_minutes: Option<u32>,
    genres: Vec<String>,
    keywords: Vec<String>,
    studios: Vec<String>,
    rating: Option<Rating>,
    credits: Vec<Credit>,
    images: Vec<Image>,
    series_id: Option<String>,
    season_id: Option<String>,
    season_number: Option<u32>,
    episode_number: Option<u32>,
    /// The position in the schema's sequence of the last child read.
    last_child: Option<usize>,
    titles_seen: bool,
    relationships_seen: bool,
    /// A season or episode without Relationships, accepted because they are switched off.
    hierarchy_omitted: bool,
    /// A structural problem was reported; the item is not yielded.
    invalid: bool,
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<Cow<'static, str>> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Some(Cow::Owned(c.to_string())),
            _ => None,
        };
    }
    quick_xml::escape::resolve_predefined_entity(reference).map(Cow::Borrowed)
}

fn is_blank(text: &quick_xml::events::BytesText<'_>) -> bool {
    text.bytes().all(|b| b.is_ascii_whitespace())
}

/// A positive integer version (`1`, `42`) that fits EMBER's `long`
/// (at most 9223372036854775807); leading `+`, zero and signs refused.
pub fn parse_version(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .filter(|&v| v > 0 && v <= MAX_VERSION)
}

/// The largest version EMBER's `long` holds.
pub const MAX_VERSION: u64 = i64::MAX as u64;

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str) -> (Vec<Entry>, ReadReport) {
        let mut reader = CatalogReader::new(xml.as_bytes(), ReadOptions::default()).unwrap();
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry() {
            entries.push(entry);
        }
        (entries, reader.finish())
    }

    fn rules(report: &ReadReport) -> Vec<(&'static str, u64)> {
        report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.rule.code(), f.position.line))
            .collect()
    }

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn reads_the_seed_shape() {
        let xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"MY_CATALOG\" version=\"1\" action=\"upsert\">\n\
             <Movie id=\"NEW_MOVIE\" version=\"1\"><Titles><Title language=\"en-US\">New</Title></Titles></Movie>\n\
             <Delete id=\"EXPIRED_MOVIE\" version=\"10\"/>\n\
             </ProgramCatalog></DataCollections>\n"
        );
        let (entries, report) = read_all(&xml);
        assert!(report.is_valid(), "{:?}", report.findings);
        assert_eq!(entries.len(), 2);
        assert_eq!(report.header.unwrap().id, "MY_CATALOG");
        assert_eq!(
            entries[1],
            Entry::Delete(Delete {
                id: "EXPIRED_MOVIE".into(),
                version: 10
            })
        );
    }

    /// Shapes another writer may use for what the docs leave open are
    /// accepted; the writer's shapes are taken into the model.
    #[test]
    fn open_content_is_accepted_and_the_default_title_is_found_anywhere() {
        let xml = format!(
            "{DECL}<DataCollections><ProgramCatalog id=\"C\" version=\"1\">\n\
             <Movie id=\"m1\" version=\"1\"><ExternalIds><ExternalId scheme=\"imdb\">tt0113277</ExternalId></ExternalIds>\
             <Titles><Title language=\"fr\">Un</Title><Title language=\"en\" default=\"true\">One</Title><Title language=\"de\" territories=\"DE\">Eins</Title></Titles>\
             <Descriptions><Description language=\"fr\">Court</Description></Descriptions>\
             <Keywords><Keyword>plain</Keyword><Keyword><Term>nested</Term></Keyword></Keywords>\
             <Studios kind=\"x\"><Studio>Acme</Studio><Company><Name>Other</Name></Company><Studio><Name>Deep</Name></Studio></Studios>\
             <ReleaseDates><ReleaseDate releaseType=\"streaming\" region=\"US\">2024-02-29</ReleaseDate></ReleaseDates></Movie>\n\
             </ProgramCatalog></DataCollections>\n"
        );
        let (entries, report) = read_all(&xml);
        assert!(report.is_valid(), "{:?}", report.findings);
        let Entry::Item(item) = &entries[0] else {
            panic!("{entries:?}")
        };
        let meta = &item.meta;
        assert_eq!(
            (meta.title.locale.as_str(), meta.title.text.as_str()),
            ("en", "One")
        );
        let others: Vec<_> = meta
            .other_titles
            .iter()
            .map(|t| (t.locale.as_str(), t.text.as_str(), t.territories.as_str()))
            .collect();
        assert_eq!(others, [("fr", "Un", ""), ("de", "Eins", "DE")]);
        // Not marked default: another description, not the default one.
        assert_eq!(meta.description, None);
        assert_eq!(meta.other_descriptions[0].text, "Court");
        assert_eq!(meta.keywords, ["plain"]);
        assert_eq!(meta.studios, ["Acme"]);
        assert_eq!(meta.external_ids[0].id, "tt0113277");
        assert_eq!(
            meta.release_dates[0].release_type.as_deref(),
            Some("streaming")
        );
    }

    #[test]
    fn action_defaults_to_upsert() {
        let xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"2\"/></DataCollections>"
        );
        let (_, report) = read_all(&xml);
        assert!(report.is_valid(), "{:?}", report.findings);
        assert_eq!(report.header.unwrap().action, Action::Upsert);
    }

    #[test]
    fn reports_many_findings_with_lines() {
        let xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\">\n\
             <Movie id=\"a\" version=\"0\"><Titles><Title language=\"en\">A</Title></Titles></Movie>\n\
             <Movie id=\"b\" version=\"1\"></Movie>\n\
             <Movie id=\"b\" version=\"2\"><Titles><Title language=\"en\">B</Title></Titles></Movie>\n\
             <Film id=\"c\" version=\"1\"/>\n\
             </ProgramCatalog></DataCollections>\n"
        );
        let (entries, report) = read_all(&xml);
        assert!(entries.is_empty());
        assert_eq!(
            rules(&report),
            vec![
                ("item.bad-version", 3),
                ("item.required-child", 4),
                ("item.duplicate-id", 5),
                ("element.unknown", 6),
            ]
        );
    }

    /// A catalog of `n` movies, one a line after the root's; the `bad`-th
    /// has `title` as its title's text and `scheme` as its external id's
    /// scheme (both written as given: escapes are the caller's).
    fn movies_with(n: usize, bad: usize, title: &str, scheme: &str) -> String {
        let mut xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\">\n"
        );
        let synopsis = "words &amp; more words ".repeat(60);
        for i in 0..n {
            let (title, scheme) = if i == bad {
                (title, scheme)
            } else {
                ("Plain", "imdb")
            };
            xml.push_str(&format!(
                "<Movie id=\"m{i}\" version=\"1\"><ExternalIds><ExternalId scheme=\"{scheme}\">tt{i}</ExternalId></ExternalIds>\
                 <Titles><Title language=\"en-US\" default=\"true\">{title}</Title></Titles>\
                 <Synopses><Synopsis language=\"en-US\" default=\"true\">{synopsis}</Synopsis></Synopses></Movie>\n"
            ));
        }
        xml.push_str("</ProgramCatalog></DataCollections>\n");
        xml
    }

    #[test]
    fn text_xml_cannot_carry_is_refused_however_it_is_written() {
        // The reader checks an item's characters only when its text may
        // hold one XML cannot carry; each way one can get in must be seen,
        // in any item of a catalog many chunks long, read both ways.
        let refused = [
            ("a\u{1}b", "imdb"),
            ("a\u{FFFE}b", "imdb"),
            ("a&#1;b", "imdb"),
            ("a&#x1F;b", "imdb"),
            ("a&#xFFFF;b", "imdb"),
            ("Plain", "im\u{7}db"),
            ("Plain", "im&#x8;db"),
            // CR after the bad character: the text takes the other path.
            ("a\u{1}\r\nb", "imdb"),
        ];
        let accepted = [
            ("a\u{FFC0}b&#233;\u{FFFD}", "imdb"),
            ("tab\there", "i&#x9;mdb"),
            ("line\r\nend", "imdb"),
        ];
        for (n, bad) in [(1, 0), (400, 0), (400, 123), (400, 399)] {
            let line = bad as u64 + 3;
            for (title, scheme) in refused {
                let xml = movies_with(n, bad, title, scheme);
                let (entries, report) = read_all(&xml);
                assert_eq!(
                    rules(&report),
                    vec![("text.control-character", line)],
                    "{title:?} {scheme:?} in movie {bad} of {n}"
                );
                assert_eq!(entries.len(), n - 1);
                let report = CatalogReader::new(xml.as_bytes(), ReadOptions::default())
                    .unwrap()
                    .validate_to_end()
                    .unwrap();
                assert_eq!(rules(&report), vec![("text.control-character", line)]);
            }
            for (title, scheme) in accepted {
                let xml = movies_with(n, bad, title, scheme);
                let (entries, report) = read_all(&xml);
                assert!(report.is_valid(), "{title:?}: {:?}", report.findings);
                assert_eq!(entries.len(), n);
            }
        }
    }

    #[test]
    fn line_ends_in_text_are_normalized_wherever_the_text_is() {
        // CR LF and a lone CR are read as LF, in a chunk holding a CR and in
        // chunks holding none.
        for (n, bad) in [(1, 0), (400, 0), (400, 200), (400, 399)] {
            let xml = movies_with(n, bad, "one\r\ntwo\rthree&#xD;four", "imdb");
            let (entries, report) = read_all(&xml);
            assert!(report.is_valid(), "{:?}", report.findings);
            for (i, entry) in entries.iter().enumerate() {
                let Entry::Item(item) = entry else {
                    panic!("{entry:?}")
                };
                let expected = if i == bad {
                    "one\ntwo\nthree\rfour"
                } else {
                    "Plain"
                };
                assert_eq!(item.meta.title.text, expected);
                assert!(!item.meta.synopsis.as_deref().unwrap_or("").contains('\r'));
            }
        }
    }

    #[test]
    fn attribute_word_scans_stop_where_byte_scans_do() {
        for b in 0..=255u8 {
            for place in 0..8 {
                let mut word = *b"abcdefgh";
                word[place] = b;
                let word = u64::from_le_bytes(word);
                let flagged = |found: u64| (found != 0).then(|| found.trailing_zeros() / 8);
                let at = u32::try_from(place).unwrap();
                assert_eq!(flagged(name_ends(word)), is_name_end(b).then_some(at));
                assert_eq!(flagged(value_stops(word)), is_value_stop(b).then_some(at));
            }
        }
    }

    #[test]
    fn doctype_is_refused() {
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\"/></DataCollections>";
        let (_, report) = read_all(xml);
        assert_eq!(rules(&report), vec![("xml.doctype", 1)]);
        assert!(!report.complete);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed_at_their_text() {
        let head = "<?xml version=\"1.0\"?>\n<DataCollections schemaVersion=\"1.0.0\">\n<ProgramCatalog id=\"C\" version=\"1\">\n<Movie id=\"m\" version=\"1\"><Titles><Title language=\"en\">";
        let mut xml = head.as_bytes().to_vec();
        xml.extend_from_slice(
            b"Caf\xe9</Title></Titles></Movie></ProgramCatalog></DataCollections>",
        );
        let report = read_with(&xml, Limits::default());
        let finding = report.findings.iter().next().unwrap();
        assert_eq!(finding.rule.code(), "xml.malformed");
        assert!(finding.message.contains("UTF-8"), "{}", finding.message);
        // The text starts right after the head: line 4, where the bad
        // byte's text begins (quick-xml itself gives no place for it).
        assert_eq!(finding.position.offset, head.len() as u64);
        assert_eq!(finding.position.line, 4);
    }

    #[test]
    fn deep_nesting_stops() {
        let mut xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\"><Movie id=\"m\" version=\"1\"><Junk>"
        );
        xml.push_str(&"<a>".repeat(100));
        xml.push_str(&"</a>".repeat(100));
        xml.push_str("</Junk></Movie></ProgramCatalog></DataCollections>");
        let (_, report) = read_all(&xml);
        assert!(rules(&report).iter().any(|(r, _)| *r == "xml.too-deep"));
        assert!(!report.complete);
    }

    #[test]
    fn parents_later_in_the_file_resolve() {
        let xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\">\n\
             <TVSeason id=\"s1\" version=\"1\"><Titles><Title language=\"en\">S1</Title></Titles><Relationships><Relationship type=\"series\" programRef=\"x\" sequence=\"1\"/></Relationships></TVSeason>\n\
             <TVSeries id=\"x\" version=\"1\"><Titles><Title language=\"en\">X</Title></Titles></TVSeries>\n\
             <TVSeason id=\"s2\" version=\"1\"><Titles><Title language=\"en\">S2</Title></Titles><Relationships><Relationship type=\"series\" programRef=\"nope\" sequence=\"2\"/></Relationships></TVSeason>\n\
             </ProgramCatalog></DataCollections>\n"
        );
        let (_, report) = read_all(&xml);
        assert_eq!(rules(&report), vec![("item.parent-missing", 5)]);
    }

    #[test]
    fn plain_attributes_read_as_quick_xml_reads_them() {
        let pieces = [
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "a",
            "id",
            "b:c",
            "x-y",
            "=",
            "\"",
            "'",
            "v",
            "1",
            "é",
            "&amp;",
            "&",
            "&#65;",
            "<",
            ">",
            "/",
            " = ",
            "==",
            "\"\"",
            "''",
            "a=\"1\"",
            "a='2'",
            "id=\"x\"",
            " b=\"q'q\"",
            " c='d\"d'",
        ];
        let mut rng = crate::synthetic::SplitMix64::new(7);
        let mut plain = 0;
        for _ in 0..200_000 {
            let mut raw = String::new();
            for _ in 0..rng.between(0, 8) {
                raw.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
            }
            let tag = format!("e{raw}");
            let start = BytesStart::from_content(tag.as_str(), 1);
            let mut out = Attributes::default();
            if !simple_attributes(start.attributes_raw(), &mut out) {
                assert_eq!(out.len, 0, "{raw:?}");
                continue;
            }
            plain += 1;
            let fast: Vec<(String, String)> =
                out.map(|(k, v)| (k.to_owned(), v.into_owned())).collect();
            let mut slow = Vec::new();
            for attribute in start.attributes() {
                let attribute = attribute.unwrap_or_else(|e| panic!("{raw:?}: {e}"));
                let value = attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .unwrap_or_else(|e| panic!("{raw:?}: {e}"));
                assert!(matches!(value, Cow::Borrowed(_)), "{raw:?}");
                slow.push((attribute.key.0.to_owned(), value.into_owned()));
            }
            assert_eq!(fast, slow, "{raw:?}");
        }
        assert!(plain > 10_000, "{plain}");
    }

    fn read_with(xml: &[u8], limits: Limits) -> ReadReport {
        let options = ReadOptions {
            limits,
            ..ReadOptions::default()
        };
        CatalogReader::new(xml, options)
            .unwrap()
            .validate_to_end()
            .unwrap()
    }

    /// A `<Title>` made of runs each under the token bound, split by `sep`.
    fn title_in_runs(run: usize, runs: usize, sep: &str) -> Vec<u8> {
        let mut xml = format!(
            "{DECL}<DataCollections><ProgramCatalog id=\"C\" version=\"1\">\n<Movie id=\"m1\" version=\"1\"><Titles><Title language=\"en-US\">"
        )
        .into_bytes();
        for _ in 0..runs {
            xml.extend(std::iter::repeat_n(b'x', run));
            xml.extend_from_slice(sep.as_bytes());
        }
        xml.extend_from_slice(b"</Title></Titles></Movie>\n</ProgramCatalog></DataCollections>\n");
        xml
    }

    #[test]
    fn text_split_by_comments_is_bounded_like_one_token() {
        let limits = Limits {
            max_token_bytes: 10_000,
            ..Limits::default()
        };
        for sep in ["<!---->", "&amp;", "<![CDATA[]]>", "<?pi?>"] {
            let report = read_with(&title_in_runs(4_000, 50, sep), limits);
            let found: Vec<_> = report.findings.iter().collect();
            assert_eq!(found.len(), 1, "{sep}: {found:#?}");
            let finding = found[0];
            assert_eq!(finding.rule, Rule::TextTooLarge, "{sep}");
            assert_eq!(finding.item_id.as_deref(), Some("m1"), "{sep}");
            assert!(finding.message.contains("<Title>"), "{}", finding.message);
            assert!(
                finding.message.contains("10000 bytes"),
                "{}",
                finding.message
            );
            assert!(!report.complete, "{sep}");
        }
    }

    #[test]
    fn text_under_the_bound_split_by_comments_is_read_whole() {
        let limits = Limits {
            max_token_bytes: 10_000,
            ..Limits::default()
        };
        let xml = title_in_runs(1_000, 9, "<!---->");
        let mut reader = CatalogReader::new(
            &xml[..],
            ReadOptions {
                limits,
                ..ReadOptions::default()
            },
        )
        .unwrap();
        let Some(Entry::Item(item)) = reader.next_entry() else {
            panic!("no item: {:?}", reader.findings());
        };
        assert_eq!(item.meta.title.text.len(), 9_000);
        assert!(reader.next_entry().is_none());
        let report = reader.finish();
        assert!(report.is_valid(), "{:?}", report.findings);
    }

    #[test]
    fn pending_parent_references_are_bounded() {
        let mut xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\">\n"
        );
        for n in 0..1000 {
            xml.push_str(&format!(
                "<TVSeason id=\"season-{n}\" version=\"1\"><Titles><Title language=\"en\">S</Title></Titles><Relationships><Relationship type=\"series\" programRef=\"series-not-yet-{n}\" sequence=\"1\"/></Relationships></TVSeason>\n"
            ));
        }
        xml.push_str("</ProgramCatalog></DataCollections>\n");
        let limits = Limits {
            max_pending_bytes: 10_000,
            ..Limits::default()
        };
        let report = read_with(xml.as_bytes(), limits);
        let found: Vec<_> = report.findings.iter().collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].rule, Rule::PendingParents);
        assert!(
            found[0].message.contains("10000 bytes"),
            "{}",
            found[0].message
        );
        assert!(!report.complete);

        // The same catalog under the default bound: every reference is missing.
        let report = read_with(xml.as_bytes(), Limits::default());
        assert_eq!(report.findings.error_count(), 1000);
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.rule == Rule::ParentMissing)
        );
    }

    #[test]
    fn ids_over_65535_bytes_are_refused_for_items_and_deletes() {
        let long = "x".repeat(65_536);
        let xml = format!(
            "{DECL}<DataCollections schemaVersion=\"1.0.0\"><ProgramCatalog id=\"C\" version=\"1\">\n\
             <Movie id=\"{long}\" version=\"1\"><Titles><Title language=\"en-US\">A</Title></Titles></Movie>\n\
             <Delete id=\"y{long}\" version=\"2\"/>\n\
             </ProgramCatalog></DataCollections>\n"
        );
        let (entries, report) = read_all(&xml);
        assert!(entries.is_empty());
        assert_eq!(
            rules(&report),
            vec![("item.id-too-long", 3), ("item.id-too-long", 4)]
        );
    }

    /// The state of `items` as sent: each live at its version, with its
    /// content hash.
    fn sent_state(items: &[Item]) -> crate::state::CatalogState {
        let mut state = crate::state::CatalogState::new("C");
        for item in items {
            let sent = crate::state::ItemState {
                kind: item.kind.tag(),
                parent: item.kind.parent_id().map(str::to_owned),
                version: item.version,
                hash: crate::diff::content_hash(item),
                status: crate::state::Status::Live,
                sent_at: 1_767_592_800,
            };
            state.upsert(&item.id, &sent).unwrap();
        }
        state
    }

    fn written(items: &[Item]) -> String {
        let header = CatalogHeader {
            id: "C".into(),
            version: 1,
            action: crate::model::Action::Upsert,
        };
        let mut writer = crate::writer::CatalogWriter::new(Vec::new(), &header).unwrap();
        for item in items {
            writer.write_item(item).unwrap();
        }
        String::from_utf8(writer.finish().unwrap().0).unwrap()
    }

    /// An item sent again at the version the state records must carry the
    /// recorded content, its offers (read later, in the OfferCatalog)
    /// included: the finding names the id and the version, at the program.
    #[test]
    fn same_version_with_other_content_in_its_offers_or_its_program_is_refused() {
        let sent: Vec<Item> = crate::synthetic::Synthetic::new(30, 7).collect();
        let state = sent_state(&sent);
        let read = |items: &[Item]| {
            let xml = written(items);
            let options = ReadOptions {
                known: Some(&state),
                ..ReadOptions::default()
            };
            let report = CatalogReader::new(xml.as_bytes(), options)
                .unwrap()
                .validate_to_end()
                .unwrap();
            (xml, report)
        };
        let (_, report) = read(&sent);
        assert!(report.is_valid(), "{:?}", report.findings);

        let mut today = sent.clone();
        // An offer of one item in another region, the title of another, and
        // a third item's second tier dropped: each at the version sent.
        let offer = &mut today[17].meta.offers[0];
        offer.region = if offer.region == "US" { "CA" } else { "US" }.into();
        today[4].meta.title.text.push_str(" (restored)");
        let two_tiers = (20..30).find(|&n| today[n].meta.offers.len() == 2).unwrap();
        today[two_tiers].meta.offers.pop();
        let (xml, report) = read(&today);
        let line_of = |id: &str| {
            let at = xml.find(&format!(" id=\"{id}\"")).unwrap();
            xml[..at].matches('\n').count() as u64 + 1
        };
        let found: Vec<_> = report.findings.iter().collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        for (finding, n) in found.iter().zip([4, 17, two_tiers]) {
            let id = &today[n].id;
            let version = today[n].version;
            assert_eq!(finding.rule, Rule::VersionReused);
            assert_eq!(finding.item_id.as_deref(), Some(id.as_str()));
            assert_eq!(finding.position.line, line_of(id));
            assert_eq!(
                finding.message,
                format!(
                    "{id:?} is sent as version {version} with content (its program or its ProgramOffers) that differs from version {version} already sent; Amazon would ignore the change"
                )
            );
        }
    }

    #[test]
    fn the_check_log_gives_back_what_was_pushed() {
        let records = [
            (0, 1, 1, 0, 1, "m1".to_owned()),
            (3, 1 << 40, 127, u64::MAX, MAX_VERSION, String::new()),
            (usize::MAX, 128, 0, 1 << 35, 2, "é".repeat(40_000)),
            // Shares one byte of "é" with the id before.
            (2, 129, 5, 1 << 36, 2, "è".into()),
            (2, 129, 6, 1 << 36, 3, "èè".into()),
        ];
        let mut log = CheckLog::default();
        for (part, line, column, offset, version, id) in &records {
            let position = Position {
                line: *line,
                column: *column,
                offset: *offset,
            };
            let at = Seen {
                part: *part,
                position,
            };
            log.push(at, id, *version);
        }
        let back: Vec<_> = log
            .records()
            .map(|r| {
                let p = r.at.position;
                (r.at.part, p.line, p.column, p.offset, r.version, r.id)
            })
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn version_parsing() {
        assert_eq!(parse_version("1"), Some(1));
        assert_eq!(parse_version("0"), None);
        assert_eq!(parse_version("-1"), None);
        assert_eq!(parse_version("+1"), None);
        assert_eq!(parse_version("1.5"), None);
        assert_eq!(parse_version("9223372036854775807"), Some(MAX_VERSION));
        assert_eq!(parse_version("9223372036854775808"), None);
        assert_eq!(parse_version(""), None);
    }
}
