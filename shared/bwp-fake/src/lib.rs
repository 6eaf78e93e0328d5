//! Test support: a fake Buy with Prime API on a free loopback port, served
//! in-process by axum, so the real client is tested over real HTTP.
//!
//! It serves the documented shapes (DOMAIN.md B4): `POST /token` (client
//! credentials, HTTP Basic or form fields; `{access_token, token_type,
//! expires_in}`) and `POST /graphql` (`Authorization: Bearer`,
//! `x-api-target-id` and `x-api-version` required) answering `product`,
//! `inventoryItem` and `products` from what the test put in. It recognises
//! the operation by its field name, not by parsing GraphQL.
//!
//! Catalog feeds (see [`feeds`]): `createUploadLink` answers a loopback
//! upload URL that checks the method, the Content-Length against the
//! declared size (S3's `SignatureDoesNotMatch`, 403) and expiry
//! (`AccessDenied`); `createCatalogFeed` refuses a second feed while one is
//! ongoing (429 ThrottlingError); `catalogFeed` moves a feed CREATED →
//! IN_PROGRESS → COMPLETED (or FAILED with signals) over successive polls;
//! a completed feed's result CSV has the seed's columns with some rows
//! failed; `downloadLink` answers a URL that expires after 5 seconds.
//!
//! Faults, each for the next N GraphQL calls: [`FakeBwp::throttle_next`]
//! (HTTP 429 + `ThrottlingError`), [`FakeBwp::fail_next`] (HTTP 500);
//! [`FakeBwp::set_down`] answers 503 until told otherwise; an inventory item
//! can answer `InvalidAmazonSkuConfiguration` / `MissingAmazonSkuConfiguration`.
//! Requests are counted, token requests separately.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

/// The client id the fake accepts.
pub const CLIENT_ID: &str = "fake-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "fake-secret";
/// The target id it expects in `x-api-target-id`.
pub const TARGET_ID: &str = "fake-target";

/// A product the fake knows.
#[derive(Debug, Clone, Default)]
pub struct FakeProduct {
    /// Buy with Prime's id.
    pub id: String,
    /// External ID.
    pub external_id: String,
    /// SKU.
    pub sku: String,
    /// Amazon SKU.
    pub amazon_sku: String,
    /// `BUYABLE`, `NOT_BUYABLE`, `UNKNOWN`.
    pub buyability: String,
}

impl FakeProduct {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "externalId": {"value": self.external_id},
            "sku": {"value": self.sku},
            "amazonSku": {"value": self.amazon_sku},
            "buyability": {"status": self.buyability},
        })
    }
}

#[derive(Debug, Clone)]
enum FakeInventory {
    Quantity(i64),
    Error(&'static str),
}

pub mod feeds;

use feeds::Feeds;

#[derive(Debug, Default)]
struct Inner {
    feeds: Feeds,
    products: Vec<FakeProduct>,
    inventory: HashMap<String, FakeInventory>,
    throttle_next: u32,
    fail_next: u32,
    down: bool,
    token_ttl: u64,
    issued: Vec<String>,
    /// The name the fake's schema uses for the quantity.
    quantity_field: &'static str,
}

#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Inner>,
    token_requests: AtomicU64,
    graphql_requests: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock poisons it; the data
        // is still fine for the others.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake. It stops when dropped.
#[derive(Debug)]
pub struct FakeBwp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBwp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBwp {
    /// Starts a fake on `127.0.0.1:<free port>`, on the current runtime.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> FakeBwp {
        let shared = Arc::new(Shared::default());
        {
            let mut inner = shared.lock();
            inner.token_ttl = 900;
            inner.quantity_field = "buyableQuantity";
        }
        let app = Router::new()
            .route("/token", post(token))
            .route("/graphql", post(graphql))
            .route("/upload/{token}", any(feeds::upload))
            .route("/download/{token}", get(feeds::download))
            .with_state(shared.clone());
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bwp-fake: cannot bind a loopback port: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("bwp-fake: no local address: {e}"),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeBwp { addr, shared, task }
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds (or replaces, by id) a product.
    pub fn put_product(&self, product: FakeProduct) {
        let mut inner = self.shared.lock();
        inner.products.retain(|p| p.id != product.id);
        inner.products.push(product);
    }

    /// Sets an inventory item's buyable quantity.
    pub fn put_inventory(&self, id: &str, amount: i64) {
        self.shared
            .lock()
            .inventory
            .insert(id.to_owned(), FakeInventory::Quantity(amount));
    }

    /// Makes an inventory item answer `InvalidAmazonSkuConfiguration`
    /// (`missing: false`) or `MissingAmazonSkuConfiguration` (`missing: true`).
    pub fn put_inventory_error(&self, id: &str, missing: bool) {
        let code = if missing {
            "MissingAmazonSkuConfiguration"
        } else {
            "InvalidAmazonSkuConfiguration"
        };
        self.shared
            .lock()
            .inventory
            .insert(id.to_owned(), FakeInventory::Error(code));
    }

    /// Uses `fulfillableQuantity` (the 2024-04-01 changelog's name) instead
    /// of `buyableQuantity`: asking for the other is a validation error.
    pub fn use_fulfillable_quantity(&self) {
        self.shared.lock().quantity_field = "fulfillableQuantity";
    }

    /// The next `n` GraphQL calls answer 429 `ThrottlingError`.
    pub fn throttle_next(&self, n: u32) {
        self.shared.lock().throttle_next = n;
    }

    /// The next `n` GraphQL calls answer 500.
    pub fn fail_next(&self, n: u32) {
        self.shared.lock().fail_next = n;
    }

    /// While down, every call (token included) answers 503.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// The lifetime of tokens issued from now on, in seconds.
    pub fn set_token_ttl(&self, seconds: u64) {
        self.shared.lock().token_ttl = seconds;
    }

    /// Forgets every issued token: the next GraphQL call gets a 401.
    pub fn revoke_tokens(&self) {
        self.shared.lock().issued.clear();
    }

    /// `POST /token` requests so far.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// `POST /graphql` requests so far.
    pub fn graphql_requests(&self) -> u64 {
        self.shared.graphql_requests.load(Ordering::SeqCst)
    }
}

/// The base URL the client called (from `Host`), for links.
fn url_of(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn error_response(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({
        "errors": [{
            "message": message,
            "extensions": {"classification": {
                "type": kind, "code": code, "errorType": kind, "errorCode": code
            }}
        }]
    });
    (status, Json(body)).into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
        .collect();
    let mut inner = shared.lock();
    if inner.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match &basic {
        Some(pair) => pair
            .split_once(':')
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        None => form
            .get("client_id")
            .zip(form.get("client_secret"))
            .map(|(a, b)| (a.clone(), b.clone())),
    }
    .unwrap_or_default();
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let token = format!(
        "fake-token-{}",
        shared.token_requests.load(Ordering::SeqCst)
    );
    inner.issued.push(token.clone());
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": inner.token_ttl}))
        .into_response()
}

async fn graphql(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    shared.graphql_requests.fetch_add(1, Ordering::SeqCst);
    let mut inner = shared.lock();
    if inner.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let bearer = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("");
    if !inner.issued.iter().any(|t| t == bearer) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "401",
            "invalid token",
        );
    }
    if header("x-api-target-id") != TARGET_ID || header("x-api-version").is_empty() {
        return error_response(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "403",
            "bad target id or version",
        );
    }
    if inner.throttle_next > 0 {
        inner.throttle_next -= 1;
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingError",
            "429",
            "Rate exceeded",
        );
    }
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let query = body.get("query").and_then(Value::as_str).unwrap_or("");
    let vars = body.get("variables").cloned().unwrap_or(Value::Null);
    if let Some(response) = feeds::graphql(&mut inner, query, &url_of(&headers)) {
        return response;
    }
    if query.contains("inventoryItem(") {
        let other = if inner.quantity_field == "buyableQuantity" {
            "fulfillableQuantity"
        } else {
            "buyableQuantity"
        };
        if query.contains(other) {
            return error_response(
                StatusCode::OK,
                "ValidationException",
                "400",
                &format!("Cannot query field \"{other}\" on type \"InventoryItem\""),
            );
        }
        let id = vars.get("id").and_then(Value::as_str).unwrap_or("");
        return match inner.inventory.get(id) {
            None => Json(json!({"data": {"inventoryItem": null}})).into_response(),
            Some(FakeInventory::Error(code)) => {
                error_response(StatusCode::OK, "ValidationException", code, code)
            }
            Some(FakeInventory::Quantity(amount)) => Json(json!({"data": {"inventoryItem": {
                "inventoryItemId": id,
                inner.quantity_field: {"unit": "UNIT", "amount": amount}
            }}}))
            .into_response(),
        };
    }
    if query.contains("products(") {
        let first = vars
            .get("first")
            .and_then(Value::as_u64)
            .unwrap_or(20)
            .min(20) as usize;
        let start = vars
            .get("after")
            .and_then(Value::as_str)
            .and_then(|c| c.strip_prefix("cursor-"))
            .and_then(|n| n.parse::<usize>().ok())
            .map_or(0, |n| n + 1);
        let page: Vec<Value> = inner
            .products
            .iter()
            .enumerate()
            .skip(start)
            .take(first)
            .map(|(i, p)| json!({"cursor": format!("cursor-{i}"), "node": p.to_json()}))
            .collect();
        let end = start + page.len();
        let body = json!({"data": {"products": {
            "edges": page,
            "pageInfo": {"hasNextPage": end < inner.products.len(),
                         "endCursor": end.checked_sub(1).map(|i| format!("cursor-{i}"))}
        }}});
        return Json(body).into_response();
    }
    if query.contains("product(") {
        let identifier = vars.get("identifier").cloned().unwrap_or(Value::Null);
        let wanted = |field: &str| {
            identifier
                .get(field)
                .and_then(|v| v.get("value"))
                .and_then(Value::as_str)
        };
        let found = inner.products.iter().find(|p| {
            wanted("productId") == Some(&p.id)
                || wanted("externalId") == Some(&p.external_id)
                || wanted("sku") == Some(&p.sku)
                || wanted("amazonSku") == Some(&p.amazon_sku)
        });
        return Json(json!({"data": {"product": found.map(FakeProduct::to_json)}})).into_response();
    }
    error_response(
        StatusCode::OK,
        "ValidationException",
        "400",
        "unknown operation",
    )
}
