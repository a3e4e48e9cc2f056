"""The HTTP side of statements that outlive their query-request (in-progress mode): polls of
`GET /queries/<id>/result`, aborts, and `GET /monitoring/queries/<id>`; and, in every mode, a
chunked result read again by its query id (Snowflake persists results for 24 hours).

in_progress.Registry holds the statements and their answers; this module checks each request's
session and serves them. README.md, "In-progress answers".
"""

from __future__ import annotations

import json
import logging

from . import in_progress
from .asgi import Receive, Scope, Send, decode_body, read_body, send_json, session_token
from .chunked import ChunkStore
from .login import Logins
from .wire import ABORT_PATH, MONITOR_PATH, RESULT_PATH, error_body

logger = logging.getLogger("snowsync.emulator")


class StatementRoutes:
    """The routes of in-progress statements, served only in in-progress mode."""

    def __init__(self, logins: Logins, registry: in_progress.Registry, chunks: ChunkStore | None = None):
        self.logins = logins
        self.registry = registry
        self.chunks = chunks

    async def route(self, path: str, method: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve a poll, an abort or a monitoring request; False when the path is none of them."""
        if method == "GET" and (m := RESULT_PATH.match(path)):
            await self.poll(m.group(1), scope, send)
        elif method == "POST" and path == "/queries/v1/abort-request":
            await self.abort(None, scope, receive, send)
        elif method == "POST" and (m := ABORT_PATH.match(path)):
            await self.abort(m.group(1), scope, receive, send)
        elif method == "GET" and (m := MONITOR_PATH.match(path)) and m.group(1) in self.registry.by_qid:
            stmt = self.registry.by_qid[m.group(1)]
            await send_json(send, {"data": {"queries": [{"id": stmt.qid, "status": stmt.status()}]}, "code": None, "message": None, "success": True})
        else:
            return False
        return True

    async def poll(self, qid: str, scope: Scope, send: Send) -> None:
        """GET /queries/<id>/result: the finished result, or in progress again after waiting up
        to --async-after-ms (the drivers loop on 333333/333334: network.py, restful.go)."""
        problem, state, _ = self.logins.session_of(session_token(scope))
        if problem is not None:
            await send_json(send, problem)
            return
        assert state is not None
        stmt = self.registry.by_qid.get(qid)
        if stmt is not None and stmt.owner.user != state.user:
            stmt = None
        if stmt is not None:
            self.registry.stats["polls"] += 1
            if not await self.registry.wait(stmt):
                await send_json(send, self.registry.in_progress(stmt))
                return
        # a chunked result is read from the persisted copy (fresh URLs), or is gone with it
        persisted = self.chunks.persisted(qid, state.user) if self.chunks else None
        if persisted is not None:
            await send_json(send, {"data": persisted, "code": None, "message": None, "success": True})
        elif stmt is not None and not ((stmt.result or {}).get("data") or {}).get("chunks"):
            await send_json(send, self.registry.deliver(stmt))
        else:
            await send_json(send, error_body("000709", f"Statement {qid} not found", "02000", query_id=qid))

    async def abort(self, qid: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /queries/v1/abort-request {"requestId"[, "sqlText"]} (python connection.py
        _cancel_query, gosnowflake restful.go cancelQuery) or /queries/<id>/abort-request."""
        raw = await read_body(receive)
        problem, state, _ = self.logins.session_of(session_token(scope))
        if problem is not None:
            await send_json(send, problem)
            return
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        request_id = str(body["requestId"]) if isinstance(body, dict) and body.get("requestId") else None
        resp = self.registry.abort(request_id=request_id, qid=qid)
        logger.warning("abort of %s by %s: %s", qid or request_id, state.user if state else "?", resp.get("code") or "canceled")
        await send_json(send, resp)
