//! The builder under at-least-once, unordered delivery and crashes: each
//! test is one scenario a deployed stack meets (issue 15), named after it.
//! Races run on the local store, whose conditional writes are atomic (moto's
//! are not); crashes are injected with `Faulty`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::{Ended, Report, RunError, Settings, Trigger, metric_line, run};
use catalog_aws::faulty::{Faulty, Op};
use catalog_aws::local::LocalStore;
use catalog_aws::state_store::{
    ALLOW_SHRINK_KEY, ExportRef, NEEDS_FULL_PREFIX, NeedsFull, STATE_KEY, StateStore, claim_key,
    needs_full_key,
};
use catalog_aws::store::{Metadata, ObjectStore, Precondition};
use catalog_core::diff::Policy;
use catalog_core::ledger::Submission;
use catalog_core::outbox::ETag;
use catalog_testkit::Emulator;
use serde_json::Value;

const EXPORT: &str = include_str!("../../../examples/provider-export.jsonl");
const EXPORT_DAY2: &str = include_str!("../../../examples/provider-export-day2.jsonl");
const DAY: i64 = 86_400;
const T0: i64 = 1_767_592_800;

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

async fn put<S: ObjectStore>(store: &S, key: &str, body: &str, dropped_ms: i64) -> ExportRef {
    let info = store
        .put(
            key,
            body.as_bytes().to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    ExportRef {
        key: key.into(),
        etag: ETag::new(info.etag),
        dropped_ms,
    }
}

fn export(export: &ExportRef, time: i64) -> Trigger {
    Trigger::Export {
        export: export.clone(),
        time,
    }
}

async fn keys<S: ObjectStore>(store: &S, prefix: &str) -> Vec<String> {
    store
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

/// The catalogs handed to the gate (not parts), with their catalog versions.
async fn handed_over<S: ObjectStore>(store: &S) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for key in keys(store, "outbox/staging/catalogs/").await {
        if key.contains("-part") {
            continue;
        }
        let head = store.head(&key).await.unwrap().unwrap();
        out.push((key, head.metadata["catalog-version"].parse().unwrap()));
    }
    out
}

async fn state_version<S: ObjectStore + Clone>(store: &S) -> u64 {
    StateStore::new(store.clone())
        .load("EXAMPLE")
        .await
        .unwrap()
        .state
        .catalog_version
}

fn is_sent(report: &Report) -> bool {
    matches!(report.ended, Ended::Sent { .. })
}

/// The export without its last `n` lines: an export cut short.
fn cut(export: &str, keep: usize) -> String {
    export.lines().take(keep).collect::<Vec<_>>().join("\n") + "\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_redelivery_of_an_older_export_is_superseded_and_never_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    let s = settings();
    let day1 = put(&store, "source/day1.jsonl", EXPORT, T0 * 1000).await;
    assert!(is_sent(&run(&store, &s, export(&day1, T0)).await.unwrap()));
    let day2 = put(&store, "source/day2.jsonl", EXPORT_DAY2, (T0 + DAY) * 1000).await;
    assert!(is_sent(
        &run(&store, &s, export(&day2, T0 + DAY)).await.unwrap()
    ));

    // Day 1's message again, a day later.
    let late = run(&store, &s, export(&day1, T0 + 2 * DAY)).await.unwrap();
    let Ended::Superseded { reason } = &late.ended else {
        panic!("{late:?}")
    };
    assert!(reason.contains("source/day2.jsonl"), "{reason}");
    assert_eq!(state_version(&store).await, 2);
    assert_eq!(handed_over(&store).await.len(), 2);
    let latest = StateStore::new(store.clone())
        .latest_export()
        .await
        .unwrap();
    assert_eq!(latest.unwrap().key, "source/day2.jsonl");

    // The schedules keep diffing day 2: nothing to send.
    let scheduled = run(
        &store,
        &s,
        Trigger::Schedule {
            full: false,
            time: T0 + 2 * DAY,
        },
    )
    .await
    .unwrap();
    assert_eq!(scheduled.ended, Ended::NothingToDo, "{scheduled:?}");
    assert_eq!(scheduled.export.unwrap().key, "source/day2.jsonl");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_exports_racing_end_with_the_newer_one_built_and_no_version_shared() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    let s = settings();
    let a = put(&store, "source/a.jsonl", EXPORT, T0 * 1000).await;
    let b = put(&store, "source/b.jsonl", EXPORT_DAY2, T0 * 1000 + 1).await;
    let (ra, rb) = tokio::join!(
        run(&store, &s, export(&a, T0)),
        run(&store, &s, export(&b, T0 + 1))
    );
    // A build that waited (Busy) comes back later, as its message would.
    for (result, trigger) in [(ra, export(&a, T0 + 60)), (rb, export(&b, T0 + 61))] {
        match result {
            Ok(_) => {}
            Err(RunError::Busy { .. }) => {
                run(&store, &s, trigger).await.unwrap();
            }
            Err(other) => panic!("{other}"),
        }
    }
    let catalogs = handed_over(&store).await;
    let mut versions: Vec<u64> = catalogs.iter().map(|(_, v)| *v).collect();
    versions.sort();
    versions.dedup();
    assert_eq!(
        versions.len(),
        catalogs.len(),
        "a version sent twice: {catalogs:?}"
    );
    let latest = StateStore::new(store.clone())
        .latest_export()
        .await
        .unwrap();
    assert_eq!(latest.unwrap().key, "source/b.jsonl");
    // Whatever the interleaving, the last catalog committed is b's.
    let record: Submission = StateStore::new(store.clone())
        .read_record(&format!(
            "state/ledger/submissions/{}.json",
            catalogs.last().unwrap().0.rsplit('/').next().unwrap()
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.report.export.unwrap().key, "source/b.jsonl");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_for_a_full_made_while_a_full_is_built_is_kept_for_the_next_build() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(dir.path());
    let s = settings();
    let day1 = put(&local, "source/e.jsonl", EXPORT, T0 * 1000).await;
    assert!(is_sent(&run(&local, &s, export(&day1, T0)).await.unwrap()));
    let states = StateStore::new(local.clone());
    let earlier = NeedsFull {
        catalog: "catalog-earlier-update.xml.zst".into(),
        reason: "refused".into(),
        at: T0,
    };
    states.request_full(&earlier).await.unwrap();

    // The gate refuses the very catalog being built right when the builder
    // clears the request it answered.
    let raced = Arc::new(AtomicBool::new(false));
    let (flag, gate_side) = (Arc::clone(&raced), local.clone());
    let store = Faulty::new(local.clone(), move |op| {
        if let Op::Delete(key) = op
            && key.starts_with(NEEDS_FULL_PREFIX)
            && !flag.swap(true, Ordering::SeqCst)
        {
            let gate_side = gate_side.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    let outbox = gate_side.list("outbox/staging/catalogs/").await.unwrap();
                    let name = outbox
                        .last()
                        .unwrap()
                        .key
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned();
                    StateStore::new(gate_side)
                        .request_full(&NeedsFull {
                            catalog: name,
                            reason: "quarantined".into(),
                            at: T0 + DAY,
                        })
                        .await
                        .unwrap();
                })
            });
        }
        None
    });
    let report = run(
        &store,
        &s,
        Trigger::Schedule {
            full: false,
            time: T0 + DAY,
        },
    )
    .await
    .unwrap();
    let Ended::Sent {
        manifest_type, key, ..
    } = &report.ended
    else {
        panic!("{report:?}")
    };
    assert_eq!(manifest_type, "CATALOG_FULL");
    assert!(raced.load(Ordering::SeqCst));
    let name = key.rsplit('/').next().unwrap();
    assert_eq!(
        keys(&local, NEEDS_FULL_PREFIX).await,
        vec![needs_full_key(name)],
        "the request answered is cleared, the new one kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_and_an_update_of_one_export_never_build_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(dir.path());
    let s = settings();
    let day1 = put(&local, "source/e.jsonl", EXPORT, T0 * 1000).await;
    assert!(is_sent(&run(&local, &s, export(&day1, T0)).await.unwrap()));
    let day2 = put(&local, "source/e2.jsonl", EXPORT_DAY2, (T0 + DAY) * 1000).await;

    // The export's build claims version 2 as an update and is still at work
    // (here: its commit fails) when the monthly full fires.
    let store = Faulty::new(local.clone(), |op| {
        matches!(op, Op::Put(STATE_KEY)).then(|| "still building".into())
    });
    run(&store, &s, export(&day2, T0 + DAY)).await.unwrap_err();
    let full = run(
        &local,
        &s,
        Trigger::Schedule {
            full: true,
            time: T0 + DAY,
        },
    )
    .await;
    assert!(matches!(full, Err(RunError::Busy { .. })), "{full:?}");

    // The update finishes; then the full builds version 3.
    assert!(is_sent(
        &run(&local, &s, export(&day2, T0 + DAY)).await.unwrap()
    ));
    let full = run(
        &local,
        &s,
        Trigger::Schedule {
            full: true,
            time: T0 + DAY + 60,
        },
    )
    .await
    .unwrap();
    assert!(is_sent(&full), "{full:?}");
    let versions: Vec<u64> = handed_over(&local).await.iter().map(|(_, v)| *v).collect();
    assert_eq!(versions, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_claim_is_taken_over_and_nothing_of_it_ever_reached_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(dir.path());
    let mut s = settings();
    s.max_items_per_file = 6;
    let first = put(&local, "source/first.jsonl", EXPORT, T0 * 1000).await;
    // The first build dies at its commit, after uploading its parts.
    let store = Faulty::new(local.clone(), |op| {
        matches!(op, Op::Put(STATE_KEY)).then(|| "the function died".into())
    });
    run(&store, &s, export(&first, T0)).await.unwrap_err();
    let left = keys(&local, "outbox/staging/catalogs/").await;
    assert!(!left.is_empty(), "its parts are there");
    assert!(
        left.iter().all(|k| k.contains("-part")),
        "no catalog and no batch descriptor before the commit: {left:?}"
    );
    assert!(handed_over(&local).await.is_empty());

    // Hours later another export comes; the claim is taken over.
    s.claim_timeout = 0;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = put(
        &local,
        "source/second.jsonl",
        EXPORT_DAY2,
        (T0 + DAY) * 1000,
    )
    .await;
    let report = run(&local, &s, export(&second, T0 + DAY)).await.unwrap();
    let Ended::Sent { parts, .. } = &report.ended else {
        panic!("{report:?}")
    };
    assert_eq!(report.catalog_version, Some(1));
    let mut outbox = keys(&local, "outbox/staging/catalogs/").await;
    let mut expected: Vec<String> = parts.clone();
    expected.push(match &report.ended {
        Ended::Sent { key, .. } => key.clone(),
        _ => unreachable!(),
    });
    outbox.sort();
    expected.sort();
    assert_eq!(outbox, expected, "the abandoned parts are gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_commit_and_the_handover_is_finished_by_the_next_build() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(dir.path());
    let mut s = settings();
    s.max_items_per_file = 6;
    let e = put(&local, "source/e.jsonl", EXPORT, T0 * 1000).await;
    let store = Faulty::new(local.clone(), |op| match op {
        Op::Put(key) if key.ends_with(".batch.json") => Some("the function died".into()),
        _ => None,
    });
    run(&store, &s, export(&e, T0)).await.unwrap_err();
    assert_eq!(state_version(&local).await, 1, "committed");
    assert!(handed_over(&local).await.is_empty(), "but not handed over");

    let next = run(
        &local,
        &s,
        Trigger::Schedule {
            full: false,
            time: T0 + 60,
        },
    )
    .await
    .unwrap();
    assert_eq!(next.ended, Ended::NothingToDo);
    let catalogs = handed_over(&local).await;
    assert_eq!(catalogs.len(), 1);
    assert!(catalogs[0].0.ends_with(".batch.json"), "{catalogs:?}");
    assert_eq!(catalogs[0].1, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_cut_short_is_refused_as_an_update_until_the_operator_allows_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    let s = settings();
    let full = put(&store, "source/e.jsonl", EXPORT, T0 * 1000).await;
    assert!(is_sent(&run(&store, &s, export(&full, T0)).await.unwrap()));
    let live = keys(&store, "outbox/staging/catalogs/").await.len();
    assert_eq!(live, 1);

    // The next day's export was cut off after 4 lines.
    let short = put(&store, "source/e.jsonl", &cut(EXPORT, 4), (T0 + DAY) * 1000).await;
    let refused = run(&store, &s, export(&short, T0 + DAY)).await.unwrap();
    let Ended::Refused { reason } = &refused.ended else {
        panic!("{refused:?}")
    };
    assert!(reason.contains("the update would delete"), "{reason}");
    assert!(
        reason.contains("state/overrides/allow-shrink.json"),
        "{reason}"
    );
    assert_eq!(
        keys(&store, "outbox/staging/catalogs/").await.len(),
        1,
        "nothing sent"
    );
    assert!(
        StateStore::new(store.clone())
            .claim_of(2)
            .await
            .unwrap()
            .is_none(),
        "released"
    );
    let metric: Value = serde_json::from_str(&metric_line(&s, &refused, 1.0).to_json()).unwrap();
    assert_eq!(metric["CatalogsRefused"], 1);
    let records = keys(&store, "state/ledger/submissions/").await;
    assert!(
        records.iter().any(|k| k.contains(".refused-v2")),
        "{records:?}"
    );

    // The operator says the drop is real: one build goes through.
    store
        .put(
            ALLOW_SHRINK_KEY,
            b"{\"reason\":\"catalog trimmed\"}".to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    let allowed = run(&store, &s, export(&short, T0 + DAY + 60))
        .await
        .unwrap();
    let Ended::Sent { key, .. } = &allowed.ended else {
        panic!("{allowed:?}")
    };
    assert!(allowed.deletes.total() > 0);
    let head = store.head(key).await.unwrap().unwrap();
    assert_eq!(
        head.metadata["allow-shrink"], "true",
        "the gate lets it through"
    );
    assert!(
        store.head(ALLOW_SHRINK_KEY).await.unwrap().is_none(),
        "used once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_that_fails_releases_its_claim_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(dir.path());
    let s = settings();
    let broken = put(&local, "source/broken.jsonl", EXPORT, T0 * 1000).await;
    let store = Faulty::new(local.clone(), |op| {
        matches!(op, Op::Get("source/broken.jsonl")).then(|| "connection reset".into())
    });
    let error = run(&store, &s, export(&broken, T0)).await.unwrap_err();
    assert!(error.to_string().contains("connection reset"), "{error}");
    assert!(keys(&local, &claim_key(1)).await.is_empty(), "released");

    // The next export builds now, not two hours later.
    let next = put(&local, "source/next.jsonl", EXPORT, (T0 + 60) * 1000).await;
    assert!(is_sent(
        &run(&local, &s, export(&next, T0 + 60)).await.unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_whose_every_row_is_refused_is_reported_loudly() {
    let emulator = Emulator::get();
    let queue = emulator.fresh_queue("alerts").await;
    let alerts = Alerts::Queue {
        client: emulator.sqs().await,
        url: queue.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    let s = settings();
    let good = put(&store, "source/e.jsonl", EXPORT, T0 * 1000).await;
    assert!(is_sent(&run(&store, &s, export(&good, T0)).await.unwrap()));
    // The provider's system renamed a field: every row is refused.
    let renamed = EXPORT.replace("\"type\"", "\"kind\"");
    let bad = put(&store, "source/e.jsonl", &renamed, (T0 + DAY) * 1000).await;
    let report =
        catalog_aws::build_pass::build_and_report(&store, &s, &alerts, export(&bad, T0 + DAY))
            .await
            .unwrap();
    let Ended::ExportRejected { reason } = &report.ended else {
        panic!("{report:?}")
    };
    assert!(reason.contains("every one of the export's"), "{reason}");
    assert_eq!(report.rows, report.rows_rejected);
    let metric: Value = serde_json::from_str(&metric_line(&s, &report, 1.0).to_json()).unwrap();
    assert_eq!(metric["ExportsRejected"], 1);
    assert_eq!(
        keys(&store, "outbox/staging/catalogs/").await.len(),
        1,
        "nothing sent"
    );
    assert_eq!(state_version(&store).await, 1);
    let records = keys(&store, "state/ledger/submissions/").await;
    let rejected = records.iter().find(|k| k.contains(".refused-v2")).unwrap();
    let record: Submission = StateStore::new(store.clone())
        .read_record(rejected)
        .await
        .unwrap()
        .unwrap();
    assert!(!record.report.findings.is_empty());
    let alert = emulator.receive_event(&queue, 1).await;
    let body: Value = serde_json::from_str(alert["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["alert"], "export-rejected");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inferred_element_switched_off_is_neither_sent_nor_expected_by_the_gate() {
    use catalog_aws::gate_pass::{Deps, Outcome, Settings as GateSettings};
    use catalog_core::ember::Omit;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path().join("work"));
    let mut s = settings();
    s.ember.omit = Omit::parse("Relationships").unwrap();
    let e = put(&store, "source/e.jsonl", EXPORT, T0 * 1000).await;
    let report = run(&store, &s, export(&e, T0)).await.unwrap();
    let Ended::Sent { key, .. } = &report.ended else {
        panic!("{report:?}")
    };
    let (_, body) = store.get(key).await.unwrap();
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut Box::into_pin(Box::new(body)), &mut bytes)
        .await
        .unwrap();
    let xml = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    assert!(xml.contains("<TVEpisode"), "the example has episodes");
    assert!(!xml.contains("<Relationships"), "switched off, not sent");

    let gate = |omit: Omit| Deps {
        work: store.clone(),
        destination: LocalStore::new(dir.path().join("amazon")),
        alerts: Alerts::LogOnly,
        settings: GateSettings {
            provider: "acme".into(),
            env: "staging".into(),
            production_access: false,
            catalog_id: "EXAMPLE".into(),
            destination_bucket: "amazon-media-catalogs".into(),
            shrink_limit_bps: 1000,
            limits: Default::default(),
            max_findings: 100,
            omit,
        },
    };
    let (outcome, _) = catalog_aws::gate_pass::run(&gate(s.ember.omit), key)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
}
