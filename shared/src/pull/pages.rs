//! Pages in flight: ranges, the page reader (a query on its own task, its largest key computed
//! from its rows), the pace that sizes pages by bytes, and the clock for the deadline.

use super::*;

/// Pages read at once: while one is written, the next two are read (Snowflake runs a session's
/// statements concurrently; the emulator queues them), so the warehouse never waits on us.
/// Pages that fill more than half the byte budget are read one at a time (see
/// `TableRun::read_ahead`): memory, not speed, is what binds them.
pub(super) const READ_AHEAD: usize = 2;

/// Pages one boundary pre-scan plans ahead.
pub(super) const SCAN_PAGES: usize = 16;

/// A key range of one phase: rows with `lo < key <= hi` (`None`: from the phase's start, to its
/// end). The pre-scan cuts ranges of `n` rows each; a read of one is `LIMIT n + n/16 + 1`, so a
/// range that grew since (rows written meanwhile) comes back full and is read on from the
/// page's largest key.
#[derive(Debug, Clone)]
pub(super) struct Range {
    pub(super) lo: Option<Vec<KeyValue>>,
    pub(super) hi: Option<Vec<KeyValue>>,
    /// The most rows a read of it returns; that many means more may follow.
    pub(super) limit: usize,
}

/// One page read from Snowflake, its keys decoded, waiting to be encoded and written.
pub(super) struct Page {
    /// The rows as the client returned them.
    pub(super) batches: Vec<RecordBatch>,
    pub(super) rows: usize,
    /// The largest key tuple among the rows (None when the page is empty).
    pub(super) max: Option<Vec<KeyValue>>,
}

/// What finished while a phase's pages move (see `Pipeline::run`).
pub(super) enum Event {
    /// A boundary pre-scan: the boundaries, and the rows per range it asked for.
    Scanned(Result<(Vec<Vec<KeyValue>>, usize)>),
    /// A page of a range, read.
    Read(Range, Result<Page>),
    /// A page written and checkpointed: rows written, the staging stamp it left.
    Wrote(Result<(u64, Option<String>)>),
}

/// How big the run's pages are: bytes per row of the last page encoded (0 = none yet), set by
/// the page being written while the next pages are planned; before any, the most a row can
/// take by its columns' declared sizes.
pub(super) struct Pace {
    pub(super) bytes_per_row: std::sync::atomic::AtomicUsize,
    pub(super) declared_row_bytes: usize,
}

impl Pace {
    pub(super) fn new(cols: &[SourceColumn], measured: usize) -> Self {
        Self {
            bytes_per_row: std::sync::atomic::AtomicUsize::new(measured),
            declared_row_bytes: cols.iter().map(|c| c.max_bytes).sum::<usize>().max(1),
        }
    }

    /// Bytes per row of the last page encoded, if any was.
    pub(super) fn measured(&self) -> Option<usize> {
        Some(
            self.bytes_per_row
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .filter(|&b| b > 0)
    }
}

/// The slowest page so far (for the deadline), and when the current one started.
pub(super) struct PageClock {
    pub(super) slowest: Duration,
    pub(super) started: Instant,
}

impl PageClock {
    pub(super) fn new() -> Self {
        Self {
            slowest: Duration::ZERO,
            started: Instant::now(),
        }
    }

    /// A page is done: the slowest page so far, this one included.
    pub(super) fn lap(&mut self) -> Duration {
        self.slowest = self.slowest.max(self.started.elapsed());
        self.started = Instant::now();
        self.slowest
    }
}

/// Awaits the future if there is one; never finishes otherwise (a `select!` branch that waits).
pub(super) async fn maybe<F: std::future::Future + Unpin>(f: &mut Option<F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// A spawned task that is aborted when dropped (a run that stops early leaves no read behind).
pub(super) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The key tuple of one row: `specs` pairs each key column's index in the batch with its spec.
pub(super) fn row_key(
    b: &RecordBatch,
    specs: &[(usize, ColumnSpec)],
    row: usize,
) -> std::result::Result<Vec<KeyValue>, DecodeError> {
    specs
        .iter()
        .map(|(i, spec)| key_value(b, *i, spec, row))
        .collect()
}

/// What a page read needs on a task of its own; cheap to clone, one per phase.
#[derive(Clone)]
pub(super) struct PageReader {
    pub(super) session: Arc<Session>,
    /// The key columns: their index in a page's batches, and their spec.
    pub(super) key_specs: Arc<[(usize, ColumnSpec)]>,
    pub(super) table: Arc<str>,
    /// The configured primary key, for the NULL-key error.
    pub(super) primary_key: Arc<str>,
}

impl PageReader {
    /// One page of a range, with the range it belongs to. The read runs as a task of its own,
    /// so the client's parsing of a response (JSON, base64, Arrow) runs beside the writes
    /// instead of holding up the run's task.
    pub(super) fn read(
        &self,
        sql: String,
        range: Range,
    ) -> impl std::future::Future<Output = (Range, Result<Page>)> {
        let reader = self.clone();
        let task = AbortOnDrop(tokio::spawn(tracing::Instrument::in_current_span(
            async move { reader.read_page(&sql).await },
        )));
        async move {
            let page = task
                .await
                .unwrap_or_else(|e| Err(SyncError::transient(format!("read a page: {e}"))));
            (range, page)
        }
    }

    /// Reads one page and finds its largest key (the client does not keep result order). Only
    /// the key columns are decoded here; the page is encoded and written later.
    pub(super) async fn read_page(&self, sql: &str) -> Result<Page> {
        let table = &*self.table;
        let asked = Instant::now();
        let batches = self.session.query(sql).await?;
        let answered = asked.elapsed();
        let mut rows = 0usize;
        let mut max: Option<Vec<KeyValue>> = None;
        for b in &batches {
            rows += b.num_rows();
            for row in 0..b.num_rows() {
                let key = row_key(b, &self.key_specs, row)
                    .map_err(|e| SyncError::config(format!("decode key of {table}: {e}")))?;
                if key.iter().any(|k| matches!(k, KeyValue::Null)) {
                    return Err(SyncError::config(format!(
                        "table {table} has a row whose primary key ({}) is NULL: fix primary_key in [[pull]] or the data",
                        self.primary_key
                    )));
                }
                if max.as_ref().is_none_or(|m| key > *m) {
                    max = Some(key);
                }
            }
        }
        tracing::debug!(
            table,
            rows,
            query_ms = answered.as_millis() as u64,
            "page read"
        );
        Ok(Page { batches, rows, max })
    }

    /// Runs a boundary pre-scan (its columns are the key columns, in order); the boundaries in
    /// key order (the client keeps no order).
    pub(super) async fn boundaries(&self, sql: &str) -> Result<Vec<Vec<KeyValue>>> {
        let specs: Vec<(usize, ColumnSpec)> = self
            .key_specs
            .iter()
            .enumerate()
            .map(|(j, (_, spec))| (j, spec.clone()))
            .collect();
        let asked = Instant::now();
        let batches = self.session.query(sql).await?;
        let mut out = Vec::new();
        for b in &batches {
            for row in 0..b.num_rows() {
                out.push(row_key(b, &specs, row).map_err(|e| {
                    SyncError::config(format!("decode a key boundary of {}: {e}", self.table))
                })?);
            }
        }
        out.sort();
        out.dedup();
        tracing::debug!(table = %self.table, boundaries = out.len(), query_ms = asked.elapsed().as_millis() as u64, "pre-scan");
        Ok(out)
    }
}
