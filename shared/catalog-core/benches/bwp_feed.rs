//! Buy with Prime feed build throughput and peak memory.
//!
//! `cargo bench -p catalog-core --bench bwp_feed` runs each scenario for 1M
//! products (`-- N` for another size), each in a fresh child process so its
//! peak RSS (`VmHWM`) is its own, and prints one line per scenario.
//!
//! The export is generated on the fly as JSON Lines (a `Read` that never
//! holds more than one row), so the figures are the builder's own:
//! - `first`: every product against an empty listing state → first
//!   listings (loader → diff → validator on every row → CSV, 15,000 a file,
//!   the bytes counted, not stored).
//! - `again`: the same export against the state `first` produces (built
//!   before the clock starts; its memory is in the peak), with every tenth
//!   product changed → 10% re-listings, 90% unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::io::{self, Read, Write};
use std::process::Command;
use std::time::Instant;

use catalog_core::bwp::{FeedFiles, ListingState, ProductLoadOptions, ProductLoader, build_feeds};
use catalog_core::source::SourceFormat;

fn main() {
    let args = support::args();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1], args[2].parse().expect("products"));
        return;
    }
    let products: u64 = match args.first() {
        Some(n) => n.parse().expect("N must be a number"),
        None => 1_000_000,
    };
    println!(
        "scenario  products   files  CSV MB   seconds  rows/s     CSV MB/s  peak RSS MB  state JSON MB"
    );
    for scenario in ["first", "again"] {
        let exe = std::env::current_exe().expect("current exe");
        let status = Command::new(exe)
            .args(["--child", scenario, &products.to_string()])
            .status()
            .expect("run child");
        assert!(status.success(), "{scenario} failed");
    }
}

/// A product export of `n` rows, generated as it is read. `generation`
/// changes every tenth product's image URL.
struct Export {
    next: u64,
    n: u64,
    generation: u32,
    row: Vec<u8>,
    at: usize,
}

impl Export {
    fn new(n: u64, generation: u32) -> Export {
        Export {
            next: 0,
            n,
            generation,
            row: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Export {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.row.len() {
            if self.next == self.n {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            let version = if i.is_multiple_of(10) {
                self.generation
            } else {
                0
            };
            self.row.clear();
            writeln!(
                self.row,
                "{{\"external_id\":\"prod-{i:08}\",\"sku\":\"SKU-{i:08}\",\"amazon_sku\":\"AMZ-{i:08}\",\"offer_prime\":{},\"image_url\":\"https://cdn.shop.example.com/img/{i}-v{version}.jpg\",\"detail_page_url\":\"https://shop.example.com/products/{i}?variant=default\"}}",
                !i.is_multiple_of(3)
            )?;
            self.at = 0;
        }
        let n = (self.row.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.row[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Feed files whose bytes are counted and dropped.
#[derive(Debug, Default)]
struct Counted {
    files: u32,
    bytes: u64,
}

struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FeedFiles for Counted {
    type File = Counter;
    fn name(&self, index: u32) -> String {
        format!("bench-{index:04}.csv")
    }
    fn create(&mut self, _index: u32) -> io::Result<Counter> {
        Ok(Counter(0))
    }
    fn close(&mut self, _index: u32, file: Counter, _products: u64) -> io::Result<()> {
        self.files += 1;
        self.bytes += file.0;
        Ok(())
    }
}

fn build(products: u64, generation: u32, state: ListingState) -> (Counted, ListingState, u64) {
    let loader = ProductLoader::new(
        Export::new(products, generation),
        SourceFormat::JsonLines,
        ProductLoadOptions::default(),
    )
    .expect("loader");
    let built = build_feeds(loader, state, Counted::default(), &mut |_, _| {}).expect("build");
    assert!(built.load.findings.is_clean());
    (built.files, built.state, built.counts.written())
}

fn child(scenario: &str, products: u64) {
    let (state, generation) = match scenario {
        "first" => (ListingState::new(), 0),
        "again" => (build(products, 0, ListingState::new()).1, 1),
        other => panic!("unknown scenario {other}"),
    };
    let started = Instant::now();
    let (files, state, written) = build(products, generation, state);
    let seconds = started.elapsed().as_secs_f64();
    let mut saved = Counter(0);
    state.save(&mut saved).expect("save");
    let mb = files.bytes as f64 / 1e6;
    println!(
        "{scenario:<9} {products:<10} {:<6} {mb:<8.1} {seconds:<8.2} {:<10.0} {:<9.0} {:<12.1} {:.1}",
        files.files,
        products as f64 / seconds,
        mb / seconds,
        support::peak_rss_mb(),
        saved.0 as f64 / 1e6,
    );
    assert!(written > 0);
}
