"""Result shaping: fakesnow's answer to a statement turned into the answer Snowflake sends.

The Rust client deserialises into strict structs, so every success gets the fields it requires;
fakesnow's errors take Snowflake's error shape, and its unhandled exceptions become 000603 with
HTTP 200. The realistic behaviours add the session's parameters, the JSON result format and
chunks. README.md, "Why a layer over fakesnow".
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from typing import Any

import pyarrow as pa

from . import parameters
from .asgi import Captured
from .chunked import ChunkStore
from .state import SessionState, rows_returned
from .wire import STATEMENT_TYPE_SCL, STATUS_ROWTYPE, error_body

logger = logging.getLogger("snowsync.emulator")


def shape_query_response(res: Captured, resp: Any, state: SessionState, conn: Any, sql: str) -> dict:
    if res.status == 200 and isinstance(resp, dict) and resp.get("success"):
        data = resp.get("data")
        if isinstance(data, dict) and "rowtype" in data:  # a query result (not PUT/GET stage data)
            data.setdefault("parameters", [{"name": "TIMEZONE", "value": "Etc/UTC"}])
            data.setdefault("total", 0)
            if isinstance(data.get("rowset"), list):
                data["returned"] = len(data["rowset"])
            else:
                data["returned"] = data["total"]
            rows_returned[state.user] = rows_returned.get(state.user, 0) + int(data["total"] or 0)
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


def finish_result(resp: dict, state: SessionState, qid: str | None, chunks: ChunkStore | None) -> None:
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
    if chunks is not None:
        chunks.split(data, str(data.get("queryId")), state.user)


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


def status_result(state: SessionState, conn: Any) -> dict:
    """Snowflake's answer to a statement with a status and no rows (ALTER SESSION)."""
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
