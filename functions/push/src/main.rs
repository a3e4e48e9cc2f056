//! The `snowsync-push` Lambda function: `push` events through the one Lambda edge
//! ([`snowsync::lambda`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    snowsync::lambda::serve::<snowsync::push::PushEvent>().await
}
