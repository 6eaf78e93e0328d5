//! `catalogctl validate`: stream a catalog through the reader and report.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use catalog_core::ember::Omit;
use catalog_core::ids::KnownCatalog;
use catalog_core::input::{Compression, Limits};
use catalog_core::reader::{CatalogReader, ReadOptions, ReadReport};
use catalog_core::{Finding, Findings};
use clap::Args;
use serde::Serialize;

use crate::exit;
use crate::report::{KindCounts, describe_bytes, describe_counts, print_findings};
use crate::xsd::{self, XsdReport};

/// Arguments of `catalogctl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The catalog: EMBER XML, plain or zstd-compressed.
    pub file: PathBuf,

    /// Print one JSON report on standard output instead of text.
    #[arg(long)]
    pub json: bool,

    /// An earlier catalog whose items are already live at Amazon: they may be
    /// named as parents, and deletes of them are checked children first.
    /// May be given several times, oldest first.
    #[arg(long, value_name = "CATALOG")]
    pub known: Vec<PathBuf>,

    /// How many findings to keep (all are counted).
    #[arg(long, default_value_t = Findings::DEFAULT_CAP)]
    pub max_findings: usize,

    /// Stop reading past this many decompressed bytes (a guard against bombs).
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    pub max_xml_bytes: u64,

    /// Inferred EMBER elements the catalog was built without (as given to
    /// `build --omit-inferred`): with Relationships omitted, seasons and
    /// episodes without one are accepted. Example: --omit-inferred Relationships
    #[arg(long, value_name = "NAME[,NAME]", value_parser = parse_omit, default_value = "")]
    pub omit_inferred: Omit,

    /// Also validate against this XML Schema with xmllint (libxml2), e.g.
    /// Amazon's EMBER_1.0.0.xsd or tests/schema/ember-vod-subset.xsd. The
    /// catalog is valid only when both checks pass.
    #[arg(long, value_name = "FILE")]
    pub xsd: Option<PathBuf>,
}

/// Parses `--omit-inferred`.
pub fn parse_omit(list: &str) -> std::result::Result<Omit, String> {
    Omit::parse(list).map_err(|e| e.to_string())
}

/// The JSON form of a validation report.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    file: String,
    valid: bool,
    complete: bool,
    catalog_id: Option<&'a str>,
    catalog_version: Option<u64>,
    action: Option<&'static str>,
    compression: &'static str,
    items: KindCounts,
    deletes: u64,
    program_offers: u64,
    offer_deletes: u64,
    rejected: u64,
    xml_bytes: u64,
    errors: u64,
    warnings: u64,
    findings: Vec<&'a Finding>,
    findings_not_kept: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    xsd: Option<&'a XsdReport>,
}

/// Runs `catalogctl validate`.
pub fn run(args: ValidateArgs) -> Result<u8> {
    let known = load_known(&args.known)?;
    let options = ReadOptions {
        limits: Limits {
            max_bytes: args.max_xml_bytes,
            ..Limits::default()
        },
        max_findings: args.max_findings,
        known: known.as_ref().map(|k| k as _),
        omit: args.omit_inferred,
    };
    let report = validate_file(&args.file, options)?;
    let xsd = match &args.xsd {
        Some(schema) => Some(xsd::check(&args.file, schema)?),
        None => None,
    };
    let xsd_valid = xsd.as_ref().is_none_or(|x| x.valid);
    let name = args.file.display().to_string();
    let mut out = io::stdout().lock();
    if args.json {
        let header = report.header.as_ref();
        let json = JsonReport {
            file: name.clone(),
            valid: report.is_valid() && xsd_valid,
            complete: report.complete,
            catalog_id: header.map(|h| h.id.as_str()),
            catalog_version: header.map(|h| h.version),
            action: header.map(|h| h.action.as_str()),
            compression: compression_name(report.compression),
            items: report.items.into(),
            deletes: report.deletes,
            program_offers: report.program_offers,
            offer_deletes: report.offer_deletes,
            rejected: report.rejected,
            xml_bytes: report.xml_bytes,
            errors: report.findings.error_count(),
            warnings: report.findings.warning_count(),
            findings: report.findings.iter().collect(),
            findings_not_kept: report.findings.dropped(),
            xsd: xsd.as_ref(),
        };
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        print_findings(&mut out, &name, &report.findings)?;
        let verdict = if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        };
        writeln!(
            out,
            "{name}: {verdict}: {} ({}), {} deletes, {} ProgramOffers, {} offer deletes, {} of XML; {} errors, {} warnings{}",
            report.total_items(),
            describe_counts(report.items),
            report.deletes,
            report.program_offers,
            report.offer_deletes,
            describe_bytes(report.xml_bytes),
            report.findings.error_count(),
            report.findings.warning_count(),
            if report.complete {
                ""
            } else {
                "; reading stopped early"
            },
        )?;
    }
    if !args.json
        && let Some(xsd) = &xsd
    {
        xsd::print(&mut out, &name, xsd)?;
    }
    Ok(if report.is_valid() && xsd_valid {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

/// Validates one file to the end.
pub fn validate_file(path: &Path, options: ReadOptions<'_>) -> Result<ReadReport> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = CatalogReader::new(file, options)
        .with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .validate_to_end()
        .with_context(|| format!("cannot read {}", path.display()))
}

/// Reads earlier catalogs into the set of items known to be live.
fn load_known(paths: &[PathBuf]) -> Result<Option<KnownCatalog>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut known = KnownCatalog::new();
    for path in paths {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = CatalogReader::new(file, ReadOptions::default())
            .with_context(|| format!("cannot read known catalog {}", path.display()))?;
        while let Some(entry) = reader
            .try_next_entry()
            .with_context(|| format!("cannot read known catalog {}", path.display()))?
        {
            known.apply(&entry);
        }
        let report = reader.finish();
        if !report.is_valid() {
            anyhow::bail!(
                "the known catalog {} is itself invalid ({} errors); validate it first",
                path.display(),
                report.findings.error_count()
            );
        }
    }
    Ok(Some(known))
}

fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "none",
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
    }
}
