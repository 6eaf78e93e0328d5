//! Buy with Prime catalog feeds, the pure part (DOMAIN.md B1–B3).
//!
//! The flow, one module per step:
//!
//! 1. [`product`]: the merchant's product export (JSON Lines or CSV, plain,
//!    gzip or zstd) streamed into [`Product`]s; bad rows are findings by
//!    line and left out, good rows go on.
//! 2. [`listing`]: the compact [`ListingState`] (external id → content
//!    hash, listing status, last feed) and the diff against it: only new and
//!    changed products go, each as a first listing or a re-listing.
//! 3. [`check`]: the feed validator. Every row is checked before it is
//!    written (and `catalogctl bwp validate` checks a whole file): header
//!    first and exact, required columns per [`ListingKind`], `true`/`false`,
//!    http(s) URLs, duplicates in one file.
//! 4. [`feed`]: the feed CSV files, written with the `csv` crate, at most
//!    [`MAX_PRODUCTS_PER_FILE`] products a file, streaming.
//! 5. [`result`]: the feed result file read back, summarised, and the
//!    listing-state update it implies.
//! 6. [`submission`]: the feed ledger record of each file (queued → link →
//!    uploaded → submitted → completed/failed → done) and what comes next;
//!    the I/O is `catalog_aws::bwp_pass`.
//!
//! What is Amazon's (the seed's columns and header, 15,000 products a file)
//! and what is ours (the export format, the state, duplicate and URL rules,
//! the result values we recognise) is marked on each constant; see
//! `docs/bwp-feed.md`.

use std::io;

use thiserror::Error;

use crate::input::LimitExceeded;

pub mod check;
pub mod feed;
pub mod listing;
pub mod product;
pub mod result;
pub mod submission;

pub use check::{FeedReport, FileIds, check_row, validate_feed};
pub use feed::{FeedBuild, FeedCounts, FeedFiles, FeedRow, FeedSplitter, MemoryFeeds, build_feeds};
pub use listing::{FeedMeta, ListingEntry, ListingState, ListingStatus, Plan};
pub use product::{Product, ProductLoadOptions, ProductLoader, ProductReport};
pub use result::{ImportOutcome, ResultReader, ResultRow, ResultSummary};
pub use submission::{FeedRecord, FeedSignal, Step, SubmitAction};

/// The feed's columns, in order, as the seed names them [seed, DOMAIN.md B2].
pub const FEED_COLUMNS: [&str; 7] = [
    "External ID",
    "Updated External ID",
    "SKU",
    "Amazon SKU",
    "Offer Prime",
    "Image URL",
    "Product Detail Page URL",
];

/// The most products one feed file may hold [docs, DOMAIN.md B2].
pub const MAX_PRODUCTS_PER_FILE: u64 = 15_000;

/// Whether a product goes to Amazon for the first time or again: the
/// required columns differ (DOMAIN.md B2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListingKind {
    /// Not imported yet: External ID, SKU, Amazon SKU and Image URL are required.
    FirstListing,
    /// Imported before: only External ID is required.
    Relisting,
}

impl ListingKind {
    /// `first listing` or `re-listing`, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ListingKind::FirstListing => "first listing",
            ListingKind::Relisting => "re-listing",
        }
    }
}

/// What can stop a Buy with Prime step. What a file says is never an
/// error: bad rows are findings. These are failures underneath (I/O, a
/// crossed bound, a corrupt state).
#[derive(Debug, Error)]
pub enum BwpError {
    /// Reading or writing failed (or a compressed stream is corrupt).
    #[error("could not read or write: {0}")]
    Io(#[from] io::Error),
    /// The input crossed a size bound.
    #[error("the input is too large: {0}")]
    TooLarge(LimitExceeded),
    /// The listing state is not what this version writes.
    #[error("the listing state is corrupt at line {line}: {reason}")]
    CorruptState {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

impl BwpError {
    /// The error for an I/O error, keeping a crossed bound as one.
    pub(crate) fn from_io(error: io::Error) -> BwpError {
        match LimitExceeded::from_io(&error) {
            Some(limit) => BwpError::TooLarge(limit.clone()),
            None => BwpError::Io(error),
        }
    }

    /// The error for an I/O error the CSV reader holds by reference.
    pub(crate) fn from_csv_io(error: &io::Error) -> BwpError {
        match LimitExceeded::from_io(error) {
            Some(limit) => BwpError::TooLarge(limit.clone()),
            None => BwpError::Io(io::Error::new(error.kind(), error.to_string())),
        }
    }

    /// The error for a CSV error that is the input failing, if it is one.
    pub(crate) fn from_csv(error: &csv::Error) -> Option<BwpError> {
        match error.kind() {
            csv::ErrorKind::Io(io) => Some(BwpError::from_csv_io(io)),
            _ => None,
        }
    }
}
