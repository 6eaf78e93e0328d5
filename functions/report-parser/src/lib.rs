//! The report parser: Amazon's ingestion reports read back, and the
//! submission cadence watched.
//!
//! Triggers, all at-least-once:
//! - EventBridge schedule `{"task":"poll"}` (every 15 minutes): archive new
//!   reports from Amazon's `<provider>/<env>/reports/`.
//! - SQS messages carrying the work bucket's notifications for
//!   `reports/staging/` and `reports/prod/`: parse each archived report once
//!   (a report dropped there by hand too). Failed messages are reported in
//!   the `SqsBatchResponse`, so only they come back, then go to the DLQ.
//! - EventBridge schedule `{"task":"cadence"}` (daily): the cadence check.
//! - EventBridge schedule `{"task":"bwp-results"}` (every 15 minutes), when
//!   the Buy with Prime API is configured: every submitted catalog feed
//!   polled, each result fetched, archived under `bwp/results/`, parsed and
//!   summarised once ([`catalog_aws::bwp_results`]).
//!
//! This crate only routes: the work is [`catalog_aws::report_pass`], which
//! `catalogctl` runs too. [`handle`] takes its dependencies (and the clock)
//! as arguments, so tests call it directly with real event JSON.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use catalog_aws::alerts::Alerts;
use catalog_aws::bwp_pass::FeedDeps;
use catalog_aws::bwp_results::results_pass;
use catalog_aws::events::{S3Notification, for_each_message};
use catalog_aws::report_pass::{ReportSettings, check_cadence, parse_archived, poll};
use catalog_aws::store::ObjectStore;
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// What the handler works with.
#[derive(Debug, Clone)]
pub struct Deps<S> {
    /// The work bucket.
    pub work: S,
    /// Amazon's bucket, through the assumed role.
    pub destination: S,
    /// Where alerts go.
    pub alerts: Alerts,
    /// The passes' settings.
    pub settings: ReportSettings,
    /// The clock (Unix seconds): `now_utc` in Lambda, fixed in tests.
    pub clock: fn() -> i64,
    /// Buy with Prime catalog feeds: `None` when the API is not configured.
    pub feeds: Option<FeedDeps>,
}

/// The wall clock.
pub fn now_utc() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A schedule's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Archive new reports.
    Poll,
    /// Check the cadence.
    Cadence,
    /// Poll the Buy with Prime catalog feeds and read their results.
    #[serde(rename = "bwp-results")]
    BwpResults,
}

#[derive(Debug, Deserialize)]
struct ScheduleInput {
    task: Task,
}

/// The Lambda entry point: an SQS batch or a schedule input.
pub async fn handle<S: ObjectStore + Clone>(
    event: LambdaEvent<Value>,
    deps: &Deps<S>,
) -> Result<Value, Error> {
    let payload = event.payload;
    if payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(handle_batch(batch, deps).await)?);
    }
    let input: ScheduleInput = serde_json::from_value(payload).map_err(|e| {
        format!("expected an SQS batch (`Records`) or a schedule input {{\"task\":\"poll\"|\"cadence\"|\"bwp-results\"}}: {e}")
    })?;
    match input.task {
        Task::Poll => {
            let report = poll(&deps.destination, &deps.work, &deps.settings).await?;
            tracing::info!(
                listed = report.listed,
                archived = report.archived.len(),
                already = report.already,
                "poll done"
            );
            Ok(serde_json::to_value(report)?)
        }
        Task::Cadence => {
            let envs = check_cadence(
                &deps.work,
                &deps.alerts,
                &deps.settings.cadence,
                (deps.clock)(),
            )
            .await?;
            Ok(serde_json::to_value(envs)?)
        }
        Task::BwpResults => {
            let Some(feeds) = deps.feeds.as_ref() else {
                // A schedule with feeds off is not a failure to alarm on.
                tracing::info!(
                    "Buy with Prime feeds are off (BWP_API_SECRET_ARN unset or the secret not filled in): no feed results to read"
                );
                return Ok(serde_json::json!({"feeds": [], "off": true}));
            };
            let report = results_pass(
                &deps.work,
                &feeds.api,
                &deps.alerts,
                &feeds.settings,
                (deps.clock)(),
            )
            .await?;
            tracing::info!(feeds = report.feeds.len(), "feed results pass done");
            Ok(serde_json::to_value(report)?)
        }
    }
}

/// Parses each notified report; returns the ids of the messages to retry.
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
        let outcome = parse_archived(
            &deps.work,
            &deps.alerts,
            &object.key,
            &deps.settings,
            (deps.clock)(),
        )
        .await?;
        tracing::info!(key = %object.key, ?outcome, "report notification handled");
    }
    Ok(())
}
