"""The query-request: one statement of a session, from its request to its final answer.

Statements of a session run one at a time in its queue (fakesnow refuses a second one on a busy
connection; Snowflake accepts them), each interruptible by an abort or the session's statement
timeout. Before fakesnow sees a statement this module answers what Snowflake would refuse (the
designated missing warehouse and database, the no-write role) and what fakesnow cannot run
(ALTER SESSION), and rewrites the SQL the way the session's parameters make Snowflake read it.
Session expiry (`--expire-every`), injected faults and the in-progress dispatch happen here too;
results.py shapes the answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any, Awaitable
from urllib.parse import parse_qs

from . import access, faults, in_progress, parameters, results, user_keys
from .stages import Stages, headers_of
from .asgi import (
    Captured,
    Receive,
    Scope,
    Send,
    acquire_unless,
    call_inner,
    decode_body,
    disconnected,
    interrupt,
    read_body,
    send_json,
    session_token,
    wait_unless,
    with_session_token,
)
from .chunked import ChunkStore
from .login import Logins
from .realism import Realism
from .state import RECORD_SQL_MAX, SessionState, query_counts, recorded_sql
from .wire import (
    CONTEXT_FUNCTIONS,
    MISSING_DATABASE,
    NO_WRITE_ROLE,
    STATEMENT_TIMEOUT,
    WRITE_KEYWORDS,
    context_literal,
    display_name,
    error_body,
    expired_body,
    first_keywords,
    parse_alter_session,
    strip_leading_comments,
    system_wait,
    write_target,
)

logger = logging.getLogger("snowsync.emulator")
SqlError = parameters.SqlError


class Queries:
    """`POST /queries/v1/query-request`: each statement run to its answer, or in progress."""

    def __init__(
        self, app: Any, logins: Logins, realism: Realism, registry: in_progress.Registry, chunks: ChunkStore | None, stages: Stages, record_sql: bool = False
    ):
        self.app = app
        self.stages = stages
        self.logins = logins
        self.realism = realism
        self.registry = registry
        self.chunks = chunks
        self.record_sql = record_sql  # --record-sql: keep each user's SELECTs for /_emulator/queries

    async def query(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        problem, state, conn = self.logins.session_of(session_token(scope))
        if problem is not None:
            await send_json(send, problem)
            return
        assert state is not None
        body_bytes = decode_body(scope, raw)
        try:
            body = json.loads(body_bytes)
            sql = str(body.get("sqlText") or "")
        except (ValueError, AttributeError):
            await send_json(send, error_body("000603", "SQL execution internal error: request body is not JSON", "XX000"))
            return

        query_counts[state.user] = query_counts.get(state.user, 0) + 1
        words = first_keywords(sql)
        if self.record_sql and words[:1] == ["SELECT"] and len(sql) <= RECORD_SQL_MAX:
            recorded_sql.setdefault(state.user, []).append(sql)
        params = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        self.registry.record_request(state.user, params.get("requestId"), params.get("request_guid"))
        if self.session_expires_now(state):
            await send_json(send, expired_body())
            return
        slow_s = 0.0
        # ALTER SESSION never met injected faults (fault schedules count the other statements)
        if not (words[:2] == ["ALTER", "SESSION"] and parse_alter_session(sql) is not None):
            answered, slow_s = await faults.inject(state, send)
            if answered:
                return

        if not self.realism.background:
            await send_json(send, await self.execute(scope, receive, state, conn, body, body_bytes, sql, None, slow_s))
            return
        stmt = self.registry.attach(params.get("requestId"), sql)
        if stmt is None:
            stmt = self.registry.start(
                state, params.get("requestId"), sql, lambda st: self.execute(scope, disconnected, state, conn, body, body_bytes, sql, st, slow_s)
            )
        detached = body.get("asyncExec") is True  # the client polls for it (python execute_async)
        if not detached and not self.registry.immediate(state.user) and await self.registry.wait(stmt):
            await send_json(send, self.registry.deliver(stmt))
        else:
            await send_json(send, self.registry.in_progress(stmt, detached))

    def session_expires_now(self, state: SessionState) -> bool:
        """--expire-every N: the N-th query-request of a session finds it expired (390112)."""
        state.requests += 1
        every = self.realism.expire_every
        if every and state.requests % every == 0:
            state.expired = True
            logger.warning("session %s expired at its query-request %s", state.session_id, state.requests)
            return True
        return False

    async def execute(
        self, scope: Scope, receive: Receive, state: SessionState, conn: Any, body: dict, body_bytes: bytes, sql: str, stmt: Any, slow_s: float = 0.0
    ) -> dict:
        """Run one statement to its final answer (what a synchronous query-request answers)."""
        try:
            resp = await self.run_statement(scope, receive, state, conn, body, body_bytes, sql, stmt, slow_s)
        except SqlError as e:
            resp = error_body(e.code, e.message, e.sql_state)
        if stmt is not None and isinstance(resp.get("data"), dict) and "queryId" in resp["data"]:
            resp["data"]["queryId"] = stmt.qid
        return resp

    async def run_statement(
        self, scope: Scope, receive: Receive, state: SessionState, conn: Any, body: dict, body_bytes: bytes, sql: str, stmt: Any, slow_s: float
    ) -> dict:
        words = first_keywords(sql)
        keyword = words[0] if words else ""
        # ALTER SESSION SET/UNSET: fakesnow only knows AUTOCOMMIT and QUOTED_IDENTIFIERS_IGNORE_CASE
        if keyword == "ALTER" and len(words) > 1 and words[1] == "SESSION":
            parsed = parse_alter_session(sql)
            if parsed is not None:
                return await self.alter_session(scope, receive, state, conn, parsed)

        # CREATE / ALTER / DROP USER: fakesnow has no users; their registered keys live here
        if keyword in ("CREATE", "ALTER", "DROP") and user_keys.statement(sql):
            return results.status_result(state, conn)
        # roles, grants, network policies: fakesnow cannot parse them; answered, not enforced
        if access.statement(sql):
            return results.status_result(state, conn)

        if state.no_warehouse and re.search(r"\bFROM\b", sql, re.IGNORECASE):
            # Snowflake runs metadata-only statements (SHOW, SELECT CURRENT_ROLE()) without a
            # warehouse, and fails anything that reads a table
            message = "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command."
            return error_body("000606", message, "57P03")

        if MISSING_DATABASE in sql.upper():
            message = f"Database '{MISSING_DATABASE}' does not exist or not authorized."
            return error_body("002003", message, "02000")

        if state.role == NO_WRITE_ROLE and keyword in WRITE_KEYWORDS:
            kind, name = write_target(sql)
            message = f"SQL access control error:\nInsufficient privileges to operate on {kind} '{display_name(name)}'"
            logger.warning("role %s denied: %s", state.role, sql[:200])
            return error_body("003001", message, "42501")

        if keyword == "COPY" and (refused := self.stages.before_copy(state.session_id)) is not None:
            return refused

        run_sql = self.as_snowflake_reads_it(state, sql)
        wait_s, run_sql = system_wait(run_sql)
        wait_s += slow_s
        if run_sql != sql:
            body_bytes = json.dumps({**body, "sqlText": run_sql}).encode()
        timeout = state.timeout_seconds() if state.honour else None
        res, interrupted = await self.run_queued(state, conn, scope, receive, body_bytes, stmt, timeout, wait_s)
        if interrupted == "canceled":
            return error_body(*in_progress.CANCELED)
        if interrupted == "timeout":
            code, message, sql_state = STATEMENT_TIMEOUT
            return error_body(code, message.format(timeout), sql_state)
        assert res is not None
        resp = res.json()
        if keyword == "USE" and len(words) > 1 and words[1] == "ROLE" and isinstance(resp, dict) and resp.get("success"):
            # fakesnow treats USE ROLE as a no-op; track it so finalRoleName and the no-write role follow
            if m := re.match(r"^USE\s+ROLE\s+(\"[^\"]*\"|[^\s;]+)", strip_leading_comments(sql), re.IGNORECASE):
                state.role = display_name(m.group(1))
        shaped = results.shape_query_response(res, resp, state, conn, sql)
        if keyword == "PUT" and shaped.get("success") and isinstance(shaped.get("data"), dict):
            qid = stmt.qid if stmt is not None else str(uuid.uuid4())
            shaped["data"]["queryId"] = qid
            base = f"{scope.get('scheme', 'http')}://{headers_of(scope).get('host', '127.0.0.1')}"
            self.stages.put_answer(shaped["data"], base, state.session_id, qid, state.user)
        results.finish_result(shaped, state, stmt.qid if stmt is not None else None, self.chunks)
        return shaped

    def as_snowflake_reads_it(self, state: SessionState, sql: str) -> str:
        """The statement fakesnow runs: the session's input formats and quoted-identifier rule
        applied (honoured sessions only), and CURRENT_ROLE()/CURRENT_WAREHOUSE() answered."""
        if state.honour:
            sql = parameters.apply_input_formats(sql, state.input_formats())
            if parameters.truthy(state.param("QUOTED_IDENTIFIERS_IGNORE_CASE")):
                sql = parameters.fold_quoted_identifiers(sql)
        # fakesnow lacks CURRENT_WAREHOUSE() and does not know our session's role: answer both
        # from the session, as Snowflake would.
        return CONTEXT_FUNCTIONS.sub(lambda m: context_literal(m.group(1), state), sql)

    async def run_queued(
        self, state: SessionState, conn: Any, scope: Scope, receive: Receive, body: bytes, stmt: Any, timeout: int | None, wait_s: float
    ) -> tuple[Captured | None, str | None]:
        """Run the statement in its session's queue: (fakesnow's answer, None), or (None,
        "canceled"|"timeout") when an abort or STATEMENT_TIMEOUT_IN_SECONDS interrupted it."""
        cancel = stmt.cancel if stmt is not None else None
        if not await acquire_unless(state.busy, cancel):
            return None, "canceled"
        try:
            if stmt is not None:
                stmt.running = True
            deadline = asyncio.get_running_loop().time() + timeout if timeout else None
            if wait_s and not await wait_unless(min(wait_s, timeout or wait_s), cancel):
                return None, "canceled"
            if timeout and wait_s >= timeout:
                return None, "timeout"
            remaining = deadline - asyncio.get_running_loop().time() if deadline else None
            inner = call_inner(self.app, with_session_token(scope, state.token), body, receive)
            return await self.interruptible(conn, inner, cancel, remaining)
        finally:
            state.busy.release()

    @staticmethod
    async def interruptible(conn: Any, inner: Awaitable[Captured], cancel: asyncio.Event | None, timeout: float | None) -> tuple[Captured | None, str | None]:
        """Await fakesnow, interrupting duckdb on an abort or a timeout.

        The statement runs in a worker thread that asyncio cannot cancel, so the session queue
        stays taken until duckdb has stopped (interrupt() until it raises), never longer.
        """
        task = asyncio.ensure_future(inner)
        if cancel is None and timeout is None:
            return await task, None
        waiters: set[asyncio.Future] = {task}
        canceled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        if canceled is not None:
            waiters.add(canceled)
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if canceled is not None:
            canceled.cancel()
        if task.done():
            return task.result(), None
        while not task.done():
            interrupt(conn)
            await asyncio.wait({task}, timeout=0.05)
        return None, "canceled" if cancel is not None and cancel.is_set() else "timeout"

    async def alter_session(self, scope: Scope, receive: Receive, state: SessionState, conn: Any, parsed: tuple[str, dict[str, Any]]) -> dict:
        action, items = parsed
        unknown = parameters.unknown_parameter(items)
        if unknown is not None:
            raise unknown
        if "AUTOCOMMIT" in items and action == "SET":
            # fakesnow implements this one, with a side effect on the connection
            sub = json.dumps({"sqlText": f"ALTER SESSION SET AUTOCOMMIT = {items['AUTOCOMMIT']}", "asyncExec": False, "sequenceId": 1, "isInternal": False}).encode()
            async with state.busy:
                res = await call_inner(self.app, scope, sub, receive)
            shaped = results.shape_query_response(res, res.json(), state, conn, "ALTER SESSION SET AUTOCOMMIT")
            if not shaped.get("success"):
                return shaped
        if state.honour and "TIMEZONE" in items:
            zone = items["TIMEZONE"] if items["TIMEZONE"] is not None else state.defaults.get("TIMEZONE")
            async with state.busy:
                await self.logins.apply_timezone(state, str(zone))
        self.logins.record_params(state, items)
        logger.info("session %s: ALTER SESSION %s %s", state.session_id, action, items)
        return results.status_result(state, conn)
