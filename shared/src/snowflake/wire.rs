//! The JSON of Snowflake's REST protocol, as the official drivers send and parse it
//! (gosnowflake `query.go`/`restful.go`, snowflake-connector-python `network.py`,
//! `result_batch.py`). Every field a response may omit or send as `null` is optional here:
//! an expired session, for one, answers `"data": null`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The envelope of every answer: `success`, a `code` on errors and in-progress answers,
/// a `message`, and a `data` object (or `null`).
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<D> {
    #[serde(default)]
    pub success: bool,
    #[serde(default, deserialize_with = "code_text")]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "Option::default")]
    pub data: Option<D>,
}

/// Snowflake sends codes as strings ("390112"), some proxies and old endpoints as numbers.
fn code_text<'de, De: serde::Deserializer<'de>>(d: De) -> Result<Option<String>, De::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(format!("{n:0>6}")),
        _ => None,
    })
}

/// Decodes a base64 string straight from the answer's bytes (JSON strings of base64 have no
/// escapes, so serde lends them without a copy).
fn base64_bytes<'de, De: serde::Deserializer<'de>>(d: De) -> Result<Option<Vec<u8>>, De::Error> {
    use base64::Engine;
    let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
    text.map(|t| {
        base64::engine::general_purpose::STANDARD
            .decode(t.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("rowsetBase64 is not base64: {e}")))
    })
    .transpose()
}

/// `data` of a login answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginData {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub master_token: Option<String>,
    #[serde(default)]
    pub session_id: Option<serde_json::Value>,
}

/// `data` of a token-request (session renewal) answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenewData {
    #[serde(default)]
    pub session_token: Option<String>,
    #[serde(default)]
    pub master_token: Option<String>,
}

/// One result chunk: a presigned cloud-storage URL and its row count.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Chunk {
    pub url: String,
    #[serde(default)]
    pub row_count: Option<u64>,
    #[serde(default)]
    pub uncompressed_size: u64,
}

/// `data` of a query answer: a result, an in-progress notice, or an error's details.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryData {
    #[serde(default)]
    pub query_id: Option<String>,
    /// Where to poll while the statement runs (`333333`/`333334` answers).
    #[serde(default)]
    pub get_result_url: Option<String>,
    #[serde(default)]
    pub query_result_format: Option<String>,
    /// The first part of an Arrow result (possibly empty when every row is in `chunks`),
    /// decoded from base64 while the answer is parsed (the text is never held as a `String`:
    /// for a page of wide rows that copy was the largest thing in memory).
    #[serde(default, rename = "rowsetBase64", deserialize_with = "base64_bytes")]
    pub rowset_arrow: Option<Vec<u8>>,
    /// A JSON result's rows (JSON results are refused: the session pins Arrow).
    #[serde(default)]
    pub rowset: Option<serde_json::Value>,
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// Headers to send with every chunk download (SSE-C keys); absent when only `qrmk` is sent.
    #[serde(default)]
    pub chunk_headers: Option<HashMap<String, String>>,
    /// The result's SSE-C key, from which chunk headers are built when `chunkHeaders` is absent.
    #[serde(default)]
    pub qrmk: Option<String>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub error_code: Option<String>,
    /// A `PUT` answer's stage: where to upload, with what credentials.
    #[serde(default)]
    pub stage_info: Option<super::stage::StageInfo>,
    /// A `PUT` answer's key for client-side encryption (`null` for an unencrypted stage).
    #[serde(default)]
    pub encryption_material: Option<super::stage::Materials>,
}

/// The body of a query-request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryRequest<'a> {
    pub sql_text: &'a str,
    pub async_exec: bool,
    pub sequence_id: u64,
    pub is_internal: bool,
}

/// The body of an abort-request: the statement and the `requestId` it was sent with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AbortRequest<'a> {
    pub sql_text: &'a str,
    pub request_id: &'a str,
}

/// The body of a token-request renewing the session token with the master token.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenewRequest<'a> {
    pub old_session_token: &'a str,
    pub request_type: &'static str,
}

/// Snowflake's answer codes that are not errors: the statement is still running.
pub(crate) fn in_progress(code: Option<&str>) -> bool {
    matches!(code, Some("333333" | "333334"))
}

/// Codes that mean the session token is no longer valid; a renewal or a fresh login helps.
pub(crate) fn session_gone(code: &str) -> bool {
    matches!(code, "390112" | "390114" | "390104" | "390111")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_session_with_null_data_parses() {
        let e: Envelope<QueryData> = serde_json::from_str(
            r#"{"code":"390112","data":null,"message":"Your session has expired. Please login again.","success":false,"headers":null}"#,
        )
        .expect("parse");
        assert_eq!(e.code.as_deref(), Some("390112"));
        assert!(e.data.is_none());
        assert!(!e.success);
    }

    #[test]
    fn an_in_progress_answer_names_its_result_url() {
        let e: Envelope<QueryData> = serde_json::from_str(
            r#"{"code":"333334","data":{"getResultUrl":"/queries/01b2-x/result","queryId":"01b2-x","queryAbortsAfterSecs":300},"message":"Asynchronous execution in progress.","success":true}"#,
        )
        .expect("parse");
        assert!(in_progress(e.code.as_deref()));
        let d = e.data.expect("data");
        assert_eq!(d.get_result_url.as_deref(), Some("/queries/01b2-x/result"));
    }

    #[test]
    fn numeric_codes_are_read_as_six_digit_text() {
        let e: Envelope<QueryData> =
            serde_json::from_str(r#"{"code":390112,"data":null,"success":false}"#).expect("parse");
        assert_eq!(e.code.as_deref(), Some("390112"));
    }
}
