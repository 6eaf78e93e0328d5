//! `catalogctl build`: provider export → EMBER catalog (.xml.zst) + summary.
//!
//! Without `--state` every good row of the export goes into the catalog at
//! the version the row gives (1 by default). With `--state` the export is
//! diffed against what was sent before (`catalog_core::pipeline`): new and
//! changed items with the right versions, deletes children first, full or
//! update by cadence, the shrink guard, and the new state written next to
//! the catalog.
//!
//! The catalog is written to a hidden `.partial` file and renamed into place
//! only when it is complete and accepted, so a crash or a refused build never
//! leaves something that looks like a catalog. The new state is written
//! after the catalog is in place.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use catalog_core::diff::{DiffCounts, Outcome, Policy, Request};
use catalog_core::ember::{EmberOptions, Omit};
use catalog_core::input::Compression;
use catalog_core::model::{Action, CatalogHeader};
use catalog_core::naming::{catalog_file_name, stem};
use catalog_core::pipeline::{build_from_state_with, not_sent};
use catalog_core::source::{LoadOptions, LoadReport, SourceFormat, SourceLoader};
use catalog_core::state::CatalogState;
use catalog_core::writer::{CatalogWriter, WriteSummary};
use catalog_core::{Finding, Findings, SubmissionType};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::TypeArg;
use crate::exit;
use crate::report::{KindCounts, describe_bytes, describe_counts, print_findings};

/// Arguments of `catalogctl build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The provider export: JSON Lines or CSV, plain, .zst or .gz.
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,

    /// Where the catalog and its summary are written (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The catalog state (what was sent before): the export is diffed against
    /// it and the new state is written next to the catalog. A missing file
    /// means nothing was sent yet.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// The catalog id on <ProgramCatalog id="…"> (with --state, only for a new state).
    #[arg(long, value_name = "ID")]
    pub catalog_id: Option<String>,

    /// The catalog version on <ProgramCatalog version="…"> (without --state;
    /// with it the state counts versions).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub catalog_version: u64,

    /// full (CATALOG_FULL) or update (CATALOG_UPDATE). With --state, update
    /// means "an update unless a full is due" (no full yet, or the last one
    /// 25 days old), and full forces one. Default: full without --state,
    /// update with it.
    #[arg(long = "type", value_enum)]
    pub kind: Option<TypeArg>,

    /// With --state: send a full catalog even if it drops more than 10% of
    /// the live items (the shrink guard), for this one run.
    #[arg(long)]
    pub allow_shrink: bool,

    /// The export's shape; guessed from the file name when not given.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// The locale of titles whose row names none.
    #[arg(long, default_value = "en-US")]
    pub default_locale: String,

    /// Write the catalog of the good rows even when some rows are in error.
    #[arg(long)]
    pub allow_partial: bool,

    /// zstd compression level.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub level: i32,

    /// No progress bar and no summary on standard output.
    #[arg(long, short)]
    pub quiet: bool,

    /// Inferred EMBER elements not to send (their evidence is in the
    /// README's EMBER section), e.g. when Amazon's staging report refuses
    /// one: --omit-inferred Credits,RunLengths. Names: Relationships, Genres,
    /// Keywords, Ratings, Studios, Credits, RunLengths, ReleaseDates,
    /// GeoRestrictions, LaunchTargets, OfferWindow.
    #[arg(long, value_name = "NAME[,NAME]", value_parser = crate::validate::parse_omit, default_value = "")]
    pub omit_inferred: Omit,

    /// The id of the <OfferCatalog>; default: the catalog id followed by "-offers".
    #[arg(long, value_name = "ID")]
    pub offer_catalog_id: Option<String>,

    /// Pretend the time is this (RFC 3339), for reproducible runs.
    #[arg(long, hide = true, value_parser = parse_time)]
    pub now: Option<OffsetDateTime>,
}

/// The source formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// A CSV list of movies with a header row.
    Csv,
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))
}

/// The summary written next to the catalog.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    /// The catalog file name, or null when none was written.
    catalog: Option<String>,
    /// built, built-partial, refused, nothing-to-do, shrink-refused.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    source: String,
    #[serde(rename = "type")]
    kind: &'static str,
    manifest_type: &'static str,
    catalog_id: &'a str,
    catalog_version: u64,
    items: KindCounts,
    deletes: KindCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<DiffSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    rows: u64,
    rows_rejected: u64,
    xml_bytes: u64,
    compressed_bytes: u64,
    errors: u64,
    warnings: u64,
    findings: Vec<&'a Finding>,
    findings_not_kept: u64,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct DiffSummary {
    new: KindCounts,
    changed: KindCounts,
    unchanged: KindCounts,
    removed: KindCounts,
    held: u64,
    keepalive: Option<String>,
}

impl DiffSummary {
    fn new(counts: &DiffCounts, keepalive: Option<String>) -> DiffSummary {
        DiffSummary {
            new: counts.new.into(),
            changed: counts.changed.into(),
            unchanged: counts.unchanged.into(),
            removed: counts.removed.into(),
            held: counts.held,
            keepalive,
        }
    }
}

/// What either kind of build produced, before the catalog is kept or dropped.
struct Produced {
    kind: SubmissionType,
    header: CatalogHeader,
    load: LoadReport,
    written: WriteSummary,
    compressed_bytes: u64,
    /// With --state: the verdict, the diff and the state to commit.
    diff: Option<(Outcome, DiffSummary, Vec<Finding>, Option<CatalogState>)>,
}

/// Runs `catalogctl build`.
pub fn run(args: BuildArgs) -> Result<u8> {
    let started = Instant::now();
    let now = args.now.unwrap_or_else(OffsetDateTime::now_utc);
    let format = match args.format {
        Some(FormatArg::Jsonl) => SourceFormat::JsonLines,
        Some(FormatArg::Csv) => SourceFormat::Csv,
        None => SourceFormat::from_path(&args.source),
    };
    let source_file = File::open(&args.source)
        .with_context(|| format!("cannot open the source {}", args.source.display()))?;
    let source_len = source_file.metadata().map(|m| m.len()).unwrap_or(0);
    let options = LoadOptions {
        default_locale: args.default_locale.clone(),
        ..LoadOptions::default()
    };
    let loader = SourceLoader::new(source_file, format, options)
        .with_context(|| format!("cannot read the source {}", args.source.display()))?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let partial_path = args
        .out
        .join(format!(".catalog-{}.partial", now.unix_timestamp_nanos()));
    let progress = progress_bar(args.quiet, loader.compression(), source_len);

    let produced = match &args.state {
        Some(state_path) => {
            build_with_state(&args, state_path, loader, now, &partial_path, &progress)
        }
        None => build_plain(&args, loader, &partial_path, &progress),
    };
    progress.finish_and_clear();
    let produced = match produced {
        Ok(produced) => produced,
        Err(error) => {
            let _ = fs::remove_file(&partial_path);
            return Err(error);
        }
    };
    finish(&args, now, started, &partial_path, produced)
}

/// The EMBER options the arguments ask for.
fn ember_options(args: &BuildArgs) -> EmberOptions {
    EmberOptions {
        omit: args.omit_inferred,
        offer_catalog_id: args.offer_catalog_id.clone(),
    }
}

/// Every good row, as given.
fn build_plain(
    args: &BuildArgs,
    mut loader: SourceLoader<'_>,
    partial: &Path,
    progress: &ProgressBar,
) -> Result<Produced> {
    let kind = args.kind.map_or(SubmissionType::Full, SubmissionType::from);
    let header = CatalogHeader {
        id: args.catalog_id.clone().unwrap_or_else(|| "catalog".into()),
        version: args.catalog_version,
        action: Action::Upsert,
    };
    let sink = open_catalog(partial, args.level)?;
    let options = ember_options(args);
    let mut writer = CatalogWriter::with_options(sink, &header, &options)?;
    let mut count = 0u64;
    while let Some(mut item) = loader.next_item()? {
        options.omit.strip(&mut item);
        writer.write_item(&item)?;
        loader.recycle(item);
        count += 1;
        if count.is_multiple_of(4096) {
            show(progress, count, loader.bytes_read());
        }
    }
    let (sink, written) = writer.finish()?;
    let compressed_bytes = close_catalog(sink, partial)?;
    let mut load = loader.finish();
    if let Some(finding) = not_sent(&written) {
        load.findings.push(finding);
    }
    Ok(Produced {
        kind,
        header,
        load,
        written,
        compressed_bytes,
        diff: None,
    })
}

/// The export diffed against the state.
fn build_with_state(
    args: &BuildArgs,
    state_path: &Path,
    loader: SourceLoader<'_>,
    now: OffsetDateTime,
    partial: &Path,
    progress: &ProgressBar,
) -> Result<Produced> {
    let state = load_state(state_path, args.catalog_id.as_deref())?;
    let request = Request {
        now: now.unix_timestamp(),
        force_full: args.kind == Some(TypeArg::Full),
        allow_shrink: args.allow_shrink,
    };
    let sink = open_catalog(partial, args.level)?;
    let catalog_id = state.catalog_id.clone();
    let built = build_from_state_with(
        loader,
        state,
        Policy::default(),
        request,
        sink,
        &ember_options(args),
        &mut |n, bytes| show(progress, n, bytes),
    )?;
    let written = built.written();
    let compressed_bytes = close_catalog(built.sink, partial)?;
    let plan = built.plan;
    let keepalive = plan.keepalive.as_ref().map(|i| i.id.clone());
    Ok(Produced {
        kind: plan.kind,
        header: CatalogHeader {
            id: catalog_id,
            version: plan.catalog_version,
            action: Action::Upsert,
        },
        load: built.load,
        written,
        compressed_bytes,
        diff: Some((
            plan.outcome,
            DiffSummary::new(&plan.counts, keepalive),
            plan.findings,
            plan.new_state,
        )),
    })
}

/// Keeps or drops the catalog, writes the state and the summary, prints.
fn finish(
    args: &BuildArgs,
    now: OffsetDateTime,
    started: Instant,
    partial: &Path,
    produced: Produced,
) -> Result<u8> {
    let Produced {
        kind,
        header,
        load,
        written,
        compressed_bytes,
        diff,
    } = produced;
    let name = catalog_file_name(now, kind, None);
    let final_path = args.out.join(&name);
    let summary_path = args.out.join(format!("{}.summary.json", stem(&name)));
    let state_path = args.out.join(format!("{}.state.jsonl.zst", stem(&name)));

    let source_clean = load.findings.is_clean();
    let (status, reason) = match diff.as_ref().map(|d| &d.0) {
        _ if !source_clean && !args.allow_partial => ("refused", None),
        Some(Outcome::Refused(why)) => ("shrink-refused", Some(why.clone())),
        Some(Outcome::NothingToDo) => ("nothing-to-do", None),
        _ if !source_clean => ("built-partial", None),
        _ => ("built", None),
    };
    let keep = matches!(status, "built" | "built-partial");
    if keep {
        fs::rename(partial, &final_path)
            .with_context(|| format!("cannot move the catalog into {}", final_path.display()))?;
    } else {
        fs::remove_file(partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    let mut diff_findings = Vec::new();
    let mut diff_summary = None;
    let mut state_written = None;
    if let Some((_, summary, findings, new_state)) = diff {
        diff_findings = findings;
        diff_summary = Some(summary);
        if let (true, Some(state)) = (keep, new_state) {
            save_state(&state, &state_path)?;
            state_written = Some(state_path.display().to_string());
        }
    }

    let mut findings = Findings::default();
    for finding in load.findings.iter().chain(&diff_findings) {
        findings.push(finding.clone());
    }
    let summary = Summary {
        catalog: keep.then(|| name.clone()),
        status,
        reason: reason.clone(),
        source: args.source.display().to_string(),
        kind: kind.as_str(),
        manifest_type: kind.manifest_type(),
        catalog_id: &header.id,
        catalog_version: header.version,
        items: written.items.into(),
        deletes: written.deletes.into(),
        diff: diff_summary,
        state: state_written.clone(),
        rows: load.rows,
        rows_rejected: load.rejected,
        xml_bytes: written.xml_bytes,
        compressed_bytes: if keep { compressed_bytes } else { 0 },
        errors: findings.error_count(),
        warnings: findings.warning_count(),
        findings: findings.iter().collect(),
        findings_not_kept: load.findings.dropped(),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_summary(&summary_path, &summary)?;

    let mut err = io::stderr().lock();
    print_findings(&mut err, &args.source.display().to_string(), &findings)?;
    if !args.quiet {
        let mut out = io::stdout().lock();
        match status {
            "built" | "built-partial" => {
                writeln!(
                    out,
                    "wrote {} ({}): {} items ({}), {} deletes, {} of XML, {} compressed",
                    final_path.display(),
                    kind.manifest_type(),
                    written.total_items(),
                    describe_counts(written.items),
                    written.total_deletes(),
                    describe_bytes(written.xml_bytes),
                    describe_bytes(compressed_bytes),
                )?;
                if let Some(state) = &state_written {
                    writeln!(out, "new state: {state} (pass it as --state next time)")?;
                }
            }
            "nothing-to-do" => writeln!(
                out,
                "nothing to do: the export matches what was sent, and no keep-alive update is due; no catalog written"
            )?,
            _ => {}
        }
        writeln!(out, "summary: {}", summary_path.display())?;
    }
    if let Some(reason) = reason {
        writeln!(err, "refused: {reason}")?;
        return Ok(exit::FINDINGS);
    }
    if !source_clean {
        writeln!(
            err,
            "{} of {} rows were left out ({} errors){}",
            load.rejected,
            load.rows,
            load.findings.error_count(),
            if keep {
                "; the catalog holds the good rows (--allow-partial)"
            } else {
                "; no catalog was written: fix the rows, or pass --allow-partial to build the good ones"
            }
        )?;
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

pub type Catalog = zstd::Encoder<'static, BufWriter<File>>;

pub fn open_catalog(path: &Path, level: i32) -> Result<Catalog> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    // Compression on a second core overlaps XML writing (NOTES.md: ~1.5x).
    let worker = catalog_core::writer::has_second_core();
    Ok(catalog_core::writer::catalog_encoder(
        BufWriter::with_capacity(1 << 20, file),
        level,
        worker,
    )?)
}

/// Closes the zstd frame and the file; returns the compressed size.
pub fn close_catalog(encoder: Catalog, path: &Path) -> Result<u64> {
    let file = encoder
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// Loads the state, or starts one when the file does not exist.
pub fn load_state(path: &Path, catalog_id: Option<&str>) -> Result<CatalogState> {
    match File::open(path) {
        Ok(file) => {
            let state = CatalogState::load(file)
                .with_context(|| format!("cannot load the state {}", path.display()))?;
            if let Some(id) = catalog_id.filter(|id| *id != state.catalog_id) {
                bail!(
                    "--catalog-id {id:?} differs from the state's catalog id {:?} ({}); a state belongs to one catalog",
                    state.catalog_id,
                    path.display()
                );
            }
            Ok(state)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Ok(CatalogState::new(catalog_id.unwrap_or("catalog")))
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the state {}", path.display())),
    }
}

/// Writes a state (zstd JSON Lines) atomically: a temporary file, then rename.
pub fn save_state(state: &CatalogState, path: &Path) -> Result<()> {
    let partial = path.with_extension("partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let encoder = zstd::Encoder::new(BufWriter::new(file), 3)?;
    let encoder = state
        .save(encoder)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let file = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    fs::rename(&partial, path)
        .with_context(|| format!("cannot move the state into {}", path.display()))
}

fn write_summary(path: &Path, summary: &Summary<'_>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, summary)?;
    writeln!(out)?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

fn show(progress: &ProgressBar, items: u64, bytes: u64) {
    progress.set_position(bytes);
    progress.set_message(format!("{items} items"));
}

/// A progress bar on a terminal, nothing in a pipe or with --quiet.
fn progress_bar(quiet: bool, compression: Compression, source_len: u64) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = if compression == Compression::None && source_len > 0 {
        let bar = ProgressBar::new(source_len);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ({eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} read, {msg}")
        {
            bar.set_style(style);
        }
        bar
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
