//! The `{"task":"bwp-results"}` schedule routed to the feed results pass,
//! against the S3 emulator and the fake Buy with Prime API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bwp_api::{Client, ClientConfig};
use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, TARGET_ID};
use catalog_aws::alerts::Alerts;
use catalog_aws::bwp_pass::{FeedDeps, FeedSettings, FeedTrigger, ProductsRef, submit_pass};
use catalog_aws::report_pass::ReportSettings;
use catalog_aws::s3::S3Store;
use catalog_testkit::Emulator;
use lambda_runtime::{Context, LambdaEvent};
use report_parser::{Deps, handle};
use serde_json::json;

fn clock() -> i64 {
    1_764_504_000
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bwp_results_schedule_reads_a_completed_feed_once() {
    let emulator = Emulator::get();
    let bucket = emulator.fresh_bucket("bwp-results").await;
    let s3 = emulator.s3().await;
    let work = S3Store::new(
        s3.clone(),
        bucket.clone(),
        tokio::runtime::Handle::current(),
    );
    let fake = FakeBwp::start().await;
    fake.set_polls_to_finish(1);
    let mut config = ClientConfig::new(fake.url(), CLIENT_ID, CLIENT_SECRET, TARGET_ID);
    config.deadline = Duration::from_secs(5);
    let feeds = FeedDeps {
        api: Arc::new(Client::new(config).unwrap()),
        settings: FeedSettings::default(),
    };
    let body = "{\"external_id\":\"p1\",\"sku\":\"S1\",\"amazon_sku\":\"M1\",\"image_url\":\"https://i/1\"}\n";
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("products/p.jsonl")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    let export = ProductsRef {
        key: "products/p.jsonl".into(),
        etag: put.e_tag().unwrap().into(),
        dropped_ms: 0,
    };
    submit_pass(
        &work,
        &feeds.api,
        &Alerts::LogOnly,
        &feeds.settings,
        FeedTrigger::Products(export),
        clock(),
    )
    .await
    .unwrap();

    let mut deps = Deps {
        work: work.clone(),
        destination: work.clone(),
        alerts: Alerts::LogOnly,
        settings: ReportSettings::new("acme", "staging"),
        clock,
        feeds: None,
    };
    let event = || LambdaEvent::new(json!({"task": "bwp-results"}), Context::default());
    let off = handle(event(), &deps).await.unwrap();
    assert_eq!(off["off"], true, "feeds off: a no-op, not an error");
    assert_eq!(fake.downloads().len(), 0);

    deps.feeds = Some(feeds);
    let first = handle(event(), &deps).await.unwrap();
    assert_eq!(first["feeds"][0]["outcome"], "completed", "{first}");
    assert_eq!(first["feeds"][0]["imported"], 1);
    let again = handle(event(), &deps).await.unwrap();
    assert_eq!(again["feeds"], json!([]), "read once");
    assert_eq!(fake.downloads().values().sum::<u32>(), 1);
}
