//! Build and validate throughput, with peak memory, on synthetic catalogs.
//!
//! `cargo bench -p catalog-core --bench catalog` runs every scenario for 100k
//! and 1M items, each in a fresh child process so its peak RSS is its own,
//! and prints one line per scenario. `-- ITEMS` runs one size only.
//!
//! Scenarios:
//! - `build`: synthetic items → `CatalogWriter` → zstd level 3 → a file
//!   (compression on the same thread; what one Lambda core does).
//! - `build-mt`: the same with zstd's worker thread (compression overlapped).
//! - `export`: what `catalogctl build` does without a state: a JSON Lines
//!   export (written before the clock starts) → `SourceLoader` (parse and
//!   check every row) → the diff against an empty state → `CatalogWriter`
//!   → zstd with its worker thread (`pipeline::build_from_state`).
//! - `validate`: that file → zstd decode → `CatalogReader` (every rule).
//! - `gate`: `validate` with the catalog state of every item as the known
//!   items, as the manifest writer reads a full catalog: each item is looked
//!   up, its version compared and its content hashed (the state is built
//!   before the clock starts; its memory is in the peak).
//! - `parse-only`: the same XML through quick-xml alone, no validation (the floor).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use catalog_core::diff::{Policy, Request, content_hash};
use catalog_core::ids::KnownItems;
use catalog_core::model::{Action, CatalogHeader};
use catalog_core::pipeline::build_from_state;
use catalog_core::reader::{CatalogReader, ReadOptions};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader, SourceRecord};
use catalog_core::state::{CatalogState, ItemState, Status};
use catalog_core::synthetic::Synthetic;
use catalog_core::writer::{CatalogWriter, catalog_encoder};

fn main() {
    let args = support::args();
    if args.first().map(String::as_str) == Some("--child") {
        child(
            &args[1],
            args[2].parse().expect("items"),
            Path::new(&args[3]),
        );
        return;
    }
    let sizes: Vec<u64> = match args.first() {
        Some(n) => vec![n.parse().expect("ITEMS must be a number")],
        None => vec![100_000, 1_000_000],
    };
    let dir = std::env::temp_dir().join("catalog-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "scenario    items      xml MB   file MB  ratio   seconds  XML MB/s  items/s    peak RSS MB CPU s"
    );
    for items in sizes {
        let file = dir.join(format!("synthetic-{items}.xml.zst"));
        for scenario in [
            "build",
            "build-mt",
            "export",
            "validate",
            "gate",
            "parse-only",
        ] {
            let exe = std::env::current_exe().expect("current exe");
            let status = Command::new(exe)
                .args(["--child", scenario, &items.to_string()])
                .arg(&file)
                .status()
                .expect("run child");
            assert!(status.success(), "{scenario} failed");
        }
        let _ = std::fs::remove_file(&file);
    }
}

fn child(scenario: &str, items: u64, file: &Path) {
    let state = (scenario == "gate").then(|| sent_state(items));
    let export = (scenario == "export").then(|| write_export(items, file));
    let started = Instant::now();
    let cpu_before = support::cpu_seconds();
    let (xml_bytes, count) = match scenario {
        "build" | "build-mt" => build(items, file, scenario == "build-mt"),
        "export" => build_from_export(export.as_deref().expect("export"), file),
        "validate" => validate(file, None),
        "gate" => validate(file, state.as_ref()),
        "parse-only" => parse_only(file),
        other => panic!("unknown scenario {other}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu = support::cpu_seconds() - cpu_before;
    let file_bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let mb = xml_bytes as f64 / 1e6;
    println!(
        "{scenario:<11} {count:<10} {mb:<8.1} {:<8.1} {:<7.1} {seconds:<8.2} {:<9.0} {:<10.0} {:<11.1} {cpu:.2}",
        file_bytes as f64 / 1e6,
        xml_bytes as f64 / file_bytes.max(1) as f64,
        mb / seconds,
        count as f64 / seconds,
        support::peak_rss_mb(),
    );
}

/// The zstd -3 encoder of a catalog file and the catalog's header.
fn catalog_file(
    file: &Path,
    worker: bool,
) -> (zstd::Encoder<'static, BufWriter<File>>, CatalogHeader) {
    let out = BufWriter::with_capacity(1 << 20, File::create(file).expect("create"));
    let encoder = catalog_encoder(out, 3, worker).expect("encoder");
    let header = CatalogHeader {
        id: "BENCH".into(),
        version: 1,
        action: Action::Upsert,
    };
    (encoder, header)
}

fn build(items: u64, file: &Path, multithread: bool) -> (u64, u64) {
    let (encoder, header) = catalog_file(file, multithread);
    let mut writer = CatalogWriter::new(encoder, &header).expect("writer");
    for item in Synthetic::new(items, 42) {
        writer.write_item(&item).expect("write");
    }
    let (encoder, summary) = writer.finish().expect("finish");
    encoder
        .finish()
        .expect("zstd finish")
        .into_inner()
        .expect("flush");
    (summary.xml_bytes, summary.total_items())
}

/// The synthetic items as a source export, next to `file`.
fn write_export(items: u64, file: &Path) -> std::path::PathBuf {
    let path = file.with_extension("export.jsonl");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).expect("create"));
    for item in Synthetic::new(items, 42) {
        serde_json::to_writer(&mut out, &SourceRecord::from(&item)).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("flush");
    path
}

fn build_from_export(export: &Path, file: &Path) -> (u64, u64) {
    let (encoder, header) = catalog_file(file, true);
    let loader = SourceLoader::new(
        File::open(export).expect("open"),
        SourceFormat::JsonLines,
        LoadOptions::default(),
    )
    .expect("loader");
    // What `catalogctl build` runs: the loader on this thread, the diff
    // against an empty state and the writer on the build's second one.
    let request = Request {
        now: 1_767_592_800,
        force_full: true,
        allow_shrink: false,
    };
    let built = build_from_state(
        loader,
        CatalogState::new(header.id.as_str()),
        Policy::default(),
        request,
        encoder,
        &mut |_, _| {},
    )
    .expect("build");
    let summary = built.written();
    built
        .sink
        .finish()
        .expect("zstd finish")
        .into_inner()
        .expect("flush");
    let _ = std::fs::remove_file(export);
    (summary.xml_bytes, summary.total_items())
}

fn validate(file: &Path, state: Option<&CatalogState>) -> (u64, u64) {
    let input = File::open(file).expect("open");
    let options = ReadOptions {
        known: state.map(|s| s as &dyn KnownItems),
        ..ReadOptions::default()
    };
    let report = CatalogReader::new(input, options)
        .expect("reader")
        .validate_to_end()
        .expect("read");
    assert!(report.is_valid(), "{:?}", report.findings.iter().next());
    if state.is_some() {
        assert_eq!(report.known_live, report.total_items());
    }
    (report.xml_bytes, report.total_items())
}

/// The state after the catalog was sent: every item live at its version.
fn sent_state(items: u64) -> CatalogState {
    let mut state = CatalogState::new("BENCH");
    for item in Synthetic::new(items, 42) {
        let sent = ItemState {
            kind: item.kind.tag(),
            parent: item.kind.parent_id().map(str::to_owned),
            version: item.version,
            hash: content_hash(&item),
            status: Status::Live,
            sent_at: 1_767_592_800,
        };
        state.upsert(&item.id, &sent).expect("state");
    }
    state
}

fn parse_only(file: &Path) -> (u64, u64) {
    let decoder = zstd::Decoder::new(File::open(file).expect("open")).expect("decoder");
    let mut xml =
        quick_xml::Reader::from_reader(std::io::BufReader::with_capacity(256 << 10, decoder));
    let mut buf = Vec::new();
    let mut events = 0u64;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).expect("xml") {
            quick_xml::events::Event::Eof => break,
            _ => events += 1,
        }
    }
    (xml.buffer_position(), events)
}
