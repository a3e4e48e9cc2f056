//! The invocation's time: when it is killed, and when a run stops at a page or batch boundary
//! to continue in a fresh invocation instead.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How much of a run's time is left, from the Lambda deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// When the invocation is killed; `None` = no deadline (the CLI).
    pub deadline: Option<Instant>,
}

impl Budget {
    /// The budget of a Lambda invocation whose deadline is `deadline_ms` milliseconds since the
    /// epoch (the runtime's `Context::deadline`); 0 means none.
    pub fn from_deadline_ms(deadline_ms: u64) -> Self {
        if deadline_ms == 0 {
            return Self::default();
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let left = u128::from(deadline_ms).saturating_sub(now_ms);
        Self {
            deadline: Some(
                Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            ),
        }
    }

    /// The least time kept in hand when deciding whether to read another page.
    pub const MIN_MARGIN: Duration = Duration::from_secs(10);

    /// Whether to stop before the next page: the time left is below twice the slowest page
    /// seen so far (reading, writing and checkpointing it), and never below [`Self::MIN_MARGIN`].
    pub fn should_stop(&self, slowest_page: Duration) -> bool {
        self.deadline.is_some_and(|d| {
            d.saturating_duration_since(Instant::now()) < (slowest_page * 2).max(Self::MIN_MARGIN)
        })
    }
}
