//! `catalogctl bwp`: Buy with Prime catalog feeds on local files.
//!
//! `build` (product export → feed CSVs + summary + new listing state),
//! `validate` (a feed file against every rule), `result` (a feed result
//! file summarised, and the listing state it implies). The rules live in
//! `catalog_core::bwp`; this only reads files, calls it and prints.
//! (`submit` and `status` need the Buy with Prime API client.)

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use catalog_core::bwp::ListingState;
use clap::Subcommand;

mod build;
mod result;
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
}

/// Runs a `bwp` subcommand.
pub fn run(command: BwpCommand) -> Result<u8> {
    match command {
        BwpCommand::Build(args) => build::run(args),
        BwpCommand::Validate(args) => validate::run(args),
        BwpCommand::Result(args) => result::run(args),
    }
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
