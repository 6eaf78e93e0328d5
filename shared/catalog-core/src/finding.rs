//! Findings: what is wrong with a catalog or a source export, where, and how to fix it.
//!
//! Validation never stops at the first problem. Every rule a reader or loader
//! checks has a [`Rule`] with a stable code (for machines and `errors.json`)
//! and a fix hint (for people). [`Findings`] collects them up to a cap and
//! keeps counting past it, so a catalog with a million bad items still gets a
//! report of bounded size that says how many there were.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, but the item still goes through (e.g. a control character removed).
    Warning,
    /// The item (or the whole document) is invalid.
    Error,
}

/// Every rule a finding can name. The code is stable; the text may improve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Rule {
    /// The document is not well-formed XML.
    XmlMalformed,
    /// The XML declaration is missing, or declares something other than XML 1.0 in UTF-8.
    XmlEncoding,
    /// The compressed stream (zstd, gzip) is corrupt or truncated.
    Compression,
    /// A DOCTYPE or entity declaration: refused, it is how entity bombs start.
    XmlDoctype,
    /// Elements nested deeper than the configured bound.
    XmlTooDeep,
    /// The (decompressed) document, or one token in it, is larger than the configured bound.
    XmlTooLarge,
    /// The text of one element, added up across the comments, CDATA
    /// sections and references that split it, is larger than the token bound.
    TextTooLarge,
    /// Too many items name parents not read yet: the references waiting for
    /// their parents outgrew their bound.
    PendingParents,
    /// The root element is not `<DataCollections>` (EMBER.md §1).
    RootElement,
    /// A root attribute (`id`, `version`, `action`) is missing or invalid.
    RootAttribute,
    /// An element the EMBER schema does not know, or in the wrong place.
    UnknownElement,
    /// An item lacks a required child (`Titles`; a season's series `Relationship`, …).
    RequiredChild,
    /// A child that may appear once appears twice.
    DuplicateChild,
    /// An item or delete has no `id`, or an empty one.
    MissingId,
    /// An id is longer than an id may be (65,535 bytes of UTF-8).
    IdTooLong,
    /// A `version` is missing or not a positive integer.
    BadVersion,
    /// The same id appears twice in one catalog or export.
    DuplicateId,
    /// A value is malformed: a date, a number, a URL, an offer type, a price.
    BadValue,
    /// A season or episode names a parent that is neither in the file nor known.
    ParentMissing,
    /// A reference names an item of the wrong kind (a season whose series is a movie).
    ParentKind,
    /// A parent is deleted before one of its children in the same catalog.
    DeleteOrder,
    /// A parent is deleted while one of its children stays alive.
    DeleteOrphansChild,
    /// A source line is not valid JSON, or a CSV row cannot be read.
    SourceSyntax,
    /// A source row has an unknown `type`.
    SourceType,
    /// A source row holds bytes that are not UTF-8.
    SourceEncoding,
    /// A source line is longer than the configured bound.
    SourceRowTooLarge,
    /// The CSV header row is unreadable or lacks a required column, so no
    /// row can be read.
    SourceHeader,
    /// Text held characters XML cannot carry; they were removed.
    ControlCharacter,
    /// Live items absent from the export were not deleted this run.
    RemovalsHeld,
    /// An item's version is lower than the one last sent for its id, or a
    /// delete's version is not above it.
    VersionNotNewer,
    /// An item is sent again with the version last sent but different content.
    VersionReused,
    /// The catalog's type (full or update) is unknown or contradicts its content.
    CatalogType,
    /// The root's `id` is not the catalog this deployment publishes.
    CatalogId,
    /// A batch descriptor is unreadable or names parts that are missing.
    BatchDescriptor,
    /// A full catalog would drop, or an update delete, more live items than
    /// the shrink guard allows.
    ShrinkGuard,
    /// The catalog is for `prod` and production access is not enabled.
    ProductionClosed,
    /// The destination already holds a different file under the same name.
    DestinationConflict,
    /// The catalog was dropped in another environment's outbox than the
    /// one this stack publishes.
    WrongEnv,
    /// `DataCollections@schemaVersion` is not `1.0.0` (EMBER.md §1).
    SchemaVersion,
    /// A documented child comes out of its `xs:sequence` order (EMBER.md §1, §4.2).
    ChildOrder,
    /// `ProgramOffers@programRef` is missing, or names no program of this
    /// document and none known to be live (EMBER.md §6.1).
    OfferProgramRef,
    /// `ProgramOffers@programCatalogRef` names another catalog than this
    /// document's `ProgramCatalog` (EMBER.md §6.1).
    OfferCatalogRef,
    /// A `ProgramOffers` has no `ProgramOffer` (EMBER.md §6.1).
    OfferRequired,
    /// The document has no `ProgramCatalog`, or an element sits in the wrong catalog.
    CatalogPlacement,
    /// Source fields EMBER has no documented place for were not sent
    /// (prices; a deep link on a program without offers).
    NotSent,
    /// The catalog state was saved before EMBER; this build is a full resend.
    StateUpgraded,
    /// A source text field held a JSON number; it was taken as text.
    SourceNumberAsText,
    /// A movie, series or episode of the export has no IMDb id, which
    /// Amazon asks for (EMBER.md §5, S6); the row still loads.
    SourceImdbMissing,
    /// Buy with Prime: a product export row is not one JSON object, or a
    /// CSV row cannot be read against its header.
    BwpSyntax,
    /// Buy with Prime: a row holds bytes that are not UTF-8.
    BwpEncoding,
    /// Buy with Prime: a row is longer than the configured bound.
    BwpRowTooLarge,
    /// Buy with Prime: the product export's CSV header is unusable.
    BwpExportHeader,
    /// Buy with Prime: the feed file does not start with the exact header row.
    BwpHeader,
    /// Buy with Prime: a column required for the row's listing kind is empty.
    BwpRequired,
    /// Buy with Prime: Offer Prime is neither `true` nor `false`.
    BwpOfferPrime,
    /// Buy with Prime: a URL is not an absolute http(s) URL.
    BwpUrl,
    /// Buy with Prime: a value holds a control character or a line break.
    BwpText,
    /// Buy with Prime: an External ID appears twice in one export or feed file.
    BwpDuplicateExternalId,
    /// Buy with Prime: a SKU appears twice in one export or feed file.
    BwpDuplicateSku,
    /// Buy with Prime: Offer Prime is true but no detail page URL is given.
    BwpPrimeWithoutDetailPage,
    /// Buy with Prime: a first listing carries an Updated External ID.
    BwpUpdatedIdOnFirstListing,
    /// Buy with Prime: a feed file holds more products than one upload may.
    BwpTooManyProducts,
    /// Buy with Prime: a feed result file lacks a column it must have.
    BwpResultHeader,
    /// Buy with Prime: a result row's Import Result is not one we recognise,
    /// or it names a product the listing state does not hold.
    BwpResultUnknown,
}

impl Rule {
    /// The stable code, e.g. `item.required-child`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::XmlMalformed => "xml.malformed",
            Rule::XmlEncoding => "xml.declaration",
            Rule::Compression => "input.compression",
            Rule::XmlDoctype => "xml.doctype",
            Rule::XmlTooDeep => "xml.too-deep",
            Rule::XmlTooLarge => "xml.too-large",
            Rule::TextTooLarge => "xml.text-too-large",
            Rule::PendingParents => "item.pending-parents",
            Rule::RootElement => "root.element",
            Rule::RootAttribute => "root.attribute",
            Rule::UnknownElement => "element.unknown",
            Rule::RequiredChild => "item.required-child",
            Rule::DuplicateChild => "item.duplicate-child",
            Rule::MissingId => "item.missing-id",
            Rule::IdTooLong => "item.id-too-long",
            Rule::BadVersion => "item.bad-version",
            Rule::DuplicateId => "item.duplicate-id",
            Rule::BadValue => "item.bad-value",
            Rule::ParentMissing => "item.parent-missing",
            Rule::ParentKind => "item.parent-kind",
            Rule::DeleteOrder => "delete.order",
            Rule::DeleteOrphansChild => "delete.orphans-child",
            Rule::SourceSyntax => "source.syntax",
            Rule::SourceType => "source.type",
            Rule::SourceEncoding => "source.encoding",
            Rule::SourceRowTooLarge => "source.row-too-large",
            Rule::SourceHeader => "source.header",
            Rule::ControlCharacter => "text.control-character",
            Rule::RemovalsHeld => "diff.removals-held",
            Rule::VersionNotNewer => "version.not-newer",
            Rule::VersionReused => "version.reused",
            Rule::CatalogType => "catalog.type",
            Rule::CatalogId => "catalog.id",
            Rule::BatchDescriptor => "batch.descriptor",
            Rule::ShrinkGuard => "guard.shrink",
            Rule::ProductionClosed => "guard.production-closed",
            Rule::DestinationConflict => "destination.conflict",
            Rule::WrongEnv => "guard.env",
            Rule::SchemaVersion => "ember.schema-version",
            Rule::ChildOrder => "ember.child-order",
            Rule::OfferProgramRef => "ember.offer-program-ref",
            Rule::OfferCatalogRef => "ember.offer-catalog-ref",
            Rule::OfferRequired => "ember.offer-required",
            Rule::CatalogPlacement => "ember.catalog-placement",
            Rule::NotSent => "ember.not-sent",
            Rule::StateUpgraded => "state.upgraded",
            Rule::SourceNumberAsText => "source.number-as-text",
            Rule::SourceImdbMissing => "source.imdb-missing",
            Rule::BwpSyntax => "bwp.syntax",
            Rule::BwpEncoding => "bwp.encoding",
            Rule::BwpRowTooLarge => "bwp.row-too-large",
            Rule::BwpExportHeader => "bwp.export-header",
            Rule::BwpHeader => "bwp.header",
            Rule::BwpRequired => "bwp.required",
            Rule::BwpOfferPrime => "bwp.offer-prime",
            Rule::BwpUrl => "bwp.url",
            Rule::BwpText => "bwp.text",
            Rule::BwpDuplicateExternalId => "bwp.duplicate-external-id",
            Rule::BwpDuplicateSku => "bwp.duplicate-sku",
            Rule::BwpPrimeWithoutDetailPage => "bwp.prime-without-detail-page",
            Rule::BwpUpdatedIdOnFirstListing => "bwp.updated-id-on-first-listing",
            Rule::BwpTooManyProducts => "bwp.too-many-products",
            Rule::BwpResultHeader => "bwp.result-header",
            Rule::BwpResultUnknown => "bwp.result-unknown",
        }
    }

    /// What to do about it, in one sentence.
    pub fn fix(self) -> &'static str {
        match self {
            Rule::XmlMalformed => {
                "fix the XML syntax at the position given; the rest of the file was not checked"
            }
            Rule::XmlEncoding => {
                "start the file with <?xml version=\"1.0\" encoding=\"UTF-8\"?> and write it in UTF-8"
            }
            Rule::Compression => {
                "recompress the file (zstd -3) and upload it again; it may have been cut short"
            }
            Rule::XmlDoctype => {
                "remove the DOCTYPE and any entity declarations; EMBER catalogs do not use them"
            }
            Rule::XmlTooDeep => {
                "EMBER items nest only a few levels; check the file is an EMBER catalog"
            }
            Rule::XmlTooLarge => {
                "split the catalog into parts, or raise the configured limit if the size is expected"
            }
            Rule::TextTooLarge => {
                "shorten the element's text; no EMBER value needs megabytes, so check how the file was generated"
            }
            Rule::PendingParents => {
                "put parents before their children (a series before its seasons, a season before its episodes)"
            }
            Rule::RootElement => {
                "the document's root must be <DataCollections schemaVersion=\"1.0.0\"> holding a <ProgramCatalog id=\"…\" version=\"…\">"
            }
            Rule::RootAttribute => {
                "give <ProgramCatalog> a non-empty id, a positive integer version and action upsert or replace"
            }
            Rule::UnknownElement => {
                "remove the element or correct its name (the schema table in catalog_core::ember::schema and EMBER.md list the allowed elements)"
            }
            Rule::RequiredChild => "add the missing element to the item",
            Rule::DuplicateChild => "keep one occurrence of the element",
            Rule::MissingId => "give every item and Delete a non-empty id attribute",
            Rule::IdTooLong => {
                "shorten the id to at most 65535 bytes; ids name items, they do not carry data"
            }
            Rule::BadVersion => {
                "use a positive integer version, higher than any version sent before for this id"
            }
            Rule::DuplicateId => {
                "every id may appear once per catalog; merge or rename the duplicates"
            }
            Rule::BadValue => "correct the value to the format given in the message",
            Rule::ParentMissing => {
                "include the parent in the same catalog or export (before its children), or make sure it is already live"
            }
            Rule::ParentKind => "point SeriesId at a TvSeries and SeasonId at a TvSeason",
            Rule::DeleteOrder => "delete episodes first, then seasons, then series",
            Rule::DeleteOrphansChild => {
                "delete the children too (children first), or keep the parent"
            }
            Rule::SourceSyntax => {
                "correct the line so it is one JSON object (or one CSV row matching the header)"
            }
            Rule::SourceType => "use type movie, series, season or episode",
            Rule::SourceEncoding => "export the file as UTF-8 (or correct the bytes of this row)",
            Rule::SourceRowTooLarge => {
                "check the line is one row (a missing line break joins rows); no row needs more than the limit"
            }
            Rule::SourceHeader => {
                "make the first row name the columns, with at least id and title (e.g. id,title,locale,…)"
            }
            Rule::ControlCharacter => "remove control characters from the source text",
            Rule::RemovalsHeld => {
                "fix the unreadable rows; the removals go out with the next clean export"
            }
            Rule::VersionNotNewer => {
                "give the item (or Delete) a version above the one last sent for its id"
            }
            Rule::VersionReused => {
                "changed content needs a new version: raise it above the one last sent"
            }
            Rule::CatalogType => {
                "name the file …-full.xml.zst or …-update.xml.zst (or set metadata catalog-type), and send deletes only in updates"
            }
            Rule::CatalogId => {
                "use the catalog id this deployment publishes (CATALOG_ID), or deploy one per catalog"
            }
            Rule::BatchDescriptor => {
                "upload every part before the .batch.json that lists them, with the sizes it gives"
            }
            Rule::ShrinkGuard => {
                "check the export is complete; if the drop is intended, upload state/overrides/allow-shrink.json to let the next build through once (a hand-made catalog: metadata allow-shrink=true)"
            }
            Rule::ProductionClosed => {
                "send to staging until Amazon grants production access, then set PRODUCTION_ACCESS=true"
            }
            Rule::DestinationConflict => {
                "a file of that name was published with other content; rebuild the catalog under a new name"
            }
            Rule::WrongEnv => {
                "drop the catalog in outbox/<CATALOG_ENV>/catalogs/ of the stack that publishes that environment"
            }
            Rule::SchemaVersion => {
                "write schemaVersion=\"1.0.0\" on <DataCollections>, or leave it out (1.0.0 is the default)"
            }
            Rule::ChildOrder => {
                "put the item's children in EMBER's sequence order: ExternalIds, Titles, Descriptions, Synopses, Images, Genres, Keywords, Ratings, Studios, Credits, Tags, RunLengths, PictureColor, ReleaseDates, Relationships"
            }
            Rule::OfferProgramRef => {
                "give <ProgramOffers> a programRef naming a program of this document's ProgramCatalog or one already live at Amazon"
            }
            Rule::OfferCatalogRef => {
                "set programCatalogRef to this document's ProgramCatalog id, or leave it out"
            }
            Rule::OfferRequired => "give each <ProgramOffers> at least one <ProgramOffer>",
            Rule::SourceNumberAsText => {
                "write the field as a JSON string (\"1776\") so nothing is guessed; the row was loaded"
            }
            Rule::SourceImdbMissing => {
                "add the title's IMDb id to external_ids as {\"scheme\":\"imdb\",\"id\":\"tt0113277\"} (CSV: the imdb_id column); Amazon matches titles by it"
            }
            Rule::StateUpgraded => {
                "nothing to do: the next state is saved in the new format; keep it for the next build"
            }
            Rule::NotSent => {
                "nothing to do unless Amazon documents a place for these fields; give the program an offer to carry its deep link"
            }
            Rule::CatalogPlacement => {
                "put programs and their Deletes in <ProgramCatalog>, offers in <OfferCatalog>, and start with the <ProgramCatalog>"
            }
            Rule::BwpSyntax => {
                "correct the line so it is one JSON object (or one CSV row matching the header); see docs/bwp-feed.md"
            }
            Rule::BwpEncoding => "export the file as UTF-8 (or correct the bytes of this row)",
            Rule::BwpRowTooLarge => {
                "check the line is one row (a missing line break joins rows); no product needs more than the limit"
            }
            Rule::BwpExportHeader => {
                "make the first row name the columns: external_id,sku,amazon_sku,offer_prime,image_url,detail_page_url[,new_external_id]"
            }
            Rule::BwpHeader => {
                "make the first row exactly \"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"; Amazon fails an upload without it"
            }
            Rule::BwpRequired => {
                "fill in the column: a first listing needs External ID, SKU, Amazon SKU and Image URL; a re-listing needs External ID"
            }
            Rule::BwpOfferPrime => "write true or false (lower case), or leave it empty for false",
            Rule::BwpUrl => "give an absolute http(s) URL, e.g. https://shop.example.com/p/123",
            Rule::BwpText => "remove control characters and line breaks from the value",
            Rule::BwpDuplicateExternalId => {
                "every External ID may appear once; merge the rows or give each product its own id"
            }
            Rule::BwpDuplicateSku => {
                "every SKU may appear once; merge the rows or give each product its own SKU"
            }
            Rule::BwpPrimeWithoutDetailPage => {
                "add the Product Detail Page URL; Amazon needs it to enable Prime"
            }
            Rule::BwpUpdatedIdOnFirstListing => {
                "list the product under its new id first (put it in external_id and leave new_external_id empty); Updated External ID is only for re-listing"
            }
            Rule::BwpTooManyProducts => "split the products into files of at most 15000 rows",
            Rule::BwpResultHeader => {
                "check the file is a Buy with Prime feed result (Import Result, Error Type, Error Code(s), Error Detail(s), External ID, …)"
            }
            Rule::BwpResultUnknown => {
                "check the result belongs to this listing state; an unknown Import Result is left as it was (see docs/bwp-feed.md)"
            }
        }
    }
}

impl From<Rule> for &'static str {
    fn from(rule: Rule) -> &'static str {
        rule.code()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where in the input a finding points. Lines and columns count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column in bytes, or 0 when unknown.
    pub column: u64,
    /// Byte offset in the (decompressed) input.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "line {}, column {}", self.line, self.column)
        } else {
            write!(f, "line {}", self.line)
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Warning or error.
    pub severity: Severity,
    /// The rule broken (serialized as its code).
    pub rule: Rule,
    /// The item the finding is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Where.
    pub position: Position,
    /// What is wrong, naming the element, field or value.
    pub message: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl Finding {
    /// An error finding.
    pub fn error(rule: Rule, position: Position, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            rule,
            item_id: None,
            position,
            message: message.into(),
            fix: rule.fix(),
        }
    }

    /// A warning finding.
    pub fn warning(rule: Rule, position: Position, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(rule, position, message)
        }
    }

    /// The same finding, about `id`.
    pub fn for_item(mut self, id: impl Into<String>) -> Finding {
        self.item_id = Some(id.into());
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {level} [{}]", self.position, self.rule)?;
        if let Some(id) = &self.item_id {
            write!(f, " item {id:?}")?;
        }
        write!(f, ": {} (fix: {})", self.message, self.fix)
    }
}

/// Findings collected up to a cap; past it only counted.
#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    kept: Vec<Finding>,
    errors: u64,
    warnings: u64,
    #[serde(skip)]
    cap: usize,
}

impl Default for Findings {
    fn default() -> Findings {
        Findings::with_cap(Findings::DEFAULT_CAP)
    }
}

impl Findings {
    /// How many findings are kept unless told otherwise.
    pub const DEFAULT_CAP: usize = 1000;

    /// An empty collection keeping at most `cap` findings.
    pub fn with_cap(cap: usize) -> Findings {
        Findings {
            kept: Vec::new(),
            errors: 0,
            warnings: 0,
            cap,
        }
    }

    /// The most bytes a kept finding's message, and its item id, keep: a
    /// finding about an 8 MiB id must not keep the id (a thousand of them
    /// would hold gigabytes).
    pub const MAX_TEXT_BYTES: usize = 4096;

    /// Records a finding. Its message and item id are shortened (marked
    /// with `…`) past [`Findings::MAX_TEXT_BYTES`].
    pub fn push(&mut self, mut finding: Finding) {
        match finding.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        if self.kept.len() < self.cap {
            shorten(&mut finding.message);
            if let Some(id) = &mut finding.item_id {
                shorten(id);
            }
            self.kept.push(finding);
        }
    }

    /// Records the finding `make` builds, or only counts one of `severity`
    /// when no more are kept, so a warning many rows earn (a missing IMDb
    /// id on every row of a million) costs a count past the cap, not a
    /// message.
    pub fn push_with(&mut self, severity: Severity, make: impl FnOnce() -> Finding) {
        if self.kept.len() < self.cap {
            self.push(make());
        } else {
            match severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }

    /// The findings kept, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Finding> {
        self.kept.iter()
    }

    /// How many errors were found, kept or not.
    pub fn error_count(&self) -> u64 {
        self.errors
    }

    /// How many warnings were found, kept or not.
    pub fn warning_count(&self) -> u64 {
        self.warnings
    }

    /// How many findings were counted but not kept.
    pub fn dropped(&self) -> u64 {
        self.errors + self.warnings - self.kept.len() as u64
    }

    /// True when no error was found (warnings allowed).
    pub fn is_clean(&self) -> bool {
        self.errors == 0
    }

    /// The kept findings, by value.
    pub fn into_vec(self) -> Vec<Finding> {
        self.kept
    }
}

/// Cuts `text` to at most [`Findings::MAX_TEXT_BYTES`] bytes, at a
/// character boundary, ending it with `…` when it was cut.
fn shorten(text: &mut String) {
    if text.len() <= Findings::MAX_TEXT_BYTES {
        return;
    }
    let mut end = Findings::MAX_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text.shrink_to_fit();
}

impl<'a> IntoIterator for &'a Findings {
    type Item = &'a Finding;
    type IntoIter = std::slice::Iter<'a, Finding>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_past_the_cap_are_counted_not_kept() {
        let mut findings = Findings::with_cap(2);
        for _ in 0..5 {
            findings.push(Finding::error(Rule::BadValue, Position::default(), "x"));
        }
        findings.push(Finding::warning(
            Rule::ControlCharacter,
            Position::default(),
            "y",
        ));
        assert_eq!(findings.iter().count(), 2);
        assert_eq!(findings.error_count(), 5);
        assert_eq!(findings.warning_count(), 1);
        assert_eq!(findings.dropped(), 4);
        assert!(!findings.is_clean());
    }

    #[test]
    fn push_with_builds_a_finding_only_while_one_is_kept() {
        let mut findings = Findings::with_cap(1);
        let mut built = 0;
        for _ in 0..3 {
            findings.push_with(Severity::Warning, || {
                built += 1;
                Finding::warning(Rule::SourceImdbMissing, Position::default(), "w")
            });
        }
        assert_eq!(built, 1);
        assert_eq!(findings.iter().count(), 1);
        assert_eq!(findings.warning_count(), 3);
        assert_eq!(findings.dropped(), 2);
    }

    #[test]
    fn a_finding_about_a_huge_id_keeps_a_bounded_copy() {
        let id = "é".repeat(1 << 20);
        let mut findings = Findings::default();
        let message = format!("id {id:?} appears more than once");
        findings
            .push(Finding::error(Rule::DuplicateId, Position::default(), message).for_item(&id));
        let kept = findings.iter().next().unwrap();
        assert!(kept.message.len() <= Findings::MAX_TEXT_BYTES);
        assert!(kept.message.starts_with("id \"éé") && kept.message.ends_with('…'));
        let kept_id = kept.item_id.as_deref().unwrap();
        assert!(kept_id.len() <= Findings::MAX_TEXT_BYTES && kept_id.ends_with('…'));
        assert!(kept.item_id.as_ref().unwrap().capacity() <= Findings::MAX_TEXT_BYTES);
    }

    #[test]
    fn a_finding_reads_as_a_sentence_with_position_rule_and_fix() {
        let finding = Finding::error(
            Rule::RequiredChild,
            Position {
                line: 12,
                column: 3,
                offset: 400,
            },
            "TvSeason has no <SeriesId>",
        )
        .for_item("s1");
        assert_eq!(
            finding.to_string(),
            "line 12, column 3: error [item.required-child] item \"s1\": TvSeason has no <SeriesId> (fix: add the missing element to the item)"
        );
    }
}
