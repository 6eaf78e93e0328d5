//! The SQS processor against the S3/SQS emulator (moto) and the fake Buy
//! with Prime API (the real client over HTTP).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use bwp_api::{Client, ClientConfig};
use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, FakeProduct, TARGET_ID};
use catalog_aws::alerts::Alerts;
use catalog_aws::event_pass::{Downstream, read_status};
use catalog_aws::s3::S3Store;
use catalog_aws::store::ObjectStore;
use catalog_core::bwp_event::Buyability;
use catalog_core::product_status::{ProductStatus, StatusKey};
use catalog_testkit::Emulator;
use event_handler::{ProcessorDeps, handle_sqs};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const WEBHOOK_BUYABILITY: &str = include_str!(
    "../../../shared/catalog-core/tests/fixtures/bwp/webhook-2024-11-01-buyability.json"
);
const EB_BUYABILITY: &str = include_str!(
    "../../../shared/catalog-core/tests/fixtures/bwp/eventbridge-2024-11-01-buyability.json"
);
const THIN_BUYABILITY: &str = include_str!(
    "../../../shared/catalog-core/tests/fixtures/bwp/eventbridge-thin-buyability.json"
);
const THIN_INVENTORY: &str =
    include_str!("../../../shared/catalog-core/tests/fixtures/bwp/eventbridge-thin-inventory.json");
const TRAILING_COMMA: &str =
    include_str!("../../../shared/catalog-core/tests/fixtures/bwp/webhook-trailing-comma.json.txt");
const UNKNOWN: &str =
    include_str!("../../../shared/catalog-core/tests/fixtures/bwp/webhook-unknown-type.json");

struct Fixture {
    deps: ProcessorDeps<S3Store, Client>,
    fake: FakeBwp,
    updates_url: String,
    alerts_url: String,
}

async fn fixture(deadline: Duration) -> Fixture {
    let emulator = Emulator::get();
    let bucket = emulator.fresh_bucket("events").await;
    let store = S3Store::new(
        emulator.s3().await,
        bucket,
        tokio::runtime::Handle::current(),
    );
    let updates_url = emulator.fresh_queue("product_updates").await;
    let alerts_url = emulator.fresh_queue("alerts").await;
    let sqs = emulator.sqs().await;
    let fake = FakeBwp::start().await;
    let mut config = ClientConfig::new(fake.url(), CLIENT_ID, CLIENT_SECRET, TARGET_ID);
    config.first_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(80);
    config.deadline = deadline;
    let deps = ProcessorDeps {
        store,
        api: Client::new(config).unwrap(),
        downstream: Downstream::Queue {
            client: sqs.clone(),
            url: updates_url.clone(),
        },
        alerts: Alerts::Queue {
            client: sqs,
            url: alerts_url.clone(),
        },
    };
    Fixture {
        deps,
        fake,
        updates_url,
        alerts_url,
    }
}

/// An SQS event as Lambda delivers it, one record per body.
fn sqs_event(bodies: &[&str]) -> LambdaEvent<SqsEvent> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": "rh",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    LambdaEvent::new(event, Context::default())
}

async fn run(f: &Fixture, bodies: &[&str]) -> SqsBatchResponse {
    handle_sqs(sqs_event(bodies), &f.deps).await.unwrap()
}

/// Every message now on a queue (moto counts exactly).
async fn drain(url: &str) -> Vec<Value> {
    let sqs = Emulator::get().sqs().await;
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn status(f: &Fixture, key: &StatusKey) -> Option<(ProductStatus, String)> {
    read_status(&f.deps.store, &key.object_key()).await.unwrap()
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn the_same_event_three_times_changes_state_once_and_sends_once() {
    let f = fixture(Duration::from_secs(5)).await;
    let key = StatusKey::ExternalId("EXT-1".into());
    // Twice in one batch, once in a later batch.
    let response = run(&f, &[WEBHOOK_BUYABILITY, WEBHOOK_BUYABILITY]).await;
    assert!(response.batch_item_failures.is_empty());
    let (first, etag) = status(&f, &key).await.unwrap();
    assert_eq!(first.buyability, Some(Buyability::Buyable));
    let response = run(&f, &[WEBHOOK_BUYABILITY]).await;
    assert!(response.batch_item_failures.is_empty());
    let (_, etag_after) = status(&f, &key).await.unwrap();
    assert_eq!(etag, etag_after, "one state change");
    let sent = drain(&f.updates_url).await;
    assert_eq!(sent.len(), 1, "one downstream message: {sent:?}");
    assert_eq!(sent[0]["idempotencyKey"], "idem-wh-1");
    assert_eq!(sent[0]["externalId"], "EXT-1");
    assert_eq!(sent[0]["sku"], "SKU-1");
    assert_eq!(sent[0]["amazonSku"], "MSKU-1");
    assert_eq!(sent[0]["buyability"], "BUYABLE");
    assert_eq!(sent[0]["eventTime"], "2025-11-30T12:05:00Z");
    // Data in the event: no API call.
    assert_eq!(f.fake.graphql_requests(), 0);
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_changes_nothing_and_is_stale() {
    let f = fixture(Duration::from_secs(5)).await;
    let key = StatusKey::ExternalId("EXT-1".into());
    // The webhook event (12:05, BUYABLE) is newer than the EventBridge one (12:00:02, NOT_BUYABLE).
    run(&f, &[WEBHOOK_BUYABILITY]).await;
    let (before, etag) = status(&f, &key).await.unwrap();
    let response = run(&f, &[EB_BUYABILITY]).await;
    assert!(response.batch_item_failures.is_empty());
    let (after, etag_after) = status(&f, &key).await.unwrap();
    assert_eq!(etag, etag_after);
    assert_eq!(after, before);
    assert_eq!(after.buyability, Some(Buyability::Buyable));
    assert_eq!(
        drain(&f.updates_url).await.len(),
        1,
        "nothing sent for the stale event"
    );
    // Counted: the outcome is reported by the pass itself.
    let pass = catalog_aws::event_pass::EventDeps {
        store: &f.deps.store,
        api: Some(&f.deps.api),
        downstream: &Downstream::LogOnly,
        alerts: &Alerts::LogOnly,
    };
    // A new key with the old time is stale too (the repeat above was caught by its marker).
    let older = EB_BUYABILITY.replace("idem-eb-1", "idem-eb-older");
    let outcome = catalog_aws::event_pass::process_event(older.as_bytes(), &pass)
        .await
        .unwrap();
    let mut counts = catalog_aws::event_pass::EventCounts::default();
    counts.add(&Ok(outcome));
    assert_eq!(counts.stale, 1);
}

#[tokio::test]
async fn a_thin_event_asks_the_api_and_fills_the_state() {
    let f = fixture(Duration::from_secs(5)).await;
    f.fake.put_product(FakeProduct {
        id: "P-THIN-1".into(),
        external_id: "EXT-THIN".into(),
        sku: "SKU-T".into(),
        amazon_sku: "MSKU-T".into(),
        buyability: "NOT_BUYABLE".into(),
    });
    let response = run(&f, &[THIN_BUYABILITY]).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.fake.graphql_requests(), 1);
    let (s, _) = status(&f, &StatusKey::ExternalId("EXT-THIN".into()))
        .await
        .unwrap();
    assert_eq!(s.product_id.as_deref(), Some("P-THIN-1"));
    assert_eq!(s.sku.as_deref(), Some("SKU-T"));
    assert_eq!(s.buyability, Some(Buyability::NotBuyable));
    let sent = drain(&f.updates_url).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["buyability"], "NOT_BUYABLE");
}

#[tokio::test]
async fn the_api_throttles_twice_then_answers() {
    let f = fixture(Duration::from_secs(5)).await;
    f.fake.put_inventory("INV-1", 7);
    f.fake.throttle_next(2);
    let response = run(&f, &[THIN_INVENTORY]).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.fake.graphql_requests(), 3);
    assert_eq!(f.fake.token_requests(), 1);
    let stats = f.deps.api.token_stats();
    println!(
        "token cache in the throttling test: {} uses, {} hits, {} fetched, hit rate {:.2}",
        stats.uses,
        stats.hits,
        stats.fetched,
        stats.hit_rate()
    );
    assert_eq!((stats.uses, stats.hits), (3, 2));
    let (s, _) = status(&f, &StatusKey::InventoryItem("INV-1".into()))
        .await
        .unwrap();
    assert_eq!(s.buyable_quantity.unwrap().amount, 7);
    let sent = drain(&f.updates_url).await;
    assert_eq!(sent[0]["buyableQuantity"], 7);
}

#[tokio::test]
async fn the_api_down_past_the_deadline_fails_the_item_then_redelivery_succeeds() {
    let f = fixture(Duration::from_millis(400)).await;
    f.fake.put_inventory("INV-1", 3);
    f.fake.set_down(true);
    let response = run(&f, &[THIN_INVENTORY, UNKNOWN]).await;
    assert_eq!(
        failed_ids(&response),
        vec!["m-0".to_owned()],
        "only the event that needs the API"
    );
    assert!(
        status(&f, &StatusKey::InventoryItem("INV-1".into()))
            .await
            .is_none()
    );
    assert!(drain(&f.updates_url).await.is_empty());
    f.fake.set_down(false);
    let response = run(&f, &[THIN_INVENTORY]).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        status(&f, &StatusKey::InventoryItem("INV-1".into()))
            .await
            .is_some()
    );
    assert_eq!(drain(&f.updates_url).await.len(), 1);
}

#[tokio::test]
async fn a_crash_between_the_state_change_and_the_send_resends_with_the_same_key() {
    let mut f = fixture(Duration::from_secs(5)).await;
    let good = std::mem::replace(
        &mut f.deps.downstream,
        Downstream::Queue {
            client: Emulator::get().sqs().await,
            url: format!("{}-missing", f.updates_url),
        },
    );
    let response = run(&f, &[WEBHOOK_BUYABILITY]).await;
    assert_eq!(failed_ids(&response).len(), 1, "the send failed");
    let key = StatusKey::ExternalId("EXT-1".into());
    let (_, etag) = status(&f, &key).await.unwrap();
    f.deps.downstream = good;
    let response = run(&f, &[WEBHOOK_BUYABILITY]).await;
    assert!(response.batch_item_failures.is_empty());
    let (_, etag_after) = status(&f, &key).await.unwrap();
    assert_eq!(etag, etag_after, "the redelivery changed nothing");
    let sent = drain(&f.updates_url).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["idempotencyKey"], "idem-wh-1");
}

#[tokio::test]
async fn sku_errors_reach_the_merchant_through_an_alert() {
    let f = fixture(Duration::from_secs(5)).await;
    f.fake.put_inventory_error("INV-1", true);
    let response = run(&f, &[THIN_INVENTORY]).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = drain(&f.updates_url).await;
    assert_eq!(sent[0]["reason"], "MissingAmazonSkuConfiguration");
    let alerts = drain(&f.alerts_url).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["alert"], "bwp-merchant-action");
    assert_eq!(
        alerts[0]["detail"]["problem"],
        "MissingAmazonSkuConfiguration"
    );
}

#[tokio::test]
async fn bad_bodies_and_unknown_types_are_acknowledged() {
    let f = fixture(Duration::from_secs(5)).await;
    let response = run(&f, &[TRAILING_COMMA, UNKNOWN, "not json"]).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a retry cannot fix them"
    );
    assert!(drain(&f.updates_url).await.is_empty());
    let alerts = drain(&f.alerts_url).await;
    assert_eq!(
        alerts.len(),
        2,
        "each malformed body is alerted: {alerts:?}"
    );
    assert!(
        f.deps
            .store
            .list("state/products/")
            .await
            .unwrap()
            .is_empty()
    );
}
