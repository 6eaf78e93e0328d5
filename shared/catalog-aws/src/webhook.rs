//! The Buy with Prime webhook: our OAuth token endpoint, authentication of
//! event deliveries, and the hand-off of each event to the events queue.
//!
//! Buy with Prime's auth profiles (DOMAIN.md B5) are either OAuth, where it
//! is the client of a token endpoint *we* serve and then presents the token
//! as a Bearer header, or HTTP Basic. Both are accepted:
//! - `POST /oauth/token`, form-encoded `grant_type=client_credentials`, the
//!   client id and secret in an HTTP Basic header or in the body (RFC 6749
//!   §2.3.1 allows both; the docs do not say which Amazon uses) → a token
//!   `v1.<expiry>.<nonce>.<HMAC-SHA256>` signed with the secret's key. No
//!   token store: a token is valid while its signature checks and it has not
//!   expired.
//! - Any other `POST` is an event delivery: a valid Bearer token or the
//!   Basic credentials, then a body of at most [`MAX_BODY`] bytes that is
//!   JSON → the raw body goes to the events queue and the answer is 202 at
//!   once. Processing happens in the SQS function, never inside the call.
//!
//! Every comparison of a secret is constant-time. Answers are short JSON
//! errors: 401 (no or bad credentials, expired token), 400 (not JSON, bad
//! form), 405, 413 (too large). `x-amzn-signature` is ignored: Amazon
//! publishes no way to verify it.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::error::DisplayErrorContext;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The largest event body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/token";

/// The webhook's credentials (one Secrets Manager secret, JSON).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    /// The OAuth client id we gave Buy with Prime.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The HMAC key for our tokens (at least 32 bytes of text).
    pub token_key: String,
    /// The HTTP Basic user name (the other auth profile).
    #[serde(default)]
    pub basic_username: Option<String>,
    /// The HTTP Basic password.
    #[serde(default)]
    pub basic_password: Option<String>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("client_id", &self.client_id)
            .field("basic_username", &self.basic_username)
            .finish_non_exhaustive()
    }
}

impl WebhookSecret {
    /// Checks the secret is usable; every problem at once.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.client_id.trim().is_empty() {
            problems.push("clientId is empty");
        }
        if self.client_secret.len() < 16 {
            problems.push("clientSecret is shorter than 16 characters");
        }
        if self.token_key.len() < 32 {
            problems.push("tokenKey is shorter than 32 characters");
        }
        if self.basic_username.is_some() != self.basic_password.is_some() {
            problems.push("basicUsername and basicPassword go together");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Where accepted events go.
#[derive(Debug, Clone)]
pub enum EventQueue {
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<String>>>),
    /// The events SQS queue (the one EventBridge feeds too).
    Queue {
        /// The SQS client.
        client: aws_sdk_sqs::Client,
        /// The queue's URL.
        url: String,
    },
}

impl EventQueue {
    async fn send(&self, body: String) -> Result<(), String> {
        match self {
            EventQueue::Memory(sent) => {
                sent.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                Ok(())
            }
            EventQueue::Queue { client, url } => client
                .send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("could not enqueue to {url}: {}", DisplayErrorContext(&e))),
        }
    }
}

/// What the webhook needs.
#[derive(Debug, Clone)]
pub struct WebhookDeps {
    /// The credentials and token key.
    pub secret: WebhookSecret,
    /// Token lifetime in seconds.
    pub token_ttl: u64,
    /// Where events go.
    pub queue: EventQueue,
}

/// An HTTP request, as far as the webhook cares.
#[derive(Debug, Clone, Default)]
pub struct WebhookRequest {
    /// `POST`, …
    pub method: String,
    /// `/oauth/token`, `/`, …
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body (already base64-decoded), or `None` when it was larger than
    /// the limit before decoding.
    pub body: Option<Vec<u8>>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// A short JSON body.
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

fn answer(status: u16, body: serde_json::Value) -> WebhookResponse {
    WebhookResponse {
        status,
        body: body.to_string(),
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
    }
}

fn error(status: u16, code: &str) -> WebhookResponse {
    let mut response = answer(status, serde_json::json!({ "error": code }));
    if status == 401 {
        response.headers.push((
            "www-authenticate",
            "Bearer, Basic realm=\"bwp-webhook\"".to_owned(),
        ));
    }
    response
}

/// Handles one request.
pub async fn handle(request: &WebhookRequest, deps: &WebhookDeps) -> WebhookResponse {
    if !request.method.eq_ignore_ascii_case("POST") {
        return error(405, "method_not_allowed");
    }
    if request.path.trim_end_matches('/') == TOKEN_PATH {
        return issue_token(request, deps, now());
    }
    if !authorized(request.authorization.as_deref(), &deps.secret, now()) {
        return error(401, "unauthorized");
    }
    let Some(body) = request.body.as_deref().filter(|b| b.len() <= MAX_BODY) else {
        return error(413, "body_too_large");
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return error(400, "body_not_json");
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return error(400, "body_not_json");
    };
    match deps.queue.send(text).await {
        Ok(()) => answer(202, serde_json::json!({ "accepted": true })),
        Err(message) => {
            tracing::error!(%message, "could not enqueue the event; Buy with Prime will retry");
            error(503, "try_again")
        }
    }
}

fn issue_token(request: &WebhookRequest, deps: &WebhookDeps, now: u64) -> WebhookResponse {
    let Some(body) = request.body.as_deref().filter(|b| b.len() <= 8 * 1024) else {
        return error(413, "body_too_large");
    };
    let form = parse_form(body);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("client_credentials") {
        return error(400, "unsupported_grant_type");
    }
    let from_header = request
        .authorization
        .as_deref()
        .and_then(basic_credentials)
        .map(|(id, secret)| (form_decode(&id), form_decode(&secret)));
    let Some((id, secret)) = from_header.or_else(|| field("client_id").zip(field("client_secret")))
    else {
        return error(401, "invalid_client");
    };
    let id_ok = secret_eq(&id, &deps.secret.client_id);
    let secret_ok = secret_eq(&secret, &deps.secret.client_secret);
    if !(id_ok & secret_ok) {
        return error(401, "invalid_client");
    }
    let token = sign_token(&deps.secret.token_key, now + deps.token_ttl, &nonce());
    answer(
        200,
        serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": deps.token_ttl,
        }),
    )
}

/// Whether the `Authorization` header carries a valid token or the Basic credentials.
pub fn authorized(header: Option<&str>, secret: &WebhookSecret, now: u64) -> bool {
    let Some(header) = header else {
        return false;
    };
    if let Some(token) = strip_scheme(header, "Bearer") {
        return verify_token(&secret.token_key, token.trim(), now);
    }
    if let (Some((user, password)), Some(want_user), Some(want_password)) = (
        basic_credentials(header),
        &secret.basic_username,
        &secret.basic_password,
    ) {
        let user_ok = secret_eq(&user, want_user);
        let password_ok = secret_eq(&password, want_password);
        return user_ok & password_ok;
    }
    false
}

/// `v1.<expiry>.<nonce>.<mac>`, the MAC over everything before it.
pub fn sign_token(key: &str, expires_at: u64, nonce: &str) -> String {
    let payload = format!("v1.{expires_at}.{nonce}");
    let tag = mac(key, &payload)
        .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{payload}.{tag}")
}

/// Checks a token's signature (constant-time) and expiry.
pub fn verify_token(key: &str, token: &str, now: u64) -> bool {
    let Some((payload, tag)) = token.rsplit_once('.') else {
        return false;
    };
    let mut parts = payload.split('.');
    let (Some("v1"), Some(expiry), Some(_nonce), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    if mac(key, payload).is_none_or(|m| m.verify_slice(&tag).is_err()) {
        return false;
    }
    expiry.parse::<u64>().is_ok_and(|expiry| now < expiry)
}

/// HMAC-SHA256 of `payload`; `None` only if the key were refused, which
/// HMAC never does (any length is accepted).
fn mac(key: &str, payload: &str) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(payload.as_bytes());
    Some(mac)
}

/// Compares two secrets in time independent of where they differ and of
/// their lengths (both are hashed first).
fn secret_eq(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.trim().split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = strip_scheme(header, "Basic")?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (!k.is_empty()).then(|| (form_decode(k), form_decode(v)))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let counter = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos:x}{counter:x}")
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_verify_until_they_expire() {
        let token = sign_token(KEY, 1000, "n1");
        assert!(verify_token(KEY, &token, 999));
        assert!(!verify_token(KEY, &token, 1000));
        assert!(!verify_token(
            "another key of at least 32 chars!!",
            &token,
            10
        ));
        let forged = token.replace("v1.1000.", "v1.9999.");
        assert!(!verify_token(KEY, &forged, 10));
        assert!(!verify_token(KEY, "garbage", 10));
    }

    #[test]
    fn form_values_are_decoded() {
        let form = parse_form(b"grant_type=client_credentials&client_id=a%2Bb&scope=x+y");
        assert_eq!(form[1], ("client_id".into(), "a+b".into()));
        assert_eq!(form[2], ("scope".into(), "x y".into()));
    }

    #[test]
    fn secret_comparison() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "abcd"));
    }
}
