//! The merchant's product export: what goes into Buy with Prime feeds \[ours\].
//!
//! Two shapes, each plain, gzip or zstd (sniffed, not guessed from the name):
//!
//! - **JSON Lines**: one object per line,
//!   `{"external_id":"p-1","sku":"SKU-1","amazon_sku":"MSKU-1","offer_prime":true,
//!   "image_url":"https://…","detail_page_url":"https://…"}`, with an optional
//!   `new_external_id` to rename a listed product. Unknown fields are refused
//!   (a typo must not vanish).
//! - **CSV** with a header row naming the same columns (`external_id,sku,…`),
//!   or the feed's own column names (`External ID,SKU,…`); `offer_prime` is
//!   `true`, `false` or empty.
//!
//! [`ProductLoader`] streams rows into [`Product`]s. A row that cannot be
//! read (not JSON, not UTF-8, over the bound, no external id, Offer Prime
//! not a boolean) or repeats an External ID or SKU of an earlier row is a
//! [`Finding`] with its line and is left out; the rest go on. Which columns
//! a row needs depends on whether it is a first listing, which only the
//! listing state knows: [`crate::bwp::check`] decides that, row by row.

use std::io::{BufRead, Read};
use std::path::Path;

use serde::Deserialize;

use crate::bwp::BwpError;
use crate::finding::{Finding, Findings, Position, Rule};
use crate::ids::IdSet;
use crate::input::{self, Compression, LimitExceeded, Limits, Tracked};
use crate::source::SourceFormat;

/// One product of the export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// The merchant's product id (`externalId`), the key of everything.
    pub external_id: String,
    /// A new External ID for a product already listed (the feed's Updated
    /// External ID).
    pub new_external_id: Option<String>,
    /// The merchant's SKU (`productSku`).
    pub sku: Option<String>,
    /// The Amazon SKU (mSKU, `amazonSku`).
    pub amazon_sku: Option<String>,
    /// Whether to offer Prime; absent leaves Amazon's default (false).
    pub offer_prime: Option<bool>,
    /// The product image.
    pub image_url: Option<String>,
    /// The product detail page (needed to enable Prime).
    pub detail_page_url: Option<String>,
}

impl Product {
    /// A hash of what the feed carries for this product, to tell a changed
    /// product from an unchanged one. Persisted in listing states: the
    /// encoding (xxh3-64 over length-prefixed fields, in this order) must
    /// not change.
    pub fn content_hash(&self) -> u64 {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|bytes| self.hash_into(bytes))
    }

    fn hash_into(&self, bytes: &mut Vec<u8>) -> u64 {
        bytes.clear();
        let mut field = |value: Option<&str>| match value {
            Some(text) => {
                bytes.push(1);
                bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                bytes.extend_from_slice(text.as_bytes());
            }
            None => bytes.push(0),
        };
        field(self.new_external_id.as_deref());
        field(self.sku.as_deref());
        field(self.amazon_sku.as_deref());
        field(self.offer_prime.map(|p| if p { "true" } else { "false" }));
        field(self.image_url.as_deref());
        field(self.detail_page_url.as_deref());
        xxhash_rust::xxh3::xxh3_64(bytes)
    }
}

/// One JSON Lines row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonProduct {
    external_id: String,
    #[serde(default)]
    new_external_id: Option<String>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    amazon_sku: Option<String>,
    /// `true`/`false` (or the strings), checked after parsing so a wrong
    /// value gets its own rule.
    #[serde(default)]
    offer_prime: Option<serde_json::Value>,
    #[serde(default)]
    image_url: Option<String>,
    #[serde(default)]
    detail_page_url: Option<String>,
}

/// The export's columns, by what a CSV header may call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    ExternalId,
    NewExternalId,
    Sku,
    AmazonSku,
    OfferPrime,
    ImageUrl,
    DetailPageUrl,
}

impl Column {
    /// The column a header names: our snake_case names or the feed's own.
    fn named(header: &str) -> Option<Column> {
        let name = header.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Some(match name.as_str() {
            "external_id" => Column::ExternalId,
            "new_external_id" | "updated_external_id" => Column::NewExternalId,
            "sku" => Column::Sku,
            "amazon_sku" => Column::AmazonSku,
            "offer_prime" => Column::OfferPrime,
            "image_url" => Column::ImageUrl,
            "detail_page_url" | "product_detail_page_url" => Column::DetailPageUrl,
            _ => return None,
        })
    }
}

/// How to load.
#[derive(Debug, Clone)]
pub struct ProductLoadOptions {
    /// Size bounds on the (decompressed) input; one token is one row.
    pub limits: Limits,
    /// How many findings to keep (all are counted).
    pub max_findings: usize,
}

impl Default for ProductLoadOptions {
    fn default() -> ProductLoadOptions {
        ProductLoadOptions {
            limits: Limits {
                max_token_bytes: 1 << 20,
                ..Limits::default()
            },
            max_findings: Findings::DEFAULT_CAP,
        }
    }
}

/// What a finished load found.
#[derive(Debug)]
pub struct ProductReport {
    /// Every problem found, by line.
    pub findings: Findings,
    /// Rows read (not counting blank lines and the CSV header).
    pub rows: u64,
    /// Products yielded.
    pub products: u64,
    /// Rows left out.
    pub rejected: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// The compression the input had.
    pub compression: Compression,
}

enum Rows<'a> {
    Json {
        input: Tracked<Box<dyn BufRead + 'a>>,
        line: Vec<u8>,
        number: u64,
    },
    Csv {
        reader: Box<csv::Reader<Tracked<Box<dyn BufRead + 'a>>>>,
        /// Each header position's column, when the header is usable.
        columns: Option<Vec<Column>>,
        record: csv::ByteRecord,
        /// A row over the bound: where the next row starts cannot be found.
        stopped: bool,
    },
}

/// A row as read: the product, or the finding that leaves it out.
type Row = Result<Product, Finding>;

/// Streams a product export into products, reporting bad rows by line.
pub struct ProductLoader<'a> {
    rows: Rows<'a>,
    max_row: u64,
    compression: Compression,
    findings: Findings,
    external_ids: IdSet,
    skus: IdSet,
    rows_read: u64,
    products: u64,
    rejected: u64,
}

impl std::fmt::Debug for ProductLoader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductLoader")
            .field("rows_read", &self.rows_read)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<'a> ProductLoader<'a> {
    /// Opens a product export of the given format, sniffing compression.
    pub fn new<R: Read + 'a>(
        input: R,
        format: SourceFormat,
        options: ProductLoadOptions,
    ) -> Result<ProductLoader<'a>, BwpError> {
        let (decoded, compression) = input::open(input)?;
        let tracked = Tracked::new(decoded, &options.limits);
        let mut findings = Findings::with_cap(options.max_findings);
        let rows = match format {
            SourceFormat::JsonLines => Rows::Json {
                input: tracked,
                line: Vec::new(),
                number: 0,
            },
            SourceFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(tracked);
                let columns = match csv_columns(&mut reader)? {
                    Ok(columns) => Some(columns),
                    Err(message) => {
                        findings.push(Finding::error(Rule::BwpExportHeader, at_line(1), message));
                        None
                    }
                };
                Rows::Csv {
                    reader: Box::new(reader),
                    columns,
                    record: csv::ByteRecord::new(),
                    stopped: false,
                }
            }
        };
        Ok(ProductLoader {
            rows,
            max_row: options.limits.max_token_bytes,
            compression,
            findings,
            external_ids: IdSet::new(),
            skus: IdSet::new(),
            rows_read: 0,
            products: 0,
            rejected: 0,
        })
    }

    /// The shape of the export at `path`: `.csv` (optionally `.gz`/`.zst`
    /// after it) is CSV, anything else JSON Lines.
    pub fn format_of(path: &Path) -> SourceFormat {
        SourceFormat::from_path(path)
    }

    /// The compression the input was found to have.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The findings so far.
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// Records a finding about a product this loader yielded (the feed
    /// builder's checks), so one report holds every finding by line.
    pub fn report(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Decompressed bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        match &self.rows {
            Rows::Json { input, .. } => input.offset(),
            Rows::Csv { reader, .. } => reader.get_ref().offset(),
        }
    }

    /// The next good product and its line, or `None` at the end. Bad rows
    /// are reported and skipped.
    pub fn next_product(&mut self) -> Result<Option<(u64, Product)>, BwpError> {
        loop {
            let Some((line, row)) = self.next_row()? else {
                return Ok(None);
            };
            self.rows_read += 1;
            match row.and_then(|product| self.admit(product, line)) {
                Ok(product) => {
                    self.products += 1;
                    return Ok(Some((line, product)));
                }
                Err(finding) => {
                    self.rejected += 1;
                    self.findings.push(finding);
                }
            }
        }
    }

    /// Ends the load and reports.
    pub fn finish(self) -> ProductReport {
        let bytes = self.bytes_read();
        ProductReport {
            findings: self.findings,
            rows: self.rows_read,
            products: self.products,
            rejected: self.rejected,
            bytes,
            compression: self.compression,
        }
    }

    /// Export-wide rules: an External ID, then a SKU, once each.
    fn admit(&mut self, product: Product, line: u64) -> Result<Product, Finding> {
        let at = at_line(line);
        let id = product.external_id.clone();
        if self.external_ids.contains(&product.external_id) {
            let message = format!(
                "External ID {id:?} appears on an earlier row of the export; this row is left out"
            );
            return Err(Finding::error(Rule::BwpDuplicateExternalId, at, message).for_item(id));
        }
        if let Some(sku) = product.sku.as_deref().filter(|s| !s.is_empty())
            && !self.skus.insert(sku)
        {
            let message = format!(
                "SKU {sku:?} appears on an earlier row of the export; this row is left out"
            );
            return Err(Finding::error(Rule::BwpDuplicateSku, at, message).for_item(id));
        }
        self.external_ids.insert(&product.external_id);
        Ok(product)
    }

    /// The next non-blank row, parsed or not. `Ok(None)` at the end.
    fn next_row(&mut self) -> Result<Option<(u64, Row)>, BwpError> {
        let max_row = self.max_row;
        match &mut self.rows {
            Rows::Json {
                input,
                line,
                number,
            } => loop {
                let Some(whole) = input
                    .read_bounded_line(line, max_row)
                    .map_err(BwpError::from_io)?
                else {
                    return Ok(None);
                };
                *number += 1;
                let at = at_line(*number);
                if !whole {
                    let message = format!(
                        "the line is longer than the limit of {max_row} bytes; the row is left out"
                    );
                    return Ok(Some((
                        *number,
                        Err(Finding::error(Rule::BwpRowTooLarge, at, message)),
                    )));
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some((*number, json_row(line, at))));
            },
            Rows::Csv {
                reader,
                columns,
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
                        let Some(columns) = columns else {
                            // The header finding said why no row can be read:
                            // count the row, say nothing more.
                            let message = "left out: the header row is unusable".to_owned();
                            let finding =
                                Finding::error(Rule::BwpExportHeader, at_line(line), message);
                            return Ok(Some((line, Err(finding))));
                        };
                        Ok(Some((line, csv_row(columns, record, at_line(line)))))
                    }
                    Err(error) => {
                        if let csv::ErrorKind::Io(io) = error.kind() {
                            if let Some(LimitExceeded::Token { limit }) = LimitExceeded::from_io(io)
                            {
                                *stopped = true;
                                let line = reader.position().line();
                                let message = format!(
                                    "the row is longer than the limit of {limit} bytes; it and the rest of the export were not read"
                                );
                                let finding =
                                    Finding::error(Rule::BwpRowTooLarge, at_line(line), message);
                                return Ok(Some((line, Err(finding))));
                            }
                            return Err(BwpError::from_csv_io(io));
                        }
                        let line = error.position().map_or(0, csv::Position::line);
                        let message = format!("not a valid CSV row: {error}");
                        Ok(Some((
                            line,
                            Err(Finding::error(Rule::BwpSyntax, at_line(line), message)),
                        )))
                    }
                }
            }
        }
    }
}

/// A position that names a line only.
pub(crate) fn at_line(line: u64) -> Position {
    Position {
        line,
        column: 0,
        offset: 0,
    }
}

/// One JSON line as a product.
fn json_row(line: &[u8], at: Position) -> Row {
    let text = std::str::from_utf8(line).map_err(|error| {
        let message = format!(
            "the line holds bytes that are not UTF-8 (at column {}); the row is left out",
            error.valid_up_to() + 1
        );
        Finding::error(Rule::BwpEncoding, at, message)
    })?;
    let row: JsonProduct = serde_json::from_str(text).map_err(|error| {
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("external_id")?.as_str().map(str::to_owned));
        let message = error.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |cut| &message[..cut]);
        let finding = Finding::error(
            Rule::BwpSyntax,
            at,
            format!(
                "not a valid product row: {message} (at column {})",
                error.column()
            ),
        );
        match id {
            Some(id) => finding.for_item(id),
            None => finding,
        }
    })?;
    let some = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let offer_prime = match row.offer_prime {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(prime)) => Some(prime),
        Some(serde_json::Value::String(text)) if text == "true" || text == "false" => {
            Some(text == "true")
        }
        Some(other) => {
            let message = format!("offer_prime is {other}, not true or false; the row is left out");
            return Err(
                Finding::error(Rule::BwpOfferPrime, at, message).for_item(row.external_id.trim())
            );
        }
    };
    product(
        Product {
            external_id: row.external_id,
            new_external_id: some(row.new_external_id),
            sku: some(row.sku),
            amazon_sku: some(row.amazon_sku),
            offer_prime,
            image_url: some(row.image_url),
            detail_page_url: some(row.detail_page_url),
        },
        at,
    )
}

/// A row needs an External ID; everything else depends on its listing kind.
fn product(mut product: Product, at: Position) -> Row {
    product.external_id = product.external_id.trim().to_owned();
    if product.external_id.is_empty() {
        return Err(Finding::error(
            Rule::BwpRequired,
            at,
            "the row has no external_id; the row is left out",
        ));
    }
    Ok(product)
}

/// Reads the CSV header: each position's column, or what is wrong.
fn csv_columns<R: Read>(
    reader: &mut csv::Reader<R>,
) -> Result<Result<Vec<Column>, String>, BwpError> {
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(error) => {
            if let Some(failure) = BwpError::from_csv(&error) {
                return Err(failure);
            }
            return Ok(Err(format!(
                "the header row cannot be read: {error}; no row was read"
            )));
        }
    };
    let mut columns = Vec::with_capacity(headers.len());
    for name in &headers {
        match Column::named(name) {
            Some(column) if columns.contains(&column) => {
                return Ok(Err(format!(
                    "the header row names {name:?} twice; no row was read"
                )));
            }
            Some(column) => columns.push(column),
            None => {
                return Ok(Err(format!(
                    "the header row names an unknown column {name:?}; no row was read"
                )));
            }
        }
    }
    if !columns.contains(&Column::ExternalId) {
        return Ok(Err(format!(
            "the header row {:?} has no external_id column; no row was read",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    Ok(Ok(columns))
}

/// One CSV row as a product.
fn csv_row(columns: &[Column], record: &csv::ByteRecord, at: Position) -> Row {
    if record.len() != columns.len() {
        return Err(Finding::error(
            Rule::BwpSyntax,
            at,
            format!(
                "the row has {} fields but the header names {} columns; the row is left out",
                record.len(),
                columns.len()
            ),
        ));
    }
    let mut product_row = Product::default();
    let mut offer_prime = None;
    for (column, field) in columns.iter().zip(record) {
        let Ok(text) = std::str::from_utf8(field) else {
            return Err(Finding::error(
                Rule::BwpEncoding,
                at,
                format!("column {column:?} holds bytes that are not UTF-8; the row is left out"),
            ));
        };
        let value = (!text.trim().is_empty()).then(|| text.to_owned());
        match column {
            Column::ExternalId => product_row.external_id = text.to_owned(),
            Column::NewExternalId => product_row.new_external_id = value,
            Column::Sku => product_row.sku = value,
            Column::AmazonSku => product_row.amazon_sku = value,
            Column::OfferPrime => offer_prime = value,
            Column::ImageUrl => product_row.image_url = value,
            Column::DetailPageUrl => product_row.detail_page_url = value,
        }
    }
    product_row.offer_prime = match offer_prime.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            let id = product_row.external_id.trim().to_owned();
            return Err(Finding::error(
                Rule::BwpOfferPrime,
                at,
                format!("offer_prime is {other:?}, not true or false; the row is left out"),
            )
            .for_item(id));
        }
    };
    product(product_row, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &[u8], format: SourceFormat) -> (Vec<(u64, Product)>, ProductReport) {
        let mut loader = ProductLoader::new(text, format, ProductLoadOptions::default()).unwrap();
        let mut products = Vec::new();
        while let Some(p) = loader.next_product().unwrap() {
            products.push(p);
        }
        (products, loader.finish())
    }

    fn codes(report: &ProductReport) -> Vec<(u64, &'static str)> {
        report
            .findings
            .iter()
            .map(|f| (f.position.line, f.rule.code()))
            .collect()
    }

    #[test]
    fn json_lines_good_rows_go_on_and_bad_rows_are_findings_by_line() {
        let text = br#"{"external_id":"p1","sku":"S1","amazon_sku":"M1","offer_prime":true,"image_url":"https://i/1","detail_page_url":"https://p/1"}
not json

{"external_id":"p2","sku":"S2","colour":"red"}
{"external_id":"p1","sku":"S9"}
{"external_id":"p3","sku":"S1"}
{"external_id":"  ","sku":"S4"}
{"external_id":"p5","offer_prime":"yes"}
{"external_id":"p6"}
"#;
        let (products, report) = load(text, SourceFormat::JsonLines);
        let ids: Vec<_> = products
            .iter()
            .map(|(line, p)| (*line, p.external_id.as_str()))
            .collect();
        assert_eq!(ids, [(1, "p1"), (9, "p6")]);
        assert_eq!(products[0].1.offer_prime, Some(true));
        assert_eq!(
            codes(&report),
            [
                (2, "bwp.syntax"),
                (4, "bwp.syntax"),
                (5, "bwp.duplicate-external-id"),
                (6, "bwp.duplicate-sku"),
                (7, "bwp.required"),
                (8, "bwp.offer-prime"),
            ]
        );
        assert_eq!((report.rows, report.rejected, report.products), (8, 6, 2));
        let unknown = report.findings.iter().nth(1).unwrap();
        assert!(unknown.message.contains("colour"), "{}", unknown.message);
        assert_eq!(unknown.item_id.as_deref(), Some("p2"));
    }

    #[test]
    fn csv_with_either_column_names_compressed_or_not() {
        let ours = "external_id,sku,amazon_sku,offer_prime,image_url,detail_page_url\n\
                    p1,S1,M1,true,https://i/1,https://p/1\n\
                    p2,S2,M2,yes,https://i/2,\n\
                    p3,S3\n\
                    p4,,,,,\n";
        let (products, report) = load(ours.as_bytes(), SourceFormat::Csv);
        assert_eq!(products.len(), 2);
        assert_eq!(products[1].1.sku, None);
        assert_eq!(codes(&report), [(3, "bwp.offer-prime"), (4, "bwp.syntax")]);

        let feeds = "\"External ID\",\"SKU\",\"Offer Prime\"\np1,S1,false\n";
        let zst = zstd::encode_all(feeds.as_bytes(), 3).unwrap();
        let (products, report) = load(&zst, SourceFormat::Csv);
        assert!(report.findings.is_clean());
        assert_eq!(report.compression, Compression::Zstd);
        assert_eq!(products[0].1.offer_prime, Some(false));
    }

    #[test]
    fn an_unusable_csv_header_is_one_finding_and_every_row_is_left_out() {
        let text = "id,title\n1,a\n2,b\n";
        let (products, report) = load(text.as_bytes(), SourceFormat::Csv);
        assert!(products.is_empty());
        assert_eq!(report.rejected, 2);
        assert_eq!(
            report.findings.iter().next().unwrap().rule,
            Rule::BwpExportHeader
        );
    }

    #[test]
    fn a_line_over_the_bound_is_a_finding_and_the_next_row_goes_on() {
        let mut text = format!("{{\"external_id\":\"{}\"}}\n", "x".repeat(3000)).into_bytes();
        text.extend_from_slice(b"{\"external_id\":\"p2\"}\n\xff\xfe\n");
        let options = ProductLoadOptions {
            limits: Limits {
                max_token_bytes: 1000,
                ..Limits::default()
            },
            ..ProductLoadOptions::default()
        };
        let mut loader = ProductLoader::new(&text[..], SourceFormat::JsonLines, options).unwrap();
        let (line, product) = loader.next_product().unwrap().unwrap();
        assert_eq!((line, product.external_id.as_str()), (2, "p2"));
        assert!(loader.next_product().unwrap().is_none());
        let report = loader.finish();
        assert_eq!(
            codes(&report),
            [(1, "bwp.row-too-large"), (3, "bwp.encoding")]
        );
    }

    #[test]
    fn the_content_hash_changes_with_any_feed_column() {
        let base = Product {
            external_id: "p".into(),
            sku: Some("S".into()),
            ..Product::default()
        };
        let mut prime = base.clone();
        prime.offer_prime = Some(false);
        let mut renamed = base.clone();
        renamed.external_id = "q".into();
        assert_ne!(base.content_hash(), prime.content_hash());
        // The key is not content: the state is keyed by it.
        assert_eq!(base.content_hash(), renamed.content_hash());
    }
}
