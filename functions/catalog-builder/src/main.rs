//! Lambda bootstrap: logging, configuration, clients, then the runtime loop.

// The layout of the runtime's future over the handler (SDK calls nested in
// a few async layers) goes past rustc's default query depth of 128.
#![recursion_limit = "256"]

use catalog_aws::aws::Bootstrap;
use catalog_aws::build_pass::Settings;
use catalog_aws::bwp_pass::FeedDeps;
use catalog_builder::{Deps, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = Bootstrap::start().await?;
    let part_size = usize::try_from(boot.config.part_size_bytes()).unwrap_or(8 << 20);
    let feeds = FeedDeps::from_env(&boot.sdk, boot.config.env.as_str(), part_size).await?;
    let deps = Deps {
        feeds,
        settings: Settings::from_config(&boot.config),
        store: boot.work,
        alerts: boot.alerts,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
