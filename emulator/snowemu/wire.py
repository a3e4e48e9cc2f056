"""What Snowflake says: error codes and texts, designated test users, the SQL text the layer reads.

The error bodies of a query-request or a login; the designated users and objects (README.md,
"Designated test users and role"); and the reading of SQL text: leading comments, first keywords,
write targets, ALTER SESSION, SYSTEM$WAIT. Constants and pure functions: no I/O, no fakesnow.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .state import SessionState

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
# snowflake-connector-python network.py MASTER_TOKEN_EXPIRED_GS_CODE; the text is the one its
# unit tests answer with (test/unit/test_connection.py test_expired_detection)
MASTER_TOKEN_EXPIRED = ("390114", "Authentication token has expired.  The user must authenticate again.")
STATEMENT_TIMEOUT = ("000630", "Statement reached its statement or warehouse timeout of {} second(s) and was canceled.", "57014")
# SYSTEM$WAIT(n [, unit]): Snowflake's own way to make a statement slow (tests of polls and aborts)
SYSTEM_WAIT = re.compile(
    r"^\s*(?:SELECT|CALL)\s+SYSTEM\$WAIT\s*\(\s*(\d+(?:\.\d+)?)\s*(?:,\s*'(SECONDS|MILLISECONDS|MINUTES|HOURS)'\s*)?\)\s*;?\s*$",
    re.IGNORECASE,
)
WAIT_UNITS = {"SECONDS": 1, "MILLISECONDS": 0.001, "MINUTES": 60, "HOURS": 3600}
RESULT_PATH = re.compile(r"^/queries/([0-9a-fA-F-]{36})/result$")
ABORT_PATH = re.compile(r"^/queries/([0-9a-fA-F-]{36})/abort-request$")
MONITOR_PATH = re.compile(r"^/monitoring/queries/([0-9a-fA-F-]{36})$")


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


def expired_body() -> dict:
    """Snowflake's session-expired answer: `data` is null (gosnowflake restful_test.go sends the
    same shape; the drivers renew on the code: network.py _post_request, restful.go)."""
    code, message = SESSION_EXPIRED
    return {"code": code, "data": None, "message": message, "success": False, "headers": None}


def master_expired_body() -> dict:
    """The token-request answer once the master token expired: the client must log in again."""
    code, message = MASTER_TOKEN_EXPIRED
    return {"code": code, "data": None, "message": message, "success": False, "headers": None}


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


def system_wait(sql: str) -> tuple[float, str]:
    """`SELECT SYSTEM$WAIT(n[, unit])` -> (seconds to wait, the statement that gives its result)."""
    m = SYSTEM_WAIT.match(sql)
    if not m:
        return 0.0, sql
    amount, unit = m.group(1), (m.group(2) or "SECONDS").upper()
    text = f"waited {amount} {unit.lower()}"
    return float(amount) * WAIT_UNITS[unit], f"SELECT '{text}' AS \"SYSTEM$WAIT({amount})\""
