//! `catalogctl report FILE` and `catalogctl status`: Amazon's ingestion
//! reports and the submissions' health, with the report parser's own code
//! (`catalog_core::report`, `catalog_aws::report_pass`) on local files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use catalog_aws::local::LocalStore;
use catalog_aws::report_pass::{
    REJECTIONS_PREFIX, SUMMARIES_PREFIX, published_ledger, reported_catalogs,
};
use catalog_aws::state_store::StateStore;
use catalog_aws::store::ObjectStore;
use catalog_core::report::cadence::{CadencePolicy, Submitted, check_cadence};
use catalog_core::report::rejections::read_rejections;
use catalog_core::report::summary::{ReportSummary, SummaryBuilder, catalog_of_ledger_key};
use catalog_core::report::{ParseOptions, Readability, parse_report};
use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::exit;

/// `catalogctl report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report: HTML, JSON, JSON Lines or CSV, plain, .gz or .zst.
    pub file: PathBuf,
    /// Print the summary as JSON (what `summaries/<env>/` holds).
    #[arg(long)]
    pub json: bool,
    /// Items shown per error code.
    #[arg(long, default_value_t = 5)]
    pub first: usize,
}

/// Prints a report's summary. Exit code 1 when it rejects anything or
/// cannot be read.
pub fn report(args: ReportArgs) -> Result<u8> {
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut builder = SummaryBuilder::new(args.first);
    let parsed = parse_report(file, &ParseOptions::default(), &mut |item| {
        builder.add(item)
    })
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    let summary = builder.finish(&args.file.display().to_string(), "local", parsed, None);
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, &summary)?;
    }
    Ok(if summary.needs_alert() {
        exit::FINDINGS
    } else {
        exit::OK
    })
}

fn print_summary(out: &mut impl Write, s: &ReportSummary) -> io::Result<()> {
    let format = s.parsed.format.map_or("unknown format".to_owned(), |f| {
        serde_json::to_value(f)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    writeln!(out, "report    {} ({format}): {}", s.report, s.verdict())?;
    match &s.parsed.readability {
        Readability::Unrecognised { reason } => writeln!(out, "          {reason}")?,
        Readability::TooLarge { limit } => {
            writeln!(
                out,
                "          larger than {limit} bytes, the most parsed whole"
            )?;
        }
        Readability::Read => {}
    }
    let header = &s.parsed.header;
    for (name, value) in [
        ("report id", &header.report_id),
        ("answers", &header.submission),
        ("status", &header.status),
    ] {
        if let Some(value) = value {
            writeln!(out, "{name:<9} {value}")?;
        }
    }
    if let Some(answers) = &s.answers {
        writeln!(
            out,
            "published {} ({})",
            answers.catalog, answers.manifest_type
        )?;
    }
    let c = &s.counts;
    writeln!(
        out,
        "items     {} read: {} accepted, {} rejected, {} warnings, {} unknown",
        c.total(),
        c.accepted,
        c.rejected,
        c.warning,
        c.unknown
    )?;
    let d = &header.declared;
    if d.total.or(d.accepted).or(d.rejected).is_some() {
        let n = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        writeln!(
            out,
            "declared  total {}, accepted {}, rejected {}, warnings {}",
            n(d.total),
            n(d.accepted),
            n(d.rejected),
            n(d.warnings)
        )?;
    }
    for code in &s.by_code {
        writeln!(out, "  {:<28} {:>8}", code.code, code.count)?;
        for item in &code.first {
            writeln!(
                out,
                "      {} v{} (line {}){}",
                item.item_id,
                item.version.map_or("?".to_owned(), |v| v.to_string()),
                item.line,
                item.message
                    .as_deref()
                    .map_or(String::new(), |m| format!(": {m}"))
            )?;
        }
    }
    for finding in &s.parsed.findings {
        writeln!(out, "finding   line {}: {}", finding.line, finding.message)?;
    }
    if s.parsed.findings_dropped > 0 {
        writeln!(out, "finding   … and {} more", s.parsed.findings_dropped)?;
    }
    Ok(())
}

/// `catalogctl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The work folder (laid out like the work bucket: `state/`, `summaries/`).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Submissions shown, newest first.
    #[arg(long, default_value_t = 10)]
    pub last: usize,
    /// The time to check the cadence at (Unix seconds); default now.
    #[arg(long)]
    pub at: Option<i64>,
}

/// Prints the last submissions, their reports, the rejected items and the
/// cadence. Exit code 1 when the cadence is unhealthy.
pub fn status(args: StatusArgs) -> Result<u8> {
    let runtime = crate::runtime()?;
    let store = LocalStore::new(&args.dir);
    let now = args
        .at
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    runtime.block_on(status_of(&store, &args, now))
}

async fn status_of(store: &LocalStore, args: &StatusArgs, now: i64) -> Result<u8> {
    let states = StateStore::new(store.clone());
    let mut published = published_ledger(&states, None).await?;
    published.sort_by(|a, b| b.validated_at.cmp(&a.validated_at));
    let reported = reported_catalogs(store).await?;
    let mut by_catalog: BTreeMap<String, Vec<ReportSummary>> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for object in store.list(SUMMARIES_PREFIX).await? {
        let Some(summary) = states.read_record::<ReportSummary>(&object.key).await? else {
            continue;
        };
        match &summary.answers {
            Some(answers) => by_catalog
                .entry(answers.catalog.clone())
                .or_default()
                .push(summary),
            None => unmatched.push(summary),
        }
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<44} {:<8} {:<7} {:<20} {:<13} {:>8} {:>8} {:>5}",
        "SUBMISSION", "ENV", "TYPE", "PUBLISHED", "REPORT", "ACCEPTED", "REJECTED", "WARN"
    )?;
    for record in published.iter().take(args.last) {
        let kind = record
            .manifest_type
            .strip_prefix("CATALOG_")
            .unwrap_or(&record.manifest_type);
        let when: String = record.validated_at.chars().take(19).collect();
        let reports = by_catalog
            .get(&record.catalog)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if reports.is_empty() {
            writeln!(
                out,
                "{:<44} {:<8} {:<7} {:<20} {:<13}",
                record.catalog, record.env, kind, when, "none yet"
            )?;
        }
        for s in reports {
            writeln!(
                out,
                "{:<44} {:<8} {:<7} {:<20} {:<13} {:>8} {:>8} {:>5}",
                record.catalog,
                record.env,
                kind,
                when,
                s.verdict(),
                s.counts.accepted,
                s.counts.rejected,
                s.counts.warning
            )?;
        }
    }
    for s in &unmatched {
        writeln!(
            out,
            "{:<44} {:<8} {:<7} {:<20} {:<13} {:>8} {:>8} {:>5}",
            format!("(unmatched) {}", s.report.rsplit('/').next().unwrap_or("")),
            s.env,
            "-",
            "-",
            s.verdict(),
            s.counts.accepted,
            s.counts.rejected,
            s.counts.warning
        )?;
    }

    writeln!(out)?;
    let mut shown = 0;
    for object in store.list(REJECTIONS_PREFIX).await? {
        let (_, mut body) = store.get(&object.key).await?;
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut body, &mut bytes)
            .await
            .with_context(|| format!("cannot read {}", store.location(&object.key)))?;
        let (rejections, _) = read_rejections(&bytes[..])?;
        for r in rejections {
            if shown == 0 {
                writeln!(out, "REJECTED ITEMS (state/rejections/)")?;
            }
            if shown < 20 {
                writeln!(
                    out,
                    "  {:<32} v{:<5} {:<24} {}",
                    r.id,
                    r.version.map_or("?".to_owned(), |v| v.to_string()),
                    r.code.as_deref().unwrap_or("-"),
                    r.message.as_deref().unwrap_or("")
                )?;
            }
            shown += 1;
        }
    }
    if shown > 20 {
        writeln!(out, "  … and {} more", shown - 20)?;
    }
    if shown == 0 {
        writeln!(out, "REJECTED ITEMS: none")?;
    }

    writeln!(out)?;
    let policy = CadencePolicy::default();
    let submitted: Vec<Submitted> = published
        .iter()
        .filter_map(|p| {
            Submitted::from_published(p, reported.contains(catalog_of_ledger_key(&p.catalog)))
        })
        .collect();
    let envs = check_cadence(now, &submitted, &policy);
    if envs.is_empty() {
        writeln!(out, "CADENCE: nothing published yet")?;
    }
    let mut healthy = true;
    for env in &envs {
        let ago = |d: Option<f64>| d.map_or("never".to_owned(), |d| format!("{d:.1} days ago"));
        let at = |t: Option<i64>| {
            t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default()
        };
        writeln!(
            out,
            "CADENCE {}: last update {} {}, last full {} {}: {}",
            env.env,
            ago(env.days_since_update),
            at(env.last_update),
            ago(env.days_since_full),
            at(env.last_full),
            if env.healthy() { "ok" } else { "ALARM" }
        )?;
        for problem in env.problems(&policy) {
            writeln!(out, "  {problem}")?;
        }
        healthy &= env.healthy();
    }
    Ok(if healthy { exit::OK } else { exit::FINDINGS })
}
