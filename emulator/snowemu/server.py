"""The Snowflake emulator's server: fakesnow's server behind a Snowflake-shaped layer.

fakesnow 0.12.1 (server mode) speaks the Snowflake REST protocol well enough for the Python
connector, which is lenient. The Rust client (`snowflake-api` 0.14) deserialises responses into
strict structs, so this layer adds the fields it requires, reshapes errors into Snowflake's real
error shape, answers what fakesnow rejects (ALTER SESSION), fixes NULL timestamps in arrow
results, and adds a few designated test users/roles and `/_emulator/*` endpoints for tests.
See emulator/README.md. This module holds the layer itself (SnowflakeShape: login, query-requests,
sessions' life, the endpoints); Snowflake's texts are in wire.py, its in-memory state in
state.py, the ASGI plumbing in asgi.py and the fakesnow patch in patches.py.

With `--realistic` (or its single flags) it also behaves like real Snowflake where the drivers
must cope: in-progress answers and polls (in_progress.py), chunked results on a second listener
standing in for S3 (chunked.py), session and master token expiry, and hostile account
defaults (parameters.py).

Run: python -m snowemu --host 127.0.0.1 --port 8123 [--realistic]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import logging
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable
from urllib.parse import parse_qs, urlencode

import pyarrow as pa

from . import chunked, digest, in_progress, parameters
from .asgi import (
    Captured,
    CaptureHandler,
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
    send_text,
    session_token,
    wait_unless,
    with_session_token,
)
from .patches import patch_timestamp_struct
from .state import (
    RECORD_SQL_MAX,
    Fault,
    SessionState,
    faults,
    last_jwt,
    masters,
    new_session_id,
    query_counts,
    query_tags,
    recorded_sql,
    sessions,
)
from .wire import (
    ABORT_PATH,
    CONTEXT_FUNCTIONS,
    DESIGNATED_USERS,
    MASTER_VALIDITY_SECONDS,
    MISSING_DATABASE,
    MISSING_SCHEMA,
    MISSING_WAREHOUSE,
    MONITOR_PATH,
    NO_WRITE_ROLE,
    RESULT_PATH,
    SESSION_NOT_FOUND,
    STATEMENT_TIMEOUT,
    STATEMENT_TYPE_SCL,
    STATUS_ROWTYPE,
    TOKEN_MISSING,
    VALIDITY_SECONDS,
    WRITE_KEYWORDS,
    context_literal,
    display_name,
    error_body,
    expired_body,
    first_keywords,
    login_error_body,
    master_expired_body,
    parse_alter_session,
    strip_leading_comments,
    system_wait,
    write_target,
)

logger = logging.getLogger("snowsync.emulator")


# sha256 of the emulator's files as loaded: /_emulator/config reports it, so `scripts/stack up`
# and the smoke test can tell a stale running emulator
CODE_DIGEST = digest.code_digest()
SqlError = parameters.SqlError


@dataclass
class Realism:
    """Which real-Snowflake behaviours are on (0 = off); `--realistic` turns all on."""

    async_after_ms: int = 0
    async_every: int = 0
    chunk_rows: int = 0
    chunk_port: int = 0
    chunk_faults: int = 0
    expire_every: int = 0
    master_expire_every: int = 0
    hostile_defaults: bool = False


# the test values --realistic gives the flags it turns on (README.md lists them)
REALISTIC_VALUES = {"async_after_ms": 1000, "async_every": 5, "chunk_rows": 100, "chunk_faults": 7, "expire_every": 40, "master_expire_every": 3}
record_sql = False  # --record-sql: keep each user's SELECTs for /_emulator/queries (benchmarks)


class SnowflakeShape:
    def __init__(self, app: Any, fakesnow_server: Any, realism: Realism | None = None):
        self.app = app
        self.fs = fakesnow_server  # the fakesnow.server module (its `sessions` dict)
        self.realism = realism or Realism()
        self.registry = in_progress.Registry(self.realism.async_after_ms, self.realism.async_every)
        self.background = bool(self.realism.async_after_ms or self.realism.async_every)
        self.chunks = None
        if self.realism.chunk_rows > 0:
            self.chunks = chunked.ChunkStore(self.realism.chunk_rows, self.realism.chunk_faults, "127.0.0.1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path.startswith("//"):
            # snowflake-api 0.14 builds its token-request URL as ".../" + "/session/token-request"
            path = "/" + path.lstrip("/")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        try:
            if path.startswith("/_emulator/"):
                await self.emulator_endpoint(path, method, scope, receive, send)
            elif path == "/session/v1/login-request" and method == "POST":
                await self.login(scope, receive, send)
            elif path == "/queries/v1/query-request" and method == "POST":
                await self.query(scope, receive, send)
            elif path == "/session/token-request" and method == "POST":
                await self.token_request(scope, receive, send)
            elif path == "/session" and method == "POST":
                await self.close_session(scope, receive, send)
            elif not await self.statement_route(path, method, scope, receive, send):
                await self.app(scope, receive, send)
        except Exception as e:  # noqa: BLE001 - never answer a client with a bare 500
            logger.error("emulator layer failed on %s %s", method, path, exc_info=e)
            with contextlib.suppress(Exception):  # unless the response had already started
                await send_json(send, error_body("000603", f"SQL execution internal error: emulator: {type(e).__name__}: {e}", "XX000"))

    async def statement_route(self, path: str, method: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Polls, aborts and monitoring of the statements the layer runs itself (in-progress mode)."""
        if not self.background:
            return False
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

    # ---- /_emulator/* -----------------------------------------------------------------------

    async def emulator_endpoint(self, path: str, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        if path == "/_emulator/health":
            await send_json(send, {"ok": True})
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
        elif path == "/_emulator/faults" and method == "POST":
            # {"user": "U", "kind": "http_503"|"http_429"|"expired"|"delay", "every": k,
            #  "count": n, "delay_ms": ms}: every k-th query of user U's sessions fails (or is
            # delayed), n times. Scoped to one user so parallel tests never see each other's.
            spec = json.loads(await read_body(receive) or b"{}")
            user = str(spec.get("user", "")).upper()
            faults[user] = Fault(
                kind=str(spec.get("kind", "http_503")),
                every=max(1, int(spec.get("every", 1))),
                remaining=int(spec.get("count", 1)),
                delay_ms=int(spec.get("delay_ms", 0)),
                after=int(spec.get("after", 0)),
            )
            await send_json(send, {"user": user, "armed": faults[user].remaining})
        elif path == "/_emulator/faults" and method == "GET":
            user = query.get("user", "").upper()
            f = faults.get(user)
            await send_json(send, {"user": user, "injected": f.injected if f else 0, "remaining": f.remaining if f else 0})
        elif path == "/_emulator/query_count" and method == "GET":
            # query requests received from one user's sessions, ALTER SESSION included
            user = query.get("user", "").upper()
            await send_json(send, {"user": user, "queries": query_counts.get(user, 0)})
        elif path == "/_emulator/queries" and method == "GET":
            # the SELECTs one user's sessions sent (--record-sql only), for replaying them raw
            user = query.get("user", "").upper()
            await send_json(send, {"user": user, "recording": record_sql, "sql": recorded_sql.get(user, [])})
        elif path == "/_emulator/sessions" and method == "GET":
            await send_json(send, [self.session_summary(s) for s in sessions.values()])
        elif method == "GET" and path in ("/_emulator/aborts", "/_emulator/request_ids", "/_emulator/chunk_stats", "/_emulator/async_stats", "/_emulator/config"):
            await send_json(send, self.realism_endpoint(path, query))
        else:
            await send_json(send, {"error": f"unknown emulator endpoint {method} {path}"}, status=404)

    @staticmethod
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
        }

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

    # ---- login --------------------------------------------------------------------------------

    async def login(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        body["data"] = data
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}

        user = str(data.get("LOGIN_NAME") or "").upper()
        authenticator = str(data.get("AUTHENTICATOR") or "SNOWFLAKE").upper()
        authn_method = "KEY_PAIR" if authenticator == "SNOWFLAKE_JWT" else "PASSWORD"
        if authenticator == "SNOWFLAKE_JWT":
            # key-pair login: accepted like a password (the JWT is not verified), but recorded
            last_jwt[user] = str(data.get("TOKEN") or "")

        if user in DESIGNATED_USERS:
            code, message, next_action = DESIGNATED_USERS[user]
            logger.warning("login of designated user %s -> %s", user, code)
            await send_json(send, login_error_body(code, message, authn_method, next_action))
            return

        if not isinstance(data.get("SESSION_PARAMETERS"), dict):
            data["SESSION_PARAMETERS"] = {}  # fakesnow requires it
        forwarded = json.dumps(body).encode()
        # Designated missing objects: fakesnow creates the database and schema a login names,
        # so do not let it see these (real Snowflake logs in and leaves them unset).
        if (query.get("databaseName") or "").upper() == MISSING_DATABASE:
            query.pop("databaseName", None)
            query.pop("schemaName", None)
        if (query.get("schemaName") or "").upper() == MISSING_SCHEMA:
            query.pop("schemaName", None)
        scope = {**scope, "query_string": urlencode(query).encode()}
        res = await call_inner(self.app, scope, forwarded, receive)
        resp = res.json()
        if res.status != 200 or not isinstance(resp, dict) or not resp.get("success"):
            detail = "; ".join(res.errors) or res.body.decode(errors="replace")[:500]
            logger.error("fakesnow login failed (HTTP %s): %s", res.status, detail)
            await send_json(send, login_error_body("390100", f"Emulator login failed: {detail}", authn_method, None))
            return

        token = resp["data"]["token"]
        role = (query.get("roleName") or "PUBLIC").upper()
        warehouse = query.get("warehouse")
        no_warehouse = bool(warehouse and warehouse.upper() == MISSING_WAREHOUSE)
        if no_warehouse:
            warehouse = None  # a warehouse that does not exist leaves the session without one
        state = SessionState(
            token=token,
            master_token=secrets.token_urlsafe(32),
            session_id=new_session_id(),
            user=user,
            role=role,
            warehouse=warehouse and warehouse.upper(),
            no_warehouse=no_warehouse,
            client_app=str(data.get("CLIENT_APP_ID") or ""),
        )
        sessions[token] = state
        masters[state.master_token] = token
        await self.start_session(state, data["SESSION_PARAMETERS"])

        d = resp["data"]
        d["sessionId"] = state.session_id
        d["masterToken"] = state.master_token
        d["validityInSeconds"] = VALIDITY_SECONDS
        d["masterValidityInSeconds"] = MASTER_VALIDITY_SECONDS
        d.setdefault("parameters", [])
        if state.honour:
            ours = state.reported_parameters()
            names = {p["name"] for p in ours}
            d["parameters"] = [p for p in d["parameters"] if p.get("name") not in names] + ours
        d.setdefault("idToken", None)
        d.setdefault("mfaToken", None)
        info = d.setdefault("sessionInfo", {})
        info["roleName"] = role
        info["warehouseName"] = state.warehouse
        resp.setdefault("code", None)
        resp.setdefault("message", None)
        resp.setdefault("headers", None)
        await send_json(send, resp)

    async def start_session(self, state: SessionState, session_params: dict[str, Any]) -> None:
        """The parameters a new session starts with: the account's defaults, then the login's.

        SESSION_PARAMETERS of any name Snowflake knows count (python sends TIMEZONE and
        *_QUERY_RESULT_FORMAT there: connection.py); QUERY_TAG is recorded as before.
        """
        state.honour = self.realism.hostile_defaults or state.user == parameters.HOSTILE_USER
        state.defaults = dict(parameters.HOSTILE_DEFAULTS if state.honour else parameters.PLAIN_DEFAULTS)
        known = {str(k).upper(): v for k, v in session_params.items() if str(k).upper() in parameters.SESSION_PARAMETERS}
        known.pop("QUERY_TAG", None)
        state.params.update(known)
        if "QUERY_TAG" in session_params:
            self.record_params(state, {"QUERY_TAG": session_params["QUERY_TAG"]})
        if state.honour:
            with contextlib.suppress(SqlError):
                await self.apply_timezone(state, str(state.param("TIMEZONE")))

    async def apply_timezone(self, state: SessionState, zone: str) -> None:
        """Set the session's duckdb connection to TIMEZONE, so literals and CURRENT_TIMESTAMP
        are read in it (duckdb keeps TimeZone per connection; fakesnow pins the global to UTC)."""
        conn = self.fs.sessions.get(state.token)
        duck = getattr(conn, "_duck_conn", None)
        if duck is None:
            return
        try:
            await asyncio.to_thread(duck.execute, "SET TimeZone = ?", [zone])
        except Exception as e:  # noqa: BLE001 - duckdb's error for an unknown zone
            logger.warning("session %s: TIMEZONE %r refused by duckdb: %s", state.session_id, zone, e)
            raise SqlError("001008", f"SQL compilation error:\ninvalid value ['{zone}'] for parameter 'TIMEZONE'", "22023") from e

    def record_params(self, state: SessionState, items: dict[str, Any]) -> None:
        for name, value in items.items():
            if value is None:
                state.params.pop(name, None)
            else:
                state.params[name] = value
                if name == "QUERY_TAG":
                    query_tags.append(str(value))

    # ---- session renew / close ---------------------------------------------------------------

    async def token_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        master = session_token(scope)
        old_token = masters.get(master or "")
        state = sessions.get(old_token or "")
        if state is not None and state.master_dead:
            await send_json(send, master_expired_body())
            return
        if not old_token or old_token not in self.fs.sessions or state is None:
            code, message = SESSION_NOT_FOUND
            await send_json(send, {"data": {"errorCode": code, "authnMethod": None}, "code": code, "message": message, "success": False, "headers": None})
            return
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        state.renewals += 1
        every = self.realism.master_expire_every
        if every and state.renewals % every == 0:
            state.master_dead = state.expired = True
            logger.warning("session %s: master token expired (renewal %s)", state.session_id, state.renewals)
            await send_json(send, master_expired_body())
            return
        new_token = secrets.token_urlsafe(32)
        self.fs.sessions[new_token] = self.fs.sessions.pop(old_token)
        del sessions[old_token]
        state.token, state.expired = new_token, False
        sessions[new_token] = state
        masters[state.master_token] = new_token
        logger.info("renewed session %s (requestType=%s)", state.session_id, body.get("requestType") if isinstance(body, dict) else None)
        # gosnowflake restful.go renewSessionResponseMain; python network.py _renew_session
        await send_json(
            send,
            {
                "data": {
                    "sessionToken": new_token,
                    "validityInSecondsST": VALIDITY_SECONDS,
                    "masterToken": state.master_token,
                    "validityInSecondsMT": MASTER_VALIDITY_SECONDS,
                    "sessionId": state.session_id,
                },
                "code": None,
                "message": None,
                "success": True,
            },
        )

    async def close_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        token = session_token(scope)
        res = await call_inner(self.app, scope, decode_body(scope, raw), receive)
        resp = res.json()
        query = parse_qs(scope.get("query_string", b"").decode())
        if token and query.get("delete") and isinstance(resp, dict) and resp.get("success"):
            if state := sessions.pop(token, None):
                masters.pop(state.master_token, None)
        if not isinstance(resp, dict):
            resp = {"data": None, "code": None, "message": None, "success": res.status == 200}
        await send_json(send, resp, status=res.status)

    # ---- queries ------------------------------------------------------------------------------

    def session_of(self, token: str | None) -> tuple[dict | None, SessionState | None, Any]:
        """(error body, state, fakesnow connection) for a request's session token."""
        if not token:
            return error_body(*TOKEN_MISSING, sql_state="08001"), None, None
        state = sessions.get(token)
        if state and state.expired:
            return expired_body(), None, None
        conn = self.fs.sessions.get(token)
        if conn is None:
            return error_body(*SESSION_NOT_FOUND, sql_state="08001"), None, None
        if state is None:  # a fakesnow session we did not see log in; adopt it
            state = SessionState(token, secrets.token_urlsafe(32), new_session_id(), "", "PUBLIC", None)
            sessions[token] = state
            masters[state.master_token] = token
        return None, state, conn

    async def query(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        problem, state, conn = self.session_of(session_token(scope))
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
        if record_sql and words[:1] == ["SELECT"] and len(sql) <= RECORD_SQL_MAX:
            recorded_sql.setdefault(state.user, []).append(sql)
        params = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        self.registry.record_request(state.user, params.get("requestId"), params.get("request_guid"))
        if self.session_expires_now(state):
            await send_json(send, expired_body())
            return
        slow_s = 0.0
        # ALTER SESSION never met injected faults (fault schedules count the other statements)
        if not (words[:2] == ["ALTER", "SESSION"] and parse_alter_session(sql) is not None):
            answered, slow_s = await self.inject_fault(state, send)
            if answered:
                return

        if not self.background:
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

    async def inject_fault(self, state: SessionState, send: Send) -> tuple[bool, float]:
        """The faults armed by POST /_emulator/faults: (True when one answered the request,
        seconds a "slow" fault adds to the statement's own run)."""
        fault = faults.get(state.user)
        if not fault or fault.remaining <= 0:
            return False, 0.0
        fault.seen += 1
        if fault.seen <= fault.after or (fault.seen - fault.after) % fault.every != 0:
            return False, 0.0
        fault.remaining -= 1
        fault.injected += 1
        logger.warning("fault %s injected for %s (%s left)", fault.kind, state.user, fault.remaining)
        if fault.kind == "http_503":
            await send_text(send, 503, "Service Unavailable")
        elif fault.kind == "http_429":
            await send_text(send, 429, "Too Many Requests")
        elif fault.kind == "expired":
            state.expired = True
            await send_json(send, expired_body())
        elif fault.kind == "slow":
            # the statement itself runs longer (in its session's queue, abortable), so it is
            # answered in progress; "delay" holds the HTTP answer before the statement starts
            return False, fault.delay_ms / 1000
        else:
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
            return False, 0.0
        return True, 0.0

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
        shaped = self.shape_query_response(res, resp, state, conn, sql)
        self.finish_result(shaped, state, stmt.qid if stmt is not None else None)
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

    def finish_result(self, resp: dict, state: SessionState, qid: str | None) -> None:
        """What the realistic behaviours add to a successful result: the query id of an
        in-progress statement, the session's parameters and result format, qrmk and chunks."""
        data = resp.get("data")
        if not resp.get("success") or not isinstance(data, dict) or "rowtype" not in data:
            return
        if qid is not None:
            data["queryId"] = qid
        if state.honour:
            data["parameters"] = state.reported_parameters()
            if state.result_format() == "JSON" and data.get("queryResultFormat") == "arrow":
                as_json_result(data)
        if self.chunks is not None:
            self.chunks.split(data, str(data.get("queryId")))

    # ---- polls and aborts ----------------------------------------------------------------------

    async def poll(self, qid: str, scope: Scope, send: Send) -> None:
        """GET /queries/<id>/result: the finished result, or in progress again after waiting up
        to --async-after-ms (the drivers loop on 333333/333334: network.py, restful.go)."""
        problem, state, _ = self.session_of(session_token(scope))
        if problem is not None:
            await send_json(send, problem)
            return
        assert state is not None
        stmt = self.registry.by_qid.get(qid)
        if stmt is None or stmt.owner.user != state.user:
            await send_json(send, error_body("000709", f"Statement {qid} not found", "02000", query_id=qid))
            return
        self.registry.stats["polls"] += 1
        if await self.registry.wait(stmt):
            await send_json(send, self.registry.deliver(stmt))
        else:
            await send_json(send, self.registry.in_progress(stmt))

    async def abort(self, qid: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /queries/v1/abort-request {"requestId"[, "sqlText"]} (python connection.py
        _cancel_query, gosnowflake restful.go cancelQuery) or /queries/<id>/abort-request."""
        raw = await read_body(receive)
        problem, state, _ = self.session_of(session_token(scope))
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

    # ---- ALTER SESSION -----------------------------------------------------------------------

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
            shaped = self.shape_query_response(res, res.json(), state, conn, "ALTER SESSION SET AUTOCOMMIT")
            if not shaped.get("success"):
                return shaped
        if state.honour and "TIMEZONE" in items:
            zone = items["TIMEZONE"] if items["TIMEZONE"] is not None else state.defaults.get("TIMEZONE")
            async with state.busy:
                await self.apply_timezone(state, str(zone))
        self.record_params(state, items)
        logger.info("session %s: ALTER SESSION %s %s", state.session_id, action, items)
        return {
            "data": {
                "parameters": state.reported_parameters() if state.honour else [{"name": "TIMEZONE", "value": "Etc/UTC"}],
                "rowtype": STATUS_ROWTYPE,
                "rowset": [["Statement executed successfully."]],
                "total": 1,
                "returned": 1,
                "queryId": str(uuid.uuid4()),
                "statementTypeId": STATEMENT_TYPE_SCL,
                "queryResultFormat": "json",
                "version": 1,
                "finalDatabaseName": conn.database,
                "finalSchemaName": conn.schema,
                "finalWarehouseName": state.warehouse,
                "finalRoleName": state.role,
            },
            "code": None,
            "message": None,
            "success": True,
        }

    def shape_query_response(self, res: Captured, resp: Any, state: SessionState, conn: Any, sql: str) -> dict:
        if res.status == 200 and isinstance(resp, dict) and resp.get("success"):
            data = resp.get("data")
            if isinstance(data, dict) and "rowtype" in data:  # a query result (not PUT/GET stage data)
                data.setdefault("parameters", [{"name": "TIMEZONE", "value": "Etc/UTC"}])
                data.setdefault("total", 0)
                if isinstance(data.get("rowset"), list):
                    data["returned"] = len(data["rowset"])
                else:
                    data["returned"] = data["total"]
                data.setdefault("queryId", str(uuid.uuid4()))
                if data.get("queryId") is None:
                    data["queryId"] = str(uuid.uuid4())
                data.setdefault("statementTypeId", 0)
                data.setdefault("finalWarehouseName", state.warehouse)
                data["finalRoleName"] = state.role
                data.setdefault("version", 1)
            resp.setdefault("code", None)
            resp.setdefault("message", None)
            return resp

        if res.status == 200 and isinstance(resp, dict) and resp.get("success") is False:
            # fakesnow's ProgrammingError/OperationalError shape: add what Snowflake sends
            data = resp.get("data") if isinstance(resp.get("data"), dict) else {}
            code = str(resp.get("code") or data.get("errorCode") or "000603")
            message = str(resp.get("message") or "SQL execution error")
            # fakesnow's message is the connector's formatted error, "002003 (42S02): [None: ]...";
            # Snowflake sends the bare message (clients add the code themselves)
            message = re.sub(r"^\d{6} \([0-9A-Z]{5}\): (?:(?:None|[0-9a-fA-F-]{36}): )?", "", message)
            shaped = error_body(code, message, data.get("sqlState") or "42000")
            for k, v in data.items():
                if v is not None:
                    shaped["data"][k] = v
            shaped["data"]["errorCode"] = code
            return shaped

        # fakesnow's 500 "unhandled" (bug or unsupported feature), 401s, or non-JSON errors
        original = resp if resp is not None else res.body.decode(errors="replace")[:2000]
        logger.error("fakesnow answered HTTP %s for %r: %s; errors: %s", res.status, sql[:500], original, res.errors)
        if isinstance(resp, dict) and res.status == 401 and resp.get("code"):
            return error_body(str(resp["code"]), str(resp.get("message") or ""), "08001")
        detail = "; ".join(res.errors) or (resp.get("message") if isinstance(resp, dict) else None) or f"HTTP {res.status}"
        return error_body("000603", f"SQL execution internal error: {detail}", "XX000", type="INTERNAL")


def as_json_result(data: dict) -> None:
    """Turn an arrow result into Snowflake's JSON result format (queryResultFormat "json")."""
    encoded = data.pop("rowsetBase64", "") or ""
    columns: list[list[Any]] = []
    if encoded:
        table = pa.ipc.open_stream(base64.b64decode(encoded)).read_all()
        columns = [c.to_pylist() for c in table.columns]
    data["rowset"] = parameters.to_json_rows(columns, data.get("rowtype") or []) if columns else []
    data["queryResultFormat"] = "json"
    data["returned"] = len(data["rowset"])


def build_app(db_path: str | None = None, realism: Realism | None = None) -> Any:
    import warnings

    from starlette.applications import Starlette

    # duckdb warns on every arrow result fakesnow fetches; it is noise in .stack/snowflake.log
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")

    fakesnow_server = importlib.import_module("fakesnow.server")
    if db_path:
        # every login shares this instance (as with fakesnow's in-memory default), but each
        # database lives in db_path/<NAME>.db, so a restarted emulator still has the data
        os.makedirs(db_path, exist_ok=True)
        fakesnow_server.shared_fs = importlib.import_module("fakesnow.instance").FakeSnow(db_path=db_path)
    patch_timestamp_struct()
    # fakesnow.server binds its logger's handler *list* to uvicorn's (`logger.handlers = ...`), which
    # uvicorn's logging config later clears; give it its own (empty) list so its records just
    # propagate to the root logger, where the capture handler sits.
    logging.getLogger("fakesnow.server").handlers = []
    logging.getLogger().addHandler(CaptureHandler())
    inner = Starlette(routes=fakesnow_server.routes)
    return SnowflakeShape(inner, fakesnow_server, realism)
