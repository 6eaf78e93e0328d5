//! The report parser's passes: Amazon's ingestion reports archived, parsed
//! once, summarised, correlated with the ledger; and the cadence check.
//!
//! - [`poll`] (every 15 minutes): lists `<provider>/<env>/reports/` in
//!   Amazon's bucket (through the assumed role), takes every report whose
//!   LastModified is after the stored watermark minus an overlap (report
//!   names need not sort by time), and copies each byte for byte to the work
//!   bucket's `reports/<env>/`, create-once, so the overlap never archives
//!   twice. The copy streams a GET made with the destination store into an
//!   upload made with the work store: a server-side copy would need one
//!   principal allowed on both buckets. The watermark
//!   (`state/watermarks/reports-<env>.json`) moves by compare-and-swap.
//! - [`parse_archived`] (an S3 notification for `reports/<env>/…`, also for
//!   a report dropped there by hand): parses the report once. Its summary
//!   `summaries/<env>/<name>.json` is written last, create-once, and marks it
//!   done; a redelivery finds it and only makes sure the alert went out.
//!   Before it: rejected items to `state/rejections/<env>/<name>.jsonl`
//!   (merged into the catalog state by the builder at its next claim), the
//!   outcome in the ledger (`state/ledger/reports/<catalog>/<name>.json`),
//!   EMF metrics. One alert when a report rejects anything or cannot be
//!   read, deduplicated by `state/report-alerts/<env>/<name>.json`.
//! - [`check_cadence`] (daily): the time since the last published update and
//!   full per env, and published submissions still without a report;
//!   metrics every run, an alert when something is past its threshold.
//!
//! Every function takes the time as an argument: the clock is injected.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use catalog_core::ledger::Published;
use catalog_core::report::cadence::{self, CadencePolicy, EnvCadence, Submitted};
use catalog_core::report::rejections::Rejection;
use catalog_core::report::summary::{self, Answers, ReportSummary, SummaryBuilder};
use catalog_core::report::{ItemStatus, ParseOptions, ReportError, parse_report};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio_util::io::SyncIoBridge;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::state_store::{StateStore, StateStoreError};
use crate::store::{Metadata, ObjectStore, Precondition, StoreError};

/// Where archived reports live in the work bucket: `reports/<env>/`.
pub const REPORTS_PREFIX: &str = "reports/";
/// Where summaries live: `summaries/<env>/<name>.json`.
pub const SUMMARIES_PREFIX: &str = "summaries/";
/// Where rejected items are recorded for the builder.
pub const REJECTIONS_PREFIX: &str = "state/rejections/";
/// The published ledger (written by the gate).
pub const PUBLISHED_PREFIX: &str = "state/ledger/published/";
/// The outcomes of published submissions, one object per report.
pub const OUTCOMES_PREFIX: &str = "state/ledger/reports/";
/// Markers of alerts sent, one per report.
pub const ALERTED_PREFIX: &str = "state/report-alerts/";

/// The envs reports are read for.
pub const ENVS: [&str; 2] = ["staging", "prod"];

/// The watermark key of an env's poll.
pub fn watermark_key(env: &str) -> String {
    format!("state/watermarks/reports-{env}.json")
}

/// The summary key of an archived report.
pub fn summary_key(env: &str, name: &str) -> String {
    format!("{SUMMARIES_PREFIX}{env}/{name}.json")
}

/// The rejections key of an archived report.
pub fn rejections_key(env: &str, name: &str) -> String {
    format!("{REJECTIONS_PREFIX}{env}/{name}.jsonl")
}

fn alerted_key(env: &str, name: &str) -> String {
    format!("{ALERTED_PREFIX}{env}/{name}.json")
}

fn outcome_key(catalog: &str, env: &str, name: &str) -> String {
    format!("{OUTCOMES_PREFIX}{catalog}/{env}/{name}.json")
}

/// What the passes need to know.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// The provider's prefix in Amazon's bucket.
    pub provider: String,
    /// The env polled (`staging` or `prod`).
    pub env: String,
    /// How far before the watermark a poll looks again (seconds).
    pub overlap_secs: i64,
    /// Items kept per error code in a summary.
    pub first_n: usize,
    /// Parsing bounds.
    pub parse: ParseOptions,
    /// Cadence thresholds.
    pub cadence: CadencePolicy,
    /// Upload part size (bytes) for archives and rejection files.
    pub part_size: usize,
}

impl ReportSettings {
    /// Defaults for `provider` and `env`.
    pub fn new(provider: &str, env: &str) -> ReportSettings {
        ReportSettings {
            provider: provider.to_owned(),
            env: env.to_owned(),
            overlap_secs: 3600,
            first_n: 20,
            parse: ParseOptions::default(),
            cadence: CadencePolicy::default(),
            part_size: 8 << 20,
        }
    }

    /// The settings from the environment: the report parser's own
    /// variables, parse then validate, every problem listed.
    ///
    /// | variable | default | rule |
    /// |---|---|---|
    /// | `REPORT_OVERLAP_MINUTES` | `60` | 0..=10080 |
    /// | `REPORT_FIRST_N` | `20` | 1..=1000 |
    /// | `CADENCE_UPDATE_DAYS` | `6` | 1..=7 (Amazon's limit) |
    /// | `CADENCE_FULL_DAYS` | `28` | 1..=30 (Amazon's limit) |
    /// | `REPORT_MISSING_HOURS` | `24` | 1..=720 |
    pub fn from_env_vars<I, K, V>(
        provider: &str,
        env: &str,
        part_size: usize,
        vars: I,
    ) -> Result<ReportSettings, Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().trim().to_owned()))
            .collect();
        let mut problems = Vec::new();
        let mut number = |name: &str, default: u64, min: u64, max: u64| -> u64 {
            let Some((_, value)) = vars.iter().rev().find(|(k, v)| k == name && !v.is_empty())
            else {
                return default;
            };
            match value.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "{name}={value:?}: expected a whole number from {min} to {max}"
                    ));
                    default
                }
            }
        };
        let overlap = number("REPORT_OVERLAP_MINUTES", 60, 0, 10_080);
        let first_n = number("REPORT_FIRST_N", 20, 1, 1000);
        let update_days = number("CADENCE_UPDATE_DAYS", 6, 1, 7);
        let full_days = number("CADENCE_FULL_DAYS", 28, 1, 30);
        let missing = number("REPORT_MISSING_HOURS", 24, 1, 720);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut settings = ReportSettings::new(provider, env);
        settings.overlap_secs = i64::try_from(overlap * 60).unwrap_or(i64::MAX);
        settings.first_n = usize::try_from(first_n).unwrap_or(20);
        settings.cadence = CadencePolicy {
            update_days: u32::try_from(update_days).unwrap_or(6),
            full_days: u32::try_from(full_days).unwrap_or(28),
            report_within_hours: u32::try_from(missing).unwrap_or(24),
        };
        settings.part_size = part_size;
        Ok(settings)
    }

    /// `<provider>/<env>/reports/` in Amazon's bucket.
    pub fn destination_prefix(&self) -> String {
        format!("{}/{}/reports/", self.provider, self.env)
    }
}

/// Why a pass failed. Every variant is worth a retry.
#[derive(Debug, Error)]
pub enum ReportPassError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateStoreError),
    /// Reading the report's stream failed.
    #[error("{key}: {source}")]
    Read {
        /// The archived report.
        key: String,
        /// What failed.
        #[source]
        source: ReportError,
    },
    /// An alert could not be sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// A blocking task failed.
    #[error("a blocking task failed: {0}")]
    Join(String),
}

/// The poll's watermark: the newest LastModified archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Unix seconds.
    pub last_modified: i64,
}

/// What a poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollReport {
    /// Reports listed.
    pub listed: usize,
    /// Reports copied to the archive now.
    pub archived: Vec<String>,
    /// Reports in the window that were archived already.
    pub already: usize,
    /// The watermark after the poll.
    pub watermark: Option<i64>,
}

/// Polls Amazon's `reports/` and archives what is new. `destination` is
/// Amazon's bucket (through the assumed role), `work` ours.
pub async fn poll<S: ObjectStore + Clone>(
    destination: &S,
    work: &S,
    settings: &ReportSettings,
) -> Result<PollReport, ReportPassError> {
    let states = StateStore::new(work.clone());
    let key = watermark_key(&settings.env);
    let mark = states.read_record::<Watermark>(&key).await?;
    let since = mark.map(|m| m.last_modified - settings.overlap_secs);
    let prefix = settings.destination_prefix();
    let listed = destination.list(&prefix).await?;
    let mut report = PollReport {
        listed: listed.len(),
        ..PollReport::default()
    };
    let mut newest = mark.map(|m| m.last_modified);
    for object in listed {
        if object.key.ends_with('/') {
            continue;
        }
        if let (Some(since), Some(modified)) = (since, object.last_modified)
            && modified <= since
        {
            continue;
        }
        let relative = &object.key[prefix.len()..];
        let archive = format!("{REPORTS_PREFIX}{}/{relative}", settings.env);
        if archive_copy(destination, work, &object.key, &archive, settings).await? {
            report.archived.push(archive);
        } else {
            report.already += 1;
        }
        if let Some(modified) = object.last_modified {
            newest = Some(newest.map_or(modified, |n| n.max(modified)));
        }
    }
    if let Some(newest) = newest {
        advance_watermark(work, &key, newest).await?;
    }
    report.watermark = newest;
    Ok(report)
}

/// Copies one report byte for byte, create-once; `false` when the archive
/// already held it.
async fn archive_copy<S: ObjectStore + Clone>(
    destination: &S,
    work: &S,
    from: &str,
    to: &str,
    settings: &ReportSettings,
) -> Result<bool, ReportPassError> {
    if work.head(to).await?.is_some() {
        return Ok(false);
    }
    let (info, body) = destination.get(from).await?;
    let mut metadata = Metadata::new();
    metadata.insert("source-etag".into(), ascii(&info.etag));
    if let Some(modified) = info.last_modified {
        metadata.insert("source-last-modified".into(), modified.to_string());
    }
    let work = work.clone();
    let (to_key, part_size) = (to.to_owned(), settings.part_size);
    let copied = tokio::task::spawn_blocking(move || -> Result<bool, StoreError> {
        let mut writer = work.writer(&to_key, &metadata, part_size, true)?;
        let mut bridge = SyncIoBridge::new(body);
        if let Err(source) = std::io::copy(&mut bridge, &mut writer) {
            writer.abort();
            return Err(StoreError::Io {
                location: work.location(&to_key),
                source,
            });
        }
        match writer.finish() {
            Ok(_) => Ok(true),
            Err(StoreError::PreconditionFailed { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    })
    .await
    .map_err(|e| ReportPassError::Join(e.to_string()))??;
    if copied {
        tracing::info!(from, to, size = info.size, "report archived");
    }
    Ok(copied)
}

fn ascii(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic()).collect()
}

/// Moves the watermark forward (never back), by compare-and-swap.
async fn advance_watermark<S: ObjectStore + Clone>(
    work: &S,
    key: &str,
    newest: i64,
) -> Result<(), ReportPassError> {
    loop {
        let current = match work.get(key).await {
            Ok((info, body)) => {
                let bytes = read_small(work, key, body).await?;
                let mark: Option<Watermark> = serde_json::from_slice(&bytes).ok();
                Some((info.etag, mark.map_or(i64::MIN, |m| m.last_modified)))
            }
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        };
        let precondition = match current {
            Some((_, at)) if at >= newest => return Ok(()),
            Some((etag, _)) => Precondition::IfMatch(etag),
            None => Precondition::IfNoneMatch,
        };
        let body = to_json(&Watermark {
            last_modified: newest,
        });
        match work.put(key, body, precondition, &Metadata::new()).await {
            Ok(_) => return Ok(()),
            Err(StoreError::PreconditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
}

async fn read_small<S: ObjectStore>(
    store: &S,
    key: &str,
    body: crate::store::Body,
) -> Result<Vec<u8>, ReportPassError> {
    let location = store.location(key);
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        SyncIoBridge::new(body)
            .take(16 << 20)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|source| StoreError::Io { location, source })
    })
    .await
    .map_err(|e| ReportPassError::Join(e.to_string()))?
    .map_err(ReportPassError::from)
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// An archived report's env and name, from its key: `reports/<env>/<name>`.
pub fn archived_report(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(REPORTS_PREFIX)?;
    let (env, name) = rest.split_once('/')?;
    (ENVS.contains(&env) && !name.is_empty() && !name.ends_with('/')).then_some((env, name))
}

/// The outcome of a report, as the ledger records it for its submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOutcome {
    /// The archived report.
    pub report: String,
    /// `read`, `unrecognised`, `too large`.
    pub verdict: String,
    /// Items accepted.
    pub accepted: u64,
    /// Items rejected.
    pub rejected: u64,
    /// Items with warnings.
    pub warnings: u64,
    /// When it was parsed (Unix seconds).
    pub at: i64,
}

/// What parsing one archived report did.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseOutcome {
    /// Parsed now.
    Parsed(Box<ReportSummary>),
    /// Parsed before (its summary exists).
    AlreadyParsed,
    /// Not an archived report key.
    Ignored,
}

/// Parses one archived report once: summary, rejections, ledger outcome,
/// metrics, alert. `now` is the clock.
pub async fn parse_archived<S: ObjectStore + Clone>(
    work: &S,
    alerts: &Alerts,
    key: &str,
    settings: &ReportSettings,
    now: i64,
) -> Result<ParseOutcome, ReportPassError> {
    let Some((env, name)) = archived_report(key) else {
        return Ok(ParseOutcome::Ignored);
    };
    let states = StateStore::new(work.clone());
    let summary_at = summary_key(env, name);
    if let Some(existing) = states.read_record::<ReportSummary>(&summary_at).await? {
        ensure_alert(work, alerts, &existing).await?;
        return Ok(ParseOutcome::AlreadyParsed);
    }
    let published = published_ledger(&states, Some(env)).await?;
    let mut summary = parse_to_summary(work, key, env, name, settings, now, &published).await?;
    if let Some(answers) = &summary.answers {
        let outcome = ReportOutcome {
            report: key.to_owned(),
            verdict: summary.verdict().to_owned(),
            accepted: summary.counts.accepted,
            rejected: summary.counts.rejected,
            warnings: summary.counts.warning,
            at: now,
        };
        let catalog = summary::catalog_of_ledger_key(&answers.catalog);
        states
            .record(&outcome_key(catalog, env, name), &outcome)
            .await?;
    }
    emit_metrics(&summary);
    summary.rejections_recorded = summary.counts.rejected;
    match work
        .put(
            &summary_at,
            to_json(&summary),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    ensure_alert(work, alerts, &summary).await?;
    tracing::info!(
        report = key,
        verdict = summary.verdict(),
        accepted = summary.counts.accepted,
        rejected = summary.counts.rejected,
        "report parsed"
    );
    Ok(ParseOutcome::Parsed(Box::new(summary)))
}

/// Streams the report through the parser on a blocking thread, writing its
/// rejected items to `state/rejections/` as it goes.
async fn parse_to_summary<S: ObjectStore + Clone>(
    work: &S,
    key: &str,
    env: &str,
    name: &str,
    settings: &ReportSettings,
    now: i64,
    published: &[Published],
) -> Result<ReportSummary, ReportPassError> {
    let (_, body) = work.get(key).await?;
    let store = work.clone();
    let rejections_at = rejections_key(env, name);
    let (options, first_n, part_size) = (settings.parse, settings.first_n, settings.part_size);
    let (parsed, builder) = tokio::task::spawn_blocking(move || {
        let mut writer = store.writer(&rejections_at, &Metadata::new(), part_size, true)?;
        let mut builder = SummaryBuilder::new(first_n);
        let mut write_error = None;
        let mut line = Vec::with_capacity(256);
        let parsed = parse_report(SyncIoBridge::new(body), &options, &mut |item| {
            builder.add(item);
            if item.status != ItemStatus::Rejected || write_error.is_some() {
                return;
            }
            line.clear();
            let rejection = Rejection {
                id: item.item_id.clone(),
                version: item.version,
                code: item.error_code.clone(),
                message: item.message.clone(),
                reported_at: now,
            };
            if serde_json::to_writer(&mut line, &rejection).is_ok() {
                line.push(b'\n');
                if let Err(e) = writer.write_all(&line) {
                    write_error = Some(e);
                }
            }
        });
        let parsed = match (parsed, write_error) {
            (Err(source), _) => {
                writer.abort();
                return Ok(Err(source));
            }
            (Ok(_), Some(source)) => {
                writer.abort();
                return Err(StoreError::Io {
                    location: store.location(&rejections_at),
                    source,
                });
            }
            (Ok(parsed), None) => parsed,
        };
        if builder.counts().rejected == 0 {
            writer.abort();
        } else {
            match writer.finish() {
                Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(Ok((parsed, builder)))
    })
    .await
    .map_err(|e| ReportPassError::Join(e.to_string()))??
    .map_err(|source| ReportPassError::Read {
        key: key.to_owned(),
        source,
    })?;
    let answers =
        summary::correlate(parsed.header.submission.as_deref(), key, published).map(Answers::from);
    Ok(builder.finish(key, env, parsed, answers))
}

/// Sends the report's alert if it needs one and none was sent yet.
async fn ensure_alert<S: ObjectStore + Clone>(
    work: &S,
    alerts: &Alerts,
    summary: &ReportSummary,
) -> Result<(), ReportPassError> {
    if !summary.needs_alert() {
        return Ok(());
    }
    let Some((env, name)) = archived_report(&summary.report) else {
        return Ok(());
    };
    let marker = alerted_key(env, name);
    if work.head(&marker).await?.is_some() {
        return Ok(());
    }
    let kind = if summary.verdict() == "read" {
        "report-rejected-items"
    } else {
        "report-unreadable"
    };
    alerts.send(kind, &AlertDetail::of(summary)).await?;
    match work
        .put(
            &marker,
            b"{}".to_vec(),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// What an alert about a report says.
#[derive(Debug, Serialize)]
struct AlertDetail<'a> {
    report: &'a str,
    verdict: &'a str,
    answers: Option<&'a str>,
    accepted: u64,
    rejected: u64,
    warnings: u64,
    top_codes: Vec<(&'a str, u64)>,
    summary: String,
}

impl<'a> AlertDetail<'a> {
    fn of(summary: &'a ReportSummary) -> AlertDetail<'a> {
        let (env, name) = archived_report(&summary.report).unwrap_or(("", ""));
        AlertDetail {
            report: &summary.report,
            verdict: summary.verdict(),
            answers: summary.answers.as_ref().map(|a| a.catalog.as_str()),
            accepted: summary.counts.accepted,
            rejected: summary.counts.rejected,
            warnings: summary.counts.warning,
            top_codes: summary
                .by_code
                .iter()
                .take(5)
                .map(|c| (c.code.as_str(), c.count))
                .collect(),
            summary: summary_key(env, name),
        }
    }
}

fn emit_metrics(summary: &ReportSummary) {
    EmfLine::new(
        "CatalogRelay",
        [("Function", "report-parser"), ("Env", summary.env.as_str())],
    )
    .metric("ItemsAccepted", Unit::Count, summary.counts.accepted)
    .metric("ItemsRejected", Unit::Count, summary.counts.rejected)
    .metric("ItemsWithWarnings", Unit::Count, summary.counts.warning)
    .metric(
        "ReportsUnreadable",
        Unit::Count,
        u64::from(summary.verdict() != "read"),
    )
    .property("report", summary.report.as_str())
    .emit();
}

/// Every published ledger record (of `env`, when given).
pub async fn published_ledger<S: ObjectStore + Clone>(
    states: &StateStore<S>,
    env: Option<&str>,
) -> Result<Vec<Published>, ReportPassError> {
    let mut out = Vec::new();
    for object in states.store().list(PUBLISHED_PREFIX).await? {
        match states.read_record::<Published>(&object.key).await {
            Ok(Some(record)) if env.is_none_or(|env| record.env == env) => out.push(record),
            Ok(_) => {}
            Err(StateStoreError::Record { location, message }) => {
                tracing::warn!(%location, %message, "a published record this code cannot read; skipped");
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(out)
}

/// The catalogs with at least one report outcome recorded.
pub async fn reported_catalogs<S: ObjectStore>(
    work: &S,
) -> Result<BTreeSet<String>, ReportPassError> {
    Ok(work
        .list(OUTCOMES_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| {
            o.key
                .strip_prefix(OUTCOMES_PREFIX)
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        })
        .collect())
}

/// The daily cadence check: metrics per env, an alert per env in trouble.
pub async fn check_cadence<S: ObjectStore + Clone>(
    work: &S,
    alerts: &Alerts,
    policy: &CadencePolicy,
    now: i64,
) -> Result<Vec<EnvCadence>, ReportPassError> {
    let states = StateStore::new(work.clone());
    let published = published_ledger(&states, None).await?;
    let reported = reported_catalogs(work).await?;
    let submitted: Vec<Submitted> = published
        .iter()
        .filter_map(|p| {
            let catalog = summary::catalog_of_ledger_key(&p.catalog);
            Submitted::from_published(p, reported.contains(catalog))
        })
        .collect();
    let envs = cadence::check_cadence(now, &submitted, policy);
    for env in &envs {
        EmfLine::new(
            "CatalogRelay",
            [("Function", "report-parser"), ("Env", env.env.as_str())],
        )
        .metric(
            "DaysSinceUpdate",
            Unit::None,
            env.days_since_update.unwrap_or(f64::from(u32::MAX)),
        )
        .metric(
            "DaysSinceFull",
            Unit::None,
            env.days_since_full.unwrap_or(f64::from(u32::MAX)),
        )
        .metric("MissingReports", Unit::Count, env.missing_reports.len())
        .metric("CadenceUnhealthy", Unit::Count, u64::from(!env.healthy()))
        .emit();
        if !env.healthy() {
            alerts
                .send(
                    "cadence",
                    &serde_json::json!({ "env": env.env, "problems": env.problems(policy), "cadence": env }),
                )
                .await?;
        }
    }
    Ok(envs)
}

/// The builder's step at its claim: marks the items every recorded report
/// rejected (`state/rejections/<env>/`) in `state`, so the plan resends them
/// once their content changes. Idempotent; see
/// [`catalog_core::report::rejections`].
pub async fn merge_rejections<S: ObjectStore + Clone>(
    work: &S,
    env: &str,
    state: &mut catalog_core::state::CatalogState,
) -> Result<catalog_core::report::rejections::Marked, StateStoreError> {
    use catalog_core::report::rejections::{Marked, mark_rejected, read_rejections};
    let mut total = Marked::default();
    for object in work.list(&format!("{REJECTIONS_PREFIX}{env}/")).await? {
        let (_, body) = work.get(&object.key).await?;
        let location = work.location(&object.key);
        let (rejections, bad) = tokio::task::spawn_blocking(move || {
            read_rejections(std::io::BufReader::new(SyncIoBridge::new(body)))
                .map_err(|source| StoreError::Io { location, source })
        })
        .await
        .map_err(|e| StateStoreError::Join(e.to_string()))??;
        if bad > 0 {
            tracing::warn!(key = %object.key, bad, "rejection lines this code cannot read; skipped");
        }
        let done = mark_rejected(state, rejections).map_err(|source| StateStoreError::State {
            location: work.location(&object.key),
            source,
        })?;
        total.marked += done.marked;
        total.already += done.already;
        total.stale += done.stale;
    }
    if total.marked > 0 {
        tracing::warn!(
            marked = total.marked,
            "items Amazon rejected are marked in the state; they are resent once their content changes"
        );
    }
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_every_bad_variable_is_listed() {
        let none: [(&str, &str); 0] = [];
        let settings = ReportSettings::from_env_vars("acme", "staging", 8 << 20, none).unwrap();
        assert_eq!(settings.cadence, CadencePolicy::default());
        assert_eq!(settings.overlap_secs, 3600);
        assert_eq!(settings.destination_prefix(), "acme/staging/reports/");

        let set = [
            ("CADENCE_UPDATE_DAYS", "5"),
            ("CADENCE_FULL_DAYS", " 25 "),
            ("REPORT_OVERLAP_MINUTES", ""),
        ];
        let settings = ReportSettings::from_env_vars("acme", "prod", 8 << 20, set).unwrap();
        assert_eq!(
            (settings.cadence.update_days, settings.cadence.full_days),
            (5, 25)
        );
        assert_eq!(settings.overlap_secs, 3600, "blank is unset");

        let bad = [
            ("CADENCE_UPDATE_DAYS", "8"),
            ("REPORT_MISSING_HOURS", "soon"),
        ];
        let problems = ReportSettings::from_env_vars("acme", "prod", 8 << 20, bad).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("CADENCE_UPDATE_DAYS=\"8\""));
    }

    #[test]
    fn archived_report_keys_name_their_env() {
        assert_eq!(
            archived_report("reports/staging/a/b.html"),
            Some(("staging", "a/b.html"))
        );
        assert_eq!(archived_report("reports/qa/x.csv"), None);
        assert_eq!(archived_report("reports/prod/"), None);
        assert_eq!(archived_report("source/x"), None);
        assert_eq!(summary_key("prod", "x.csv"), "summaries/prod/x.csv.json");
    }
}
