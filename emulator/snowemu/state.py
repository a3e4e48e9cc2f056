"""The layer's in-memory state: sessions and their parameters, master tokens, and what
the `/_emulator/*` endpoints report (query tags, JWTs, query counts, recorded SQL). The faults
armed for each user live with their injection, in faults.py.

One event loop thread serves every request, so nothing here is locked.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from . import parameters


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
    params: dict[str, Any] = field(default_factory=dict)  # set by login or ALTER SESSION
    # fakesnow refuses a second statement on a connection that is still running one ("connection
    # is busy"); Snowflake accepts concurrent statements in a session. Queue them instead.
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)
    client_app: str = ""  # login CLIENT_APP_ID: picks the *_QUERY_RESULT_FORMAT parameter
    # honour the session parameters (formats, TIMEZONE, result format, timeout) like Snowflake:
    # --hostile-defaults, or the designated user SNOWSYNC_HOSTILE
    honour: bool = False
    defaults: dict[str, Any] = field(default_factory=lambda: dict(parameters.PLAIN_DEFAULTS))
    requests: int = 0  # query-requests received (--expire-every)
    renewals: int = 0  # token renewals (--master-expire-every)
    master_dead: bool = False  # the master token expired: only a fresh login helps
    closed: bool = False  # the client closed it (`POST /session?delete=true`)

    def param(self, name: str) -> Any:
        return self.params.get(name, self.defaults.get(name))

    def effective(self) -> dict[str, Any]:
        return {**self.defaults, **self.params}

    def input_formats(self) -> Any:
        return parameters.InputFormats(
            str(self.param("TIMESTAMP_INPUT_FORMAT")), str(self.param("DATE_INPUT_FORMAT")), str(self.param("TIME_INPUT_FORMAT"))
        )

    def result_format(self) -> str:
        name = parameters.RESULT_FORMAT_PARAMETER.get(self.client_app)
        return str(self.param(name) or "ARROW").upper() if name else "ARROW"

    def timeout_seconds(self) -> int | None:
        """STATEMENT_TIMEOUT_IN_SECONDS in force (0 means Snowflake's maximum: none here)."""
        try:
            return int(parameters.normalise(self.param("STATEMENT_TIMEOUT_IN_SECONDS"))) or None
        except (TypeError, ValueError):
            return None

    def reported_parameters(self) -> list[dict[str, Any]]:
        """`data.parameters` of a response: the client-relevant parameters in force."""
        return [{"name": n, "value": parameters.normalise(self.param(n))} for n in parameters.REPORTED if self.param(n) is not None]


sessions: dict[str, SessionState] = {}  # session token -> state
masters: dict[str, str] = {}  # master token -> current session token
closed_sessions: list[SessionState] = []  # closed by their client (`POST /session?delete=true`), oldest first
query_tags: list[str] = []  # every QUERY_TAG set, in order, across sessions
last_jwt: dict[str, str] = {}  # LOGIN_NAME upper-cased -> last JWT sent with SNOWFLAKE_JWT
query_counts: dict[str, int] = {}  # LOGIN_NAME upper-cased -> query requests received (benchmarks)
rows_returned: dict[str, int] = {}  # LOGIN_NAME upper-cased -> rows of result data returned (tests bound re-reads)
RECORD_SQL_MAX = 64 * 1024  # --record-sql keeps statements up to this size (not push's big INSERTs)
recorded_sql: dict[str, list[str]] = {}  # LOGIN_NAME upper-cased -> SELECT texts, in arrival order
_next_session_id = [1_000_000_000 + secrets.randbelow(1_000_000)]


def new_session_id() -> int:
    _next_session_id[0] += 1
    return _next_session_id[0]
