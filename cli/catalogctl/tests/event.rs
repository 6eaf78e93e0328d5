//! `catalogctl event` and `catalogctl products` on a local folder, with the
//! fake Buy with Prime API for thin events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, FakeProduct, TARGET_ID};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/catalog-core/tests/fixtures/bwp"
);

fn catalogctl(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_catalogctl"));
    command.args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(FIXTURES).join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_update_the_local_product_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();

    let out = catalogctl(
        &[
            "event",
            &fixture("webhook-2024-11-01-buyability.json"),
            "--state",
            state,
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"outcome\": \"applied\""), "{text}");
    assert!(text.contains("product-updates: "), "{text}");

    // A repeat changes nothing.
    let out = catalogctl(
        &[
            "event",
            &fixture("webhook-2024-11-01-buyability.json"),
            "--state",
            state,
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("duplicate"));

    // A thin event without --api is refused, with exit 1.
    let thin = fixture("eventbridge-thin-buyability.json");
    let out = catalogctl(&["event", &thin, "--state", state], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("needs the Buy with Prime API"));

    // With the (fake) API it is resolved.
    let fake = FakeBwp::start().await;
    fake.put_product(FakeProduct {
        id: "P-THIN-1".into(),
        external_id: "EXT-THIN".into(),
        sku: "SKU-T".into(),
        amazon_sku: "MSKU-T".into(),
        buyability: "BUYABLE".into(),
    });
    let url = fake.url();
    let envs = [
        ("BWP_CLIENT_ID", CLIENT_ID),
        ("BWP_CLIENT_SECRET", CLIENT_SECRET),
        ("BWP_TARGET_ID", TARGET_ID),
    ];
    let thin_again = dir.path().join("thin.json");
    // A new EventBridge id: the refused delivery left no marker, but be explicit.
    std::fs::write(
        &thin_again,
        std::fs::read_to_string(&thin)
            .unwrap()
            .replace("6a7e8feb", "7b8f9afc"),
    )
    .unwrap();
    let out = catalogctl(
        &[
            "event",
            thin_again.to_str().unwrap(),
            "--state",
            state,
            "--api",
            &url,
        ],
        &envs,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fake.graphql_requests(), 1);

    let out = catalogctl(&["products", "--state", state, "--json"], &[]);
    let statuses: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(statuses.as_array().unwrap().len(), 2);
    let out = catalogctl(&["products", "--state", state], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("external-id:EXT-THIN"), "{table}");
    assert!(table.contains("2 product status object(s)"), "{table}");
}
