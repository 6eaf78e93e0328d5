//! The catalog builder: a provider export (or a schedule) + the catalog
//! state → an EMBER catalog in the outbox.
//!
//! Triggers, all at-least-once:
//! - SQS messages carrying S3 notifications for `source/` drops (a new
//!   export). Each message is handled on its own; the ones that fail are
//!   reported in the `SqsBatchResponse` so only they come back, and a
//!   message that keeps failing (a poison message) ends in the DLQ.
//! - EventBridge schedules with the input `{"mode":"update"}` (daily) or
//!   `{"mode":"full"}` (monthly): they diff the latest export again, so the
//!   cadence holds even when the provider sends nothing.
//!
//! [`handle`] takes its dependencies as arguments so tests call it directly
//! with real event JSON; `main.rs` only wires the real clients. The work is
//! in [`run`].

pub mod run;

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use catalog_aws::config::Config;
use catalog_aws::events::{BuilderEvent, Mode, S3Notification, for_each_message};
use catalog_aws::metrics::{EmfLine, Unit};
use catalog_aws::state_store::ExportRef;
use catalog_aws::store::ObjectStore;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use time::OffsetDateTime;

use crate::run::{Ended, Report, RunError, Settings, Trigger};

/// The prefix of the work bucket where providers drop exports.
pub const SOURCE_PREFIX: &str = "source/";

/// What the handler works with.
#[derive(Debug, Clone)]
pub struct Deps<S> {
    /// The work bucket.
    pub store: S,
    /// What a build needs from the configuration.
    pub settings: Settings,
}

impl Settings {
    /// The build settings of a function configuration.
    pub fn from_config(config: &Config) -> Settings {
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

/// The Lambda entry point: an SQS batch or a schedule input.
pub async fn handle<S: ObjectStore + Clone>(
    event: LambdaEvent<Value>,
    deps: &Deps<S>,
) -> Result<Value, Error> {
    let payload: BuilderEvent = serde_json::from_value(event.payload)?;
    match payload {
        BuilderEvent::Sqs(batch) => Ok(serde_json::to_value(handle_batch(batch, deps).await)?),
        BuilderEvent::Schedule(schedule) => {
            let trigger = Trigger::Schedule {
                full: schedule.mode == Mode::Full,
                time: OffsetDateTime::now_utc().unix_timestamp(),
            };
            let report = build_and_report(deps, trigger).await?;
            Ok(serde_json::to_value(report)?)
        }
    }
}

/// Handles each message; returns the ids of the ones to retry.
pub async fn handle_batch<S: ObjectStore + Clone>(
    batch: SqsEvent,
    deps: &Deps<S>,
) -> SqsBatchResponse {
    for_each_message(&batch, |message| handle_message(message, deps)).await
}

async fn handle_message<S: ObjectStore + Clone>(
    message: &SqsMessage,
    deps: &Deps<S>,
) -> Result<(), Error> {
    for object in S3Notification::created_objects(message)? {
        if !object.key.starts_with(SOURCE_PREFIX) {
            tracing::info!(key = %object.key, "not an export drop; ignored");
            continue;
        }
        let Some(etag) = object.etag.clone() else {
            return Err(format!("the notification for {} carries no ETag", object.key).into());
        };
        let trigger = Trigger::Export {
            export: ExportRef {
                key: object.key.clone(),
                etag,
            },
            time: OffsetDateTime::now_utc().unix_timestamp(),
        };
        build_and_report(deps, trigger).await?;
    }
    Ok(())
}

/// Runs a build, logs its outcome and emits its metric line.
async fn build_and_report<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    trigger: Trigger,
) -> Result<Report, RunError> {
    let started = Instant::now();
    let result = run::run(&deps.store, &deps.settings, trigger).await;
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
            metric_line(&deps.settings, report, millis).emit();
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
