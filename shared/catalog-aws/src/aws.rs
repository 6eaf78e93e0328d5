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

/// What every function's bootstrap builds once per cold start: the
/// configuration (every problem reported at once, then the start-up notes),
/// the SDK configuration, the work bucket's store and the alerts.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The function's configuration.
    pub config: crate::config::Config,
    /// The SDK configuration (the function's own credentials).
    pub sdk: SdkConfig,
    /// The work bucket.
    pub work: crate::s3::S3Store,
    /// The alerts queue, or logs only when none is configured.
    pub alerts: crate::alerts::Alerts,
}

impl Bootstrap {
    /// Starts JSON logging, reads the configuration and builds the clients.
    pub async fn start() -> Result<Bootstrap, crate::config::ConfigErrors> {
        crate::logging::init_json_logging();
        let config = crate::config::Config::from_process_env().inspect_err(|errors| {
            tracing::error!(%errors, "the function's configuration is invalid");
        })?;
        let sdk = sdk_config(config.aws_endpoint_url.as_deref()).await;
        let work = crate::s3::S3Store::new(
            s3_client(&sdk, config.aws_endpoint_url.is_some()),
            config.work_bucket.clone(),
            tokio::runtime::Handle::current(),
        );
        let alerts = match &config.alerts_queue_url {
            Some(url) => crate::alerts::Alerts::Queue {
                client: aws_sdk_sqs::Client::new(&sdk),
                url: url.clone(),
            },
            None => crate::alerts::Alerts::LogOnly,
        };
        Ok(Bootstrap {
            config,
            sdk,
            work,
            alerts,
        })
    }

    /// Amazon's bucket, through the assumed role when one is configured,
    /// writing with `bucket-owner-full-control`.
    pub async fn destination(&self) -> crate::s3::S3Store {
        for note in self.config.notes() {
            tracing::warn!(note, "configuration");
        }
        let sdk = match &self.config.destination_role {
            Some(role) => destination_config(&self.sdk, role).await,
            None => self.sdk.clone(),
        };
        crate::s3::S3Store::new(
            s3_client(&sdk, self.config.aws_endpoint_url.is_some()),
            self.config.destination_bucket.clone(),
            tokio::runtime::Handle::current(),
        )
        .with_bucket_owner_full_control()
    }
}

impl Bootstrap {
    /// Amazon's bucket for reading its ingestion reports: the assumed role
    /// narrowed by a session policy to listing and reading
    /// `<provider>/<env>/reports/`, whatever else the role allows (the
    /// report parser never needs more). Without a role, the function's own
    /// credentials, which the template limits the same way.
    pub async fn destination_reports(&self) -> crate::s3::S3Store {
        let bucket = self.config.destination_bucket.clone();
        let sdk = match &self.config.destination_role {
            Some(role) => {
                let partition = role.arn.split(':').nth(1).unwrap_or("aws");
                let prefix = format!("{}/{}/reports/", self.config.provider, self.config.env);
                let policy = serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": format!("arn:{partition}:s3:::{bucket}/{prefix}*"),
                        },
                        {
                            "Effect": "Allow",
                            "Action": "s3:ListBucket",
                            "Resource": format!("arn:{partition}:s3:::{bucket}"),
                            "Condition": {"StringLike": {"s3:prefix": format!("{prefix}*")}},
                        },
                    ],
                })
                .to_string();
                let provider = AssumeRoleProvider::builder(role.arn.clone())
                    .external_id(role.external_id.clone())
                    .session_name("catalog-relay-reports")
                    .policy(policy)
                    .configure(&self.sdk)
                    .build()
                    .await;
                self.sdk
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
            None => self.sdk.clone(),
        };
        crate::s3::S3Store::new(
            s3_client(&sdk, self.config.aws_endpoint_url.is_some()),
            bucket,
            tokio::runtime::Handle::current(),
        )
    }
}
