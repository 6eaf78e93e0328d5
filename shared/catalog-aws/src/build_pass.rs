//! One build: export + state → a catalog in the outbox, then the state committed.
//!
//! The order is what makes every trigger safe to deliver twice, late, or
//! out of order:
//!
//! 1. [`order_export`]: an export older than the newest one built (by the
//!    notification's time, see [`ExportRef::order`]) is superseded:
//!    acknowledged, logged, nothing sent. The latest-export pointer only
//!    moves forward.
//! 2. [`handover_committed`]: a catalog whose state was committed but which
//!    a crash kept from the gate is handed over first.
//! 3. [`Standing::read`]: the gate's requests for a full catalog and the
//!    operator's one-shot override of the shrink guards.
//! 4. [`claim_version`]: claim the next catalog version (create-once),
//!    pinning the export, the time, the type and the override, so a
//!    redelivered trigger rebuilds exactly the same catalog and a build of
//!    another export, or of the other type, waits its turn. A claim nobody
//!    finished is taken over: its catalog never reached the gate (step 7
//!    comes after the commit), so nothing of it can be at Amazon.
//! 5. [`build_parts`]: stream export → diff → EMBER XML → zstd → multipart
//!    upload, in parts of at most `max_items_per_file` items, invisible to
//!    the gate. A failure releases the claim at once.
//! 6. Nothing to send, a guard's refusal, or an export whose every row was
//!    refused: the parts are deleted, the claim released, the refusal
//!    recorded. Otherwise [`commit`]: the submission record (with how to
//!    hand the catalog over), then the state by compare-and-swap, only while
//!    the claim is still ours.
//! 7. [`handover_catalog`]: one part is copied to its final name with its counts and
//!    content hash as metadata, or several get a `<name>.batch.json`
//!    descriptor. The gate sees the catalog only now, with the state it is
//!    checked against already committed. Then the requests it answered are
//!    cleared.

use std::io::{self, Write};

use catalog_core::SubmissionType;
use catalog_core::diff::{Outcome, Policy, Request, submission_kind};
use catalog_core::ledger::{Handover, RecordedFinding, Submission};
use catalog_core::naming::{catalog_file_name, stem};
use catalog_core::outbox::{BatchDescriptor, BatchPart, CatalogMeta, OutboxKey, part_name};
use catalog_core::pipeline::{BuildError, Built, Parts, build_in_parts_with};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use catalog_core::writer::WriteSummary;
use thiserror::Error;
use time::OffsetDateTime;
use tokio_util::io::SyncIoBridge;
use xxhash_rust::xxh3::Xxh3;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::state_store::{
    Advance, Claim, ClaimKind, ClaimResult, FullRequest, StateStore, StateStoreError,
    submission_key,
};
use crate::store::{Metadata, ObjectStore, ObjectWriter, Precondition, StoreError};

pub use catalog_core::ledger::{BuildReport as Report, Ended, ExportRef};

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
    /// Inferred EMBER elements not sent, and the offer catalog's id.
    pub ember: catalog_core::ember::EmberOptions,
}

/// Why a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A new export was dropped in `source/`.
    Export {
        /// The export object, with the notification's time.
        export: ExportRef,
        /// The build's time (Unix seconds): names the catalog, dates the state.
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

/// Why a build failed. Every variant is worth a retry.
#[derive(Debug, Error)]
pub enum RunError {
    /// The store failed (throttling, network): retry.
    #[error(transparent)]
    State(#[from] StateStoreError),
    /// The store failed (throttling, network): retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another build holds the next catalog version: retry later.
    #[error(
        "catalog version {version} is being built ({kind} from {other}, claimed {age} s ago); this build waits its turn"
    )]
    Busy {
        /// The version claimed.
        version: u64,
        /// The other build's export.
        other: String,
        /// The other build's type.
        kind: &'static str,
        /// How long ago it was claimed.
        age: i64,
    },
    /// The claim was taken over while this build ran (it was taken to be
    /// abandoned): this build stops without committing.
    #[error(
        "the claim of catalog version {version} was taken over by another build; this one stops"
    )]
    TakenOver {
        /// The version.
        version: u64,
    },
    /// The state kept changing under us.
    #[error("the catalog state changed under {attempts} attempts in a row; giving up for now")]
    Contended {
        /// How many times the commit lost.
        attempts: u32,
    },
    /// The export or the catalog could not be read or written; the claim
    /// was released.
    #[error("building the catalog failed: {0}")]
    Build(#[from] BuildError),
    /// An alert could not be sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// A blocking task panicked or was cancelled.
    #[error("a blocking task failed: {0}")]
    Join(String),
    /// The planner broke its own contract (a bug, not the input's fault).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl RunError {
    /// Whether this is a build waiting its turn (ordinary contention), not
    /// a failure anyone should look at.
    pub fn is_wait(&self) -> bool {
        matches!(self, RunError::Busy { .. } | RunError::Contended { .. })
    }
}

const MAX_ATTEMPTS: u32 = 5;
/// Findings kept in a report (all are counted).
const MAX_REPORT_FINDINGS: usize = 1000;

/// Runs one build for `trigger`.
pub async fn run<S: ObjectStore + Clone>(
    store: &S,
    settings: &Settings,
    trigger: Trigger,
) -> Result<Report, RunError> {
    let states = StateStore::new(store.clone());
    let (export, time, force_full) = match trigger {
        Trigger::Export { export, time } => match order_export(store, &states, export).await? {
            Ok(export) => (export, time, false),
            Err(superseded) => return Ok(superseded),
        },
        Trigger::Schedule { full, time } => match states.latest_export().await? {
            Some(export) => (export, time, full),
            None => return Ok(Report::ended(Ended::NoExport, None)),
        },
    };
    let build = Build {
        store,
        states: &states,
        settings,
        export: &export,
        time,
        force_full,
    };
    for attempt in 1..=MAX_ATTEMPTS {
        match build.attempt().await? {
            Some(report) => return Ok(report),
            None => tracing::info!(attempt, "the state changed while building; diffing again"),
        }
    }
    Err(RunError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// Step 1: the export, if it is still the object notified and no newer
/// export was built; else the report that says it is superseded.
async fn order_export<S: ObjectStore + Clone>(
    store: &S,
    states: &StateStore<S>,
    mut export: ExportRef,
) -> Result<Result<ExportRef, Report>, RunError> {
    match store.head(&export.key).await? {
        Some(info) if export.etag == *info.etag.as_str() => {
            if export.dropped_ms == 0 {
                export.dropped_ms = info.last_modified.unwrap_or(0).saturating_mul(1000);
            }
        }
        Some(_) | None => {
            let reason = format!(
                "{} was replaced or removed after this notification; the newer object's own notification builds it",
                export.key
            );
            return Ok(Err(superseded(export, reason)));
        }
    }
    match states.advance_latest(&export).await? {
        Advance::Latest => Ok(Ok(export)),
        Advance::Older(newer) => {
            let reason = format!(
                "{} (dropped at {} ms) is newer than {} (dropped at {} ms) and was built already; an older export is never built over it",
                newer.key, newer.dropped_ms, export.key, export.dropped_ms
            );
            Ok(Err(superseded(export, reason)))
        }
    }
}

fn superseded(export: ExportRef, reason: String) -> Report {
    tracing::info!(export = %export.key, %reason, "superseded: nothing sent");
    Report::ended(Ended::Superseded { reason }, Some(export))
}

/// The requests standing when a build starts (step 3).
#[derive(Debug, Default)]
struct Standing {
    /// The gate's requests for a full catalog.
    full: Vec<FullRequest>,
    /// The operator's override of the shrink guards, by its ETag.
    allow_shrink: Option<String>,
}

impl Standing {
    async fn read<S: ObjectStore + Clone>(states: &StateStore<S>) -> Result<Standing, RunError> {
        let full = states.full_requests().await?;
        for request in &full {
            tracing::warn!(refused = %request.why.catalog, reason = %request.why.reason, "the gate refused a catalog; this build sends a full one");
        }
        let allow_shrink = states.allow_shrink_override().await?;
        if allow_shrink.is_some() {
            tracing::warn!(
                "state/overrides/allow-shrink.json is there: this build may pass the shrink and removal guards once"
            );
        }
        Ok(Standing { full, allow_shrink })
    }
}

/// One build's inputs, for its attempts.
struct Build<'a, S> {
    store: &'a S,
    states: &'a StateStore<S>,
    settings: &'a Settings,
    export: &'a ExportRef,
    time: i64,
    force_full: bool,
}

/// What a build made: the plan and its parts, before anything is committed.
struct Made<S> {
    built: Built<PartSink>,
    parts: OutboxParts<S>,
}

/// What a claimed build goes on to do.
enum Next {
    /// Send: the catalog's last part is to be finished, then committed.
    Send,
    /// Give the version back: nothing to send, a guard refused it, or
    /// every row of the export was refused.
    GiveBack(Ended),
}

impl<S: ObjectStore + Clone> Build<'_, S> {
    /// One attempt, the steps of the module doc in order; `None` when the
    /// state commit lost a race.
    async fn attempt(&self) -> Result<Option<Report>, RunError> {
        let (store, states, settings) = (self.store, self.states, self.settings);
        let loaded = states.load(&settings.catalog_id).await?;
        let (mut state, state_etag) = (loaded.state, loaded.etag);
        // Items Amazon's reports rejected enter the state before the claim
        // (#18), so a failure here holds no version.
        crate::report_pass::merge_rejections(store, &settings.env, &mut state).await?;
        handover_committed(store, states, state.catalog_version).await?;
        let standing = Standing::read(states).await?;
        let (claim, claim_etag) = self.claim(&state, &standing).await?;
        if let Some(report) = self.superseded_since_claimed(&claim).await? {
            return Ok(Some(report));
        }
        let kind = SubmissionType::from(claim.kind);
        let mut meta = CatalogMeta::built(kind, claim.version, &claim.export.etag);
        meta.allow_shrink = claim.allow_shrink;
        let made = match build_parts(store, settings, &claim, state, &meta).await {
            Ok(made) => made,
            Err(error) => {
                tracing::error!(%error, version = claim.version, "the build failed; its claim is released at once");
                states.release(claim.version).await?;
                return Err(error);
            }
        };
        let (mut report, next) = report_of(&claim, &made.built);
        match next {
            Next::GiveBack(ended) => {
                report.ended = ended;
                self.give_back(&claim, made, &mut report).await?;
                Ok(Some(report))
            }
            Next::Send => {
                let (handover, new_state) =
                    finish_parts(settings, &claim, &meta, made, &mut report).await?;
                let record = Submission {
                    report: report.clone(),
                    handover: Some(handover.clone()),
                    at: OffsetDateTime::now_utc().unix_timestamp(),
                };
                if !commit(
                    states,
                    &claim,
                    &claim_etag,
                    &record,
                    new_state,
                    state_etag.as_deref(),
                )
                .await?
                {
                    return Ok(None);
                }
                handover_catalog(store, &handover).await?;
                self.consume(&claim, &standing).await?;
                Ok(Some(report))
            }
        }
    }

    /// Step 4 for this build's inputs: the type the policy and the standing
    /// requests give, claimed with the export, the time and the override.
    async fn claim(
        &self,
        state: &catalog_core::state::CatalogState,
        standing: &Standing,
    ) -> Result<(Claim, String), RunError> {
        let request = Request {
            now: self.time,
            force_full: self.force_full || !standing.full.is_empty(),
            allow_shrink: standing.allow_shrink.is_some(),
        };
        let kind = submission_kind(state, self.settings.policy, &request);
        let at = OffsetDateTime::from_unix_timestamp(self.time)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let wall = OffsetDateTime::now_utc().unix_timestamp();
        let ours = Claim {
            version: state.catalog_version + 1,
            export: self.export.clone(),
            now: self.time,
            kind: kind.into(),
            name: catalog_file_name(at, kind, None),
            allow_shrink: request.allow_shrink,
            claimed_at: wall,
        };
        claim_version(self.store, self.states, self.settings, ours, wall).await
    }

    /// Step 6 when nothing is sent: the parts deleted, the claim released,
    /// a refusal recorded for the operator.
    async fn give_back(
        &self,
        claim: &Claim,
        made: Made<S>,
        report: &mut Report,
    ) -> Result<(), RunError> {
        let Made { built, parts } = made;
        tokio::task::spawn_blocking(move || abandon(built.sink))
            .await
            .map_err(|e| RunError::Join(e.to_string()))?;
        delete_parts(self.store, parts.done.iter().map(|p| &p.key)).await?;
        self.states.release(claim.version).await?;
        if !matches!(report.ended, Ended::NothingToDo) {
            report.catalog = Some(claim.name.clone());
            let record = Submission {
                report: report.clone(),
                handover: None,
                at: OffsetDateTime::now_utc().unix_timestamp(),
            };
            self.states
                .record(&refusal_key(&claim.name, claim.version), &record)
                .await?;
        }
        Ok(())
    }

    /// After the handover: the requests the catalog answered are cleared (a
    /// full answers every request seen when it was claimed), the override
    /// it used is consumed.
    async fn consume(&self, claim: &Claim, standing: &Standing) -> Result<(), RunError> {
        if claim.kind == ClaimKind::Full {
            self.states.clear_full_requests(&standing.full).await?;
        }
        if let (true, Some(etag)) = (claim.allow_shrink, &standing.allow_shrink) {
            self.states.consume_allow_shrink(etag).await?;
        }
        Ok(())
    }

    /// A newer export was dropped after this build claimed its version (or
    /// the schedule read the pointer): this build gives the version back,
    /// and the newer export's own trigger builds it.
    async fn superseded_since_claimed(&self, claim: &Claim) -> Result<Option<Report>, RunError> {
        let Some(latest) = self.states.latest_export().await? else {
            return Ok(None);
        };
        if latest.same_object(&claim.export) || latest.order(&claim.export).is_lt() {
            return Ok(None);
        }
        self.states.release(claim.version).await?;
        let reason = format!(
            "{} was dropped while this build held catalog version {}; it builds instead",
            latest.key, claim.version
        );
        Ok(Some(superseded(claim.export.clone(), reason)))
    }
}

/// The report of a built plan, and whether it is sent.
fn report_of(claim: &Claim, built: &Built<PartSink>) -> (Report, Next) {
    let (load, plan) = (&built.load, &built.plan);
    let mut report = Report::ended(Ended::NothingToDo, Some(claim.export.clone()));
    report.catalog_version = Some(claim.version);
    report.rows = load.rows;
    report.rows_rejected = load.rejected;
    report.new = plan.counts.new.into();
    report.changed = plan.counts.changed.into();
    report.removed = plan.counts.removed.into();
    report.held = plan.counts.held;
    report.allow_shrink = claim.allow_shrink;
    report.findings = load
        .findings
        .iter()
        .chain(&plan.findings)
        .take(MAX_REPORT_FINDINGS)
        .map(RecordedFinding::from)
        .collect();
    let next = if load.rows > 0 && load.rejected == load.rows {
        Next::GiveBack(Ended::ExportRejected {
            reason: export_rejected_reason(&report, load.rows),
        })
    } else {
        match &plan.outcome {
            Outcome::Send => Next::Send,
            Outcome::NothingToDo => Next::GiveBack(Ended::NothingToDo),
            Outcome::Refused(reason) => Next::GiveBack(Ended::Refused {
                reason: reason.clone(),
            }),
        }
    };
    (report, next)
}

/// Step 6 when the plan sends: the last part finished, the report
/// completed, how the catalog will be handed over, and the state to commit.
async fn finish_parts<S: ObjectStore + Clone>(
    settings: &Settings,
    claim: &Claim,
    meta: &CatalogMeta,
    made: Made<S>,
    report: &mut Report,
) -> Result<(Handover, catalog_core::state::CatalogState), RunError> {
    let Made { built, mut parts } = made;
    let totals = built.written();
    let Built {
        sink,
        parts: written_parts,
        plan,
        ..
    } = built;
    let last = written_parts.len() as u32;
    let last_written = written_parts.last().cloned().unwrap_or_default();
    let parts_done = tokio::task::spawn_blocking(move || {
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
    report.compressed_bytes = parts_done.iter().map(|p| p.compressed).sum();
    report.catalog = Some(claim.name.clone());
    let handover = plan_handover(&settings.env, &claim.name, meta, &parts_done);
    report.ended = Ended::Sent {
        manifest_type: SubmissionType::from(claim.kind).manifest_type().to_owned(),
        key: handover.key().to_owned(),
        parts: match &handover {
            Handover::Copy { key, .. } => vec![key.clone()],
            Handover::Descriptor { descriptor, .. } => {
                descriptor.parts.iter().map(|p| p.key.clone()).collect()
            }
        },
    };
    // A plan that sends always carries its new state.
    let new_state = plan.new_state.ok_or(RunError::Internal(
        "the plan to send carried no state to commit",
    ))?;
    Ok((handover, new_state))
}

/// "every row of the export was refused": with the rules most broken.
fn export_rejected_reason(report: &Report, rows: u64) -> String {
    let mut rules: Vec<(&str, u64)> = Vec::new();
    for finding in &report.findings {
        match rules.iter_mut().find(|(rule, _)| *rule == finding.rule) {
            Some((_, n)) => *n += 1,
            None => rules.push((&finding.rule, 1)),
        }
    }
    rules.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let list: Vec<String> = rules
        .iter()
        .take(5)
        .map(|(rule, n)| format!("{rule} ×{n}"))
        .collect();
    format!(
        "every one of the export's {rows} rows was refused ({}); nothing was built and nothing is deleted: fix the export (or the source format) and drop it again",
        list.join(", ")
    )
}

/// Where the record of a refused or rejected build goes: not under the
/// catalog's own name, which a later build of the same second may reuse.
fn refusal_key(name: &str, version: u64) -> String {
    submission_key(&format!("{}.refused-v{version}", stem(name)))
}

/// Step 4: claims `ours.version`, reuses our own claim (a redelivery), or
/// takes over an abandoned one. Returns the claim held and its ETag.
async fn claim_version<S: ObjectStore + Clone>(
    store: &S,
    states: &StateStore<S>,
    settings: &Settings,
    ours: Claim,
    wall: i64,
) -> Result<(Claim, String), RunError> {
    match states.claim(&ours).await? {
        ClaimResult::Made(claim, etag) => Ok((claim, etag)),
        ClaimResult::Exists(existing, etag)
            if existing.export.same_object(&ours.export) && existing.kind == ours.kind =>
        {
            Ok((existing, etag))
        }
        ClaimResult::Exists(existing, etag)
            if wall - existing.claimed_at > settings.claim_timeout =>
        {
            // The abandoned build never committed, so it never handed its
            // catalog to the gate: nothing of it can be at Amazon, and
            // building this version from our export sends no version twice.
            tracing::warn!(
                version = ours.version,
                abandoned = %existing.export.key,
                "taking over an abandoned claim; its parts are deleted, nothing of it was handed to the gate"
            );
            let etag = states.take_over(&ours, &etag).await?;
            if !existing.name.is_empty() {
                let prefix =
                    OutboxKey::catalog(&settings.env, &format!("{}-part", stem(&existing.name)));
                let leftovers = store.list(&prefix).await?;
                delete_parts(store, leftovers.iter().map(|o| &o.key)).await?;
            }
            Ok((ours, etag))
        }
        ClaimResult::Exists(existing, _) => Err(RunError::Busy {
            version: ours.version,
            other: existing.export.key,
            kind: SubmissionType::from(existing.kind).manifest_type(),
            age: wall - existing.claimed_at,
        }),
    }
}

/// Step 5: the export streamed through the diff into parts in the outbox.
async fn build_parts<S: ObjectStore + Clone>(
    store: &S,
    settings: &Settings,
    claim: &Claim,
    state: catalog_core::state::CatalogState,
    meta: &CatalogMeta,
) -> Result<Made<S>, RunError> {
    // What the claim pinned: a redelivery builds exactly the same catalog.
    let request = Request {
        now: claim.now,
        force_full: claim.kind == ClaimKind::Full,
        allow_shrink: claim.allow_shrink,
    };
    let (_, body) = store.get(&claim.export.key).await?;
    let bridge = SyncIoBridge::new(body);
    let format = SourceFormat::from_path(std::path::Path::new(&claim.export.key));
    let mut parts = OutboxParts {
        store: store.clone(),
        catalog: OutboxKey::catalog(&settings.env, &claim.name),
        metadata: meta.to_map(),
        part_size: settings.part_size,
        level: settings.level,
        done: Vec::new(),
    };
    let (policy, max_items) = (settings.policy, settings.max_items_per_file);
    let ember = settings.ember.clone();
    let result = tokio::task::spawn_blocking(move || {
        let built = SourceLoader::new(bridge, format, LoadOptions::default())
            .map_err(BuildError::from)
            .and_then(|loader| {
                build_in_parts_with(
                    loader,
                    state,
                    policy,
                    request,
                    max_items,
                    &mut parts,
                    &ember,
                    &mut |n, bytes| {
                        tracing::debug!(items = n, bytes, "building");
                    },
                )
            });
        (built, parts)
    })
    .await
    .map_err(|e| RunError::Join(e.to_string()))?;
    match result {
        (Ok(built), parts) => Ok(Made { built, parts }),
        (Err(error), parts) => {
            delete_parts(store, parts.done.iter().map(|p| &p.key)).await?;
            Err(error.into())
        }
    }
}

/// Step 6: the submission record, then the state, while the claim is ours.
/// `false` when the state commit lost a race.
async fn commit<S: ObjectStore + Clone>(
    states: &StateStore<S>,
    claim: &Claim,
    claim_etag: &str,
    record: &Submission,
    new_state: catalog_core::state::CatalogState,
    state_etag: Option<&str>,
) -> Result<bool, RunError> {
    states.record(&submission_key(&claim.name), record).await?;
    match states.claim_of(claim.version).await? {
        Some((_, etag)) if etag == claim_etag => {}
        _ => {
            return Err(RunError::TakenOver {
                version: claim.version,
            });
        }
    }
    match states.commit(new_state, state_etag).await {
        Ok(_) => Ok(true),
        Err(StateStoreError::Store(StoreError::PreconditionFailed { .. })) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// Step 2: if the catalog of the committed `version` was never handed to
/// the gate (a crash between the commit and the handover), hand it over now.
async fn handover_committed<S: ObjectStore + Clone>(
    store: &S,
    states: &StateStore<S>,
    version: u64,
) -> Result<(), RunError> {
    if version == 0 {
        return Ok(());
    }
    let Some((claim, _)) = states.claim_of(version).await? else {
        return Ok(());
    };
    if claim.name.is_empty() {
        return Ok(());
    }
    let Some(record) = states
        .read_record::<Submission>(&submission_key(&claim.name))
        .await?
    else {
        return Ok(());
    };
    let Some(handover) = record.handover else {
        return Ok(());
    };
    // Handed over already when its key is there, or when its parts are
    // gone: a single part is deleted only after its copy, and the gate moves
    // the parts of a catalog it quarantines. A twin delivery of the same
    // claim that lost the commit may have uploaded the single part again
    // after that delete: it goes now.
    let key_there = store.head(handover.key()).await?.is_some();
    match &handover {
        Handover::Copy { part, .. } if key_there => store.delete(part).await?,
        Handover::Copy { part, .. } => {
            if store.head(part).await?.is_some() {
                tracing::warn!(catalog = %claim.name, version, "catalog committed but not handed to the gate (a crash came in between); handing it over now");
                handover_catalog(store, &handover).await?;
            }
        }
        Handover::Descriptor { descriptor, .. } => {
            let first = descriptor.parts.first().map(|p| p.key.as_str());
            if let (false, Some(first)) = (key_there, first)
                && store.head(first).await?.is_some()
            {
                tracing::warn!(catalog = %claim.name, version, "catalog committed but not handed to the gate (a crash came in between); handing it over now");
                handover_catalog(store, &handover).await?;
            }
        }
    }
    Ok(())
}

/// How the finished parts will be handed to the gate.
fn plan_handover(env: &str, name: &str, meta: &CatalogMeta, parts: &[PartInfo]) -> Handover {
    if let [only] = parts {
        let mut meta = meta.clone();
        let w = &only.written;
        meta.items = Some(w.items);
        meta.deletes = Some(w.total_deletes());
        meta.xml_bytes = Some(w.xml_bytes);
        meta.content_hash = Some(only.hash.clone());
        return Handover::Copy {
            part: only.key.clone(),
            key: OutboxKey::catalog(env, name),
            metadata: meta.to_map(),
        };
    }
    let descriptor = BatchDescriptor {
        catalog: Some(name.to_owned()),
        catalog_type: meta.catalog_type.clone(),
        parts: parts
            .iter()
            .map(|part| BatchPart {
                key: part.key.clone(),
                size: Some(part.compressed),
                items: Some(part.written.total_items()),
                deletes: Some(part.written.total_deletes()),
                xml_bytes: Some(part.written.xml_bytes),
                content_hash: Some(part.hash.clone()),
            })
            .collect(),
    };
    Handover::Descriptor {
        key: OutboxKey::catalog(env, &catalog_core::outbox::batch_descriptor_name(name)),
        descriptor,
        metadata: meta.to_map(),
    }
}

/// Step 7: makes the catalog visible to the gate. Every write is
/// create-once, so doing it twice changes nothing.
async fn handover_catalog<S: ObjectStore>(store: &S, handover: &Handover) -> Result<(), RunError> {
    match handover {
        Handover::Copy {
            part,
            key,
            metadata,
        } => {
            if store.head(key).await?.is_none() {
                match store
                    .copy(part, key, Precondition::IfNoneMatch, Some(metadata))
                    .await
                {
                    Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            store.delete(part).await?;
        }
        Handover::Descriptor {
            key,
            descriptor,
            metadata,
        } => {
            match store
                .put(
                    key,
                    descriptor.to_json(),
                    Precondition::IfNoneMatch,
                    metadata,
                )
                .await
            {
                Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
    }
    Ok(())
}

async fn delete_parts<'a, S: ObjectStore>(
    store: &S,
    keys: impl Iterator<Item = &'a String>,
) -> Result<(), RunError> {
    for key in keys {
        store.delete(key).await?;
    }
    Ok(())
}

/// A finished part.
#[derive(Debug, Clone)]
struct PartInfo {
    key: String,
    compressed: u64,
    hash: String,
    written: WriteSummary,
}

/// The sink of one part: XML → (hash) → zstd → (count) → upload.
type PartSink = Hashing<zstd::Encoder<'static, Counting<Box<dyn ObjectWriter>>>>;

/// Parts of a catalog, uploaded to the outbox as they fill.
struct OutboxParts<S> {
    store: S,
    /// The catalog's key: parts are named after it.
    catalog: String,
    metadata: Metadata,
    part_size: usize,
    level: i32,
    /// The parts closed so far, in order.
    done: Vec<PartInfo>,
}

impl<S: ObjectStore + Clone> OutboxParts<S> {
    fn key(&self, part: u32) -> String {
        part_name(&self.catalog, part)
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
        // With a second core, compression overlaps the XML (the build's
        // two threads then share it with zstd's worker).
        let worker = catalog_core::writer::has_second_core();
        let encoder = catalog_core::writer::catalog_encoder(
            Counting {
                inner: writer,
                count: 0,
            },
            self.level,
            worker,
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
            ember: config.ember.clone(),
        }
    }
}

/// Runs a build, logs its outcome, emits its metric line, and alerts on
/// what a person must look at: a guard's refusal, an export whose every row
/// was refused. A failure emits `BuildsFailed` (Lambda's own `Errors` never
/// counts failures reported as batch item failures); waiting for another
/// build does not.
pub async fn build_and_report<S: ObjectStore + Clone>(
    store: &S,
    settings: &Settings,
    alerts: &Alerts,
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
            alert(settings, alerts, report).await?;
        }
        Err(error) if error.is_wait() => tracing::info!(error = %error, "build waits"),
        Err(error) => {
            tracing::error!(error = %error, "build failed");
            EmfLine::new(
                "CatalogRelay",
                [
                    ("Function", "catalog-builder"),
                    ("Env", settings.env.as_str()),
                ],
            )
            .metric("BuildsFailed", Unit::Count, 1)
            .property("Error", error.to_string())
            .emit();
        }
    }
    result
}

/// One alert for a refusal or a rejected export.
async fn alert(settings: &Settings, alerts: &Alerts, report: &Report) -> Result<(), AlertError> {
    let (kind, reason, next) = match &report.ended {
        Ended::Refused { reason } => (
            "catalog-refused",
            reason,
            "nothing was sent; if the removals are intended, upload state/overrides/allow-shrink.json to let the next build through once",
        ),
        Ended::ExportRejected { reason } => (
            "export-rejected",
            reason,
            "nothing was sent; fix the export and drop it again",
        ),
        _ => return Ok(()),
    };
    alerts
        .send(
            kind,
            &serde_json::json!({
                "env": settings.env,
                "catalog": report.catalog,
                "export": report.export.as_ref().map(|e| &e.key),
                "reason": reason,
                "rows": report.rows,
                "rows_rejected": report.rows_rejected,
                "first_findings": report.findings.iter().take(5).collect::<Vec<_>>(),
                "next": next,
            }),
        )
        .await
}

/// The run's EMF metric line: items sent by kind, bytes, duration, and a
/// count for each outcome an alarm watches.
pub fn metric_line(settings: &Settings, report: &Report, millis: f64) -> EmfLine {
    let outcome = match &report.ended {
        Ended::Sent { .. } => "sent",
        Ended::NothingToDo => "nothing-to-do",
        Ended::Refused { .. } => "refused",
        Ended::ExportRejected { .. } => "export-rejected",
        Ended::NoExport => "no-export",
        Ended::Superseded { .. } => "superseded",
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
    .metric(
        "CatalogsRefused",
        Unit::Count,
        u64::from(matches!(report.ended, Ended::Refused { .. })),
    )
    .metric(
        "ExportsRejected",
        Unit::Count,
        u64::from(matches!(report.ended, Ended::ExportRejected { .. })),
    )
    .metric("XmlBytes", Unit::Bytes, report.xml_bytes)
    .metric("CatalogBytes", Unit::Bytes, report.compressed_bytes)
    .metric("DurationMs", Unit::Milliseconds, millis)
    .property("Outcome", outcome)
}
