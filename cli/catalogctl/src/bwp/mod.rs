//! `catalogctl bwp`: Buy with Prime catalog feeds on local files.
//!
//! `build` (product export → feed CSVs + summary + new listing state),
//! `validate` (a feed file against every rule), `result` (a feed result
//! file summarised, and the listing state it implies), `submit` and
//! `status` (the functions' submission and results passes on a local work
//! folder, against a Buy with Prime API). The rules live in
//! `catalog_core::bwp`, the passes in `catalog_aws`; this only reads files,
//! calls them and prints.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use catalog_core::bwp::ListingState;
use clap::Subcommand;

mod build;
mod result;
mod submit;
mod validate;

/// The `bwp` subcommands.
#[derive(Debug, Subcommand)]
pub enum BwpCommand {
    /// Build Buy with Prime feed CSVs from a product export.
    ///
    /// Reads a JSON Lines or CSV product export (plain, .zst or .gz), diffs
    /// it against the listing state (--state; a missing file means nothing
    /// was sent), checks every new or changed product with the feed
    /// validator and writes DIR/bwp-feed-<UTC time>-NNNN.csv (at most 15,000
    /// products each), a .summary.json and the new listing state
    /// (.listing.jsonl.zst; pass it as --state next time). Bad rows are
    /// reported by line and left out; the good ones are written (exit 1 when
    /// any row was in error).
    ///
    /// Example: catalogctl bwp build --source examples/products.jsonl --out out/
    Build(build::BuildArgs),

    /// Check a feed CSV against every rule before it is uploaded.
    ///
    /// The header row first and exact, required columns per listing kind
    /// (a row is a first listing unless --state says the product is listed,
    /// or the row carries an Updated External ID), true/false only, http(s)
    /// URLs, no External ID or SKU twice, at most 15,000 products. Each
    /// finding names its line. Exit 0 only when the file may be uploaded.
    ///
    /// Example: catalogctl bwp validate out/bwp-feed-20261130T120000Z-0001.csv
    Validate(validate::ValidateArgs),

    /// Summarise a feed result file (counts by result and error code).
    ///
    /// With --state, applies the result to the listing state (imported →
    /// listed, failed → failed with its codes) and writes the new state next
    /// to the result file. Exit 0 when every row was imported, 1 when some
    /// failed or could not be read.
    ///
    /// Example: catalogctl bwp result feed-result.csv --state out/bwp-feed-20261130T120000Z.listing.jsonl.zst
    Result(result::ResultArgs),

    /// Submit feed files to Buy with Prime, one at a time.
    ///
    /// With --source, drops the export under DIR/products/ and builds its
    /// feed files (DIR/bwp/feeds/, the listing state in
    /// DIR/state/bwp/listing.jsonl.zst), like a drop in the work bucket; then
    /// submits the next file waiting: createUploadLink, the PUT,
    /// createCatalogFeed, each step recorded in DIR/state/bwp/feeds/ so a
    /// run that stopped resumes where it was. Buy with Prime processes one
    /// feed at a time: a file refused for that waits for the next run.
    /// Credentials from BWP_CLIENT_ID, BWP_CLIENT_SECRET and BWP_TARGET_ID.
    ///
    /// Example: catalogctl bwp submit --api https://api.buywithprime.amazon.com --dir work/ --source examples/products.jsonl
    Submit(submit::SubmitArgs),

    /// Show the feed ledger; with --api, poll the submitted feeds first.
    ///
    /// With --api, each submitted feed is asked for with catalogFeed; a
    /// completed one's result file is downloaded at once, archived in
    /// DIR/bwp/results/, summarised and applied to the listing state; a
    /// failed one's signals are recorded. Exit 1 when a feed failed or
    /// result rows failed.
    ///
    /// Example: catalogctl bwp status --dir work/ --api https://api.buywithprime.amazon.com
    Status(submit::StatusArgs),
}

/// Runs a `bwp` subcommand.
pub fn run(command: BwpCommand) -> Result<u8> {
    match command {
        BwpCommand::Build(args) => build::run(args),
        BwpCommand::Validate(args) => validate::run(args),
        BwpCommand::Result(args) => result::run(args),
        BwpCommand::Submit(args) => submit::run_submit(args),
        BwpCommand::Status(args) => submit::run_status(args),
    }
}

/// The Buy with Prime client for `--api URL`, its credentials from
/// `BWP_CLIENT_ID`, `BWP_CLIENT_SECRET` and `BWP_TARGET_ID` (as the event
/// handler's secret holds them).
pub(crate) fn api_from_env(url: &str) -> Result<bwp_api::Client> {
    let var = |name: &str| {
        std::env::var(name).with_context(|| format!("--api needs {name} in the environment"))
    };
    let config = bwp_api::ClientConfig::new(
        url,
        var("BWP_CLIENT_ID")?,
        var("BWP_CLIENT_SECRET")?,
        var("BWP_TARGET_ID")?,
    );
    Ok(bwp_api::Client::new(config)?)
}

/// Loads a listing state, or starts one when the file does not exist.
fn load_state(path: &Path) -> Result<ListingState> {
    match File::open(path) {
        Ok(file) => ListingState::load(file)
            .with_context(|| format!("cannot load the listing state {}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ListingState::new()),
        Err(e) => {
            Err(e).with_context(|| format!("cannot open the listing state {}", path.display()))
        }
    }
}

/// Writes a listing state (zstd JSON Lines) atomically: a temporary file, then rename.
fn save_state(state: &ListingState, path: &Path) -> Result<()> {
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
        .with_context(|| format!("cannot move the listing state into {}", path.display()))
}

/// Writes a JSON value, pretty, with a final line break.
fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
