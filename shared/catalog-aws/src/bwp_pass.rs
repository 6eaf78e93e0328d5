//! Buy with Prime catalog feeds on AWS: the submission pass (the catalog
//! builder runs it) and, in [`crate::bwp_results`], the results pass (the
//! report parser runs it). The rules are `catalog_core::bwp` (the feed
//! build, the ledger record and its steps); this is their I/O against the
//! work bucket and the Buy with Prime API.
//!
//! Work bucket layout:
//!
//! | key | what | written |
//! |---|---|---|
//! | `products/…` | the merchant's product exports (a drop triggers the pass) | by the merchant |
//! | `bwp/feeds/<stem>-NNNN.csv` | feed files, at most 15,000 products each | by the build, before the state commit |
//! | `bwp/feeds/<export stem>.summary.json` | the build's counts and findings, once per export | create-once |
//! | `state/bwp/listing.jsonl.zst` | the listing state | compare-and-swap |
//! | `state/bwp/latest-products.json` | the newest export built: only moves forward | compare-and-swap |
//! | `state/bwp/feeds/<file>.json` | the feed ledger record of each file | create-once, then compare-and-swap |
//! | `state/bwp/finished/<file>` | "this record is done": not read again | create-once |
//! | `bwp/results/<file>.result.csv` | the result file, byte for byte | create-once |
//! | `bwp/results/<file>.summary.json` | the result's summary | create-once, after the state |
//! | `state/bwp/alerts/<file>.json` | "the alert for this file went out" | create-once |
//!
//! [`submit_pass`], in order:
//!
//! 1. [`build_from_export`] (a drop under `products/` only): an export
//!    older than the newest one built (by the notification's time, then key
//!    and ETag) is superseded and builds nothing; otherwise it is
//!    diffed against the listing state into feed files named after the
//!    export and the state's ETag (a redelivery rebuilds the very same
//!    bytes under the same names), then the state committed by
//!    compare-and-swap (a lost race rebuilds on the new state), then one
//!    ledger record per file (create-once: the intent to submit). Feeds the
//!    committed state names without a record (a crash between the commit and
//!    the records) get theirs on the next drop.
//! 2. `submit_next`: the first file not submitted yet, advanced from the
//!    step its record holds: `createUploadLink` → record the link → PUT →
//!    record `uploaded` → record the intent `creating` → `createCatalogFeed`
//!    → record the feed id. Every record write is a compare-and-swap on the
//!    version read, so two runs never both call `createCatalogFeed` for one
//!    record: the loser stops (`busy`). A refusal of the link (S3's
//!    `SignatureDoesNotMatch` for a size mismatch, `AccessDenied` when
//!    expired) gets a new link and one more PUT. "Only one ongoing catalog
//!    feed" puts the file back to `uploaded`: it waits for a later run
//!    (counted, not an error). After a drop, a failure here does not fail
//!    the drop (its build is committed, its files queued): the schedule
//!    carries on.
//!
//! The one window: between `createCatalogFeed`'s answer and the write of
//! `submitted` (or when the answer never came) the outcome is unknown. The
//! API cannot list feeds, so the next run calls `createCatalogFeed` again
//! (`unknown_outcomes` in the record, the `BwpCreateAgainAfterUnknown`
//! metric, a warning): only that window can submit a file twice.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Read};
use std::path::Path;

use bwp_api::ApiError;
use catalog_core::Finding;
use catalog_core::bwp::submission::next_to_submit;
use catalog_core::bwp::{
    BwpError, FeedCounts, FeedFiles, FeedRecord, ListingState, ProductLoadOptions, ProductLoader,
    SubmitAction, build_feeds,
};
use serde::Serialize;
use thiserror::Error;
use tokio_util::io::SyncIoBridge;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::state_store::{Advance, ExportRef, StateStore, StateStoreError};
use crate::store::{Metadata, ObjectInfo, ObjectStore, ObjectWriter, Precondition, StoreError};
use catalog_core::outbox::ETag;

/// Where merchants drop product exports in the work bucket.
pub const PRODUCTS_PREFIX: &str = "products/";
/// Where feed files are written.
pub const FEEDS_PREFIX: &str = "bwp/feeds/";
/// Where result files and their summaries are archived.
pub const RESULTS_PREFIX: &str = "bwp/results/";
/// The listing state.
pub const LISTING_KEY: &str = "state/bwp/listing.jsonl.zst";
/// The newest product export built: a late or repeated drop of an older
/// one is superseded (it would send old product content again).
pub const LATEST_PRODUCTS_KEY: &str = "state/bwp/latest-products.json";
/// The feed ledger, one record per file.
pub const LEDGER_PREFIX: &str = "state/bwp/feeds/";
/// Markers of records whose outcome was dealt with.
pub const FINISHED_PREFIX: &str = "state/bwp/finished/";
/// Markers of alerts sent, one per file.
pub const ALERTED_PREFIX: &str = "state/bwp/alerts/";

/// A feed file's ledger key.
pub fn ledger_key(file: &str) -> String {
    format!("{LEDGER_PREFIX}{file}.json")
}

/// A feed file's key.
pub fn feed_key(file: &str) -> String {
    format!("{FEEDS_PREFIX}{file}")
}

/// The archived result file of a feed file.
pub fn result_key(file: &str) -> String {
    format!("{RESULTS_PREFIX}{file}.result.csv")
}

/// The result summary of a feed file.
pub fn result_summary_key(file: &str) -> String {
    format!("{RESULTS_PREFIX}{file}.summary.json")
}

fn finished_key(file: &str) -> String {
    format!("{FINISHED_PREFIX}{file}")
}

/// The alert marker of a feed file.
pub fn alerted_key(file: &str) -> String {
    format!("{ALERTED_PREFIX}{file}.json")
}

/// The largest feed file read back for the upload (15,000 rows of a few
/// hundred bytes each is a few MB).
const MAX_FEED_BYTES: u64 = 64 << 20;
/// Builds and state commits tried before giving up for this run.
const MAX_ATTEMPTS: u32 = 4;

/// What the feed passes need from the configuration.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// `staging` or `prod`: the `Env` dimension of the metrics.
    pub env: String,
    /// Upload part size for feed files.
    pub part_size: usize,
    /// Download links asked for one result before giving up this run.
    pub download_attempts: u32,
    /// Example rows kept per error code in a result summary.
    pub examples_per_code: usize,
    /// Findings kept in a build summary.
    pub max_findings: usize,
}

impl Default for FeedSettings {
    fn default() -> FeedSettings {
        FeedSettings {
            env: "staging".into(),
            part_size: 8 << 20,
            download_attempts: 3,
            examples_per_code: 5,
            max_findings: 1000,
        }
    }
}

/// What a function needs for the feed passes: the API client (built once
/// per cold start) and the settings.
#[derive(Debug, Clone)]
pub struct FeedDeps {
    /// The Buy with Prime client.
    pub api: std::sync::Arc<bwp_api::Client>,
    /// The settings.
    pub settings: FeedSettings,
}

impl FeedDeps {
    /// From the environment (`BWP_API_*`, see
    /// [`crate::event_config::feed_api_config`]): `None` when
    /// `BWP_API_SECRET_ARN` is unset or the secret is still the stack's
    /// placeholder; the secret is read once.
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
        env: &str,
        part_size: usize,
    ) -> Result<Option<FeedDeps>, Box<dyn std::error::Error + Send + Sync>> {
        let Some(config) = crate::event_config::feed_api_config(|name| std::env::var(name).ok())?
        else {
            tracing::info!("BWP_API_SECRET_ARN is not set: Buy with Prime feeds are off");
            return Ok(None);
        };
        let Some(api) = crate::event_config::feed_api_client(sdk, &config).await? else {
            return Ok(None);
        };
        Ok(Some(FeedDeps {
            api: std::sync::Arc::new(api),
            settings: FeedSettings {
                env: env.to_owned(),
                part_size,
                ..FeedSettings::default()
            },
        }))
    }
}

/// Why a feed pass failed. Every variant is worth a retry unless it says.
#[derive(Debug, Error)]
pub enum FeedPassError {
    /// The work bucket failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Buy with Prime API failed.
    #[error("Buy with Prime: {0}")]
    Api(#[from] ApiError),
    /// An object under `state/bwp/` is not what this code writes.
    #[error("{location}: not a valid record: {message}; fix or remove it")]
    Record {
        /// Where.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The listing state or an export could not be read.
    #[error("{location}: {source}")]
    Feed {
        /// Where.
        location: String,
        /// What failed.
        #[source]
        source: BwpError,
    },
    /// A feed file is not the one its record was made for.
    #[error(
        "{location}: {size} bytes with ETag {etag}, but its ledger record says {expected_size} bytes with ETag {expected_etag}; a feed file must not change after it is queued"
    )]
    FileChanged {
        /// Where.
        location: String,
        /// Size found.
        size: u64,
        /// ETag found.
        etag: String,
        /// Size recorded.
        expected_size: u64,
        /// ETag recorded.
        expected_etag: String,
    },
    /// The listing state kept changing under this pass.
    #[error("the listing state changed under {attempts} attempts in a row; giving up for now")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// A feed the ledger names is unknown to the API.
    #[error(
        "catalog feed {feed_id} of {file} is unknown to Buy with Prime; check the API credentials (another merchant?)"
    )]
    FeedUnknown {
        /// The feed file.
        file: String,
        /// The feed id.
        feed_id: String,
    },
    /// A completed feed without a result file id, or a refused link kept refusing.
    #[error("{file}: {message}")]
    Result {
        /// The feed file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// An alert could not be sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// A blocking task failed.
    #[error("a blocking task failed: {0}")]
    Join(String),
    /// Several feeds failed in one results pass.
    #[error("{} feeds could not be finished: {}", .0.len(), .0.join("; "))]
    Several(Vec<String>),
}

/// A product export dropped under `products/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductsRef {
    /// Its key.
    pub key: String,
    /// Its ETag (from the notification).
    pub etag: String,
    /// When it was dropped (milliseconds), from the notification.
    pub dropped_ms: i64,
}

/// Why the submission pass runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedTrigger {
    /// A product export was dropped: build its feeds, then submit.
    Products(ProductsRef),
    /// The schedule: submit the next file waiting.
    Schedule,
}

/// A feed file built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuiltFile {
    /// Its name.
    pub file: String,
    /// Its key.
    pub key: String,
    /// Products in it.
    pub products: u64,
    /// Its size.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    /// The export.
    pub source: String,
    /// The feed files' stem (`bwp-feed-<time>-<hash>`).
    pub stem: String,
    /// `built`, `built-partial` (some rows left out), `nothing-to-do`, or
    /// `superseded` (a newer export was built already).
    pub status: &'static str,
    /// The files written.
    pub files: Vec<BuiltFile>,
    /// Products per way.
    #[serde(flatten)]
    pub counts: FeedCounts,
    /// Rows in the export.
    pub rows: u64,
    /// Rows left out (unreadable or refused by the validator).
    pub rows_rejected: u64,
    /// Errors found.
    pub errors: u64,
    /// Findings, by line.
    pub findings: Vec<Finding>,
    /// Ledger records created for feeds the state named without one.
    pub reconciled: Vec<String>,
}

/// What the submission step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Submission {
    /// No file waits.
    NothingToSubmit,
    /// A file went: its feed id is recorded.
    Submitted {
        /// The file.
        file: String,
        /// The API's feed id.
        feed_id: String,
    },
    /// Another feed is ongoing: the file waits for a later run.
    Waiting {
        /// The file.
        file: String,
    },
    /// Another run moved the record first: it carries on.
    Busy {
        /// The file.
        file: String,
    },
    /// After a drop whose build is committed, the submission failed (the
    /// API or the bucket): the files are queued and the `bwp-submit`
    /// schedule carries on, so the drop's message is not retried for it.
    Deferred {
        /// What failed.
        error: String,
    },
}

/// What one submission pass did.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitReport {
    /// The build, on a drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildOutcome>,
    /// The submission step.
    pub submission: Submission,
}

/// Counters of one pass, emitted as one EMF line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) submitted: u64,
    pub(crate) waits: u64,
    pub(crate) relinks: u64,
    pub(crate) again_after_unknown: u64,
    pub(crate) rows_refused: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) rows_imported: u64,
    pub(crate) rows_failed: u64,
    pub(crate) download_relinks: u64,
}

impl Counters {
    pub(crate) fn emit(&self, function: &str, env: &str) {
        EmfLine::new("CatalogRelay", [("Function", function), ("Env", env)])
            .metric("BwpFeedsSubmitted", Unit::Count, self.submitted)
            .metric("BwpFeedWaits", Unit::Count, self.waits)
            .metric("BwpUploadRelinks", Unit::Count, self.relinks)
            .metric(
                "BwpCreateAgainAfterUnknown",
                Unit::Count,
                self.again_after_unknown,
            )
            .metric("BwpRowsRefused", Unit::Count, self.rows_refused)
            .metric("BwpFeedsCompleted", Unit::Count, self.completed)
            .metric("BwpFeedsFailed", Unit::Count, self.failed)
            .metric("BwpRowsImported", Unit::Count, self.rows_imported)
            .metric("BwpRowsFailed", Unit::Count, self.rows_failed)
            .metric("BwpDownloadRelinks", Unit::Count, self.download_relinks)
            .emit();
    }
}

/// The submission pass: on a drop, build the export's feeds; then submit
/// the next file waiting. One EMF line per run.
pub async fn submit_pass<S: ObjectStore + Clone>(
    store: &S,
    api: &bwp_api::Client,
    alerts: &Alerts,
    settings: &FeedSettings,
    trigger: FeedTrigger,
    now: i64,
) -> Result<SubmitReport, FeedPassError> {
    let mut counters = Counters::default();
    let result = async {
        let build = match &trigger {
            FeedTrigger::Products(export) => {
                let outcome = build_from_export(store, settings, export, now).await?;
                counters.rows_refused = outcome.rows_rejected;
                write_build_summary(store, alerts, export, &outcome).await?;
                Some(outcome)
            }
            FeedTrigger::Schedule => None,
        };
        let submission = match submit_next(store, api, now, &mut counters).await {
            Ok(submission) => submission,
            Err(error) if build.is_some() => {
                tracing::error!(%error, "the export is built and its files queued; submitting failed and the bwp-submit schedule carries on");
                Submission::Deferred {
                    error: error.to_string(),
                }
            }
            Err(error) => return Err(error),
        };
        Ok(SubmitReport { build, submission })
    }
    .await;
    counters.emit("catalog-builder", &settings.env);
    result
}

// ---------------------------------------------------------------- ledger

/// A ledger record and the ETag it was read (or written) with.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The record.
    pub record: FeedRecord,
    /// Its object's ETag.
    pub etag: String,
}

/// A compare-and-swap lost: another run moved the record.
#[derive(Debug)]
pub(crate) struct Raced;

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Reads a small object whole (at most 16 MiB).
pub(crate) async fn read_small<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<(ObjectInfo, Vec<u8>)>, FeedPassError> {
    let (info, body) = match store.get(key).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let location = store.location(key);
    let bytes = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        SyncIoBridge::new(body)
            .take(MAX_FEED_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|source| StoreError::Io { location, source })
    })
    .await
    .map_err(|e| FeedPassError::Join(e.to_string()))??;
    Ok(Some((info, bytes)))
}

/// Reads one ledger record.
pub async fn read_record<S: ObjectStore>(
    store: &S,
    file: &str,
) -> Result<Option<Versioned>, FeedPassError> {
    let key = ledger_key(file);
    let Some((info, bytes)) = read_small(store, &key).await? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&bytes).map_err(|e| FeedPassError::Record {
        location: store.location(&key),
        message: e.to_string(),
    })?;
    Ok(Some(Versioned {
        record,
        etag: info.etag,
    }))
}

/// Creates a record once; `false` when one exists already.
async fn create_record<S: ObjectStore>(
    store: &S,
    record: &FeedRecord,
) -> Result<bool, FeedPassError> {
    match store
        .put(
            &ledger_key(&record.file),
            to_json(record),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a record only if it is still the version read.
pub(crate) async fn replace_record<S: ObjectStore>(
    store: &S,
    record: FeedRecord,
    etag: &str,
) -> Result<Result<Versioned, Raced>, FeedPassError> {
    match store
        .put(
            &ledger_key(&record.file),
            to_json(&record),
            Precondition::IfMatch(etag.to_owned()),
            &Metadata::new(),
        )
        .await
    {
        Ok(info) => Ok(Ok(Versioned {
            record,
            etag: info.etag,
        })),
        Err(StoreError::PreconditionFailed { .. }) => Ok(Err(Raced)),
        Err(e) => Err(e.into()),
    }
}

/// Marks a record finished: later passes do not read it again.
pub(crate) async fn mark_finished<S: ObjectStore>(
    store: &S,
    file: &str,
) -> Result<(), FeedPassError> {
    match store
        .put(
            &finished_key(file),
            Vec::new(),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names of every file with a ledger record.
async fn ledger_files<S: ObjectStore>(store: &S) -> Result<BTreeSet<String>, FeedPassError> {
    Ok(store
        .list(LEDGER_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| {
            o.key
                .strip_prefix(LEDGER_PREFIX)?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect())
}

/// Every record not marked finished, by file name.
pub async fn open_records<S: ObjectStore>(store: &S) -> Result<Vec<Versioned>, FeedPassError> {
    let finished: HashSet<String> = store
        .list(FINISHED_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| o.key.strip_prefix(FINISHED_PREFIX).map(str::to_owned))
        .collect();
    let mut out = Vec::new();
    for file in ledger_files(store).await? {
        if finished.contains(&file) {
            continue;
        }
        if let Some(found) = read_record(store, &file).await? {
            out.push(found);
        }
    }
    Ok(out)
}

/// Every ledger record, finished or not, by file name.
pub async fn all_records<S: ObjectStore>(store: &S) -> Result<Vec<Versioned>, FeedPassError> {
    let mut out = Vec::new();
    for file in ledger_files(store).await? {
        if let Some(found) = read_record(store, &file).await? {
            out.push(found);
        }
    }
    Ok(out)
}

// --------------------------------------------------------- listing state

/// Loads the listing state and its ETag (`None`: none yet).
pub async fn load_listing<S: ObjectStore>(
    store: &S,
) -> Result<(ListingState, Option<String>), FeedPassError> {
    let (info, body) = match store.get(LISTING_KEY).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok((ListingState::new(), None)),
        Err(e) => return Err(e.into()),
    };
    let location = store.location(LISTING_KEY);
    let state = tokio::task::spawn_blocking(move || ListingState::load(SyncIoBridge::new(body)))
        .await
        .map_err(|e| FeedPassError::Join(e.to_string()))?
        .map_err(|source| FeedPassError::Feed { location, source })?;
    Ok((state, Some(info.etag)))
}

/// Saves the listing state by compare-and-swap on `etag` (create-once
/// when `None`).
pub(crate) async fn save_listing<S: ObjectStore>(
    store: &S,
    state: ListingState,
    etag: Option<&str>,
) -> Result<Result<String, Raced>, FeedPassError> {
    let location = store.location(LISTING_KEY);
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, BwpError> {
        let encoder = zstd::Encoder::new(Vec::new(), 3)?;
        Ok(state.save(encoder)?.finish()?)
    })
    .await
    .map_err(|e| FeedPassError::Join(e.to_string()))?
    .map_err(|source| FeedPassError::Feed { location, source })?;
    let precondition = match etag {
        Some(etag) => Precondition::IfMatch(etag.to_owned()),
        None => Precondition::IfNoneMatch,
    };
    match store
        .put(LISTING_KEY, bytes, precondition, &Metadata::new())
        .await
    {
        Ok(info) => Ok(Ok(info.etag)),
        Err(StoreError::PreconditionFailed { .. }) => Ok(Err(Raced)),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------ build

/// Feed files in the work bucket, streamed through the store's writer.
struct StoreFeeds<S> {
    store: S,
    stem: String,
    part_size: usize,
    written: Vec<BuiltFile>,
}

impl<S: ObjectStore> FeedFiles for StoreFeeds<S> {
    type File = Box<dyn ObjectWriter>;

    fn name(&self, index: u32) -> String {
        format!("{}-{index:04}.csv", self.stem)
    }

    fn create(&mut self, index: u32) -> io::Result<Box<dyn ObjectWriter>> {
        // Not create-once: the name is the export's and the state's, so a
        // rebuild writes the very same bytes; no record names the file yet.
        self.store
            .writer(
                &feed_key(&self.name(index)),
                &Metadata::new(),
                self.part_size,
                false,
            )
            .map_err(io::Error::other)
    }

    fn close(&mut self, index: u32, file: Box<dyn ObjectWriter>, products: u64) -> io::Result<()> {
        let info = file.finish().map_err(io::Error::other)?;
        let name = self.name(index);
        self.written.push(BuiltFile {
            key: feed_key(&name),
            file: name,
            products,
            size: info.size,
            etag: info.etag,
        });
        Ok(())
    }
}

/// `bwp-feed-<drop time>-<8 hex>`: the hex is of the export (key, ETag) and
/// the state's ETag, so a rebuild on the same state has the same names.
pub fn feed_stem(export: &ProductsRef, state_etag: Option<&str>) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        export.key.as_str(),
        export.etag.as_str(),
        state_etag.unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    let at = time::OffsetDateTime::from_unix_timestamp(export.dropped_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "bwp-feed-{}-{:08x}",
        catalog_core::naming::compact_utc(at),
        hasher.digest() as u32
    )
}

/// Step 1: the export → feed files → the state committed → one ledger
/// record per file; then records for feeds the state names without one.
pub async fn build_from_export<S: ObjectStore + Clone>(
    store: &S,
    settings: &FeedSettings,
    export: &ProductsRef,
    now: i64,
) -> Result<BuildOutcome, FeedPassError> {
    let pointer = ExportRef {
        key: export.key.clone(),
        etag: ETag::new(export.etag.clone()),
        dropped_ms: export.dropped_ms,
    };
    let advanced = StateStore::new(store.clone())
        .advance_pointer(LATEST_PRODUCTS_KEY, &pointer)
        .await
        .map_err(|e| match e {
            StateStoreError::Store(e) => FeedPassError::Store(e),
            other => FeedPassError::Record {
                location: store.location(LATEST_PRODUCTS_KEY),
                message: other.to_string(),
            },
        })?;
    if let Advance::Older(newer) = advanced {
        tracing::info!(source = %export.key, newer = %newer.key, "an older product export than the newest built: superseded");
        return Ok(BuildOutcome {
            source: export.key.clone(),
            stem: String::new(),
            status: "superseded",
            files: Vec::new(),
            counts: FeedCounts::default(),
            rows: 0,
            rows_rejected: 0,
            errors: 0,
            findings: Vec::new(),
            reconciled: Vec::new(),
        });
    }
    for attempt in 1..=MAX_ATTEMPTS {
        let (state, etag) = load_listing(store).await?;
        let stem = feed_stem(export, etag.as_deref());
        let (_, body) = store.get(&export.key).await?;
        let feeds = StoreFeeds {
            store: store.clone(),
            stem: stem.clone(),
            part_size: settings.part_size,
            written: Vec::new(),
        };
        let format = ProductLoader::format_of(Path::new(&export.key));
        let options = ProductLoadOptions {
            max_findings: settings.max_findings,
            ..ProductLoadOptions::default()
        };
        let location = store.location(&export.key);
        let built = tokio::task::spawn_blocking(move || {
            let loader = ProductLoader::new(SyncIoBridge::new(body), format, options)?;
            build_feeds(loader, state, feeds, &mut |_, _| {})
        })
        .await
        .map_err(|e| FeedPassError::Join(e.to_string()))?
        .map_err(|source| FeedPassError::Feed { location, source })?;
        let files = built.files.written;
        // What the reconciliation needs, taken before the state is handed
        // to the save (no second copy of a large state in memory).
        let named: Vec<(String, u64)> = built
            .state
            .feeds_named()
            .into_iter()
            .filter(|(file, _)| built.state.feed_meta(file).id.is_none())
            .collect();
        if built.counts.written() > 0 {
            match save_listing(store, built.state, etag.as_deref()).await? {
                Ok(_) => {}
                Err(Raced) => {
                    // The files stay: a winner that built the same export on
                    // the same state wrote these very names and bytes, and
                    // files no record names are never submitted.
                    tracing::info!(attempt, "the listing state changed while building; again");
                    continue;
                }
            }
            for file in &files {
                let record = FeedRecord::queued(
                    &file.file,
                    &file.key,
                    file.size,
                    &file.etag,
                    file.products,
                    now,
                );
                create_record(store, &record).await?;
            }
        }
        let reconciled = reconcile(store, named, now).await?;
        let findings = &built.load.findings;
        let clean = findings.is_clean();
        let outcome = BuildOutcome {
            source: export.key.clone(),
            stem,
            status: match (built.counts.written(), clean) {
                (0, _) => "nothing-to-do",
                (_, true) => "built",
                (_, false) => "built-partial",
            },
            files,
            counts: built.counts,
            rows: built.load.rows,
            rows_rejected: built.load.rejected + built.counts.refused,
            errors: findings.error_count(),
            findings: findings.iter().cloned().collect(),
            reconciled,
        };
        tracing::info!(
            source = %export.key,
            status = outcome.status,
            files = outcome.files.len(),
            first_listings = outcome.counts.first_listings,
            relistings = outcome.counts.relistings,
            unchanged = outcome.counts.unchanged,
            rejected = outcome.rows_rejected,
            "product export built"
        );
        return Ok(outcome);
    }
    Err(FeedPassError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// Records for feeds the committed state names but the ledger lacks (a
/// crash between the commit and the records).
/// `named`: the feeds the state names, with their products, that it
/// records no feed id for.
async fn reconcile<S: ObjectStore>(
    store: &S,
    named: Vec<(String, u64)>,
    now: i64,
) -> Result<Vec<String>, FeedPassError> {
    let known = ledger_files(store).await?;
    let mut created = Vec::new();
    for (file, products) in named {
        if known.contains(&file) {
            continue;
        }
        let key = feed_key(&file);
        let Some(info) = store.head(&key).await? else {
            tracing::warn!(%file, "the listing state names a feed file that is not in the bucket");
            continue;
        };
        let record = FeedRecord::queued(&file, &key, info.size, &info.etag, products, now);
        if create_record(store, &record).await? {
            tracing::warn!(%file, "queued a feed file the state named without a ledger record");
            created.push(file);
        }
    }
    Ok(created)
}

/// Writes the build summary once per export (named after the export alone,
/// [`feed_stem`] without the state, so a redelivered drop finds it) and,
/// when rows were left out, alerts first: at least once, not on every
/// redelivery.
async fn write_build_summary<S: ObjectStore>(
    store: &S,
    alerts: &Alerts,
    export: &ProductsRef,
    outcome: &BuildOutcome,
) -> Result<(), FeedPassError> {
    if outcome.files.is_empty() && outcome.rows_rejected == 0 {
        return Ok(());
    }
    let key = build_summary_key(export);
    if store.head(&key).await?.is_some() {
        return Ok(());
    }
    if outcome.rows_rejected > 0 {
        #[derive(Serialize)]
        struct Refused<'a> {
            source: &'a str,
            rows: u64,
            rows_rejected: u64,
            first_findings: Vec<String>,
            summary: &'a str,
        }
        alerts
            .send(
                "bwp-rows-refused",
                &Refused {
                    source: &outcome.source,
                    rows: outcome.rows,
                    rows_rejected: outcome.rows_rejected,
                    first_findings: outcome
                        .findings
                        .iter()
                        .take(10)
                        .map(|f| format!("line {}: {}", f.position.line, f.message))
                        .collect(),
                    summary: &key,
                },
            )
            .await?;
    }
    match store
        .put(
            &key,
            to_json(outcome),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The build summary of an export: `bwp/feeds/<stem of the export alone>.summary.json`.
pub fn build_summary_key(export: &ProductsRef) -> String {
    format!("{FEEDS_PREFIX}{}.summary.json", feed_stem(export, None))
}

// ------------------------------------------------------------- submission

/// Reads a feed file back, checking it is the one its record was made for.
async fn read_feed_file<S: ObjectStore>(
    store: &S,
    record: &FeedRecord,
) -> Result<Vec<u8>, FeedPassError> {
    let location = store.location(&record.key);
    let Some((info, bytes)) = read_small(store, &record.key).await? else {
        return Err(StoreError::NotFound { location }.into());
    };
    if info.etag != record.etag || bytes.len() as u64 != record.size {
        return Err(FeedPassError::FileChanged {
            location,
            size: bytes.len() as u64,
            etag: info.etag,
            expected_size: record.size,
            expected_etag: record.etag.clone(),
        });
    }
    Ok(bytes)
}

/// Step 2: the next file not submitted yet, advanced from its recorded step.
pub(crate) async fn submit_next<S: ObjectStore>(
    store: &S,
    api: &bwp_api::Client,
    now: i64,
    counters: &mut Counters,
) -> Result<Submission, FeedPassError> {
    let records = open_records(store).await?;
    let plain: Vec<FeedRecord> = records.iter().map(|v| v.record.clone()).collect();
    let Some(next) = next_to_submit(&plain) else {
        return Ok(Submission::NothingToSubmit);
    };
    let Some(mut current) = records.into_iter().find(|v| v.record.file == next.file) else {
        return Ok(Submission::NothingToSubmit);
    };
    let file = current.record.file.clone();
    let busy = || Submission::Busy { file: file.clone() };
    // Whether a refused link was replaced in this run already.
    let mut relinked = false;
    // Each action moves the record one step; a file needs at most five.
    for _ in 0..8 {
        let action = current.record.next_action(now);
        tracing::info!(file = %file, step = ?current.record.step, ?action, "submitting");
        let next = match action {
            SubmitAction::AskLink => {
                let link = api.create_upload_link(current.record.size).await?;
                let record = current
                    .record
                    .clone()
                    .with_link(&link.upload_url, &link.file_id, now);
                replace_record(store, record, &current.etag).await?
            }
            SubmitAction::Upload => {
                let bytes = read_feed_file(store, &current.record).await?;
                let Some(link) = current.record.link.clone() else {
                    return Err(FeedPassError::Record {
                        location: store.location(&ledger_key(&file)),
                        message: "step link-issued without a link".into(),
                    });
                };
                match api.upload(&link.url, bytes).await {
                    Ok(()) => {
                        let record = current.record.clone().uploaded(now);
                        replace_record(store, record, &current.etag).await?
                    }
                    Err(ApiError::LinkRefused { code, .. }) if !relinked => {
                        // A size mismatch or an expired link: a new link, once.
                        tracing::warn!(file = %file, %code, "the upload link was refused; asking a new one");
                        relinked = true;
                        counters.relinks += 1;
                        let link = api.create_upload_link(current.record.size).await?;
                        let record =
                            current
                                .record
                                .clone()
                                .with_link(&link.upload_url, &link.file_id, now);
                        replace_record(store, record, &current.etag).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            SubmitAction::CreateFeed { again } => {
                if again {
                    tracing::warn!(
                        file = %file,
                        attempts = current.record.create_attempts,
                        "createCatalogFeed was called before and its outcome is unknown; calling it again (the documented window)"
                    );
                    counters.again_after_unknown += 1;
                }
                let Some(link) = current.record.link.clone() else {
                    return Err(FeedPassError::Record {
                        location: store.location(&ledger_key(&file)),
                        message: "step uploaded without a link".into(),
                    });
                };
                // The intent first: only the run that wins it calls the API.
                let intent = current.record.clone().creating();
                current = match replace_record(store, intent, &current.etag).await? {
                    Ok(v) => v,
                    Err(Raced) => return Ok(busy()),
                };
                match api.create_catalog_feed(&link.file_id).await {
                    Ok(feed_id) => {
                        let record = current.record.clone().submitted(&feed_id, now);
                        // The window: a crash here leaves `creating`.
                        match replace_record(store, record, &current.etag).await? {
                            Ok(_) | Err(Raced) => {}
                        }
                        counters.submitted += 1;
                        tracing::info!(file = %file, %feed_id, "catalog feed created");
                        return Ok(Submission::Submitted { file, feed_id });
                    }
                    Err(ApiError::FeedOngoing { message }) => {
                        tracing::info!(file = %file, %message, "another catalog feed is ongoing; the file waits");
                        counters.waits += 1;
                        let record = current.record.clone().waiting();
                        return match replace_record(store, record, &current.etag).await? {
                            Ok(_) => Ok(Submission::Waiting { file }),
                            Err(Raced) => Ok(busy()),
                        };
                    }
                    Err(e @ ApiError::Validation { .. }) => {
                        // The uploaded file was refused (gone after 30 days?):
                        // start over from a new link next run.
                        let record = current.record.clone().restart();
                        replace_record(store, record, &current.etag).await?.ok();
                        return Err(e.into());
                    }
                    Err(e) if !e.may_have_been_done() => {
                        // Refused before anything was done (the rate limit
                        // outlasted the deadline, say): back to `uploaded`.
                        let record = current.record.clone().not_created();
                        replace_record(store, record, &current.etag).await?.ok();
                        return Err(e.into());
                    }
                    // The outcome is unknown: the record stays `creating`.
                    Err(e) => return Err(e.into()),
                }
            }
            SubmitAction::Nothing => return Ok(busy()),
        };
        current = match next {
            Ok(v) => v,
            Err(Raced) => return Ok(busy()),
        };
    }
    Ok(busy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stem_names_the_drop_time_and_changes_with_the_state() {
        let export = ProductsRef {
            key: "products/a.jsonl".into(),
            etag: "\"e1\"".into(),
            dropped_ms: 1_764_504_000_123,
        };
        let stem = feed_stem(&export, Some("\"s1\""));
        assert!(stem.starts_with("bwp-feed-20251130T120000Z-"), "{stem}");
        assert_eq!(stem.len(), "bwp-feed-20251130T120000Z-".len() + 8);
        assert_eq!(
            stem,
            feed_stem(&export, Some("\"s1\"")),
            "a rebuild names the same files"
        );
        assert_ne!(stem, feed_stem(&export, Some("\"s2\"")));
        assert_ne!(stem, feed_stem(&export, None));
    }
}
