//! Lambda bootstrap: logging, configuration, clients, then the runtime loop.

// The layout of the runtime's future over the handler (SDK calls nested in
// a few async layers) goes past rustc's default query depth of 128.
#![recursion_limit = "256"]

use catalog_aws::aws::{s3_client, sdk_config};
use catalog_aws::build_pass::Settings;
use catalog_aws::config::Config;
use catalog_aws::logging::init_json_logging;
use catalog_aws::s3::S3Store;
use catalog_builder::{Deps, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logging();
    let config = Config::from_process_env().inspect_err(|errors| {
        tracing::error!(%errors, "the function's configuration is invalid");
    })?;
    let sdk = sdk_config(config.aws_endpoint_url.as_deref()).await;
    let client = s3_client(&sdk, config.aws_endpoint_url.is_some());
    let deps = Deps {
        store: S3Store::new(
            client,
            config.work_bucket.clone(),
            tokio::runtime::Handle::current(),
        ),
        settings: Settings::from_config(&config),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
