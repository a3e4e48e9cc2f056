//! The page pipeline of one phase: boundary pre-scans plan ranges, [`READ_AHEAD`] ranges are
//! read while the page before them is encoded, written and checkpointed, and pages are written
//! in key order, so the checkpoint always means "everything up to here".
//!
//! An incremental run's first page is a keyset page (`key > checkpoint ORDER BY key LIMIT n`)
//! instead, so a small delta costs one query; the pre-scans start once it comes back full. At
//! most `READ_AHEAD + 2` pages are held at once (read or being read, one waiting, one being
//! written), plus a range's continuation, and two more while the staging key is built.
//!
//! [`Pipeline`] keeps the plan (ranges, pages waiting, what is built) and decides; its
//! [`Pipeline::run`] owns the work in flight (the pre-scan, the reads, the write) and hands each
//! finished [`Event`] back to it.

use std::collections::VecDeque;

use super::*;

/// A page read and ready to write: its range, the page, and whether it came back full.
type Ready = (Range, Page, bool);

/// A page to write, with the checkpoint it leaves once it is in.
struct Write {
    page: Page,
    saved: Checkpoint,
    /// The run's last page: no checkpoint follows it (the watermark does).
    finished: bool,
    /// Build the staging table's key first.
    build_key: bool,
}

/// The plan of one phase's pages, and the decisions on it.
pub(super) struct Pipeline<'p, 'a> {
    run: &'p TableRun<'a>,
    target: Target,
    /// The run has no main phase (a cursor table whose cursor is always NULL).
    skip_main: bool,
    pace: &'p Pace,
    query: PhaseQuery,
    /// Ranges handed out so far end here; a pre-scan starts from it.
    frontier: Option<Vec<KeyValue>>,
    /// Ranges planned and not yet read.
    ranges: VecDeque<Range>,
    /// Whether the phase's last range (`hi: None`) is handed out: no pre-scan is needed.
    planned: bool,
    /// Pages read, in key order.
    ready: VecDeque<Ready>,
    /// Whether the page being written is the run's last (no deadline check after it).
    finishing: bool,
    /// The staging table's key is built before the last pages are written, so that its sort
    /// runs while they are read instead of after (as the swap would).
    key_built: bool,
    /// The page being written builds the key first.
    building: bool,
}

impl<'p, 'a> Pipeline<'p, 'a> {
    /// The plan of the checkpoint's phase, from the checkpoint on.
    ///
    /// The main phase of a backfill or full refresh (usually big) starts with a pre-scan: its
    /// first page is then a cheap range read too. An incremental run (usually a small delta)
    /// and a backfill's NULL-cursor rows (usually none) start with one keyset page, which is
    /// all that fewer rows than a page cost.
    ///
    /// # Errors
    /// `config` for a stored checkpoint that no longer fits the table.
    pub(super) fn new(
        run: &'p TableRun<'a>,
        cp: &Checkpoint,
        target: Target,
        skip_main: bool,
        pace: &'p Pace,
    ) -> Result<Self> {
        let query = run.phase_query(cp)?;
        let frontier = run.resume_after(cp, &query.keys)?;
        let scan_first = target.is_staging()
            && cp.phase == Phase::Main
            && query.keyed()
            && !run.unmeasured_and_bounded(pace);
        let mut ranges = VecDeque::new();
        if !scan_first {
            ranges.push_back(Range {
                lo: frontier.clone(),
                hi: None,
                limit: run.page_rows(pace),
            });
        }
        Ok(Self {
            run,
            target,
            skip_main,
            pace,
            query,
            frontier,
            ranges,
            planned: !scan_first,
            ready: VecDeque::new(),
            finishing: false,
            // A range's key is built by the swap, once every range is in.
            key_built: run.pk_pg.is_empty() || target != Target::Staging,
            building: false,
        })
    }

    /// Reads and writes every page of the phase; returns whether the deadline stopped it (its
    /// checkpoint saved).
    ///
    /// # Errors
    /// The first failed read, pre-scan or write; pages written before it stay checkpointed.
    pub(super) async fn run(
        mut self,
        cp: &mut Checkpoint,
        progress: &mut Progress,
        budget: &Budget,
        clock: &mut PageClock,
    ) -> Result<bool> {
        use futures::stream::{FuturesOrdered, StreamExt};
        let run = self.run;
        let reader = run.reader(&self.query.keys);
        let reader = &reader;
        let table = run.t.table.sql();
        let table = table.as_str();
        let mut reads = FuturesOrdered::new();
        let mut writing = None;
        let mut scanning = None;
        loop {
            if scanning.is_none() {
                if let Some(per_page) = self.scan_due() {
                    let sql = self.query.boundary_sql(
                        table,
                        self.frontier.as_deref(),
                        per_page,
                        SCAN_PAGES,
                    );
                    scanning = Some(Box::pin(async move {
                        reader.boundaries(&sql).await.map(|b| (b, per_page))
                    }));
                }
            }
            while let Some(range) = self.next_read(reads.len()) {
                reads.push_back(reader.read(self.page_sql(table, &range), range));
            }
            if writing.is_none() {
                if let Some(w) = self.next_write(cp, progress, reads.len(), scanning.is_some()) {
                    writing = Some(Box::pin(run.write(
                        w.page,
                        self.target,
                        w.saved,
                        w.finished,
                        w.build_key,
                        self.pace,
                    )));
                }
            }
            if writing.is_none() && reads.is_empty() && scanning.is_none() && self.ranges.is_empty()
            {
                return Ok(false);
            }
            let event = tokio::select! {
                Some((range, page)) = reads.next(), if !reads.is_empty() => Event::Read(range, page),
                wrote = maybe(&mut writing) => Event::Wrote(wrote),
                scanned = maybe(&mut scanning) => Event::Scanned(scanned),
            };
            match event {
                Event::Scanned(scanned) => {
                    scanning = None;
                    let (bounds, per_page) = scanned?;
                    self.on_scanned(bounds, per_page);
                }
                Event::Read(range, page) => {
                    if let Some(rest) = self.on_read(range, page?) {
                        reads.push_front(reader.read(self.page_sql(table, &rest), rest));
                    }
                }
                Event::Wrote(wrote) => {
                    writing = None;
                    self.building = false;
                    let slowest = run.page_written(wrote, cp, progress, clock)?;
                    // Stop at any page boundary but the run's last, a phase's end included.
                    if !self.finishing && budget.should_stop(slowest) {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// The query of a range's page.
    fn page_sql(&self, table: &str, range: &Range) -> String {
        self.query
            .page_sql(table, range.lo.as_deref(), range.hi.as_deref(), range.limit)
    }

    /// The rows per range of a pre-scan to start now, if one is due: the phase is not planned
    /// to its end, fewer ranges than are read at once are left, and pages have a measured size.
    fn scan_due(&self) -> Option<usize> {
        let run = self.run;
        (!self.planned
            && self.ranges.len() < run.read_ahead(self.pace)
            && !run.unmeasured_and_bounded(self.pace))
        .then(|| run.page_rows(self.pace))
    }

    /// The next range to read, given `in_flight` reads: [`READ_AHEAD`] reads in flight and one
    /// page read ahead of the writer; while the writer builds the key (a few hundred ms), two
    /// more, so reading does not stall.
    fn next_read(&mut self, in_flight: usize) -> Option<Range> {
        let read_ahead = self.run.read_ahead(self.pace);
        let ahead = if self.building {
            read_ahead + 2
        } else {
            read_ahead
        };
        if in_flight < read_ahead && in_flight + self.ready.len() <= ahead {
            self.ranges.pop_front()
        } else {
            None
        }
    }

    /// The next page to write, if one is read, with the checkpoint it leaves; counts it in
    /// `cp` and `progress`.
    fn next_write(
        &mut self,
        cp: &mut Checkpoint,
        progress: &mut Progress,
        in_flight: usize,
        scanning: bool,
    ) -> Option<Write> {
        let (range, page, full) = self.ready.pop_front()?;
        cp.rows += page.rows as u64;
        cp.pages += 1;
        progress.rows_read += page.rows as u64;
        progress.pages += 1;
        let bound = if full {
            page.max.as_ref()
        } else {
            range.hi.as_ref()
        };
        // No bound: the phase's last page. The checkpoint moves on to the next phase, or the
        // run is finished (the watermark write follows, no checkpoint).
        let last = bound.is_none();
        if let Some(bound) = bound {
            cp.after = Some(bound.iter().map(KeyValue::encode).collect());
        }
        let mut saved = cp.clone();
        let finished = last && (cp.phase == Phase::Main || self.skip_main);
        if last && !finished {
            saved.phase = Phase::Main;
            saved.after = None;
        }
        self.finishing = finished;
        self.building = !self.key_built
            && self.planned
            && !scanning
            && cp.phase == Phase::Main
            && in_flight + self.ready.len() + self.ranges.len() <= READ_AHEAD;
        self.key_built |= self.building;
        Some(Write {
            page,
            saved,
            finished,
            build_key: self.building,
        })
    }

    /// A pre-scan's boundaries become ranges of `per_page` rows; fewer than [`SCAN_PAGES`]
    /// mean the phase ends after them, so its last range is planned too.
    fn on_scanned(&mut self, bounds: Vec<Vec<KeyValue>>, per_page: usize) {
        let limit = per_page + per_page / 16 + 1;
        self.planned = bounds.len() < SCAN_PAGES;
        for hi in bounds {
            self.ranges.push_back(Range {
                lo: self.frontier.replace(hi.clone()),
                hi: Some(hi),
                limit,
            });
        }
        if self.planned {
            self.ranges.push_back(Range {
                lo: self.frontier.clone(),
                hi: None,
                limit,
            });
        }
    }

    /// A page read: it waits to be written. A full page means its range holds more rows than
    /// it did (or, for a first keyset page, that the phase goes on): returns the rest of the
    /// range to read next, or moves the frontier on for the pre-scans.
    fn on_read(&mut self, range: Range, page: Page) -> Option<Range> {
        let full = self.query.keyed() && page.rows >= range.limit;
        let mut rest = None;
        if full {
            if range.hi.is_some() {
                rest = Some(Range {
                    lo: page.max.clone(),
                    ..range.clone()
                });
            } else {
                self.frontier.clone_from(&page.max);
                self.planned = false;
            }
        }
        self.ready.push_back((range, page, full));
        rest
    }
}
