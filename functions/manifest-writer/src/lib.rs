//! The manifest writer: the gate between the outbox and Amazon's bucket.
//!
//! Trigger: SQS messages carrying S3 notifications for objects created under
//! `outbox/<env>/catalogs/` in the work bucket (a catalog, or a batch
//! descriptor; parts alone do nothing). Each message is handled on its own;
//! one that fails for a reason worth retrying (the store, the network) is
//! reported in the `SqsBatchResponse`, and one that keeps failing ends in
//! the DLQ. A bad catalog is not a failure: it is quarantined and its
//! message consumed.
//!
//! [`handle`] takes its dependencies as arguments so tests call it directly
//! with real event JSON; `main.rs` only wires the real clients. The work is
//! in [`run`].

pub mod run;

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use catalog_aws::config::Config;
use catalog_aws::events::{S3Notification, for_each_message};
use catalog_aws::metrics::{EmfLine, Unit};
use catalog_aws::store::ObjectStore;
use catalog_core::Findings;
use catalog_core::gate::GateCounts;
use catalog_core::input::Limits;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub use crate::run::{Deps, Outcome, Settings};

impl Settings {
    /// The gate's settings from a function configuration.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            provider: config.provider.clone(),
            production_access: config.production_access,
            catalog_id: config.catalog_id.clone(),
            destination_bucket: config.destination_bucket.clone(),
            shrink_limit_bps: config.shrink_limit_bps,
            limits: Limits::default(),
            max_findings: Findings::DEFAULT_CAP,
        }
    }
}

/// The Lambda entry point: an SQS batch of outbox notifications.
pub async fn handle<S: ObjectStore + Clone>(
    event: LambdaEvent<Value>,
    deps: &Deps<S>,
) -> Result<Value, Error> {
    let batch: SqsEvent = serde_json::from_value(event.payload)?;
    Ok(serde_json::to_value(handle_batch(batch, deps).await)?)
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
        gate_and_report(deps, &object.key).await?;
    }
    Ok(())
}

/// Runs the gate on one key, logs the outcome and emits its metric line.
pub async fn gate_and_report<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    key: &str,
) -> Result<Outcome, run::GateError> {
    let started = Instant::now();
    let result = run::run(deps, key).await;
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
