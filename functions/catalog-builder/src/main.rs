//! Lambda bootstrap: logging, configuration, clients, then the runtime loop.

// The layout of the runtime's future over the handler (SDK calls nested in
// a few async layers) goes past rustc's default query depth of 128.
#![recursion_limit = "256"]

use catalog_aws::aws::Bootstrap;
use catalog_aws::build_pass::Settings;
use catalog_builder::{Deps, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = Bootstrap::start().await?;
    let deps = Deps {
        settings: Settings::from_config(&boot.config),
        store: boot.work,
        alerts: boot.alerts,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
