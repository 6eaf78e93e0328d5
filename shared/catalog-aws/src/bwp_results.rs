//! The results pass (the report parser's schedule `{"task":"bwp-results"}`):
//! every submitted feed in the ledger polled, and each outcome dealt with
//! once. Keys and the ledger I/O are [`crate::bwp_pass`]'s.
//!
//! For each record not marked finished, by file name:
//!
//! 1. `submitted`: `catalogFeed(id)`. CREATED / IN_PROGRESS: the status is
//!    recorded when it changed, nothing else. COMPLETED: the result file id
//!    is recorded (`completed`). FAILED: the signals are recorded (`failed`).
//! 2. `completed`: unless archived, `downloadLink(fileId)` and the GET at
//!    once (the link lasts 5 seconds; a refused link is asked again, up to
//!    [`FeedSettings::download_attempts`]), archived byte for byte under
//!    `bwp/results/<file>.result.csv` (create-once). Unless summarised, the
//!    archive is parsed once with `catalog_core::bwp::ResultReader`: the
//!    listing state takes every row (imported → listed, failed → failed with
//!    its codes), the feed id and the mark "applied", by compare-and-swap,
//!    then the summary `bwp/results/<file>.summary.json` is written
//!    (create-once, last: the mark that the result was parsed). An alert
//!    when rows failed.
//! 3. `failed`: the listing state marks the file's pending products failed
//!    with the signals' codes (they go again at the next build: nothing of
//!    the feed reached Amazon), then one alert with every signal's code and
//!    message, impact and reaction summaries.
//! 4. The record goes to `done`, then `state/bwp/finished/<file>` is made.
//!
//! Every step checks what a crashed run left before acting: the archive,
//! the state's "applied" mark, the summary, the alert marker. So a rerun
//! fetches, parses and summarises each result once.

use bwp_api::{ApiError, FeedStatus};
use catalog_core::bwp::submission::{ResultCounts, signal_codes};
use catalog_core::bwp::{FeedRecord, FeedSignal, ResultReader, ResultSummary, Step};
use serde::Serialize;
use tokio_util::io::SyncIoBridge;

use crate::alerts::Alerts;
use crate::bwp_pass::{
    Counters, FeedPassError, FeedSettings, Raced, Versioned, alerted_key, load_listing,
    mark_finished, open_records, read_small, replace_record, result_key, result_summary_key,
    save_listing,
};
use crate::store::{Metadata, ObjectStore, Precondition, StoreError};

/// What happened to one feed in a results pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum FeedOutcome {
    /// Still processing at Amazon.
    Pending {
        /// The file.
        file: String,
        /// The API's status.
        status: String,
    },
    /// Completed: the result was archived, parsed and applied.
    Completed {
        /// The file.
        file: String,
        /// Its counts.
        rows: u64,
        /// Rows imported.
        imported: u64,
        /// Rows failed.
        failed: u64,
    },
    /// Failed as a whole: recorded and alerted.
    Failed {
        /// The file.
        file: String,
        /// The signals' codes.
        codes: String,
    },
    /// Another run moved the record first.
    Busy {
        /// The file.
        file: String,
    },
}

/// What one results pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResultsReport {
    /// Each feed looked at.
    pub feeds: Vec<FeedOutcome>,
}

/// The results pass: every submitted feed polled, each outcome dealt with
/// once. A feed that fails does not stop the others; the pass then fails
/// naming each.
pub async fn results_pass<S: ObjectStore + Clone>(
    store: &S,
    api: &bwp_api::Client,
    alerts: &Alerts,
    settings: &FeedSettings,
    now: i64,
) -> Result<ResultsReport, FeedPassError> {
    let mut counters = Counters::default();
    let mut report = ResultsReport::default();
    let mut problems = Vec::new();
    let records = match open_records(store).await {
        Ok(records) => records,
        Err(e) => {
            counters.emit("report-parser", &settings.env);
            return Err(e);
        }
    };
    for versioned in records {
        let step = versioned.record.step;
        if step.before_submission() {
            continue;
        }
        let file = versioned.record.file.clone();
        if step == Step::Done {
            // Done, but the finished marker was not made.
            if let Err(e) = mark_finished(store, &file).await {
                problems.push(format!("{file}: {e}"));
            }
            continue;
        }
        match finish_one(store, api, alerts, settings, versioned, now, &mut counters).await {
            Ok(outcome) => report.feeds.push(outcome),
            Err(e) => {
                tracing::error!(file = %file, error = %e, "could not finish the feed; next run");
                problems.push(format!("{file}: {e}"));
            }
        }
    }
    counters.emit("report-parser", &settings.env);
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(FeedPassError::Several(problems))
    }
}

fn signals_of(feed: &bwp_api::CatalogFeed) -> Vec<FeedSignal> {
    feed.signals
        .iter()
        .map(|s| FeedSignal {
            code: s.code.clone(),
            message: s.message.clone(),
            impact_summary: s.impact_summary.clone(),
            reaction_summary: s.reaction_summary.clone(),
        })
        .collect()
}

async fn finish_one<S: ObjectStore + Clone>(
    store: &S,
    api: &bwp_api::Client,
    alerts: &Alerts,
    settings: &FeedSettings,
    mut current: Versioned,
    now: i64,
    counters: &mut Counters,
) -> Result<FeedOutcome, FeedPassError> {
    let file = current.record.file.clone();
    if current.record.step == Step::Submitted {
        let Some(feed_id) = current.record.feed_id.clone() else {
            return Err(FeedPassError::Result {
                file,
                message: "step submitted without a feed id".into(),
            });
        };
        let Some(feed) = api.catalog_feed(&feed_id).await? else {
            return Err(FeedPassError::FeedUnknown { file, feed_id });
        };
        let mut record = current.record.clone();
        record.polls += 1;
        let changed = record.status.as_deref() != Some(feed.status.as_str());
        record.status = Some(feed.status.as_str().to_owned());
        match feed.status {
            FeedStatus::Completed => {
                let Some(result_file) = feed.result_file_id.clone() else {
                    return Err(FeedPassError::Result {
                        file,
                        message: format!(
                            "catalog feed {feed_id} is COMPLETED without a result file id; polled again next run"
                        ),
                    });
                };
                record.result_file_id = Some(result_file);
                record.step = Step::Completed;
            }
            FeedStatus::Failed => {
                record.signals = signals_of(&feed);
                record.step = Step::Failed;
            }
            _ => {
                if changed {
                    replace_record(store, record, &current.etag).await?.ok();
                }
                return Ok(FeedOutcome::Pending {
                    file,
                    status: feed.status.as_str().to_owned(),
                });
            }
        }
        current = match replace_record(store, record, &current.etag).await? {
            Ok(v) => v,
            Err(Raced) => return Ok(FeedOutcome::Busy { file }),
        };
    }
    let outcome = match current.record.step {
        Step::Completed => {
            let counts =
                finish_completed(store, api, alerts, settings, &current.record, counters).await?;
            counters.completed += 1;
            counters.rows_imported += counts.imported;
            counters.rows_failed += counts.failed;
            current.record.result = Some(counts);
            FeedOutcome::Completed {
                file: file.clone(),
                rows: counts.rows,
                imported: counts.imported,
                failed: counts.failed,
            }
        }
        Step::Failed => {
            finish_failed(store, alerts, &current.record).await?;
            counters.failed += 1;
            FeedOutcome::Failed {
                file: file.clone(),
                codes: signal_codes(&current.record.signals),
            }
        }
        _ => return Ok(FeedOutcome::Busy { file }),
    };
    let mut record = current.record.clone();
    record.step = Step::Done;
    record.done_at = Some(now);
    if replace_record(store, record, &current.etag).await?.is_ok() {
        mark_finished(store, &file).await?;
    }
    Ok(outcome)
}

/// `downloadLink` and the GET at once; a refused (expired) link is asked again.
async fn fetch_result(
    api: &bwp_api::Client,
    file: &str,
    result_file: &str,
    attempts: u32,
    counters: &mut Counters,
) -> Result<Vec<u8>, FeedPassError> {
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        let url = api.download_link(result_file).await?;
        match api.download(&url).await {
            Ok(bytes) => return Ok(bytes),
            Err(ApiError::LinkRefused { code, message, .. }) => {
                tracing::warn!(file, attempt, %code, "the download link was refused (expired?); asking a new one");
                counters.download_relinks += 1;
                last = format!("{code}: {message}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(FeedPassError::Result {
        file: file.to_owned(),
        message: format!(
            "the result file {result_file} could not be downloaded with {attempts} fresh links; last refusal {last}"
        ),
    })
}

async fn put_once<S: ObjectStore>(
    store: &S,
    key: &str,
    body: Vec<u8>,
) -> Result<bool, FeedPassError> {
    match store
        .put(key, body, Precondition::IfNoneMatch, &Metadata::new())
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The summary written for a completed feed.
#[derive(Debug, Serialize, serde::Deserialize)]
struct StoredSummary<T> {
    file: String,
    feed_id: Option<String>,
    result_file_id: Option<String>,
    archive: String,
    summary: T,
    unreadable_rows: u64,
}

async fn finish_completed<S: ObjectStore + Clone>(
    store: &S,
    api: &bwp_api::Client,
    alerts: &Alerts,
    settings: &FeedSettings,
    record: &FeedRecord,
    counters: &mut Counters,
) -> Result<ResultCounts, FeedPassError> {
    let file = record.file.as_str();
    let archive = result_key(file);
    if store.head(&archive).await?.is_none() {
        let Some(result_file) = record.result_file_id.as_deref() else {
            return Err(FeedPassError::Result {
                file: file.to_owned(),
                message: "step completed without a result file id".into(),
            });
        };
        let bytes =
            fetch_result(api, file, result_file, settings.download_attempts, counters).await?;
        put_once(store, &archive, bytes).await?;
    }
    let summary_key = result_summary_key(file);
    let counts = match read_small(store, &summary_key).await? {
        Some((_, bytes)) => {
            let stored: StoredSummary<ResultCounts> =
                serde_json::from_slice(&bytes).map_err(|e| FeedPassError::Record {
                    location: store.location(&summary_key),
                    message: e.to_string(),
                })?;
            stored.summary
        }
        None => {
            let (summary, unreadable) = apply_result(store, settings, record, &archive).await?;
            let stored = StoredSummary {
                file: file.to_owned(),
                feed_id: record.feed_id.clone(),
                result_file_id: record.result_file_id.clone(),
                archive: archive.clone(),
                summary: &summary,
                unreadable_rows: unreadable,
            };
            let mut body = serde_json::to_vec_pretty(&stored).unwrap_or_default();
            body.push(b'\n');
            put_once(store, &summary_key, body).await?;
            ResultCounts {
                rows: summary.rows,
                imported: summary.imported,
                failed: summary.failed,
            }
        }
    };
    if counts.failed > 0 {
        #[derive(Serialize)]
        struct RowsFailed<'a> {
            file: &'a str,
            feed_id: Option<&'a str>,
            rows: u64,
            imported: u64,
            failed: u64,
            summary: &'a str,
        }
        alert_once(
            store,
            alerts,
            file,
            "bwp-rows-failed",
            &RowsFailed {
                file,
                feed_id: record.feed_id.as_deref(),
                rows: counts.rows,
                imported: counts.imported,
                failed: counts.failed,
                summary: &summary_key,
            },
        )
        .await?;
    }
    Ok(counts)
}

/// Parses the archive once into a summary and, unless the listing state
/// has it already, applies every row (compare-and-swap, retried).
async fn apply_result<S: ObjectStore + Clone>(
    store: &S,
    settings: &FeedSettings,
    record: &FeedRecord,
    archive: &str,
) -> Result<(ResultSummary, u64), FeedPassError> {
    const ATTEMPTS: u32 = 4;
    for attempt in 1..=ATTEMPTS {
        let (mut state, etag) = load_listing(store).await?;
        let applied = state.feed_meta(&record.file).applied;
        let (_, body) = store.get(archive).await?;
        let (examples, feed) = (settings.examples_per_code, record.file.clone());
        let location = store.location(archive);
        let (state_after, summary, unreadable) = tokio::task::spawn_blocking(move || {
            let mut reader = ResultReader::new(SyncIoBridge::new(body), 100)?;
            let mut summary = ResultSummary::new(examples);
            while let Some((line, row)) = reader.next_row()? {
                summary.add(line, &row);
                if !applied {
                    state.apply_result(&row, Some(&feed));
                }
            }
            let findings = reader.finish();
            Ok::<_, catalog_core::bwp::BwpError>((state, summary, findings.error_count()))
        })
        .await
        .map_err(|e| FeedPassError::Join(e.to_string()))?
        .map_err(|source| FeedPassError::Feed { location, source })?;
        if applied {
            return Ok((summary, unreadable));
        }
        let mut state = state_after;
        if let Some(id) = &record.feed_id {
            state.set_feed_id(&record.file, id);
        }
        state.mark_applied(&record.file);
        match save_listing(store, state, etag.as_deref()).await? {
            Ok(_) => return Ok((summary, unreadable)),
            Err(Raced) => {
                tracing::info!(attempt, file = %record.file, "the listing state changed; applying again");
            }
        }
    }
    Err(FeedPassError::Contended { attempts: ATTEMPTS })
}

/// A failed feed: its products marked failed (to go again), then one alert
/// with every signal.
async fn finish_failed<S: ObjectStore>(
    store: &S,
    alerts: &Alerts,
    record: &FeedRecord,
) -> Result<(), FeedPassError> {
    const ATTEMPTS: u32 = 4;
    let codes = signal_codes(&record.signals);
    let mut done = false;
    for attempt in 1..=ATTEMPTS {
        let (mut state, etag) = load_listing(store).await?;
        if state.feed_meta(&record.file).applied {
            done = true;
            break;
        }
        let marked = state.feed_failed(&record.file, &codes);
        if let Some(id) = &record.feed_id {
            state.set_feed_id(&record.file, id);
        }
        state.mark_applied(&record.file);
        match save_listing(store, state, etag.as_deref()).await? {
            Ok(_) => {
                tracing::warn!(file = %record.file, marked, %codes, "catalog feed failed");
                done = true;
                break;
            }
            Err(Raced) => tracing::info!(attempt, "the listing state changed; again"),
        }
    }
    if !done {
        return Err(FeedPassError::Contended { attempts: ATTEMPTS });
    }
    #[derive(Serialize)]
    struct FeedFailed<'a> {
        file: &'a str,
        feed_id: Option<&'a str>,
        products: u64,
        signals: &'a [FeedSignal],
        what_next: &'static str,
    }
    alert_once(
        store,
        alerts,
        &record.file,
        "bwp-feed-failed",
        &FeedFailed {
            file: &record.file,
            feed_id: record.feed_id.as_deref(),
            products: record.products,
            signals: &record.signals,
            what_next: "no product of the file was imported; fix what the signals say, then drop the product export again: its products go again",
        },
    )
    .await
}

/// Sends an alert unless its marker says it went; then makes the marker.
async fn alert_once<S: ObjectStore, T: Serialize>(
    store: &S,
    alerts: &Alerts,
    file: &str,
    kind: &str,
    detail: &T,
) -> Result<(), FeedPassError> {
    let marker = alerted_key(file);
    if store.head(&marker).await?.is_some() {
        return Ok(());
    }
    alerts.send(kind, detail).await?;
    put_once(
        store,
        &marker,
        format!("{{\"alert\":\"{kind}\"}}\n").into_bytes(),
    )
    .await?;
    Ok(())
}
