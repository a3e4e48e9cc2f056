//! The `snowsync-push` Lambda function.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use snowsync::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(LogFormat::Json, "info");
    run(service_fn(|event: LambdaEvent<Value>| {
        snowsync_push::handle(event)
    }))
    .await
}
