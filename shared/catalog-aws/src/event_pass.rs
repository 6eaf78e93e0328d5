//! The event pass: one Buy with Prime event (an SQS message body from
//! EventBridge or from the webhook) → the product's live status → one
//! downstream message. The SQS function and `catalogctl event` both run it.
//!
//! Steps, each a function below:
//! 1. [`parse`]: `catalog_core::bwp_event`. Unknown types and malformed
//!    bodies are acknowledged and counted (a retry cannot change them).
//! 2. [`already_done`]: a marker under [`SEEN_PREFIX`] (expired by a bucket
//!    lifecycle rule) says the event went all the way through: a repeat.
//! 3. [`resolve`]: ask the API when the event is thin, `data` is empty, or
//!    it is an inventory event. A retryable API failure (throttling, 5xx,
//!    down past the client's deadline) fails the message, so SQS redelivers
//!    it; `InvalidAmazonSkuConfiguration` / `MissingAmazonSkuConfiguration`
//!    are recorded as the item's problem.
//! 4. [`update_status`]: read the status object, decide (pure,
//!    `catalog_core::product_status`), and compare-and-swap it. A lost race
//!    reads again. The status remembers the dedupe keys it applied, so a
//!    redelivery after a crash between the swap and the send changes nothing
//!    and only sends again.
//! 5. [`notify`]: one message on `product-updates` (with the event's key, so
//!    a consumer drops a repeat), an alert when the merchant must act.
//! 6. Write the marker.
//!
//! Guarantee: at most one state change per event; exactly one downstream
//! message, except when the function dies after the state change (or the
//! send) and before the marker: the redelivery sends it again with the same
//! idempotency key. A redelivery so late that 32 newer events went through
//! the same product finds itself stale and sends nothing.

use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::error::DisplayErrorContext;
use bwp_api::{ApiError, ProductIdentifier};
use catalog_core::bwp_event::{Buyability, BwpEvent, Parsed, ProductFacts, parse_event};
use catalog_core::product_status::{
    ApiQuery, Decision, InventoryFacts, ProductNotice, ProductStatus, Quantity, Resolved,
    StatusKey, api_query, decide, notice, status_key,
};
use serde::Serialize;
use thiserror::Error;
use tokio::io::AsyncReadExt;

use crate::alerts::{AlertError, Alerts};
use crate::metrics::{EmfLine, Unit};
use crate::store::{Metadata, ObjectStore, Precondition, StoreError};

/// Where "this event went all the way through" markers live. The template
/// expires them with a lifecycle rule (Amazon redelivers within hours, not weeks).
pub const SEEN_PREFIX: &str = "state/bwp-events/";

/// Compare-and-swap attempts before giving up (the message is retried).
const CAS_ATTEMPTS: usize = 5;

/// The API, narrowed to what the pass asks.
pub trait ProductApi: Send + Sync {
    /// Answers one query.
    fn ask(&self, query: &ApiQuery) -> impl Future<Output = Result<Resolved, ApiError>> + Send;
}

impl ProductApi for bwp_api::Client {
    async fn ask(&self, query: &ApiQuery) -> Result<Resolved, ApiError> {
        match query {
            ApiQuery::ProductById(id) | ApiQuery::ProductByExternalId(id) => {
                let identifier = match query {
                    ApiQuery::ProductById(_) => ProductIdentifier::ProductId(id.clone()),
                    _ => ProductIdentifier::ExternalId(id.clone()),
                };
                let product = self.product(&identifier).await?;
                Ok(Resolved {
                    product: product.map(|p| ProductFacts {
                        external_id: p.external_id,
                        product_id: p.id,
                        sku: p.sku,
                        amazon_sku: p.amazon_sku,
                        buyability: p.buyability.as_deref().map(Buyability::from_status),
                    }),
                    inventory: None,
                })
            }
            ApiQuery::InventoryItem(id) => {
                let item = self.inventory_item(id).await?;
                Ok(Resolved {
                    product: None,
                    inventory: Some(InventoryFacts {
                        quantity: item.and_then(|i| i.buyable_quantity).map(|q| Quantity {
                            unit: q.unit,
                            amount: q.amount,
                        }),
                        problem: None,
                    }),
                })
            }
        }
    }
}

/// Where the normalized messages go.
#[derive(Debug, Clone)]
pub enum Downstream {
    /// Logged only.
    LogOnly,
    /// Kept in memory (the CLI prints them).
    Memory(Arc<Mutex<Vec<ProductNotice>>>),
    /// The `product-updates` SQS queue.
    Queue {
        /// The SQS client.
        client: aws_sdk_sqs::Client,
        /// The queue's URL.
        url: String,
    },
}

impl Downstream {
    /// Sends one notice.
    pub async fn send(&self, notice: &ProductNotice) -> Result<(), EventPassError> {
        let body = serde_json::to_string(notice).unwrap_or_default();
        tracing::info!(notice = %body, "product update");
        match self {
            Downstream::LogOnly => Ok(()),
            Downstream::Memory(sent) => {
                sent.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(notice.clone());
                Ok(())
            }
            Downstream::Queue { client, url } => client
                .send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| EventPassError::Downstream {
                    queue: url.clone(),
                    message: DisplayErrorContext(&e).to_string(),
                }),
        }
    }
}

/// What the pass needs.
#[derive(Debug)]
pub struct EventDeps<'a, S, A> {
    /// The work bucket (`state/products/`, `state/bwp-events/`).
    pub store: &'a S,
    /// The API, when configured (without it, thin events cannot be resolved).
    pub api: Option<&'a A>,
    /// The `product-updates` queue.
    pub downstream: &'a Downstream,
    /// The alerts queue.
    pub alerts: &'a Alerts,
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The status changed and the message went out.
    Applied {
        /// The status after the event.
        status: Box<ProductStatus>,
    },
    /// The status already held this event (a redelivery after a crash): the message went out again.
    Resent {
        /// The status.
        status: Box<ProductStatus>,
    },
    /// The event went through before: nothing done.
    Duplicate,
    /// Older than the stored status: nothing changed, nothing sent.
    Stale {
        /// The status object.
        key: StatusKey,
        /// The stored event's time.
        stored_event_time: String,
    },
    /// A type this code does not handle: acknowledged.
    UnknownType {
        /// The type name.
        event_type: String,
    },
    /// A body that cannot be read, or an event that names nothing: acknowledged, alerted.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// A failure a retry may fix: the message goes back to the queue.
#[derive(Debug, Error)]
pub enum EventPassError {
    /// The API failed in a way a later try may not.
    #[error("the Buy with Prime API failed: {0}")]
    Api(#[from] ApiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored status is not readable JSON.
    #[error("{location}: not a product status: {message}; fix or delete the object")]
    Status {
        /// Where.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Too many concurrent writers of one status.
    #[error("{location}: lost the compare-and-swap {attempts} times in a row")]
    Contention {
        /// Where.
        location: String,
        /// Attempts made.
        attempts: usize,
    },
    /// The downstream queue refused the message.
    #[error("could not send to {queue}: {message}")]
    Downstream {
        /// The queue.
        queue: String,
        /// What SQS said.
        message: String,
    },
    /// The alerts queue refused the alert.
    #[error(transparent)]
    Alert(#[from] AlertError),
}

/// Counts for the run's metrics line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Status changed.
    pub applied: u64,
    /// Sent again after a crash.
    pub resent: u64,
    /// Repeats dropped.
    pub duplicates: u64,
    /// Older than the stored status.
    pub stale: u64,
    /// Unknown types.
    pub unknown_type: u64,
    /// Malformed or unresolvable.
    pub rejected: u64,
    /// Failed (retried by SQS).
    pub failed: u64,
}

impl EventCounts {
    /// Counts one result.
    pub fn add(&mut self, result: &Result<Outcome, EventPassError>) {
        match result {
            Ok(Outcome::Applied { .. }) => self.applied += 1,
            Ok(Outcome::Resent { .. }) => self.resent += 1,
            Ok(Outcome::Duplicate) => self.duplicates += 1,
            Ok(Outcome::Stale { .. }) => self.stale += 1,
            Ok(Outcome::UnknownType { .. }) => self.unknown_type += 1,
            Ok(Outcome::Rejected { .. }) => self.rejected += 1,
            Err(_) => self.failed += 1,
        }
    }

    /// The EMF line (`EventsFailed` is the alarm's metric).
    pub fn emf(&self, function: &str) -> EmfLine {
        EmfLine::new("CatalogRelay", [("Function", function)])
            .metric("EventsApplied", Unit::Count, self.applied)
            .metric("EventsResent", Unit::Count, self.resent)
            .metric("EventsDuplicate", Unit::Count, self.duplicates)
            .metric("EventsStale", Unit::Count, self.stale)
            .metric("EventsUnknownType", Unit::Count, self.unknown_type)
            .metric("EventsRejected", Unit::Count, self.rejected)
            .metric("EventsFailed", Unit::Count, self.failed)
    }
}

/// Runs one event through the pass.
pub async fn process_event<S: ObjectStore, A: ProductApi>(
    body: &[u8],
    deps: &EventDeps<'_, S, A>,
) -> Result<Outcome, EventPassError> {
    let event = match parse(body) {
        Ok(event) => event,
        Err(outcome) => return report_rejection(outcome, deps).await,
    };
    let marker = format!("{SEEN_PREFIX}{}", event.dedupe_key.storage_name());
    if already_done(deps.store, &marker).await? {
        tracing::info!(key = %event.dedupe_key, "a repeat of an event already handled");
        return Ok(Outcome::Duplicate);
    }
    let resolved = match resolve(&event, deps.api).await? {
        Ok(resolved) => resolved,
        Err(reason) => return report_rejection(Outcome::Rejected { reason }, deps).await,
    };
    let key = match status_key(&event, &resolved) {
        Ok(key) => key,
        Err(e) => {
            return report_rejection(
                Outcome::Rejected {
                    reason: e.to_string(),
                },
                deps,
            )
            .await;
        }
    };
    let outcome = update_status(deps.store, &event, &resolved, key).await?;
    match &outcome {
        Outcome::Applied { status } | Outcome::Resent { status } => {
            notify(status, &event, deps).await?;
            mark_done(deps.store, &marker, "sent").await?;
        }
        Outcome::Stale { key, .. } => {
            tracing::info!(key = %event.dedupe_key, status = ?key, "older than the stored status; nothing changed");
            mark_done(deps.store, &marker, "stale").await?;
        }
        _ => {}
    }
    Ok(outcome)
}

/// Step 1: the event, or why it is acknowledged without work.
fn parse(body: &[u8]) -> Result<BwpEvent, Outcome> {
    match parse_event(body) {
        Ok(Parsed::Event(event)) => Ok(*event),
        Ok(Parsed::Unknown { event_type, .. }) => Err(Outcome::UnknownType { event_type }),
        Err(malformed) => Err(Outcome::Rejected {
            reason: malformed.reason,
        }),
    }
}

async fn report_rejection<S, A>(
    outcome: Outcome,
    deps: &EventDeps<'_, S, A>,
) -> Result<Outcome, EventPassError> {
    match &outcome {
        Outcome::UnknownType { event_type } => {
            tracing::info!(
                event_type,
                "an event type this handler does not know; acknowledged"
            );
        }
        Outcome::Rejected { reason } => {
            deps.alerts
                .send(
                    "bwp-event-rejected",
                    &serde_json::json!({ "reason": reason }),
                )
                .await?;
        }
        _ => {}
    }
    Ok(outcome)
}

/// Step 2: whether the event's marker exists.
async fn already_done<S: ObjectStore>(store: &S, marker: &str) -> Result<bool, EventPassError> {
    Ok(store.head(marker).await?.is_some())
}

/// Step 3: the API's answer, `Ok(Err(reason))` when the event cannot be
/// resolved at all (a finding), `Err` when a retry may help.
async fn resolve<A: ProductApi>(
    event: &BwpEvent,
    api: Option<&A>,
) -> Result<Result<Resolved, String>, EventPassError> {
    let query = match api_query(event) {
        Ok(Some(query)) => query,
        Ok(None) => return Ok(Ok(Resolved::default())),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let Some(api) = api else {
        return Ok(Err(format!(
            "event {} needs the Buy with Prime API ({query:?}) and none is configured",
            event.dedupe_key
        )));
    };
    match api.ask(&query).await {
        Ok(resolved) => Ok(Ok(resolved)),
        Err(error) => match error.merchant_problem() {
            Some(problem) => Ok(Ok(Resolved {
                product: None,
                inventory: Some(InventoryFacts {
                    quantity: None,
                    problem: Some(problem.to_owned()),
                }),
            })),
            None if error.is_retryable() || matches!(error, ApiError::Unauthorized { .. }) => {
                Err(error.into())
            }
            None => Ok(Err(format!("the API refused {query:?}: {error}"))),
        },
    }
}

/// Step 4: decide and compare-and-swap, reading again after a lost race.
async fn update_status<S: ObjectStore>(
    store: &S,
    event: &BwpEvent,
    resolved: &Resolved,
    key: StatusKey,
) -> Result<Outcome, EventPassError> {
    let object = key.object_key();
    for _ in 0..CAS_ATTEMPTS {
        let current = read_status(store, &object).await?;
        let precondition = match &current {
            Some((_, etag)) => Precondition::IfMatch(etag.clone()),
            None => Precondition::IfNoneMatch,
        };
        match decide(
            current.as_ref().map(|(s, _)| s),
            event,
            resolved,
            key.clone(),
        ) {
            Decision::Stale { stored_event_time } => {
                return Ok(Outcome::Stale {
                    key,
                    stored_event_time,
                });
            }
            Decision::AlreadyApplied(status) => {
                return Ok(Outcome::Resent {
                    status: Box::new(status),
                });
            }
            Decision::Apply(status) => {
                let body = serde_json::to_vec_pretty(&status).unwrap_or_default();
                match store
                    .put(&object, body, precondition, &Metadata::new())
                    .await
                {
                    Ok(_) => {
                        return Ok(Outcome::Applied {
                            status: Box::new(status),
                        });
                    }
                    Err(StoreError::PreconditionFailed { .. }) => {
                        tracing::info!(object, "status changed meanwhile; reading it again");
                    }
                    Err(other) => return Err(other.into()),
                }
            }
        }
    }
    Err(EventPassError::Contention {
        location: store.location(&object),
        attempts: CAS_ATTEMPTS,
    })
}

/// Reads a status and its ETag; `None` when absent.
pub async fn read_status<S: ObjectStore>(
    store: &S,
    object: &str,
) -> Result<Option<(ProductStatus, String)>, EventPassError> {
    let (info, mut body) = match store.get(object).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes)
        .await
        .map_err(|source| StoreError::Io {
            location: store.location(object),
            source,
        })?;
    let status = serde_json::from_slice(&bytes).map_err(|e| EventPassError::Status {
        location: store.location(object),
        message: e.to_string(),
    })?;
    Ok(Some((status, info.etag)))
}

/// Every stored status, in key order.
pub async fn list_statuses<S: ObjectStore>(
    store: &S,
) -> Result<Vec<ProductStatus>, EventPassError> {
    let mut statuses = Vec::new();
    for info in store
        .list(catalog_core::product_status::STATUS_PREFIX)
        .await?
    {
        if let Some((status, _)) = read_status(store, &info.key).await? {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// Step 5: the downstream message, and an alert when the merchant must act.
async fn notify<S, A>(
    status: &ProductStatus,
    event: &BwpEvent,
    deps: &EventDeps<'_, S, A>,
) -> Result<(), EventPassError> {
    let message = notice(status, event);
    deps.downstream.send(&message).await?;
    if let Some(problem) = &status.problem {
        deps.alerts
            .send(
                "bwp-merchant-action",
                &serde_json::json!({
                    "problem": problem,
                    "statusKey": status.key,
                    "externalId": status.external_id,
                    "sku": status.sku,
                    "inventoryItemId": status.inventory_item_id,
                    "idempotencyKey": event.dedupe_key.value,
                    "fix": "correct the item's Amazon SKU in Buy with Prime",
                }),
            )
            .await?;
    }
    Ok(())
}

/// Step 6: the marker (a second write of it is fine).
async fn mark_done<S: ObjectStore>(
    store: &S,
    marker: &str,
    how: &str,
) -> Result<(), EventPassError> {
    let body = serde_json::json!({ "done": how }).to_string().into_bytes();
    match store
        .put(marker, body, Precondition::IfNoneMatch, &Metadata::new())
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Runs each SQS record through the pass; the failed ones are reported as
/// batch item failures (only they come back, and in the end go to the DLQ).
pub async fn process_batch<S: ObjectStore, A: ProductApi>(
    batch: &SqsEvent,
    deps: &EventDeps<'_, S, A>,
) -> (SqsBatchResponse, EventCounts) {
    let mut response = SqsBatchResponse::default();
    let mut counts = EventCounts::default();
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or("");
        let result = process_event(body.as_bytes(), deps).await;
        counts.add(&result);
        match result {
            Ok(outcome) => {
                tracing::info!(message_id = %id, outcome = %serde_json::to_string(&outcome).unwrap_or_default(), "event handled");
            }
            Err(error) => {
                tracing::error!(message_id = %id, %error, "event failed; SQS will deliver it again");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    (response, counts)
}
