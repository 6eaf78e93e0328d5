//! `catalogctl build`: provider export → EMBER catalog (.xml.zst) + summary.
//!
//! The catalog is written to a hidden `.partial` file and renamed into place
//! only when it is complete and accepted, so a crash or a refused build never
//! leaves something that looks like a catalog.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use catalog_core::input::Compression;
use catalog_core::model::{Action, CatalogHeader};
use catalog_core::naming::{catalog_file_name, stem};
use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use catalog_core::writer::CatalogWriter;
use catalog_core::{Finding, SubmissionType};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::exit;
use crate::report::{describe_bytes, describe_counts, print_findings, KindCounts};
use crate::TypeArg;

/// Arguments of `catalogctl build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The provider export: JSON Lines or CSV, plain, .zst or .gz.
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,

    /// Where the catalog and its summary are written (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The catalog id on <ProgramCatalog id="…">.
    #[arg(long, default_value = "catalog", value_name = "ID")]
    pub catalog_id: String,

    /// The catalog version on <ProgramCatalog version="…">.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub catalog_version: u64,

    /// full (CATALOG_FULL: every live item) or update (CATALOG_UPDATE).
    #[arg(long = "type", value_enum, default_value = "full")]
    pub kind: TypeArg,

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
}

/// The source formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// A CSV list of movies with a header row.
    Csv,
}

/// The summary written next to the catalog.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    /// The catalog file name, or null when none was written.
    catalog: Option<String>,
    status: &'static str,
    source: String,
    #[serde(rename = "type")]
    kind: &'static str,
    manifest_type: &'static str,
    catalog_id: &'a str,
    catalog_version: u64,
    items: KindCounts,
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

/// Runs `catalogctl build`.
pub fn run(args: BuildArgs) -> Result<u8> {
    let started = Instant::now();
    let kind = SubmissionType::from(args.kind);
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
    let mut loader = SourceLoader::new(source_file, format, options)
        .with_context(|| format!("cannot read the source {}", args.source.display()))?;

    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let name = catalog_file_name(time::OffsetDateTime::now_utc(), kind, None);
    let final_path = args.out.join(&name);
    let partial_path = args.out.join(format!(".{name}.partial"));
    let summary_path = args.out.join(format!("{}.summary.json", stem(&name)));

    let progress = progress_bar(args.quiet, loader.compression(), source_len);
    let header = CatalogHeader {
        id: args.catalog_id.clone(),
        version: args.catalog_version,
        action: Action::Upsert,
    };
    let written = write_catalog(&mut loader, &partial_path, &header, args.level, &progress);
    progress.finish_and_clear();
    let (xml_bytes, compressed_bytes) = match written {
        Ok(sizes) => sizes,
        Err(error) => {
            let _ = fs::remove_file(&partial_path);
            return Err(error);
        }
    };
    let report = loader.finish();

    let accepted = report.findings.is_clean() || args.allow_partial;
    if accepted {
        fs::rename(&partial_path, &final_path)
            .with_context(|| format!("cannot move the catalog into {}", final_path.display()))?;
    } else {
        fs::remove_file(&partial_path)
            .with_context(|| format!("cannot remove {}", partial_path.display()))?;
    }
    let status = match (accepted, report.findings.is_clean()) {
        (true, true) => "built",
        (true, false) => "built-partial",
        (false, _) => "refused",
    };
    let summary = Summary {
        catalog: accepted.then(|| name.clone()),
        status,
        source: args.source.display().to_string(),
        kind: kind.as_str(),
        manifest_type: kind.manifest_type(),
        catalog_id: &header.id,
        catalog_version: header.version,
        items: report.items.into(),
        rows: report.rows,
        rows_rejected: report.rejected,
        xml_bytes,
        compressed_bytes: if accepted { compressed_bytes } else { 0 },
        errors: report.findings.error_count(),
        warnings: report.findings.warning_count(),
        findings: report.findings.iter().collect(),
        findings_not_kept: report.findings.dropped(),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_summary(&summary_path, &summary)?;

    let mut err = io::stderr().lock();
    print_findings(&mut err, &args.source.display().to_string(), &report.findings)?;
    if !args.quiet {
        let mut out = io::stdout().lock();
        if accepted {
            writeln!(
                out,
                "wrote {}: {} items ({}), {} of XML, {} compressed",
                final_path.display(),
                report.total_items(),
                describe_counts(report.items),
                describe_bytes(xml_bytes),
                describe_bytes(compressed_bytes),
            )?;
        }
        writeln!(out, "summary: {}", summary_path.display())?;
    }
    if !report.findings.is_clean() {
        writeln!(
            err,
            "{} of {} rows were left out ({} errors){}",
            report.rejected,
            report.rows,
            report.findings.error_count(),
            if accepted {
                "; the catalog holds the good rows (--allow-partial)"
            } else {
                "; no catalog was written: fix the rows, or pass --allow-partial to build the good ones"
            }
        )?;
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

/// Streams every good item of the source into a zstd-compressed catalog.
/// Returns (XML bytes, compressed bytes).
fn write_catalog(
    loader: &mut SourceLoader<'_>,
    path: &Path,
    header: &CatalogHeader,
    level: i32,
    progress: &ProgressBar,
) -> Result<(u64, u64)> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut encoder = zstd::Encoder::new(BufWriter::with_capacity(1 << 20, file), level)?;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        // Compression on a second core overlaps XML writing (NOTES.md: ~1.5x).
        encoder.multithread(1)?;
    }
    let mut writer = CatalogWriter::new(encoder, header)?;
    let mut count = 0u64;
    while let Some(item) = loader.next_item()? {
        writer.write_item(&item)?;
        count += 1;
        if count.is_multiple_of(4096) {
            progress.set_position(loader.bytes_read());
            progress.set_message(format!("{count} items"));
        }
    }
    let (encoder, summary) = writer.finish()?;
    let file = encoder
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()?;
    let compressed = file.metadata()?.len();
    Ok((summary.xml_bytes, compressed))
}

fn write_summary(path: &Path, summary: &Summary<'_>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, summary)?;
    writeln!(out)?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
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
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} read, {msg}") {
            bar.set_style(style);
        }
        bar
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
