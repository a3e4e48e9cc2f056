//! The `snowsync-push` Lambda function: set up logging, build the clients once, serve events.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use snowsync::telemetry::{self, LogFormat};
use snowsync::Deps;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(
        LogFormat::Json,
        "info,aws_config=warn,aws_smithy_runtime=warn",
    );
    let deps = Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        snowsync_push::handle(event, deps).await
    }))
    .await
}
