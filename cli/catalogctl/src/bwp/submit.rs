//! `catalogctl bwp submit` and `catalogctl bwp status`: the submission and
//! results passes the builder and the report parser run
//! (`catalog_aws::bwp_pass`, `catalog_aws::bwp_results`), on a local work
//! folder laid out like the work bucket (`products/`, `bwp/feeds/`,
//! `bwp/results/`, `state/bwp/`), against a Buy with Prime API.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use catalog_aws::alerts::Alerts;
use catalog_aws::bwp_pass::{
    FeedSettings, FeedTrigger, PRODUCTS_PREFIX, ProductsRef, Submission, all_records, submit_pass,
};
use catalog_aws::bwp_results::{FeedOutcome, results_pass};
use catalog_aws::local::LocalStore;
use catalog_aws::store::{Metadata, ObjectStore, Precondition};
use catalog_core::bwp::Step;
use clap::Args;
use time::OffsetDateTime;

use crate::exit;

/// Arguments of `catalogctl bwp submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The Buy with Prime API (credentials from BWP_CLIENT_ID,
    /// BWP_CLIENT_SECRET, BWP_TARGET_ID).
    #[arg(long, value_name = "URL")]
    pub api: String,

    /// The work folder (created if missing).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,

    /// A product export to drop under DIR/products/ and build first;
    /// without it, only the next feed file waiting is submitted.
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,

    /// Print the pass's report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `catalogctl bwp status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The work folder.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,

    /// Poll the submitted feeds on this Buy with Prime API first and read
    /// their results (credentials as for `submit`); without it, only what
    /// the ledger holds is shown.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,

    /// One JSON array of the ledger records instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs `catalogctl bwp submit`: exit 0 when the pass ran (a file
/// submitted, waiting, or none), 1 when the export had rows left out, 2
/// when it could not run or submitting failed after the build.
pub fn run_submit(args: SubmitArgs) -> Result<u8> {
    let api = super::api_from_env(&args.api)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let store = LocalStore::new(&args.dir);
    let runtime = crate::runtime()?;
    let trigger = match &args.source {
        Some(source) => {
            let body = std::fs::read(source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let name = source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .context("--source names no file")?;
            let key = format!("{PRODUCTS_PREFIX}{name}");
            let info = runtime
                .block_on(store.put(&key, body, Precondition::None, &Metadata::new()))
                .with_context(|| format!("cannot drop the export into {key}"))?;
            FeedTrigger::Products(ProductsRef {
                key,
                etag: info.etag,
                dropped_ms: now().saturating_mul(1000),
            })
        }
        None => FeedTrigger::Schedule,
    };
    let report = runtime
        .block_on(submit_pass(
            &store,
            &api,
            &Alerts::LogOnly,
            &FeedSettings::default(),
            trigger,
            now(),
        ))
        .context("the submission pass failed; run it again: it resumes where it stopped")?;
    let mut out = io::stdout().lock();
    if args.json {
        super::write_json(&mut out, &report)?;
    } else {
        if let Some(build) = &report.build {
            for file in &build.files {
                writeln!(out, "built {}: {} products", file.key, file.products)?;
            }
            writeln!(
                out,
                "{}: {} first listings, {} re-listings, {} unchanged, {} left out",
                build.status,
                build.counts.first_listings,
                build.counts.relistings,
                build.counts.unchanged,
                build.rows_rejected
            )?;
            for finding in build.findings.iter().take(20) {
                writeln!(
                    out,
                    "{}:{}: {}",
                    build.source, finding.position.line, finding.message
                )?;
            }
        }
        match &report.submission {
            Submission::NothingToSubmit => writeln!(out, "no feed file waits")?,
            Submission::Submitted { file, feed_id } => {
                writeln!(out, "submitted {file}: catalog feed {feed_id}")?
            }
            Submission::Waiting { file } => writeln!(
                out,
                "{file} waits: Buy with Prime is processing another catalog feed; run again later"
            )?,
            Submission::Busy { file } => writeln!(out, "{file}: another run is submitting it")?,
            Submission::Deferred { error } => writeln!(
                out,
                "built and queued, but submitting failed: {error}; run `catalogctl bwp submit` again"
            )?,
        }
    }
    if matches!(report.submission, Submission::Deferred { .. }) {
        return Ok(exit::FAILURE);
    }
    let refused = report.build.as_ref().is_some_and(|b| b.rows_rejected > 0);
    Ok(if refused { exit::FINDINGS } else { exit::OK })
}

/// Runs `catalogctl bwp status`: exit 1 when a feed failed or rows of a
/// result failed.
pub fn run_status(args: StatusArgs) -> Result<u8> {
    let store = LocalStore::new(&args.dir);
    let runtime = crate::runtime()?;
    let mut polled = Vec::new();
    if let Some(url) = &args.api {
        let api = super::api_from_env(url)?;
        let report = runtime
            .block_on(results_pass(
                &store,
                &api,
                &Alerts::LogOnly,
                &FeedSettings::default(),
                now(),
            ))
            .context("polling the feeds failed; run it again")?;
        polled = report.feeds;
    }
    let records = runtime.block_on(all_records(&store))?;
    let mut out = io::stdout().lock();
    if args.json {
        let plain: Vec<_> = records.iter().map(|v| &v.record).collect();
        super::write_json(&mut out, &plain)?;
    } else {
        for outcome in &polled {
            if let FeedOutcome::Pending { file, status } = outcome {
                writeln!(out, "{file}: {status}")?;
            }
        }
        writeln!(
            out,
            "{:<48} {:<12} {:>8} {:<16} {:<12} {:>6} {:>9} {:>7}",
            "FILE", "STEP", "PRODUCTS", "FEED", "STATUS", "WAITS", "IMPORTED", "FAILED"
        )?;
        for v in &records {
            let r = &v.record;
            let (imported, failed) = r.result.map_or((String::new(), String::new()), |c| {
                (c.imported.to_string(), c.failed.to_string())
            });
            writeln!(
                out,
                "{:<48} {:<12} {:>8} {:<16} {:<12} {:>6} {:>9} {:>7}",
                r.file,
                serde_json::to_value(r.step)?.as_str().unwrap_or(""),
                r.products,
                r.feed_id.as_deref().unwrap_or("-"),
                r.status.as_deref().unwrap_or("-"),
                r.waits,
                imported,
                failed
            )?;
            for s in &r.signals {
                writeln!(
                    out,
                    "  signal {}: {}{}{}",
                    s.code,
                    s.message.as_deref().unwrap_or(""),
                    s.impact_summary
                        .as_deref()
                        .map(|m| format!("; impact: {m}"))
                        .unwrap_or_default(),
                    s.reaction_summary
                        .as_deref()
                        .map(|m| format!("; what to do: {m}"))
                        .unwrap_or_default()
                )?;
            }
        }
        if records.is_empty() {
            writeln!(out, "no feed file in {}", args.dir.display())?;
        }
    }
    let bad = records.iter().any(|v| {
        v.record.step == Step::Failed
            || !v.record.signals.is_empty()
            || v.record.result.is_some_and(|c| c.failed > 0)
    });
    Ok(if bad { exit::FINDINGS } else { exit::OK })
}
