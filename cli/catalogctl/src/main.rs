//! `catalogctl`: the catalog-relay pipeline on local files.
//!
//! A thin shell over `catalog-core`: parse the arguments, call the library,
//! print the error chain, exit with a documented code. The same code runs in
//! the Lambda functions; nothing here decides a domain rule.

// The arguments' doc comments are clap's `--help` text, written for a
// terminal: `<provider>` and bare URLs are meant as they are.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod build;
mod bwp;
mod demo;
mod diff;
mod event;
mod generate;
mod ingestion;
mod manifest;
mod report;
mod validate;
mod xsd;

/// Exit codes, documented in `--help`.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The input has findings: an invalid catalog, or source rows in error.
    pub const FINDINGS: u8 = 1;
    /// The command could not run: bad arguments, unreadable files.
    pub const FAILURE: u8 = 2;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success (catalog valid / built)
  1  findings: the catalog is invalid, or the source had rows in error
  2  the command could not run (bad arguments, unreadable or unwritable files)

Examples:
  catalogctl build --source examples/provider-export.jsonl --out out/
  catalogctl validate out/catalog-20250420T060000Z-full.xml.zst
  catalogctl build --source export.jsonl --out out/ --state state.jsonl.zst
  catalogctl manifest --catalog out/catalog-20250420T060000Z-full.xml.zst --type full --provider acme
  catalogctl demo
  catalogctl generate --items 100000 --seed 7 --out synthetic.jsonl.zst
  catalogctl report ingestion-report.jsonl.gz --json
  catalogctl status --dir work/
  catalogctl bwp build --source examples/products.jsonl --out out/
  catalogctl bwp validate out/bwp-feed-20261130T120000Z-0001.csv
  catalogctl bwp result feed-result.csv --json
  catalogctl bwp submit --api https://api.buywithprime.amazon.com --dir work/ --source products.jsonl
  catalogctl bwp status --dir work/ --api https://api.buywithprime.amazon.com";

/// Build, validate and inspect EMBER catalogs for Amazon on local files.
#[derive(Debug, Parser)]
#[command(name = "catalogctl", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an EMBER catalog (.xml.zst) and a JSON summary from a provider export.
    ///
    /// Reads a JSON Lines or CSV export (plain, .zst or .gz), writes
    /// DIR/catalog-<UTC time>-<full|update>.xml.zst and a .summary.json next
    /// to it with counts and every finding. Bad rows are reported by line and
    /// left out; unless --allow-partial is given, any bad row means no
    /// catalog is written and the exit code is 1.
    ///
    /// Example: catalogctl build --source examples/provider-export.jsonl --out out/
    Build(build::BuildArgs),

    /// Check an EMBER catalog (.xml or .xml.zst) against every rule.
    ///
    /// Streams the file, so any size works. Prints each finding with its line,
    /// the rule and how to fix it; --json prints one JSON report instead.
    /// Exit code 0 only when the catalog is valid.
    ///
    /// Example: catalogctl validate out/catalog-20250420T060000Z-full.xml.zst
    Validate(validate::ValidateArgs),

    /// Show what `build --state` would send: new, changed, removed ids.
    ///
    /// Diffs the export against the state without writing anything.
    ///
    /// Example: catalogctl diff --state state.jsonl.zst --source export.jsonl
    Diff(diff::DiffArgs),

    /// Print the manifest that hands catalog files to Amazon.
    ///
    /// The manifest names each file at <provider>/<env>/catalogs/<file> in
    /// Amazon's bucket, in the order given, with the submission type and
    /// schema EMBER: exactly what the manifest writer uploads after its
    /// checks. Validate the files first (`catalogctl validate`).
    ///
    /// Example: catalogctl manifest --catalog out/catalog-20250420T060000Z-full.xml.zst --type full --provider acme
    Manifest(manifest::ManifestArgs),

    /// Run two days of a provider's life on the bundled example.
    ///
    /// Day 1 sends a full catalog, day 2 an edited export as an update with
    /// adds, changes and children-first deletes, into a folder laid out like
    /// the work bucket (source/, outbox/, state/). Prints what happened.
    ///
    /// Example: catalogctl demo --dir demo
    Demo(demo::DemoArgs),

    /// Write a deterministic synthetic export (JSON Lines) for tests and benchmarks.
    ///
    /// The same --items and --seed give the same bytes on every machine.
    /// Output ending in .zst is zstd-compressed.
    ///
    /// Example: catalogctl generate --items 100000 --seed 7 --out synthetic.jsonl.zst
    Generate(generate::GenerateArgs),

    /// Summarise one of Amazon's ingestion reports (HTML, JSON, JSON Lines, CSV; plain, .gz, .zst).
    ///
    /// Recognises the format by content and prints the counts by status and
    /// by error code with the first items of each, and any bad lines; --json
    /// prints the summary the report parser writes to summaries/. Exit code 1
    /// when the report rejects anything or cannot be read.
    ///
    /// Example: catalogctl report ingestion-report.jsonl.gz
    Report(ingestion::ReportArgs),

    /// Show a work folder's last submissions, their reports, the rejected items and the cadence.
    ///
    /// Reads state/ledger/, summaries/ and state/rejections/ as the report
    /// parser leaves them. Exit code 1 when the cadence check raises an alarm.
    ///
    /// Example: catalogctl status --dir work/
    Status(ingestion::StatusArgs),
    /// Buy with Prime catalog feeds: build, validate, read results.
    ///
    /// Example: catalogctl bwp build --source examples/products.jsonl --out out/
    #[command(subcommand)]
    Bwp(bwp::BwpCommand),

    /// Run one Buy with Prime event through the event handler's pass on local state.
    ///
    /// Prints the outcome (applied, repeat, stale, refused) and the
    /// product-updates message. Thin events need --api and BWP_CLIENT_ID,
    /// BWP_CLIENT_SECRET, BWP_TARGET_ID in the environment.
    ///
    /// Example: catalogctl event webhook-body.json --state work/
    Event(event::EventArgs),

    /// List the Buy with Prime product live status kept under state/products/.
    ///
    /// Example: catalogctl products --state work/ --json
    Products(event::ProductsArgs),
}

/// `full` or `update`, as the manifest will say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    /// CATALOG_FULL: every live item; Amazon deletes whatever is absent.
    Full,
    /// CATALOG_UPDATE: adds, changes and deletes only.
    Update,
}

impl From<TypeArg> for catalog_core::SubmissionType {
    fn from(value: TypeArg) -> Self {
        match value {
            TypeArg::Full => catalog_core::SubmissionType::Full,
            TypeArg::Update => catalog_core::SubmissionType::Update,
        }
    }
}

/// A path, or `-` for standard output.
pub fn is_stdout(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => build::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Manifest(args) => manifest::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Report(args) => ingestion::report(args),
        Command::Status(args) => ingestion::status(args),
        Command::Bwp(command) => bwp::run(command),
        Command::Event(args) => event::run_event(args),
        Command::Products(args) => event::run_products(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::from(exit::OK);
            }
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The async runtime of the commands that call the AWS-facing passes (one
/// worker: a command runs one pass at a time).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
