//! Lambda bootstrap: logging, configuration, clients, then the runtime loop.

// The layout of the runtime's future over the handler (SDK calls nested in
// a few async layers) goes past rustc's default query depth of 128.
#![recursion_limit = "256"]

use catalog_aws::alerts::Alerts;
use catalog_aws::aws::{destination_config, s3_client, sdk_config};
use catalog_aws::config::Config;
use catalog_aws::logging::init_json_logging;
use catalog_aws::s3::S3Store;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use manifest_writer::{Deps, Settings, handle};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logging();
    let config = Config::from_process_env().inspect_err(|errors| {
        tracing::error!(%errors, "the function's configuration is invalid");
    })?;
    for note in config.notes() {
        tracing::warn!(note, "configuration");
    }
    let endpoint = config.aws_endpoint_url.as_deref();
    let sdk = sdk_config(endpoint).await;
    let path_style = endpoint.is_some();
    let handle_rt = tokio::runtime::Handle::current();
    let work = S3Store::new(
        s3_client(&sdk, path_style),
        config.work_bucket.clone(),
        handle_rt.clone(),
    );
    let destination_sdk = match &config.destination_role {
        Some(role) => destination_config(&sdk, role).await,
        None => sdk.clone(),
    };
    let destination = S3Store::new(
        s3_client(&destination_sdk, path_style),
        config.destination_bucket.clone(),
        handle_rt,
    )
    .with_bucket_owner_full_control();
    let alerts = match &config.alerts_queue_url {
        Some(url) => Alerts::Queue {
            client: aws_sdk_sqs::Client::new(&sdk),
            url: url.clone(),
        },
        None => Alerts::LogOnly,
    };
    let deps = Deps {
        work,
        destination,
        alerts,
        settings: Settings::from_config(&config),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
