//! A small client for the Buy with Prime GraphQL API (DOMAIN.md B4).
//!
//! - `POST {base}/graphql` with `Authorization: Bearer <token>`,
//!   `x-api-version` (default [`DEFAULT_API_VERSION`]) and `x-api-target-id`.
//! - Tokens come from `POST {base}/token` (OAuth 2.0 client credentials,
//!   form-encoded, the client id and secret in HTTP Basic). They live 15
//!   minutes and asking for many is throttled, so one token is cached until
//!   [`ClientConfig::refresh_margin`] before it expires, and concurrent calls
//!   share it: the cache is behind an async mutex held across the refresh, so
//!   there is at most one refresh in flight and the others wait for its token.
//! - Errors: `errors[].extensions.classification {type, code, errorType,
//!   errorCode}` becomes an [`ApiError`] variant. Throttling, 5xx and
//!   broken connections are retried with exponential backoff and full jitter
//!   until [`ClientConfig::deadline`] (one total budget per call, token fetch
//!   included); then [`ApiError::DeadlineExceeded`] carries the last error.
//! - The base URL is configuration: tests point it at `bwp-fake`.
//!
//! The typed queries: the event handler's ([`Client::product`],
//! [`Client::inventory_item`], [`Client::products_page`]) and, in [`feeds`],
//! the catalog-feed operations ([`Client::create_upload_link`],
//! [`Client::upload`], [`Client::create_catalog_feed`],
//! [`Client::catalog_feed`], [`Client::download_link`],
//! [`Client::download`]), whose GraphQL texts and inferred shapes are all in
//! that module.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bwp_api::ApiError> {
//! use bwp_api::{Client, ClientConfig, ProductIdentifier};
//! let client = Client::new(ClientConfig::new(
//!     "https://api.buywithprime.amazon.com", "client-id", "secret", "target-id"))?;
//! let product = client.product(&ProductIdentifier::ExternalId("EXT-1".into())).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub mod feeds;

pub use feeds::{CatalogFeed, FeedStatus, Signal, UploadLink};

/// The newest API version seen (DOMAIN.md B4).
pub const DEFAULT_API_VERSION: &str = "2024-11-01";

/// How the client talks to the API.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://api.buywithprime.amazon.com`, or a fake's URL; no trailing slash needed.
    pub base_url: String,
    /// The OAuth client id of the downloaded API credentials.
    pub client_id: String,
    /// Its secret (never printed).
    pub client_secret: String,
    /// The credentials' TargetId (`x-api-target-id`).
    pub target_id: String,
    /// `x-api-version`.
    pub api_version: String,
    /// The total time one call may take, retries and token fetch included.
    pub deadline: Duration,
    /// The first backoff; each retry doubles it, up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// A token is refreshed this long before it expires.
    pub refresh_margin: Duration,
    /// The timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with the defaults: API version 2024-11-01, a 20 s
    /// deadline, backoff from 200 ms to 5 s, refresh 60 s before expiry.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        target_id: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            target_id: target_id.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            deadline: Duration::from_secs(20),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            refresh_margin: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("target_id", &self.target_id)
            .field("api_version", &self.api_version)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The error envelope's classification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// e.g. `ThrottlingError`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// e.g. `429` (a number or a string).
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: Option<String>,
    /// e.g. `ValidationException`.
    #[serde(default)]
    pub error_type: Option<String>,
    /// e.g. `InvalidAmazonSkuConfiguration`.
    #[serde(default)]
    pub error_code: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// What can go wrong calling the API.
#[derive(Debug, Clone, Error)]
pub enum ApiError {
    /// Throttled (HTTP 429 or `ThrottlingError`): retried.
    #[error("Buy with Prime throttled the call: {message}")]
    Throttled {
        /// What the API said.
        message: String,
    },
    /// A 5xx: retried.
    #[error("Buy with Prime failed with HTTP {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// What the API said.
        message: String,
    },
    /// The connection could not be opened: nothing was sent; retried.
    #[error("could not reach Buy with Prime at {url}: {message}")]
    Transport {
        /// The URL called.
        url: String,
        /// What failed.
        message: String,
    },
    /// The request was sent but no answer came (a timeout, a connection
    /// cut): it may have been carried out. Retried for queries, never for
    /// `createCatalogFeed`.
    #[error("no answer from {url} (the request may have been carried out): {message}")]
    NoAnswer {
        /// The URL called.
        url: String,
        /// What failed.
        message: String,
    },
    /// `createCatalogFeed` refused because a catalog feed is still being
    /// processed (ThrottlingError / 429, "Only one ongoing Catalog Feed is
    /// supported at a time"): not retried; submit the file on a later run.
    #[error(
        "Buy with Prime processes one catalog feed at a time and one is ongoing: {message}; the file waits for the next run"
    )]
    FeedOngoing {
        /// What the API said.
        message: String,
    },
    /// A presigned upload or download URL refused the request: S3's
    /// `SignatureDoesNotMatch` (the Content-Length is not the size the link
    /// was made for) or `AccessDenied` (the link expired). Ask for a new link.
    #[error(
        "the {operation} link {url} was refused with HTTP {status} {code}: {message}; ask for a new link"
    )]
    LinkRefused {
        /// `upload` or `download`.
        operation: &'static str,
        /// The URL without its signature.
        url: String,
        /// The HTTP status.
        status: u16,
        /// S3's error code (`SignatureDoesNotMatch`, `AccessDenied`, …).
        code: String,
        /// The start of the answer.
        message: String,
    },
    /// The credentials were refused (also after a fresh token): check the
    /// client id, secret and target id.
    #[error("Buy with Prime refused the credentials: {message}; check the API credentials secret")]
    Unauthorized {
        /// What the API said.
        message: String,
    },
    /// The item's Amazon SKU is not set up right: the merchant must fix it.
    #[error("InvalidAmazonSkuConfiguration: {message}")]
    InvalidAmazonSkuConfiguration {
        /// What the API said.
        message: String,
    },
    /// The item has no Amazon SKU: the merchant must add it.
    #[error("MissingAmazonSkuConfiguration: {message}")]
    MissingAmazonSkuConfiguration {
        /// What the API said.
        message: String,
    },
    /// The request was refused as invalid (ValidationException / 400).
    #[error("Buy with Prime refused the request as invalid: {message}")]
    Validation {
        /// What the API said.
        message: String,
    },
    /// Another classified GraphQL error.
    #[error("Buy with Prime answered an error ({classification:?}): {message}")]
    Graphql {
        /// The classification, as sent.
        classification: Classification,
        /// The message.
        message: String,
    },
    /// The answer could not be read.
    #[error("could not read Buy with Prime's answer: {message}")]
    Decode {
        /// What was wrong.
        message: String,
    },
    /// Retryable failures lasted past the call's deadline.
    #[error("gave up after {attempts} attempts within the deadline; last: {last}")]
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<ApiError>,
    },
    /// The client could not be built.
    #[error("the Buy with Prime client could not be built: {0}")]
    Setup(String),
}

impl ApiError {
    /// Whether a retry may succeed. A [`ApiError::DeadlineExceeded`] is
    /// retryable too: a later delivery of the same event may find the API up.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Throttled { .. }
                | ApiError::Server { .. }
                | ApiError::Transport { .. }
                | ApiError::NoAnswer { .. }
                | ApiError::DeadlineExceeded { .. }
        )
    }

    /// Whether the call may have been carried out even though it failed
    /// (a 5xx or a lost answer): a retry of a mutation could do it twice.
    pub fn may_have_been_done(&self) -> bool {
        match self {
            ApiError::Server { .. } | ApiError::NoAnswer { .. } => true,
            ApiError::DeadlineExceeded { last, .. } => last.may_have_been_done(),
            _ => false,
        }
    }

    /// The code of an error the merchant must fix, if this is one.
    pub fn merchant_problem(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidAmazonSkuConfiguration { .. } => Some("InvalidAmazonSkuConfiguration"),
            ApiError::MissingAmazonSkuConfiguration { .. } => Some("MissingAmazonSkuConfiguration"),
            _ => None,
        }
    }

    /// Maps one GraphQL error to a variant.
    pub fn from_graphql(message: String, classification: Classification) -> ApiError {
        let names = [
            &classification.kind,
            &classification.error_type,
            &classification.error_code,
            &classification.code,
        ];
        let has = |want: &[&str]| {
            names
                .iter()
                .any(|n| n.as_deref().is_some_and(|n| want.contains(&n)))
        };
        if has(&["InvalidAmazonSkuConfiguration"]) {
            ApiError::InvalidAmazonSkuConfiguration { message }
        } else if has(&["MissingAmazonSkuConfiguration"]) {
            ApiError::MissingAmazonSkuConfiguration { message }
        } else if has(&["ThrottlingError", "ThrottlingException", "429"]) {
            if feeds::is_ongoing_feed_message(&message) {
                ApiError::FeedOngoing { message }
            } else {
                ApiError::Throttled { message }
            }
        } else if has(&["ValidationException", "ValidationError", "400"]) {
            ApiError::Validation { message }
        } else if has(&["AccessDeniedException", "UnauthorizedError", "401", "403"]) {
            ApiError::Unauthorized { message }
        } else if let Some(status) = classification
            .code
            .as_deref()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|s| (500..600).contains(s))
        {
            ApiError::Server { status, message }
        } else if has(&[
            "InternalServerError",
            "InternalServerException",
            "ServiceUnavailable",
        ]) {
            ApiError::Server {
                status: 500,
                message,
            }
        } else {
            ApiError::Graphql {
                classification,
                message,
            }
        }
    }
}

/// How to name a product (`product(identifier: ...)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductIdentifier {
    /// `externalId: {value}`.
    ExternalId(String),
    /// `sku: {value}`.
    Sku(String),
    /// `productId: {value}`.
    ProductId(String),
    /// `amazonSku: {value}`.
    AmazonSku(String),
}

impl ProductIdentifier {
    fn to_json(&self) -> Value {
        let (field, value) = match self {
            ProductIdentifier::ExternalId(v) => ("externalId", v),
            ProductIdentifier::Sku(v) => ("sku", v),
            ProductIdentifier::ProductId(v) => ("productId", v),
            ProductIdentifier::AmazonSku(v) => ("amazonSku", v),
        };
        json!({ field: { "value": value } })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Valued {
    value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductWire {
    id: Option<String>,
    external_id: Option<Valued>,
    sku: Option<Valued>,
    amazon_sku: Option<Valued>,
    buyability: Option<Status>,
}

/// A product, as the API answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Buy with Prime's id.
    pub id: Option<String>,
    /// External ID.
    pub external_id: Option<String>,
    /// SKU.
    pub sku: Option<String>,
    /// Amazon SKU.
    pub amazon_sku: Option<String>,
    /// `BUYABLE`, `NOT_BUYABLE`, `UNKNOWN`.
    pub buyability: Option<String>,
}

impl From<ProductWire> for Product {
    fn from(w: ProductWire) -> Product {
        Product {
            id: w.id,
            external_id: w.external_id.and_then(|v| v.value),
            sku: w.sku.and_then(|v| v.value),
            amazon_sku: w.amazon_sku.and_then(|v| v.value),
            buyability: w.buyability.and_then(|b| b.status),
        }
    }
}

/// A quantity (`{ unit amount }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Quantity {
    /// The unit, when given.
    pub unit: Option<String>,
    /// The amount.
    pub amount: i64,
}

/// An inventory item, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    /// Its id.
    pub inventory_item_id: Option<String>,
    /// `buyableQuantity` (the reference) or `fulfillableQuantity` (the
    /// 2024-04-01 changelog's name): whichever the API answered.
    #[serde(alias = "fulfillableQuantity")]
    pub buyable_quantity: Option<Quantity>,
}

/// One page of `products` (a Relay connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    /// The products on the page.
    pub products: Vec<Product>,
    /// The cursor to pass as `after` for the next page, when there is one.
    pub next: Option<String>,
}

/// How the token cache did (for the hit rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenStats {
    /// Calls that needed a token.
    pub uses: u64,
    /// Of those, answered from the cache.
    pub hits: u64,
    /// Tokens fetched from `/token`.
    pub fetched: u64,
}

impl TokenStats {
    /// Hits over uses, 0 when unused.
    pub fn hit_rate(&self) -> f64 {
        if self.uses == 0 {
            0.0
        } else {
            self.hits as f64 / self.uses as f64
        }
    }
}

#[derive(Debug)]
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// The client. Build it once per cold start and share it.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    token: Mutex<Option<CachedToken>>,
    uses: AtomicU64,
    hits: AtomicU64,
    fetched: AtomicU64,
    /// The reference's `buyableQuantity` until the API refuses it, then
    /// `fulfillableQuantity`.
    fulfillable: AtomicBool,
}

const PRODUCT_FIELDS: &str =
    "id externalId { value } sku { value } amazonSku { value } buyability { status }";

/// Which failures a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Every retryable failure (queries, and mutations safe to repeat).
    Always,
    /// Only failures that prove nothing was done: a plain rate limit, a
    /// connection that never opened, a refused token.
    UnlessMaybeDone,
}

/// One attempt's outcome: a value, a failure, or "the token was refused".
enum Attempt<T> {
    Done(T),
    TokenRefused(ApiError),
}

impl Client {
    /// Builds the HTTP client (rustls).
    pub fn new(config: ClientConfig) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        Ok(Client {
            http,
            config,
            token: Mutex::new(None),
            uses: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            fulfillable: AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// How the token cache did so far.
    pub fn token_stats(&self) -> TokenStats {
        TokenStats {
            uses: self.uses.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            fetched: self.fetched.load(Ordering::Relaxed),
        }
    }

    /// `product(identifier)`: `None` when the API answers `null`.
    pub async fn product(
        &self,
        identifier: &ProductIdentifier,
    ) -> Result<Option<Product>, ApiError> {
        #[derive(Deserialize)]
        struct Data {
            product: Option<ProductWire>,
        }
        let query = format!(
            "query Product($identifier: ProductIdentifierInput!) {{ product(identifier: $identifier) {{ {PRODUCT_FIELDS} }} }}"
        );
        let data: Data = self
            .query(&query, json!({ "identifier": identifier.to_json() }))
            .await?;
        Ok(data.product.map(Product::from))
    }

    /// `inventoryItem(inventoryItemId)`, reading `buyableQuantity` or
    /// `fulfillableQuantity`: the first refusal of one field name switches
    /// this client to the other, once.
    pub async fn inventory_item(&self, id: &str) -> Result<Option<InventoryItem>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            inventory_item: Option<InventoryItem>,
        }
        let mut switched = false;
        loop {
            let field = if self.fulfillable.load(Ordering::Relaxed) {
                "fulfillableQuantity"
            } else {
                "buyableQuantity"
            };
            let query = format!(
                "query InventoryItem($id: String!) {{ inventoryItem(inventoryItemId: $id) {{ inventoryItemId {field} {{ unit amount }} }} }}"
            );
            match self.query::<Data>(&query, json!({ "id": id })).await {
                Ok(data) => return Ok(data.inventory_item),
                Err(ApiError::Validation { message }) if !switched && message.contains(field) => {
                    tracing::warn!(field, %message, "the API refused the quantity field; trying the other name");
                    self.fulfillable.fetch_xor(true, Ordering::Relaxed);
                    switched = true;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// One page of `products(first, after)`; `first` is capped at 20 (the API's limit).
    pub async fn products_page(
        &self,
        first: u32,
        after: Option<&str>,
    ) -> Result<ProductPage, ApiError> {
        #[derive(Deserialize)]
        struct Edge {
            node: ProductWire,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PageInfo {
            has_next_page: bool,
            end_cursor: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Connection {
            edges: Vec<Edge>,
            page_info: PageInfo,
        }
        #[derive(Deserialize)]
        struct Data {
            products: Connection,
        }
        let query = format!(
            "query Products($first: Int!, $after: String) {{ products(first: $first, after: $after) {{ edges {{ cursor node {{ {PRODUCT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let data: Data = self
            .query(
                &query,
                json!({ "first": first.clamp(1, 20), "after": after }),
            )
            .await?;
        let next = if data.products.page_info.has_next_page {
            data.products.page_info.end_cursor
        } else {
            None
        };
        Ok(ProductPage {
            products: data
                .products
                .edges
                .into_iter()
                .map(|e| e.node.into())
                .collect(),
            next,
        })
    }

    /// Every product, page by page.
    pub async fn all_products(&self) -> Result<Vec<Product>, ApiError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.products_page(20, after.as_deref()).await?;
            all.extend(page.products);
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(all),
            }
        }
    }

    /// Runs one GraphQL operation and reads `data` as `T`, retrying
    /// throttling, 5xx and broken connections with backoff and jitter until
    /// the deadline; a refused token is replaced once.
    pub async fn query<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<T, ApiError> {
        self.query_with(query, variables, Retry::Always).await
    }

    /// [`Client::query`], retrying what `retry` allows.
    pub(crate) async fn query_with<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        retry: Retry,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + self.config.deadline;
        let body = json!({ "query": query, "variables": variables });
        let mut backoff = self.config.first_backoff;
        let mut attempts = 0u32;
        let mut token_refreshed = false;
        loop {
            attempts += 1;
            let error = match self.attempt(&body).await {
                Ok(Attempt::Done(value)) => {
                    return serde_json::from_value(value).map_err(|e| ApiError::Decode {
                        message: format!("`data` does not have the expected shape: {e}"),
                    });
                }
                Ok(Attempt::TokenRefused(error)) if !token_refreshed => {
                    token_refreshed = true;
                    self.forget_token().await;
                    tracing::info!(%error, "token refused; fetching a new one");
                    continue;
                }
                Ok(Attempt::TokenRefused(error)) | Err(error) => error,
            };
            if !error.is_retryable()
                || (retry == Retry::UnlessMaybeDone && error.may_have_been_done())
            {
                return Err(error);
            }
            let pause = jitter(backoff);
            if Instant::now() + pause >= deadline {
                return Err(ApiError::DeadlineExceeded {
                    attempts,
                    last: Box::new(error),
                });
            }
            tracing::info!(%error, attempts, pause_ms = pause.as_millis() as u64, "retrying");
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    async fn attempt(&self, body: &Value) -> Result<Attempt<Value>, ApiError> {
        let token = self.token().await?;
        let url = format!("{}/graphql", self.config.base_url);
        let response = self
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("x-api-version", &self.config.api_version)
            .header("x-api-target-id", &self.config.target_id)
            .json(body)
            .send()
            .await
            .map_err(|e| transport(&url, &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| transport(&url, &e))?;
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        let first_error = envelope.as_ref().and_then(|e| e.errors.first()).map(|e| {
            ApiError::from_graphql(
                e.message.clone().unwrap_or_default(),
                e.extensions
                    .as_ref()
                    .and_then(|x| x.classification.clone())
                    .unwrap_or_default(),
            )
        });
        match status {
            401 => {
                return Ok(Attempt::TokenRefused(ApiError::Unauthorized {
                    message: short(&text),
                }));
            }
            429 => {
                return Err(first_error.unwrap_or(ApiError::Throttled {
                    message: short(&text),
                }));
            }
            500..=599 => {
                return Err(ApiError::Server {
                    status,
                    message: short(&text),
                });
            }
            _ => {}
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if !(200..300).contains(&status) {
            return Err(ApiError::Validation {
                message: format!("HTTP {status}: {}", short(&text)),
            });
        }
        match envelope.and_then(|e| e.data) {
            Some(data) => Ok(Attempt::Done(data)),
            None => Err(ApiError::Decode {
                message: format!("no `data` in {}", short(&text)),
            }),
        }
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// The cached token, or a fresh one. The lock is held across the fetch:
    /// concurrent callers wait for the one refresh instead of starting theirs.
    async fn token(&self) -> Result<String, ApiError> {
        self.uses.fetch_add(1, Ordering::Relaxed);
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<CachedToken, ApiError> {
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: Option<u64>,
        }
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/token", self.config.base_url);
        let started = Instant::now();
        let response = self
            .http
            .post(&url)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| transport(&url, &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| transport(&url, &e))?;
        match status {
            200..=299 => {}
            429 => {
                return Err(ApiError::Throttled {
                    message: short(&text),
                });
            }
            500..=599 => {
                return Err(ApiError::Server {
                    status,
                    message: short(&text),
                });
            }
            _ => {
                return Err(ApiError::Unauthorized {
                    message: format!("token endpoint: HTTP {status}: {}", short(&text)),
                });
            }
        }
        let answer: TokenAnswer = serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            message: format!("token endpoint: {e}"),
        })?;
        // Amazon's tokens live 15 minutes; trust a shorter `expires_in`.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(900).min(900));
        let refresh_at = started + lifetime.saturating_sub(self.config.refresh_margin);
        Ok(CachedToken {
            value: answer.access_token,
            refresh_at,
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: Option<String>,
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    classification: Option<Classification>,
}

pub(crate) fn transport(url: &str, error: &reqwest::Error) -> ApiError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_connect() {
        ApiError::Transport {
            url: url.to_owned(),
            message,
        }
    } else {
        ApiError::NoAnswer {
            url: url.to_owned(),
            message,
        }
    }
}

/// The first 300 characters of an answer, for messages.
pub(crate) fn short(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Full jitter: a uniform pause in `[backoff/2, backoff]`, so retries of
/// many callers spread out but never collapse to zero.
fn jitter(backoff: Duration) -> Duration {
    let ms = u64::try_from(backoff.as_millis())
        .unwrap_or(u64::MAX)
        .max(2);
    Duration::from_millis(fastrand::u64(ms / 2..=ms))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classification_maps_to_typed_errors() {
        let c = |kind: &str, code: &str| Classification {
            kind: Some(kind.into()),
            code: Some(code.into()),
            ..Classification::default()
        };
        assert!(matches!(
            ApiError::from_graphql("m".into(), c("ThrottlingError", "429")),
            ApiError::Throttled { .. }
        ));
        assert!(matches!(
            ApiError::from_graphql("m".into(), c("ValidationException", "400")),
            ApiError::Validation { .. }
        ));
        let sku = Classification {
            error_code: Some("MissingAmazonSkuConfiguration".into()),
            ..c("ValidationException", "400")
        };
        let e = ApiError::from_graphql("m".into(), sku);
        assert_eq!(e.merchant_problem(), Some("MissingAmazonSkuConfiguration"));
        assert!(!e.is_retryable());
        let ongoing = ApiError::from_graphql(
            "Only one ongoing Catalog Feed is supported at a time".into(),
            c("ThrottlingError", "429"),
        );
        assert!(matches!(ongoing, ApiError::FeedOngoing { .. }));
        assert!(!ongoing.is_retryable(), "the file waits for the next run");
        assert!(matches!(
            ApiError::from_graphql("m".into(), c("Weird", "503")),
            ApiError::Server { status: 503, .. }
        ));
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(100));
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let config = ClientConfig::new("http://x", "id", "s3cr3t", "t");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
