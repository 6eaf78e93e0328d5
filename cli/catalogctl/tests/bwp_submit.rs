//! `catalogctl bwp submit | status` on the real binary, against the fake
//! Buy with Prime API, on a local work folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, TARGET_ID};
use serde_json::Value;

const ENVS: [(&str, &str); 3] = [
    ("BWP_CLIENT_ID", CLIENT_ID),
    ("BWP_CLIENT_SECRET", CLIENT_SECRET),
    ("BWP_TARGET_ID", TARGET_ID),
];

fn catalogctl(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_catalogctl"));
    command.args(args).env_remove("BWP_CLIENT_ID");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_then_status_reads_the_result_into_the_work_folder() {
    let fake = FakeBwp::start().await;
    fake.set_polls_to_finish(2);
    fake.fail_every_nth_row(2);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_str().unwrap();
    let url = fake.url();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/products.jsonl")
        .display()
        .to_string();

    let no_credentials = catalogctl(
        &[
            "bwp", "submit", "--api", &url, "--dir", work, "--source", &source,
        ],
        &[],
    );
    assert_eq!(
        no_credentials.status.code(),
        Some(2),
        "{}",
        text(&no_credentials)
    );
    assert!(text(&no_credentials).contains("BWP_CLIENT_ID"));

    let out = catalogctl(
        &[
            "bwp", "submit", "--api", &url, "--dir", work, "--source", &source,
        ],
        &ENVS,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("submitted bwp-feed-"), "{}", text(&out));
    assert_eq!(fake.feeds_created().len(), 1);

    // Nothing more waits: a second submit sends nothing.
    let out = catalogctl(&["bwp", "submit", "--api", &url, "--dir", work], &ENVS);
    assert!(text(&out).contains("no feed file waits"), "{}", text(&out));
    assert_eq!(fake.create_feed_calls(), 1);

    let out = catalogctl(&["bwp", "status", "--dir", work, "--api", &url], &ENVS);
    assert_eq!(
        out.status.code(),
        Some(0),
        "still processing: {}",
        text(&out)
    );
    assert!(text(&out).contains("CREATED"), "{}", text(&out));
    let out = catalogctl(&["bwp", "status", "--dir", work, "--api", &url], &ENVS);
    assert_eq!(out.status.code(), Some(1), "rows failed: {}", text(&out));
    assert!(text(&out).contains("done"), "{}", text(&out));

    let out = catalogctl(&["bwp", "status", "--dir", work, "--json"], &[]);
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = &records[0];
    assert_eq!(record["step"], "done");
    assert_eq!(record["status"], "COMPLETED");
    let (imported, failed) = (
        record["result"]["imported"].as_u64().unwrap(),
        record["result"]["failed"].as_u64().unwrap(),
    );
    assert!(failed > 0 && imported > 0, "{record}");
    let file = record["file"].as_str().unwrap();
    assert!(
        dir.path()
            .join("bwp/results")
            .join(format!("{file}.result.csv"))
            .exists()
    );
    assert!(dir.path().join("state/bwp/listing.jsonl.zst").exists());
}
