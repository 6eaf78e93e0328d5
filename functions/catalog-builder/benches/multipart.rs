//! A full build of a large synthetic export against the S3 emulator, with
//! the builder's peak memory.
//!
//! `cargo bench --profile bench-aws -p catalog-builder --bench multipart -- [ITEMS] [PART_MIB]`
//! (default 1,000,000 items, 8 MiB parts). The export is generated and
//! uploaded by one child process and built by another, so the peak RSS
//! printed is the build's alone (the emulator is a third process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../shared/catalog-core/benches/support/mod.rs"]
mod support;

use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use catalog_aws::build_pass::{Ended, Settings, Trigger, run};
use catalog_aws::s3::S3Store;
use catalog_aws::state_store::ExportRef;
use catalog_core::diff::Policy;
use catalog_core::source::SourceRecord;
use catalog_core::synthetic::Synthetic;
use catalog_testkit::Emulator;

fn main() {
    let args = support::args();
    if args.first().map(String::as_str) == Some("--child") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(child(&args[1..]));
        return;
    }
    let items: u64 = args
        .first()
        .map_or(1_000_000, |n| n.parse().expect("ITEMS"));
    let part_mib: usize = args.get(1).map_or(8, |n| n.parse().expect("PART_MIB"));
    let exe = std::env::current_exe().unwrap();
    // One emulator for both children: the parent starts it and passes the endpoint.
    let endpoint = Emulator::get().endpoint().to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bucket = runtime.block_on(Emulator::get().fresh_bucket("bench"));
    for step in ["upload", "build"] {
        let status = Command::new(&exe)
            .args([
                "--child",
                step,
                &endpoint,
                &bucket,
                &items.to_string(),
                &part_mib.to_string(),
            ])
            // The emulator's static test credentials, as the testkit's clients use.
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .status()
            .unwrap();
        assert!(status.success(), "{step} failed");
    }
}

async fn child(args: &[String]) {
    let (step, endpoint, bucket) = (&args[0], &args[1], &args[2]);
    let items: u64 = args[3].parse().unwrap();
    let part_mib: usize = args[4].parse().unwrap();
    let sdk = catalog_aws::aws::sdk_config(Some(endpoint)).await;
    let client = catalog_aws::aws::s3_client(&sdk, true);
    let key = "source/synthetic.jsonl.zst";
    if step == "upload" {
        let started = Instant::now();
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut out = zstd::Encoder::new(BufWriter::new(file.reopen().unwrap()), 3).unwrap();
        for item in Synthetic::new(items, 42) {
            serde_json::to_writer(&mut out, &SourceRecord::from(&item)).unwrap();
            out.write_all(b"\n").unwrap();
        }
        out.finish().unwrap().flush().unwrap();
        let size = file.as_file().metadata().unwrap().len();
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from_path(file.path()).await.unwrap())
            .send()
            .await
            .unwrap();
        println!(
            "export  {items} items, {:.1} MB zstd JSON Lines, generated and uploaded in {:.1} s",
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        return;
    }
    let store = S3Store::new(
        client.clone(),
        bucket.clone(),
        tokio::runtime::Handle::current(),
    );
    let etag = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let settings = Settings {
        env: "staging".into(),
        catalog_id: "BENCH".into(),
        part_size: part_mib << 20,
        max_items_per_file: 5_000_000,
        policy: Policy::default(),
        claim_timeout: 7200,
        level: 3,
        ember: Default::default(),
    };
    let started = Instant::now();
    let report = run(
        &store,
        &settings,
        Trigger::Export {
            export: ExportRef {
                key: key.into(),
                etag: catalog_core::outbox::ETag::new(etag),
                dropped_ms: 0,
            },
            time: 1_767_592_800,
        },
    )
    .await
    .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(matches!(report.ended, Ended::Sent { .. }), "{report:?}");
    println!(
        "build   {} items sent, {:.1} MB XML -> {:.1} MB catalog ({} MiB parts) in {seconds:.1} s: {:.0} MB/s of XML, {:.0} items/s",
        report.items.total(),
        report.xml_bytes as f64 / 1e6,
        report.compressed_bytes as f64 / 1e6,
        part_mib,
        report.xml_bytes as f64 / 1e6 / seconds,
        report.items.total() as f64 / seconds,
    );
    println!(
        "build   peak RSS {:.1} MB (state, diff, XML, zstd, upload, state commit)",
        support::peak_rss_mb()
    );
}
