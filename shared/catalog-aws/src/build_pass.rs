//! One build: export + state → a catalog in the outbox, then the state committed.
//!
//! The order is what makes every trigger safe to deliver twice:
//!
//! 1. Load the state and its ETag.
//! 2. Claim the next catalog version in the ledger (create-once). The claim
//!    pins the export and the time this version is built with, so a
//!    redelivered trigger rebuilds exactly the same catalog under exactly the
//!    same name, and a build of another export waits its turn (the message
//!    goes back to the queue) instead of sending the same versions twice.
//! 3. Stream export → diff → EMBER XML → zstd → multipart upload, in parts of
//!    at most `max_items_per_file` items, each created once.
//! 4. Make the catalog visible to the gate: one part is copied to its final
//!    name with its counts and content hash as metadata; several parts get a
//!    `<name>.batch.json` descriptor, created last.
//! 5. Commit the new state with compare-and-swap, record the submission in
//!    the ledger. A lost race reloads and diffs again (finding nothing left
//!    to send).
//!
//! A crash anywhere before 5 leaves the state as it was: the redelivery
//! finds its own claim, rebuilds the same catalog (the create-once writes
//! find it already there) and commits.

use std::io::{self, Write};

use crate::metrics::{EmfLine, Unit};
use crate::state_store::{
    Claim, ClaimResult, ExportRef, StateStore, StateStoreError, submission_key,
};
use crate::store::{Metadata, ObjectStore, ObjectWriter, Precondition, StoreError};
use catalog_core::diff::{DiffCounts, Outcome, Policy, Request, submission_kind};
use catalog_core::model::KindCounts;
use catalog_core::naming::{catalog_file_name, stem};
use catalog_core::pipeline::{BuildError, Built, Parts, build_in_parts};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use catalog_core::writer::WriteSummary;
use catalog_core::{Finding, KindTag, SubmissionType};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use tokio_util::io::SyncIoBridge;
use xxhash_rust::xxh3::Xxh3;

/// What a build needs to know, from the function's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `staging` or `prod`: the outbox folder.
    pub env: String,
    /// The catalog id for a state that does not exist yet.
    pub catalog_id: String,
    /// Multipart upload part size in bytes.
    pub part_size: usize,
    /// A catalog with more items is split into parts.
    pub max_items_per_file: u64,
    /// Cadence and shrink guard.
    pub policy: Policy,
    /// A claim older than this (seconds) is taken to be abandoned.
    pub claim_timeout: i64,
    /// zstd level.
    pub level: i32,
}

/// Why a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A new export was dropped in `source/`.
    Export {
        /// The export object.
        export: ExportRef,
        /// When it was dropped (the notification's time), Unix seconds.
        time: i64,
    },
    /// The schedule fired.
    Schedule {
        /// Force a full submission (the monthly schedule).
        full: bool,
        /// The schedule's time, Unix seconds.
        time: i64,
    },
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Ended {
    /// A catalog is in the outbox and the state is committed.
    Sent {
        /// `CATALOG_FULL` or `CATALOG_UPDATE`.
        manifest_type: &'static str,
        /// What the gate acts on: the catalog, or the batch descriptor.
        key: String,
        /// The catalog files, in part order.
        parts: Vec<String>,
    },
    /// Nothing changed and no keep-alive is due.
    NothingToDo,
    /// The shrink guard refused a full catalog.
    Refused {
        /// The guard's message, with the counts.
        reason: String,
    },
    /// A schedule fired before any export was dropped.
    NoExport,
    /// The notification is for an export that has since been replaced; the
    /// replacement's own notification builds.
    Superseded,
}

/// What a build did, for the log, the metric and the summary object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How it ended.
    #[serde(flatten)]
    pub ended: Ended,
    /// The export diffed.
    pub export: Option<ExportRef>,
    /// The catalog version built.
    pub catalog_version: Option<u64>,
    /// Items written per kind.
    pub items: PerKind,
    /// Deletes written per kind.
    pub deletes: PerKind,
    /// The diff's counts.
    pub new: PerKind,
    /// The diff's counts.
    pub changed: PerKind,
    /// The diff's counts.
    pub removed: PerKind,
    /// Export rows read and refused.
    pub rows: u64,
    /// Export rows refused.
    pub rows_rejected: u64,
    /// Uncompressed XML bytes.
    pub xml_bytes: u64,
    /// Compressed bytes.
    pub compressed_bytes: u64,
    /// Findings about the export and the diff (capped).
    pub findings: Vec<Finding>,
}

/// Counts per kind, as JSON.
pub type PerKind = KindCounts;

impl Report {
    fn ended(ended: Ended, export: Option<ExportRef>) -> Report {
        Report {
            ended,
            export,
            catalog_version: None,
            items: PerKind::default(),
            deletes: PerKind::default(),
            new: PerKind::default(),
            changed: PerKind::default(),
            removed: PerKind::default(),
            rows: 0,
            rows_rejected: 0,
            xml_bytes: 0,
            compressed_bytes: 0,
            findings: Vec::new(),
        }
    }
}

/// Why a build failed. Every variant is worth a retry except `Export`.
#[derive(Debug, Error)]
pub enum RunError {
    /// The store failed (throttling, network): retry.
    #[error(transparent)]
    State(#[from] StateStoreError),
    /// The store failed (throttling, network): retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another export is being built for the next catalog version: retry later.
    #[error(
        "catalog version {version} is being built from {other} (claimed {age} s ago); this export waits its turn"
    )]
    Busy {
        /// The version claimed.
        version: u64,
        /// The other export's key.
        other: String,
        /// How long ago it was claimed.
        age: i64,
    },
    /// The state kept changing under us.
    #[error("the catalog state changed under {attempts} attempts in a row; giving up for now")]
    Contended {
        /// How many times the commit lost.
        attempts: u32,
    },
    /// The export or the catalog could not be read or written.
    #[error("building the catalog failed: {0}")]
    Build(#[from] BuildError),
    /// A blocking task panicked or was cancelled.
    #[error("a blocking task failed: {0}")]
    Join(String),
}

const MAX_ATTEMPTS: u32 = 5;

/// Runs one build for `trigger`.
pub async fn run<S: ObjectStore + Clone>(
    store: &S,
    settings: &Settings,
    trigger: Trigger,
) -> Result<Report, RunError> {
    let states = StateStore::new(store.clone());
    let (export, time, force_full) = match trigger {
        Trigger::Export { export, time } => {
            match store.head(&export.key).await? {
                Some(info) if same_etag(&info.etag, &export.etag) => {}
                Some(_) | None => return Ok(Report::ended(Ended::Superseded, Some(export))),
            }
            states.set_latest_export(&export).await?;
            (export, time, false)
        }
        Trigger::Schedule { full, time } => match states.latest_export().await? {
            Some(export) => (export, time, full),
            None => return Ok(Report::ended(Ended::NoExport, None)),
        },
    };
    for attempt in 1..=MAX_ATTEMPTS {
        match attempt_build(store, &states, settings, &export, time, force_full).await? {
            Some(report) => return Ok(report),
            None => tracing::info!(attempt, "the state changed while building; diffing again"),
        }
    }
    Err(RunError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// One attempt; `None` when the state commit lost a race.
async fn attempt_build<S: ObjectStore + Clone>(
    store: &S,
    states: &StateStore<S>,
    settings: &Settings,
    export: &ExportRef,
    time: i64,
    force_full: bool,
) -> Result<Option<Report>, RunError> {
    let loaded = states.load(&settings.catalog_id).await?;
    let version = loaded.state.catalog_version + 1;
    // The gate refused a catalog this state counts as sent: only a full one
    // puts Amazon back in line.
    let needs_full = states.needs_full().await?;
    if let Some(why) = &needs_full {
        tracing::warn!(refused = %why.catalog, reason = %why.reason, "the gate refused a catalog; this build sends a full one");
    }
    let force_full = force_full || needs_full.is_some();
    let wall = OffsetDateTime::now_utc().unix_timestamp();
    let ours = Claim {
        version,
        export: export.clone(),
        now: time,
        claimed_at: wall,
    };
    let claim = match states.claim(&ours).await? {
        ClaimResult::Made(claim) => claim,
        ClaimResult::Exists(existing, _) if existing.export == *export => existing,
        ClaimResult::Exists(existing, etag)
            if wall - existing.claimed_at > settings.claim_timeout =>
        {
            tracing::warn!(
                version,
                abandoned = %existing.export.key,
                "taking over an abandoned claim; if its catalog was published, some versions may be sent again"
            );
            states.take_over(&ours, &etag).await?;
            ours
        }
        ClaimResult::Exists(existing, _) => {
            return Err(RunError::Busy {
                version,
                other: existing.export.key,
                age: wall - existing.claimed_at,
            });
        }
    };

    let now = OffsetDateTime::from_unix_timestamp(claim.now)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let request = Request {
        now: claim.now,
        force_full,
        allow_shrink: false,
    };
    let kind_hint = submission_kind(&loaded.state, settings.policy, &request);
    let name = catalog_file_name(now, kind_hint, None);
    let catalogs = crate::outbox_catalog_key(&settings.env, "");
    let mut metadata = Metadata::new();
    metadata.insert("catalog-type".into(), kind_hint.manifest_type().into());
    metadata.insert("catalog-version".into(), version.to_string());
    metadata.insert(
        "export-etag".into(),
        export.etag.trim_matches('"').to_owned(),
    );

    let (_, body) = store.get(&export.key).await?;
    let bridge = SyncIoBridge::new(body);
    let format = SourceFormat::from_path(std::path::Path::new(&export.key));
    let state = loaded.state;
    let mut parts = OutboxParts {
        store: store.clone(),
        prefix: format!("{catalogs}{}", stem(&name)),
        metadata: metadata.clone(),
        part_size: settings.part_size,
        level: settings.level,
        done: Vec::new(),
    };
    let policy = settings.policy;
    let max_items = settings.max_items_per_file;
    let (built, mut parts) = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
        let loader = SourceLoader::new(bridge, format, LoadOptions::default())?;
        let built = build_in_parts(
            loader,
            state,
            policy,
            request,
            max_items,
            &mut parts,
            &mut |n, bytes| {
                tracing::debug!(items = n, bytes, "building");
            },
        )?;
        Ok((built, parts))
    })
    .await
    .map_err(|e| RunError::Join(e.to_string()))??;

    let totals = built.written();
    let Built {
        sink,
        parts: written_parts,
        load,
        plan,
    } = built;
    let mut report = Report::ended(Ended::NothingToDo, Some(export.clone()));
    report.catalog_version = Some(version);
    report.rows = load.rows;
    report.rows_rejected = load.rejected;
    report.new = plan.counts.new.into();
    report.changed = plan.counts.changed.into();
    report.removed = plan.counts.removed.into();
    report.findings = load
        .findings
        .iter()
        .chain(&plan.findings)
        .take(1000)
        .cloned()
        .collect();
    debug_assert_eq!(plan.kind, kind_hint);

    match &plan.outcome {
        Outcome::Send => {}
        Outcome::NothingToDo | Outcome::Refused(_) => {
            tokio::task::spawn_blocking(move || abandon(sink))
                .await
                .map_err(|e| RunError::Join(e.to_string()))?;
            for part in &parts.done {
                store.delete(&part.key).await?;
            }
            states.release(version).await?;
            report.ended = match &plan.outcome {
                Outcome::Refused(reason) => Ended::Refused {
                    reason: reason.clone(),
                },
                _ => Ended::NothingToDo,
            };
            return Ok(Some(report));
        }
    }

    let last = written_parts.len() as u32;
    let last_written = written_parts.last().cloned().unwrap_or_default();
    let parts = tokio::task::spawn_blocking(move || {
        parts
            .finish_part(last, sink, &last_written)
            .map(|()| parts.done)
    })
    .await
    .map_err(|e| RunError::Join(e.to_string()))?
    .map_err(|source| BuildError::Part { part: last, source })?;

    report.items = totals.items.into();
    report.deletes = totals.deletes.into();
    report.xml_bytes = totals.xml_bytes;
    report.compressed_bytes = parts.iter().map(|p| p.compressed).sum();

    let (key, files) = publish_to_outbox(store, &catalogs, &name, &metadata, &parts).await?;
    let Some(new_state) = plan.new_state else {
        return Ok(Some(report));
    };
    match states.commit(new_state, loaded.etag.as_deref()).await {
        Ok(_) => {}
        Err(StateStoreError::Store(StoreError::PreconditionFailed { .. })) => return Ok(None),
        Err(other) => return Err(other.into()),
    }
    if needs_full.is_some() && plan.kind == SubmissionType::Full {
        states.clear_needs_full().await?;
    }
    report.ended = Ended::Sent {
        manifest_type: plan.kind.manifest_type(),
        key,
        parts: files,
    };
    states
        .record(
            &submission_key(&name),
            &Submission::new(&report, plan.kind, &plan.counts),
        )
        .await?;
    Ok(Some(report))
}

/// Makes the catalog visible to the gate: one part becomes `<name>`, several
/// get `<stem>.batch.json`, created last. Returns (the key the gate acts on,
/// the catalog files in order).
async fn publish_to_outbox<S: ObjectStore>(
    store: &S,
    catalogs: &str,
    name: &str,
    metadata: &Metadata,
    parts: &[PartInfo],
) -> Result<(String, Vec<String>), RunError> {
    if let [only] = parts {
        let key = format!("{catalogs}{name}");
        let mut metadata = metadata.clone();
        only.describe(&mut metadata);
        if store.head(&key).await?.is_none() {
            store
                .copy(&only.key, &key, Precondition::None, Some(&metadata))
                .await?;
        }
        store.delete(&only.key).await?;
        return Ok((key.clone(), vec![key]));
    }
    let key = format!("{catalogs}{}.batch.json", stem(name));
    let descriptor = BatchDescriptor {
        catalog: name.to_owned(),
        catalog_type: metadata.get("catalog-type").cloned().unwrap_or_default(),
        parts: parts.iter().map(BatchPart::from).collect(),
    };
    let body = serde_json::to_vec_pretty(&descriptor).unwrap_or_default();
    match store
        .put(&key, body, Precondition::IfNoneMatch, metadata)
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    Ok((key, parts.iter().map(|p| p.key.clone()).collect()))
}

/// `<stem>.batch.json`: the parts of one logical catalog, in order.
#[derive(Debug, Serialize)]
struct BatchDescriptor {
    catalog: String,
    catalog_type: String,
    parts: Vec<BatchPart>,
}

#[derive(Debug, Serialize)]
struct BatchPart {
    key: String,
    size: u64,
    items: u64,
    deletes: u64,
    xml_bytes: u64,
    content_hash: String,
}

impl From<&PartInfo> for BatchPart {
    fn from(part: &PartInfo) -> BatchPart {
        BatchPart {
            key: part.key.clone(),
            size: part.compressed,
            items: part.written.total_items(),
            deletes: part.written.total_deletes(),
            xml_bytes: part.written.xml_bytes,
            content_hash: part.hash.clone(),
        }
    }
}

/// The ledger's record of one submission.
#[derive(Debug, Serialize)]
struct Submission<'a> {
    manifest_type: &'static str,
    report: &'a Report,
    held: u64,
    at: i64,
}

impl<'a> Submission<'a> {
    fn new(report: &'a Report, kind: SubmissionType, counts: &DiffCounts) -> Submission<'a> {
        Submission {
            manifest_type: kind.manifest_type(),
            report,
            held: counts.held,
            at: OffsetDateTime::now_utc().unix_timestamp(),
        }
    }
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// A finished part.
#[derive(Debug, Clone)]
struct PartInfo {
    key: String,
    compressed: u64,
    hash: String,
    written: WriteSummary,
}

impl PartInfo {
    fn describe(&self, metadata: &mut Metadata) {
        let w = &self.written;
        for kind in KindTag::ALL {
            metadata.insert(
                format!("items-{}", kind.source_name()),
                w.items_of(kind).to_string(),
            );
        }
        metadata.insert("deletes".into(), w.total_deletes().to_string());
        metadata.insert("xml-bytes".into(), w.xml_bytes.to_string());
        metadata.insert("content-hash".into(), self.hash.clone());
    }
}

/// The sink of one part: XML → (hash) → zstd → (count) → upload.
type PartSink = Hashing<zstd::Encoder<'static, Counting<Box<dyn ObjectWriter>>>>;

/// Parts of a catalog, uploaded to the outbox as they fill.
struct OutboxParts<S> {
    store: S,
    prefix: String,
    metadata: Metadata,
    part_size: usize,
    level: i32,
    /// The parts closed so far, in order.
    done: Vec<PartInfo>,
}

impl<S: ObjectStore + Clone> OutboxParts<S> {
    fn key(&self, part: u32) -> String {
        format!("{}-part{part:04}.xml.zst", self.prefix)
    }

    /// Finishes a part: zstd frame, then the upload. A part that is already
    /// there (an earlier attempt of the same claim wrote the same bytes) is kept.
    fn finish_part(&mut self, part: u32, sink: PartSink, written: &WriteSummary) -> io::Result<()> {
        let key = self.key(part);
        let (encoder, hash) = sink.into_parts();
        let counting = encoder.finish()?;
        let compressed = counting.count;
        match counting.inner.finish() {
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
            Err(other) => return Err(io::Error::other(other)),
        }
        self.done.push(PartInfo {
            key,
            compressed,
            hash,
            written: written.clone(),
        });
        Ok(())
    }
}

/// Aborts the last part's upload (the plan sends nothing).
fn abandon(sink: PartSink) {
    let (encoder, _) = sink.into_parts();
    if let Ok(counting) = encoder.finish() {
        counting.inner.abort();
    }
}

impl<S: ObjectStore + Clone> Parts for OutboxParts<S> {
    type Sink = PartSink;

    fn open(&mut self, part: u32) -> io::Result<PartSink> {
        let key = self.key(part);
        let writer = self
            .store
            .writer(&key, &self.metadata, self.part_size, true)
            .map_err(io::Error::other)?;
        let encoder = zstd::Encoder::new(
            Counting {
                inner: writer,
                count: 0,
            },
            self.level,
        )?;
        Ok(Hashing::new(encoder))
    }

    fn close(&mut self, part: u32, sink: PartSink, written: &WriteSummary) -> io::Result<()> {
        self.finish_part(part, sink, written)
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes the bytes written through it (xxh3-128 of the XML).
struct Hashing<W> {
    inner: W,
    hasher: Xxh3,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Xxh3::new(),
        }
    }

    fn into_parts(self) -> (W, String) {
        (self.inner, format!("{:032x}", self.hasher.digest128()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Settings {
    /// The build settings of a function configuration.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            env: config.env.as_str().to_owned(),
            catalog_id: config.catalog_id.clone(),
            part_size: usize::try_from(config.part_size_bytes()).unwrap_or(8 << 20),
            max_items_per_file: config.max_items_per_file,
            policy: config.diff_policy(),
            // Longer than the function's 15-minute timeout times the
            // queue's 5 receives: only a claim nobody is working on is older.
            claim_timeout: 2 * 60 * 60,
            level: 3,
        }
    }
}

/// Runs a build, logs its outcome and emits its metric line.
pub async fn build_and_report<S: ObjectStore + Clone>(
    store: &S,
    settings: &Settings,
    trigger: Trigger,
) -> Result<Report, RunError> {
    let started = std::time::Instant::now();
    let result = run(store, settings, trigger).await;
    let millis = started.elapsed().as_millis() as f64;
    match &result {
        Ok(report) => {
            tracing::info!(
                outcome = %serde_json::to_string(&report.ended).unwrap_or_default(),
                items = report.items.total(),
                deletes = report.deletes.total(),
                rows_rejected = report.rows_rejected,
                "build finished"
            );
            metric_line(settings, report, millis).emit();
        }
        Err(error) => tracing::error!(error = %error, "build failed"),
    }
    result
}

/// The run's EMF metric line: items sent by kind, bytes, duration.
pub fn metric_line(settings: &Settings, report: &Report, millis: f64) -> EmfLine {
    let outcome = match &report.ended {
        Ended::Sent { .. } => "sent",
        Ended::NothingToDo => "nothing-to-do",
        Ended::Refused { .. } => "refused",
        Ended::NoExport => "no-export",
        Ended::Superseded => "superseded",
    };
    EmfLine::new(
        "CatalogRelay",
        [
            ("Function", "catalog-builder"),
            ("Env", settings.env.as_str()),
        ],
    )
    .metric("MoviesSent", Unit::Count, report.items.movie)
    .metric("SeriesSent", Unit::Count, report.items.series)
    .metric("SeasonsSent", Unit::Count, report.items.season)
    .metric("EpisodesSent", Unit::Count, report.items.episode)
    .metric("DeletesSent", Unit::Count, report.deletes.total())
    .metric("RowsRejected", Unit::Count, report.rows_rejected)
    .metric("XmlBytes", Unit::Bytes, report.xml_bytes)
    .metric("CatalogBytes", Unit::Bytes, report.compressed_bytes)
    .metric("DurationMs", Unit::Milliseconds, millis)
    .property("Outcome", outcome)
}
