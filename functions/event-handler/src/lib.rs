//! The event handler: Buy with Prime `BUYABILITY_CHANGED` and
//! `INVENTORY_CHANGED` events, from two doors, into one pass.
//!
//! - `event-processor` (SQS, fed by an EventBridge rule on the partner
//!   event bus and by the webhook): [`handle_sqs`] runs each record through
//!   [`catalog_aws::event_pass`] and reports only the failed records.
//! - `event-webhook` (a Lambda function URL, auth NONE: the function
//!   authenticates): [`handle_url`] turns the request into a
//!   [`catalog_aws::webhook::WebhookRequest`] for [`catalog_aws::webhook`],
//!   which serves our OAuth token endpoint and enqueues events.
//!
//! This crate only routes; handlers take their dependencies as arguments
//! so tests call them directly with real event JSON.

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use catalog_aws::alerts::Alerts;
use catalog_aws::event_pass::{Downstream, EventDeps, ProductApi, process_batch};
use catalog_aws::store::ObjectStore;
use catalog_aws::webhook::{MAX_BODY, WebhookDeps, WebhookRequest, handle};
use lambda_runtime::{Error, LambdaEvent};

/// The name on the processor's metrics.
pub const PROCESSOR: &str = "event-processor";

/// What the processor works with.
#[derive(Debug)]
pub struct ProcessorDeps<S, A> {
    /// The work bucket.
    pub store: S,
    /// The Buy with Prime API.
    pub api: A,
    /// The product-updates queue.
    pub downstream: Downstream,
    /// The alerts queue.
    pub alerts: Alerts,
}

/// The SQS entry point: one batch, the failed records reported.
pub async fn handle_sqs<S: ObjectStore, A: ProductApi>(
    event: LambdaEvent<SqsEvent>,
    deps: &ProcessorDeps<S, A>,
) -> Result<SqsBatchResponse, Error> {
    let pass = EventDeps {
        store: &deps.store,
        api: Some(&deps.api),
        downstream: &deps.downstream,
        alerts: &deps.alerts,
    };
    let (response, counts) = process_batch(&event.payload, &pass).await;
    counts.emf(PROCESSOR).emit();
    Ok(response)
}

/// The function URL entry point.
pub async fn handle_url(
    event: LambdaEvent<LambdaFunctionUrlRequest>,
    deps: &WebhookDeps,
) -> Result<LambdaFunctionUrlResponse, Error> {
    let request = webhook_request(event.payload);
    let answer = handle(&request, deps).await;
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(answer.status);
    response.headers = headers;
    response.body = Some(answer.body);
    Ok(response)
}

/// The parts of a function URL request the webhook reads; a body over the
/// limit is dropped before it is decoded.
pub fn webhook_request(request: LambdaFunctionUrlRequest) -> WebhookRequest {
    let authorization = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = request.body.unwrap_or_default();
    let body = if request.is_base64_encoded {
        // Base64 is 4 characters per 3 bytes.
        if raw.len() / 4 * 3 > MAX_BODY + 3 {
            None
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .ok()
                .or(Some(Vec::new()))
        }
    } else if raw.len() > MAX_BODY {
        None
    } else {
        Some(raw.into_bytes())
    };
    WebhookRequest {
        method: request.request_context.http.method.unwrap_or_default(),
        path: request.raw_path.unwrap_or_else(|| "/".to_owned()),
        authorization,
        body,
    }
}
