"""Statements that outlive their query-request: Snowflake's in-progress answers, polls and aborts.

A Statement runs as an asyncio task (through its session's queue, like any other); the
query-request answers its result if it finishes within `--async-after-ms`, else Snowflake's
in-progress body, and `GET /queries/<id>/result` serves it later. See README.md ("In-progress
answers").
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

# Snowflake's in-progress codes (snowflake-connector-python network.py QUERY_IN_PROGRESS_CODE,
# QUERY_IN_PROGRESS_ASYNC_CODE; gosnowflake errors.go queryInProgressCode, ...AsyncCode).
IN_PROGRESS = ("333333", "Query execution in progress. Query will be aborted unless request for result is received within 300 seconds.")
IN_PROGRESS_ASYNC = ("333334", "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.")
ABORTS_AFTER_SECS = 300
# gosnowflake errors.go queryNotExecutingCode: an abort of a statement that is not running
NOT_EXECUTING = ("000605", "Identified SQL statement is not currently executing.")
CANCELED = ("000604", "SQL execution canceled", "57014")
KEEP_DELIVERED_S = 60  # a delivered result stays pollable (clients re-GET it) this long
KEEP_UNCLAIMED_S = 600  # a finished result nobody fetched is dropped after this
MAX_RECORDED = 10_000  # request ids kept per user for /_emulator/request_ids
MAX_KEPT = 1_000  # finished statements kept at most, oldest dropped first


@dataclass
class Statement:
    """One statement of a session, from its query-request to its last poll."""

    qid: str
    request_id: str | None
    sql: str
    owner: Any  # the SessionState that sent it
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    result: dict | None = None
    finished_at: float | None = None
    delivered_at: float | None = None
    running: bool = False  # holds its session's queue (duckdb is executing it)

    @property
    def done(self) -> bool:
        return self.result is not None

    def status(self) -> str:
        """The status the monitoring endpoint reports (gosnowflake monitoring.go QueryStatus)."""
        if not self.done:
            return "RUNNING" if self.running else "QUEUED"
        if self.result.get("success"):
            return "SUCCESS"
        return "ABORTED" if self.result.get("code") == CANCELED[0] else "FAILED_WITH_ERROR"


class Registry:
    """Running and recently finished statements, by query id and by the client's requestId."""

    def __init__(self, after_ms: int, every: int):
        self.after_ms = after_ms
        self.every = every
        self.by_qid: dict[str, Statement] = {}
        self.by_request: dict[str, str] = {}
        self.aborts: collections.deque[dict] = collections.deque(maxlen=MAX_RECORDED)
        self.request_ids: dict[str, collections.deque] = {}
        self.seen_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.counts: dict[str, int] = {}  # user -> query-requests (the every-N rule)
        self.stats = {"in_progress": 0, "polls": 0, "retries_attached": 0}

    # ---- starting --------------------------------------------------------------------------

    def record_request(self, user: str, request_id: str | None, request_guid: str | None) -> bool:
        """Remember a query-request's ids; True when its requestId was seen before (a retry)."""
        seen = bool(request_id) and request_id in self.seen_ids
        if request_id:
            self.seen_ids[request_id] = None
            if len(self.seen_ids) > MAX_RECORDED * 10:
                self.seen_ids.popitem(last=False)
        log = self.request_ids.setdefault(user, collections.deque(maxlen=MAX_RECORDED))
        log.append({"requestId": request_id, "request_guid": request_guid, "retry": seen})
        return seen

    def immediate(self, user: str) -> bool:
        """The every-N rule: every N-th query-request of a user is answered in progress at once."""
        self.counts[user] = self.counts.get(user, 0) + 1
        return self.every > 0 and self.counts[user] % self.every == 0

    def attach(self, request_id: str | None, sql: str) -> Statement | None:
        """The statement a retried query-request (same requestId and text) belongs to, if kept.

        Snowflake runs a requestId once: a client that retries a request it timed out on gets
        the statement already running, not a second run.
        """
        stmt = self.by_qid.get(self.by_request.get(request_id or "", ""))
        if stmt is not None and stmt.sql == sql:
            self.stats["retries_attached"] += 1
            return stmt
        return None

    def start(self, owner: Any, request_id: str | None, sql: str, run: Callable[[Statement], Awaitable[dict]]) -> Statement:
        self.sweep()
        stmt = Statement(qid=str(uuid.uuid4()), request_id=request_id, sql=sql, owner=owner)
        self.by_qid[stmt.qid] = stmt
        if request_id:
            self.by_request[request_id] = stmt.qid
        stmt.task = asyncio.ensure_future(self._run(stmt, run))
        return stmt

    @staticmethod
    async def _run(stmt: Statement, run: Callable[[Statement], Awaitable[dict]]) -> None:
        try:
            stmt.result = await run(stmt)
        finally:
            stmt.running = False
            stmt.finished_at = time.monotonic()

    # ---- answering ---------------------------------------------------------------------------

    async def wait(self, stmt: Statement, ms: int | None = None) -> bool:
        """Wait up to `ms` (default --async-after-ms) for the statement; True when it finished."""
        if not stmt.done and stmt.task is not None:
            await asyncio.wait({stmt.task}, timeout=(self.after_ms if ms is None else ms) / 1000)
        return stmt.done

    def deliver(self, stmt: Statement) -> dict:
        """The finished result; it stays pollable a while (python re-GETs /queries/<id>/result)."""
        stmt.delivered_at = stmt.delivered_at or time.monotonic()
        assert stmt.result is not None
        return stmt.result

    def in_progress(self, stmt: Statement, detached: bool = False) -> dict:
        """Snowflake's in-progress body: 333333 and 333334 alternate, so clients meet both
        (an asyncExec request is always answered 333334: the statement is detached).

        Fields from gosnowflake query.go execResponseData ("ping pong response data") and its
        test_data/wiremock/mappings/query/long_running_query.json; the drivers read
        data.getResultUrl (snowflake-connector-python network.py _post_request).
        """
        self.stats["in_progress"] += 1
        code, message = IN_PROGRESS if self.stats["in_progress"] % 2 and not detached else IN_PROGRESS_ASYNC
        return {
            "data": {
                "getResultUrl": f"/queries/{stmt.qid}/result",
                "progressDesc": None,
                "queryAbortsAfterSecs": ABORTS_AFTER_SECS,
                "queryId": stmt.qid,
            },
            "code": code,
            "message": message,
            "success": True,
        }

    # ---- aborting ----------------------------------------------------------------------------

    def abort(self, request_id: str | None = None, qid: str | None = None) -> dict:
        """Cancel a running statement, by the requestId of its query-request or by its query id."""
        stmt = self.by_qid.get(qid or self.by_request.get(request_id or "", ""))
        running = stmt is not None and not stmt.done
        self.aborts.append({"queryId": stmt.qid if stmt else qid, "requestId": request_id or (stmt.request_id if stmt else None), "canceled": running})
        if not running:
            code, message = NOT_EXECUTING
            return {"data": None, "code": code, "message": message, "success": False, "headers": None}
        stmt.cancel.set()
        return {"data": None, "code": None, "message": None, "success": True}

    # ---- housekeeping ------------------------------------------------------------------------

    def sweep(self) -> None:
        """Drop finished statements once delivered a while ago, or unclaimed for long, or the
        oldest beyond MAX_KEPT: the emulator must not grow without bound in a long benchmark."""
        now = time.monotonic()
        finished = sorted((s for s in self.by_qid.values() if s.finished_at is not None), key=lambda s: s.finished_at or 0)
        excess = len(finished) - MAX_KEPT
        for i, stmt in enumerate(finished):
            keep = KEEP_DELIVERED_S if stmt.delivered_at else KEEP_UNCLAIMED_S
            if i < excess or now - (stmt.delivered_at or stmt.finished_at or now) > keep:
                self.drop(stmt)

    def drop(self, stmt: Statement) -> None:
        self.by_qid.pop(stmt.qid, None)
        if stmt.request_id and self.by_request.get(stmt.request_id) == stmt.qid:
            del self.by_request[stmt.request_id]
