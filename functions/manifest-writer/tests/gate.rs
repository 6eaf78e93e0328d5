//! The gate against a real S3/SQS emulator (moto in server mode): the work
//! bucket and Amazon's bucket are two buckets of the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::{Ended, Trigger};
use catalog_aws::faulty::{Faulty, Op};
use catalog_aws::gate_pass::run;
use catalog_aws::s3::S3Store;
use catalog_aws::state_store::{ExportRef, NEEDS_FULL_PREFIX, StateStore, published_key};
use catalog_aws::store::ObjectStore;
use catalog_core::diff::{Policy, content_hash};
use catalog_core::input::Limits;
use catalog_core::ledger::Published;
use catalog_core::model::{
    Action, CatalogHeader, Delete, Item, ItemKind, KindTag, LocalizedText, Metadata as ItemMeta,
};
use catalog_core::outbox::ETag;
use catalog_core::state::{CatalogState, ItemState, Status};
use catalog_core::writer::CatalogWriter;
use catalog_testkit::Emulator;
use lambda_runtime::{Context, LambdaEvent};
use manifest_writer::{Deps, Outcome, Settings, handle};
use serde_json::{Value, json};

const EXPORT: &str = include_str!("../../../examples/provider-export.jsonl");
const SEED_MANIFEST: &str = include_str!("fixtures/seed-manifest.json");
const SEED_KEY: &str = "<provider>/prod/catalogs/catalog-20250420.xml.zst";
const PROVIDER: &str = "acme";
const CATALOG_ID: &str = "EXAMPLE";

/// A store that fails manifest writes while `crash` is set: a crash after
/// the copies and before the manifest.
fn crashing(inner: S3Store, crash: Arc<AtomicBool>) -> Faulty<S3Store> {
    Faulty::new(inner, move |op| match op {
        Op::Put(key) if key.ends_with(".manifest") && crash.load(Ordering::SeqCst) => {
            Some("injected crash".into())
        }
        _ => None,
    })
}

struct Fixture {
    s3: aws_sdk_s3::Client,
    work: S3Store,
    destination: S3Store,
    deps: Deps<S3Store>,
}

fn settings(destination_bucket: &str) -> Settings {
    Settings {
        provider: PROVIDER.into(),
        env: "staging".into(),
        production_access: false,
        catalog_id: CATALOG_ID.into(),
        destination_bucket: destination_bucket.into(),
        shrink_limit_bps: 1000,
        limits: Limits::default(),
        max_findings: 1000,
        omit: Default::default(),
    }
}

async fn fixture(name: &str) -> Fixture {
    let emulator = Emulator::get();
    let s3 = emulator.s3().await;
    let rt = tokio::runtime::Handle::current();
    let work_bucket = emulator.fresh_bucket(&format!("{name}-work")).await;
    let destination_bucket = emulator.fresh_bucket(&format!("{name}-amazon")).await;
    let work = S3Store::new(s3.clone(), work_bucket, rt.clone());
    let destination =
        S3Store::new(s3.clone(), destination_bucket.clone(), rt).with_bucket_owner_full_control();
    let deps = Deps {
        work: work.clone(),
        destination: destination.clone(),
        alerts: Alerts::LogOnly,
        settings: settings(&destination_bucket),
    };
    Fixture {
        s3,
        work,
        destination,
        deps,
    }
}

fn builder_settings(env: &str) -> catalog_aws::build_pass::Settings {
    catalog_aws::build_pass::Settings {
        env: env.into(),
        catalog_id: CATALOG_ID.into(),
        part_size: 5 << 20,
        max_items_per_file: 5_000_000,
        policy: Policy::default(),
        claim_timeout: 7200,
        level: 3,
        ember: Default::default(),
    }
}

impl Fixture {
    async fn put(&self, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) -> String {
        let mut request = self
            .s3
            .put_object()
            .bucket(self.work.bucket())
            .key(key)
            .body(ByteStream::from(body));
        for (k, v) in metadata {
            request = request.metadata(*k, *v);
        }
        request.send().await.unwrap().e_tag().unwrap().to_owned()
    }

    async fn bytes(&self, store: &S3Store, key: &str) -> Vec<u8> {
        Emulator::get().object_bytes(store.bucket(), key).await
    }

    async fn keys(store: &S3Store, prefix: &str) -> Vec<String> {
        store
            .list(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// The builder's run on the example export, in `env`.
    async fn build(&self, env: &str, time: i64, max_items: u64) -> Ended {
        let etag = self
            .put("source/export.jsonl", EXPORT.as_bytes().to_vec(), &[])
            .await;
        let mut settings = builder_settings(env);
        settings.max_items_per_file = max_items;
        catalog_aws::build_pass::run(
            &self.work,
            &settings,
            Trigger::Export {
                export: ExportRef {
                    key: "source/export.jsonl".into(),
                    etag: ETag::new(etag),
                    dropped_ms: time * 1000,
                },
                time,
            },
        )
        .await
        .unwrap()
        .ended
    }

    async fn errors_json(&self, env: &str, name: &str) -> Value {
        let key = format!("outbox/{env}/rejected/{name}.errors.json");
        serde_json::from_slice(&self.bytes(&self.work, &key).await).unwrap()
    }
}

fn zst(xml: &str) -> Vec<u8> {
    zstd::encode_all(xml.as_bytes(), 3).unwrap()
}

/// An EMBER catalog of `items` and `deletes`, zstd-compressed.
fn catalog(id: &str, items: &[Item], deletes: &[Delete]) -> Vec<u8> {
    let header = CatalogHeader {
        id: id.into(),
        version: 1,
        action: Action::Upsert,
    };
    let mut writer = CatalogWriter::new(Vec::new(), &header).unwrap();
    for item in items {
        writer.write_item(item).unwrap();
    }
    for delete in deletes {
        writer.delete(delete.clone(), KindTag::Movie).unwrap();
    }
    let (xml, _) = writer.finish().unwrap();
    let mut out = zstd::Encoder::new(Vec::new(), 3).unwrap();
    out.write_all(&xml).unwrap();
    out.finish().unwrap()
}

fn movie(id: &str, version: u64, title: &str) -> Item {
    Item {
        id: id.into(),
        version,
        kind: ItemKind::Movie,
        meta: ItemMeta {
            title: LocalizedText {
                locale: "en-US".into(),
                text: title.into(),
            },
            ..ItemMeta::default()
        },
    }
}

/// Commits a state in which `movies` are live at version 1.
async fn live_movies(work: &S3Store, movies: &[Item]) {
    let mut state = CatalogState::new(CATALOG_ID);
    state.catalog_version = 1;
    for m in movies {
        state
            .upsert(
                &m.id,
                &ItemState {
                    kind: KindTag::Movie,
                    parent: None,
                    version: m.version,
                    hash: content_hash(m),
                    status: Status::Live,
                    sent_at: 1_767_592_800,
                },
            )
            .unwrap();
    }
    StateStore::new(work.clone())
        .commit(state, None)
        .await
        .unwrap();
}

async fn invoke<S: ObjectStore + Clone>(deps: &Deps<S>, payload: Value) -> Value {
    handle(LambdaEvent::new(payload, Context::default()), deps)
        .await
        .unwrap()
}

/// The seed's manifest example with its bucket and key replaced.
fn seed_manifest(bucket: &str, key: &str, kind: &str) -> String {
    SEED_MANIFEST
        .trim_end()
        .replace("amazon-media-catalogs", bucket)
        .replace(SEED_KEY, key)
        .replace("CATALOG_FULL", kind)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_built_catalog_travels_the_notification_and_gets_the_seed_manifest_once() {
    let f = fixture("good").await;
    let emulator = Emulator::get();
    let queue = emulator
        .notify_queue(f.work.bucket(), "outbox/staging/catalogs/")
        .await;
    let Ended::Sent { key, .. } = f.build("staging", 1_767_592_800, 5_000_000).await else {
        panic!("the builder sent nothing")
    };
    let name = key.rsplit('/').next().unwrap().to_owned();
    // The test event, the part the builder streamed, and the catalog.
    let event = emulator.receive_event(&queue, 3).await;

    let response = invoke(&f.deps, event.clone()).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let destination_key = format!("{PROVIDER}/staging/catalogs/{name}");
    assert_eq!(
        Fixture::keys(&f.destination, "").await,
        vec![
            destination_key.clone(),
            format!(
                "{PROVIDER}/staging/manifests/{}.manifest",
                name.trim_end_matches(".xml.zst")
            ),
        ]
    );
    assert_eq!(
        f.bytes(&f.destination, &destination_key).await,
        f.bytes(&f.work, &key).await,
        "the catalog is copied byte for byte"
    );
    let manifest_key = format!(
        "{PROVIDER}/staging/manifests/{}.manifest",
        name.trim_end_matches(".xml.zst")
    );
    let manifest = f.bytes(&f.destination, &manifest_key).await;
    assert_eq!(
        String::from_utf8(manifest).unwrap(),
        seed_manifest(f.destination.bucket(), &destination_key, "CATALOG_FULL")
    );
    let record: Published =
        serde_json::from_slice(&f.bytes(&f.work, &published_key(&name)).await).unwrap();
    assert_eq!(record.manifest_type, "CATALOG_FULL");
    assert_eq!(record.items.episode, 6);
    assert_eq!(record.built_as_version, Some(1));
    assert_eq!(record.files[0].destination, destination_key);
    let manifest_etag = f
        .destination
        .head(&manifest_key)
        .await
        .unwrap()
        .unwrap()
        .etag;

    // The same messages again: one manifest, unchanged.
    let response = invoke(&f.deps, event).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert_eq!(Fixture::keys(&f.destination, "").await.len(), 2);
    let again = f
        .destination
        .head(&manifest_key)
        .await
        .unwrap()
        .unwrap()
        .etag;
    assert_eq!(again, manifest_etag);
    assert_eq!(
        run(&f.deps, &key).await.unwrap().0,
        Outcome::AlreadyPublished {
            manifest: manifest_key
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_copy_and_the_manifest_is_finished_by_the_redelivery() {
    let f = fixture("crash").await;
    let Ended::Sent { key, .. } = f.build("staging", 1_767_592_800, 5_000_000).await else {
        panic!("the builder sent nothing")
    };
    let crash = Arc::new(AtomicBool::new(true));
    let wrap = |inner: &S3Store| crashing(inner.clone(), Arc::clone(&crash));
    let deps = Deps {
        work: wrap(&f.work),
        destination: wrap(&f.destination),
        alerts: Alerts::LogOnly,
        settings: f.deps.settings.clone(),
    };
    let error = run(&deps, &key).await.unwrap_err();
    assert!(error.to_string().contains("injected crash"), "{error}");
    let after_crash = Fixture::keys(&f.destination, "").await;
    assert_eq!(
        after_crash.len(),
        1,
        "the file, no manifest: {after_crash:?}"
    );
    assert!(after_crash[0].contains("/catalogs/"));

    crash.store(false, Ordering::SeqCst);
    let (outcome, _) = run(&deps, &key).await.unwrap();
    let Outcome::Published { manifest, keys } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(keys, after_crash);
    let at_destination = Fixture::keys(&f.destination, "").await;
    assert_eq!(at_destination, vec![keys[0].clone(), manifest]);
}

#[tokio::test(flavor = "multi_thread")]
async fn prod_without_production_access_is_quarantined_and_the_next_build_is_full() {
    let f = fixture("prod").await;
    let emulator = Emulator::get();
    let alerts_queue = emulator.fresh_queue("alerts").await;
    let mut deps = f.deps.clone();
    deps.settings.env = "prod".into();
    deps.alerts = Alerts::Queue {
        client: emulator.sqs().await,
        url: alerts_queue.clone(),
    };
    let Ended::Sent { key, .. } = f.build("prod", 1_767_592_800, 5_000_000).await else {
        panic!("the builder sent nothing")
    };
    let name = key.rsplit('/').next().unwrap().to_owned();
    let (outcome, _) = run(&deps, &key).await.unwrap();
    let Outcome::Quarantined { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("production access not enabled"), "{reason}");
    assert!(Fixture::keys(&f.destination, "").await.is_empty());
    assert!(
        Fixture::keys(&f.work, "outbox/prod/catalogs/")
            .await
            .is_empty()
    );
    assert_eq!(
        Fixture::keys(&f.work, "outbox/prod/rejected/").await,
        vec![
            format!("outbox/prod/rejected/{name}"),
            format!("outbox/prod/rejected/{name}.errors.json"),
        ]
    );
    let errors = f.errors_json("prod", &name).await;
    assert_eq!(errors["findings"][0]["rule"], "guard.production-closed");
    let alert = emulator.receive_event(&alerts_queue, 1).await;
    let body: Value = serde_json::from_str(alert["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["alert"], "catalog-quarantined");
    assert_eq!(body["detail"]["catalog"], name.as_str());

    // The redelivery finds it quarantined and does nothing more.
    assert_eq!(
        run(&deps, &key).await.unwrap().0,
        Outcome::AlreadyQuarantined
    );

    // The state counted that catalog as sent: the next build is a full one.
    assert_eq!(
        Fixture::keys(&f.work, NEEDS_FULL_PREFIX).await,
        vec![format!("{NEEDS_FULL_PREFIX}{name}.json")]
    );
    let next = catalog_aws::build_pass::run(
        &f.work,
        &builder_settings("prod"),
        Trigger::Schedule {
            full: false,
            time: 1_767_679_200,
        },
    )
    .await
    .unwrap();
    let Ended::Sent { manifest_type, .. } = next.ended else {
        panic!("{next:?}")
    };
    assert_eq!(manifest_type, "CATALOG_FULL");
    assert!(Fixture::keys(&f.work, NEEDS_FULL_PREFIX).await.is_empty());

    // Once production access is granted, that catalog goes through.
    let mut open = deps.clone();
    open.settings.production_access = true;
    let catalogs = Fixture::keys(&f.work, "outbox/prod/catalogs/").await;
    let (outcome, _) = run(&open, &catalogs[0]).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
}

/// `(fixture file, rule, options)` from the fixtures' README table.
fn fixture_table() -> Vec<(String, String, String)> {
    let readme = include_str!("../../../tests/fixtures/README.md");
    let invalid = readme
        .split("## invalid/")
        .nth(1)
        .unwrap()
        .split("## valid/")
        .next()
        .unwrap();
    invalid
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`').to_owned();
            let options = cells[2].to_owned();
            let rule = cells[4].split('`').nth(1).unwrap().to_owned();
            (file, rule, options)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_invalid_fixture_is_quarantined_with_an_errors_json_naming_its_rule() {
    let f = fixture("fixtures").await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    // `--known valid/known-harbor.xml`: the harbor hierarchy is live.
    let mut state = CatalogState::new("fixtures");
    for (id, kind, parent) in [
        ("tv-harbor", KindTag::Series, None),
        ("tv-harbor-s1", KindTag::Season, Some("tv-harbor")),
        ("tv-harbor-s1e1", KindTag::Episode, Some("tv-harbor-s1")),
        ("tv-harbor-s1e2", KindTag::Episode, Some("tv-harbor-s1")),
    ] {
        let item = ItemState {
            kind,
            parent: parent.map(str::to_owned),
            version: 1,
            hash: 0,
            status: Status::Live,
            sent_at: 1_767_592_800,
        };
        state.upsert(id, &item).unwrap();
    }
    StateStore::new(f.work.clone())
        .commit(state, None)
        .await
        .unwrap();
    let mut deps = f.deps.clone();
    deps.settings.catalog_id = "fixtures".into();
    let table = fixture_table();
    assert!(table.len() >= 30, "{table:?}");
    let mut problems = Vec::new();
    for (file, rule, options) in &table {
        let xml = std::fs::read_to_string(root.join("invalid").join(file)).unwrap();
        let mut deps = deps.clone();
        if options.contains("--max-xml-bytes 256") {
            deps.settings.limits.max_bytes = 256;
        }
        let name = format!("{}-update.xml.zst", file.trim_end_matches(".xml"));
        let key = format!("outbox/staging/catalogs/{name}");
        f.put(&key, zst(&xml), &[]).await;
        let (outcome, _) = run(&deps, &key).await.unwrap();
        if !matches!(outcome, Outcome::Quarantined { .. }) {
            problems.push(format!("{file}: {outcome:?}"));
            continue;
        }
        let errors = f.errors_json("staging", &name).await;
        let rules: Vec<&str> = errors["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        if !rules.contains(&rule.as_str()) {
            problems.push(format!(
                "{file}: expected {rule}, errors.json has {rules:?}"
            ));
        }
        if errors["findings"][0]["fix"]
            .as_str()
            .unwrap_or("")
            .is_empty()
        {
            problems.push(format!("{file}: a finding without a fix"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(Fixture::keys(&f.destination, "").await.is_empty());
    assert!(
        Fixture::keys(&f.work, "outbox/staging/catalogs/")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_only_the_gate_can_see_is_refused_with_its_rule() {
    let f = fixture("rules").await;
    let live: Vec<Item> = (0..5)
        .map(|n| movie(&format!("mv-{n}"), 2, "Live"))
        .collect();
    live_movies(&f.work, &live).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "lower-update.xml.zst",
            catalog(CATALOG_ID, &[movie("mv-0", 1, "Live")], &[]),
            "version.not-newer",
        ),
        (
            "reused-update.xml.zst",
            catalog(CATALOG_ID, &[movie("mv-1", 2, "Changed")], &[]),
            "version.reused",
        ),
        (
            "stale-delete-update.xml.zst",
            catalog(
                CATALOG_ID,
                &[],
                &[Delete {
                    id: "mv-2".into(),
                    version: 2,
                }],
            ),
            "version.not-newer",
        ),
        (
            "deletes-in-a-full.xml.zst",
            catalog(
                CATALOG_ID,
                &live[..4],
                &[Delete {
                    id: "mv-4".into(),
                    version: 3,
                }],
            ),
            "catalog.type",
        ),
        (
            "other-id-update.xml.zst",
            catalog("SOMEONE_ELSE", &[movie("mv-9", 1, "New")], &[]),
            "catalog.id",
        ),
        (
            "catalog-20250420.xml.zst",
            catalog(CATALOG_ID, &[movie("mv-9", 1, "New")], &[]),
            "catalog.type",
        ),
    ];
    for (name, body, rule) in cases {
        let key = format!("outbox/staging/catalogs/{name}");
        f.put(&key, body, &[]).await;
        let (outcome, _) = run(&f.deps, &key).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Quarantined { .. }),
            "{name}: {outcome:?}"
        );
        let errors = f.errors_json("staging", name).await;
        assert_eq!(errors["findings"][0]["rule"], rule, "{name}: {errors:#}");
    }
    // Plain XML is not what Amazon takes, whatever the name says.
    let key = "outbox/staging/catalogs/plain-update.xml.zst";
    let plain =
        zstd::decode_all(&catalog(CATALOG_ID, &[movie("mv-9", 1, "New")], &[])[..]).unwrap();
    f.put(key, plain, &[]).await;
    assert!(matches!(
        run(&f.deps, key).await.unwrap().0,
        Outcome::Quarantined { .. }
    ));
    let errors = f.errors_json("staging", "plain-update.xml.zst").await;
    assert_eq!(errors["findings"][0]["rule"], "input.compression");
    // The same checks pass a good update: newer, unchanged and new items.
    let key = "outbox/staging/catalogs/good-update.xml.zst";
    let good = catalog(
        CATALOG_ID,
        &[
            movie("mv-0", 3, "Changed"),
            live[1].clone(),
            movie("mv-9", 1, "New"),
        ],
        &[Delete {
            id: "mv-2".into(),
            version: 3,
        }],
    );
    f.put(key, good, &[]).await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
    assert!(Fixture::keys(&f.destination, "").await.len() == 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_catalog_dropping_11_percent_is_refused_and_9_percent_published() {
    let f = fixture("shrink").await;
    let live: Vec<Item> = (0..100)
        .map(|n| movie(&format!("mv-{n:03}"), 1, "Live"))
        .collect();
    live_movies(&f.work, &live).await;

    let key = "outbox/staging/catalogs/catalog-a-full.xml.zst";
    f.put(key, catalog(CATALOG_ID, &live[..89], &[]), &[]).await;
    let (outcome, counts) = run(&f.deps, key).await.unwrap();
    let Outcome::Quarantined { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("guard.shrink"), "{reason}");
    assert_eq!(counts.unwrap().dropped, 11);
    let errors = f.errors_json("staging", "catalog-a-full.xml.zst").await;
    assert!(
        errors["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("drop 11 of 100 live items (11.0%)"),
        "{errors:#}"
    );
    assert!(Fixture::keys(&f.destination, "").await.is_empty());

    let key = "outbox/staging/catalogs/catalog-b-full.xml.zst";
    f.put(key, catalog(CATALOG_ID, &live[..91], &[]), &[]).await;
    let (outcome, counts) = run(&f.deps, key).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
    assert_eq!(counts.unwrap().dropped, 9);

    // The one-run override lets 11% through.
    let key = "outbox/staging/catalogs/catalog-c-full.xml.zst";
    f.put(
        key,
        catalog(CATALOG_ID, &live[..89], &[]),
        &[("allow-shrink", "true")],
    )
    .await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_three_parts_gets_one_manifest_listing_them_in_order() {
    let f = fixture("batch").await;
    let Ended::Sent { key, parts, .. } = f.build("staging", 1_767_592_800, 6).await else {
        panic!("the builder sent nothing")
    };
    assert!(key.ends_with(".batch.json"), "{key}");
    assert_eq!(parts.len(), 3);
    // Parts alone do nothing.
    assert!(matches!(
        run(&f.deps, &parts[0]).await.unwrap().0,
        Outcome::Ignored { .. }
    ));
    assert!(Fixture::keys(&f.destination, "").await.is_empty());

    let (outcome, counts) = run(&f.deps, &key).await.unwrap();
    let Outcome::Published { manifest, keys } = outcome else {
        panic!("{outcome:?}")
    };
    let expected: Vec<String> = parts
        .iter()
        .map(|p| {
            format!(
                "{PROVIDER}/staging/catalogs/{}",
                p.rsplit('/').next().unwrap()
            )
        })
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(counts.unwrap().items, [4, 2, 3, 6]);
    let body: Value = serde_json::from_slice(&f.bytes(&f.destination, &manifest).await).unwrap();
    assert_eq!(body["s3Keys"], json!(expected));
    assert_eq!(body["type"], "CATALOG_FULL");
    for (source, destination) in parts.iter().zip(&expected) {
        assert_eq!(
            f.bytes(&f.destination, destination).await,
            f.bytes(&f.work, source).await
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_descriptor_cannot_publish_objects_outside_its_folder() {
    let f = fixture("escape").await;
    f.put("state/secret.json", b"{}".to_vec(), &[]).await;
    let descriptor =
        json!({"catalog_type": "CATALOG_UPDATE", "parts": [{"key": "state/secret.json"}]});
    let key = "outbox/staging/catalogs/sneaky.batch.json";
    f.put(key, serde_json::to_vec(&descriptor).unwrap(), &[])
        .await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Quarantined { .. }),
        "{outcome:?}"
    );
    let errors = f.errors_json("staging", "sneaky.xml.zst").await;
    assert_eq!(errors["findings"][0]["rule"], "batch.descriptor");
    assert!(Fixture::keys(&f.destination, "").await.is_empty());
    assert!(f.work.head("state/secret.json").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_deleting_more_than_the_limit_is_refused_unless_it_carries_the_override() {
    let f = fixture("removals").await;
    let live: Vec<Item> = (0..100)
        .map(|n| movie(&format!("mv-{n:03}"), 1, "Live"))
        .collect();
    live_movies(&f.work, &live).await;
    let deletes: Vec<Delete> = live[..11]
        .iter()
        .map(|m| Delete {
            id: m.id.clone(),
            version: 2,
        })
        .collect();
    let key = "outbox/staging/catalogs/catalog-a-update.xml.zst";
    f.put(key, catalog(CATALOG_ID, &[], &deletes), &[]).await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    let Outcome::Quarantined { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("guard.shrink"), "{reason}");
    let errors = f.errors_json("staging", "catalog-a-update.xml.zst").await;
    let message = errors["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("the update would delete 11 of 100"),
        "{message}"
    );

    let key = "outbox/staging/catalogs/catalog-b-update.xml.zst";
    f.put(
        key,
        catalog(CATALOG_ID, &[], &deletes),
        &[("allow-shrink", "true")],
    )
    .await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_publishes_only_its_own_environment() {
    let f = fixture("env").await;
    let emulator = Emulator::get();
    let alerts_queue = emulator.fresh_queue("alerts").await;
    let mut deps = f.deps.clone();
    deps.alerts = Alerts::Queue {
        client: emulator.sqs().await,
        url: alerts_queue.clone(),
    };
    deps.settings.production_access = true;
    // A staging stack, even with production access on, refuses prod's folder.
    let key = "outbox/prod/catalogs/catalog-a-update.xml.zst";
    f.put(
        key,
        catalog(CATALOG_ID, &[movie("mv-1", 1, "New")], &[]),
        &[],
    )
    .await;
    let (outcome, _) = run(&deps, key).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Quarantined { .. }),
        "{outcome:?}"
    );
    let errors = f.errors_json("prod", "catalog-a-update.xml.zst").await;
    assert_eq!(errors["findings"][0]["rule"], "guard.env");
    assert!(Fixture::keys(&f.destination, "").await.is_empty());
    let alert = emulator.receive_event(&alerts_queue, 1).await;
    let body: Value = serde_json::from_str(alert["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["alert"], "catalog-quarantined");
    // Its metric is counted under the stack's environment.
    let line: Value = serde_json::from_str(
        &catalog_aws::gate_pass::metric_line(&deps.settings.env, key, &outcome, None, 1.0)
            .to_json(),
    )
    .unwrap();
    assert_eq!(line["Env"], "staging");
    assert_eq!(line["CatalogsQuarantined"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_type_and_override_come_from_the_version_whose_bytes_are_validated() {
    let f = fixture("pinned").await;
    let live: Vec<Item> = (0..20)
        .map(|n| movie(&format!("mv-{n:03}"), 1, "Live"))
        .collect();
    live_movies(&f.work, &live).await;
    let key = "outbox/staging/catalogs/catalog-a-full.xml.zst";
    // Version A: allowed to shrink. Replaced by version B (no override)
    // between the gate's first look and its read of the bytes.
    f.put(
        key,
        catalog(CATALOG_ID, &live[..10], &[]),
        &[("allow-shrink", "true")],
    )
    .await;
    let (work, replaced) = (f.work.clone(), Arc::new(AtomicBool::new(false)));
    let flag = Arc::clone(&replaced);
    let body_b = catalog(CATALOG_ID, &live[..9], &[]);
    let swapping = Faulty::new(f.work.clone(), move |op| {
        if let Op::Get(k) = op
            && k == key
            && !flag.swap(true, Ordering::SeqCst)
        {
            let (work, body) = (work.clone(), body_b.clone());
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    work.put(
                        key,
                        body,
                        catalog_aws::store::Precondition::None,
                        &Default::default(),
                    )
                    .await
                    .unwrap();
                })
            });
        }
        None
    });
    let deps = Deps {
        work: swapping,
        destination: crashing(f.destination.clone(), Arc::new(AtomicBool::new(false))),
        alerts: Alerts::LogOnly,
        settings: f.deps.settings.clone(),
    };
    let error = run(&deps, key).await.unwrap_err();
    assert!(replaced.load(Ordering::SeqCst));
    assert!(
        error.to_string().contains("changed while the gate read it"),
        "{error}"
    );
    assert!(
        Fixture::keys(&f.destination, "").await.is_empty(),
        "nothing published"
    );
    // The retry sees version B throughout: no override, so the guard refuses it.
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    let Outcome::Quarantined { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("guard.shrink"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_batch_is_checked_as_one_catalog() {
    let f = fixture("onebatch").await;
    let series = Item {
        id: "sr-1".into(),
        version: 1,
        kind: ItemKind::Series,
        meta: movie("x", 1, "Series").meta,
    };
    let season = Item {
        id: "se-1".into(),
        version: 1,
        kind: ItemKind::Season {
            series_id: "sr-1".into(),
            season_number: 1,
        },
        meta: movie("x", 1, "Season").meta,
    };
    // The season's series is new in part 1; nothing is in the state.
    f.put(
        "outbox/staging/catalogs/hand-update-part0001.xml.zst",
        catalog(CATALOG_ID, &[series], &[]),
        &[],
    )
    .await;
    f.put(
        "outbox/staging/catalogs/hand-update-part0002.xml.zst",
        catalog(CATALOG_ID, std::slice::from_ref(&season), &[]),
        &[],
    )
    .await;
    let key = "outbox/staging/catalogs/hand-update.batch.json";
    let descriptor = br#"{"parts":[{"key":"hand-update-part0001.xml.zst"},{"key":"hand-update-part0002.xml.zst"}]}"#;
    f.put(key, descriptor.to_vec(), &[]).await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");

    // The same season again in a later part is one id twice.
    f.put(
        "outbox/staging/catalogs/twice-update-part0001.xml.zst",
        catalog(CATALOG_ID, std::slice::from_ref(&season), &[]),
        &[],
    )
    .await;
    f.put(
        "outbox/staging/catalogs/twice-update-part0002.xml.zst",
        catalog(CATALOG_ID, &[season], &[]),
        &[],
    )
    .await;
    let key = "outbox/staging/catalogs/twice-update.batch.json";
    let descriptor = br#"{"parts":[{"key":"twice-update-part0001.xml.zst"},{"key":"twice-update-part0002.xml.zst"}]}"#;
    f.put(key, descriptor.to_vec(), &[]).await;
    let (outcome, _) = run(&f.deps, key).await.unwrap();
    let Outcome::Quarantined { reason, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("item.duplicate-id"), "{reason}");
}
