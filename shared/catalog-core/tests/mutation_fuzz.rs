//! A mutation fuzz of the catalog reader and the source loader.
//!
//! Real inputs (the fixtures in `tests/fixtures/`, catalogs the writer makes
//! from the synthetic generator and from the example export, the exports in
//! `examples/`) are mutated: bits flipped, cut short, pieces of one input
//! spliced into another, pieces removed or repeated, and stray markup
//! inserted (`<`, `</Title>`, `<!DOCTYPE`, `&`, `]]>`, quotes, invalid UTF-8,
//! NULs, huge numbers, deep nesting). What must hold:
//!
//! - nothing panics, and every case ends (each runs on a thread with a
//!   deadline, under small limits);
//! - the reader reports the same whether entries are handed out or dropped;
//! - no mutated plain export ever fails a build as a whole: the loader and
//!   the build loop (`pipeline::build_from_state`, what `catalogctl build`
//!   and the builder run) return `Ok`, with findings for what is wrong.
//!
//! The case counts keep the whole file well under a minute in a debug build
//! on two cores; `CATALOG_FUZZ_CASES=N` runs N cases per property instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use catalog_core::diff::{Policy, Request};
use catalog_core::input::Limits;
use catalog_core::model::{Action, CatalogHeader};
use catalog_core::pipeline::build_from_state;
use catalog_core::reader::{CatalogReader, ReadOptions, ReadReport, validate_parts};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use catalog_core::state::CatalogState;
use catalog_core::synthetic::Synthetic;
use catalog_core::writer::CatalogWriter;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// How long one case may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(20);

/// Cases per property unless `CATALOG_FUZZ_CASES` says otherwise.
fn cases(default: u32) -> u32 {
    std::env::var("CATALOG_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(default_cases),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Pieces inserted at random: markup, entities, quotes, invalid UTF-8,
/// NULs, huge numbers, deep nesting, row and field separators.
const STRAY: &[&[u8]] = &[
    b"<",
    b">",
    b"</Title>",
    b"<Title locale=\"en-US\">",
    b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#xFFFF;",
    b"&undefined;",
    b"]]>",
    b"<![CDATA[",
    b"<!--",
    b"-->",
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    b"</ProgramCatalog>",
    b"<Movie id=\"fuzz\" version=\"1\">",
    b"<Delete id=\"fuzz\" version=\"2\"/>",
    b"<TvEpisode id=\"e\" version=\"1\"><SeriesId>nope</SeriesId><SeasonId>nope</SeasonId>",
    b"\"",
    b"'",
    b"\\",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\0",
    b"\n",
    b"\r\n",
    b",",
    b"|",
    b"{",
    b"}",
    b"[",
    b"\\u0000",
    b"\\ud800",
    b"99999999999999999999999999",
    b"-1",
    b"1e999",
    b"null",
    b"\"type\":\"episode\",",
    b"\"id\":\"",
    b"<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip { at: Index, bit: u8 },
    /// Cut the input short.
    Cut { at: Index },
    /// Remove up to `len` bytes.
    Remove { at: Index, len: usize },
    /// Repeat up to `len` bytes in place (duplicate rows, ids, tags).
    Repeat { at: Index, len: usize },
    /// Insert a stray piece.
    Insert { at: Index, piece: Index },
    /// Insert up to `len` bytes of another input of the same family.
    Splice {
        donor: Index,
        from: Index,
        len: usize,
        at: Index,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        1 => any::<Index>().prop_map(|at| Mutation::Cut { at }),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<Index>(), 1usize..200).prop_map(|(at, len)| Mutation::Repeat { at, len }),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, piece)| Mutation::Insert { at, piece }),
        2 => (any::<Index>(), any::<Index>(), 1usize..400, any::<Index>())
            .prop_map(|(donor, from, len, at)| Mutation::Splice { donor, from, len, at }),
    ]
}

/// Applies `mutations` in order to `input`; `donors` feed splices.
fn mutate(input: &[u8], mutations: &[Mutation], donors: &[&[u8]]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for mutation in mutations {
        let at = |index: &Index, bytes: &Vec<u8>| index.index(bytes.len() + 1);
        match mutation {
            Mutation::Flip { at: index, bit } => {
                if !bytes.is_empty() {
                    let i = index.index(bytes.len());
                    bytes[i] ^= 1 << bit;
                }
            }
            Mutation::Cut { at: index } => {
                let i = at(index, &bytes);
                bytes.truncate(i);
            }
            Mutation::Remove { at: index, len } => {
                let i = at(index, &bytes);
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat { at: index, len } => {
                let i = at(index, &bytes);
                let end = (i + len).min(bytes.len());
                let piece = bytes[i..end].to_vec();
                bytes.splice(i..i, piece);
            }
            Mutation::Insert { at: index, piece } => {
                let i = at(index, &bytes);
                let piece = STRAY[piece.index(STRAY.len())];
                bytes.splice(i..i, piece.iter().copied());
            }
            Mutation::Splice {
                donor,
                from,
                len,
                at: index,
            } => {
                let donor = donors[donor.index(donors.len())];
                let start = from.index(donor.len() + 1);
                let end = (start + len).min(donor.len());
                let i = at(index, &bytes);
                bytes.splice(i..i, donor[start..end].iter().copied());
            }
        }
    }
    bytes
}

fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An export, and its format.
struct Export {
    name: &'static str,
    bytes: Vec<u8>,
    format: SourceFormat,
}

/// What the fuzz mutates.
struct Corpus {
    /// Plain catalogs: the fixtures, the writer's own output.
    catalogs: Vec<Vec<u8>>,
    /// A zstd-compressed catalog (mutations then hit the frame).
    compressed: Vec<u8>,
    /// The plain exports of `examples/`.
    exports: Vec<Export>,
    /// The state after building the example export: a build against it
    /// diffs, holds and deletes.
    state: CatalogState,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut catalogs = Vec::new();
        for folder in ["tests/fixtures/valid", "tests/fixtures/invalid"] {
            let mut names: Vec<_> = std::fs::read_dir(workspace_root().join(folder))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "xml"))
                .collect();
            names.sort();
            catalogs.extend(names.iter().map(|p| std::fs::read(p).unwrap()));
        }
        let header = CatalogHeader {
            id: "FUZZ".into(),
            version: 3,
            action: Action::Upsert,
        };
        let mut writer = CatalogWriter::new(Vec::new(), &header).unwrap();
        for item in Synthetic::new(40, 11) {
            writer.write_item(&item).unwrap();
        }
        let (synthetic, _) = writer.finish().unwrap();
        let compressed = zstd::encode_all(&synthetic[..], 3).unwrap();
        catalogs.push(synthetic);

        let exports = vec![
            Export {
                name: "provider-export.jsonl",
                bytes: read("examples/provider-export.jsonl"),
                format: SourceFormat::JsonLines,
            },
            Export {
                name: "provider-export-day2.jsonl",
                bytes: read("examples/provider-export-day2.jsonl"),
                format: SourceFormat::JsonLines,
            },
            Export {
                name: "provider-export-bad.jsonl",
                bytes: read("examples/provider-export-bad.jsonl"),
                format: SourceFormat::JsonLines,
            },
            Export {
                name: "movies.csv",
                bytes: read("examples/movies.csv"),
                format: SourceFormat::Csv,
            },
        ];
        let loader = SourceLoader::new(
            &exports[0].bytes[..],
            SourceFormat::JsonLines,
            LoadOptions::default(),
        )
        .unwrap();
        let built = build_from_state(
            loader,
            CatalogState::new("FUZZ"),
            Policy::default(),
            request(),
            Vec::new(),
            &mut |_, _| {},
        )
        .unwrap();
        catalogs.push(built.sink);
        let state = built.plan.new_state.expect("the example builds");
        Corpus {
            catalogs,
            compressed,
            exports,
            state,
        }
    })
}

fn request() -> Request {
    Request {
        now: 1_767_225_600,
        force_full: false,
        allow_shrink: false,
    }
}

/// Runs `case` on its own thread and fails if it panics or outlives the deadline.
fn within_deadline<T: Send + 'static>(
    what: String,
    case: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
        let _ = done.send(result);
    });
    match outcome.recv_timeout(DEADLINE) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{what}: panicked: {message}")
        }
        Err(_) => panic!("{what}: did not finish within {DEADLINE:?}"),
    }
}

/// Small bounds, so a mutation that makes something huge stops quickly.
fn small_limits() -> Limits {
    Limits {
        max_bytes: 8 << 20,
        max_token_bytes: 64 << 10,
        max_pending_bytes: 64 << 10,
        max_depth: 16,
    }
}

/// Reads `bytes` both ways (entries handed out, and dropped) and returns
/// the two reports.
fn read_both_ways(bytes: &[u8], known: Option<&CatalogState>) -> (ReadReport, ReadReport, u64) {
    let options = ReadOptions {
        limits: small_limits(),
        max_findings: 10_000,
        known: known.map(|k| k as _),
        ..ReadOptions::default()
    };
    let mut reader = CatalogReader::new(bytes, options).expect("a slice does not fail");
    let mut handed_out = 0u64;
    while reader
        .try_next_entry()
        .expect("a slice does not fail")
        .is_some()
    {
        handed_out += 1;
    }
    let stepped = reader.finish();
    let dropped = CatalogReader::new(bytes, options)
        .expect("a slice does not fail")
        .validate_to_end()
        .expect("a slice does not fail");
    (stepped, dropped, handed_out)
}

fn same_report(a: &ReadReport, b: &ReadReport) -> bool {
    a.items == b.items
        && a.deletes == b.deletes
        && a.rejected == b.rejected
        && a.complete == b.complete
        && a.findings.error_count() == b.findings.error_count()
        && a.findings.warning_count() == b.findings.warning_count()
}

proptest! {
    #![proptest_config(config(1500))]

    /// Mutated catalogs, plain: findings, never a panic or a hang, and the
    /// same report whether entries are handed out or dropped.
    #[test]
    fn mutated_catalogs_end_in_findings(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
        with_known in any::<bool>(),
    ) {
        let corpus = corpus();
        let donors: Vec<&[u8]> = corpus.catalogs.iter().map(Vec::as_slice).collect();
        let input = donors[pick.index(donors.len())];
        let bytes = mutate(input, &mutations, &donors);
        let (stepped, dropped, handed_out) =
            within_deadline(format!("{mutations:?}"), move || {
                read_both_ways(&bytes, with_known.then_some(&corpus.state))
            });
        prop_assert!(same_report(&stepped, &dropped), "{stepped:#?}\n{dropped:#?}");
        prop_assert_eq!(handed_out, stepped.total_items() + stepped.deletes);
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Mutated zstd catalogs: findings (a corrupt frame is one), never a
    /// panic or a hang.
    #[test]
    fn mutated_compressed_catalogs_end_in_findings(
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let corpus = corpus();
        let bytes = mutate(&corpus.compressed, &mutations, &[&corpus.compressed]);
        let (stepped, dropped, _) =
            within_deadline(format!("{mutations:?}"), move || read_both_ways(&bytes, None));
        prop_assert!(same_report(&stepped, &dropped), "{stepped:#?}\n{dropped:#?}");
    }
}

/// The example export built in parts of 3 items.
fn parts() -> &'static [Vec<u8>] {
    static PARTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    PARTS.get_or_init(common::example_in_parts)
}

proptest! {
    #![proptest_config(config(500))]

    /// A batch with mutated parts, or parts dropped, repeated or swapped:
    /// findings, never a panic or a hang, one report per part.
    #[test]
    fn mutated_batches_end_in_findings(
        order in prop::collection::vec(any::<Index>(), 1..8),
        mutate_part in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 0..4),
        with_known in any::<bool>(),
    ) {
        let parts = parts();
        let donors: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let mut batch: Vec<Vec<u8>> =
            order.iter().map(|i| parts[i.index(parts.len())].clone()).collect();
        let victim = mutate_part.index(batch.len());
        batch[victim] = mutate(&batch[victim], &mutations, &donors);
        let count = batch.len();
        let report = within_deadline(format!("{mutations:?}"), move || {
            let corpus = corpus();
            let options = ReadOptions {
                limits: small_limits(),
                max_findings: 10_000,
                known: with_known.then_some(&corpus.state as _),
                ..ReadOptions::default()
            };
            validate_parts(batch.iter().map(Vec::as_slice), options).expect("a slice does not fail")
        });
        prop_assert_eq!(report.parts.len(), count);
    }
}

/// Runs a plain export through the loader and the build loop, against an
/// empty state and against the state of the example export.
fn build_export(bytes: Arc<Vec<u8>>, format: SourceFormat) -> Result<(), String> {
    for state in [CatalogState::new("FUZZ"), corpus().state.clone()] {
        let options = LoadOptions {
            limits: small_limits(),
            ..LoadOptions::default()
        };
        let loader = SourceLoader::new(&bytes[..], format, options)
            .map_err(|e| format!("the loader refused the export: {e}"))?;
        let built = build_from_state(
            loader,
            state,
            Policy::default(),
            request(),
            Vec::new(),
            &mut |_, _| {},
        )
        .map_err(|e| format!("the build failed as a whole: {e}"))?;
        let load = &built.load;
        if load.rows < load.rejected {
            return Err(format!(
                "{} rows read but {} rejected",
                load.rows, load.rejected
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1500))]

    /// No mutated plain export fails a build as a whole: the bad rows are
    /// findings and the rest is built.
    #[test]
    fn mutated_exports_never_fail_a_build(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let corpus = corpus();
        let export = &corpus.exports[pick.index(corpus.exports.len())];
        let donors: Vec<&[u8]> = corpus.exports.iter().map(|e| e.bytes.as_slice()).collect();
        let bytes = Arc::new(mutate(&export.bytes, &mutations, &donors));
        let format = export.format;
        let what = format!("{} with {mutations:?}", export.name);
        let outcome = within_deadline(what.clone(), move || build_export(bytes, format));
        prop_assert!(outcome.is_ok(), "{}: {}", what, outcome.unwrap_err());
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Mutated compressed exports: never a panic or a hang (a corrupt
    /// frame may fail the build: that is the stream failing, not a row).
    #[test]
    fn mutated_compressed_exports_do_not_panic(
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let corpus = corpus();
        let compressed = zstd::encode_all(&corpus.exports[0].bytes[..], 3).unwrap();
        let bytes = Arc::new(mutate(&compressed, &mutations, &[&compressed]));
        let _ = within_deadline(format!("{mutations:?}"), move || {
            build_export(bytes, SourceFormat::JsonLines)
        });
    }
}
