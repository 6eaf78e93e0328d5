//! `catalogctl generate`: a deterministic synthetic export in the source format.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use catalog_core::source::SourceRecord;
use catalog_core::synthetic::Synthetic;
use clap::Args;

use crate::{exit, is_stdout};

/// Arguments of `catalogctl generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many items (movies, series, seasons and episodes together).
    #[arg(long, value_name = "N")]
    pub items: u64,

    /// The seed: the same seed gives the same export.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,

    /// Where to write; `-` for standard output. A name ending in .zst is compressed.
    #[arg(long, default_value = "-", value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `catalogctl generate`.
pub fn run(args: GenerateArgs) -> Result<u8> {
    let sink: Box<dyn Write> = if is_stdout(&args.out) {
        Box::new(io::stdout().lock())
    } else {
        let file = File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        Box::new(file)
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let compress = args.out.extension().is_some_and(|e| e == "zst");
    if compress {
        let mut encoder = zstd::Encoder::new(out, 3)?;
        write_items(&mut encoder, &args)?;
        encoder.finish()?.flush()?;
    } else {
        write_items(&mut out, &args)?;
        out.flush()?;
    }
    Ok(exit::OK)
}

fn write_items(out: &mut dyn Write, args: &GenerateArgs) -> Result<()> {
    for item in Synthetic::new(args.items, args.seed) {
        serde_json::to_writer(&mut *out, &SourceRecord::from(&item))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
