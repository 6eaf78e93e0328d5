//! `catalogctl bwp validate`: a feed file through every rule of the feed validator.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use anyhow::{Context, Result};
use catalog_core::bwp::{FeedRow, ListingKind, validate_feed};
use catalog_core::{Finding, Findings};
use clap::Args;
use serde::Serialize;

use crate::exit;
use crate::report::print_findings;

/// Arguments of `catalogctl bwp validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The feed file: CSV, plain, .gz or .zst.
    pub file: PathBuf,

    /// Print one JSON report on standard output instead of text.
    #[arg(long)]
    pub json: bool,

    /// The listing state: a product it holds as listed is checked as a
    /// re-listing. Without it, a row is a first listing unless it carries an
    /// Updated External ID.
    #[arg(long, value_name = "STATE")]
    pub state: Option<PathBuf>,

    /// How many findings to keep (all are counted).
    #[arg(long, default_value_t = Findings::DEFAULT_CAP)]
    pub max_findings: usize,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    file: String,
    valid: bool,
    header_ok: bool,
    rows: u64,
    first_listings: u64,
    relistings: u64,
    rows_in_error: u64,
    errors: u64,
    warnings: u64,
    findings: Vec<&'a Finding>,
    findings_not_kept: u64,
}

/// Runs `catalogctl bwp validate`.
pub fn run(args: ValidateArgs) -> Result<u8> {
    let state = match &args.state {
        Some(path) => Some(super::load_state(path)?),
        None => None,
    };
    let mut kind_of = |row: &FeedRow<'_>| match &state {
        Some(state) => state.kind_of(row.external_id),
        None if row.updated_external_id.is_empty() => ListingKind::FirstListing,
        None => ListingKind::Relisting,
    };
    let name = args.file.display().to_string();
    let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let report = validate_feed(file, &mut kind_of, args.max_findings)
        .with_context(|| format!("cannot read {name}"))?;
    let mut out = io::stdout().lock();
    if args.json {
        super::write_json(
            &mut out,
            &JsonReport {
                file: name,
                valid: report.is_valid(),
                header_ok: report.header_ok,
                rows: report.rows,
                first_listings: report.first_listings,
                relistings: report.relistings,
                rows_in_error: report.rows_in_error,
                errors: report.findings.error_count(),
                warnings: report.findings.warning_count(),
                findings: report.findings.iter().collect(),
                findings_not_kept: report.findings.dropped(),
            },
        )?;
    } else {
        use std::io::Write;
        print_findings(&mut out, &name, &report.findings)?;
        writeln!(
            out,
            "{name}: {}: {} products ({} first listings, {} re-listings), {} rows in error; {} errors, {} warnings",
            if report.is_valid() {
                "valid"
            } else {
                "INVALID"
            },
            report.rows,
            report.first_listings,
            report.relistings,
            report.rows_in_error,
            report.findings.error_count(),
            report.findings.warning_count(),
        )?;
    }
    Ok(if report.is_valid() {
        exit::OK
    } else {
        exit::FINDINGS
    })
}
