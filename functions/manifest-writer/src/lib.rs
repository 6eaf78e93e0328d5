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
//! This crate only routes: each created key goes to the gate pass,
//! [`catalog_aws::gate_pass`], which `catalogctl demo` runs too. [`handle`]
//! takes its dependencies as arguments so tests call it directly with real
//! event JSON; `main.rs` only wires the clients.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use catalog_aws::events::{S3Notification, for_each_message};
use catalog_aws::gate_pass::gate_and_report;
use catalog_aws::store::ObjectStore;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub use catalog_aws::gate_pass::{Deps, Outcome, Settings};

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
