//! The `snowsync-pull` Lambda function: `pull` events through the one Lambda edge
//! ([`snowsync::lambda`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    snowsync::lambda::serve::<snowsync::pull::PullEvent>().await
}
