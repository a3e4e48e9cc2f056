"""The Snowflake emulator's server: fakesnow's server behind a Snowflake-shaped layer.

fakesnow 0.12.1 (server mode) speaks the Snowflake REST protocol well enough for the Python
connector, which is lenient. The Rust client (`snowflake-api` 0.14) deserialises responses into
strict structs, so this layer adds the fields it requires, reshapes errors into Snowflake's real
error shape, answers what fakesnow rejects (ALTER SESSION), fixes NULL timestamps in arrow
results, and adds a few designated test users/roles and `/_emulator/*` endpoints for tests.
See emulator/README.md.

This module builds the app and routes each request to the part that owns it: login.py (a
session's life), queries.py (the query-request; results.py shapes its answers), statements.py
(polls and aborts), control.py (the `/_emulator/*` endpoints). Anything else goes to fakesnow.

With `--realistic` (or its single flags, realism.py) it also behaves like real Snowflake where
the drivers must cope: in-progress answers and polls (in_progress.py), chunked results on a
second listener standing in for S3 (chunked.py), session and master token expiry, and hostile
account defaults (parameters.py).

Run: python -m snowemu --host 127.0.0.1 --port 8123 [--realistic]
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from typing import Any

from . import chunked, in_progress
from .asgi import CaptureHandler, Receive, Scope, Send, read_body, send_json, send_text
from .control import Control
from .login import Logins
from .patches import patch_copy_files, patch_csv_reads, patch_temporary_tables, patch_timestamp_struct
from .queries import Queries
from .realism import Realism
from .stages import Stages, headers_of
from .statements import StatementRoutes
from .wire import RESULT_PATH, error_body

logger = logging.getLogger("snowsync.emulator")


class SnowflakeShape:
    """The ASGI app: the layer's parts composed over fakesnow's app (`app`)."""

    def __init__(self, app: Any, fakesnow_server: Any, realism: Realism | None = None, record_sql: bool = False):
        self.app = app
        self.realism = realism or Realism()
        self.registry = in_progress.Registry(self.realism.async_after_ms, self.realism.async_every)
        self.chunks = None
        if self.realism.chunk_rows > 0:
            self.chunks = chunked.ChunkStore(self.realism.chunk_rows, self.realism.chunk_faults, "127.0.0.1")
        self.logins = Logins(app, fakesnow_server, self.realism)
        self.stages = Stages()
        self.queries = Queries(app, self.logins, self.realism, self.registry, self.chunks, self.stages, record_sql)
        self.statements = StatementRoutes(self.logins, self.registry, self.chunks)
        self.control = Control(self.realism, self.registry, self.chunks, self.stages, record_sql)

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
                await self.control.endpoint(path, method, scope, receive, send)
            elif path == "/session/v1/login-request" and method == "POST":
                await self.logins.login(scope, receive, send)
            elif path == "/queries/v1/query-request" and method == "POST":
                await self.queries.query(scope, receive, send)
            elif path == "/session/token-request" and method == "POST":
                await self.logins.token_request(scope, receive, send)
            elif path == "/session" and method == "POST":
                await self.logins.close_session(scope, receive, send)
            elif method == "PUT" and path.startswith("/_stage/"):
                upload_id = path.split("/")[2]
                status = self.stages.upload(upload_id, await read_body(receive), headers_of(scope))
                await send_text(send, status, "" if status == 200 else "SignatureDoesNotMatch")
            elif method == "GET" and (m := RESULT_PATH.match(path)):
                await self.statements.poll(m.group(1), scope, send)
            elif not (self.realism.background and await self.statements.route(path, method, scope, receive, send)):
                await self.app(scope, receive, send)
        except Exception as e:  # noqa: BLE001 - never answer a client with a bare 500
            logger.error("emulator layer failed on %s %s", method, path, exc_info=e)
            with contextlib.suppress(Exception):  # unless the response had already started
                await send_json(send, error_body("000603", f"SQL execution internal error: emulator: {type(e).__name__}: {e}", "XX000"))


def build_app(db_path: str | None = None, realism: Realism | None = None, record_sql: bool = False) -> Any:
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
    patch_copy_files()
    patch_csv_reads()
    patch_temporary_tables()
    # fakesnow.server binds its logger's handler *list* to uvicorn's (`logger.handlers = ...`), which
    # uvicorn's logging config later clears; give it its own (empty) list so its records just
    # propagate to the root logger, where the capture handler sits.
    logging.getLogger("fakesnow.server").handlers = []
    logging.getLogger().addHandler(CaptureHandler())
    inner = Starlette(routes=fakesnow_server.routes)
    return SnowflakeShape(inner, fakesnow_server, realism, record_sql)
