//! One pass of the gate over one outbox object.
//!
//! The order is what makes a redelivered message finish the job, and a crash
//! at any point leave either no manifest or a complete one:
//!
//! 1. [`resolve`] the trigger: a catalog (`NAME.xml.zst`) or a batch
//!    descriptor (`STEM.batch.json`, listing parts in the same folder).
//!    Parts alone do nothing. Gone, and quarantined before: done.
//! 2. The environment guard ([`env_guard`]): this stack publishes its own
//!    `CATALOG_ENV` only, and `prod` only with production access; anything
//!    else is quarantined, nothing read or copied.
//! 3. The ledger ([`ledger_check`]): a `published` record for this name
//!    means it was already validated; same object → go straight to 6,
//!    another object under a published name → quarantine.
//! 4. [`validate`] every file by streaming (zstd → XML reader) against the
//!    catalog state (known parents, versions only go up), then what only the
//!    whole submission shows (root id, a full catalog without deletes, the
//!    shrink guard). Each file is read at the ETag it was resolved with: its
//!    type and override come from the same version as its bytes. Anything
//!    wrong → quarantine.
//! 5. Record the submission in the ledger (create-once).
//! 6. [`publish`]: copy exactly the versions validated to
//!    `<provider>/<env>/catalogs/` server-side (`x-amz-copy-source-if-match`;
//!    skipping ones already there with the right size), check each is there
//!    with the expected size, then create the manifest with `If-None-Match: *`.
//!
//! [`quarantine`] moves the files to `outbox/<env>/rejected/`, writes
//! `<name>.errors.json` next to them, sends an alert, and — for a catalog
//! the builder made, which the state already counts as sent — asks the next
//! build for a full catalog. The message is then consumed.
//!
//! The decisions are `catalog_core::gate`'s; this module is their I/O.

use std::sync::Arc;

use catalog_core::gate::{
    FileFinding, GateCheck, GateCounts, GateInput, GateSubmission, Manifest, OutboxFile, Verdict,
    destination_catalog_key, env_guard, ledger_check, manifest_key, submission_type,
};
use catalog_core::input::Limits;
use catalog_core::ledger::{FileRecord, Published};
use catalog_core::outbox::{
    BatchDescriptor, CatalogMeta, ETag, MAX_DESCRIPTOR_BYTES, OutboxKey, file_name_of,
};
use catalog_core::reader::{BatchReport, BatchValidation, ReadError, ReadOptions};
use catalog_core::state::CatalogState;
use catalog_core::{CatalogHeader, Finding, Position, Rule};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncReadExt;
use tokio_util::io::SyncIoBridge;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::state_store::{NeedsFull, StateStore, StateStoreError, published_key};
use crate::store::{Body, Metadata, ObjectStore, Precondition, StoreError};

/// What the gate needs to know, from the function's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The provider's prefix in Amazon's bucket.
    pub provider: String,
    /// The environment this stack publishes (`CATALOG_ENV`).
    pub env: String,
    /// Whether Amazon granted production access.
    pub production_access: bool,
    /// The `<ProgramCatalog id>` this deployment publishes.
    pub catalog_id: String,
    /// Amazon's bucket (the name written in manifests).
    pub destination_bucket: String,
    /// The shrink guard, in basis points.
    pub shrink_limit_bps: u32,
    /// Bounds on one catalog file (decompressed size, token size, depth).
    pub limits: Limits,
    /// Findings kept for `errors.json` (all are counted).
    pub max_findings: usize,
    /// Inferred EMBER elements the builder does not send, so not expected.
    pub omit: catalog_core::ember::Omit,
}

/// What the gate works with.
#[derive(Debug, Clone)]
pub struct Deps<S> {
    /// The work bucket.
    pub work: S,
    /// Amazon's bucket (through the assumed role).
    pub destination: S,
    /// Where alerts go.
    pub alerts: Alerts,
    /// Settings.
    pub settings: Settings,
}

/// How one pass ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Outcome {
    /// The files and the manifest are at the destination.
    Published {
        /// The manifest's key at the destination.
        manifest: String,
        /// The catalog files at the destination, in order.
        keys: Vec<String>,
    },
    /// A redelivery: the manifest was already there.
    AlreadyPublished {
        /// The manifest's key at the destination.
        manifest: String,
    },
    /// Refused: moved to `rejected/` with an error report.
    Quarantined {
        /// One line saying why.
        reason: String,
        /// The error report's key in the work bucket.
        errors: String,
    },
    /// The object is gone and was quarantined before: a redelivery.
    AlreadyQuarantined,
    /// Not for the gate (a part, another folder, not a catalog).
    Ignored {
        /// Why.
        why: String,
    },
    /// The object is gone and nothing records it; nothing to do.
    Gone,
}

/// A failure worth retrying (the store, the queue); bad catalogs are not
/// errors, they are quarantined.
#[derive(Debug, Error)]
pub enum GateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state or the ledger could not be read or written.
    #[error(transparent)]
    State(#[from] StateStoreError),
    /// The catalog's bytes could not be read (the connection broke).
    #[error("reading {key} failed: {source}")]
    Read {
        /// The object.
        key: String,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// The alert could not be sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// The object changed between two reads of one pass: its own
    /// notification will bring the new one; this one is retried, and then
    /// sees one version throughout (or refuses it, once published).
    #[error("{key} changed while the gate read it (ETag {validated} first, {now} then)")]
    Changed {
        /// The object.
        key: String,
        /// The ETag read first.
        validated: String,
        /// The ETag found.
        now: String,
    },
    /// A copy did not arrive whole.
    #[error("{key} is {found} bytes at the destination, {expected} expected")]
    Incomplete {
        /// The destination key.
        key: String,
        /// The size of the source.
        expected: u64,
        /// The size found.
        found: u64,
    },
    /// A blocking task failed.
    #[error("a blocking task failed: {0}")]
    Join(String),
}

/// `errors.json`: why a catalog was refused, every finding with its file,
/// rule, item, position and fix.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// The catalog's name.
    pub catalog: String,
    /// `staging` or `prod`.
    pub env: String,
    /// One line.
    pub reason: String,
    /// When (RFC 3339).
    pub rejected_at: String,
    /// Where the files were.
    pub files: Vec<String>,
    /// Where they are now.
    pub moved_to: Vec<String>,
    /// What happens next.
    pub next: String,
    /// Errors found, kept or not.
    pub errors: u64,
    /// Warnings found, kept or not.
    pub warnings: u64,
    /// Findings counted but not listed.
    pub findings_not_listed: u64,
    /// The findings.
    pub findings: Vec<FileFinding>,
}

/// Runs the gate on one object of the work bucket.
pub async fn run<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    key: &str,
) -> Result<(Outcome, Option<GateCounts>), GateError> {
    let (submission, early) = match resolve(deps, key).await? {
        Resolved::Submission(submission, early) => (submission, early),
        Resolved::Done(outcome) => return Ok((outcome, None)),
    };
    if let Some(finding) = early {
        return refuse_early(deps, &submission, finding).await;
    }
    let settings = &deps.settings;
    if let Err(finding) = env_guard(&submission.env, &settings.env, settings.production_access) {
        return refuse_early(deps, &submission, finding).await;
    }

    let states = StateStore::new(deps.work.clone());
    let ledger_key = published_key(&submission.name);
    if let Some(record) = states.read_record::<Published>(&ledger_key).await? {
        if let Err(finding) = ledger_check(&record, &submission) {
            return refuse_early(deps, &submission, finding).await;
        }
        let outcome = publish(deps, &record).await?;
        return Ok((outcome, None));
    }
    let manifest = manifest_key(&settings.provider, &submission.env, &submission.name);
    if deps.destination.head(&manifest).await?.is_some() {
        let finding = Finding::error(
            Rule::DestinationConflict,
            Position::default(),
            format!("the destination already holds {manifest}, which this gate did not write"),
        );
        return refuse_early(deps, &submission, finding).await;
    }
    let kind = match submission.kind() {
        Ok(kind) => kind,
        Err(finding) => return refuse_early(deps, &submission, finding).await,
    };

    let loaded = states.load(&settings.catalog_id).await?;
    let (verdict, files, header) =
        validate(deps, &submission, kind, Arc::new(loaded.state)).await?;
    if !verdict.accepted {
        let outcome = quarantine(deps, &submission, &verdict).await?;
        return Ok((outcome, Some(verdict.counts)));
    }
    for finding in &verdict.findings {
        tracing::warn!(file = %finding.file, finding = %finding.finding, "accepted with a warning");
    }
    let record = Published {
        catalog: submission.name.clone(),
        env: submission.env.clone(),
        manifest_type: kind.manifest_type().to_owned(),
        bucket: settings.destination_bucket.clone(),
        manifest,
        trigger: submission.trigger.clone(),
        trigger_etag: submission.trigger_etag.clone(),
        files,
        catalog_id: header.as_ref().map(|h| h.id.clone()).unwrap_or_default(),
        catalog_version: header.as_ref().map_or(0, |h| h.version),
        built_as_version: submission.meta.catalog_version,
        items: verdict.counts.items.into(),
        deletes: verdict.counts.deletes,
        xml_bytes: verdict.counts.xml_bytes,
        dropped: verdict.counts.dropped,
        warnings: verdict.warnings,
        validated_at: now_rfc3339(),
    };
    states.record(&ledger_key, &record).await?;
    let outcome = publish(deps, &record).await?;
    Ok((outcome, Some(verdict.counts)))
}

/// What the trigger is.
enum Resolved {
    /// A submission to gate, with a reason to refuse it found already.
    Submission(Box<GateSubmission>, Option<Finding>),
    /// Nothing to gate.
    Done(Outcome),
}

/// Step 1: the submission a key triggers.
async fn resolve<S: ObjectStore + Clone>(deps: &Deps<S>, key: &str) -> Result<Resolved, GateError> {
    let Some(outbox) = OutboxKey::parse(key) else {
        return Ok(Resolved::Done(ignored(format!(
            "{key} is not under outbox/<env>/catalogs/"
        ))));
    };
    let env = outbox.env;
    match OutboxFile::classify(outbox.file) {
        OutboxFile::Part => Ok(Resolved::Done(ignored(
            "a part is published with its batch descriptor".into(),
        ))),
        OutboxFile::Other => Ok(Resolved::Done(ignored(format!(
            "{} is not a catalog (.xml.zst) or a batch descriptor (.batch.json)",
            outbox.file
        )))),
        OutboxFile::Catalog(name) => match deps.work.head(key).await? {
            Some(info) => {
                let meta = CatalogMeta::from_map(&info.metadata);
                let submission = GateSubmission::single(env, name, key, ETag::new(info.etag), meta);
                Ok(Resolved::Submission(Box::new(submission), None))
            }
            None => gone(deps, env, name).await.map(Resolved::Done),
        },
        OutboxFile::Batch(stem) => match read_descriptor(&deps.work, key).await? {
            Some((info, descriptor)) => {
                let meta = CatalogMeta::from_map(&info.metadata);
                let (submission, early) =
                    GateSubmission::batch(env, stem, key, ETag::new(info.etag), meta, descriptor);
                Ok(Resolved::Submission(Box::new(submission), early))
            }
            None => gone(deps, env, &format!("{stem}.xml.zst"))
                .await
                .map(Resolved::Done),
        },
    }
}

/// Step 4: the files streamed, in order, through one batch validation
/// against the state (a child in part 2 may name a parent new in part 1;
/// an id may not come back in a later part), then the whole submission's
/// checks. Returns the verdict, the files as they will be copied (each at
/// the ETag validated), and the first root.
async fn validate<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    submission: &GateSubmission,
    kind: catalog_core::SubmissionType,
    state: Arc<CatalogState>,
) -> Result<(Verdict, Vec<FileRecord>, Option<CatalogHeader>), GateError> {
    let settings = &deps.settings;
    let mut check = GateCheck::new(
        GateInput {
            kind,
            catalog_id: settings.catalog_id.clone(),
            live: state.live_count(),
            shrink_limit_bps: settings.shrink_limit_bps,
            allow_shrink: submission.meta.allow_shrink,
        },
        settings.max_findings,
    );
    let live = state.live_count();
    let work = deps.work.clone();
    let read = ReadFiles {
        files: submission.files.clone(),
        trigger: submission.trigger.clone(),
        trigger_etag: submission.trigger_etag.clone(),
        limits: settings.limits,
        max_findings: settings.max_findings,
        omit: settings.omit,
    };
    let handle = tokio::runtime::Handle::current();
    let (read, batch) = tokio::task::spawn_blocking(move || read.run(&work, &state, &handle))
        .await
        .map_err(|e| GateError::Join(e.to_string()))??;
    tracing::debug!(live, parts = batch.parts.len(), "validated");
    let mut reports = batch.parts.into_iter();
    let mut files = Vec::with_capacity(read.len());
    let mut header: Option<CatalogHeader> = None;
    for file in read {
        let name = file_name_of(&file.key);
        for finding in file.findings {
            check.push(name, finding);
        }
        let Some(info) = file.found else { continue };
        if let Some(report) = reports.next() {
            if header.is_none() {
                header = report.header.clone();
            }
            check.add_file(name, report);
        }
        files.push(FileRecord {
            source: file.key.clone(),
            destination: destination_catalog_key(&settings.provider, &submission.env, name),
            size: info.0,
            etag: info.1,
        });
    }
    Ok((check.finish(), files, header))
}

/// The files of a submission to read on a blocking thread.
struct ReadFiles {
    files: Vec<(String, Option<u64>)>,
    trigger: String,
    trigger_etag: ETag,
    limits: Limits,
    max_findings: usize,
    omit: catalog_core::ember::Omit,
}

/// What reading one file found before its XML: its size and ETag when it
/// is there, and what is wrong with it as a file.
struct FileRead {
    key: String,
    found: Option<(u64, ETag)>,
    findings: Vec<Finding>,
}

impl ReadFiles {
    /// Streams each file, in order, into one batch validation.
    fn run<S: ObjectStore>(
        self,
        work: &S,
        state: &CatalogState,
        handle: &tokio::runtime::Handle,
    ) -> Result<(Vec<FileRead>, BatchReport), GateError> {
        let options = ReadOptions {
            limits: self.limits,
            max_findings: self.max_findings,
            known: Some(state),
            omit: self.omit,
        };
        let mut batch = BatchValidation::new(options);
        let mut read = Vec::with_capacity(self.files.len());
        for (key, expected_size) in self.files {
            let mut file = FileRead {
                key,
                found: None,
                findings: Vec::new(),
            };
            let (info, body) = match handle.block_on(work.get(&file.key)) {
                Ok(found) => found,
                // A catalog on its own that vanished since its HEAD: the
                // retry finds it gone (or quarantined) and says so.
                Err(error @ StoreError::NotFound { .. }) if file.key == self.trigger => {
                    return Err(error.into());
                }
                Err(StoreError::NotFound { .. }) => {
                    file.findings.push(Finding::error(
                        Rule::BatchDescriptor,
                        Position::default(),
                        format!("the batch lists {}, which is not in the outbox", file.key),
                    ));
                    read.push(file);
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            let etag = ETag::new(info.etag);
            // A catalog on its own is its own trigger: its type and
            // override were read with the trigger's ETag, and must be
            // this version's.
            if file.key == self.trigger && etag != self.trigger_etag {
                return Err(GateError::Changed {
                    key: file.key,
                    validated: self.trigger_etag.to_string(),
                    now: etag.to_string(),
                });
            }
            if let Some(expected) = expected_size
                && expected != info.size
            {
                file.findings.push(Finding::error(
                    Rule::BatchDescriptor,
                    Position::default(),
                    format!(
                        "the batch gives {} {expected} bytes; it has {}",
                        file.key, info.size
                    ),
                ));
            }
            let bridge = SyncIoBridge::new_with_handle(body, handle.clone());
            batch
                .validate_part(bridge)
                .map_err(|source| GateError::Read {
                    key: file.key.clone(),
                    source,
                })?;
            file.found = Some((info.size, etag));
            read.push(file);
        }
        Ok((read, batch.finish()))
    }
}

/// Step 6: copies the files (those not there yet), each exactly at the
/// version validated, checks each, then creates the manifest.
async fn publish<S: ObjectStore>(deps: &Deps<S>, record: &Published) -> Result<Outcome, GateError> {
    let destination = &deps.destination;
    for file in &record.files {
        match destination.head(&file.destination).await? {
            Some(there) if there.size == file.size => continue,
            Some(there) => {
                return Err(GateError::Incomplete {
                    key: destination.location(&file.destination),
                    expected: file.size,
                    found: there.size,
                });
            }
            None => {}
        }
        match destination
            .copy_version_from(
                &deps.work,
                &file.source,
                file.etag.as_str(),
                &file.destination,
                Precondition::IfNoneMatch,
            )
            .await
        {
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
            Err(StoreError::SourceChanged { found, .. }) => {
                return Err(GateError::Changed {
                    key: file.source.clone(),
                    validated: file.etag.to_string(),
                    now: found,
                });
            }
            Err(other) => return Err(other.into()),
        }
        let found = destination
            .head(&file.destination)
            .await?
            .map_or(0, |there| there.size);
        if found != file.size {
            return Err(GateError::Incomplete {
                key: destination.location(&file.destination),
                expected: file.size,
                found,
            });
        }
        tracing::info!(from = %file.source, to = %destination.location(&file.destination), bytes = file.size, "copied");
    }
    let kind =
        submission_type(Some(&record.manifest_type), &record.catalog).map_err(|message| {
            StateStoreError::Record {
                location: deps.work.location(&published_key(&record.catalog)),
                message,
            }
        })?;
    let manifest = Manifest::new(
        record.bucket.clone(),
        record.files.iter().map(|f| f.destination.clone()).collect(),
        kind,
    );
    let body = manifest.to_json();
    match destination
        .put(
            &record.manifest,
            body.clone(),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
    {
        Ok(_) => Ok(Outcome::Published {
            manifest: record.manifest.clone(),
            keys: manifest.s3_keys,
        }),
        Err(StoreError::PreconditionFailed { .. }) => {
            let existing = read_small(destination, &record.manifest, MAX_DESCRIPTOR_BYTES).await?;
            if existing.as_deref() != Some(&body[..]) {
                tracing::error!(manifest = %record.manifest, "the destination holds a different manifest under this name; left as it is");
            }
            Ok(Outcome::AlreadyPublished {
                manifest: record.manifest.clone(),
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// Refuses a submission before reading it.
async fn refuse_early<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    submission: &GateSubmission,
    finding: Finding,
) -> Result<(Outcome, Option<GateCounts>), GateError> {
    let verdict = Verdict::refused(&submission.name, finding);
    let outcome = quarantine(deps, submission, &verdict).await?;
    Ok((outcome, None))
}

/// Moves the submission to `rejected/`, writes its error report, alerts,
/// and asks for a full catalog if the builder made it.
async fn quarantine<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    submission: &GateSubmission,
    verdict: &Verdict,
) -> Result<Outcome, GateError> {
    let work = &deps.work;
    let env = &submission.env;
    let mut originals: Vec<String> = submission.files.iter().map(|(k, _)| k.clone()).collect();
    if !originals.contains(&submission.trigger) {
        originals.push(submission.trigger.clone());
    }
    let mut moved = Vec::new();
    for key in &originals {
        let to = OutboxKey::rejected(env, file_name_of(key));
        match work.copy(key, &to, Precondition::None, None).await {
            Ok(_) => moved.push(to),
            Err(StoreError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let errors_key = OutboxKey::rejected(env, &format!("{}.errors.json", submission.name));
    let after = submission.after_refusal();
    let rejection = Rejection {
        catalog: submission.name.clone(),
        env: env.clone(),
        reason: verdict.reason.clone(),
        rejected_at: now_rfc3339(),
        files: originals.clone(),
        moved_to: moved,
        next: after.next.into(),
        errors: verdict.errors,
        warnings: verdict.warnings,
        findings_not_listed: verdict.findings_not_kept,
        findings: verdict.findings.clone(),
    };
    let body = serde_json::to_vec_pretty(&rejection).unwrap_or_default();
    work.put(&errors_key, body, Precondition::None, &Metadata::new())
        .await?;
    if after.request_full {
        StateStore::new(work.clone())
            .request_full(&NeedsFull {
                catalog: submission.name.clone(),
                reason: verdict.reason.clone(),
                at: OffsetDateTime::now_utc().unix_timestamp(),
            })
            .await?;
    }
    deps.alerts
        .send(
            "catalog-quarantined",
            &serde_json::json!({
                "catalog": submission.name,
                "env": env,
                "reason": verdict.reason,
                "errors": verdict.errors,
                "report": work.location(&errors_key),
                "first_findings": verdict.findings.iter().take(5).collect::<Vec<_>>(),
                "next": after.next,
            }),
        )
        .await?;
    // The trigger goes first: once it is gone, a redelivery finds the report.
    work.delete(&submission.trigger).await?;
    for key in &originals {
        work.delete(key).await?;
    }
    tracing::warn!(catalog = %submission.name, reason = %verdict.reason, errors = %errors_key, "catalog quarantined");
    Ok(Outcome::Quarantined {
        reason: verdict.reason.clone(),
        errors: errors_key,
    })
}

/// The object is gone: quarantined before, or removed by someone.
async fn gone<S: ObjectStore>(deps: &Deps<S>, env: &str, name: &str) -> Result<Outcome, GateError> {
    let report = OutboxKey::rejected(env, &format!("{name}.errors.json"));
    if deps.work.head(&report).await?.is_some() {
        return Ok(Outcome::AlreadyQuarantined);
    }
    tracing::warn!(catalog = %name, "the object is gone and was never quarantined; nothing to do");
    Ok(Outcome::Gone)
}

/// Reads and parses a batch descriptor; `None` when it is gone.
async fn read_descriptor<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<(crate::store::ObjectInfo, Result<BatchDescriptor, String>)>, GateError> {
    let (info, body) = match store.get(key).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    // One byte more than allowed, so an oversized one is told apart.
    let bytes = read_body(store, key, body, MAX_DESCRIPTOR_BYTES + 1).await?;
    Ok(Some((info, BatchDescriptor::parse(&bytes))))
}

/// A small object's bytes, or `None` when absent.
async fn read_small<S: ObjectStore>(
    store: &S,
    key: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, GateError> {
    let (_, body) = match store.get(key).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    Ok(Some(read_body(store, key, body, max).await?))
}

/// At most `max` bytes of a body.
async fn read_body<S: ObjectStore>(
    store: &S,
    key: &str,
    body: Body,
    max: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    body.take(max)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| StoreError::Io {
            location: store.location(key),
            source,
        })?;
    Ok(bytes)
}

fn ignored(why: String) -> Outcome {
    Outcome::Ignored { why }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl Settings {
    /// The gate's settings from a function configuration.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            provider: config.provider.clone(),
            env: config.env.as_str().to_owned(),
            production_access: config.production_access,
            catalog_id: config.catalog_id.clone(),
            destination_bucket: config.destination_bucket.clone(),
            shrink_limit_bps: config.shrink_limit_bps,
            limits: Limits::default(),
            max_findings: catalog_core::Findings::DEFAULT_CAP,
            omit: config.ember.omit,
        }
    }
}

/// Runs the gate on one key, logs the outcome and emits its metric line.
pub async fn gate_and_report<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    key: &str,
) -> Result<Outcome, GateError> {
    let started = std::time::Instant::now();
    let result = run(deps, key).await;
    let seconds = started.elapsed().as_secs_f64();
    match &result {
        Ok((outcome, counts)) => {
            tracing::info!(
                key,
                outcome = %serde_json::to_string(outcome).unwrap_or_default(),
                seconds,
                "gate finished"
            );
            if !matches!(outcome, Outcome::Ignored { .. }) {
                metric_line(&deps.settings.env, key, outcome, counts.as_ref(), seconds).emit();
            }
        }
        Err(error) => {
            tracing::error!(key, error = %error, "gate failed");
            EmfLine::new(
                "CatalogRelay",
                [
                    ("Function", "manifest-writer"),
                    ("Env", deps.settings.env.as_str()),
                ],
            )
            .metric("GateFailures", Unit::Count, 1)
            .property("Key", key)
            .property("Error", error.to_string())
            .emit();
        }
    }
    result.map(|(outcome, _)| outcome)
}

/// The pass's EMF metric line, under the stack's environment (a catalog
/// dropped in another environment's folder is counted where it is refused).
pub fn metric_line(
    env: &str,
    key: &str,
    outcome: &Outcome,
    counts: Option<&GateCounts>,
    seconds: f64,
) -> EmfLine {
    let (name, published, quarantined) = match outcome {
        Outcome::Published { .. } => ("published", 1, 0),
        Outcome::AlreadyPublished { .. } => ("already-published", 0, 0),
        Outcome::Quarantined { .. } => ("quarantined", 0, 1),
        Outcome::AlreadyQuarantined => ("already-quarantined", 0, 0),
        Outcome::Ignored { .. } => ("ignored", 0, 0),
        Outcome::Gone => ("gone", 0, 0),
    };
    let counts = counts.copied().unwrap_or_default();
    let items: u64 = counts.items.iter().sum();
    let mb_per_s = if seconds > 0.0 {
        counts.xml_bytes as f64 / 1e6 / seconds
    } else {
        0.0
    };
    EmfLine::new(
        "CatalogRelay",
        [("Function", "manifest-writer"), ("Env", env)],
    )
    .metric("CatalogsPublished", Unit::Count, published)
    .metric("CatalogsQuarantined", Unit::Count, quarantined)
    .metric("ItemsChecked", Unit::Count, items)
    .metric("DeletesChecked", Unit::Count, counts.deletes)
    .metric("EntriesRejected", Unit::Count, counts.rejected)
    .metric("XmlBytes", Unit::Bytes, counts.xml_bytes)
    .metric("GateMBps", Unit::None, mb_per_s)
    .metric("DurationMs", Unit::Milliseconds, seconds * 1000.0)
    .property("Outcome", name)
    .property("Key", key)
}
