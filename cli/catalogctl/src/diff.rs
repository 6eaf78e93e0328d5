//! `catalogctl diff`: what a build with `--state` would send, without writing it.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use catalog_core::diff::{Outcome, Planner, Policy, Request};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use crate::build::load_state;
use crate::report::{describe_counts, print_findings};
use crate::{TypeArg, exit};

/// Arguments of `catalogctl diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The catalog state (what was sent before); a missing file means nothing was.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,

    /// The provider export: JSON Lines or CSV, plain, .zst or .gz.
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,

    /// update (unless a full is due) or full, as `build --state` would.
    #[arg(long = "type", value_enum, default_value = "update")]
    pub kind: TypeArg,

    /// How many ids to show per kind of change.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub first: usize,

    /// Print every id as JSON on standard output instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
struct Ids {
    new: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    held: u64,
}

#[derive(Debug, Serialize)]
struct JsonDiff {
    manifest_type: &'static str,
    catalog_version: u64,
    outcome: String,
    new: u64,
    changed: u64,
    unchanged: u64,
    removed: u64,
    ids: Ids,
}

/// Runs `catalogctl diff`.
pub fn run(args: DiffArgs) -> Result<u8> {
    let state = load_state(&args.state, None)?;
    let file = File::open(&args.source)
        .with_context(|| format!("cannot open the source {}", args.source.display()))?;
    let mut loader = SourceLoader::new(
        file,
        SourceFormat::from_path(&args.source),
        LoadOptions::default(),
    )
    .with_context(|| format!("cannot read the source {}", args.source.display()))?;
    let request = Request {
        now: OffsetDateTime::now_utc().unix_timestamp(),
        force_full: args.kind == TypeArg::Full,
        allow_shrink: false,
    };
    let mut planner = Planner::new(state, Policy::default(), request);
    let keep = if args.json { usize::MAX } else { args.first };
    let mut ids = Ids::default();
    while let Some(item) = loader.next_item()? {
        let id = item.id.clone();
        let new_before: u64 = planner.counts().new.iter().sum();
        let changed_before: u64 = planner.counts().changed.iter().sum();
        planner.next(item)?;
        let counts = planner.counts();
        if counts.new.iter().sum::<u64>() > new_before && ids.new.len() < keep {
            ids.new.push(id);
        } else if counts.changed.iter().sum::<u64>() > changed_before && ids.changed.len() < keep {
            ids.changed.push(id);
        }
    }
    let load = loader.finish();
    for id in &load.rejected_ids {
        planner.hold(id);
    }
    if load.unreadable_rows > 0 {
        planner.hold_all_removals(format!("{} rows could not be read", load.unreadable_rows));
    }
    let plan = planner.finish()?;
    ids.held = plan.counts.held;
    let removed_ids: Vec<String> = plan.deletes.iter().map(|(d, _)| d.id.clone()).collect();
    ids.removed = removed_ids.into_iter().take(keep).collect();
    let outcome = match &plan.outcome {
        Outcome::Send => "send".to_owned(),
        Outcome::NothingToDo => "nothing to do".to_owned(),
        Outcome::Refused(why) => format!("refused: {why}"),
    };
    let sum = |counts: [u64; 4]| counts.iter().sum::<u64>();
    let mut out = io::stdout().lock();
    if args.json {
        let json = JsonDiff {
            manifest_type: plan.kind.manifest_type(),
            catalog_version: plan.catalog_version,
            outcome,
            new: sum(plan.counts.new),
            changed: sum(plan.counts.changed),
            unchanged: sum(plan.counts.unchanged),
            removed: sum(plan.counts.removed),
            ids,
        };
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        print_findings(
            &mut io::stderr().lock(),
            &args.source.display().to_string(),
            &load.findings,
        )?;
        writeln!(
            out,
            "{} (catalog version {}): {outcome}",
            plan.kind.manifest_type(),
            plan.catalog_version
        )?;
        let c = &plan.counts;
        line(&mut out, "new", c.new, &ids.new)?;
        line(&mut out, "changed", c.changed, &ids.changed)?;
        line(&mut out, "removed", c.removed, &ids.removed)?;
        line(&mut out, "unchanged", c.unchanged, &[])?;
        if c.held > 0 {
            writeln!(
                out,
                "  held:      {} (rows in error; kept as they are)",
                c.held
            )?;
        }
        if let Some(item) = &plan.keepalive {
            writeln!(out, "  keep-alive: {} at version {}", item.id, item.version)?;
        }
    }
    Ok(match plan.outcome {
        Outcome::Refused(_) => exit::FINDINGS,
        _ if !load.findings.is_clean() => exit::FINDINGS,
        _ => exit::OK,
    })
}

fn line(out: &mut dyn Write, label: &str, counts: [u64; 4], ids: &[String]) -> io::Result<()> {
    let total: u64 = counts.iter().sum();
    write!(out, "  {label:<10} {total}")?;
    if total > 0 {
        write!(out, " ({})", describe_counts(counts))?;
    }
    if !ids.is_empty() {
        let more = if (ids.len() as u64) < total {
            ", …"
        } else {
            ""
        };
        write!(out, ": {}{more}", ids.join(", "))?;
    }
    writeln!(out)?;
    Ok(())
}
