//! `catalogctl bwp result`: a feed result file summarised, and with
//! `--state` the listing state it implies.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use catalog_core::bwp::listing::Applied;
use catalog_core::bwp::{ImportOutcome, ResultReader, ResultSummary};
use catalog_core::{Finding, Findings, Position, Rule};
use clap::Args;
use serde::Serialize;

use crate::exit;
use crate::report::print_findings;

/// Arguments of `catalogctl bwp result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The feed result file (CSV, plain, .gz or .zst).
    pub file: PathBuf,

    /// Print one JSON report on standard output instead of text.
    #[arg(long)]
    pub json: bool,

    /// The listing state to update: the new state is written next to the
    /// result file (<FILE without .csv>.listing.jsonl.zst).
    #[arg(long, value_name = "STATE")]
    pub state: Option<PathBuf>,

    /// The feed the result is of (its file name, as the listing state
    /// records it): a row about a product sent again since only records
    /// that the product was imported once.
    #[arg(long, value_name = "FEED")]
    pub feed: Option<String>,

    /// How many rows of each error code to show.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub examples: usize,
}

#[derive(Debug, Default, Serialize)]
struct StateUpdate {
    file: String,
    listed: u64,
    failed: u64,
    stale: u64,
    not_in_state: u64,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    file: String,
    #[serde(flatten)]
    summary: &'a ResultSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a StateUpdate>,
    findings: Vec<&'a Finding>,
}

/// Runs `catalogctl bwp result`.
pub fn run(args: ResultArgs) -> Result<u8> {
    let name = args.file.display().to_string();
    let mut state = match &args.state {
        Some(path) => Some(super::load_state(path)?),
        None => None,
    };
    let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let mut reader = ResultReader::new(file, Findings::DEFAULT_CAP)
        .with_context(|| format!("cannot read {name}"))?;
    let mut summary = ResultSummary::new(args.examples);
    let mut update = StateUpdate::default();
    while let Some((line, row)) = reader
        .next_row()
        .with_context(|| format!("cannot read {name}"))?
    {
        summary.add(line, &row);
        let at = Position {
            line,
            column: 0,
            offset: 0,
        };
        if row.outcome() == ImportOutcome::Unrecognised {
            reader.report(
                Finding::warning(
                    Rule::BwpResultUnknown,
                    at,
                    format!(
                        "Import Result {:?} is not one we recognise; the product's state is left as it was",
                        row.import_result
                    ),
                )
                .for_item(&row.external_id),
            );
        }
        let Some(state) = &mut state else {
            continue;
        };
        match state.apply_result(&row, args.feed.as_deref()) {
            Applied::Listed => update.listed += 1,
            Applied::Failed => update.failed += 1,
            Applied::Stale => update.stale += 1,
            Applied::Unrecognised => {}
            Applied::NotInState => {
                update.not_in_state += 1;
                reader.report(
                    Finding::warning(
                        Rule::BwpResultUnknown,
                        at,
                        "the listing state holds no product of this External ID; nothing was recorded",
                    )
                    .for_item(&row.external_id),
                );
            }
        }
    }
    let findings = reader.finish();
    let update = match &state {
        Some(state) => {
            let path = state_path(&args.file);
            super::save_state(state, &path)?;
            update.file = path.display().to_string();
            Some(update)
        }
        None => None,
    };
    let mut out = io::stdout().lock();
    if args.json {
        super::write_json(
            &mut out,
            &JsonReport {
                file: name,
                summary: &summary,
                state: update.as_ref(),
                findings: findings.iter().collect(),
            },
        )?;
    } else {
        print_findings(&mut out, &name, &findings)?;
        print_summary(&mut out, &name, &summary)?;
        if let Some(update) = &update {
            writeln!(
                out,
                "new listing state: {} ({} listed, {} failed, {} for an older feed, {} unknown products)",
                update.file, update.listed, update.failed, update.stale, update.not_in_state
            )?;
        }
    }
    let all_imported = summary.failed == 0 && summary.unrecognised == 0 && findings.is_clean();
    Ok(if all_imported {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

fn print_summary(out: &mut dyn Write, name: &str, summary: &ResultSummary) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} rows: {} imported, {} failed, {} unrecognised",
        summary.rows, summary.imported, summary.failed, summary.unrecognised
    )?;
    for (code, rows) in &summary.by_code {
        writeln!(out, "  {code}: {} rows", rows.rows)?;
        for example in &rows.examples {
            writeln!(
                out,
                "    {name}:{} item {:?}: {} {}",
                example.line, example.external_id, example.error_type, example.error_details
            )?;
        }
    }
    if summary.other_codes > 0 {
        writeln!(out, "  … {} more codes not listed", summary.other_codes)?;
    }
    Ok(())
}

/// `result.csv` → `result.listing.jsonl.zst`, next to it.
fn state_path(result: &Path) -> PathBuf {
    let name = result
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    result.with_file_name(format!("{stem}.listing.jsonl.zst"))
}
