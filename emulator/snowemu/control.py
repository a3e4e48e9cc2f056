"""The `/_emulator/*` endpoints: how tests arm faults, expire sessions and read what the emulator
saw (JWTs, query tags, counts, recorded SQL, sessions, request ids, aborts, chunk and in-progress
statistics, the flags and code in force). README.md, "`/_emulator` endpoints".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from . import digest, faults, in_progress
from .asgi import Receive, Scope, Send, read_body, send_json
from .chunked import ChunkStore
from .realism import Realism
from .stages import Stages
from .state import SessionState, closed_sessions, last_jwt, query_counts, query_tags, recorded_sql, rows_returned, sessions

# sha256 of the emulator's files as loaded: /_emulator/config reports it, so `scripts/stack up`
# and the smoke test can tell a stale running emulator
CODE_DIGEST = digest.code_digest()


class Control:
    """The `/_emulator/*` endpoints over the layer's state, registry and chunk store."""

    def __init__(self, realism: Realism, registry: in_progress.Registry, chunks: ChunkStore | None, stages: Stages, record_sql: bool = False):
        self.stages = stages
        self.realism = realism
        self.registry = registry
        self.chunks = chunks
        self.record_sql = record_sql

    async def endpoint(self, path: str, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        if path == "/_emulator/health":
            await send_json(send, {"ok": True})
        elif path == "/_emulator/stage_stats" and method == "GET":
            await send_json(send, self.stages.stats())
        elif path == "/_emulator/last_jwt" and method == "GET":
            user = query.get("user", "").upper()
            if user in last_jwt:
                await send_json(send, {"token": last_jwt[user]})
            else:
                await send_json(send, {"token": None, "error": f"no JWT login recorded for {user!r}"}, status=404)
        elif path == "/_emulator/query_tags" and method == "GET":
            await send_json(send, list(query_tags))
        elif path == "/_emulator/expire_sessions" and method == "POST":
            await read_body(receive)
            for s in sessions.values():
                s.expired = True
            await send_json(send, {"expired": len(sessions)})
        elif path == "/_emulator/expire_results" and method == "POST":
            # every persisted result gone, as if its 24 hours had passed
            await read_body(receive)
            await send_json(send, {"expired": self.chunks.expire() if self.chunks else 0})
        elif path == "/_emulator/faults" and method == "POST":
            await send_json(send, faults.arm(json.loads(await read_body(receive) or b"{}")))
        elif path == "/_emulator/faults" and method == "GET":
            await send_json(send, faults.report(query.get("user", "").upper()))
        elif path == "/_emulator/query_count" and method == "GET":
            # query requests received from one user's sessions, ALTER SESSION included, and the
            # rows of result data returned to them
            user = query.get("user", "").upper()
            await send_json(send, {"user": user, "queries": query_counts.get(user, 0), "rows": rows_returned.get(user, 0)})
        elif path == "/_emulator/queries" and method == "GET":
            # the SELECTs one user's sessions sent (--record-sql only), for replaying them raw
            user = query.get("user", "").upper()
            await send_json(send, {"user": user, "recording": self.record_sql, "sql": recorded_sql.get(user, [])})
        elif path == "/_emulator/sessions" and method == "GET":
            # open sessions, then those their clients closed (`"closed": true`)
            await send_json(send, [session_summary(s) for s in [*sessions.values(), *closed_sessions]])
        elif method == "GET" and path in ("/_emulator/aborts", "/_emulator/request_ids", "/_emulator/chunk_stats", "/_emulator/async_stats", "/_emulator/config"):
            await send_json(send, self.realism_endpoint(path, query))
        else:
            await send_json(send, {"error": f"unknown emulator endpoint {method} {path}"}, status=404)

    def realism_endpoint(self, path: str, query: dict[str, str]) -> Any:
        """The read-only test endpoints of the realistic behaviours."""
        if path == "/_emulator/aborts":
            return list(self.registry.aborts)
        if path == "/_emulator/request_ids":
            return list(self.registry.request_ids.get(query.get("user", "").upper(), ()))
        if path == "/_emulator/chunk_stats":
            return self.chunks.summary() if self.chunks else {"served": 0, "refused_403": 0, "faults_503": 0, "faults_cut": 0, "results_chunked": 0}
        if path == "/_emulator/async_stats":
            return dict(self.registry.stats)
        return {k: getattr(self.realism, k) for k in Realism.__dataclass_fields__} | {"chunk_port": self.chunks.port if self.chunks else None, "code": CODE_DIGEST}


def session_summary(s: SessionState) -> dict:
    return {
        "sessionId": s.session_id,
        "user": s.user,
        "role": s.role,
        "warehouse": s.warehouse,
        "expired": s.expired,
        "queryTag": s.params.get("QUERY_TAG"),
        "params": s.effective(),  # the defaults in force, overridden by login and ALTER SESSION
        "honoured": s.honour,
        "clientAppId": s.client_app,
        "closed": s.closed,
    }
