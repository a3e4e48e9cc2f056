//! The `snowsync-pull` Lambda function: `pull` events (and `"mode": "reconcile"` ones) through the one Lambda edge
//! ([`snowsync::lambda`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    snowsync::lambda::serve::<snowsync::pull::PullFunctionEvent>().await
}
