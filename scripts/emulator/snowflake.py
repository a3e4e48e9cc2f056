"""Snowflake emulator for the local stack: fakesnow's server behind a Snowflake-shaped layer.

fakesnow 0.12.1 (server mode) speaks the Snowflake REST protocol well enough for the Python
connector, which is lenient. The Rust client (`snowflake-api` 0.14) deserialises responses into
strict structs, so this layer adds the fields it requires, reshapes errors into Snowflake's real
error shape, answers what fakesnow rejects (ALTER SESSION), fixes NULL timestamps in arrow
results, and adds a few designated test users/roles and `/_emulator/*` endpoints for tests.
See README.md next to this file.

Run: python scripts/emulator/snowflake.py --host 127.0.0.1 --port 8123
"""

from __future__ import annotations

import os
import sys

# This file is named snowflake.py: when run as a script its directory is sys.path[0], which would
# shadow the `snowflake` package (snowflake-connector-python, imported by fakesnow). Drop it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import asyncio
import contextlib
import contextvars
import gzip
import importlib
import json
import logging
import re
import secrets
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlencode

import pyarrow as pa

logger = logging.getLogger("snowsync.emulator")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# --------------------------------------------------------------------------------------------
# Patch: NULL timestamps in arrow results
# --------------------------------------------------------------------------------------------


def _patch_timestamp_struct() -> None:
    """Give fakesnow's timestamp structs a struct-level validity bitmap.

    fakesnow.arrow.timestamp_to_sf_struct builds StructArray.from_arrays(...) without a mask, so
    a NULL timestamp leaves NULLs in children declared non-nullable, which strict arrow readers
    (arrow-rs) reject. We fill the NULL slots with 0 before conversion and put the NULLs on the
    struct itself.
    """
    import fakesnow.arrow as fa

    original = getattr(fa.timestamp_to_sf_struct, "__wrapped_original__", fa.timestamp_to_sf_struct)

    def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if not pa.types.is_timestamp(ts.type) or ts.null_count == 0:
            return original(ts)
        mask = ts.is_null()  # True where NULL; has no nulls itself
        filled = ts.fill_null(pa.scalar(0, type=ts.type))
        struct = original(filled)
        children = [struct.field(i) for i in range(struct.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(struct.type), mask=mask)

    timestamp_to_sf_struct.__wrapped_original__ = original  # type: ignore[attr-defined]
    # to_sf looks the function up as a module global of fakesnow.arrow, but patch any module
    # that bound the name with `from fakesnow.arrow import timestamp_to_sf_struct` too.
    for name, module in list(sys.modules.items()):
        if (name == "fakesnow" or name.startswith("fakesnow.")) and getattr(
            module, "timestamp_to_sf_struct", None
        ) is original:
            setattr(module, "timestamp_to_sf_struct", timestamp_to_sf_struct)


# --------------------------------------------------------------------------------------------
# Designated test users / roles and Snowflake's real error texts
# --------------------------------------------------------------------------------------------

BLOCKED_IP = "203.0.113.7"

# LOGIN_NAME (upper-cased) -> (error code, message, nextAction)
DESIGNATED_USERS: dict[str, tuple[str, str, str | None]] = {
    "SNOWSYNC_WRONG_PASSWORD": ("390100", "Incorrect username or password was specified.", "RETRY_LOGIN"),
    "SNOWSYNC_IP_BLOCKED": (
        "390422",
        f"IP {BLOCKED_IP} is not allowed to access Snowflake.  Contact your local security administrator.",
        None,
    ),
}

NO_WRITE_ROLE = "SNOWSYNC_NO_WRITE"
# Designated objects that do not exist (fakesnow would create them): for `snowsync check`.
MISSING_WAREHOUSE = "SNOWSYNC_MISSING_WH"
MISSING_DATABASE = "SNOWSYNC_MISSING_DB"
MISSING_SCHEMA = "SNOWSYNC_MISSING_SCHEMA"
WRITE_KEYWORDS = {"INSERT", "MERGE", "UPDATE", "DELETE", "CREATE", "DROP", "TRUNCATE", "COPY"}

SESSION_EXPIRED = ("390112", "Your session has expired. Please login again.")
SESSION_NOT_FOUND = ("390104", "User must login again to access the service.")
TOKEN_MISSING = ("390103", "Session token not found in the request data.")

STATUS_ROWTYPE = [
    {
        "name": "status",
        "database": "",
        "schema": "",
        "table": "",
        "nullable": True,
        "type": "text",
        "byteLength": 16777216,
        "length": 16777216,
        "scale": None,
        "precision": None,
        "collation": None,
    }
]
STATEMENT_TYPE_SCL = 0x4000  # session control, eg: ALTER SESSION
VALIDITY_SECONDS = 3600
MASTER_VALIDITY_SECONDS = 14400

# --------------------------------------------------------------------------------------------
# In-memory state of the layer (one event loop thread, so no locking)
# --------------------------------------------------------------------------------------------


@dataclass
class SessionState:
    token: str
    master_token: str
    session_id: int
    user: str
    role: str
    warehouse: str | None
    expired: bool = False
    # logged in naming the designated missing warehouse: queries that need compute fail 000606
    no_warehouse: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    # fakesnow refuses a second statement on a connection that is still running one ("connection
    # is busy"); Snowflake accepts concurrent statements in a session. Queue them instead.
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)


sessions: dict[str, SessionState] = {}  # session token -> state
masters: dict[str, str] = {}  # master token -> current session token
query_tags: list[str] = []  # every QUERY_TAG set, in order, across sessions
last_jwt: dict[str, str] = {}  # LOGIN_NAME upper-cased -> last JWT sent with SNOWFLAKE_JWT
query_counts: dict[str, int] = {}  # LOGIN_NAME upper-cased -> query requests received (benchmarks)
RECORD_SQL_MAX = 64 * 1024  # --record-sql keeps statements up to this size (not push's big INSERTs)
record_sql = False  # --record-sql: keep each user's SELECTs for /_emulator/queries (benchmarks)
recorded_sql: dict[str, list[str]] = {}  # LOGIN_NAME upper-cased -> SELECT texts, in arrival order
_next_session_id = [1_000_000_000 + secrets.randbelow(1_000_000)]

# exceptions raised/logged while fakesnow handled the current request (see _CaptureHandler)
_captured: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("captured", default=None)


class _CaptureHandler(logging.Handler):
    """Collect fakesnow's logged exceptions for the request in flight, to put in the error message."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _captured.get()
        if sink is not None and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            sink.append(f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def new_session_id() -> int:
    _next_session_id[0] += 1
    return _next_session_id[0]


def error_body(code: str, message: str, sql_state: str = "42000", query_id: str | None = None, **extra: Any) -> dict:
    """Snowflake's error shape for a query-request, as the Rust client's ExecErrorResponse needs."""
    data = {
        "internalError": False,
        "unredactedFromSecureObject": False,
        "errorCode": code,
        "age": 0,
        "sqlState": sql_state,
        "queryId": query_id or str(uuid.uuid4()),
        "line": -1,
        "pos": -1,
        "type": "COMPILATION",
    }
    data.update(extra)
    return {"data": data, "code": code, "message": message, "success": False, "headers": None}


def login_error_body(code: str, message: str, authn_method: str, next_action: str | None) -> dict:
    return {
        "data": {
            "nextAction": next_action,
            "authnMethod": authn_method,
            "signInOptions": {},
            "errorCode": code,
        },
        "code": code,
        "message": message,
        "success": False,
        "headers": None,
    }


CONTEXT_FUNCTIONS = re.compile(r"\bCURRENT_(ROLE|WAREHOUSE)\s*\(\s*\)", re.IGNORECASE)


def context_literal(which: str, state: "SessionState") -> str:
    value = state.role if which.upper() == "ROLE" else state.warehouse
    if value is None:
        return "NULL::VARCHAR"
    return "'" + value.replace("'", "''") + "'"


def strip_leading_comments(sql: str) -> str:
    """Drop leading whitespace, `--`/`//` line comments and `/* */` block comments."""
    s = sql
    while True:
        s = s.lstrip()
        if s.startswith("--") or s.startswith("//"):
            nl = s.find("\n")
            s = "" if nl < 0 else s[nl + 1 :]
        elif s.startswith("/*"):
            end = s.find("*/")
            s = "" if end < 0 else s[end + 2 :]
        else:
            return s


def first_keywords(sql: str, n: int = 2) -> list[str]:
    return [w.upper() for w in re.findall(r"[A-Za-z_]+", strip_leading_comments(sql))[:n]]


_IDENT = r'((?:"[^"]*"|[A-Za-z_$][\w$]*)(?:\s*\.\s*(?:"[^"]*"|[A-Za-z_$][\w$]*))*)'
_OBJECT_KINDS = r"(TABLE|VIEW|SCHEMA|DATABASE|STAGE|SEQUENCE|FUNCTION|PROCEDURE|TASK|STREAM|FILE\s+FORMAT|WAREHOUSE|ROLE|USER)"


def write_target(sql: str) -> tuple[str, str]:
    """Best-effort (object kind, name) a writing statement operates on, for the 003001 message."""
    s = strip_leading_comments(sql)
    patterns = [
        rf"^INSERT\s+(?:OVERWRITE\s+)?(?:ALL\s+|FIRST\s+)?INTO\s+{_IDENT}",
        rf"^MERGE\s+INTO\s+{_IDENT}",
        rf"^UPDATE\s+{_IDENT}",
        rf"^DELETE\s+FROM\s+{_IDENT}",
        rf"^TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?{_IDENT}",
        rf"^COPY\s+INTO\s+{_IDENT}",
    ]
    for p in patterns:
        if m := re.match(p, s, re.IGNORECASE):
            return "table", m.group(1)
    m = re.match(
        rf"^(?:CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?(?:(?:LOCAL|GLOBAL|TEMP|TEMPORARY|VOLATILE|TRANSIENT|SECURE|EXTERNAL)\s+)*"
        rf"{_OBJECT_KINDS}\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?{_IDENT}",
        s,
        re.IGNORECASE,
    )
    if m:
        return re.sub(r"\s+", " ", m.group(1)).lower(), m.group(2)
    return "table", "UNKNOWN"


def display_name(ident: str) -> str:
    parts = re.findall(r'"[^"]*"|[^.\s]+', ident)
    return ".".join(p[1:-1] if p.startswith('"') else p.upper() for p in parts)


_SET_ITEM = re.compile(r"""([A-Za-z_][\w]*)\s*=\s*('(?:[^'\\]|\\.|'')*'|"[^"]*"|[^\s,;]+)""")


def parse_alter_session(sql: str) -> tuple[str, dict[str, Any]] | None:
    """`ALTER SESSION SET a = 1, b = 'x'` -> ("SET", {A: 1, B: "x"}); UNSET -> ("UNSET", {A: None})."""
    s = strip_leading_comments(sql).rstrip().rstrip(";")
    m = re.match(r"^ALTER\s+SESSION\s+(SET|UNSET)\s+(.*)$", s, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    action, rest = m.group(1).upper(), m.group(2)
    if action == "UNSET":
        return action, {n.upper(): None for n in re.findall(r"[A-Za-z_]\w*", rest)}
    items: dict[str, Any] = {}
    for name, raw in _SET_ITEM.findall(rest):
        if raw.startswith("'"):
            inner = raw[1:-1]
            value: Any = re.sub(r"\\(.)", r"\1", inner.replace("''", "'"))
        elif raw.startswith('"'):
            value = raw[1:-1]
        else:
            value = raw
        items[name.upper()] = value
    return action, items


def session_token(scope: Scope) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            auth = v.decode("latin-1")
            if m := re.match(r'^\s*Snowflake\s+Token\s*=\s*"([^"]*)"', auth, re.IGNORECASE):
                return m.group(1)
            return auth[17:-1] or None  # what fakesnow does
    return None


def decode_body(scope: Scope, body: bytes) -> bytes:
    for k, v in scope.get("headers", []):
        if k == b"content-encoding" and v.strip().lower() == b"gzip":
            return gzip.decompress(body)
    return body


def with_plain_body(scope: Scope, body: bytes) -> Scope:
    """Scope for forwarding a decompressed/rewritten body: drop content-encoding, fix content-length."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k not in (b"content-encoding", b"content-length")]
    headers.append((b"content-length", str(len(body)).encode()))
    return {**scope, "headers": headers}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            return b"".join(chunks)


def replay_receive(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read body once, then defers to the real one."""
    sent = False

    async def _receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return _receive


async def send_text(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Fault:
    """Injected failures for one user's queries (see /_emulator/faults)."""

    kind: str
    every: int
    remaining: int
    delay_ms: int = 0
    after: int = 0
    seen: int = 0
    injected: int = 0


faults: dict[str, Fault] = {}


async def send_json(send: Send, obj: Any, status: int = 200) -> None:
    payload = json.dumps(obj).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@dataclass
class Captured:
    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    errors: list[str] = field(default_factory=list)

    def json(self) -> Any | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def call_inner(app: Any, scope: Scope, body: bytes, receive: Receive) -> Captured:
    """Run the wrapped fakesnow app and capture its response instead of sending it."""
    out = Captured()
    sink: list[str] = []
    token = _captured.set(sink)
    chunks: list[bytes] = []

    async def _send(message: Message) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(with_plain_body(scope, body), replay_receive(body, receive), _send)
    except Exception as e:  # noqa: BLE001 - starlette re-raises after sending its 500
        logger.error("fakesnow raised on %s", scope.get("path"), exc_info=e)
        if not sink or not sink[-1].endswith(str(e)):
            sink.append(f"{type(e).__name__}: {e}")
        out.status = 500
    finally:
        _captured.reset(token)
    out.body = b"".join(chunks)
    out.errors = sink
    return out


# --------------------------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------------------------


class SnowflakeShape:
    def __init__(self, app: Any, fakesnow_server: Any):
        self.app = app
        self.fs = fakesnow_server  # the fakesnow.server module (its `sessions` dict)

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
            else:
                await self.app(scope, receive, send)
        except Exception as e:  # noqa: BLE001 - never answer a client with a bare 500
            logger.error("emulator layer failed on %s %s", method, path, exc_info=e)
            with contextlib.suppress(Exception):  # unless the response had already started
                await send_json(send, error_body("000603", f"SQL execution internal error: emulator: {type(e).__name__}: {e}", "XX000"))

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
            await send_json(
                send,
                [
                    {
                        "sessionId": s.session_id,
                        "user": s.user,
                        "role": s.role,
                        "warehouse": s.warehouse,
                        "expired": s.expired,
                        "queryTag": s.params.get("QUERY_TAG"),
                        "params": s.params,
                    }
                    for s in sessions.values()
                ],
            )
        else:
            await send_json(send, {"error": f"unknown emulator endpoint {method} {path}"}, status=404)

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
        )
        sessions[token] = state
        masters[state.master_token] = token
        session_params = data["SESSION_PARAMETERS"]
        if "QUERY_TAG" in session_params:
            self.record_params(state, {"QUERY_TAG": session_params["QUERY_TAG"]})

        d = resp["data"]
        d["sessionId"] = state.session_id
        d["masterToken"] = state.master_token
        d["validityInSeconds"] = VALIDITY_SECONDS
        d["masterValidityInSeconds"] = MASTER_VALIDITY_SECONDS
        d.setdefault("parameters", [])
        d.setdefault("idToken", None)
        d.setdefault("mfaToken", None)
        info = d.setdefault("sessionInfo", {})
        info["roleName"] = role
        info["warehouseName"] = state.warehouse
        resp.setdefault("code", None)
        resp.setdefault("message", None)
        resp.setdefault("headers", None)
        await send_json(send, resp)

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
        if not old_token or old_token not in self.fs.sessions:
            code, message = SESSION_NOT_FOUND
            await send_json(send, {"data": {"errorCode": code, "authnMethod": None}, "code": code, "message": message, "success": False, "headers": None})
            return
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        state = sessions[old_token]
        new_token = secrets.token_urlsafe(32)
        self.fs.sessions[new_token] = self.fs.sessions.pop(old_token)
        del sessions[old_token]
        state.token, state.expired = new_token, False
        sessions[new_token] = state
        masters[state.master_token] = new_token
        logger.info("renewed session %s (requestType=%s)", state.session_id, body.get("requestType"))
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

    async def query(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        token = session_token(scope)
        if not token:
            await send_json(send, error_body(*TOKEN_MISSING, sql_state="08001"))
            return
        state = sessions.get(token)
        if state and state.expired:
            await send_json(send, error_body(*SESSION_EXPIRED, sql_state="08001"))
            return
        conn = self.fs.sessions.get(token)
        if conn is None:
            await send_json(send, error_body(*SESSION_NOT_FOUND, sql_state="08001"))
            return
        if state is None:  # a fakesnow session we did not see log in; adopt it
            state = SessionState(token, secrets.token_urlsafe(32), new_session_id(), "", "PUBLIC", None)
            sessions[token] = state
            masters[state.master_token] = token

        body_bytes = decode_body(scope, raw)
        try:
            body = json.loads(body_bytes)
            sql = str(body.get("sqlText") or "")
        except (ValueError, AttributeError):
            await send_json(send, error_body("000603", "SQL execution internal error: request body is not JSON", "XX000"))
            return

        query_counts[state.user] = query_counts.get(state.user, 0) + 1
        words = first_keywords(sql)
        keyword = words[0] if words else ""
        if record_sql and keyword == "SELECT" and len(sql) <= RECORD_SQL_MAX:
            recorded_sql.setdefault(state.user, []).append(sql)

        # ALTER SESSION SET/UNSET: fakesnow only knows AUTOCOMMIT and QUOTED_IDENTIFIERS_IGNORE_CASE
        if keyword == "ALTER" and len(words) > 1 and words[1] == "SESSION":
            parsed = parse_alter_session(sql)
            if parsed is not None:
                await self.alter_session(scope, receive, send, state, conn, parsed)
                return

        fault = faults.get(state.user)
        if fault and fault.remaining > 0:
            fault.seen += 1
            if fault.seen > fault.after and (fault.seen - fault.after) % fault.every == 0:
                fault.remaining -= 1
                fault.injected += 1
                logger.warning("fault %s injected for %s (%s left)", fault.kind, state.user, fault.remaining)
                if fault.kind == "http_503":
                    await send_text(send, 503, "Service Unavailable")
                    return
                if fault.kind == "http_429":
                    await send_text(send, 429, "Too Many Requests")
                    return
                if fault.kind == "expired":
                    state.expired = True
                    await send_json(send, error_body(*SESSION_EXPIRED, sql_state="08001"))
                    return
                if fault.kind == "delay":
                    await asyncio.sleep(fault.delay_ms / 1000)

        if state.no_warehouse and re.search(r"\bFROM\b", sql, re.IGNORECASE):
            # Snowflake runs metadata-only statements (SHOW, SELECT CURRENT_ROLE()) without a
            # warehouse, and fails anything that reads a table
            message = "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command."
            await send_json(send, error_body("000606", message, "57P03"))
            return

        if MISSING_DATABASE in sql.upper():
            message = f"Database '{MISSING_DATABASE}' does not exist or not authorized."
            await send_json(send, error_body("002003", message, "02000"))
            return

        if state.role == NO_WRITE_ROLE and keyword in WRITE_KEYWORDS:
            kind, name = write_target(sql)
            message = f"SQL access control error:\nInsufficient privileges to operate on {kind} '{display_name(name)}'"
            logger.warning("role %s denied: %s", state.role, sql[:200])
            await send_json(send, error_body("003001", message, "42501"))
            return

        # fakesnow lacks CURRENT_WAREHOUSE() and does not know our session's role: answer both
        # from the session, as Snowflake would.
        rewritten = CONTEXT_FUNCTIONS.sub(lambda m: context_literal(m.group(1), state), sql)
        if rewritten != sql:
            body["sqlText"] = rewritten
            body_bytes = json.dumps(body).encode()

        async with state.busy:
            res = await call_inner(self.app, scope, body_bytes, receive)
        resp = res.json()
        if keyword == "USE" and len(words) > 1 and words[1] == "ROLE" and isinstance(resp, dict) and resp.get("success"):
            # fakesnow treats USE ROLE as a no-op; track it so finalRoleName and the no-write role follow
            if m := re.match(r"^USE\s+ROLE\s+(\"[^\"]*\"|[^\s;]+)", strip_leading_comments(sql), re.IGNORECASE):
                state.role = display_name(m.group(1))
        await send_json(send, self.shape_query_response(res, resp, state, conn, sql))

    async def alter_session(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: SessionState,
        conn: Any,
        parsed: tuple[str, dict[str, Any]],
    ) -> None:
        action, items = parsed
        if "AUTOCOMMIT" in items and action == "SET":
            # fakesnow implements this one, with a side effect on the connection
            sub = json.dumps({"sqlText": f"ALTER SESSION SET AUTOCOMMIT = {items['AUTOCOMMIT']}", "asyncExec": False, "sequenceId": 1, "isInternal": False}).encode()
            res = await call_inner(self.app, scope, sub, receive)
            shaped = self.shape_query_response(res, res.json(), state, conn, "ALTER SESSION SET AUTOCOMMIT")
            if not shaped.get("success"):
                await send_json(send, shaped)
                return
        self.record_params(state, items)
        logger.info("session %s: ALTER SESSION %s %s", state.session_id, action, items)
        await send_json(
            send,
            {
                "data": {
                    "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
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
            },
        )

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


def build_app(db_path: str | None = None) -> Any:
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
    _patch_timestamp_struct()
    # fakesnow.server binds its logger's handler *list* to uvicorn's (`logger.handlers = ...`), which
    # uvicorn's logging config later clears; give it its own (empty) list so its records just
    # propagate to the root logger, where the capture handler sits.
    logging.getLogger("fakesnow.server").handlers = []
    logging.getLogger().addHandler(_CaptureHandler())
    inner = Starlette(routes=fakesnow_server.routes)
    return SnowflakeShape(inner, fakesnow_server)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--db-path",
        help="keep every database in DIR/<DATABASE>.db so it survives a restart (default: in memory)",
    )
    parser.add_argument(
        "--record-sql",
        action="store_true",
        help="keep every user's SELECT statements for GET /_emulator/queries?user= (benchmarks)",
    )
    args = parser.parse_args()
    global record_sql
    record_sql = args.record_sql

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app = build_app(args.db_path)
    # fakesnow.server sets its own logger to INFO with uvicorn's handlers; follow our level
    logging.getLogger("fakesnow.server").setLevel(getattr(logging, args.log_level.upper(), logging.WARNING))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except Exception:  # pragma: no cover
        traceback.print_exc()
        sys.exit(1)
