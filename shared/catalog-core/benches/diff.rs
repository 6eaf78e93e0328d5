//! The diff planner on a million items: time, peak memory, state size.
//!
//! `cargo bench -p catalog-core --bench diff` runs, for 1M synthetic items
//! (`-- ITEMS` for another size), each scenario in a fresh child process so
//! its peak RSS (VmHWM) is its own:
//!
//! - `build`: day 1, a first full pass of the planner over
//!   `Synthetic::new(ITEMS, 42)` from an empty state; then the state is saved
//!   through zstd level 3 to a temporary file.
//! - `load`: that file loaded back into a state.
//! - `export`: day 2's export generated and dropped, no planner: the floor
//!   under `diff`, since the synthetic items are built as they stream.
//! - `diff`: the state loaded, then day 2 through the planner (`next` for
//!   every item, then `finish`; no XML): the same items with about 5% changed
//!   (a title) and about 1% removed (0.5% of series with their seasons and
//!   episodes, 0.5% of the other episodes, 1% of movies).
//!
//! Targets for 1M items: the diff pass under 5 s, peak RSS under 250 MB, the
//! state at most 120 bytes an item.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use catalog_core::diff::{Outcome, Planner, Policy, Request};
use catalog_core::model::{Item, ItemKind, KindTag, SubmissionType};
use catalog_core::state::CatalogState;
use catalog_core::synthetic::{SplitMix64, Synthetic};

const SEED: u64 = 42;
const DAY1: i64 = 1_760_000_000;
const DAY2: i64 = DAY1 + 24 * 60 * 60;
const ZSTD_LEVEL: i32 = 3;

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
    let items: u64 = match args.first() {
        Some(n) => n.parse().expect("ITEMS must be a number"),
        None => 1_000_000,
    };
    let dir = std::env::temp_dir().join("catalog-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("diff-state-{items}.jsonl.zst"));
    println!(
        "diff planner, {items} synthetic items (seed {SEED}); each scenario in its own process"
    );
    for scenario in ["build", "load", "export", "diff"] {
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

fn child(scenario: &str, items: u64, file: &Path) {
    match scenario {
        "build" => build(items, file),
        "load" => load(file),
        "export" => export_only(items),
        "diff" => diff(items, file),
        other => panic!("unknown scenario {other}"),
    }
}

fn request(now: i64) -> Request {
    Request {
        now,
        force_full: false,
        allow_shrink: false,
    }
}

/// Day 1: the first full pass from an empty state, then the save.
fn build(items: u64, file: &Path) {
    let empty = CatalogState::new("BENCH");
    let started = Instant::now();
    let mut planner = Planner::new(empty, Policy::default(), request(DAY1));
    let mut sent = 0u64;
    for item in Synthetic::new(items, SEED) {
        sent += u64::from(planner.next(item).expect("next").is_some());
    }
    let plan = planner.finish().expect("finish");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(plan.kind, SubmissionType::Full);
    assert_eq!(plan.outcome, Outcome::Send);
    assert_eq!(sent, items);
    let state = plan.new_state.expect("the new state");
    let heap = state.heap_bytes();
    println!(
        "build   first full pass: {seconds:.2} s ({:.0} items/s); state {} items, heap {:.1} MB = {:.1} bytes/item",
        items as f64 / seconds,
        state.len(),
        heap as f64 / 1e6,
        heap as f64 / state.len().max(1) as f64,
    );

    let started = Instant::now();
    let out = BufWriter::with_capacity(1 << 20, File::create(file).expect("create"));
    let encoder = zstd::Encoder::new(out, ZSTD_LEVEL).expect("encoder");
    let encoder = state.save(encoder).expect("save");
    encoder
        .finish()
        .expect("zstd finish")
        .into_inner()
        .expect("flush");
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(file).expect("state file").len();
    println!(
        "build   save (zstd {ZSTD_LEVEL}): {seconds:.2} s; {:.1} MB compressed = {:.1} bytes/item",
        bytes as f64 / 1e6,
        bytes as f64 / items.max(1) as f64,
    );
    println!("build   peak RSS {:.1} MB", support::peak_rss_mb());
}

fn load_state(file: &Path) -> CatalogState {
    let input = BufReader::with_capacity(1 << 20, File::open(file).expect("open"));
    CatalogState::load(input).expect("load")
}

/// The saved state loaded back.
fn load(file: &Path) {
    let started = Instant::now();
    let state = load_state(file);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "load    load (zstd {ZSTD_LEVEL}): {seconds:.2} s; {} items, heap {:.1} MB = {:.1} bytes/item; peak RSS {:.1} MB",
        state.len(),
        state.heap_bytes() as f64 / 1e6,
        state.heap_bytes() as f64 / state.len().max(1) as f64,
        support::peak_rss_mb(),
    );
}

/// Day 2's export: day 1's items with about 5% changed and 1% removed.
#[derive(Debug)]
struct DayTwo {
    items: Synthetic,
    rng: SplitMix64,
    /// The series being removed with everything under it.
    removed_series: Option<String>,
    removed: u64,
    changed: u64,
}

impl DayTwo {
    fn new(items: u64) -> DayTwo {
        DayTwo {
            items: Synthetic::new(items, SEED),
            rng: SplitMix64::new(SEED ^ 0xD1FF),
            removed_series: None,
            removed: 0,
            changed: 0,
        }
    }

    fn chance(&mut self, per_thousand: u64) -> bool {
        self.rng.below(1000) < per_thousand
    }
}

impl Iterator for DayTwo {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            let mut item = self.items.next()?;
            let remove = match &item.kind {
                ItemKind::Series => {
                    self.removed_series = None;
                    let gone = self.chance(5);
                    if gone {
                        self.removed_series = Some(item.id.clone());
                    }
                    gone
                }
                ItemKind::Season { series_id, .. } => {
                    self.removed_series.as_deref() == Some(series_id.as_str())
                }
                ItemKind::Episode { series_id, .. } => {
                    self.removed_series.as_deref() == Some(series_id.as_str()) || self.chance(5)
                }
                ItemKind::Movie => {
                    self.removed_series = None;
                    self.chance(10)
                }
            };
            if remove {
                self.removed += 1;
                continue;
            }
            if self.chance(50) {
                item.meta.title.text.push_str(" (remastered)");
                self.changed += 1;
            }
            return Some(item);
        }
    }
}

/// Generating day 2's export alone: what `diff` spends before the planner.
fn export_only(items: u64) {
    let started = Instant::now();
    let mut export = DayTwo::new(items);
    let mut count = 0u64;
    for item in export.by_ref() {
        count += 1;
        std::hint::black_box(&item);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "export  day 2 generated, no planner: {seconds:.2} s; {count} items ({} changed, {} removed); peak RSS {:.1} MB",
        export.changed,
        export.removed,
        support::peak_rss_mb(),
    );
}

/// Day 2 through the planner, from the saved state.
fn diff(items: u64, file: &Path) {
    let started = Instant::now();
    let state = load_state(file);
    let load_seconds = started.elapsed().as_secs_f64();
    let rss_loaded = support::rss_mb();

    let started = Instant::now();
    let mut planner = Planner::new(state, Policy::default(), request(DAY2));
    let mut export = DayTwo::new(items);
    let mut sent = 0u64;
    for item in export.by_ref() {
        sent += u64::from(planner.next(item).expect("next").is_some());
    }
    let next_seconds = started.elapsed().as_secs_f64();
    let plan = planner.finish().expect("finish");
    let seconds = started.elapsed().as_secs_f64();

    assert_eq!(plan.kind, SubmissionType::Update);
    assert_eq!(plan.outcome, Outcome::Send);
    let counts = &plan.counts;
    let total = |per_kind: &[u64; 4]| per_kind.iter().sum::<u64>();
    let removed = total(&counts.removed);
    assert_eq!(
        total(&counts.changed),
        export.changed,
        "every changed item is found"
    );
    assert_eq!(removed, export.removed, "every removed item is found");
    assert_eq!(removed, plan.deletes.len() as u64);
    assert_eq!(sent, export.changed);
    let per_kind = |per_kind: &[u64; 4]| {
        KindTag::ALL
            .iter()
            .map(|k| format!("{} {}", per_kind[*k as usize], k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "diff    load {load_seconds:.2} s (RSS then {rss_loaded:.1} MB); diff pass {seconds:.2} s (next: {next_seconds:.2} s, finish: {:.2} s)",
        seconds - next_seconds,
    );
    println!(
        "diff    new {}, changed {} ({:.2}%), unchanged {}, removed {} ({:.2}%: {}), deletes {}",
        total(&counts.new),
        total(&counts.changed),
        100.0 * total(&counts.changed) as f64 / items as f64,
        total(&counts.unchanged),
        removed,
        100.0 * removed as f64 / items as f64,
        per_kind(&counts.removed),
        plan.deletes.len(),
    );
    println!("diff    peak RSS {:.1} MB", support::peak_rss_mb());
}
