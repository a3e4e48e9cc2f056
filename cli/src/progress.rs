//! Progress of in-process pulls and pushes: a bar per table or export when stderr is a
//! terminal (rows, rows/s, pages, and an ETA when the source's row count is known), plain lines
//! otherwise (one per table at most every few seconds, and at the end), nothing with `--quiet`.
//! Bars are `indicatif`'s; they draw on stderr, so `--json` documents on stdout stay whole.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use snowsync::runner::{ObjectReport, Watcher};

/// How often a plain progress line is printed per table or export, at most.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The watcher for this process: bars on a terminal, lines otherwise, none when `quiet`.
pub fn watcher(quiet: bool) -> Option<Arc<dyn Watcher>> {
    if quiet {
        None
    } else if std::io::stderr().is_terminal() {
        Some(Arc::new(Bars::default()))
    } else {
        Some(Arc::new(Lines::default()))
    }
}

/// A bar per object on a terminal.
#[derive(Debug, Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, object: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(object).cloned()
    }
}

impl Watcher for Bars {
    fn started(&self, object: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:40} {human_pos:>12} rows  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(object.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(object.to_owned(), bar);
        }
    }

    fn wants_estimate(&self) -> bool {
        true
    }

    fn expect(&self, object: &str, rows: u64) {
        if let Some(bar) = self.bar(object) {
            bar.set_length(rows);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:40} [{bar:30}] {human_pos:>12}/{human_len} rows  eta {eta:>4}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
    }

    fn committed(&self, object: &str, rows: u64, pages: u64) {
        if let Some(bar) = self.bar(object) {
            bar.set_position(rows);
            let rate = rows as f64 / bar.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!("{rate:>9.0} rows/s  {pages} pages"));
        }
    }

    fn finished(&self, report: &ObjectReport) {
        if let Some(bar) = self
            .bars
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&report.object))
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

/// Plain lines on stderr when it is not a terminal (logs, CI).
#[derive(Debug, Default)]
struct Lines {
    started: Mutex<HashMap<String, (Instant, Instant)>>,
}

impl Watcher for Lines {
    fn started(&self, object: &str) {
        let now = Instant::now();
        if let Ok(mut s) = self.started.lock() {
            s.insert(object.to_owned(), (now, now));
        }
        eprintln!("{object}: started");
    }

    fn committed(&self, object: &str, rows: u64, pages: u64) {
        let Ok(mut s) = self.started.lock() else {
            return;
        };
        let Some((start, last)) = s.get_mut(object) else {
            return;
        };
        if last.elapsed() < LINE_EVERY {
            return;
        }
        *last = Instant::now();
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{object}: {rows} rows in {pages} pages, {:.0} rows/s",
            rows as f64 / secs.max(0.001)
        );
    }

    fn finished(&self, report: &ObjectReport) {
        if let Ok(mut s) = self.started.lock() {
            s.remove(&report.object);
        }
        eprintln!(
            "{}: {} after {} rows in {} pages",
            report.object,
            report.outcome.as_str(),
            report.rows_written,
            report.pages
        );
    }
}
