//! The upload to a stage on S3: one `PutObject` with the stage's temporary credentials, the
//! envelope as user metadata (`x-amz-meta-x-amz-key`, `-x-amz-iv`, `-x-amz-matdesc`) and the
//! plaintext's digest (`x-amz-meta-sfc-digest`), as snowflake-connector-python's
//! `s3_storage_client.py` writes them. The credentials change with every `PUT`, so each upload
//! builds its client; the SDK retries (standard mode, 4 attempts).

use aws_sdk_s3::config::{Credentials, Region};
use secrecy::ExposeSecret;

use super::encrypt::Envelope;
use super::errors::Failure;
use super::stage::{bucket_and_prefix, digest_of, StageInfo};

/// Uploads `body` as `name` under the stage's location.
///
/// # Errors
/// [`Failure::Protocol`] for a stage answer without credentials; [`Failure::Upload`] when S3
/// refuses or does not answer (after the SDK's retries).
pub(crate) async fn put(
    stage: &StageInfo,
    name: &str,
    body: bytes::Bytes,
    env: Option<&Envelope>,
) -> Result<(), Failure> {
    let missing = |what: &str| Failure::Protocol {
        what: "upload a file to the stage",
        detail: format!("an S3 stage without {what}"),
    };
    let creds = &stage.creds;
    let key_id = creds
        .aws_key_id
        .as_ref()
        .ok_or_else(|| missing("AWS_KEY_ID"))?;
    let secret = creds
        .aws_secret_key
        .as_ref()
        .ok_or_else(|| missing("AWS_SECRET_KEY"))?;
    let credentials = Credentials::new(
        key_id.expose_secret(),
        secret.expose_secret(),
        creds
            .aws_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        None,
        "snowflake-stage",
    );
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new(
            stage.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(credentials)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(4));
    if let Some(ep) = stage.end_point.as_deref().filter(|e| !e.is_empty()) {
        // An endpoint with its own scheme is a local stand-in (moto): path-style addressing,
        // since `bucket.127.0.0.1` does not resolve. Snowflake's own endpoints are host names.
        conf = if ep.contains("://") {
            conf.endpoint_url(ep).force_path_style(true)
        } else {
            conf.endpoint_url(format!("https://{ep}"))
        };
    }
    let client = aws_sdk_s3::Client::from_conf(conf.build());
    let (bucket, prefix) = bucket_and_prefix(&stage.location);
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key(format!("{prefix}{name}"))
        .metadata("sfc-digest", digest_of(&body, env))
        .body(body.into());
    if let Some(env) = env {
        put = put
            .metadata("x-amz-key", &env.key)
            .metadata("x-amz-iv", &env.iv)
            .metadata("x-amz-matdesc", &env.matdesc);
    }
    put.send().await.map(drop).map_err(|e| {
        let detail = match e.as_service_error() {
            Some(s) => format!(
                "S3 refused the upload: {}",
                aws_sdk_s3::error::ProvideErrorMetadata::code(s).unwrap_or("no code")
            ),
            None => "no answer from S3".to_owned(),
        };
        Failure::Upload(detail)
    })
}
