//! The event handler's configuration (both binaries), parsed then
//! validated at cold start with every problem reported at once, and its
//! bootstrap: logging, the clients, and the secrets read once.
//!
//! | variable | processor | webhook | default | rule |
//! |---|---|---|---|---|
//! | `WORK_BUCKET` | yes | | | an S3 bucket name |
//! | `PRODUCT_UPDATES_QUEUE_URL` | yes | | | an `http(s)://` URL |
//! | `ALERTS_QUEUE_URL` | no | | | an `http(s)://` URL |
//! | `BWP_API_SECRET_ARN` | yes | | | the secret `{"clientId","clientSecret","targetId"}` (id or ARN) |
//! | `BWP_API_URL` | no | | `https://api.buywithprime.amazon.com` | an `http(s)://` URL |
//! | `BWP_API_VERSION` | no | | `2024-11-01` | `YYYY-MM-DD` |
//! | `BWP_API_DEADLINE_SECONDS` | no | | `20` | 1..=300, under the function's timeout |
//! | `EVENTS_QUEUE_URL` | | yes | | an `http(s)://` URL |
//! | `WEBHOOK_SECRET_ARN` | | yes | | the secret `{"clientId","clientSecret","tokenKey","basicUsername"?,"basicPassword"?}` |
//! | `WEBHOOK_TOKEN_TTL_SECONDS` | | no | `300` | 60..=3600 |
//! | `AWS_ENDPOINT_URL` | no | no | | an `http(s)://` URL (an emulator) |
//!
//! The catalog builder and the report parser read the `BWP_API_*` variables
//! too, through [`feed_api_config`], for the catalog-feed passes: there
//! `BWP_API_SECRET_ARN` is optional (unset: Buy with Prime feeds are off),
//! and the other three follow the same rules.

use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use serde::Deserialize;

use crate::alerts::Alerts;
use crate::config::check_bucket_name;
use crate::event_pass::Downstream;
use crate::webhook::{EventQueue, WebhookDeps, WebhookSecret};

/// Which binary reads the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The SQS processor.
    Processor,
    /// The webhook.
    Webhook,
}

/// The processor's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// The work bucket.
    pub work_bucket: String,
    /// The product-updates queue.
    pub updates_queue_url: String,
    /// The alerts queue.
    pub alerts_queue_url: Option<String>,
    /// The API credentials' secret.
    pub api_secret_id: String,
    /// The API's base URL.
    pub api_url: String,
    /// `x-api-version`.
    pub api_version: String,
    /// The API call deadline.
    pub api_deadline: Duration,
}

/// The webhook's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The events queue.
    pub events_queue_url: String,
    /// The webhook credentials' secret.
    pub secret_id: String,
    /// Token lifetime.
    pub token_ttl: u64,
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventConfigErrors(pub Vec<String>);

impl fmt::Display for EventConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for EventConfigErrors {}

struct Reader<F> {
    get: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str, rule: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems
                .push(format!("{name}: missing; expected {rule}"));
            String::new()
        })
    }

    fn url(&mut self, name: &str, value: Option<String>) -> Option<String> {
        let value = value?;
        if value.starts_with("https://") || value.starts_with("http://") {
            Some(value.trim_end_matches('/').to_owned())
        } else {
            self.problems.push(format!(
                "{name}: {value:?} is not an http:// or https:// URL"
            ));
            None
        }
    }

    fn number(&mut self, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
        match self.optional(name) {
            None => default,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    self.problems.push(format!(
                        "{name}: {text:?} is not a whole number in {}..={}",
                        range.start(),
                        range.end()
                    ));
                    default
                }
            },
        }
    }
}

/// Reads the processor's settings from `get` (the environment, or a map in tests).
pub fn processor_config(
    get: impl Fn(&str) -> Option<String>,
) -> Result<ProcessorConfig, EventConfigErrors> {
    let mut r = Reader {
        get,
        problems: Vec::new(),
    };
    let work_bucket = r.required("WORK_BUCKET", "an S3 bucket name");
    if !work_bucket.is_empty()
        && let Err(problem) = check_bucket_name(&work_bucket)
    {
        r.problems.push(format!("WORK_BUCKET: {problem}"));
    }
    let updates = r.required("PRODUCT_UPDATES_QUEUE_URL", "the product-updates queue URL");
    let updates_queue_url = r
        .url("PRODUCT_UPDATES_QUEUE_URL", Some(updates))
        .unwrap_or_default();
    let alerts = r.optional("ALERTS_QUEUE_URL");
    let alerts_queue_url = r.url("ALERTS_QUEUE_URL", alerts);
    let api_secret_id = r.required("BWP_API_SECRET_ARN", "the API credentials secret");
    let (api_url, api_version, deadline) = api_settings(&mut r);
    let endpoint = r.optional("AWS_ENDPOINT_URL");
    r.url("AWS_ENDPOINT_URL", endpoint);
    if !r.problems.is_empty() {
        return Err(EventConfigErrors(r.problems));
    }
    Ok(ProcessorConfig {
        work_bucket,
        updates_queue_url,
        alerts_queue_url,
        api_secret_id,
        api_url,
        api_version,
        api_deadline: Duration::from_secs(deadline),
    })
}

/// `BWP_API_URL`, `BWP_API_VERSION`, `BWP_API_DEADLINE_SECONDS`, checked.
fn api_settings<F: Fn(&str) -> Option<String>>(r: &mut Reader<F>) -> (String, String, u64) {
    let api_url = r
        .optional("BWP_API_URL")
        .or_else(|| Some("https://api.buywithprime.amazon.com".to_owned()));
    let api_url = r.url("BWP_API_URL", api_url).unwrap_or_default();
    let api_version = r
        .optional("BWP_API_VERSION")
        .unwrap_or_else(|| bwp_api::DEFAULT_API_VERSION.to_owned());
    let well_formed = api_version.len() == 10
        && api_version.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        r.problems.push(format!(
            "BWP_API_VERSION: {api_version:?} is not YYYY-MM-DD"
        ));
    }
    let deadline = r.number("BWP_API_DEADLINE_SECONDS", 20, 1..=300);
    (api_url, api_version, deadline)
}

/// The catalog-feed passes' API settings (builder and report parser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedApiConfig {
    /// The API credentials' secret.
    pub api_secret_id: String,
    /// The API's base URL.
    pub api_url: String,
    /// `x-api-version`.
    pub api_version: String,
    /// The API call deadline.
    pub api_deadline: Duration,
}

/// Reads the feed passes' API settings: `None` when `BWP_API_SECRET_ARN`
/// is unset (Buy with Prime feeds off).
pub fn feed_api_config(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<FeedApiConfig>, EventConfigErrors> {
    let mut r = Reader {
        get,
        problems: Vec::new(),
    };
    let secret = r.optional("BWP_API_SECRET_ARN");
    let (api_url, api_version, deadline) = api_settings(&mut r);
    if !r.problems.is_empty() {
        return Err(EventConfigErrors(r.problems));
    }
    Ok(secret.map(|api_secret_id| FeedApiConfig {
        api_secret_id,
        api_url,
        api_version,
        api_deadline: Duration::from_secs(deadline),
    }))
}

/// The API client for the feed passes: the secret read once. `None` while
/// the secret still holds the stack's placeholder (an empty `clientId`):
/// feeds stay off rather than every media build failing its cold start.
pub async fn feed_api_client(
    sdk: &SdkConfig,
    config: &FeedApiConfig,
) -> Result<Option<bwp_api::Client>, Box<dyn std::error::Error + Send + Sync>> {
    let secret: ApiSecret = read_secret(
        &aws_sdk_secretsmanager::Client::new(sdk),
        &config.api_secret_id,
    )
    .await?;
    if secret.client_id.trim().is_empty() {
        tracing::warn!(
            secret = %config.api_secret_id,
            "the Buy with Prime API secret has no clientId yet: catalog feeds are off until it is set"
        );
        return Ok(None);
    }
    let mut api_config = bwp_api::ClientConfig::new(
        config.api_url.clone(),
        secret.client_id,
        secret.client_secret,
        secret.target_id,
    );
    api_config.api_version = config.api_version.clone();
    api_config.deadline = config.api_deadline;
    Ok(Some(bwp_api::Client::new(api_config)?))
}

/// Reads the webhook's settings.
pub fn webhook_config(
    get: impl Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, EventConfigErrors> {
    let mut r = Reader {
        get,
        problems: Vec::new(),
    };
    let queue = r.required("EVENTS_QUEUE_URL", "the events queue URL");
    let events_queue_url = r.url("EVENTS_QUEUE_URL", Some(queue)).unwrap_or_default();
    let secret_id = r.required("WEBHOOK_SECRET_ARN", "the webhook credentials secret");
    let token_ttl = r.number("WEBHOOK_TOKEN_TTL_SECONDS", 300, 60..=3600);
    let endpoint = r.optional("AWS_ENDPOINT_URL");
    r.url("AWS_ENDPOINT_URL", endpoint);
    if !r.problems.is_empty() {
        return Err(EventConfigErrors(r.problems));
    }
    Ok(WebhookConfig {
        events_queue_url,
        secret_id,
        token_ttl,
    })
}

/// The API credentials secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSecret {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// TargetId.
    pub target_id: String,
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSecret")
            .field("client_id", &self.client_id)
            .field("target_id", &self.target_id)
            .finish_non_exhaustive()
    }
}

/// Reads a JSON secret (once per cold start).
pub async fn read_secret<T: for<'de> Deserialize<'de>>(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<T, String> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "secret {id}: GetSecretValue failed: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| format!("secret {id}: no SecretString"))?;
    // Never echo the secret's text in the error.
    serde_json::from_str(text).map_err(|e| {
        format!(
            "secret {id}: not the expected JSON object (line {}, column {}, {:?})",
            e.line(),
            e.column(),
            e.classify()
        )
    })
}

/// What the processor builds once per cold start.
#[derive(Debug)]
pub struct ProcessorBoot {
    /// The work bucket.
    pub store: crate::s3::S3Store,
    /// The API client.
    pub api: bwp_api::Client,
    /// product-updates.
    pub downstream: Downstream,
    /// Alerts.
    pub alerts: Alerts,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn sdk() -> SdkConfig {
    crate::aws::sdk_config(env("AWS_ENDPOINT_URL").as_deref()).await
}

/// Logging, configuration, clients and the API secret, for the processor.
pub async fn start_processor() -> Result<ProcessorBoot, Box<dyn std::error::Error + Send + Sync>> {
    crate::logging::init_json_logging();
    let config = processor_config(env).inspect_err(|errors| {
        tracing::error!(%errors, "the function's configuration is invalid");
    })?;
    let sdk = sdk().await;
    let path_style = env("AWS_ENDPOINT_URL").is_some();
    let secret: ApiSecret = read_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &config.api_secret_id,
    )
    .await?;
    let mut api_config = bwp_api::ClientConfig::new(
        config.api_url.clone(),
        secret.client_id,
        secret.client_secret,
        secret.target_id,
    );
    api_config.api_version = config.api_version.clone();
    api_config.deadline = config.api_deadline;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    Ok(ProcessorBoot {
        store: crate::s3::S3Store::new(
            crate::aws::s3_client(&sdk, path_style),
            config.work_bucket.clone(),
            tokio::runtime::Handle::current(),
        ),
        api: bwp_api::Client::new(api_config)?,
        downstream: Downstream::Queue {
            client: sqs.clone(),
            url: config.updates_queue_url.clone(),
        },
        alerts: match &config.alerts_queue_url {
            Some(url) => Alerts::Queue {
                client: sqs,
                url: url.clone(),
            },
            None => Alerts::LogOnly,
        },
    })
}

/// Logging, configuration, the SQS client and the webhook secret.
pub async fn start_webhook() -> Result<WebhookDeps, Box<dyn std::error::Error + Send + Sync>> {
    crate::logging::init_json_logging();
    let config = webhook_config(env).inspect_err(|errors| {
        tracing::error!(%errors, "the function's configuration is invalid");
    })?;
    let sdk = sdk().await;
    let secret: WebhookSecret = read_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &config.secret_id,
    )
    .await?;
    secret
        .check()
        .map_err(|problem| format!("secret {}: {problem}", config.secret_id))?;
    Ok(WebhookDeps {
        secret,
        token_ttl: config.token_ttl,
        queue: EventQueue::Queue {
            client: aws_sdk_sqs::Client::new(&sdk),
            url: config.events_queue_url,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = processor_config(vars(&[
            ("BWP_API_VERSION", "yesterday"),
            ("BWP_API_DEADLINE_SECONDS", "0"),
        ]))
        .unwrap_err();
        let text = errors.to_string();
        for name in [
            "WORK_BUCKET",
            "PRODUCT_UPDATES_QUEUE_URL",
            "BWP_API_SECRET_ARN",
            "BWP_API_VERSION",
            "BWP_API_DEADLINE_SECONDS",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }

    #[test]
    fn defaults_apply() {
        let config = processor_config(vars(&[
            ("WORK_BUCKET", "work-bucket"),
            ("PRODUCT_UPDATES_QUEUE_URL", "http://q/updates"),
            ("BWP_API_SECRET_ARN", "bwp-api"),
        ]))
        .unwrap();
        assert_eq!(config.api_version, "2024-11-01");
        assert_eq!(config.api_url, "https://api.buywithprime.amazon.com");
        assert_eq!(config.api_deadline, Duration::from_secs(20));
        let webhook = webhook_config(vars(&[
            ("EVENTS_QUEUE_URL", "http://q/events"),
            ("WEBHOOK_SECRET_ARN", "s"),
        ]))
        .unwrap();
        assert_eq!(webhook.token_ttl, 300);
    }

    #[test]
    fn feed_api_settings_are_optional_but_checked() {
        assert_eq!(feed_api_config(vars(&[])).unwrap(), None);
        let on = feed_api_config(vars(&[("BWP_API_SECRET_ARN", "bwp-api")]))
            .unwrap()
            .unwrap();
        assert_eq!(on.api_url, "https://api.buywithprime.amazon.com");
        let bad = feed_api_config(vars(&[("BWP_API_URL", "ftp://x")])).unwrap_err();
        assert!(bad.to_string().contains("BWP_API_URL"));
    }
}
