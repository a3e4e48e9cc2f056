//! Files into an internal stage, as Snowflake's drivers put them there: the `PUT` statement
//! answers where the stage lives (S3, GCS or Azure), with short-lived credentials (or a
//! presigned URL) and the stage's encryption material; the file is encrypted here
//! ([`super::encrypt`]) and uploaded straight to the cloud storage with its envelope as object
//! metadata, the way snowflake-connector-python's `s3_storage_client.py`,
//! `gcs_storage_client.py` and `azure_storage_client.py` do (gosnowflake's storage clients
//! agree). `COPY INTO` then reads it from the stage.
//!
//! Nothing here logs or returns a credential, a presigned URL or a key: they are
//! [`SecretString`]s, and transport errors lose their URL.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use reqwest::{Method, Request, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::encrypt::{encrypt, Envelope, Material};
use super::errors::{retryable_status, Failure};
use super::http::{backoff, wait_to_retry, without_url};
use super::Session;
use crate::error::Result;
use crate::quote::sf_string;

/// Attempts of one upload (transport errors, 429 and 5xx are retried).
const UPLOAD_RETRIES: u32 = 4;
/// What uploads are called in errors.
const WHAT: &str = "upload a file to the stage";

/// `stageInfo` of a `PUT` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageInfo {
    /// `S3`, `GCS`, `AZURE` (or `LOCAL_FS`, which only a local fakesnow answers).
    #[serde(default)]
    pub location_type: String,
    /// `bucket/path/` (S3, GCS) or `container/path/` (Azure).
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub region: Option<String>,
    /// A storage endpoint other than the cloud's default (FIPS, private links, a test's moto).
    #[serde(default)]
    pub end_point: Option<String>,
    /// Azure's storage account.
    #[serde(default)]
    pub storage_account: Option<String>,
    /// GCS: a URL signed for this one file (no other credential is needed).
    #[serde(default)]
    pub presigned_url: Option<SecretString>,
    #[serde(default)]
    pub creds: Creds,
}

/// `stageInfo.creds`: whichever the stage's cloud uses.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Creds {
    #[serde(default, rename = "AWS_KEY_ID")]
    pub aws_key_id: Option<SecretString>,
    #[serde(default, rename = "AWS_SECRET_KEY")]
    pub aws_secret_key: Option<SecretString>,
    #[serde(default, rename = "AWS_TOKEN")]
    pub aws_token: Option<SecretString>,
    #[serde(default, rename = "GCS_ACCESS_TOKEN")]
    pub gcs_access_token: Option<SecretString>,
    #[serde(default, rename = "AZURE_SAS_TOKEN")]
    pub azure_sas_token: Option<SecretString>,
}

/// `encryptionMaterial`: one per file named in the `PUT` (we name one).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Materials {
    One(EncryptionMaterial),
    Many(Vec<EncryptionMaterial>),
}

/// The stage's master key and its descriptor.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptionMaterial {
    pub query_stage_master_key: SecretString,
    #[serde(default)]
    pub query_id: String,
    /// A number on the wire (a string from some proxies).
    #[serde(default)]
    pub smk_id: serde_json::Value,
}

/// What a `PUT` answered: where the file goes, and how it is sealed.
#[derive(Debug)]
pub(crate) struct PutAnswer {
    pub stage: StageInfo,
    pub material: Option<EncryptionMaterial>,
}

impl PutAnswer {
    /// From a `PUT` answer's data.
    ///
    /// # Errors
    /// [`Failure::Protocol`] when the answer has no `stageInfo`.
    pub(crate) fn new(
        stage: Option<StageInfo>,
        materials: Option<Materials>,
    ) -> Result<Self, Failure> {
        let stage = stage.ok_or_else(|| Failure::Protocol {
            what: "put a file",
            detail: "a PUT answer without stageInfo".into(),
        })?;
        let material = match materials {
            Some(Materials::One(m)) => Some(m),
            Some(Materials::Many(v)) => v.into_iter().next(),
            None => None,
        };
        Ok(Self { stage, material })
    }
}

/// Puts `file` (gzip already) into `stage` (`@%TABLE`, `@NAME`) as `name`, replacing a file
/// of that name: one `PUT` naming the file, then the upload it answers.
///
/// # Errors
/// A classified error: the `PUT` refused, the upload refused or unanswered after retries.
pub async fn put_file(session: &Session, stage: &str, name: &str, file: Vec<u8>) -> Result<()> {
    let sql = format!(
        "PUT {} {stage} AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = GZIP OVERWRITE = TRUE",
        sf_string(&format!("file:///snowsync/{name}"))
    );
    let answer = session.put(&sql).await?;
    upload(session.http(), &answer, name, file)
        .await
        .map_err(|f| session.classify(f))
}

/// Encrypts `file` with the answer's material (when the stage is encrypted) and uploads it.
///
/// # Errors
/// [`Failure::Protocol`] for a stage this cannot write (an unknown location type, missing
/// credentials); [`Failure::Status`] / [`Failure::Unreachable`] after the retries.
pub(crate) async fn upload(
    http: &reqwest::Client,
    answer: &PutAnswer,
    name: &str,
    mut file: Vec<u8>,
) -> Result<(), Failure> {
    let envelope = match &answer.material {
        Some(m) => {
            let key = B64
                .decode(m.query_stage_master_key.expose_secret())
                .map_err(|_| protocol("the stage's master key is not base64"))?;
            let smk_id = match &m.smk_id {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let material = Material {
                master_key: &key,
                query_id: &m.query_id,
                smk_id: &smk_id,
            };
            Some(encrypt(&mut file, &material).map_err(|e| protocol(&e.to_string()))?)
        }
        None => None,
    };
    let body = bytes::Bytes::from(file);
    match answer.stage.location_type.to_ascii_uppercase().as_str() {
        "GCS" => {
            send(http, || {
                gcs_request(http, &answer.stage, name, &body, envelope.as_ref())
            })
            .await
        }
        "AZURE" => {
            send(http, || {
                azure_request(http, &answer.stage, name, &body, envelope.as_ref())
            })
            .await
        }
        "S3" => super::s3::put(&answer.stage, name, body, envelope.as_ref()).await,
        other => Err(protocol(&format!(
            "the stage is on {other:?}, which snowsync cannot upload to (S3, GCS and Azure can)"
        ))),
    }
}

fn protocol(detail: &str) -> Failure {
    Failure::Protocol {
        what: WHAT,
        detail: detail.to_owned(),
    }
}

/// The `x-goog-meta-encryptiondata` / `x-ms-meta-encryptiondata` JSON (Azure's driver names
/// the content algorithm `AES_CBC_128`, GCS's `AES_CBC_256`, whatever the key size).
fn encryption_data(env: &Envelope, content_algorithm: &str) -> String {
    serde_json::json!({
        "EncryptionMode": "FullBlob",
        "WrappedContentKey": {"KeyId": "symmKey1", "EncryptedKey": env.key, "Algorithm": "AES_CBC_256"},
        "EncryptionAgent": {"Protocol": "1.0", "EncryptionAlgorithm": content_algorithm},
        "ContentEncryptionIV": env.iv,
        "KeyWrappingMetadata": {"EncryptionLibrary": "Java 5.3.0"},
    })
    .to_string()
}

/// Splits `bucket/some/path/` into the bucket (or container) and the key prefix.
pub(crate) fn bucket_and_prefix(location: &str) -> (&str, String) {
    let (bucket, path) = location.split_once('/').unwrap_or((location, ""));
    let prefix = if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    (bucket, prefix)
}

fn header(headers: &mut HeaderMap, name: &'static str, value: &str) -> Result<(), Failure> {
    let v = HeaderValue::from_str(value)
        .map_err(|_| protocol("a metadata value is not a valid header"))?;
    headers.insert(HeaderName::from_static(name), v);
    Ok(())
}

/// `base`, then the location's bucket (or container), path and `name`, each segment escaped.
fn object_url(base: &str, location: &str, name: &str) -> Result<Url, Failure> {
    let bad = || protocol("the stage's storage account or endpoint does not make a URL");
    let (bucket, prefix) = bucket_and_prefix(location);
    let mut url = Url::parse(base).map_err(|_| bad())?;
    url.path_segments_mut()
        .map_err(|_| bad())?
        .push(bucket)
        .extend(format!("{prefix}{name}").split('/'));
    Ok(url)
}

/// The GCS upload: a `PUT` to the presigned URL, or to the object's URL with the access token.
pub(crate) fn gcs_request(
    http: &reqwest::Client,
    stage: &StageInfo,
    name: &str,
    body: &bytes::Bytes,
    env: Option<&Envelope>,
) -> Result<Request, Failure> {
    let mut headers = HeaderMap::new();
    let url = if let Some(signed) = &stage.presigned_url {
        Url::parse(signed.expose_secret())
            .map_err(|_| protocol("the presigned URL does not parse"))?
    } else {
        let token =
            stage.creds.gcs_access_token.as_ref().ok_or_else(|| {
                protocol("a GCS stage without a presigned URL or an access token")
            })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| protocol("the GCS access token is not a valid header"))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        object_url("https://storage.googleapis.com/", &stage.location, name)?
    };
    put_request(http, url, headers, body, env, &GCS_METADATA)
}

/// The Azure upload: one `Put Blob` (a block blob) to the object's URL with the SAS token.
pub(crate) fn azure_request(
    http: &reqwest::Client,
    stage: &StageInfo,
    name: &str,
    body: &bytes::Bytes,
    env: Option<&Envelope>,
) -> Result<Request, Failure> {
    let account = stage
        .storage_account
        .as_deref()
        .ok_or_else(|| protocol("an Azure stage without its storage account"))?;
    let endpoint = stage.end_point.as_deref().unwrap_or("core.windows.net");
    let sas = stage
        .creds
        .azure_sas_token
        .as_ref()
        .ok_or_else(|| protocol("an Azure stage without a SAS token"))?;
    let mut url = object_url(
        &format!("https://{account}.blob.{endpoint}/"),
        &stage.location,
        name,
    )?;
    url.set_query(Some(sas.expose_secret().trim_start_matches('?')));
    let mut headers = HeaderMap::new();
    header(&mut headers, "x-ms-blob-type", "BlockBlob")?;
    put_request(http, url, headers, body, env, &AZURE_METADATA)
}

/// The metadata headers a cloud's drivers write beside a staged file.
struct MetadataNames {
    digest: &'static str,
    encryption: &'static str,
    matdesc: &'static str,
    /// `EncryptionAgent.EncryptionAlgorithm` as that cloud's driver writes it.
    algorithm: &'static str,
}

const GCS_METADATA: MetadataNames = MetadataNames {
    digest: "x-goog-meta-sfc-digest",
    encryption: "x-goog-meta-encryptiondata",
    matdesc: "x-goog-meta-matdesc",
    algorithm: "AES_CBC_256",
};

const AZURE_METADATA: MetadataNames = MetadataNames {
    digest: "x-ms-meta-sfcdigest",
    encryption: "x-ms-meta-encryptiondata",
    matdesc: "x-ms-meta-matdesc",
    algorithm: "AES_CBC_128",
};

/// The `PUT` of `body` to `url` with `headers` and the file's metadata under `names`.
fn put_request(
    http: &reqwest::Client,
    url: Url,
    mut headers: HeaderMap,
    body: &bytes::Bytes,
    env: Option<&Envelope>,
    names: &MetadataNames,
) -> Result<Request, Failure> {
    header(&mut headers, names.digest, &digest_of(body, env))?;
    if let Some(env) = env {
        header(
            &mut headers,
            names.encryption,
            &encryption_data(env, names.algorithm),
        )?;
        header(&mut headers, names.matdesc, &env.matdesc)?;
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    http.request(Method::PUT, url)
        .headers(headers)
        .body(body.clone())
        .build()
        .map_err(|e| protocol(&without_url(&e, "<upload URL>")))
}

/// `sfc-digest`: the plaintext's SHA-256 (from the envelope), or the body's when unencrypted.
pub(crate) fn digest_of(body: &[u8], env: Option<&Envelope>) -> String {
    use sha2::{Digest, Sha256};
    env.map_or_else(|| B64.encode(Sha256::digest(body)), |e| e.digest.clone())
}

/// Sends the request `build` makes, again after transport errors, 429 and 5xx.
async fn send<F>(http: &reqwest::Client, build: F) -> Result<(), Failure>
where
    F: Fn() -> Result<Request, Failure>,
{
    let policy = backoff(UPLOAD_RETRIES);
    let started = SystemTime::now();
    let mut attempt = 0;
    loop {
        let failure = match http.execute(build()?).await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let status = resp.status();
                let f = Failure::Status {
                    what: WHAT,
                    status: status.as_u16(),
                };
                if !retryable_status(status) {
                    return Err(f);
                }
                f
            }
            Err(e) => protocol_or_unreachable(&e),
        };
        if !wait_to_retry(&policy, started, attempt).await {
            return Err(failure);
        }
        tracing::debug!(attempt, error = %failure, "stage upload failed; retrying");
        attempt += 1;
    }
}

/// A transport error, without its URL.
fn protocol_or_unreachable(e: &reqwest::Error) -> Failure {
    Failure::Upload(format!(
        "no answer from the stage's storage ({})",
        without_url(e, "<upload URL>")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            key: "d3JhcHBlZA==".into(),
            iv: "aXY=".into(),
            matdesc: r#"{"keySize":"128","queryId":"q","smkId":"7"}"#.into(),
            digest: "ZGlnZXN0".into(),
        }
    }

    fn stage(json: serde_json::Value) -> StageInfo {
        serde_json::from_value(json).expect("stage info")
    }

    fn header_of<'a>(r: &'a Request, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    #[test]
    fn the_azure_upload_is_one_put_blob_with_the_sas_and_the_envelope() {
        let http = reqwest::Client::new();
        let s = stage(serde_json::json!({
            "locationType": "AZURE",
            "location": "stages/a1b2-c3/tables/42/",
            "storageAccount": "sfcazure7",
            "endPoint": "core.windows.net",
            "creds": {"AZURE_SAS_TOKEN": "?sv=2020-08-04&ss=b&sig=S3CR3T%2Bsig"},
        }));
        let body = bytes::Bytes::from_static(b"ciphertext");
        let r = azure_request(&http, &s, "actions_1_2.csv.gz", &body, Some(&envelope()))
            .expect("request");
        assert_eq!(r.method(), Method::PUT);
        assert_eq!(
            r.url().as_str(),
            "https://sfcazure7.blob.core.windows.net/stages/a1b2-c3/tables/42/actions_1_2.csv.gz?sv=2020-08-04&ss=b&sig=S3CR3T%2Bsig"
        );
        assert_eq!(header_of(&r, "x-ms-blob-type"), "BlockBlob");
        assert_eq!(header_of(&r, "x-ms-meta-sfcdigest"), "ZGlnZXN0");
        assert_eq!(header_of(&r, "x-ms-meta-matdesc"), envelope().matdesc);
        assert_eq!(header_of(&r, "content-length"), "10");
        let data: serde_json::Value =
            serde_json::from_str(header_of(&r, "x-ms-meta-encryptiondata")).expect("json");
        assert_eq!(data["WrappedContentKey"]["EncryptedKey"], "d3JhcHBlZA==");
        assert_eq!(data["ContentEncryptionIV"], "aXY=");
        assert_eq!(data["EncryptionMode"], "FullBlob");
        assert_eq!(
            data["EncryptionAgent"]["EncryptionAlgorithm"],
            "AES_CBC_128"
        );
        assert_eq!(
            r.body().and_then(reqwest::Body::as_bytes),
            Some(&b"ciphertext"[..])
        );
        // The SAS never shows in the request's Debug form (which a log line could print).
        assert!(!format!("{s:?}").contains("S3CR3T"), "{s:?}");
    }

    #[test]
    fn an_azure_stage_without_its_account_or_sas_is_refused_by_name() {
        let http = reqwest::Client::new();
        let body = bytes::Bytes::new();
        let no_sas = stage(
            serde_json::json!({"locationType": "AZURE", "location": "c/", "storageAccount": "a"}),
        );
        let e = azure_request(&http, &no_sas, "f", &body, None).expect_err("no SAS");
        assert!(e.to_string().contains("without a SAS token"), "{e}");
        let no_account = stage(
            serde_json::json!({"locationType": "AZURE", "location": "c/", "creds": {"AZURE_SAS_TOKEN": "?s"}}),
        );
        let e = azure_request(&http, &no_account, "f", &body, None).expect_err("no account");
        assert!(e.to_string().contains("storage account"), "{e}");
    }

    #[test]
    fn a_gcs_stage_takes_its_presigned_url_or_the_object_url_with_the_token() {
        let http = reqwest::Client::new();
        let body = bytes::Bytes::from_static(b"x");
        let signed = stage(serde_json::json!({
            "locationType": "GCS", "location": "bucket/p/",
            "presignedUrl": "https://storage.googleapis.com/bucket/p/f.csv.gz?X-Goog-Signature=abc",
        }));
        let r = gcs_request(&http, &signed, "f.csv.gz", &body, Some(&envelope())).expect("signed");
        assert!(r.url().as_str().ends_with("X-Goog-Signature=abc"));
        assert!(r.headers().get(AUTHORIZATION).is_none());
        assert_eq!(header_of(&r, "x-goog-meta-sfc-digest"), "ZGlnZXN0");
        let data: serde_json::Value =
            serde_json::from_str(header_of(&r, "x-goog-meta-encryptiondata")).expect("json");
        assert_eq!(data["WrappedContentKey"]["Algorithm"], "AES_CBC_256");
        let token = stage(serde_json::json!({
            "locationType": "GCS", "location": "bucket/stages/x/",
            "creds": {"GCS_ACCESS_TOKEN": "ya29.token"},
        }));
        let r = gcs_request(&http, &token, "f 1.csv.gz", &body, None).expect("token");
        assert_eq!(
            r.url().as_str(),
            "https://storage.googleapis.com/bucket/stages/x/f%201.csv.gz"
        );
        assert_eq!(header_of(&r, "authorization"), "Bearer ya29.token");
        assert!(
            r.headers().get("x-goog-meta-encryptiondata").is_none(),
            "unencrypted stage"
        );
        // Unencrypted: the digest is the body's own.
        assert_eq!(
            header_of(&r, "x-goog-meta-sfc-digest"),
            digest_of(b"x", None)
        );
    }

    #[test]
    fn a_put_answer_reads_one_material_or_a_list_and_keeps_keys_out_of_debug() {
        let data: super::super::wire::QueryData = serde_json::from_value(serde_json::json!({
            "stageInfo": {"locationType": "S3", "location": "b/p/", "creds": {"AWS_KEY_ID": "AKIA", "AWS_SECRET_KEY": "hidden-secret", "AWS_TOKEN": "tok"}},
            "encryptionMaterial": [{"queryStageMasterKey": "bWFzdGVyLWtleS1zZWNyZXQ=", "queryId": "q", "smkId": 12}],
        }))
        .expect("data");
        let a = PutAnswer::new(data.stage_info, data.encryption_material).expect("answer");
        assert_eq!(
            a.material.as_ref().map(|m| m.smk_id.to_string()),
            Some("12".into())
        );
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("hidden-secret") && !debug.contains("bWFzdGVy"),
            "{debug}"
        );
        assert!(PutAnswer::new(None, None).is_err());
    }
}
