//! Building AWS SDK clients, once per cold start.
//!
//! Credentials and region come from the SDK's default chain (the Lambda
//! environment, a profile, the instance role). An explicit endpoint points
//! every client at an S3/SQS emulator or another S3-compatible store; such
//! stores usually need path-style addressing (`http://host/bucket/key`).

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::SharedCredentialsProvider;

use crate::config::DestinationRole;

/// Loads the shared SDK configuration from the default chain; with
/// `endpoint`, every client built from it calls that URL instead of AWS.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An S3 client from the shared configuration; `path_style` forces
/// `http://host/bucket/key` addressing (emulators, S3-compatible stores).
pub fn s3_client(config: &SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The configuration for Amazon's destination bucket: the shared one, with
/// credentials from assuming the role Amazon granted (with its external
/// ID). Clients cache the session in the SDK's identity cache and assume the
/// role again before it expires, so a long-lived client never holds stale
/// credentials.
pub async fn destination_config(base: &SdkConfig, role: &DestinationRole) -> SdkConfig {
    let provider = AssumeRoleProvider::builder(role.arn.clone())
        .external_id(role.external_id.clone())
        .session_name("catalog-relay")
        .configure(base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}
