//! The catalog builder against a real S3/SQS emulator (moto in server mode).
//!
//! Source drops travel the real path: PutObject → bucket notification → SQS →
//! ReceiveMessage → the handler, called with that SQS event as Lambda would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_s3::primitives::ByteStream;
use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::{Ended, Settings, Trigger, run};
use catalog_aws::local::LocalStore;
use catalog_aws::s3::S3Store;
use catalog_aws::state_store::{ExportRef, STATE_KEY, StateStore};
use catalog_aws::store::{Metadata, ObjectStore, Precondition};
use catalog_builder::{Deps, handle};
use catalog_core::diff::Policy;
use catalog_core::ids::KnownCatalog;
use catalog_core::outbox::ETag;
use catalog_core::reader::{CatalogReader, ReadOptions};
use catalog_testkit::Emulator;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const EXPORT: &str = include_str!("../../../examples/provider-export.jsonl");
const EXPORT_DAY2: &str = include_str!("../../../examples/provider-export-day2.jsonl");
const EXPORT_BAD: &str = include_str!("../../../examples/provider-export-bad.jsonl");

fn settings() -> Settings {
    Settings {
        env: "staging".into(),
        catalog_id: "EXAMPLE".into(),
        part_size: 5 << 20,
        max_items_per_file: 5_000_000,
        policy: Policy::default(),
        claim_timeout: 7200,
        level: 3,
        ember: Default::default(),
    }
}

struct Fixture {
    store: S3Store,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

async fn fixture(prefix: &str) -> Fixture {
    let emulator = Emulator::get();
    let bucket = emulator.fresh_bucket(prefix).await;
    let s3 = emulator.s3().await;
    let store = S3Store::new(
        s3.clone(),
        bucket.clone(),
        tokio::runtime::Handle::current(),
    );
    Fixture { store, s3, bucket }
}

impl Fixture {
    async fn put(&self, key: &str, body: &str) -> ExportRef {
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
        ExportRef {
            key: key.into(),
            etag: ETag::new(out.e_tag().unwrap()),
            dropped_ms: 0,
        }
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

    /// Reads a catalog back (zstd → XML) and validates it.
    async fn validate(&self, key: &str) -> catalog_core::reader::ReadReport {
        let bytes = self.bytes(key).await;
        assert_eq!(&bytes[..4], &[0x28, 0xB5, 0x2F, 0xFD], "{key} is not zstd");
        CatalogReader::new(&bytes[..], ReadOptions::default())
            .unwrap()
            .validate_to_end()
            .unwrap()
    }

    async fn catalogs(&self) -> Vec<String> {
        self.keys("outbox/staging/catalogs/").await
    }
}

/// Wires the bucket's `source/` notifications to a fresh queue.
async fn notify_queue(fixture: &Fixture) -> (aws_sdk_sqs::Client, String) {
    let emulator = Emulator::get();
    let queue_url = emulator.notify_queue(&fixture.bucket, "source/").await;
    (emulator.sqs().await, queue_url)
}

/// Receives up to `n` messages and shapes them as the Lambda SQS event.
async fn receive(_sqs: &aws_sdk_sqs::Client, queue_url: &str, n: usize) -> Value {
    Emulator::get().receive_event(queue_url, n).await
}

async fn invoke(deps: &Deps<S3Store>, payload: Value) -> Value {
    handle(LambdaEvent::new(payload, Context::default()), deps)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_drop_through_the_real_notification_builds_a_valid_catalog_once() {
    let f = fixture("drop").await;
    let (sqs, queue_url) = notify_queue(&f).await;
    f.put("source/provider export 1+x.jsonl", EXPORT).await;
    // The test event S3 sends on set-up, then the drop.
    let event = receive(&sqs, &queue_url, 2).await;
    let deps = Deps {
        store: f.store.clone(),
        settings: settings(),
        alerts: Alerts::LogOnly,
        feeds: None,
    };

    let response = invoke(&deps, event.clone()).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let catalogs = f.catalogs().await;
    assert_eq!(catalogs.len(), 1, "{catalogs:?}");
    assert!(catalogs[0].ends_with("-full.xml.zst"), "{catalogs:?}");
    let report = f.validate(&catalogs[0]).await;
    assert!(report.is_valid(), "{:?}", report.findings);
    assert_eq!(report.items, [4, 2, 3, 6]);
    let head = f.store.head(&catalogs[0]).await.unwrap().unwrap();
    assert_eq!(head.metadata["catalog-type"], "CATALOG_FULL");
    assert_eq!(head.metadata["items-episode"], "6");
    assert_eq!(head.metadata["catalog-version"], "1");
    let state_before = f.store.head(STATE_KEY).await.unwrap().unwrap();
    let state = StateStore::new(f.store.clone())
        .load("EXAMPLE")
        .await
        .unwrap()
        .state;
    assert_eq!(state.catalog_version, 1);
    assert_eq!(state.live_count(), 15);

    // The same message delivered again: no second catalog, state unchanged.
    let response = invoke(&deps, event).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert_eq!(f.catalogs().await, catalogs);
    let state_after = f.store.head(STATE_KEY).await.unwrap().unwrap();
    assert_eq!(state_after.etag, state_before.etag);
    // Nothing half-written is left behind.
    assert!(
        f.keys("outbox/staging/catalogs/")
            .await
            .iter()
            .all(|k| !k.contains("-part"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_export_sends_an_update_with_children_first_deletes() {
    let f = fixture("update").await;
    let day1 = f.put("source/day1.jsonl", EXPORT).await;
    let sent = run(
        &f.store,
        &settings(),
        Trigger::Export {
            export: day1,
            time: 1_767_592_800,
        },
    )
    .await
    .unwrap();
    assert!(matches!(sent.ended, Ended::Sent { .. }), "{sent:?}");
    let day2 = f.put("source/day2.jsonl", EXPORT_DAY2).await;
    let sent = run(
        &f.store,
        &settings(),
        Trigger::Export {
            export: day2,
            time: 1_767_679_200,
        },
    )
    .await
    .unwrap();
    let Ended::Sent {
        manifest_type, key, ..
    } = &sent.ended
    else {
        panic!("{sent:?}")
    };
    assert_eq!(*manifest_type, "CATALOG_UPDATE");
    assert_eq!(sent.deletes.total(), 6);
    let xml = zstd::decode_all(&f.bytes(key).await[..]).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    let deletes: Vec<&str> = xml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<Delete id=\""))
        .map(|l| l.split('"').next().unwrap())
        .collect();
    let position = |id: &str| deletes.iter().position(|d| *d == id).unwrap();
    assert!(position("tv-orbit-kitchen-s1e1") < position("tv-orbit-kitchen-s1"));
    assert!(position("tv-orbit-kitchen-s1") < position("tv-orbit-kitchen"));
    // Validated against what was live before it.
    let before = StateStore::new(f.store.clone())
        .load("EXAMPLE")
        .await
        .unwrap();
    assert_eq!(before.state.catalog_version, 2);

    // A schedule the next day with nothing new: nothing to do, no catalog.
    let catalogs = f.catalogs().await;
    let nothing = run(
        &f.store,
        &settings(),
        Trigger::Schedule {
            full: false,
            time: 1_767_765_600,
        },
    )
    .await
    .unwrap();
    assert_eq!(nothing.ended, Ended::NothingToDo);
    assert_eq!(f.catalogs().await, catalogs);
    assert!(
        f.keys("state/ledger/claims/").await.len() == 2,
        "the empty run released its claim"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_export_builds_the_good_rows_and_reports_the_bad_ones() {
    let f = fixture("bad").await;
    let export = f.put("source/bad.jsonl", EXPORT_BAD).await;
    let report = run(
        &f.store,
        &settings(),
        Trigger::Export {
            export,
            time: 1_767_592_800,
        },
    )
    .await
    .unwrap();
    let Ended::Sent { key, .. } = &report.ended else {
        panic!("{report:?}")
    };
    assert_eq!(report.items.movie, 3);
    assert_eq!(report.rows_rejected, 8);
    let lines: Vec<u64> = report.findings.iter().map(|f| f.line).collect();
    // Line 0: the build-wide warning that prices were not sent (EMBER has no place for them).
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 10, 0]);
    assert!(f.validate(key).await.is_valid());
    // The findings are kept next to the submission in the ledger.
    let ledger = f.keys("state/ledger/submissions/").await;
    assert_eq!(ledger.len(), 1);
    let record: Value = serde_json::from_slice(&f.bytes(&ledger[0]).await).unwrap();
    assert_eq!(record["findings"].as_array().unwrap().len(), 10);
}

/// Races run on the local store: its create-once and compare-and-swap are
/// atomic (hard links, a lock file), as S3's are. moto checks a condition and
/// then writes without a lock, so two racing writers can both pass there; a
/// race test on it would test moto, not us.
/// Two different exports racing: `hardening.rs`
/// (`two_exports_racing_end_with_the_newer_one_built_and_no_version_shared`).
#[tokio::test(flavor = "multi_thread")]
async fn the_same_export_delivered_twice_at_once_builds_one_catalog() {
    let s = settings();
    // The same export delivered twice at once: one catalog, one version.
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    let info = store
        .put(
            "source/c.jsonl",
            EXPORT.as_bytes().to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    let c = ExportRef {
        key: "source/c.jsonl".into(),
        etag: ETag::new(info.etag),
        dropped_ms: 0,
    };
    let (r1, r2) = tokio::join!(
        run(
            &store,
            &s,
            Trigger::Export {
                export: c.clone(),
                time: 1_767_592_800
            }
        ),
        run(
            &store,
            &s,
            Trigger::Export {
                export: c.clone(),
                time: 1_767_592_800
            }
        ),
    );
    let ended: Vec<Ended> = [r1.unwrap(), r2.unwrap()]
        .into_iter()
        .map(|r| r.ended)
        .collect();
    assert!(
        ended.iter().any(|e| matches!(e, Ended::Sent { .. })),
        "{ended:?}"
    );
    assert_eq!(
        store.list("outbox/staging/catalogs/").await.unwrap().len(),
        1
    );
    let state = StateStore::new(store.clone())
        .load("EXAMPLE")
        .await
        .unwrap()
        .state;
    assert_eq!(state.catalog_version, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_catalog_is_split_in_parts_with_a_batch_descriptor_written_last() {
    let f = fixture("parts").await;
    let export = f.put("source/export.jsonl", EXPORT).await;
    let mut s = settings();
    s.max_items_per_file = 6;
    let report = run(
        &f.store,
        &s,
        Trigger::Export {
            export,
            time: 1_767_592_800,
        },
    )
    .await
    .unwrap();
    let Ended::Sent { key, parts, .. } = &report.ended else {
        panic!("{report:?}")
    };
    assert!(key.ends_with(".batch.json"), "{key}");
    assert_eq!(parts.len(), 3);
    let descriptor: Value = serde_json::from_slice(&f.bytes(key).await).unwrap();
    let listed: Vec<&str> = descriptor["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(listed, parts.iter().map(String::as_str).collect::<Vec<_>>());
    // The parts are one logical catalog: each is valid given the parts before it.
    let mut known = KnownCatalog::new();
    let mut total = 0;
    for (n, part) in parts.iter().enumerate() {
        assert!(
            part.ends_with(&format!("-part{:04}.xml.zst", n + 1)),
            "{part}"
        );
        let bytes = f.bytes(part).await;
        let options = ReadOptions {
            known: Some(&known),
            ..ReadOptions::default()
        };
        let mut reader = CatalogReader::new(&bytes[..], options).unwrap();
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry() {
            entries.push(entry);
        }
        let read = reader.finish();
        assert!(read.is_valid(), "{part}: {:?}", read.findings);
        assert!(read.total_items() <= 6);
        total += read.total_items();
        for entry in &entries {
            known.apply(entry);
        }
    }
    assert_eq!(total, 15);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_message_is_reported_as_a_batch_failure_and_the_test_event_is_not() {
    let f = fixture("poison").await;
    let deps = Deps {
        store: f.store.clone(),
        settings: settings(),
        alerts: Alerts::LogOnly,
        feeds: None,
    };
    let payload = json!({"Records": [
        {"messageId": "ok", "body": "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"b\"}", "eventSource": "aws:sqs"},
        {"messageId": "poison", "body": "this is not a notification", "eventSource": "aws:sqs"}
    ]});
    let response = invoke(&deps, payload).await;
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "poison"}]})
    );
}
