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

const FEED: &[u8] = b"\"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"\r\n\"p1\",\"\",\"S1\",\"M1\",\"\",\"https://i/1\",\"\"\r\n\"p2\",\"\",\"S2\",\"M2\",\"\",\"https://i/2\",\"\"\r\n";

#[tokio::test]
async fn a_feed_goes_up_moves_over_polls_and_its_result_comes_back() {
    let fake = FakeBwp::start().await;
    fake.fail_every_nth_row(2);
    let client = Client::new(config(&fake)).unwrap();
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    assert!(link.file_id.len() <= 36);
    client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap();
    let id = client.create_catalog_feed(&link.file_id).await.unwrap();
    let mut statuses = Vec::new();
    let feed = loop {
        let feed = client.catalog_feed(&id).await.unwrap().unwrap();
        statuses.push(feed.status.clone());
        if feed.status.is_finished() {
            break feed;
        }
    };
    assert_eq!(
        statuses,
        [
            bwp_api::FeedStatus::Created,
            bwp_api::FeedStatus::InProgress,
            bwp_api::FeedStatus::Completed
        ]
    );
    let file = feed.result_file_id.unwrap();
    let url = client.download_link(&file).await.unwrap();
    let body = String::from_utf8(client.download(&url).await.unwrap()).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("Import Result,Error Type,Error Code(s),Error Detail(s),External ID")
    );
    assert!(lines[1].starts_with("SUCCESS,"));
    assert!(
        lines[2].starts_with("FAILED,ValidationError,InvalidAmazonSkuConfiguration;MissingImage,")
    );
}

#[tokio::test]
async fn a_second_feed_while_one_is_ongoing_is_a_typed_refusal_not_retried() {
    let fake = FakeBwp::start().await;
    let client = Client::new(config(&fake)).unwrap();
    let mut files = Vec::new();
    for _ in 0..2 {
        let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
        client
            .upload(&link.upload_url, FEED.to_vec())
            .await
            .unwrap();
        files.push(link.file_id);
    }
    client.create_catalog_feed(&files[0]).await.unwrap();
    let error = client.create_catalog_feed(&files[1]).await.unwrap_err();
    assert!(matches!(error, ApiError::FeedOngoing { .. }), "{error:?}");
    assert_eq!(fake.create_feed_calls(), 2, "the refusal is not retried");
    // A plain rate limit is still retried.
    fake.throttle_next(1);
    assert!(client.create_upload_link(3).await.is_ok());
}

#[tokio::test]
async fn a_size_mismatch_and_an_expired_link_are_link_refusals() {
    let fake = FakeBwp::start().await;
    let client = Client::new(config(&fake)).unwrap();
    fake.mismatch_next_upload_link();
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    match client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap_err()
    {
        ApiError::LinkRefused { code, status, .. } => {
            assert_eq!((code.as_str(), status), ("SignatureDoesNotMatch", 403));
        }
        other => panic!("{other:?}"),
    }
    fake.expire_next_upload_link();
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    match client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap_err()
    {
        ApiError::LinkRefused { code, .. } => assert_eq!(code, "AccessDenied"),
        other => panic!("{other:?}"),
    }
    // The right size on a fresh link goes through.
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap();
    assert_eq!(
        fake.uploads_refused(),
        ["SignatureDoesNotMatch", "AccessDenied"]
    );
}

#[tokio::test]
async fn an_expired_download_link_is_refused_and_a_new_one_works() {
    let fake = FakeBwp::start().await;
    fake.set_polls_to_finish(1);
    let client = Client::new(config(&fake)).unwrap();
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap();
    let id = client.create_catalog_feed(&link.file_id).await.unwrap();
    let feed = client.catalog_feed(&id).await.unwrap().unwrap();
    let file = feed.result_file_id.unwrap();
    fake.expire_next_download_link();
    let url = client.download_link(&file).await.unwrap();
    match client.download(&url).await.unwrap_err() {
        ApiError::LinkRefused {
            code, operation, ..
        } => {
            assert_eq!((code.as_str(), operation), ("AccessDenied", "download"));
        }
        other => panic!("{other:?}"),
    }
    let url = client.download_link(&file).await.unwrap();
    assert!(!client.download(&url).await.unwrap().is_empty());
    assert_eq!(fake.downloads()[&file], 1);
}

#[tokio::test]
async fn a_failed_feed_reports_every_signal() {
    let fake = FakeBwp::start().await;
    fake.set_polls_to_finish(2);
    fake.fail_next_feed(bwp_fake::feeds::FakeSignal::examples());
    let client = Client::new(config(&fake)).unwrap();
    let link = client.create_upload_link(FEED.len() as u64).await.unwrap();
    client
        .upload(&link.upload_url, FEED.to_vec())
        .await
        .unwrap();
    let id = client.create_catalog_feed(&link.file_id).await.unwrap();
    assert_eq!(
        client.catalog_feed(&id).await.unwrap().unwrap().status,
        bwp_api::FeedStatus::Created
    );
    let feed = client.catalog_feed(&id).await.unwrap().unwrap();
    assert_eq!(feed.status, bwp_api::FeedStatus::Failed);
    assert_eq!(feed.result_file_id, None);
    assert_eq!(feed.signals.len(), 2);
    assert_eq!(feed.signals[0].code, "INVALID_FILE_FORMAT");
    assert_eq!(
        feed.signals[0].reaction_summary.as_deref(),
        Some("Fix the header row and upload the file again")
    );
    assert_eq!(feed.signals[1].impact_summary, None);
    assert!(client.catalog_feed("feed-nope").await.unwrap().is_none());
}
