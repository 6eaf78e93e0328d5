//! `catalogctl demo`: two days of a provider's life on the bundled example.
//!
//! Day 1 sends the example export as a full catalog; day 2 sends an edited
//! export (a new movie, two changes, a removed movie, a removed episode and a
//! whole removed series) as an update whose deletes go children first. Both
//! land in a folder laid out like the work bucket (`source/`,
//! `outbox/staging/catalogs/`, `state/`), each catalog is validated against
//! what was live before it, and then goes through the gate — the manifest
//! writer's own code, on local folders — into `destination/`, laid out like
//! Amazon's bucket (`<provider>/staging/catalogs/`, `…/manifests/`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use catalog_aws::alerts::Alerts;
use catalog_aws::gate_pass::{Deps, Settings};
use catalog_aws::local::LocalStore;
use catalog_core::Findings;
use catalog_core::diff::{Outcome, Policy, Request};
use catalog_core::input::Limits;
use catalog_core::naming::catalog_file_name;
use catalog_core::pipeline::build_from_state;
use catalog_core::reader::ReadOptions;
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use clap::Args;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::build::{close_catalog, load_state, open_catalog, save_state};
use crate::exit;
use crate::report::describe_counts;
use crate::validate::validate_file;

const DAY1: &str = include_str!("../../../examples/provider-export.jsonl");
const DAY2: &str = include_str!("../../../examples/provider-export-day2.jsonl");
const MARKER: &str = ".catalogctl-demo";
const PROVIDER: &str = "example-provider";
const CATALOG_ID: &str = "EXAMPLE_PROVIDER";

/// Arguments of `catalogctl demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder to play in; created, or reused if an earlier demo made it.
    #[arg(long, default_value = "demo", value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs `catalogctl demo`.
pub fn run(args: DemoArgs) -> Result<u8> {
    let dir = &args.dir;
    prepare(dir)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "catalog-relay demo in {}/ (laid out like the work bucket)",
        dir.display()
    )?;
    let day1 = datetime!(2026-01-05 06:00 UTC);
    let days = [
        (1, day1, "provider-export-day1.jsonl", DAY1),
        (
            2,
            day1 + Duration::days(1),
            "provider-export-day2.jsonl",
            DAY2,
        ),
    ];
    for (day, now, name, export) in days {
        let source = dir.join("source").join(name);
        fs::write(&source, export).with_context(|| format!("cannot write {}", source.display()))?;
        run_day(&mut out, dir, day, now, &source)?;
    }
    writeln!(
        out,
        "\nNext: `catalogctl validate {}/outbox/staging/catalogs/<file>`, or zstd -dc one to read it;\n\
         the ledger of what was published is in {}/state/ledger/published/.",
        dir.display(),
        dir.display()
    )?;
    Ok(exit::OK)
}

/// Creates the folders; refuses a non-empty folder an earlier demo did not make.
fn prepare(dir: &Path) -> Result<()> {
    let marker = dir.join(MARKER);
    let occupied = fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if occupied && !marker.exists() {
        bail!(
            "{} exists and is not empty; give --dir an empty or new folder (the demo only reuses folders it made)",
            dir.display()
        );
    }
    for sub in ["source", "outbox", "state", "destination"] {
        let path = dir.join(sub);
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    for sub in ["source", "outbox/staging/catalogs", "state", "destination"] {
        fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    fs::write(&marker, "made by catalogctl demo\n")?;
    Ok(())
}

fn run_day(
    out: &mut dyn Write,
    dir: &Path,
    day: u32,
    now: OffsetDateTime,
    source: &Path,
) -> Result<()> {
    let state_path = dir.join("state").join("catalog-state.jsonl.zst");
    let state = load_state(&state_path, Some(CATALOG_ID))?;
    let file = File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let loader = SourceLoader::new(file, SourceFormat::JsonLines, LoadOptions::default())?;
    let request = Request {
        now: now.unix_timestamp(),
        force_full: false,
        allow_shrink: false,
    };
    let catalogs = dir.join("outbox").join("staging").join("catalogs");
    let partial = catalogs.join(".demo.partial");
    let sink = open_catalog(&partial, 3)?;
    let built = build_from_state(
        loader,
        state.clone(),
        Policy::default(),
        request,
        sink,
        &mut |_, _| {},
    )?;
    close_catalog(built.sink, &partial)?;
    let plan = built.plan;
    writeln!(
        out,
        "\nday {day} ({}): {} rows in {}",
        now.date(),
        built.load.rows,
        source.display()
    )?;
    if plan.outcome != Outcome::Send {
        fs::remove_file(&partial)?;
        writeln!(out, "  {:?}: no catalog", plan.outcome)?;
        return Ok(());
    }
    let name = catalog_file_name(now, plan.kind, None);
    let catalog = catalogs.join(&name);
    fs::rename(&partial, &catalog)?;
    if let Some(new_state) = &plan.new_state {
        save_state(new_state, &state_path)?;
    }
    let c = &plan.counts;
    writeln!(
        out,
        "  {} {} (catalog version {})",
        plan.kind.manifest_type(),
        catalog.display(),
        plan.catalog_version
    )?;
    writeln!(out, "  new       {}", describe_counts(c.new))?;
    writeln!(out, "  changed   {}", describe_counts(c.changed))?;
    writeln!(out, "  removed   {}", describe_counts(c.removed))?;
    writeln!(out, "  unchanged {}", describe_counts(c.unchanged))?;
    if !plan.deletes.is_empty() {
        let mut deletes = plan.deletes.clone();
        deletes.sort_by_key(|(_, kind)| kind.delete_rank());
        let order: Vec<String> = deletes
            .iter()
            .map(|(d, k)| format!("{} ({k})", d.id))
            .collect();
        writeln!(out, "  deletes, children first: {}", order.join(", "))?;
    }
    let options = ReadOptions {
        known: Some(&state),
        ..ReadOptions::default()
    };
    let report = validate_file(&catalog, options)?;
    let verdict = if report.is_valid() {
        "valid"
    } else {
        "INVALID"
    };
    writeln!(
        out,
        "  validated against what was live before it: {verdict} ({} items, {} deletes, {} errors)",
        report.total_items(),
        report.deletes,
        report.findings.error_count()
    )?;
    writeln!(out, "  state committed: {}", state_path.display())?;
    if !report.is_valid() {
        bail!("the demo built an invalid catalog: {}", catalog.display());
    }
    gate(out, dir, &format!("outbox/staging/catalogs/{name}"))
}

/// Runs the manifest writer's gate on one outbox key, the work bucket being
/// `dir` and Amazon's bucket `dir/destination`.
fn gate(out: &mut dyn Write, dir: &Path, key: &str) -> Result<()> {
    let deps = Deps {
        work: LocalStore::new(dir),
        destination: LocalStore::new(dir.join("destination")),
        alerts: Alerts::LogOnly,
        settings: Settings {
            provider: PROVIDER.into(),
            env: "staging".into(),
            production_access: false,
            catalog_id: CATALOG_ID.into(),
            destination_bucket: "amazon-media-catalogs".into(),
            shrink_limit_bps: Policy::default().shrink_limit_bps,
            limits: Limits::default(),
            max_findings: Findings::DEFAULT_CAP,
            omit: Default::default(),
        },
    };
    let runtime = crate::runtime()?;
    let (outcome, _) = runtime
        .block_on(catalog_aws::gate_pass::run(&deps, key))
        .with_context(|| format!("the gate failed on {key}"))?;
    let catalog_aws::gate_pass::Outcome::Published { manifest, keys } = outcome else {
        bail!("the gate did not publish {key}: {outcome:?}");
    };
    let destination = dir.join("destination");
    writeln!(out, "  gate: checked against the state, then published")?;
    for key in &keys {
        writeln!(out, "    {}", destination.join(key).display())?;
    }
    let path = destination.join(&manifest);
    writeln!(out, "    {}:", path.display())?;
    let body =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    for line in body.lines() {
        writeln!(out, "      {line}")?;
    }
    Ok(())
}
