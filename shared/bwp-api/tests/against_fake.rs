//! The real client over HTTP against `bwp-fake`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bwp_api::{ApiError, Client, ClientConfig, ProductIdentifier};
use bwp_fake::{CLIENT_ID, CLIENT_SECRET, FakeBwp, FakeProduct, TARGET_ID};

fn config(fake: &FakeBwp) -> ClientConfig {
    let mut config = ClientConfig::new(fake.url(), CLIENT_ID, CLIENT_SECRET, TARGET_ID);
    config.first_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(40);
    config.deadline = Duration::from_secs(5);
    config
}

fn product(n: usize) -> FakeProduct {
    FakeProduct {
        id: format!("P-{n}"),
        external_id: format!("EXT-{n}"),
        sku: format!("SKU-{n}"),
        amazon_sku: format!("MSKU-{n}"),
        buyability: "BUYABLE".into(),
    }
}

#[tokio::test]
async fn product_by_each_identifier() {
    let fake = FakeBwp::start().await;
    fake.put_product(product(1));
    let client = Client::new(config(&fake)).unwrap();
    for id in [
        ProductIdentifier::ExternalId("EXT-1".into()),
        ProductIdentifier::ProductId("P-1".into()),
        ProductIdentifier::Sku("SKU-1".into()),
        ProductIdentifier::AmazonSku("MSKU-1".into()),
    ] {
        let p = client.product(&id).await.unwrap().unwrap();
        assert_eq!(p.external_id.as_deref(), Some("EXT-1"));
        assert_eq!(p.buyability.as_deref(), Some("BUYABLE"));
    }
    assert!(
        client
            .product(&ProductIdentifier::ExternalId("nope".into()))
            .await
            .unwrap()
            .is_none()
    );
    // One token for all five calls.
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(client.token_stats().hits, 4);
}

#[tokio::test]
async fn throttled_twice_then_answers() {
    let fake = FakeBwp::start().await;
    fake.put_product(product(1));
    let client = Client::new(config(&fake)).unwrap();
    fake.throttle_next(2);
    let p = client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap();
    assert!(p.is_some());
    assert_eq!(fake.graphql_requests(), 3);
    assert_eq!(fake.token_requests(), 1);
    let stats = client.token_stats();
    assert_eq!((stats.uses, stats.hits, stats.fetched), (3, 2, 1));
    println!(
        "token cache hit rate in the throttling test: {:.2}",
        stats.hit_rate()
    );
}

#[tokio::test]
async fn down_past_the_deadline_is_a_retryable_deadline_error() {
    let fake = FakeBwp::start().await;
    let mut config = config(&fake);
    config.deadline = Duration::from_millis(300);
    let client = Client::new(config).unwrap();
    fake.set_down(true);
    let started = std::time::Instant::now();
    let error = client.inventory_item("INV-1").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline bounds the call"
    );
    match &error {
        ApiError::DeadlineExceeded { attempts, last } => {
            assert!(*attempts >= 2);
            assert!(last.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    assert!(error.is_retryable());
    fake.set_down(false);
    fake.put_inventory("INV-1", 4);
    let item = client.inventory_item("INV-1").await.unwrap().unwrap();
    assert_eq!(item.buyable_quantity.unwrap().amount, 4);
}

#[tokio::test]
async fn sku_errors_are_typed_and_final() {
    let fake = FakeBwp::start().await;
    fake.put_inventory_error("INV-BAD", false);
    fake.put_inventory_error("INV-NONE", true);
    let client = Client::new(config(&fake)).unwrap();
    let bad = client.inventory_item("INV-BAD").await.unwrap_err();
    assert_eq!(
        bad.merchant_problem(),
        Some("InvalidAmazonSkuConfiguration")
    );
    let none = client.inventory_item("INV-NONE").await.unwrap_err();
    assert_eq!(
        none.merchant_problem(),
        Some("MissingAmazonSkuConfiguration")
    );
    assert!(!none.is_retryable());
    assert_eq!(fake.graphql_requests(), 2, "no retry of a final answer");
}

#[tokio::test]
async fn fulfillable_quantity_is_accepted() {
    let fake = FakeBwp::start().await;
    fake.use_fulfillable_quantity();
    fake.put_inventory("INV-2", 9);
    let client = Client::new(config(&fake)).unwrap();
    let item = client.inventory_item("INV-2").await.unwrap().unwrap();
    assert_eq!(item.buyable_quantity.unwrap().amount, 9);
    // The switch is remembered: one call from now on.
    let before = fake.graphql_requests();
    client.inventory_item("INV-2").await.unwrap();
    assert_eq!(fake.graphql_requests(), before + 1);
}

#[tokio::test]
async fn products_pages_follow_the_cursor() {
    let fake = FakeBwp::start().await;
    for n in 0..45 {
        fake.put_product(product(n));
    }
    let client = Client::new(config(&fake)).unwrap();
    let all = client.all_products().await.unwrap();
    assert_eq!(all.len(), 45);
    assert_eq!(all[44].id.as_deref(), Some("P-44"));
    assert_eq!(fake.graphql_requests(), 3);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_refresh() {
    let fake = FakeBwp::start().await;
    fake.put_product(product(1));
    let client = Arc::new(Client::new(config(&fake)).unwrap());
    let calls = (0..16).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .product(&ProductIdentifier::ProductId("P-1".into()))
                .await
        })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_and_a_revoked_one_replaced() {
    let fake = FakeBwp::start().await;
    fake.put_product(product(1));
    let mut config = config(&fake);
    config.refresh_margin = Duration::from_secs(60);
    let client = Client::new(config).unwrap();
    // A token living less than the margin is refreshed at every use.
    fake.set_token_ttl(30);
    client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap();
    client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 2);
    fake.set_token_ttl(900);
    client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap();
    fake.revoke_tokens();
    client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 4);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_not_retried() {
    let fake = FakeBwp::start().await;
    let mut config = config(&fake);
    config.client_secret = "wrong".into();
    let client = Client::new(config).unwrap();
    let error = client
        .product(&ProductIdentifier::ProductId("P-1".into()))
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Unauthorized { .. }), "{error:?}");
    assert_eq!(fake.token_requests(), 1);
}
