//! Report parsing throughput and peak memory: a JSON Lines report generated
//! as it is read (never held), parsed and summarised.
//!
//! `cargo bench -p catalog-core --bench report [-- MB]` (default 200 MB).
//! Prints MB/s and the process's peak resident set, which must not grow with
//! the report's size.

mod support;

use std::time::Instant;

use catalog_core::report::summary::SummaryBuilder;
use catalog_core::report::synthetic::SyntheticJsonLines;
use catalog_core::report::{ParseOptions, parse_report};

fn main() {
    let mb: u64 = support::args()
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    // About 130 bytes a line.
    let items = mb * 1_000_000 / 130;
    // Written to a file first, so the figure is the parser's alone (the
    // generator formats every line); the file is streamed, never held.
    let path = std::env::temp_dir().join(format!(
        "catalog-relay-report-bench-{}.jsonl",
        std::process::id()
    ));
    let written = std::fs::File::create(&path)
        .and_then(|mut file| std::io::copy(&mut SyntheticJsonLines::new(items, 50), &mut file));
    let report = match written.and_then(|_| std::fs::File::open(&path)) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("{}: {error}", path.display());
            std::process::exit(1);
        }
    };
    let mut builder = SummaryBuilder::new(20);
    let cpu_before = support::cpu_seconds();
    let before = support::peak_rss_mb();
    let started = Instant::now();
    let parsed = match parse_report(report, &ParseOptions::default(), &mut |item| {
        builder.add(item)
    }) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("parse failed: {error}");
            std::process::exit(1);
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu = support::cpu_seconds() - cpu_before;
    let _ = std::fs::remove_file(&path);
    let counts = builder.counts();
    println!(
        "json-lines report: {:.1} MB, {} items ({} rejected) in {:.2} s = {:.0} MB/s wall, {:.0} MB per CPU second; peak RSS {:.1} MB (before parsing {:.1} MB)",
        parsed.bytes as f64 / 1e6,
        counts.total(),
        counts.rejected,
        seconds,
        parsed.bytes as f64 / 1e6 / seconds,
        parsed.bytes as f64 / 1e6 / cpu,
        support::peak_rss_mb(),
        before,
    );
}
