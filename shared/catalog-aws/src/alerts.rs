//! Alerts: one JSON message per event a person should look at (a catalog
//! quarantined by the gate), sent to the alerts queue.
//!
//! The queue is the durable record; CloudWatch alarms on its depth page
//! someone. Without a queue configured (local runs), alerts are only logged.

use aws_sdk_sqs::error::DisplayErrorContext;
use serde::Serialize;
use thiserror::Error;

/// Where alerts go.
#[derive(Debug, Clone)]
pub enum Alerts {
    /// Logged only.
    LogOnly,
    /// Sent to an SQS queue (and logged).
    Queue {
        /// The SQS client.
        client: aws_sdk_sqs::Client,
        /// The queue's URL.
        url: String,
    },
}

/// Sending an alert failed; the caller retries the whole message.
#[derive(Debug, Error)]
#[error("could not send the alert to {queue}: {message}")]
pub struct AlertError {
    /// The queue URL.
    pub queue: String,
    /// What SQS said.
    pub message: String,
}

impl Alerts {
    /// Sends one alert (a JSON object) and logs it.
    pub async fn send<T: Serialize>(&self, kind: &str, alert: &T) -> Result<(), AlertError> {
        let body = serde_json::json!({ "alert": kind, "detail": alert }).to_string();
        tracing::warn!(alert = kind, detail = %body, "alert");
        let Alerts::Queue { client, url } = self else {
            return Ok(());
        };
        client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|error| AlertError {
                queue: url.clone(),
                message: DisplayErrorContext(&error).to_string(),
            })?;
        Ok(())
    }
}
