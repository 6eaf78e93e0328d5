//! The report parser against a real S3/SQS emulator (moto in server mode):
//! a report dropped in Amazon's `reports/` is found by the poll, archived
//! once, parsed once through the work bucket's real notifications, its
//! outcome recorded for its submission, and its rejected items resent by
//! the next build once their content changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use catalog_aws::alerts::Alerts;
use catalog_aws::build_pass::{Settings, Trigger, run};
use catalog_aws::report_pass::ReportSettings;
use catalog_aws::s3::S3Store;
use catalog_aws::state_store::{ExportRef, StateStore, published_key};
use catalog_aws::store::{Metadata, ObjectStore, Precondition};
use catalog_core::diff::Policy;
use catalog_core::ledger::{FileRecord, Published};
use catalog_core::model::KindCounts;
use catalog_core::outbox::ETag;
use catalog_core::state::Status;
use catalog_testkit::Emulator;
use lambda_runtime::{Context, LambdaEvent};
use report_parser::{Deps, handle};
use serde_json::{Value, json};

const EXPORT: &str = include_str!("../../../examples/provider-export.jsonl");
/// A fixed clock: 2026-09-21.
const NOW: i64 = 1_790_000_000;
const DAY: i64 = 86_400;

fn clock() -> i64 {
    NOW
}

fn build_settings() -> Settings {
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

async fn build(work: &S3Store, key: &str, export: &str, dropped_ms: i64, time: i64) -> String {
    let put = work
        .put(
            key,
            export.as_bytes().to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    let export = ExportRef {
        key: key.to_owned(),
        etag: ETag::new(put.etag),
        dropped_ms,
    };
    let report = run(work, &build_settings(), Trigger::Export { export, time })
        .await
        .unwrap();
    report.catalog.unwrap_or_default()
}

fn published(catalog: &str, at: i64) -> Published {
    let stem = catalog.strip_suffix(".xml.zst").unwrap_or(catalog);
    let validated_at = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Published {
        catalog: catalog.to_owned(),
        env: "staging".into(),
        manifest_type: "CATALOG_FULL".into(),
        bucket: "amazon-media-catalogs".into(),
        manifest: format!("acme/staging/manifests/{stem}.manifest"),
        trigger: format!("outbox/staging/catalogs/{catalog}"),
        trigger_etag: ETag::new("t"),
        files: vec![FileRecord {
            source: format!("outbox/staging/catalogs/{catalog}"),
            destination: format!("acme/staging/catalogs/{catalog}"),
            size: 1,
            etag: ETag::new("t"),
        }],
        catalog_id: "EXAMPLE".into(),
        catalog_version: 1,
        built_as_version: Some(1),
        items: KindCounts::default(),
        deletes: 0,
        xml_bytes: 1,
        dropped: 0,
        warnings: 0,
        validated_at,
    }
}

async fn drain(emulator: &Emulator, queue: &str) -> Vec<Value> {
    let sqs = emulator.sqs().await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            bodies.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap());
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_is_archived_once_parsed_once_and_its_rejections_resent() {
    let emulator = Emulator::get();
    let s3 = emulator.s3().await;
    let handle_rt = tokio::runtime::Handle::current();
    let work_bucket = emulator.fresh_bucket("work").await;
    let work = S3Store::new(s3.clone(), work_bucket.clone(), handle_rt.clone());
    let destination = S3Store::new(s3.clone(), emulator.fresh_bucket("amazon").await, handle_rt);
    let alerts_url = emulator.fresh_queue("alerts").await;
    let notify = emulator.notify_queue(&work_bucket, "reports/").await;
    let deps = Deps {
        work: work.clone(),
        destination: destination.clone(),
        alerts: Alerts::Queue {
            client: emulator.sqs().await,
            url: alerts_url.clone(),
        },
        settings: ReportSettings::new("acme", "staging"),
        clock,
        feeds: None,
    };

    // A first build, and the gate's record of publishing it.
    let catalog = build(&work, "source/export-1.jsonl", EXPORT, 1_000, NOW - 3 * DAY).await;
    assert!(!catalog.is_empty());
    let states = StateStore::new(work.clone());
    let heat = states
        .load("EXAMPLE")
        .await
        .unwrap()
        .state
        .get("mv-heat-1995")
        .unwrap();
    states
        .record(
            &published_key(&catalog),
            &published(&catalog, NOW - 2 * DAY),
        )
        .await
        .unwrap();

    // Amazon's report, naming the manifest: Heat rejected.
    let stem = catalog.strip_suffix(".xml.zst").unwrap();
    let report = format!(
        "{}\n{}\n{}\n",
        json!({"reportId": "R-1", "manifest": format!("{stem}.manifest"), "status": "PARTIAL"}),
        json!({"itemId": "mv-heat-1995", "version": heat.version, "status": "REJECTED", "errorCode": "INVALID_RATING", "message": "rating"}),
        json!({"itemId": "mv-amelie-2001", "version": 1, "status": "ACCEPTED"}),
    );
    destination
        .put(
            "acme/staging/reports/ingestion-0001.jsonl",
            report.clone().into_bytes(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    // Another report nothing can read, dropped in the archive by hand.
    work.put(
        "reports/staging/by-hand.bin",
        b"\x89PNG\r\n\x1a\n\x00\x00garbage".to_vec(),
        Precondition::None,
        &Metadata::new(),
    )
    .await
    .unwrap();

    // The poll, twice (the second is the next schedule, inside the overlap).
    for (run, archived) in [(1, 1), (2, 0)] {
        let out = handle(
            LambdaEvent::new(json!({"task": "poll"}), Context::default()),
            &deps,
        )
        .await
        .unwrap();
        assert_eq!(
            out["archived"].as_array().unwrap().len(),
            archived,
            "poll {run}: {out}"
        );
    }
    assert_eq!(
        emulator
            .object_bytes(&work_bucket, "reports/staging/ingestion-0001.jsonl")
            .await,
        report.as_bytes(),
        "archived byte for byte"
    );

    // The work bucket's notifications (the archived one and the hand-dropped
    // one), delivered twice.
    let event = emulator.receive_event(&notify, 3).await;
    for _ in 0..2 {
        let response = handle(LambdaEvent::new(event.clone(), Context::default()), &deps)
            .await
            .unwrap();
        assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    }

    // One archive each, one summary each, one alert each.
    assert_eq!(work.list("reports/staging/").await.unwrap().len(), 2);
    let summaries = work.list("summaries/staging/").await.unwrap();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    let alerts = drain(emulator, &alerts_url).await;
    let mut kinds: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["report-rejected-items", "report-unreadable"]);

    let summary: Value = serde_json::from_slice(
        &emulator
            .object_bytes(&work_bucket, "summaries/staging/ingestion-0001.jsonl.json")
            .await,
    )
    .unwrap();
    assert_eq!(summary["counts"]["rejected"], 1);
    assert_eq!(summary["counts"]["accepted"], 1);
    assert_eq!(summary["answers"]["catalog"], catalog.as_str());
    assert_eq!(summary["by_code"][0]["code"], "INVALID_RATING");
    let garbage: Value = serde_json::from_slice(
        &emulator
            .object_bytes(&work_bucket, "summaries/staging/by-hand.bin.json")
            .await,
    )
    .unwrap();
    assert_eq!(garbage["readable"], "unrecognised");

    // The ledger shows the submission's outcome.
    let outcomes = work
        .list(&format!("state/ledger/reports/{catalog}/"))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);

    // The next build (another item changed) marks Heat rejected in the state
    // and does not resend it unchanged.
    let day2 = EXPORT.replace(
        "\"title\":\"Harbor Lights\"",
        "\"title\":\"Harbor Lights II\"",
    );
    assert_ne!(day2, EXPORT);
    build(&work, "source/export-2.jsonl", &day2, 2_000, NOW - DAY).await;
    let after = states.load("EXAMPLE").await.unwrap().state;
    let marked = after.get("mv-heat-1995").unwrap();
    assert_eq!(marked.status, Status::Rejected);
    assert_eq!(marked.version, heat.version);

    // Its content changes: the build after resends it, live again.
    let day3 = day2.replace("\"title\":\"Heat\"", "\"title\":\"Heat (Director's Cut)\"");
    assert_ne!(day3, day2);
    build(&work, "source/export-3.jsonl", &day3, 3_000, NOW).await;
    let resent = states
        .load("EXAMPLE")
        .await
        .unwrap()
        .state
        .get("mv-heat-1995")
        .unwrap();
    assert_eq!(resent.status, Status::Live);
    assert_eq!(resent.version, heat.version + 1);

    // The cadence check with the injected clock: the one published
    // submission has its report; a full 2 days ago is all well.
    let cadence = handle(
        LambdaEvent::new(json!({"task": "cadence"}), Context::default()),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(cadence[0]["env"], "staging");
    assert_eq!(cadence[0]["missing_reports"], json!([]));
    assert_eq!(cadence[0]["update_overdue"], false);
}
