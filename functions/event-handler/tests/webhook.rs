//! The webhook against the emulator: its secret in Secrets Manager (moto),
//! events enqueued to a real SQS queue, requests shaped as a Lambda function
//! URL delivers them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine;
use catalog_aws::event_config::read_secret;
use catalog_aws::webhook::{EventQueue, WebhookDeps, WebhookSecret, sign_token};
use catalog_testkit::Emulator;
use event_handler::handle_url;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const EVENT: &str = include_str!(
    "../../../shared/catalog-core/tests/fixtures/bwp/webhook-2024-11-01-buyability.json"
);

const CLIENT_ID: &str = "bwp-webhook-client";
const CLIENT_SECRET: &str = "a-client-secret-of-some-length";
const TOKEN_KEY: &str = "a-token-key-of-at-least-32-characters";

struct Fixture {
    deps: WebhookDeps,
    queue_url: String,
}

async fn fixture() -> Fixture {
    let emulator = Emulator::get();
    let sdk = emulator.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!(
        "webhook-{}",
        emulator
            .fresh_queue("secretname")
            .await
            .rsplit('/')
            .next()
            .unwrap()
    );
    let secret = json!({
        "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "tokenKey": TOKEN_KEY,
        "basicUsername": "bwp", "basicPassword": "basic-password-123"
    });
    secrets
        .create_secret()
        .name(&name)
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    let secret: WebhookSecret = read_secret(&secrets, &name).await.unwrap();
    secret.check().unwrap();
    let queue_url = emulator.fresh_queue("events").await;
    Fixture {
        deps: WebhookDeps {
            secret,
            token_ttl: 300,
            queue: EventQueue::Queue {
                client: emulator.sqs().await,
                url: queue_url.clone(),
            },
        },
        queue_url,
    }
}

fn request(
    path: &str,
    authorization: Option<&str>,
    body: &str,
    content_type: &str,
) -> LambdaEvent<LambdaFunctionUrlRequest> {
    let mut headers =
        json!({ "content-type": content_type, "host": "abc.lambda-url.us-east-1.on.aws" });
    if let Some(auth) = authorization {
        headers["authorization"] = json!(auth);
    }
    let event = json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    });
    LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
}

async fn call(f: &Fixture, path: &str, auth: Option<&str>, body: &str) -> (i64, Value) {
    let content_type = if path == "/oauth/token" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let response: LambdaFunctionUrlResponse =
        handle_url(request(path, auth, body, content_type), &f.deps)
            .await
            .unwrap();
    (
        response.status_code,
        serde_json::from_str(response.body.as_deref().unwrap()).unwrap(),
    )
}

async fn queued(url: &str) -> usize {
    let sqs = Emulator::get().sqs().await;
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    got.messages.unwrap_or_default().len()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn token(f: &Fixture) -> String {
    let (status, body) = call(
        f,
        "/oauth/token",
        Some(&basic(CLIENT_ID, CLIENT_SECRET)),
        "grant_type=client_credentials&scope=events",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refused_requests_enqueue_nothing() {
    let f = fixture().await;
    let good = token(&f).await;
    let expired = sign_token(TOKEN_KEY, 1, "old");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let cases: [(Option<String>, &str, i64, &str); 6] = [
        (None, EVENT, 401, "no credentials"),
        (
            Some(basic("bwp", "wrong-password")),
            EVENT,
            401,
            "wrong Basic password",
        ),
        (
            Some("Bearer v1.9999999999.n.forged".into()),
            EVENT,
            401,
            "forged token",
        ),
        (
            Some(format!("Bearer {expired}")),
            EVENT,
            401,
            "expired token",
        ),
        (Some(format!("Bearer {good}")), &big, 413, "2 MB body"),
        (
            Some(format!("Bearer {good}")),
            "this is not json",
            400,
            "not JSON",
        ),
    ];
    for (auth, body, want, what) in cases {
        let (status, answer) = call(&f, "/", auth.as_deref(), body).await;
        assert_eq!(status, want, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: a short JSON error");
    }
    assert_eq!(queued(&f.queue_url).await, 0, "nothing enqueued");
}

#[tokio::test]
async fn a_good_token_enqueues_the_raw_event_once_and_answers_202() {
    let f = fixture().await;
    let good = token(&f).await;
    let (status, body) = call(&f, "/events", Some(&format!("Bearer {good}")), EVENT).await;
    assert_eq!(status, 202, "{body}");
    let sqs = Emulator::get().sqs().await;
    let got = sqs
        .receive_message()
        .queue_url(&f.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = got.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body().unwrap(), EVENT, "the raw body");
}

#[tokio::test]
async fn basic_auth_is_the_other_profile() {
    let f = fixture().await;
    let (status, _) = call(&f, "/", Some(&basic("bwp", "basic-password-123")), EVENT).await;
    assert_eq!(status, 202);
    assert_eq!(queued(&f.queue_url).await, 1);
}

#[tokio::test]
async fn the_token_endpoint_checks_the_client() {
    let f = fixture().await;
    let wrong = call(
        &f,
        "/oauth/token",
        Some(&basic(CLIENT_ID, "wrong-secret")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["error"], "invalid_client");
    let in_body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    assert_eq!(
        call(&f, "/oauth/token", None, &in_body).await.0,
        200,
        "credentials in the body"
    );
    let wrong_in_body =
        format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=nope");
    assert_eq!(call(&f, "/oauth/token", None, &wrong_in_body).await.0, 401);
    let grant = call(
        &f,
        "/oauth/token",
        Some(&basic(CLIENT_ID, CLIENT_SECRET)),
        "grant_type=password",
    )
    .await;
    assert_eq!(grant.0, 400);
    assert_eq!(queued(&f.queue_url).await, 0);
}
