//! `catalogctl event` and `catalogctl products`: one Buy with Prime event
//! through the event handler's own pass ([`catalog_aws::event_pass`]) on a
//! local folder laid out like the work bucket, and the product live status
//! it keeps (`state/products/`).
//!
//! With `--api URL` thin events ask that Buy with Prime API (credentials
//! from `BWP_CLIENT_ID`, `BWP_CLIENT_SECRET`, `BWP_TARGET_ID`); without it a
//! thin event is refused with the reason. The downstream message is printed
//! instead of sent.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use catalog_aws::alerts::Alerts;
use catalog_aws::event_pass::{Downstream, EventDeps, Outcome, list_statuses, process_event};
use catalog_aws::local::LocalStore;
use clap::Args;

use crate::exit;

/// Arguments of `catalogctl event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The event: an EventBridge event or a webhook body (JSON).
    #[arg(value_name = "FILE.json")]
    pub file: PathBuf,
    /// The folder holding `state/` (the work bucket's layout).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub state: PathBuf,
    /// The Buy with Prime API's base URL, for thin events.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
}

/// Arguments of `catalogctl products`.
#[derive(Debug, Args)]
pub struct ProductsArgs {
    /// The folder holding `state/`.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub state: PathBuf,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `catalogctl event`: exit 0 when handled (applied, repeat, stale,
/// unknown type), 1 when the event was refused, 2 when it could not run.
pub fn run_event(args: EventArgs) -> Result<u8> {
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let store = LocalStore::new(&args.state);
    let api = match &args.api {
        Some(url) => Some(crate::bwp::api_from_env(url)?),
        None => None,
    };
    let sent = Arc::new(Mutex::new(Vec::new()));
    let downstream = Downstream::Memory(sent.clone());
    let alerts = Alerts::LogOnly;
    let deps = EventDeps {
        store: &store,
        api: api.as_ref(),
        downstream: &downstream,
        alerts: &alerts,
    };
    let outcome = crate::runtime()?
        .block_on(process_event(&body, &deps))
        .with_context(|| {
            format!(
                "the event in {} failed; a retry may succeed",
                args.file.display()
            )
        })?;
    let mut out = io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
    for notice in sent.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        writeln!(out, "product-updates: {}", serde_json::to_string(notice)?)?;
    }
    Ok(match outcome {
        Outcome::Rejected { .. } => exit::FINDINGS,
        _ => exit::OK,
    })
}

/// Runs `catalogctl products`.
pub fn run_products(args: ProductsArgs) -> Result<u8> {
    let store = LocalStore::new(&args.state);
    let statuses = crate::runtime()?
        .block_on(list_statuses(&store))
        .with_context(|| format!("cannot read the product state in {}", args.state.display()))?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&statuses)?)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:<36} {:<16} {:<12} {:>8}  {:<30} event time",
        "status", "sku", "buyability", "quantity", "problem"
    )?;
    for s in &statuses {
        let key = match &s.key {
            catalog_core::product_status::StatusKey::ExternalId(id) => format!("external-id:{id}"),
            catalog_core::product_status::StatusKey::ProductId(id) => format!("product-id:{id}"),
            catalog_core::product_status::StatusKey::InventoryItem(id) => {
                format!("inventory-item:{id}")
            }
        };
        let buyability = s
            .buyability
            .map(|b| {
                serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<36} {:<16} {:<12} {:>8}  {:<30} {}",
            key,
            s.sku.as_deref().unwrap_or("-"),
            buyability,
            s.buyable_quantity
                .as_ref()
                .map_or_else(|| "-".to_owned(), |q| q.amount.to_string()),
            s.problem.as_deref().unwrap_or("-"),
            s.event_time
        )?;
    }
    writeln!(out, "{} product status object(s)", statuses.len())?;
    Ok(exit::OK)
}
