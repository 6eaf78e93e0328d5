//! `catalogctl bwp build`: product export → Buy with Prime feed CSVs,
//! a summary and the new listing state.
//!
//! Each feed file is written to a hidden `.partial` file and renamed when
//! complete; the new listing state is written after every file is in
//! place, so a crash never records a product as sent that no file holds.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use catalog_core::Findings;
use catalog_core::bwp::{FeedCounts, FeedFiles, ProductLoadOptions, ProductLoader, build_feeds};
use catalog_core::source::SourceFormat;
use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::build::FormatArg;
use crate::exit;
use crate::report::print_findings;

/// Arguments of `catalogctl bwp build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The product export: JSON Lines or CSV, plain, .zst or .gz.
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,

    /// Where the feed files, the summary and the new state are written
    /// (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The listing state (what was sent before and what the results said).
    /// A missing file means nothing was sent yet.
    #[arg(long, value_name = "STATE")]
    pub state: Option<PathBuf>,

    /// The export's shape; guessed from the file name when not given.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// No summary on standard output.
    #[arg(long, short)]
    pub quiet: bool,

    /// Pretend the time is this (RFC 3339), for reproducible runs.
    #[arg(long, hide = true, value_parser = parse_time)]
    pub now: Option<OffsetDateTime>,
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))
}

/// Feed files in a folder: `<stem>-NNNN.csv`, written as `.partial` first.
#[derive(Debug)]
struct DirFeeds {
    dir: PathBuf,
    stem: String,
    written: Vec<FeedFile>,
}

#[derive(Debug, Serialize)]
struct FeedFile {
    file: String,
    products: u64,
    bytes: u64,
}

impl DirFeeds {
    fn partial(&self, index: u32) -> PathBuf {
        self.dir.join(format!(".{}.partial", self.name(index)))
    }
}

impl FeedFiles for DirFeeds {
    type File = BufWriter<File>;

    fn name(&self, index: u32) -> String {
        format!("{}-{index:04}.csv", self.stem)
    }

    fn create(&mut self, index: u32) -> io::Result<BufWriter<File>> {
        let name = self.name(index);
        if self.dir.join(&name).exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{name} already exists in {}; a build in the same second wrote it: run again, or use another --out",
                    self.dir.display()
                ),
            ));
        }
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(self.partial(index))?,
        ))
    }

    fn close(&mut self, index: u32, file: BufWriter<File>, products: u64) -> io::Result<()> {
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        let name = self.name(index);
        fs::rename(self.partial(index), self.dir.join(&name))?;
        self.written.push(FeedFile {
            file: name,
            products,
            bytes,
        });
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    /// built, built-partial (some rows left out), nothing-to-do.
    status: &'static str,
    source: String,
    files: &'a [FeedFile],
    #[serde(flatten)]
    counts: FeedCounts,
    rows: u64,
    rows_rejected: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    errors: u64,
    warnings: u64,
    findings: Vec<&'a catalog_core::Finding>,
    findings_not_kept: u64,
    seconds: f64,
}

/// Runs `catalogctl bwp build`.
pub fn run(args: BuildArgs) -> Result<u8> {
    let started = Instant::now();
    let now = args.now.unwrap_or_else(OffsetDateTime::now_utc);
    let format = match args.format {
        Some(FormatArg::Jsonl) => SourceFormat::JsonLines,
        Some(FormatArg::Csv) => SourceFormat::Csv,
        None => SourceFormat::from_path(&args.source),
    };
    let state = match &args.state {
        Some(path) => super::load_state(path)?,
        None => catalog_core::bwp::ListingState::new(),
    };
    let source = args.source.display().to_string();
    let file =
        File::open(&args.source).with_context(|| format!("cannot open the source {source}"))?;
    let loader = ProductLoader::new(file, format, ProductLoadOptions::default())
        .with_context(|| format!("cannot read the source {source}"))?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let stem = feed_stem(now);
    let feeds = DirFeeds {
        dir: args.out.clone(),
        stem: stem.clone(),
        written: Vec::new(),
    };
    let built = match build_feeds(loader, state, feeds, &mut |_, _| {}) {
        Ok(built) => built,
        Err(error) => {
            remove_partials(&args.out, &stem);
            return Err(error).with_context(|| format!("cannot build feeds from {source}"));
        }
    };
    let findings: &Findings = &built.load.findings;
    let clean = findings.is_clean();
    let mut state_written = None;
    if built.counts.written() > 0 {
        let path = args.out.join(format!("{stem}.listing.jsonl.zst"));
        super::save_state(&built.state, &path)?;
        state_written = Some(path.display().to_string());
    }
    let status = match (built.counts.written(), clean) {
        (0, true) => "nothing-to-do",
        (_, true) => "built",
        (_, false) => "built-partial",
    };
    let summary_path = args.out.join(format!("{stem}.summary.json"));
    let summary = Summary {
        status,
        source: source.clone(),
        files: &built.files.written,
        counts: built.counts,
        rows: built.load.rows,
        rows_rejected: built.load.rejected + built.counts.refused,
        state: state_written.clone(),
        errors: findings.error_count(),
        warnings: findings.warning_count(),
        findings: findings.iter().collect(),
        findings_not_kept: findings.dropped(),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_summary(&summary_path, &summary)?;

    let mut err = io::stderr().lock();
    print_findings(&mut err, &source, findings)?;
    if !args.quiet {
        let mut out = io::stdout().lock();
        for file in &built.files.written {
            writeln!(
                out,
                "wrote {}: {} products",
                args.out.join(&file.file).display(),
                file.products
            )?;
        }
        let counts = built.counts;
        writeln!(
            out,
            "{} first listings, {} re-listings, {} unchanged, {} left out",
            counts.first_listings,
            counts.relistings,
            counts.unchanged,
            built.load.rejected + counts.refused
        )?;
        match &state_written {
            Some(state) => writeln!(
                out,
                "new listing state: {state} (pass it as --state next time)"
            )?,
            None if counts.written() == 0 => {
                writeln!(out, "nothing to send: no feed file written")?
            }
            None => {}
        }
        writeln!(out, "summary: {}", summary_path.display())?;
    }
    if !clean {
        writeln!(
            err,
            "{} of {} products were left out ({} errors); the feed files hold the good ones",
            built.load.rejected + built.counts.refused,
            built.load.rows,
            findings.error_count()
        )?;
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

/// `bwp-feed-YYYYMMDDTHHMMSSZ`: feeds built at different times never collide.
fn feed_stem(at: OffsetDateTime) -> String {
    format!("bwp-feed-{}", catalog_core::naming::compact_utc(at))
}

/// Best effort: a failed build leaves no `.partial` file behind.
fn remove_partials(dir: &Path, stem: &str) {
    let prefix = format!(".{stem}-");
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".partial") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn write_summary(path: &Path, summary: &Summary<'_>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    super::write_json(&mut out, summary)?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
