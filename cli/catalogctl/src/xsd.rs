//! `catalogctl validate --xsd FILE`: a second check against an XML Schema.
//!
//! catalog-relay's own reader checks what EMBER documents; a provider who
//! has Amazon's `EMBER_1.0.0.xsd` (or our reconstruction,
//! `tests/schema/ember-vod-subset.xsd`) can also check the catalog against
//! it. The check runs `xmllint --stream --schema` (libxml2) as a child
//! process, the catalog decompressed into its standard input, so memory
//! stays flat whatever the catalog's size.
//!
//! Why `xmllint` and not a crate: there is no maintained pure-Rust XSD
//! validator, and the libxml2 bindings add a C build dependency (and a
//! system library) to every build of the workspace, Lambda images
//! included, for a check only a provider's workstation and CI need.
//! `xmllint` comes with libxml2 (`apt-get install libxml2-utils`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// How many of xmllint's messages are kept (all are counted).
const MAX_MESSAGES: usize = 100;

/// What the schema check found.
#[derive(Debug, Serialize)]
pub struct XsdReport {
    /// The schema file.
    pub schema: String,
    /// True when xmllint says the document validates.
    pub valid: bool,
    /// xmllint's messages (`-:LINE: …`), the first [`MAX_MESSAGES`].
    pub messages: Vec<String>,
    /// How many messages there were in all.
    pub message_count: u64,
}

/// Validates `catalog` (plain, zstd or gzip) against `schema` with xmllint.
pub fn check(catalog: &Path, schema: &Path) -> Result<XsdReport> {
    if !schema.is_file() {
        bail!(
            "the schema {} does not exist (fix: give the path of an .xsd file)",
            schema.display()
        );
    }
    let file = File::open(catalog).with_context(|| format!("cannot open {}", catalog.display()))?;
    let (mut input, _) = catalog_core::input::open(file)
        .with_context(|| format!("cannot read {}", catalog.display()))?;
    let mut child = Command::new("xmllint")
        .args(["--noout", "--stream", "--schema"])
        .arg(schema)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => anyhow::anyhow!(
                "--xsd needs xmllint, which is not installed (fix: apt-get install libxml2-utils, or leave --xsd out)"
            ),
            _ => anyhow::anyhow!("cannot run xmllint: {e}"),
        })?;
    let stderr = child.stderr.take().context("xmllint's error stream")?;
    let reading = std::thread::spawn(move || {
        let mut messages = Vec::new();
        let mut count = 0u64;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.ends_with(" validates") || line.ends_with(" fails to validate") {
                continue;
            }
            count += 1;
            if messages.len() < MAX_MESSAGES {
                messages.push(line);
            }
        }
        (messages, count)
    });
    let mut stdin = child.stdin.take().context("xmllint's input")?;
    let copied = io::copy(&mut input, &mut stdin);
    drop(stdin);
    let status = child.wait().context("xmllint did not finish")?;
    let (messages, message_count) = reading
        .join()
        .map_err(|_| anyhow::anyhow!("reading xmllint's messages failed"))?;
    if let Err(error) = copied
        && error.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(error).with_context(|| format!("cannot read {}", catalog.display()));
    }
    // 0: valid; 3 and 4: the document does not validate; others: could not run.
    match status.code() {
        Some(0) => {}
        Some(3 | 4 | 1) => {}
        other => bail!(
            "xmllint could not check against {} (exit {other:?}): {}",
            schema.display(),
            messages.join("; ")
        ),
    }
    Ok(XsdReport {
        schema: schema.display().to_string(),
        valid: status.success(),
        messages,
        message_count,
    })
}

/// Prints the report for people: each message on its line, then a verdict.
pub fn print(out: &mut dyn Write, name: &str, report: &XsdReport) -> io::Result<()> {
    for message in &report.messages {
        let message = message.strip_prefix("-:").unwrap_or(message);
        writeln!(out, "{name}:{message}")?;
    }
    let verdict = if report.valid { "valid" } else { "INVALID" };
    writeln!(
        out,
        "{name}: {verdict} against {} (xmllint, {} messages)",
        report.schema, report.message_count
    )
}
