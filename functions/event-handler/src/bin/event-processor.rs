//! Lambda bootstrap of the SQS processor: logging, configuration, clients
//! and the API secret once, then the runtime loop.
#![recursion_limit = "256"]

use catalog_aws::event_config::start_processor;
use event_handler::{ProcessorDeps, handle_sqs};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = start_processor().await?;
    let deps = ProcessorDeps {
        store: boot.store,
        api: boot.api,
        downstream: boot.downstream,
        alerts: boot.alerts,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| handle_sqs(event, &deps))).await
}
