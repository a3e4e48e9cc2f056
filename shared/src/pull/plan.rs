//! A run's plan and where it stopped: the plan kind, the phase, the checkpoint stored after
//! every page, and the stored keys it is built from.

use super::*;

/// What a run of one table does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum PlanKind {
    /// No cursor: read everything into the staging table, swap it in.
    FullRefresh,
    /// Cursor table, first run or `--backfill`: everything up to the upper bound into the
    /// staging table, swap it in, watermark = upper bound.
    Backfill,
    /// Cursor table: rows after the watermark (minus lookback) up to the upper bound, upserted
    /// into the live table.
    Incremental,
}

impl PlanKind {
    /// As run records name it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            PlanKind::FullRefresh => "full_refresh",
            PlanKind::Backfill => "backfill",
            PlanKind::Incremental => "incremental",
        }
    }
}

/// Which rows a backfill is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    /// Rows whose cursor is NULL (backfills only; keyset by primary key).
    NullCursor,
    /// Rows with a cursor up to the upper bound (keyset by cursor, then primary key); or every
    /// row of a full refresh (keyset by primary key).
    Main,
}

/// Where an unfinished run stopped, stored in DynamoDB after every committed page. A run that
/// finds one (after a crash, a timeout or a deadline hop) carries on from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) kind: PlanKind,
    pub(super) phase: Phase,
    /// Encoded upper bound of the cursor (`MAX(cursor)` when the run started); `None` when the
    /// table had no non-NULL cursor then.
    pub(super) upper: Option<String>,
    /// Encoded exclusive lower bound of an incremental run (watermark minus lookback).
    pub(super) lower: Option<String>,
    /// Encoded key tuple of the last committed row in the current phase.
    pub(super) after: Option<Vec<String>>,
    /// The source columns the run reads (a changed table restarts the run).
    pub(super) columns: Vec<String>,
    /// Rows and pages so far, over every invocation of the run.
    pub(super) rows: u64,
    /// Pages so far.
    pub(super) pages: u64,
    /// The `_snowsync_synced_at` (transaction start) of the last page committed into the
    /// staging table before this checkpoint. Rows stamped later belong to a page committed
    /// after it (a crash between the commit and the checkpoint) and are discarded on resume,
    /// so the staging table never holds a row twice.
    #[serde(default)]
    pub(super) staged_at: Option<String>,
    /// The checkpoint's format (0 when absent); one older than [`CHECKPOINT_FORMAT`] is not
    /// resumed: it may lack what a resume relies on (`staged_at`).
    #[serde(default)]
    pub(super) format: u8,
    /// Bytes per row of the last page encoded, so a continued run sizes its first page as
    /// measured instead of by the declared sizes (0 = not measured).
    #[serde(default)]
    pub(super) bytes_per_row: usize,
    /// A keyless read: the query whose result is being read, and the next part to write.
    #[serde(default)]
    pub(super) result: Option<ResultMark>,
    /// Every row is in the staging table: only the swap and the watermark are left. A run
    /// killed after the swap committed but before the watermark was stored finds no staging
    /// table and records the watermark instead of reading the table again.
    #[serde(default)]
    pub(super) read_all: bool,
    /// A backfill read in key ranges by workers of their own (`parallel_backfill`): the plan's
    /// id and the keys that split it (range `i` is `splits[i-1] < key <= splits[i]`, the first
    /// and last open-ended). Each range keeps a checkpoint of its own (see `ranges`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ranges: Option<RangePlan>,
    /// The range this checkpoint reads, of the plan with this id, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) range: Option<(String, u16)>,
    /// The encoded key tuple a range's main phase ends at (inclusive); `None`: the phase's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) stop: Option<Vec<String>>,
}

/// How a backfill is split into key ranges (see [`Checkpoint::ranges`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct RangePlan {
    /// Tells this plan's ranges from an earlier plan's.
    pub(super) id: String,
    /// The encoded key tuples between ranges, in key order.
    pub(super) splits: Vec<Vec<String>>,
}

impl RangePlan {
    /// How many ranges the plan has.
    pub(super) fn len(&self) -> usize {
        self.splits.len() + 1
    }

    /// Where range `i` starts (exclusive) and stops (inclusive), encoded; `None`: open.
    pub(super) fn bounds(&self, i: usize) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let lo = i.checked_sub(1).and_then(|j| self.splits.get(j)).cloned();
        (lo, self.splits.get(i).cloned())
    }
}

/// Where a keyless read stands in its one query's result (see `stream`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ResultMark {
    pub(super) query_id: String,
    /// The first part of the result not yet written (0 = the inline part).
    pub(super) next_part: usize,
}

/// The current [`Checkpoint::format`].
pub(super) const CHECKPOINT_FORMAT: u8 = 2;

impl Checkpoint {
    /// A new run's plan, before its first page.
    pub(super) fn start(
        kind: PlanKind,
        phase: Phase,
        upper: Option<String>,
        lower: Option<String>,
        columns: Vec<String>,
    ) -> Self {
        Self {
            kind,
            phase,
            upper,
            lower,
            after: None,
            columns,
            rows: 0,
            pages: 0,
            staged_at: None,
            format: CHECKPOINT_FORMAT,
            bytes_per_row: 0,
            result: None,
            read_all: false,
            ranges: None,
            range: None,
            stop: None,
        }
    }
}

pub(super) fn decode_key(s: &str, what: &str) -> Result<KeyValue> {
    KeyValue::decode(s).map_err(|e| {
        SyncError::config(format!(
            "stored {what} is unreadable ({e}): run snowsync pull --backfill to reset it"
        ))
    })
}

/// An encoded key tuple (a checkpoint's), decoded.
pub(super) fn decode_tuple(s: Option<&Vec<String>>, what: &str) -> Result<Option<Vec<KeyValue>>> {
    s.map(|a| a.iter().map(|v| decode_key(v, what)).collect())
        .transpose()
}

pub(super) fn decode_opt(s: &Option<String>, what: &str) -> Result<Option<KeyValue>> {
    s.as_deref().map(|v| decode_key(v, what)).transpose()
}

/// `value - lookback` for a timestamp or date cursor.
pub(super) fn minus_lookback(
    value: &KeyValue,
    lookback: Duration,
    cursor: &Ident,
) -> Result<KeyValue> {
    let nanos = i128::try_from(lookback.as_nanos()).unwrap_or(i128::MAX);
    Ok(match value {
        KeyValue::TimestampNtz(n) => KeyValue::TimestampNtz(n - nanos),
        KeyValue::TimestampLtz(n) => KeyValue::TimestampLtz(n - nanos),
        KeyValue::TimestampTz {
            nanos: n,
            offset_minutes,
        } => KeyValue::TimestampTz {
            nanos: n - nanos,
            offset_minutes: *offset_minutes,
        },
        KeyValue::Date(d) => {
            let days = lookback.as_secs().div_ceil(86_400);
            KeyValue::Date(d.saturating_sub(i32::try_from(days).unwrap_or(i32::MAX)))
        }
        _ => {
            return Err(SyncError::config(format!(
                "lookback needs a timestamp or date cursor, but {cursor} is not one: remove lookback from [[pull]]"
            )))
        }
    })
}

/// A table's work beside its pulls (a reconciliation, a column backfill): its checkpoint, kept
/// apart from the pull's, written conditional on the table's lease.
pub(super) struct SideJob<'a> {
    pub(super) deps: &'a Deps,
    pub(super) tenant: &'a TenantId,
    pub(super) object: &'a str,
    pub(super) run_id: &'a str,
    pub(super) side: crate::state::Side,
}

impl SideJob<'_> {
    /// A stored checkpoint, if there is one and it reads (one that does not starts over).
    pub(super) fn parse<T: serde::de::DeserializeOwned>(stored: Option<&str>) -> Option<T> {
        stored.and_then(|c| serde_json::from_str(c).ok())
    }

    pub(super) async fn save<T: Serialize>(&self, mark: &T) -> Result<()> {
        let text = serde_json::to_string(mark)
            .map_err(|e| SyncError::transient(format!("encode checkpoint: {e}")))?;
        self.deps
            .state
            .save_side_checkpoint(
                self.tenant,
                (self.side, self.object),
                self.run_id,
                &text,
                self.deps.settings.lease_ttl,
            )
            .await
    }

    pub(super) async fn complete(&self) -> Result<()> {
        self.deps
            .state
            .complete_side(self.tenant, (self.side, self.object), self.run_id)
            .await
    }
}
