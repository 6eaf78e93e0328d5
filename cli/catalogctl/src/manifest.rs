//! `catalogctl manifest`: the manifest the gate would write for local catalog files.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use catalog_aws::config::{check_bucket_name, check_provider};
use catalog_core::gate::{Manifest, destination_catalog_key};
use clap::{Args, ValueEnum};

use crate::{TypeArg, exit};

/// Amazon's environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    /// `staging`: always open.
    Staging,
    /// `prod`: once Amazon grants production access.
    Prod,
}

/// Arguments of `catalogctl manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The catalog files, in part order.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub catalog: Vec<PathBuf>,

    /// Amazon's environment.
    #[arg(long, value_enum, default_value = "staging")]
    pub env: EnvArg,

    /// The submission type.
    #[arg(long = "type", value_enum)]
    pub kind: TypeArg,

    /// Your prefix in Amazon's bucket.
    #[arg(long)]
    pub provider: String,

    /// Amazon's bucket.
    #[arg(long, default_value = "amazon-media-catalogs")]
    pub bucket: String,
}

/// Runs `catalogctl manifest`.
pub fn run(args: ManifestArgs) -> Result<u8> {
    check_provider(&args.provider).map_err(|e| anyhow::anyhow!("--provider: expected {e}"))?;
    check_bucket_name(&args.bucket).map_err(|e| anyhow::anyhow!("--bucket: expected {e}"))?;
    let env = match args.env {
        EnvArg::Staging => "staging",
        EnvArg::Prod => "prod",
    };
    let mut keys = Vec::with_capacity(args.catalog.len());
    for path in &args.catalog {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no file name", path.display()))?;
        if !name.ends_with(".xml.zst") {
            bail!(
                "{}: Amazon ingests zstd-compressed XML named *.xml.zst",
                path.display()
            );
        }
        if !path.is_file() {
            bail!("{}: no such file", path.display());
        }
        keys.push(destination_catalog_key(&args.provider, env, name));
    }
    let manifest = Manifest::new(args.bucket, keys, args.kind.into());
    let mut out = io::stdout().lock();
    out.write_all(&manifest.to_json())?;
    writeln!(out)?;
    Ok(exit::OK)
}
