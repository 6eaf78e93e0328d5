//! CPU per Buy with Prime event in the pure core, no I/O: what the event
//! processor spends besides waiting on S3, SQS and the API.
//!
//! `cargo bench -p catalog-core --bench bwp_event` times, per event type,
//! the steps the pass runs: parse the body, decide what to ask the API,
//! key the status, parse the stored status (JSON), decide against it,
//! serialize the new status and the downstream notice. Target: under 50 µs
//! an event.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use catalog_core::bwp_event::{Parsed, parse_event};
use catalog_core::product_status::{
    Decision, InventoryFacts, ProductStatus, Quantity, Resolved, api_query, decide, notice,
    status_key,
};

const WEBHOOK: &str = include_str!("../tests/fixtures/bwp/webhook-2024-11-01-buyability.json");
const EB_MODERN: &str =
    include_str!("../tests/fixtures/bwp/eventbridge-2024-11-01-buyability.json");
const THIN_INVENTORY: &str = include_str!("../tests/fixtures/bwp/eventbridge-thin-inventory.json");

fn one(body: &[u8], resolved: &Resolved, stored: Option<&[u8]>) -> usize {
    let Parsed::Event(event) = parse_event(body).unwrap() else {
        panic!("unknown")
    };
    let _ = black_box(api_query(&event));
    let key = status_key(&event, resolved).unwrap();
    let current: Option<ProductStatus> = stored.map(|s| serde_json::from_slice(s).unwrap());
    match decide(current.as_ref(), &event, resolved, key) {
        Decision::Apply(status) | Decision::AlreadyApplied(status) => {
            let a = serde_json::to_vec_pretty(&status).unwrap();
            let b = serde_json::to_vec(&notice(&status, &event)).unwrap();
            a.len() + b.len()
        }
        Decision::Stale { .. } => 0,
    }
}

fn bench(name: &str, body: &str, resolved: &Resolved) {
    // A stored status with a full memory of applied keys: the worst case.
    let seed = body.replace("2025-11-30T12", "2025-11-29T12");
    let mut stored = None::<Vec<u8>>;
    for i in 0..40 {
        let b = seed
            .replace("idem-", &format!("idem-{i}-"))
            .replace("\"id\": \"", &format!("\"id\": \"{i}-"));
        let Parsed::Event(event) = parse_event(b.as_bytes()).unwrap() else {
            unreachable!()
        };
        let key = status_key(&event, resolved).unwrap();
        let current: Option<ProductStatus> =
            stored.as_ref().map(|s| serde_json::from_slice(s).unwrap());
        if let Decision::Apply(s) = decide(current.as_ref(), &event, resolved, key) {
            stored = Some(serde_json::to_vec_pretty(&s).unwrap());
        }
    }
    let stored = stored.unwrap();
    let n = 100_000u32;
    for _ in 0..1000 {
        black_box(one(body.as_bytes(), resolved, Some(&stored)));
    }
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes += black_box(one(body.as_bytes(), resolved, Some(&stored)));
    }
    let per = started.elapsed() / n;
    println!(
        "{name:<32} {:>7.2} µs/event  (stored status {} B, {} B written per event)",
        per.as_secs_f64() * 1e6,
        stored.len(),
        bytes / n as usize
    );
}

fn main() {
    bench("webhook BUYABILITY_CHANGED", WEBHOOK, &Resolved::default());
    bench("EventBridge 2024-11-01", EB_MODERN, &Resolved::default());
    let inventory = Resolved {
        product: None,
        inventory: Some(InventoryFacts {
            quantity: Some(Quantity {
                unit: Some("UNIT".into()),
                amount: 7,
            }),
            problem: None,
        }),
    };
    bench("thin INVENTORY_CHANGED (+API)", THIN_INVENTORY, &inventory);
}
