//! Buy with Prime catalog feeds end to end: the S3 emulator (moto) for the
//! work bucket, the fake Buy with Prime API (`bwp-fake`) on a loopback port,
//! and the real client. The builder's handler submits (a `products/` drop
//! through the real notification, and the `bwp-submit` schedule); the
//! report parser's results pass (`catalog_aws::bwp_results`, what its
//! `bwp-results` schedule runs) reads the results back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bwp_api::{Client, ClientConfig};
use bwp_fake::feeds::FakeSignal;
use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, TARGET_ID};
use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::Settings;
use catalog_aws::bwp_pass::{
    FeedDeps, FeedPassError, FeedSettings, FeedTrigger, LISTING_KEY, ProductsRef, Submission,
    SubmitReport, all_records, load_listing, result_key, result_summary_key, submit_pass,
};
use catalog_aws::bwp_results::{FeedOutcome, results_pass};
use catalog_aws::faulty::{Faulty, Op};
use catalog_aws::s3::S3Store;
use catalog_aws::store::ObjectStore;
use catalog_builder::{Deps, handle};
use catalog_core::bwp::{ListingKind, ListingStatus, Step};
use catalog_testkit::Emulator;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

fn products(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"external_id\":\"p{i}\",\"sku\":\"S{i}\",\"amazon_sku\":\"M{i}\",\"image_url\":\"https://i.example/{i}.jpg\"}}\n"
            )
        })
        .collect()
}

fn client(fake: &FakeBwp) -> Client {
    let mut config = ClientConfig::new(fake.url(), CLIENT_ID, CLIENT_SECRET, TARGET_ID);
    config.first_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(40);
    config.deadline = Duration::from_secs(10);
    Client::new(config).unwrap()
}

fn settings() -> Settings {
    Settings {
        env: "staging".into(),
        catalog_id: "EXAMPLE".into(),
        part_size: 5 << 20,
        max_items_per_file: 5_000_000,
        policy: Default::default(),
        claim_timeout: 7200,
        level: 3,
        ember: Default::default(),
    }
}

struct World {
    fake: FakeBwp,
    store: S3Store,
    bucket: String,
    s3: aws_sdk_s3::Client,
    alerts_url: String,
    deps: Deps<S3Store>,
}

async fn world(prefix: &str) -> World {
    let emulator = Emulator::get();
    let bucket = emulator.fresh_bucket(prefix).await;
    let s3 = emulator.s3().await;
    let store = S3Store::new(
        s3.clone(),
        bucket.clone(),
        tokio::runtime::Handle::current(),
    );
    let fake = FakeBwp::start().await;
    let alerts_url = emulator.fresh_queue("alerts").await;
    let deps = Deps {
        store: store.clone(),
        settings: settings(),
        alerts: Alerts::Queue {
            client: emulator.sqs().await,
            url: alerts_url.clone(),
        },
        feeds: Some(FeedDeps {
            api: Arc::new(client(&fake)),
            settings: FeedSettings {
                part_size: 5 << 20,
                ..FeedSettings::default()
            },
        }),
    };
    World {
        fake,
        store,
        bucket,
        s3,
        alerts_url,
        deps,
    }
}

impl World {
    fn feeds(&self) -> &FeedDeps {
        self.deps.feeds.as_ref().unwrap()
    }

    async fn put(&self, key: &str, body: &str) -> ProductsRef {
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
        ProductsRef {
            key: key.into(),
            etag: out.e_tag().unwrap().into(),
            dropped_ms: 1_764_504_000_000,
        }
    }

    async fn schedule(&self) -> Value {
        handle(
            LambdaEvent::new(json!({"mode": "bwp-submit"}), Context::default()),
            &self.deps,
        )
        .await
        .unwrap()
    }

    /// The submission pass on a `products/` drop, with the world's feeds.
    async fn submit(&self, export: ProductsRef) -> Result<SubmitReport, FeedPassError> {
        let feeds = self.feeds();
        submit_pass(
            &self.store,
            &feeds.api,
            &self.deps.alerts,
            &feeds.settings,
            FeedTrigger::Products(export),
            1_764_504_000,
        )
        .await
    }

    async fn results(&self) -> Vec<FeedOutcome> {
        let feeds = self.feeds();
        results_pass(
            &self.store,
            &feeds.api,
            &self.deps.alerts,
            &feeds.settings,
            1_764_504_000,
        )
        .await
        .unwrap()
        .feeds
    }

    async fn keys(&self, prefix: &str) -> Vec<String> {
        self.store
            .list(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    async fn bytes(&self, key: &str) -> Vec<u8> {
        Emulator::get().object_bytes(&self.bucket, key).await
    }

    /// Every alert sent so far: (kind, detail).
    async fn alerts(&self) -> Vec<(String, Value)> {
        let sqs = Emulator::get().sqs().await;
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&self.alerts_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                out.push((
                    body["alert"].as_str().unwrap().to_owned(),
                    body["detail"].clone(),
                ));
                sqs.delete_message()
                    .queue_url(&self.alerts_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// Python's `csv` module reads each file with the exact header row: what
/// it read of each, in order.
fn python_reads(files: &[(String, Vec<u8>)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("python3")
        .arg(root.join("tests/bwp/read_feed.py"))
        .args(&paths)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    paths
        .iter()
        .map(|p| read[p.to_str().unwrap()].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_thousand_products_go_as_three_feeds_one_at_a_time_and_each_result_is_read_once() {
    let w = world("bwp-40k").await;
    w.fake.fail_every_nth_row(1000);
    let emulator = Emulator::get();
    let queue = emulator.notify_queue(&w.bucket, "products/").await;
    w.put("products/export-1.jsonl", &products(40_000)).await;
    // S3's test event, then the drop, through the real notification.
    let event = emulator.receive_event(&queue, 2).await;
    let response = handle(LambdaEvent::new(event, Context::default()), &w.deps)
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");

    let files: Vec<String> = w
        .keys("bwp/feeds/")
        .await
        .into_iter()
        .filter(|k| k.ends_with(".csv"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let records = all_records(&w.store).await.unwrap();
    let products_per_file: Vec<u64> = records.iter().map(|v| v.record.products).collect();
    assert_eq!(products_per_file, [15_000, 15_000, 10_000]);
    assert_eq!(records[0].record.step, Step::Submitted, "the first went");
    assert_eq!(records[1].record.step, Step::Queued);
    assert_eq!(w.fake.feeds_created().len(), 1);

    // Feed 1 is ongoing: file 2 is uploaded, refused with 429, and waits.
    let report = w.schedule().await;
    assert_eq!(report["submission"]["status"], "waiting", "{report}");
    assert_eq!(w.fake.create_feed_calls(), 2);
    assert_eq!(w.fake.feeds_created().len(), 1, "429 honoured");
    let records = all_records(&w.store).await.unwrap();
    assert_eq!(
        (records[1].record.step, records[1].record.waits),
        (Step::Uploaded, 1)
    );

    // Results: CREATED, IN_PROGRESS, then COMPLETED and read; then the next file.
    for round in 1..=3u32 {
        let outcomes = w.results().await;
        assert!(
            matches!(&outcomes[..], [FeedOutcome::Pending { status, .. }] if status == "CREATED"),
            "round {round}: {outcomes:?}"
        );
        let outcomes = w.results().await;
        assert!(
            matches!(&outcomes[..], [FeedOutcome::Pending { status, .. }] if status == "IN_PROGRESS"),
            "round {round}: {outcomes:?}"
        );
        let outcomes = w.results().await;
        match &outcomes[..] {
            [FeedOutcome::Completed { rows, failed, .. }] => {
                let expected: u64 = if round == 3 { 10_000 } else { 15_000 };
                assert_eq!((*rows, *failed), (expected, expected / 1000));
            }
            other => panic!("round {round}: {other:?}"),
        }
        let report = w.schedule().await;
        let expected = if round == 3 {
            "nothing-to-submit"
        } else {
            "submitted"
        };
        assert_eq!(report["submission"]["status"], expected, "{report}");
    }

    // Reruns change nothing: nothing fetched, parsed, summarised or sent twice.
    assert!(w.results().await.is_empty());
    assert_eq!(
        w.schedule().await["submission"]["status"],
        "nothing-to-submit"
    );
    let created = w.fake.feeds_created();
    assert_eq!(created.len(), 3);
    assert_eq!(w.fake.create_feed_calls(), 4, "three feeds and one refusal");
    let downloads = w.fake.downloads();
    assert_eq!(downloads.len(), 3);
    assert!(downloads.values().all(|&n| n == 1), "{downloads:?}");
    let records = all_records(&w.store).await.unwrap();
    for v in &records {
        assert_eq!(v.record.step, Step::Done, "{}", v.record.file);
        assert!(!w.bytes(&result_key(&v.record.file)).await.is_empty());
        let summary: Value =
            serde_json::from_slice(&w.bytes(&result_summary_key(&v.record.file)).await).unwrap();
        assert_eq!(summary["summary"]["failed"], v.record.products / 1000);
        assert_eq!(summary["feed_id"], json!(v.record.feed_id));
    }
    let alerts = w.alerts().await;
    let kinds: Vec<&str> = alerts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds, ["bwp-rows-failed"; 3],
        "one alert per result with failed rows"
    );

    // The listing state: imported products listed, failed ones failed,
    // each with its feed file and the API's feed id.
    let (state, _) = load_listing(&w.store).await.unwrap();
    assert_eq!(state.len(), 40_000);
    let ok = state.get("p0").unwrap();
    assert_eq!(ok.status, ListingStatus::Listed);
    assert_eq!(ok.feed.as_deref(), Some(records[0].record.file.as_str()));
    assert_eq!(ok.feed_id, records[0].record.feed_id);
    let failed = state.get("p999").unwrap();
    assert_eq!(failed.status, ListingStatus::FailedFirstListing);
    assert_eq!(
        failed.errors.as_deref(),
        Some("InvalidAmazonSkuConfiguration;MissingImage")
    );
    assert_eq!(state.kind_of("p1"), ListingKind::Relisting);

    // What Amazon received is what Python's csv module reads, header first.
    let sent: Vec<(String, Vec<u8>)> = created
        .into_iter()
        .enumerate()
        .map(|(i, (_, bytes))| (format!("feed-{i}.csv"), bytes))
        .collect();
    let read = python_reads(&sent);
    let rows: Vec<u64> = read.iter().map(|r| r["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows, [15_000, 15_000, 10_000]);
    assert_eq!(
        read[0]["first"],
        json!(["p0", "", "S0", "M0", "", "https://i.example/0.jpg", ""])
    );
    assert!(w.keys(LISTING_KEY).await.len() == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_size_mismatch_or_an_expired_upload_link_gets_a_new_link_and_a_correct_retry() {
    let w = world("bwp-mismatch").await;
    let export = w.put("products/a.jsonl", &products(3)).await;
    w.fake.mismatch_next_upload_link();
    let report = w.submit(export).await.unwrap();
    assert!(
        matches!(report.submission, Submission::Submitted { .. }),
        "{report:?}"
    );
    assert_eq!(w.fake.uploads_refused(), ["SignatureDoesNotMatch"]);
    let record = &all_records(&w.store).await.unwrap()[0].record;
    assert_eq!(record.links_asked, 2);
    let file = w.bytes(&record.key).await;
    assert_eq!(w.fake.feeds_created()[0].1, file, "the file went whole");

    // An expired link the same way (AccessDenied).
    w.fake.set_polls_to_finish(1);
    w.results().await;
    let export = w.put("products/b.jsonl", &products(5)).await;
    w.fake.expire_next_upload_link();
    let report = w.submit(export).await.unwrap();
    assert!(
        matches!(report.submission, Submission::Submitted { .. }),
        "{report:?}"
    );
    assert_eq!(
        w.fake.uploads_refused(),
        ["SignatureDoesNotMatch", "AccessDenied"]
    );
    assert_eq!(w.fake.feeds_created().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_download_link_gets_a_new_one() {
    let w = world("bwp-download").await;
    w.fake.set_polls_to_finish(1);
    let export = w.put("products/a.jsonl", &products(4)).await;
    w.submit(export).await.unwrap();
    w.fake.expire_next_download_link();
    let outcomes = w.results().await;
    assert!(
        matches!(
            &outcomes[..],
            [FeedOutcome::Completed {
                rows: 4,
                imported: 4,
                ..
            }]
        ),
        "{outcomes:?}"
    );
    let downloads = w.fake.downloads();
    assert_eq!(downloads.values().copied().collect::<Vec<_>>(), [1]);
    let record = &all_records(&w.store).await.unwrap()[0].record;
    assert_eq!(record.step, Step::Done);
    assert!(w.alerts().await.is_empty(), "no row failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_feed_is_alerted_with_every_signal_and_its_products_go_again() {
    let w = world("bwp-failed").await;
    w.fake.set_polls_to_finish(2);
    w.fake.fail_next_feed(FakeSignal::examples());
    let export = w.put("products/a.jsonl", &products(3)).await;
    w.submit(export.clone()).await.unwrap();
    assert!(matches!(
        &w.results().await[..],
        [FeedOutcome::Pending { .. }]
    ));
    let outcomes = w.results().await;
    assert!(
        matches!(&outcomes[..], [FeedOutcome::Failed { codes, .. }] if codes == "INVALID_FILE_FORMAT;FILE_TOO_LARGE"),
        "{outcomes:?}"
    );
    assert!(w.results().await.is_empty(), "dealt with once");
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (kind, detail) = &alerts[0];
    assert_eq!(kind, "bwp-feed-failed");
    let signals = detail["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 2);
    assert_eq!(signals[0]["code"], "INVALID_FILE_FORMAT");
    assert_eq!(
        signals[0]["message"],
        "The file could not be read as a catalog feed"
    );
    assert_eq!(
        signals[0]["impact_summary"],
        "No product of the file was imported"
    );
    assert_eq!(
        signals[0]["reaction_summary"],
        "Fix the header row and upload the file again"
    );
    assert_eq!(signals[1]["code"], "FILE_TOO_LARGE");
    assert_eq!(
        signals[1]["message"],
        "The file holds more than 15,000 products"
    );
    let (state, _) = load_listing(&w.store).await.unwrap();
    let entry = state.get("p0").unwrap();
    assert_eq!(entry.status, ListingStatus::FailedFirstListing);
    assert!(entry.feed_id.is_some());

    // Dropped again unchanged, its products go again (nothing reached Amazon).
    let again = ProductsRef {
        dropped_ms: export.dropped_ms + 60_000,
        ..export
    };
    let report = w.submit(again).await.unwrap();
    assert_eq!(report.build.unwrap().counts.first_listings, 3);
    assert!(matches!(report.submission, Submission::Submitted { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_drop_of_an_older_export_is_superseded_and_sends_nothing() {
    let w = world("bwp-order").await;
    let older = w.put("products/monday.jsonl", &products(2)).await;
    let newer = ProductsRef {
        dropped_ms: older.dropped_ms + 3_600_000,
        ..w.put("products/tuesday.jsonl", &products(3)).await
    };
    let built = w.submit(newer.clone()).await.unwrap().build.unwrap();
    assert_eq!((built.status, built.files.len()), ("built", 1));
    let late = w.submit(older).await.unwrap().build.unwrap();
    assert_eq!((late.status, late.files.len()), ("superseded", 0));
    let again = w.submit(newer).await.unwrap().build.unwrap();
    assert_eq!(
        again.status, "nothing-to-do",
        "a redelivery of the newest builds nothing new"
    );
    assert_eq!(all_records(&w.store).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_while_the_api_is_down_is_built_and_queued_and_the_schedule_submits_it() {
    let w = world("bwp-down").await;
    let mut config = ClientConfig::new(w.fake.url(), CLIENT_ID, CLIENT_SECRET, TARGET_ID);
    config.first_backoff = Duration::from_millis(10);
    config.deadline = Duration::from_millis(300);
    let api = Client::new(config).unwrap();
    let export = w.put("products/a.jsonl", &products(3)).await;
    let settings = FeedSettings::default();
    w.fake.set_down(true);
    let report = submit_pass(
        &w.store,
        &api,
        &w.deps.alerts,
        &settings,
        FeedTrigger::Products(export),
        1_764_504_000,
    )
    .await
    .expect("the drop itself succeeds: its build is committed");
    assert!(
        matches!(report.submission, Submission::Deferred { .. }),
        "{report:?}"
    );
    assert_eq!(
        all_records(&w.store).await.unwrap()[0].record.step,
        Step::Queued
    );
    // A schedule while still down fails (Lambda's Errors alarm sees it) …
    let down = submit_pass(
        &w.store,
        &api,
        &w.deps.alerts,
        &settings,
        FeedTrigger::Schedule,
        1_764_504_000,
    )
    .await;
    assert!(down.is_err());
    // … and the next one, with the API back, submits the file.
    w.fake.set_down(false);
    let report = w.schedule().await;
    assert_eq!(report["submission"]["status"], "submitted", "{report}");
    assert_eq!(w.fake.feeds_created().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_at_once_create_one_feed_the_other_stops() {
    // LocalStore: its compare-and-swap is atomic under races (moto's is not).
    let dir = tempfile::tempdir().unwrap();
    let store = catalog_aws::local::LocalStore::new(dir.path());
    let fake = FakeBwp::start().await;
    let api = client(&fake);
    let settings = FeedSettings::default();
    let body = products(5).into_bytes();
    let info = store
        .put(
            "products/a.jsonl",
            body,
            catalog_aws::store::Precondition::None,
            &Default::default(),
        )
        .await
        .unwrap();
    let export = ProductsRef {
        key: "products/a.jsonl".into(),
        etag: info.etag,
        dropped_ms: 0,
    };
    catalog_aws::bwp_pass::build_from_export(&store, &settings, &export, 0)
        .await
        .unwrap();
    for _ in 0..5 {
        let run = || {
            submit_pass(
                &store,
                &api,
                &Alerts::LogOnly,
                &settings,
                FeedTrigger::Schedule,
                0,
            )
        };
        let (a, b) = tokio::join!(run(), run());
        let (a, b) = (a.unwrap().submission, b.unwrap().submission);
        let submitted = [&a, &b]
            .iter()
            .filter(|s| matches!(s, Submission::Submitted { .. }))
            .count();
        assert!(submitted <= 1, "{a:?} {b:?}");
        if submitted == 1 {
            break;
        }
    }
    assert_eq!(fake.feeds_created().len(), 1);
    assert_eq!(
        fake.create_feed_calls(),
        1,
        "the loser never called the API"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_summarised_and_alerted_once_even_when_the_drop_comes_twice() {
    let w = world("bwp-bad-rows").await;
    let mut text = products(3);
    text.push_str("{\"external_id\":\"bad\",\"sku\":\"S-bad\"}\n");
    let export = w.put("products/a.jsonl", &text).await;
    let feeds = w.feeds();
    for _ in 0..2 {
        let report = submit_pass(
            &w.store,
            &feeds.api,
            &w.deps.alerts,
            &feeds.settings,
            FeedTrigger::Products(export.clone()),
            1_764_504_000,
        )
        .await
        .unwrap();
        assert_eq!(report.build.unwrap().rows_rejected, 1);
    }
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "bwp-rows-refused");
    assert!(
        alerts[0].1["first_findings"][0]
            .as_str()
            .unwrap()
            .starts_with("line 4:")
    );
    let summary: Value = serde_json::from_slice(
        &w.bytes(&catalog_aws::bwp_pass::build_summary_key(&export))
            .await,
    )
    .unwrap();
    assert_eq!(summary["first_listings"], 3);
    assert_eq!(w.fake.feeds_created().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_feeds_off_the_schedule_is_a_no_op_and_a_products_drop_is_handed_back_for_retry() {
    let dir = tempfile::tempdir().unwrap();
    let deps = Deps {
        store: catalog_aws::local::LocalStore::new(dir.path()),
        settings: settings(),
        alerts: Alerts::LogOnly,
        feeds: None,
    };
    let off = handle(
        LambdaEvent::new(json!({"mode": "bwp-submit"}), Context::default()),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(off["submission"]["status"], "off");
    let notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-30T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
               "object": {"key": "products/a.jsonl", "size": 10, "eTag": "abc"}}
    }]});
    let batch = json!({"Records": [{
        "messageId": "m1", "eventSource": "aws:sqs", "body": notification.to_string()
    }]});
    let response = handle(LambdaEvent::new(batch, Context::default()), &deps)
        .await
        .unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "m1"}]),
        "{response}"
    );
}

/// One full life of a small export: the drop (redelivered until it
/// succeeds: a crash while building fails it; one while submitting defers
/// to the schedule), then results passes and `bwp-submit` schedules until
/// the record is done.
async fn drive<S: ObjectStore + Clone>(
    store: &S,
    w: &World,
    export: &ProductsRef,
    window_finish: bool,
) {
    let feeds = w.feeds();
    let now = 1_764_504_000;
    let mut delivered = false;
    for _ in 0..6 {
        if submit_pass(
            store,
            &feeds.api,
            &w.deps.alerts,
            &feeds.settings,
            FeedTrigger::Products(export.clone()),
            now,
        )
        .await
        .is_ok()
        {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the redelivered drop went through");
    for _ in 0..12 {
        let records = all_records(store).await.unwrap();
        if records.iter().all(|v| v.record.step == Step::Done) && !records.is_empty() {
            return;
        }
        if window_finish {
            // Amazon finishes the feed whose id the ledger lost.
            if let Some((id, _)) = w.fake.feeds_created().first() {
                let _ = feeds.api.catalog_feed(id).await;
            }
        }
        let _ = results_pass(store, &feeds.api, &w.deps.alerts, &feeds.settings, now).await;
        let _ = submit_pass(
            store,
            &feeds.api,
            &w.deps.alerts,
            &feeds.settings,
            FeedTrigger::Schedule,
            now,
        )
        .await;
    }
    panic!("the feed never got done");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_every_write_then_the_redelivery_or_the_schedule_submits_nothing_twice_outside_the_window()
 {
    // A clean life first, to number its writes and find the window: the
    // ledger write right after createCatalogFeed answered.
    let baseline = world("bwp-crash-base").await;
    baseline.fake.set_polls_to_finish(1);
    let writes: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = writes.clone();
    let store = Faulty::new(baseline.store.clone(), move |op| {
        if let Op::Put(key) | Op::Writer(key) = op {
            seen.lock().unwrap().push(key.to_owned());
        }
        None
    });
    let export = baseline.put("products/a.jsonl", &products(3)).await;
    drive(&store, &baseline, &export, false).await;
    assert_eq!(baseline.fake.feeds_created().len(), 1);
    let writes = writes.lock().unwrap().clone();
    let window = writes
        .iter()
        .enumerate()
        .filter(|(_, key)| key.starts_with("state/bwp/feeds/"))
        .map(|(i, _)| i)
        .nth(4)
        .expect("create, link, uploaded, creating, submitted");
    assert!(writes.len() > 10, "{writes:?}");

    for (n, what) in writes.iter().enumerate() {
        let w = world(&format!("bwp-crash-{n}")).await;
        w.fake.set_polls_to_finish(1);
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let store = Faulty::new(w.store.clone(), move |op| match op {
            Op::Put(_) | Op::Writer(_) if c.fetch_add(1, Ordering::SeqCst) == n => {
                Some("crash before this write".into())
            }
            _ => None,
        });
        let export = w.put("products/a.jsonl", &products(3)).await;
        drive(&store, &w, &export, n == window).await;
        let created = w.fake.feeds_created();
        if n == window {
            // The documented window: the answer was lost, the file went twice.
            assert_eq!(created.len(), 2, "write {n} ({what})");
            assert_eq!(created[0].1, created[1].1);
        } else {
            assert_eq!(created.len(), 1, "write {n} ({what}) submitted twice");
        }
        let downloads: u32 = w.fake.downloads().values().sum();
        let archive_write = what.ends_with(".result.csv");
        // A crash between the download and the archive fetches again.
        let expected = if archive_write { 2 } else { 1 };
        assert_eq!(downloads, expected, "write {n} ({what})");
        let records = all_records(&w.store).await.unwrap();
        assert_eq!(records.len(), 1, "write {n} ({what})");
        let summary = w.bytes(&result_summary_key(&records[0].record.file)).await;
        assert!(!summary.is_empty());
        let (state, _) = load_listing(&w.store).await.unwrap();
        assert_eq!(
            state.get("p2").unwrap().status,
            ListingStatus::Listed,
            "write {n} ({what})"
        );
    }
}
