//! One pass of the gate over one outbox object.
//!
//! The order is what makes a redelivered message finish the job, and a crash
//! at any point leave either no manifest or a complete one:
//!
//! 1. Resolve the trigger: a catalog (`NAME.xml.zst`) or a batch descriptor
//!    (`STEM.batch.json`, listing parts in the same folder). Parts alone do
//!    nothing. Gone, and quarantined before: done.
//! 2. The production gate: `prod` without production access is quarantined;
//!    nothing is read or copied.
//! 3. The ledger: a `published` record for this name means it was already
//!    validated; same object → go straight to 6, another object under a
//!    published name → quarantine.
//! 4. Validate every file by streaming (zstd → XML reader) against the
//!    catalog state (known parents, versions only go up), then what only the
//!    whole submission shows (root id, a full catalog without deletes, the
//!    shrink guard). Anything wrong → quarantine.
//! 5. Record the submission in the ledger (create-once).
//! 6. Copy each file to `<provider>/<env>/catalogs/` server-side (skipping
//!    ones already there with the right size), check each is there with the
//!    expected size, then create the manifest with `If-None-Match: *`.
//!
//! Quarantine moves the files to `outbox/<env>/rejected/`, writes
//! `<name>.errors.json` next to them, sends an alert, and — for a catalog
//! the builder made, which the state already counts as sent — asks the next
//! build for a full catalog. The message is then consumed.

use std::sync::Arc;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::state_store::{NeedsFull, StateStore, StateStoreError, published_key};
use crate::store::{Metadata, ObjectInfo, ObjectStore, Precondition, StoreError};
use crate::{outbox_catalog_key, outbox_rejected_key};
use catalog_core::gate::{
    FileFinding, GateCheck, GateCounts, GateInput, Manifest, OutboxFile, Verdict,
    destination_catalog_key, manifest_key, submission_type,
};
use catalog_core::input::Limits;
use catalog_core::model::KindCounts;
use catalog_core::reader::{CatalogReader, ReadError, ReadOptions};
use catalog_core::state::CatalogState;
use catalog_core::{CatalogHeader, Finding, Position, Rule};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncReadExt;
use tokio_util::io::SyncIoBridge;

/// What the gate needs to know, from the function's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The provider's prefix in Amazon's bucket.
    pub provider: String,
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
    /// The source changed between validation and copy: its own
    /// notification will bring the new one; this one is retried.
    #[error("{key} changed while it was being published (ETag {validated} validated, {now} now)")]
    Changed {
        /// The object.
        key: String,
        /// The ETag validated.
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

/// The most a batch descriptor may weigh.
const MAX_DESCRIPTOR_BYTES: u64 = 1 << 20;

/// `<stem>.batch.json`: the parts of one catalog, in order. The builder's
/// descriptors carry more (counts, hashes); only these fields matter here.
#[derive(Debug, Clone, Deserialize)]
struct BatchDescriptor {
    /// The catalog's name (default `<stem>.xml.zst`).
    #[serde(default)]
    catalog: Option<String>,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    #[serde(default)]
    catalog_type: Option<String>,
    parts: Vec<BatchPart>,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchPart {
    /// The part's key (or its file name, in the descriptor's folder).
    key: String,
    /// Its size, checked when given.
    #[serde(default)]
    size: Option<u64>,
}

/// One file of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its key in the work bucket.
    pub source: String,
    /// Its key in Amazon's bucket.
    pub destination: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag when validated.
    pub etag: String,
}

/// The ledger's record of a published catalog (`state/ledger/published/`),
/// written once validation passed and before the manifest: what was sent,
/// when, how many items of each kind, of which type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// The catalog's name.
    pub catalog: String,
    /// `staging` or `prod`.
    pub env: String,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    pub manifest_type: String,
    /// Amazon's bucket.
    pub bucket: String,
    /// The manifest's key.
    pub manifest: String,
    /// The object that triggered it (the catalog or the descriptor) and its ETag.
    pub trigger: String,
    /// The trigger's ETag.
    pub trigger_etag: String,
    /// The files, in manifest order.
    pub files: Vec<FileRecord>,
    /// `<ProgramCatalog id>`.
    pub catalog_id: String,
    /// `<ProgramCatalog version>`.
    pub catalog_version: u64,
    /// The builder's catalog version, when the builder made it.
    pub built_as_version: Option<u64>,
    /// Valid items per kind.
    pub items: KindCounts,
    /// Deletes.
    pub deletes: u64,
    /// Decompressed XML bytes.
    pub xml_bytes: u64,
    /// Live items a full catalog leaves out (Amazon deletes them).
    pub dropped: u64,
    /// Warnings found.
    pub warnings: u64,
    /// When validation passed (RFC 3339).
    pub validated_at: String,
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

/// The submission being gated.
#[derive(Debug, Clone)]
struct Submission {
    env: String,
    /// The catalog's name (`….xml.zst`).
    name: String,
    /// The object that triggered the pass.
    trigger: ObjectInfo,
    /// The catalog files in the work bucket, in order, with sizes from the
    /// descriptor when it gives them.
    files: Vec<(String, Option<u64>)>,
    /// The type hint: the descriptor's `catalog_type` or the object's metadata.
    type_hint: Option<String>,
    /// The builder's catalog version, when the builder made it.
    built_as_version: Option<u64>,
    /// The one-run override of the shrink guard.
    allow_shrink: bool,
}

/// A reason to refuse found before reading any XML.
type Early = (Rule, String);

/// Runs the gate on one object of the work bucket.
pub async fn run<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    key: &str,
) -> Result<(Outcome, Option<GateCounts>), GateError> {
    let Some((env, file_name)) = split_outbox_key(key) else {
        return Ok((
            ignored(format!("{key} is not under outbox/<env>/catalogs/")),
            None,
        ));
    };
    let (submission, early) = match OutboxFile::classify(file_name) {
        OutboxFile::Part => {
            return Ok((
                ignored("a part is published with its batch descriptor".into()),
                None,
            ));
        }
        OutboxFile::Other => {
            return Ok((
                ignored(format!(
                    "{file_name} is not a catalog (.xml.zst) or a batch descriptor (.batch.json)"
                )),
                None,
            ));
        }
        OutboxFile::Catalog(name) => match deps.work.head(key).await? {
            Some(info) => (single(env, name, info), None),
            None => return gone(deps, env, name).await.map(|o| (o, None)),
        },
        OutboxFile::Batch(stem) => match read_descriptor(&deps.work, key).await? {
            Some((info, descriptor)) => batch(env, stem, info, descriptor),
            None => {
                return gone(deps, env, &format!("{stem}.xml.zst"))
                    .await
                    .map(|o| (o, None));
            }
        },
    };
    if let Some((rule, message)) = early {
        return refuse_early(deps, &submission, rule, message).await;
    }

    if env == "prod" && !deps.settings.production_access {
        return refuse_early(
            deps,
            &submission,
            Rule::ProductionClosed,
            "production access not enabled: this catalog is for prod, and PRODUCTION_ACCESS is not true".into(),
        )
        .await;
    }
    if env != "prod" && env != "staging" {
        return refuse_early(
            deps,
            &submission,
            Rule::ProductionClosed,
            format!("{env:?} is not one of Amazon's environments (staging, prod)"),
        )
        .await;
    }

    let states = StateStore::new(deps.work.clone());
    let ledger_key = published_key(&submission.name);
    let manifest = manifest_key(&deps.settings.provider, env, &submission.name);
    if let Some(record) = states.read_record::<Published>(&ledger_key).await? {
        if !same_etag(&record.trigger_etag, &submission.trigger.etag) {
            return refuse_early(
                deps,
                &submission,
                Rule::DestinationConflict,
                format!(
                    "a catalog named {} was already published (manifest {}); this is a different object under the same name",
                    submission.name, record.manifest
                ),
            )
            .await;
        }
        let outcome = publish(deps, &record).await?;
        return Ok((outcome, None));
    }
    if deps.destination.head(&manifest).await?.is_some() {
        return refuse_early(
            deps,
            &submission,
            Rule::DestinationConflict,
            format!("the destination already holds {manifest}, which this gate did not write"),
        )
        .await;
    }

    let kind = match submission_type(submission.type_hint.as_deref(), &submission.name) {
        Ok(kind) => kind,
        Err(message) => return refuse_early(deps, &submission, Rule::CatalogType, message).await,
    };
    let loaded = states.load(&deps.settings.catalog_id).await?;
    let state = Arc::new(loaded.state);
    let mut check = GateCheck::new(
        GateInput {
            kind,
            catalog_id: deps.settings.catalog_id.clone(),
            live: state.live_count(),
            shrink_limit_bps: deps.settings.shrink_limit_bps,
            allow_shrink: submission.allow_shrink,
        },
        deps.settings.max_findings,
    );
    let mut files = Vec::with_capacity(submission.files.len());
    let mut header: Option<CatalogHeader> = None;
    for (key, expected_size) in &submission.files {
        let file = file_name_of(key);
        let (info, body) = match deps.work.get(key).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => {
                check.push(
                    file,
                    Finding::error(
                        Rule::BatchDescriptor,
                        Position::default(),
                        format!("the batch lists {key}, which is not in the outbox"),
                    ),
                );
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(expected) = expected_size
            && *expected != info.size
        {
            check.push(
                file,
                Finding::error(
                    Rule::BatchDescriptor,
                    Position::default(),
                    format!(
                        "the batch gives {key} {expected} bytes; it has {}",
                        info.size
                    ),
                ),
            );
        }
        let report = validate(body, Arc::clone(&state), &deps.settings)
            .await?
            .map_err(|source| GateError::Read {
                key: key.clone(),
                source,
            })?;
        if header.is_none() {
            header = report.header.clone();
        }
        check.add_file(file, report);
        files.push(FileRecord {
            source: key.clone(),
            destination: destination_catalog_key(&deps.settings.provider, env, file),
            size: info.size,
            etag: info.etag,
        });
    }
    drop(state);
    let verdict = check.finish();
    if !verdict.accepted {
        let outcome = quarantine(deps, &submission, &verdict).await?;
        return Ok((outcome, Some(verdict.counts)));
    }
    for finding in &verdict.findings {
        tracing::warn!(file = %finding.file, finding = %finding.finding, "accepted with a warning");
    }

    let record = Published {
        catalog: submission.name.clone(),
        env: env.to_owned(),
        manifest_type: kind.manifest_type().to_owned(),
        bucket: deps.settings.destination_bucket.clone(),
        manifest,
        trigger: submission.trigger.key.clone(),
        trigger_etag: submission.trigger.etag.clone(),
        files,
        catalog_id: header.as_ref().map(|h| h.id.clone()).unwrap_or_default(),
        catalog_version: header.as_ref().map_or(0, |h| h.version),
        built_as_version: submission.built_as_version,
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

/// Copies the files (those not there yet), checks each, then creates the manifest.
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
        let now = deps
            .work
            .head(&file.source)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                location: deps.work.location(&file.source),
            })?;
        if !same_etag(&now.etag, &file.etag) {
            return Err(GateError::Changed {
                key: file.source.clone(),
                validated: file.etag.clone(),
                now: now.etag,
            });
        }
        match destination
            .copy_from(
                &deps.work,
                &file.source,
                &file.destination,
                Precondition::IfNoneMatch,
            )
            .await
        {
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
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

/// Streams one file through the reader on a blocking thread.
async fn validate(
    body: crate::store::Body,
    state: Arc<CatalogState>,
    settings: &Settings,
) -> Result<Result<catalog_core::reader::ReadReport, ReadError>, GateError> {
    let bridge = SyncIoBridge::new(body);
    let (limits, max_findings) = (settings.limits, settings.max_findings);
    tokio::task::spawn_blocking(move || {
        let options = ReadOptions {
            limits,
            max_findings,
            known: Some(&*state),
        };
        CatalogReader::new(bridge, options)?.validate_to_end()
    })
    .await
    .map_err(|e| GateError::Join(e.to_string()))
}

/// Refuses a submission before reading it.
async fn refuse_early<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    submission: &Submission,
    rule: Rule,
    message: String,
) -> Result<(Outcome, Option<GateCounts>), GateError> {
    let verdict = Verdict::refused(
        &submission.name,
        Finding::error(rule, Position::default(), message),
    );
    let outcome = quarantine(deps, submission, &verdict).await?;
    Ok((outcome, None))
}

/// Moves the submission to `rejected/`, writes its error report, alerts,
/// and asks for a full catalog if the builder made it.
async fn quarantine<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    submission: &Submission,
    verdict: &Verdict,
) -> Result<Outcome, GateError> {
    let work = &deps.work;
    let env = &submission.env;
    let mut originals: Vec<String> = submission.files.iter().map(|(k, _)| k.clone()).collect();
    if !originals.contains(&submission.trigger.key) {
        originals.push(submission.trigger.key.clone());
    }
    let mut moved = Vec::new();
    for key in &originals {
        let to = outbox_rejected_key(env, file_name_of(key));
        match work.copy(key, &to, Precondition::None, None).await {
            Ok(_) => moved.push(to),
            Err(StoreError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let errors_key = outbox_rejected_key(env, &format!("{}.errors.json", submission.name));
    let builder_made = submission.built_as_version.is_some();
    let next = if builder_made {
        "nothing is published; the next build sends a full catalog, which brings Amazon in line with the state"
    } else {
        "nothing is published; fix the findings and upload the catalog again under a new name"
    };
    let rejection = Rejection {
        catalog: submission.name.clone(),
        env: env.clone(),
        reason: verdict.reason.clone(),
        rejected_at: now_rfc3339(),
        files: originals.clone(),
        moved_to: moved,
        next: next.into(),
        errors: verdict.errors,
        warnings: verdict.warnings,
        findings_not_listed: verdict.findings_not_kept,
        findings: verdict.findings.clone(),
    };
    let body = serde_json::to_vec_pretty(&rejection).unwrap_or_default();
    work.put(&errors_key, body, Precondition::None, &Metadata::new())
        .await?;
    if builder_made {
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
                "next": next,
            }),
        )
        .await?;
    // The trigger goes first: once it is gone, a redelivery finds the report.
    work.delete(&submission.trigger.key).await?;
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
    let report = outbox_rejected_key(env, &format!("{name}.errors.json"));
    if deps.work.head(&report).await?.is_some() {
        return Ok(Outcome::AlreadyQuarantined);
    }
    tracing::warn!(catalog = %name, "the object is gone and was never quarantined; nothing to do");
    Ok(Outcome::Gone)
}

fn single(env: &str, name: &str, info: ObjectInfo) -> Submission {
    Submission {
        env: env.to_owned(),
        name: name.to_owned(),
        files: vec![(info.key.clone(), None)],
        type_hint: info.metadata.get("catalog-type").cloned(),
        built_as_version: built_as(&info.metadata),
        allow_shrink: allows_shrink(&info.metadata),
        trigger: info,
    }
}

/// A batch: its parts must sit in the descriptor's own folder and be
/// `.xml.zst`. With a reason to refuse it when the descriptor says so.
fn batch(
    env: &str,
    stem: &str,
    info: ObjectInfo,
    descriptor: Result<BatchDescriptor, String>,
) -> (Submission, Option<Early>) {
    let folder = outbox_catalog_key(env, "");
    let mut submission = Submission {
        env: env.to_owned(),
        name: format!("{stem}.xml.zst"),
        files: Vec::new(),
        type_hint: info.metadata.get("catalog-type").cloned(),
        built_as_version: built_as(&info.metadata),
        allow_shrink: allows_shrink(&info.metadata),
        trigger: info,
    };
    let descriptor = match descriptor {
        Ok(descriptor) => descriptor,
        Err(message) => return (submission, Some((Rule::BatchDescriptor, message))),
    };
    if let Some(name) = descriptor.catalog.filter(|n| !n.is_empty()) {
        submission.name = name;
    }
    if let Some(kind) = descriptor.catalog_type.filter(|t| !t.is_empty()) {
        submission.type_hint = Some(kind);
    }
    if descriptor.parts.is_empty() {
        return (
            submission,
            Some((Rule::BatchDescriptor, "the batch lists no parts".into())),
        );
    }
    for part in descriptor.parts {
        let key = if part.key.contains('/') {
            part.key
        } else {
            format!("{folder}{}", part.key)
        };
        let in_folder = key
            .strip_prefix(&folder)
            .is_some_and(|file| !file.contains('/') && file.ends_with(".xml.zst"));
        if !in_folder {
            let why = format!("the batch lists {key}; parts must be .xml.zst files in {folder}");
            return (submission, Some((Rule::BatchDescriptor, why)));
        }
        submission.files.push((key, part.size));
    }
    (submission, None)
}

/// Reads and parses a batch descriptor; `None` when it is gone.
async fn read_descriptor<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<(ObjectInfo, Result<BatchDescriptor, String>)>, GateError> {
    let (info, body) = match store.get(key).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    if info.size > MAX_DESCRIPTOR_BYTES {
        let message = format!(
            "the descriptor is {} bytes; a batch descriptor is at most {MAX_DESCRIPTOR_BYTES}",
            info.size
        );
        return Ok(Some((info, Err(message))));
    }
    let bytes = read_body(store, key, body, MAX_DESCRIPTOR_BYTES).await?;
    let parsed = serde_json::from_slice::<BatchDescriptor>(&bytes)
        .map_err(|e| format!("the descriptor is not a batch descriptor: {e}"));
    Ok(Some((info, parsed)))
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
    body: crate::store::Body,
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

/// `outbox/<env>/catalogs/<file>` → (env, file).
fn split_outbox_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("outbox/")?;
    let (env, rest) = rest.split_once('/')?;
    let file = rest.strip_prefix("catalogs/")?;
    (!env.is_empty() && !file.is_empty() && !file.contains('/')).then_some((env, file))
}

fn file_name_of(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(_, file)| file)
}

fn built_as(metadata: &Metadata) -> Option<u64> {
    metadata.get("catalog-version")?.parse().ok()
}

fn allows_shrink(metadata: &Metadata) -> bool {
    metadata
        .get("allow-shrink")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
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
            production_access: config.production_access,
            catalog_id: config.catalog_id.clone(),
            destination_bucket: config.destination_bucket.clone(),
            shrink_limit_bps: config.shrink_limit_bps,
            limits: Limits::default(),
            max_findings: catalog_core::Findings::DEFAULT_CAP,
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
                metric_line(key, outcome, counts.as_ref(), seconds).emit();
            }
        }
        Err(error) => tracing::error!(key, error = %error, "gate failed"),
    }
    result.map(|(outcome, _)| outcome)
}

/// The pass's EMF metric line.
pub fn metric_line(
    key: &str,
    outcome: &Outcome,
    counts: Option<&GateCounts>,
    seconds: f64,
) -> EmfLine {
    let env = key.split('/').nth(1).unwrap_or("unknown");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalog_folders_are_gated() {
        assert_eq!(
            split_outbox_key("outbox/staging/catalogs/a.xml.zst"),
            Some(("staging", "a.xml.zst"))
        );
        assert_eq!(split_outbox_key("outbox/staging/rejected/a.xml.zst"), None);
        assert_eq!(
            split_outbox_key("outbox/staging/catalogs/x/a.xml.zst"),
            None
        );
        assert_eq!(split_outbox_key("source/a.xml.zst"), None);
    }
}
