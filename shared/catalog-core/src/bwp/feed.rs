//! The feed files: products to CSV, at most 15,000 a file, streaming.
//!
//! [`FeedSplitter`] writes rows through the `csv` crate (RFC 4180 quoting,
//! CRLF line ends) into files a [`FeedFiles`] opens and closes: the header
//! row first in each, a new file after [`MAX_PRODUCTS_PER_FILE`] rows.
//! [`build_feeds`] is the loop every builder runs: product export → diff
//! against the listing state → the validator on every row → the splitter;
//! it holds one row at a time, so memory stays flat in the number of
//! products (the listing state and the export's id hashes aside).
//!
//! \[ours\] Every field is quoted (`QuoteStyle::Always`), so the header row is
//! byte for byte the one the issue and the seed's template give:
//! `"External ID","Updated External ID","SKU",…`; an RFC 4180 reader reads
//! the same values either way.

use std::io::{self, Write};

use crate::bwp::check::{FileIds, check_row};
use crate::bwp::listing::{ListingState, Plan};
use crate::bwp::product::{Product, ProductLoader, ProductReport, at_line};
use crate::bwp::{BwpError, FEED_COLUMNS, ListingKind, MAX_PRODUCTS_PER_FILE};

/// One feed row, its seven columns in order, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRow<'a> {
    /// External ID.
    pub external_id: &'a str,
    /// Updated External ID (re-listing only).
    pub updated_external_id: &'a str,
    /// SKU.
    pub sku: &'a str,
    /// Amazon SKU.
    pub amazon_sku: &'a str,
    /// Offer Prime: `true`, `false` or empty.
    pub offer_prime: &'a str,
    /// Image URL.
    pub image_url: &'a str,
    /// Product Detail Page URL.
    pub detail_page_url: &'a str,
}

impl<'a> FeedRow<'a> {
    /// The row from its seven fields, in [`FEED_COLUMNS`] order.
    pub fn from_fields(fields: [&'a str; 7]) -> FeedRow<'a> {
        let [
            external_id,
            updated_external_id,
            sku,
            amazon_sku,
            offer_prime,
            image_url,
            detail_page_url,
        ] = fields;
        FeedRow {
            external_id,
            updated_external_id,
            sku,
            amazon_sku,
            offer_prime,
            image_url,
            detail_page_url,
        }
    }

    /// The seven fields, in [`FEED_COLUMNS`] order.
    pub fn fields(&self) -> [&'a str; 7] {
        [
            self.external_id,
            self.updated_external_id,
            self.sku,
            self.amazon_sku,
            self.offer_prime,
            self.image_url,
            self.detail_page_url,
        ]
    }

    /// The row a product goes as. Absent values are empty columns (Offer
    /// Prime empty: Amazon's default, false).
    pub fn of_product(product: &'a Product) -> FeedRow<'a> {
        let text = |value: &'a Option<String>| value.as_deref().unwrap_or("");
        FeedRow {
            external_id: &product.external_id,
            updated_external_id: text(&product.new_external_id),
            sku: text(&product.sku),
            amazon_sku: text(&product.amazon_sku),
            offer_prime: match product.offer_prime {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            },
            image_url: text(&product.image_url),
            detail_page_url: text(&product.detail_page_url),
        }
    }
}

/// Where feed files go: a folder, a bucket, memory in tests.
pub trait FeedFiles {
    /// One open feed file.
    type File: Write;

    /// The name of feed file `index` (from 1); recorded in the listing
    /// state as the feed each product went in.
    fn name(&self, index: u32) -> String;

    /// Opens feed file `index`.
    fn create(&mut self, index: u32) -> io::Result<Self::File>;

    /// Closes feed file `index`, complete with its `products` rows.
    fn close(&mut self, index: u32, file: Self::File, products: u64) -> io::Result<()>;
}

/// Writes feed rows into files of at most `max` products each.
pub struct FeedSplitter<F: FeedFiles> {
    files: F,
    current: Option<csv::Writer<F::File>>,
    /// The index of the current (or next) file, from 1.
    index: u32,
    in_file: u64,
    max: u64,
    per_file: Vec<u64>,
    ids: FileIds,
}

impl<F: FeedFiles> std::fmt::Debug for FeedSplitter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedSplitter")
            .field("index", &self.index)
            .field("in_file", &self.in_file)
            .field("per_file", &self.per_file)
            .finish_non_exhaustive()
    }
}

impl<F: FeedFiles> FeedSplitter<F> {
    /// A splitter of at most [`MAX_PRODUCTS_PER_FILE`] products a file.
    pub fn new(files: F) -> FeedSplitter<F> {
        FeedSplitter::with_max(files, MAX_PRODUCTS_PER_FILE)
    }

    /// A splitter of at most `max` products a file (at least 1).
    pub fn with_max(files: F, max: u64) -> FeedSplitter<F> {
        FeedSplitter {
            files,
            current: None,
            index: 1,
            in_file: 0,
            max: max.max(1),
            per_file: Vec::new(),
            ids: FileIds::default(),
        }
    }

    /// The ids of the file the next row goes into, for [`check_row`].
    pub fn file_ids(&mut self) -> &mut FileIds {
        &mut self.ids
    }

    /// The index (from 1) of the file the next row goes into.
    pub fn next_file_index(&self) -> u32 {
        self.index
    }

    /// The name of feed file `index`.
    pub fn file_name(&self, index: u32) -> String {
        self.files.name(index)
    }

    /// Writes one row, opening a file (and its header row) when none is open.
    pub fn push(&mut self, row: &FeedRow<'_>) -> io::Result<()> {
        let writer = match &mut self.current {
            Some(writer) => writer,
            None => {
                let file = self.files.create(self.index)?;
                let mut writer = csv::WriterBuilder::new()
                    .quote_style(csv::QuoteStyle::Always)
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(file);
                writer.write_record(FEED_COLUMNS)?;
                self.current.insert(writer)
            }
        };
        writer.write_record(row.fields())?;
        self.in_file += 1;
        if self.in_file == self.max {
            self.close_current()?;
        }
        Ok(())
    }

    /// Closes the last file; hands back the sink and the rows per file.
    pub fn finish(mut self) -> io::Result<(F, Vec<u64>)> {
        self.close_current()?;
        Ok((self.files, self.per_file))
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some(writer) = self.current.take() {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            self.files.close(self.index, file, self.in_file)?;
            self.per_file.push(self.in_file);
            self.index += 1;
            self.in_file = 0;
            self.ids.reset();
        }
        Ok(())
    }
}

/// How many products went which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedCounts {
    /// Written as first listings.
    pub first_listings: u64,
    /// Written as re-listings.
    pub relistings: u64,
    /// Unchanged since they were last sent: not written.
    pub unchanged: u64,
    /// New or changed but refused by the validator: not written, reported.
    pub refused: u64,
}

impl FeedCounts {
    /// Products written.
    pub fn written(&self) -> u64 {
        self.first_listings + self.relistings
    }
}

/// What [`build_feeds`] produced.
#[derive(Debug)]
pub struct FeedBuild<F> {
    /// The sink, every file closed.
    pub files: F,
    /// Products per file, in order.
    pub per_file: Vec<u64>,
    /// The listing state with every written product recorded as pending.
    pub state: ListingState,
    /// The export's report, with the validator's findings by line.
    pub load: ProductReport,
    /// How many products went which way.
    pub counts: FeedCounts,
}

/// The feed build: every product of the export, diffed against `state`;
/// each new or changed one checked by [`check_row`] as its listing kind and,
/// when clean, written and recorded in the state as pending. The state is
/// taken and handed back changed; commit it only after the files are kept.
/// `progress` gets (products read, bytes read) every 4,096 products.
pub fn build_feeds<F: FeedFiles>(
    mut loader: ProductLoader<'_>,
    mut state: ListingState,
    files: F,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<FeedBuild<F>, BwpError> {
    let mut splitter = FeedSplitter::new(files);
    let mut counts = FeedCounts::default();
    let mut read = 0u64;
    // The name of the file being written, asked for once per file.
    let mut feed = (0, String::new());
    while let Some((line, product)) = loader.next_product()? {
        read += 1;
        if read.is_multiple_of(4096) {
            progress(read, loader.bytes_read());
        }
        let hash = product.content_hash();
        let kind = match state.plan_hashed(&product.external_id, hash) {
            Plan::Unchanged => {
                counts.unchanged += 1;
                continue;
            }
            Plan::Send(kind) => kind,
        };
        let row = FeedRow::of_product(&product);
        let clean = check_row(&row, kind, splitter.file_ids(), at_line(line), &mut |f| {
            loader.report(f)
        });
        if !clean {
            counts.refused += 1;
            continue;
        }
        let index = splitter.next_file_index();
        if feed.0 != index {
            feed = (index, splitter.file_name(index));
        }
        splitter.push(&row)?;
        state.record_hashed(&product.external_id, hash, kind, &feed.1);
        match kind {
            ListingKind::FirstListing => counts.first_listings += 1,
            ListingKind::Relisting => counts.relistings += 1,
        }
    }
    let (files, per_file) = splitter.finish()?;
    Ok(FeedBuild {
        files,
        per_file,
        state,
        load: loader.finish(),
        counts,
    })
}

/// Feed files kept in memory, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryFeeds {
    /// Each closed file's name and bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// When true, bytes are counted, not kept.
    pub count_only: bool,
    /// Bytes written in all.
    pub bytes: u64,
}

impl FeedFiles for MemoryFeeds {
    type File = Vec<u8>;

    fn name(&self, index: u32) -> String {
        format!("feed-{index:04}.csv")
    }

    fn create(&mut self, _index: u32) -> io::Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn close(&mut self, index: u32, file: Vec<u8>, _products: u64) -> io::Result<()> {
        self.bytes += file.len() as u64;
        if !self.count_only {
            self.files.push((self.name(index), file));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bwp::product::ProductLoadOptions;
    use crate::source::SourceFormat;

    fn export(n: u64) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"external_id\":\"p{i}\",\"sku\":\"S{i}\",\"amazon_sku\":\"M{i}\",\"image_url\":\"https://i.example/{i}.jpg\"}}\n"
                )
            })
            .collect()
    }

    fn build(text: &str, state: ListingState) -> FeedBuild<MemoryFeeds> {
        let loader = ProductLoader::new(
            text.as_bytes(),
            SourceFormat::JsonLines,
            ProductLoadOptions::default(),
        )
        .unwrap();
        build_feeds(loader, state, MemoryFeeds::default(), &mut |_, _| {}).unwrap()
    }

    #[test]
    fn forty_thousand_products_make_three_files_each_with_its_header() {
        let built = build(&export(40_000), ListingState::new());
        assert_eq!(built.per_file, [15_000, 15_000, 10_000]);
        assert_eq!(built.files.files.len(), 3);
        for (_, bytes) in &built.files.files {
            assert!(bytes.starts_with(
                b"\"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"\r\n"
            ));
        }
        assert_eq!(built.counts.first_listings, 40_000);
        assert_eq!(built.state.len(), 40_000);
        let entry = built.state.get("p39999").unwrap();
        assert_eq!(entry.feed.as_deref(), Some("feed-0003.csv"));
    }

    #[test]
    fn written_files_pass_the_validator() {
        let built = build(&export(10), ListingState::new());
        let (_, bytes) = &built.files.files[0];
        let report =
            crate::bwp::validate_feed(&bytes[..], &mut |_| ListingKind::FirstListing, 100).unwrap();
        assert!(report.is_valid() && report.header_ok && report.rows == 10);
    }

    #[test]
    fn quoting_keeps_commas_and_quotes_in_values() {
        let text = "{\"external_id\":\"p,1\",\"sku\":\"S \\\"1\\\"\",\"amazon_sku\":\"M\",\"image_url\":\"https://i/1?a=1,2\"}\n";
        let built = build(text, ListingState::new());
        let (_, bytes) = &built.files.files[0];
        let body = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            body.ends_with(
                "\"p,1\",\"\",\"S \"\"1\"\"\",\"M\",\"\",\"https://i/1?a=1,2\",\"\"\r\n"
            ),
            "{body}"
        );
    }

    #[test]
    fn a_first_listing_without_what_it_needs_is_reported_by_line_and_the_rest_go() {
        let text = "{\"external_id\":\"p1\",\"sku\":\"S1\"}\n{\"external_id\":\"p2\",\"sku\":\"S2\",\"amazon_sku\":\"M2\",\"image_url\":\"https://i/2\"}\n";
        let built = build(text, ListingState::new());
        assert_eq!(built.counts.refused, 1);
        assert_eq!(built.counts.first_listings, 1);
        let lines: Vec<_> = built
            .load
            .findings
            .iter()
            .map(|f| (f.position.line, f.rule.code(), f.item_id.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "bwp.required", Some("p1".into())),
                (1, "bwp.required", Some("p1".into()))
            ]
        );
        assert!(built.state.get("p1").is_none());
    }

    #[test]
    fn unchanged_products_stay_home_and_changed_ones_go_as_their_kind() {
        let first = build(&export(3), ListingState::new());
        let again = build(&export(3), first.state);
        assert_eq!(again.counts.unchanged, 3);
        assert!(again.files.files.is_empty());
        let changed = export(3).replace("\"sku\":\"S1\"", "\"sku\":\"S1b\"");
        let third = build(&changed, again.state);
        assert_eq!(
            third.counts.first_listings, 1,
            "still pending: a first listing again"
        );
        assert_eq!(third.counts.unchanged, 2);
    }
}
