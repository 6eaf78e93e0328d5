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
//! - Buy with Prime catalog feeds, when the API is configured: SQS messages
//!   for `products/` drops (a merchant's product export: its feed files are
//!   built, then the next file waiting is submitted) and the schedule
//!   `{"mode":"bwp-submit"}` (the next file waiting is submitted). The
//!   submission lives here rather than in a function of its own: same
//!   triggers (an S3 drop and a schedule), same queue, state and
//!   compare-and-swap machinery, and one deployable less to build; the
//!   pass is [`catalog_aws::bwp_pass`].
//!
//! This crate only routes: [`handle`] turns each trigger into a
//! [`Trigger`] for the build pass, [`catalog_aws::build_pass`], which
//! `catalogctl` runs too. It takes its dependencies as arguments so tests
//! call it directly with real event JSON; `main.rs` only wires the clients.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::{Settings, Trigger, build_and_report};
use catalog_aws::bwp_pass::{FeedDeps, FeedTrigger, PRODUCTS_PREFIX, ProductsRef, submit_pass};
use catalog_aws::events::{BuilderEvent, Mode, S3Notification, for_each_message};
use catalog_aws::state_store::ExportRef;
use catalog_aws::store::ObjectStore;
use catalog_core::outbox::ETag;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use time::OffsetDateTime;

/// The prefix of the work bucket where providers drop exports.
pub const SOURCE_PREFIX: &str = "source/";

/// What the handler works with.
#[derive(Debug, Clone)]
pub struct Deps<S> {
    /// The work bucket.
    pub store: S,
    /// What a build needs from the configuration.
    pub settings: Settings,
    /// Where refusals and rejected exports are told.
    pub alerts: Alerts,
    /// Buy with Prime catalog feeds: `None` when the API is not configured.
    pub feeds: Option<FeedDeps>,
}

fn feeds_on<S>(deps: &Deps<S>) -> Result<&FeedDeps, Error> {
    deps.feeds.as_ref().ok_or_else(|| {
        "Buy with Prime feeds are off: set BWP_API_SECRET_ARN and fill in the secret (the stack's BwpApiSecret: clientId, clientSecret, targetId) to submit product exports".into()
    })
}

/// Runs the feed submission pass for `trigger`.
async fn submit<S: ObjectStore + Clone>(
    deps: &Deps<S>,
    trigger: FeedTrigger,
) -> Result<Value, Error> {
    let feeds = feeds_on(deps)?;
    let report = submit_pass(
        &deps.store,
        &feeds.api,
        &deps.alerts,
        &feeds.settings,
        trigger,
        OffsetDateTime::now_utc().unix_timestamp(),
    )
    .await?;
    tracing::info!(submission = ?report.submission, "feed submission pass done");
    Ok(serde_json::to_value(report)?)
}

/// The Lambda entry point: an SQS batch or a schedule input.
pub async fn handle<S: ObjectStore + Clone>(
    event: LambdaEvent<Value>,
    deps: &Deps<S>,
) -> Result<Value, Error> {
    let payload: BuilderEvent = serde_json::from_value(event.payload)?;
    match payload {
        BuilderEvent::Sqs(batch) => Ok(serde_json::to_value(handle_batch(batch, deps).await)?),
        BuilderEvent::Schedule(schedule) if schedule.mode == Mode::BwpSubmit => {
            if deps.feeds.is_none() {
                // A schedule with feeds off is not a failure to alarm on.
                tracing::info!("Buy with Prime feeds are off: nothing to submit");
                return Ok(serde_json::json!({"submission": {"status": "off"}}));
            }
            submit(deps, FeedTrigger::Schedule).await
        }
        BuilderEvent::Schedule(schedule) => {
            let trigger = Trigger::Schedule {
                full: schedule.mode == Mode::Full,
                time: OffsetDateTime::now_utc().unix_timestamp(),
            };
            let report =
                build_and_report(&deps.store, &deps.settings, &deps.alerts, trigger).await?;
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
        if object.key.starts_with(PRODUCTS_PREFIX) {
            let Some(etag) = object.etag.clone() else {
                return Err(format!("the notification for {} carries no ETag", object.key).into());
            };
            let export = ProductsRef {
                key: object.key.clone(),
                etag,
                dropped_ms: object.event_time_ms.unwrap_or(0),
            };
            submit(deps, FeedTrigger::Products(export)).await?;
            continue;
        }
        if !object.key.starts_with(SOURCE_PREFIX) {
            tracing::info!(key = %object.key, "not an export drop; ignored");
            continue;
        }
        let Some(etag) = object.etag.clone() else {
            return Err(format!("the notification for {} carries no ETag", object.key).into());
        };
        // Exports are ordered by the notification's time; without one, the
        // build pass falls back on the object's LastModified.
        let trigger = Trigger::Export {
            export: ExportRef {
                key: object.key.clone(),
                etag: ETag::new(etag),
                dropped_ms: object.event_time_ms.unwrap_or(0),
            },
            time: OffsetDateTime::now_utc().unix_timestamp(),
        };
        build_and_report(&deps.store, &deps.settings, &deps.alerts, trigger).await?;
    }
    Ok(())
}
