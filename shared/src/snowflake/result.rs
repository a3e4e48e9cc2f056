//! A query result as Arrow batches: the inline first part, then the chunks from cloud storage.
//!
//! Snowflake sends a large result as a first part in `rowsetBase64` (possibly empty) and
//! `chunks[]`, presigned URLs on the cloud provider's storage, each a gzip-compressed Arrow IPC
//! stream. Downloads need the SSE-C headers of `chunkHeaders`, or, when only `qrmk` is sent,
//! headers built from it (snowflake-connector-python `result_batch.py`). Chunks are fetched a
//! few at a time, in order, each retried on 429/5xx, resets and cut bodies; the batches come
//! back in result order, and their row count must match the result's `total`.

use std::io::Read;
use std::time::SystemTime;

use arrow_array::RecordBatch;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::errors::retryable_status;
use super::errors::Failure;
use super::http::{backoff, wait_to_retry, without_url};
use super::wire::{Chunk, QueryData};

/// Bytes (as the chunks announce them, uncompressed) downloading at once when a result is
/// collected whole; a streamed result takes its own budget (see [`Parts`]).
const COLLECT_BYTES: u64 = 64 << 20;
/// Retries of one chunk download (the official drivers retry 5 to 10 times).
const CHUNK_RETRIES: u32 = 7;
const SSE_C_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
const SSE_C_KEY: &str = "x-amz-server-side-encryption-customer-key";
const SSE_C_AES: &str = "AES256";

/// The result's rows as Arrow batches in result order (none for an empty result).
///
/// # Errors
/// [`Failure::Protocol`] for a JSON result with rows (the session pins Arrow) or a row count
/// that does not match `total`; [`Failure::Arrow`] or [`Failure::Chunk`] for data that does not
/// download or decode.
pub(crate) async fn batches(
    http: &reqwest::Client,
    data: QueryData,
) -> Result<Vec<RecordBatch>, Failure> {
    let mut parts = Parts::new(http, data, 0, 0, COLLECT_BYTES)?;
    let mut out = Vec::new();
    while let Some(part) = parts.next().await {
        out.extend(part?.batches);
    }
    Ok(out)
}

/// One part of a result: the inline first part (index 0) or chunk `index`.
pub struct Part {
    /// 0 for the inline first part, `i` for the `i`-th chunk.
    pub index: usize,
    /// Its rows, in result order.
    pub batches: Vec<RecordBatch>,
    /// How many rows the batches hold.
    pub rows: u64,
}

type Download = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Part, Failure>> + Send>>;

/// A result read part by part, in result order: the inline part, then the chunks, downloaded
/// ahead while the caller works on the part before, as many at once as fit `ahead_bytes` by
/// the sizes the chunks announce (always at least one). Memory holds the parts downloading and
/// the one the caller holds, whatever the result's size.
pub struct Parts {
    query_id: Option<String>,
    /// How many parts the result has (the inline part and the chunks).
    count: usize,
    /// Parts not yet downloading: (index, chunk).
    waiting: std::collections::VecDeque<(usize, Chunk)>,
    downloading: futures::stream::FuturesOrdered<Download>,
    /// Announced bytes of the parts downloading, in order.
    inflight: std::collections::VecDeque<u64>,
    ahead_bytes: u64,
    http: reqwest::Client,
    headers: HeaderMap,
    /// Rows before the first part read (a resumed read), then every part's rows added.
    rows: u64,
    total: Option<u64>,
    checked: bool,
}

impl Parts {
    /// The parts of `data` from part `from` on (`rows_before`: the rows of the parts before).
    ///
    /// # Errors
    /// [`Failure::Protocol`] for a JSON result with rows; a chunk header that is not valid.
    pub(crate) fn new(
        http: &reqwest::Client,
        mut data: QueryData,
        from: usize,
        rows_before: u64,
        ahead_bytes: u64,
    ) -> Result<Self, Failure> {
        let json = data
            .query_result_format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("json"));
        let mut parts = Self {
            query_id: data.query_id.take(),
            count: 1 + data.chunks.len(),
            waiting: std::collections::VecDeque::new(),
            downloading: futures::stream::FuturesOrdered::new(),
            inflight: std::collections::VecDeque::new(),
            ahead_bytes,
            http: http.clone(),
            headers: HeaderMap::new(),
            rows: rows_before,
            total: data.total,
            checked: false,
        };
        if json || (data.rowset_arrow.is_none() && data.rowset.is_some()) {
            let has_rows = data
                .rowset
                .as_ref()
                .and_then(|r| r.as_array())
                .is_some_and(|r| !r.is_empty())
                || !data.chunks.is_empty();
            if has_rows {
                return Err(Failure::Protocol {
                    what: "run a query",
                    detail: "Snowflake sent the rows as JSON, not Arrow: the session's GO_QUERY_RESULT_FORMAT = 'ARROW' did not hold".into(),
                });
            }
            parts.count = 1;
            parts.total = None;
            return Ok(parts);
        }
        if !data.chunks.is_empty() {
            parts.headers = chunk_headers(&data)?;
        }
        if from == 0 {
            let raw = data.rowset_arrow.take().unwrap_or_default();
            parts.push(
                Box::pin(async move {
                    let batches = if raw.is_empty() {
                        Vec::new()
                    } else {
                        decode(raw).map_err(Failure::Arrow)?
                    };
                    Ok(Part::of(0, batches))
                }),
                0,
            );
        }
        parts.waiting = std::mem::take(&mut data.chunks)
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .filter(|(i, _)| *i >= from)
            .collect();
        Ok(parts)
    }

    /// The query whose result this is.
    pub fn query_id(&self) -> Option<&str> {
        self.query_id.as_deref()
    }

    /// How many parts the result has: the inline part and the chunks.
    pub fn count(&self) -> usize {
        self.count
    }

    fn push(&mut self, download: Download, bytes: u64) {
        self.downloading.push_back(download);
        self.inflight.push_back(bytes);
    }

    /// Starts downloads while they fit the budget (one at least when none is running).
    fn fill(&mut self) {
        let of = self.count - 1;
        while let Some((_, next)) = self.waiting.front() {
            let busy: u64 = self.inflight.iter().sum();
            if !self.inflight.is_empty() && busy + next.uncompressed_size > self.ahead_bytes {
                break;
            }
            let (index, chunk) = self.waiting.pop_front().expect("front");
            let (http, headers) = (self.http.clone(), self.headers.clone());
            let bytes = chunk.uncompressed_size;
            self.push(
                Box::pin(async move {
                    let batches = fetch(&http, &headers, &chunk, index, of).await?;
                    Ok(Part::of(index, batches))
                }),
                bytes,
            );
        }
    }

    /// The next part in result order; after the last, an error if the rows do not add up to
    /// the result's `total`, then `None`.
    pub async fn next(&mut self) -> Option<Result<Part, Failure>> {
        use futures::StreamExt;
        self.fill();
        match self.downloading.next().await {
            Some(part) => {
                self.inflight.pop_front();
                self.fill();
                if let Ok(p) = &part {
                    self.rows += p.rows;
                }
                Some(part)
            }
            None if !self.checked => {
                self.checked = true;
                match self.total {
                    Some(total) if total != self.rows => Some(Err(Failure::Protocol {
                        what: "run a query",
                        detail: format!("the result announced {total} rows and held {}", self.rows),
                    })),
                    _ => None,
                }
            }
            None => None,
        }
    }
}

impl Part {
    fn of(index: usize, batches: Vec<RecordBatch>) -> Self {
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        Self {
            index,
            batches,
            rows,
        }
    }
}

/// The headers of every chunk download: `chunkHeaders`, or SSE-C headers built from `qrmk`.
fn chunk_headers(data: &QueryData) -> Result<HeaderMap, Failure> {
    let bad = |_| Failure::Protocol {
        what: "download a result chunk",
        detail: "a chunk header is not a valid HTTP header".into(),
    };
    let mut map = HeaderMap::new();
    match (&data.chunk_headers, &data.qrmk) {
        (Some(h), _) if !h.is_empty() => {
            for (k, v) in h {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| Failure::Protocol {
                    what: "download a result chunk",
                    detail: "a chunk header name is not valid".into(),
                })?;
                let mut value = HeaderValue::from_str(v).map_err(bad)?;
                value.set_sensitive(true);
                map.insert(name, value);
            }
        }
        (_, Some(qrmk)) => {
            map.insert(SSE_C_ALGORITHM, HeaderValue::from_static(SSE_C_AES));
            let mut key = HeaderValue::from_str(qrmk).map_err(bad)?;
            key.set_sensitive(true);
            map.insert(SSE_C_KEY, key);
        }
        _ => {}
    }
    Ok(map)
}

/// Downloads and decodes chunk `index` of `of`, retrying what may pass.
async fn fetch(
    http: &reqwest::Client,
    headers: &HeaderMap,
    chunk: &Chunk,
    index: usize,
    of: usize,
) -> Result<Vec<RecordBatch>, Failure> {
    let policy = backoff(CHUNK_RETRIES);
    let started = SystemTime::now();
    let mut attempt = 0;
    loop {
        match fetch_once(http, headers, chunk).await {
            Ok(b) => return Ok(b),
            Err((detail, retry)) => {
                if retry && wait_to_retry(&policy, started, attempt).await {
                    tracing::debug!(index, of, attempt, %detail, "result chunk failed; retrying");
                    attempt += 1;
                    continue;
                }
                return Err(Failure::Chunk { index, of, detail });
            }
        }
    }
}

/// One attempt; on failure, what happened and whether another attempt may help.
async fn fetch_once(
    http: &reqwest::Client,
    headers: &HeaderMap,
    chunk: &Chunk,
) -> Result<Vec<RecordBatch>, (String, bool)> {
    let resp = http
        .get(&chunk.url)
        .headers(headers.clone())
        .send()
        .await
        .map_err(|e| {
            (
                format!(
                    "no answer from the result storage ({})",
                    without_url(&e, "<chunk URL>")
                ),
                true,
            )
        })?;
    let status = resp.status();
    if !status.is_success() {
        let hint = if status == reqwest::StatusCode::FORBIDDEN {
            " (an expired URL or missing SSE-C headers)"
        } else {
            ""
        };
        return Err((
            format!("the result storage answered HTTP {}{hint}", status.as_u16()),
            retryable_status(status),
        ));
    }
    let body = resp.bytes().await.map_err(|e| {
        (
            format!(
                "the download broke off ({})",
                without_url(&e, "<chunk URL>")
            ),
            true,
        )
    })?;
    let raw = gunzip(body, chunk.uncompressed_size)
        .map_err(|e| (format!("the chunk is not valid gzip: {e}"), true))?;
    // A body cut without the transport noticing shows up here: another attempt may pass.
    let batches = decode(raw).map_err(|e| (e, true))?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    if let Some(announced) = chunk.row_count.filter(|&n| n != rows) {
        return Err((
            format!("the chunk held {rows} rows of the {announced} announced"),
            true,
        ));
    }
    Ok(batches)
}

/// The body, gunzipped when it starts with gzip's magic bytes (storage serves chunks gzipped
/// and does not always say so in `Content-Encoding`; reqwest decodes the ones that do).
fn gunzip(body: bytes::Bytes, size_hint: u64) -> std::io::Result<Vec<u8>> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let hint = usize::try_from(size_hint).unwrap_or(0).min(256 << 20);
        let mut out = Vec::with_capacity(hint.max(body.len() * 4));
        flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(body.into())
    }
}

/// The batches of one Arrow IPC stream, whose arrays share `raw`'s memory (no copy: a page is
/// held once, not as bytes and again as arrays).
pub(crate) fn decode(raw: Vec<u8>) -> Result<Vec<RecordBatch>, String> {
    let mut buffer = arrow_buffer::Buffer::from_vec(raw);
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut out = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer) {
            Ok(Some(batch)) => out.push(batch),
            Ok(None) => {}
            Err(e) => return Err(format!("an Arrow batch does not decode: {e}")),
        }
    }
    decoder
        .finish()
        .map_err(|e| format!("the Arrow IPC stream is cut short: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ipc(values: &[i64]) -> Vec<u8> {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "ID",
            arrow_schema::DataType::Int64,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow_array::Int64Array::from(values.to_vec()))],
        )
        .expect("batch");
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).expect("writer");
        w.write(&batch).expect("write");
        w.finish().expect("finish");
        drop(w);
        out
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes() {
        let raw = ipc(&[1, 2, 3]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(gunzip(gz.into(), 0).expect("gunzip"), raw);
        assert_eq!(gunzip(raw.clone().into(), 0).expect("plain"), raw);
    }

    #[test]
    fn a_cut_stream_is_an_error_not_fewer_rows() {
        let raw = ipc(&(0..1000).collect::<Vec<_>>());
        assert!(decode(raw[..raw.len() / 2].to_vec()).is_err());
        assert_eq!(decode(raw).expect("whole")[0].num_rows(), 1000);
    }

    #[test]
    fn headers_come_from_qrmk_when_chunk_headers_are_absent() {
        let data = QueryData {
            qrmk: Some("a2V5".into()),
            ..QueryData::default()
        };
        let h = chunk_headers(&data).expect("headers");
        assert_eq!(h[SSE_C_ALGORITHM], "AES256");
        assert_eq!(h[SSE_C_KEY], "a2V5");
        let data = QueryData {
            qrmk: Some("a2V5".into()),
            chunk_headers: Some(
                [(
                    "x-amz-server-side-encryption-customer-key".to_owned(),
                    "b3RoZXI=".to_owned(),
                )]
                .into(),
            ),
            ..QueryData::default()
        };
        assert_eq!(
            chunk_headers(&data).expect("headers")[SSE_C_KEY],
            "b3RoZXI="
        );
    }

    #[tokio::test]
    async fn a_json_result_with_rows_is_refused_and_an_empty_one_is_empty() {
        let http = reqwest::Client::new();
        let rows = QueryData {
            query_result_format: Some("json".into()),
            rowset: Some(serde_json::json!([["1"]])),
            ..QueryData::default()
        };
        assert!(matches!(
            batches(&http, rows).await,
            Err(Failure::Protocol { .. })
        ));
        let empty = QueryData {
            query_result_format: Some("json".into()),
            rowset: Some(serde_json::json!([])),
            ..QueryData::default()
        };
        assert!(batches(&http, empty).await.expect("empty").is_empty());
    }

    #[tokio::test]
    async fn a_resumed_read_skips_the_parts_before_and_counts_their_rows_toward_total() {
        let http = reqwest::Client::new();
        let data = || QueryData {
            query_id: Some("q".into()),
            rowset_arrow: Some(ipc(&[1, 2])),
            total: Some(2),
            ..QueryData::default()
        };
        let mut all = Parts::new(&http, data(), 0, 0, 1).expect("parts");
        assert_eq!((all.query_id(), all.count()), (Some("q"), 1));
        let first = all.next().await.expect("a part").expect("decodes");
        assert_eq!((first.index, first.rows), (0, 2));
        assert!(all.next().await.is_none());
        let mut rest = Parts::new(&http, data(), 1, 2, 1).expect("parts");
        assert!(rest.next().await.is_none(), "nothing after the inline part");
        let mut short = Parts::new(&http, data(), 1, 1, 1).expect("parts");
        assert!(matches!(
            short.next().await,
            Some(Err(Failure::Protocol { .. }))
        ));
    }

    #[tokio::test]
    async fn a_row_count_short_of_total_is_an_error() {
        let http = reqwest::Client::new();
        let data = QueryData {
            rowset_arrow: Some(ipc(&[1, 2])),
            total: Some(3),
            ..QueryData::default()
        };
        assert!(matches!(
            batches(&http, data).await,
            Err(Failure::Protocol { .. })
        ));
    }
}
