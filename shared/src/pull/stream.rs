//! A keyless table: one query, its result streamed part by part into the staging table.
//!
//! Without a key there is no order to page by, so the table is read by one `SELECT`, which is
//! also one consistent snapshot. Its result comes as an inline part and chunks (see
//! [`crate::snowflake::ResultStream`]); parts are downloaded ahead while the page before them is
//! written, and gathered into pages of the usual byte budget, so memory holds a few parts and a
//! page whatever the table's size. The checkpoint after each page names the query and the next
//! part: a run that continues (a deadline hop, a crash) asks Snowflake for the persisted result
//! (`GET /queries/<id>/result`, fresh chunk URLs; Snowflake keeps it 24 hours) and reads on
//! from that part. When the result is gone the run starts over: the staging table is emptied
//! and the query runs again, so the table swapped in is always one snapshot.

use std::collections::VecDeque;

use super::*;
use crate::snowflake::{Part, ResultStream};

impl TableRun<'_> {
    /// Reads the keyless table's rows into the staging table, from the checkpoint on; returns
    /// whether the deadline stopped it (its checkpoint saved).
    ///
    /// # Errors
    /// The first failed read or write; pages written before it stay checkpointed.
    pub(super) async fn stream(
        &self,
        cp: &mut Checkpoint,
        progress: &mut Progress,
        budget: &Budget,
        clock: &mut PageClock,
        pace: &Pace,
    ) -> Result<bool> {
        let ahead = self.deps.settings.page_bytes as u64;
        let mut stream = match self.resumed_stream(cp, ahead).await? {
            Some(stream) => stream,
            None => {
                let sql = self
                    .phase_query(cp)?
                    .page_sql(&self.t.table.sql(), None, None, 0);
                let stream = self.session.stream(&sql, ahead).await?;
                cp.result = stream.query_id().map(|query_id| ResultMark {
                    query_id: query_id.to_owned(),
                    next_part: 0,
                });
                stream
            }
        };
        let last = stream.parts() - 1;
        let mut ready: VecDeque<Part> = VecDeque::new();
        let mut exhausted = false;
        let mut writing = None;
        loop {
            if writing.is_none() {
                if let Some(w) =
                    self.next_stream_page(&mut ready, exhausted, last, cp, progress, pace)
                {
                    writing = Some(Box::pin(self.write(
                        w.0,
                        Target::Staging,
                        w.1,
                        w.2,
                        false,
                        pace,
                    )));
                }
            }
            if writing.is_none() && exhausted && ready.is_empty() {
                return Ok(false);
            }
            // Read ahead while a page of rows or less waits (the parts downloading are bounded
            // by bytes in the stream itself).
            let waiting: usize = ready.iter().map(|p| p.rows as usize).sum();
            let room = !exhausted && waiting < self.page_rows(pace);
            tokio::select! {
                part = stream.next(), if room => match part {
                    Some(part) => ready.push_back(part?),
                    None => exhausted = true,
                },
                wrote = maybe(&mut writing) => {
                    writing = None;
                    let slowest = self.page_written(wrote, cp, progress, clock)?;
                    let finished = cp.result.as_ref().is_some_and(|m| m.next_part > last);
                    if !finished && budget.should_stop(slowest) {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// The stream of a continued run: the persisted result from the checkpoint's next part;
    /// `None` for a run that starts (or must start over: its result is gone, or it never
    /// recorded one), the staging table emptied for it.
    async fn resumed_stream(
        &self,
        cp: &mut Checkpoint,
        ahead: u64,
    ) -> Result<Option<ResultStream<'_>>> {
        if let Some(mark) = &cp.result {
            if let Some(stream) = self
                .session
                .resume_stream(&mark.query_id, mark.next_part, cp.rows, ahead)
                .await?
            {
                return Ok(Some(stream));
            }
        }
        if cp.rows > 0 || cp.result.is_some() {
            tracing::info!(table = %self.t.table, "the unfinished read's result is gone: reading the table again");
            self.deps
                .platform
                .prepare_staging(&self.schema, &self.pg_table, &self.pg_cols)
                .await?;
            cp.rows = 0;
            cp.pages = 0;
            cp.staged_at = None;
            cp.result = None;
        }
        Ok(None)
    }

    /// The next page to write from the parts read: a page of rows (at least one part), or what
    /// is left once the result is read; with the checkpoint it leaves and whether it is the
    /// run's last. Counts it in `cp` and `progress`.
    fn next_stream_page(
        &self,
        ready: &mut VecDeque<Part>,
        exhausted: bool,
        last: usize,
        cp: &mut Checkpoint,
        progress: &mut Progress,
        pace: &Pace,
    ) -> Option<(Page, Checkpoint, bool)> {
        let want = self.page_rows(pace);
        let waiting: usize = ready.iter().map(|p| p.rows as usize).sum();
        let ends = ready.back().is_some_and(|p| p.index == last);
        if ready.is_empty() || (waiting < want && !exhausted && !ends) {
            return None;
        }
        let mut batches = Vec::new();
        let mut rows = 0usize;
        let mut next_part = 0;
        while let Some(part) = ready.front() {
            if rows > 0 && rows + part.rows as usize > want {
                break;
            }
            let part = ready.pop_front().expect("front");
            rows += part.rows as usize;
            next_part = part.index + 1;
            batches.extend(part.batches);
        }
        cp.rows += rows as u64;
        cp.pages += 1;
        progress.rows_read += rows as u64;
        progress.pages += 1;
        if let Some(mark) = cp.result.as_mut() {
            mark.next_part = next_part;
        }
        let finished = next_part > last;
        Some((
            Page {
                batches,
                rows,
                max: None,
            },
            cp.clone(),
            finished,
        ))
    }
}
