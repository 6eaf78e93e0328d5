//! Lambda bootstrap of the webhook: logging, configuration, the SQS client
//! and the webhook secret once, then the runtime loop.
#![recursion_limit = "256"]

use catalog_aws::event_config::start_webhook;
use event_handler::handle_url;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = start_webhook().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| handle_url(event, &deps))).await
}
