//! The destination role is assumed through STS (the emulator's), with the
//! external ID, and the resulting credentials are what clients sign with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_s3::config::ProvideCredentials;
use catalog_aws::aws::destination_config;
use catalog_aws::config::DestinationRole;
use catalog_testkit::Emulator;

#[tokio::test(flavor = "multi_thread")]
async fn the_destination_config_signs_with_the_assumed_role() {
    let base = Emulator::get().sdk_config().await;
    let role = DestinationRole {
        arn: "arn:aws:iam::123456789012:role/amazon-media-catalogs-provider".into(),
        external_id: "shared-secret".into(),
    };
    let config = destination_config(&base, &role).await;
    let credentials = config
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("STS AssumeRole answered");
    // The emulator's static keys are "test"; assumed-role keys are temporary ones.
    assert_ne!(credentials.access_key_id(), "test");
    assert!(
        credentials.session_token().is_some(),
        "temporary credentials carry a session token"
    );
    assert!(
        credentials.expiry().is_some(),
        "they expire, so the SDK refreshes them"
    );
}
