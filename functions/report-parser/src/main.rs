//! Lambda bootstrap: logging, configuration, clients, then the runtime loop.

// The runtime's future over the handler nests SDK calls a few async layers
// deep, past rustc's default query depth of 128.
#![recursion_limit = "256"]

use catalog_aws::aws::Bootstrap;
use catalog_aws::bwp_pass::FeedDeps;
use catalog_aws::report_pass::ReportSettings;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use report_parser::{Deps, handle, now_utc};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = Bootstrap::start().await?;
    let settings = ReportSettings::from_env_vars(
        &boot.config.provider,
        boot.config.env.as_str(),
        usize::try_from(boot.config.part_size_bytes()).unwrap_or(8 << 20),
        std::env::vars(),
    )
    .map_err(|problems| {
        tracing::error!(?problems, "the report parser's configuration is invalid");
        problems.join("\n")
    })?;
    let part_size = usize::try_from(boot.config.part_size_bytes()).unwrap_or(8 << 20);
    let feeds = FeedDeps::from_env(&boot.sdk, boot.config.env.as_str(), part_size).await?;
    let deps = Deps {
        feeds,
        destination: boot.destination_reports().await,
        work: boot.work.clone(),
        alerts: boot.alerts.clone(),
        settings,
        clock: now_utc,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
