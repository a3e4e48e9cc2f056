"""Proof of the realistic behaviours (`python -m snowemu --realistic`); run by smoke_test.py.

Starts its own emulator with --realistic on free ports. Raw HTTP checks the exact shapes (the
in-progress body, chunk entries, the SSE-C refusal, expiry bodies, 390114, aborts, the
unknown-parameter error, the JSON rowset strings); the official python connector proves that a
real driver reads through them (chunks with empty and non-empty inline parts, with chunkHeaders
and qrmk only, through 503s and cut bodies; polls; renewal; JSON results; a timeout's abort).
Every check goes through smoke_test.check, so the one "N passed, M failed" line covers it.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from typing import Any, Iterator

import pyarrow as pa

ROWS = 250  # more than --chunk-rows 100: an inline part and two or three chunks
IN_PROGRESS = ("333333", "333334")
SSE_C = "x-amz-server-side-encryption-customer-"
MASTER_EXPIRED = {"code": "390114", "data": None, "message": "Authentication token has expired.  The user must authenticate again.", "success": False, "headers": None}
HOSTILE_TABLE = """CREATE OR REPLACE TABLE REAL_H (id NUMBER(38,0), amount NUMBER(12,2), ratio FLOAT, label TEXT,
    flag BOOLEAN, day DATE, at_time TIME, ntz TIMESTAMP_NTZ, tz TIMESTAMP_TZ, ltz TIMESTAMP_LTZ, doc VARIANT, blob BINARY)"""
# every literal in the hostile account's formats: DD/MM/YYYY [HH24:MI:SS], HH24.MI.SS
HOSTILE_INSERT = """INSERT INTO REAL_H SELECT 1, 12.34, 1.5, 'héllo', TRUE, '02/01/2024'::DATE, '12.34.56'::TIME,
    '02/01/2024 03:04:05'::TIMESTAMP_NTZ, '02/01/2024 03:04:05'::TIMESTAMP_TZ(9), '02/07/2024 03:04:05'::TIMESTAMP_LTZ,
    PARSE_JSON('{"a": [1, 2]}'), TO_BINARY('DEADBEEF', 'HEX')"""
# Snowflake's JSON result strings (the python connector's converter.py reads them back)
HOSTILE_ROWSET = [
    ["1", "12.34", "1.5", "héllo", "1", "19724", "45296.000000000", "1704164645.000000000",
     "1704193445.000000000 960", "1719914645.000000000 1020", '{"a":[1,2]}', "DEADBEEF"],
    ["2"] + [None] * 11,
]  # fmt: skip
PACIFIC_WINTER, PACIFIC_SUMMER = dt.timezone(dt.timedelta(hours=-8)), dt.timezone(dt.timedelta(hours=-7))
HOSTILE_ROWS = [
    (1, Decimal("12.34"), 1.5, "héllo", True, dt.date(2024, 1, 2), dt.time(12, 34, 56), dt.datetime(2024, 1, 2, 3, 4, 5),
     dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PACIFIC_WINTER), dt.datetime(2024, 7, 2, 3, 4, 5, tzinfo=PACIFIC_SUMMER),
     '{"a":[1,2]}', bytes.fromhex("DEADBEEF")),
    (2,) + (None,) * 11,
]  # fmt: skip
CHUNKY_ROWS = [(i, f"row {i}", Decimal(i) / 4) for i in range(ROWS)]
PINS = (
    "ALTER SESSION SET TIMEZONE = 'UTC' GO_QUERY_RESULT_FORMAT = 'ARROW' TIMESTAMP_INPUT_FORMAT = 'AUTO' "
    "DATE_INPUT_FORMAT = 'AUTO' TIME_INPUT_FORMAT = 'AUTO' QUOTED_IDENTIFIERS_IGNORE_CASE = FALSE AUTOCOMMIT = TRUE "
    "STATEMENT_TIMEOUT_IN_SECONDS = 600 QUERY_TAG = 'smoke-realistic'"
)  # what shared/src/snowflake/session.rs pins


# ---------------------------------------------------------------------------------------------
# The emulator under test
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """`python -m snowemu --realistic` in a subprocess on a free port (its chunk port: a free one too)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fd, self.log = tempfile.mkstemp(prefix="snowsync-smoke-realistic-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            cmd = [sys.executable, "-m", "snowemu", "--host", "127.0.0.1", "--port", str(self.port), "--realistic", "--log-level", "info"]
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/_emulator/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                time.sleep(0.1)  # readiness polling, not a measurement
        return False

    def stop(self, keep_log: bool) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if keep_log:
            with open(self.log, errors="replace") as f:
                print(f"---- last lines of the realistic emulator's log ({self.log}) ----\n" + "".join(f.readlines()[-40:]))
        else:
            os.unlink(self.log)


# ---------------------------------------------------------------------------------------------
# Raw HTTP helpers (smoke_test's, pointed at this emulator through t.BASE)
# ---------------------------------------------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Accept": "application/snowflake", "Authorization": f'Snowflake Token="{token}"'}


def login_token(t: Any, user: str) -> tuple[str, str]:
    status, resp = t.login(user)
    d = resp.get("data") or {} if isinstance(resp, dict) else {}
    t.check(f"realistic: login {user}", status == 200 and bool(d.get("token")), (status, resp))
    return d.get("token", ""), d.get("masterToken", "")


def final(t: Any, token: str, sql: str, request_id: str | None = None) -> tuple[int, Any]:
    """A query-request followed through in-progress answers (polling getResultUrl) to its end."""
    status, resp = t.query(token, sql, request_id=request_id)
    if status == 200 and isinstance(resp, dict) and resp.get("code") in IN_PROGRESS:
        return final_poll(t, token, resp["data"]["getResultUrl"])
    return status, resp


def ok(t: Any, token: str, sql: str, name: str) -> dict:
    status, resp = final(t, token, sql)
    t.check(f"realistic: {name}", status == 200 and isinstance(resp, dict) and resp.get("success") is True, (status, resp))
    return resp.get("data") or {} if isinstance(resp, dict) else {}


def renew(t: Any, token: str, master: str) -> tuple[int, Any]:
    body = {"oldSessionToken": token, "requestType": "RENEW"}
    return t.http("POST", "/session/token-request?" + urllib.parse.urlencode(t.common_params()), body, auth(master))


def table_of(data: dict) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(data["rowsetBase64"])).read_all() if data.get("rowsetBase64") else None


def expect_sql_error(t: Any, token: str, sql: str, code: str, message: str, sql_state: str) -> None:
    status, resp = final(t, token, sql)
    got = (resp.get("code"), resp.get("message"), (resp.get("data") or {}).get("sqlState")) if isinstance(resp, dict) else resp
    t.check(f"realistic: {code} {message!r}", status == 200 and got == (code, message, sql_state) and not t.query_error_problems(resp), resp)


def emulator(t: Any, path: str) -> Any:
    return t.http("GET", path)[1]


# ---------------------------------------------------------------------------------------------
# Raw HTTP: shapes
# ---------------------------------------------------------------------------------------------


def check_parameters(t: Any) -> str:
    """Hostile defaults in the login answer and /_emulator/sessions; the pins switch them back."""
    status, resp = t.login("smoke_real_raw")
    params = {p["name"]: p["value"] for p in (resp.get("data") or {}).get("parameters", [])}
    t.check("realistic: login parameters carry the hostile defaults", params.get("GO_QUERY_RESULT_FORMAT") == "JSON" and params.get("TIMEZONE") == "America/Los_Angeles", params)
    token = (resp.get("data") or {}).get("token", "")
    mine = [s for s in emulator(t, "/_emulator/sessions") if s["user"] == "SMOKE_REAL_RAW"]
    p = mine[0]["params"] if mine else {}
    want = {"DATE_INPUT_FORMAT": "DD/MM/YYYY", "TIMESTAMP_INPUT_FORMAT": "DD/MM/YYYY HH24:MI:SS", "TIME_INPUT_FORMAT": "HH24.MI.SS",
            "QUOTED_IDENTIFIERS_IGNORE_CASE": True, "STATEMENT_TIMEOUT_IN_SECONDS": 172800, "TIMEZONE": "America/Los_Angeles"}  # fmt: skip
    t.check("realistic: /_emulator/sessions shows the defaults in force", {k: p.get(k) for k in want} == want, p)
    expect_sql_error(t, token, "ALTER SESSION SET NO_SUCH_PARAMETER = 1", "001006", "SQL compilation error:\ninvalid parameter 'NO_SUCH_PARAMETER'", "22023")
    expect_sql_error(t, token, "ALTER SESSION UNSET QUERY_TAG, NO_SUCH_PARAMETER", "001006", "SQL compilation error:\ninvalid parameter 'NO_SUCH_PARAMETER'", "22023")
    ok(t, token, PINS, "the pins (space-separated ALTER SESSION SET) are accepted")
    p = [s for s in emulator(t, "/_emulator/sessions") if s["user"] == "SMOKE_REAL_RAW"][0]["params"]
    t.check("realistic: ALTER SESSION switches the defaults back", (p.get("GO_QUERY_RESULT_FORMAT"), p.get("TIMESTAMP_INPUT_FORMAT"), p.get("TIMEZONE")) == ("ARROW", "AUTO", "UTC"), p)
    return token


def chunk_entry_problems(data: dict, chunk_port: int, emu_port: int) -> list[str]:
    """The fields the drivers read from a chunked result (result_batch.py, gosnowflake query.go)."""
    p = []
    chunks, qrmk = data.get("chunks") or [], data.get("qrmk") or ""
    if len(base64.b64decode(qrmk or "AA==")) != 32:
        p.append(f"qrmk not base64 of 32 bytes: {qrmk!r}")
    for c in chunks:
        if sorted(c) != ["compressedSize", "rowCount", "uncompressedSize", "url"]:
            p.append(f"chunk fields {sorted(c)}")
        url = urllib.parse.urlsplit(c.get("url", ""))
        q = urllib.parse.parse_qs(url.query)
        if url.port != chunk_port or url.port == emu_port:
            p.append(f"chunk url not on the chunk port {chunk_port}: {c.get('url')}")
        if q.get(SSE_C + "algorithm") != ["AES256"] or q.get("response-content-encoding") != ["gzip"] or "Signature" not in q:
            p.append(f"chunk url not presigned-looking: {c.get('url')}")
    inline = table_of(data).num_rows if data.get("rowsetBase64") else 0
    if inline + sum(c.get("rowCount", 0) for c in chunks) != data.get("total") or data.get("returned") != data.get("total"):
        p.append(f"rows: inline {inline} + chunks {[c.get('rowCount') for c in chunks]} vs total {data.get('total')}, returned {data.get('returned')}")
    headers = data.get("chunkHeaders")
    key_md5 = base64.b64encode(hashlib.md5(base64.b64decode(qrmk or "")).digest()).decode()
    if headers is not None and headers != {SSE_C + "key": qrmk, SSE_C + "key-md5": key_md5}:
        p.append(f"chunkHeaders {headers}")
    return p


def get_chunk(url: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """One GET of a chunk URL: (status, headers, raw body); a cut body raises IncompleteRead."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def fetch_chunk(url: str, headers: dict[str, str], faults: list[str]) -> tuple[dict, bytes]:
    """GET a chunk through the injected 503s and cut bodies, as a driver retries them."""
    for _ in range(6):
        try:
            status, head, body = get_chunk(url, headers)
        except (http.client.IncompleteRead, ConnectionError):
            faults.append("cut")
            continue
        if status == 503:
            faults.append("503")
            continue
        return head, body
    return {}, b""


def sse_headers(data: dict) -> dict[str, str]:
    """chunkHeaders as given, else built from qrmk (result_batch.py create_batches_from_response)."""
    return dict(data["chunkHeaders"]) if data.get("chunkHeaders") else {SSE_C + "algorithm": "AES256", SSE_C + "key": data["qrmk"]}


def read_chunks_raw(t: Any, data: dict, faults: list[str]) -> list[int]:
    """The ids of a chunked arrow result: inline part, then each chunk un-gzipped as Arrow IPC."""
    ids = table_of(data).column("ID").to_pylist() if data.get("rowsetBase64") else []
    for c in data.get("chunks") or []:
        head, body = fetch_chunk(c["url"], sse_headers(data), faults)
        encoding = {k.lower(): v for k, v in head.items()}.get("content-encoding")
        t.check("realistic: chunk served gzip with Content-Encoding: gzip", encoding == "gzip" and body[:2] == b"\x1f\x8b", (head, body[:20]))
        part = pa.ipc.open_stream(gzip.decompress(body)).read_all() if body[:2] == b"\x1f\x8b" else None
        t.check("realistic: chunk is a complete Arrow IPC stream of rowCount rows", part is not None and part.num_rows == c["rowCount"], c)
        ids += part.column("ID").to_pylist() if part is not None else []
    return ids


def check_refusals(t: Any, data: dict) -> None:
    """S3's SSE-C check: no headers, or a wrong key, is 403 with an XML error document."""
    url = data["chunks"][0]["url"]
    for name, headers in (("no SSE-C headers", {}), ("a wrong key", {SSE_C + "algorithm": "AES256", SSE_C + "key": base64.b64encode(bytes(32)).decode()})):
        status, _, body = get_chunk(url, headers)
        t.check(f"realistic: chunk GET with {name} -> 403 S3 XML", status == 403 and b"<Code>AccessDenied</Code>" in body, (status, body[:200]))


def check_chunks_raw(t: Any, token: str, chunk_port: int, emu_port: int) -> None:
    ok(t, token, "CREATE OR REPLACE TABLE REAL_CHUNKY (id NUMBER(38,0), label TEXT, amount NUMBER(12,2))", "create the chunked table")
    values = ",".join(f"({i}, 'row {i}', {Decimal(i) / 4})" for i in range(ROWS))
    ok(t, token, f"INSERT INTO REAL_CHUNKY VALUES {values}", "insert its rows")
    variants, faults = set(), []
    for n in range(4):
        data = ok(t, token, "SELECT id, label, amount FROM REAL_CHUNKY ORDER BY id", "select a chunked arrow result")
        problems = chunk_entry_problems(data, chunk_port, emu_port)
        t.check("realistic: chunked result shape (qrmk, chunk entries, row counts)", data.get("chunks") and not problems, (problems, {k: v for k, v in data.items() if k != "rowsetBase64"}))
        variants.add((data.get("rowsetBase64") == "", "chunkHeaders" in data))
        if n == 0:
            check_refusals(t, data)
        t.check("realistic: inline part + chunks read raw give every row in order", read_chunks_raw(t, data, faults) == list(range(ROWS)), faults)
    t.check("realistic: all four variants (empty/non-empty inline x chunkHeaders/qrmk only)", len(variants) == 4, variants)
    check_persisted(t, token, data, faults)
    stats = emulator(t, "/_emulator/chunk_stats")
    t.check("realistic: /_emulator/chunk_stats counts", all(stats.get(k, 0) >= 1 for k in ("served", "refused_403", "persisted_reads")), stats)


def check_persisted(t: Any, token: str, data: dict, faults: list[str]) -> None:
    """A chunked result read again by its query id: same rows under fresh URLs, for its own user
    only, and 000709 once the persisted results are expired."""
    path = f"/queries/{data['queryId']}/result"
    status, again = t.http("GET", path, headers=auth(token))
    d = (again or {}).get("data") or {} if isinstance(again, dict) else {}
    fresh = [c["url"] for c in d.get("chunks") or []] != [c["url"] for c in data["chunks"]]
    t.check("realistic: GET /queries/<id>/result serves a persisted chunked result under fresh URLs", status == 200 and fresh and d.get("total") == ROWS, (status, {k: v for k, v in d.items() if k != "rowsetBase64"}))
    t.check("realistic: ... and it reads as the same rows", read_chunks_raw(t, d, faults) == list(range(ROWS)), faults)
    other, _ = login_token(t, "smoke_real_other")
    _, refused = t.http("GET", path, headers=auth(other))
    t.check("realistic: another user's query id -> 000709", isinstance(refused, dict) and refused.get("code") == "000709", refused)
    expired = t.http("POST", "/_emulator/expire_results", body={})[1]
    _, gone = t.http("GET", path, headers=auth(token))
    t.check("realistic: after expire_results -> 000709", (expired or {}).get("expired", 0) >= 1 and isinstance(gone, dict) and gone.get("code") == "000709", (expired, gone))


def in_progress_problems(t: Any, resp: Any) -> list[str]:
    """The in-progress body (gosnowflake long_running_query.json, query.go "ping pong" fields)."""
    if not isinstance(resp, dict) or resp.get("success") is not True or resp.get("code") not in IN_PROGRESS:
        return [f"not in progress: {resp}"]
    d = resp.get("data") or {}
    p = []
    if d.get("getResultUrl") != f"/queries/{d.get('queryId')}/result":
        p.append(f"getResultUrl {d.get('getResultUrl')} vs queryId {d.get('queryId')}")
    if d.get("progressDesc") is not None or not t.is_int(d.get("queryAbortsAfterSecs")):
        p.append(f"progressDesc/queryAbortsAfterSecs {d}")
    if not isinstance(resp.get("message"), str) or not resp["message"]:
        p.append("message")
    return p


def check_in_progress_raw(t: Any) -> None:
    """A 2.5 s statement: in progress after 1 s, again after a 1 s poll, then its result."""
    token, _ = login_token(t, "smoke_real_wait")
    status, first = t.query(token, "SELECT SYSTEM$WAIT(2500, 'MILLISECONDS')")
    t.check("realistic: a slow statement answers in progress (HTTP 200)", status == 200 and not in_progress_problems(t, first), (in_progress_problems(t, first), first))
    codes, qid = [first.get("code")], (first.get("data") or {}).get("queryId")
    status, resp = t.http("GET", f"/queries/{qid}/result", headers=auth(token))
    while isinstance(resp, dict) and resp.get("code") in IN_PROGRESS:
        t.check("realistic: a poll of a running statement answers in progress again", not in_progress_problems(t, resp), resp)
        codes.append(resp["code"])
        status, resp = t.http("GET", resp["data"]["getResultUrl"], headers=auth(token))
    d = resp.get("data") or {} if isinstance(resp, dict) else {}
    t.check("realistic: polled to the result, shaped like a synchronous one", not t.query_success_problems(resp) and d.get("queryId") == qid, resp)
    t.check("realistic: SYSTEM$WAIT's result", d.get("rowset") == [["waited 2500 milliseconds"]], d.get("rowset"))
    t.check("realistic: in-progress answers alternate 333333 and 333334", set(codes) == set(IN_PROGRESS), codes)


def check_expired_poll(t: Any) -> None:
    token, master = login_token(t, "smoke_real_expiry")
    status, first = t.query(token, "SELECT SYSTEM$WAIT(2)")
    url = (first.get("data") or {}).get("getResultUrl", "") if isinstance(first, dict) else ""
    t.http("POST", "/_emulator/faults", {"user": "smoke_real_expiry", "kind": "expired", "every": 1, "count": 1})
    status, resp = t.query(token, "SELECT 1")
    t.check("realistic: an expired session's query-request gets 390112 with data null", status == 200 and resp == t.EXPIRED_BODY, resp)
    status, resp = t.http("GET", url, headers=auth(token))
    t.check("realistic: a poll with the expired token gets 390112 too", status == 200 and resp == t.EXPIRED_BODY, (url, resp))
    status, renewed = renew(t, token, master)
    token = (renewed.get("data") or {}).get("sessionToken", "") if isinstance(renewed, dict) else ""
    status, resp = t.http("GET", url, headers=auth(token))
    while isinstance(resp, dict) and resp.get("code") in IN_PROGRESS:
        status, resp = t.http("GET", url, headers=auth(token))
    t.check("realistic: after renewal the poll reaches the result", isinstance(resp, dict) and (resp.get("data") or {}).get("rowset") == [["waited 2 seconds"]], resp)


def check_abort_raw(t: Any) -> None:
    token, _ = login_token(t, "smoke_real_abort")
    request_id, sql = str(uuid.uuid4()), "SELECT SYSTEM$WAIT(5)"
    status, first = t.query(token, sql, request_id=request_id)
    qid = (first.get("data") or {}).get("queryId") if isinstance(first, dict) else None
    t.check("realistic: the statement to abort is in progress", first.get("code") in IN_PROGRESS, first)
    status, resp = t.http("POST", "/queries/v1/abort-request?" + urllib.parse.urlencode(t.common_params()), {"sqlText": sql, "requestId": request_id}, auth(token))
    t.check("realistic: abort-request answers success", resp == {"data": None, "code": None, "message": None, "success": True}, resp)
    status, resp = final_poll(t, token, f"/queries/{qid}/result")
    got = (resp.get("code"), resp.get("message"), (resp.get("data") or {}).get("sqlState")) if isinstance(resp, dict) else resp
    t.check("realistic: the aborted statement's poll gets 000604", got == ("000604", "SQL execution canceled", "57014"), resp)
    aborts = emulator(t, "/_emulator/aborts")
    t.check("realistic: /_emulator/aborts records it", {"queryId": qid, "requestId": request_id, "canceled": True} in aborts, aborts)
    status, resp = t.http("POST", "/queries/v1/abort-request", {"sqlText": sql, "requestId": request_id}, auth(token))
    t.check("realistic: aborting it again: 000605, not executing", isinstance(resp, dict) and resp.get("code") == "000605" and resp.get("success") is False, resp)


def check_slow_fault(t: Any) -> None:
    """A "slow" fault makes the statement itself slow: answered in progress, polled to its result."""
    token, _ = login_token(t, "smoke_real_slow")
    t.http("POST", "/_emulator/faults", {"user": "smoke_real_slow", "kind": "slow", "every": 1, "count": 1, "delay_ms": 1500})
    status, first = t.query(token, "SELECT 42 AS answer")
    t.check("realistic: a slow fault's statement is answered in progress", isinstance(first, dict) and first.get("code") in IN_PROGRESS, first)
    status, resp = final_poll(t, token, (first.get("data") or {}).get("getResultUrl", ""))
    t.check("realistic: ... and polled to its result", isinstance(resp, dict) and (resp.get("data") or {}).get("rowset") == [["42"]], resp)


def final_poll(t: Any, token: str, url: str) -> tuple[int, Any]:
    status, resp = t.http("GET", url, headers=auth(token))
    while isinstance(resp, dict) and resp.get("code") in IN_PROGRESS:
        status, resp = t.http("GET", url, headers=auth(token))
    return status, resp


def check_retry_raw(t: Any) -> None:
    token, _ = login_token(t, "smoke_real_retry")
    request_id = str(uuid.uuid4())
    answers = [final(t, token, "SELECT 7 AS seven", request_id=request_id)[1] for _ in range(2)]
    qids = [(a.get("data") or {}).get("queryId") for a in answers]
    t.check("realistic: a retried requestId gets the statement it started (one run)", qids[0] and qids[0] == qids[1], answers)
    seen = emulator(t, "/_emulator/request_ids?user=smoke_real_retry")
    tail = seen[-2:]
    t.check(
        "realistic: /_emulator/request_ids: same requestId, new request_guid, the second a retry",
        [r["requestId"] for r in tail] == [request_id] * 2 and tail[0]["request_guid"] != tail[1]["request_guid"] and [r["retry"] for r in tail] == [False, True],
        seen,
    )


def check_master_expiry(t: Any) -> None:
    token, master = login_token(t, "smoke_real_master")
    for n in (1, 2):
        status, resp = renew(t, token, master)
        token = (resp.get("data") or {}).get("sessionToken", "") if isinstance(resp, dict) else ""
        t.check(f"realistic: renewal {n} works", status == 200 and bool(token), resp)
    for n in (3, 4):
        status, resp = renew(t, token, master)
        t.check(f"realistic: renewal {n}: 390114, master token expired", status == 200 and resp == MASTER_EXPIRED, resp)
    status, resp = t.query(token, "SELECT 1")
    t.check("realistic: its session is expired for good (390112)", resp == t.EXPIRED_BODY, resp)
    fresh, _ = login_token(t, "smoke_real_master")
    ok(t, fresh, "SELECT 1", "a fresh login works after 390114")


def check_hostile_raw(t: Any) -> None:
    token, _ = login_token(t, "snowsync_hostile")
    ok(t, token, HOSTILE_TABLE, "hostile: create a table of every type")
    ok(t, token, HOSTILE_INSERT, "hostile: literals in the account's DD/MM/YYYY formats are read")
    ok(t, token, "INSERT INTO REAL_H (id) VALUES (2)", "hostile: a row of NULLs")
    data = ok(t, token, "SELECT * FROM REAL_H ORDER BY id", "hostile: select")
    t.check("realistic: hostile result is JSON", data.get("queryResultFormat") == "json" and "rowsetBase64" not in data, data.get("queryResultFormat"))
    t.check("realistic: JSON rowset strings per type", data.get("rowset") == HOSTILE_ROWSET, data.get("rowset"))
    for sql, code, noun, text in (
        ("SELECT '2024-01-02 03:04:05'::TIMESTAMP_NTZ(9)", "100035", "Timestamp", "2024-01-02 03:04:05"),
        ("SELECT CAST('2024-01-02' AS DATE)", "100040", "Date", "2024-01-02"),
        ("SELECT TO_TIME('12:34:56')", "100108", "Time", "12:34:56"),
        ("SELECT value[0]::VARCHAR::TIMESTAMP_TZ(9) FROM TABLE(FLATTEN(INPUT => PARSE_JSON('[[\"2024-01-02 03:04:05.5+00\"]]')))", "100035", "Timestamp", "2024-01-02 03:04:05.5+00"),
    ):
        expect_sql_error(t, token, sql, code, f"{noun} '{text}' is not recognized", "22007")
    ok(t, token, 'CREATE OR REPLACE TABLE "qi_Mixed" ("Col" INT)', "hostile: QUOTED_IDENTIFIERS_IGNORE_CASE folds quoted names")
    data = ok(t, token, 'SELECT "col" FROM QI_MIXED', "hostile: ... so they resolve upper-cased")
    t.check("realistic: folded column name", [c["name"] for c in data.get("rowtype", [])] == ["COL"], data.get("rowtype"))
    ok(t, token, "ALTER SESSION SET TIMESTAMP_INPUT_FORMAT = 'AUTO'", "hostile: back to AUTO")
    data = ok(t, token, "SELECT '2024-07-01 10:00:00'::TIMESTAMP_TZ", "hostile: ISO works with AUTO")
    t.check("realistic: TIMEZONE America/Los_Angeles applied to literals", data.get("rowset") == [["1719853200.000000000 1020"]], data.get("rowset"))
    ok(t, token, "ALTER SESSION SET TIMEZONE = 'UTC'", "hostile: ALTER SESSION SET TIMEZONE")
    data = ok(t, token, "SELECT '2024-07-01 10:00:00'::TIMESTAMP_TZ", "hostile: the same literal in UTC")
    t.check("realistic: TIMEZONE follows ALTER SESSION", data.get("rowset") == [["1719828000.000000000 1440"]], data.get("rowset"))
    ok(t, token, "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 1", "hostile: a 1 s statement timeout")
    expect_sql_error(t, token, "SELECT SYSTEM$WAIT(3)", "000630", "Statement reached its statement or warehouse timeout of 1 second(s) and was canceled.", "57014")


# ---------------------------------------------------------------------------------------------
# The official python connector reads through all of it
# ---------------------------------------------------------------------------------------------


def quick_backoff() -> Iterator[float]:
    """The connector's backoff between retries, shortened (a supported connect parameter)."""
    while True:
        yield 0.05


def connect(port: int, user: str, **params: Any) -> Any:
    import snowflake.connector

    return snowflake.connector.connect(
        user=user, password="hunter2", account="snowsync-test", host="127.0.0.1", port=port, protocol="http",
        database="SNOWSYNC", schema="PUBLIC", warehouse="SNOWSYNC_WH", backoff_policy=quick_backoff,
        session_parameters=params or None,
    )  # fmt: skip


def check_connector_chunks(t: Any, port: int) -> None:
    before = emulator(t, "/_emulator/chunk_stats")
    with connect(port, "smoke_real_py", PYTHON_CONNECTOR_QUERY_RESULT_FORMAT="ARROW") as conn:
        cur = conn.cursor()
        for n in range(8):  # every variant twice, through the fault schedule
            rows = cur.execute("SELECT id, label, amount FROM REAL_CHUNKY ORDER BY id").fetchall()
            t.check(f"realistic: python connector reads chunked arrow result {n + 1}/8 exactly", rows == CHUNKY_ROWS, rows[:3])
    after = emulator(t, "/_emulator/chunk_stats")
    delta = {k: after[k] - before[k] for k in ("served", "refused_403", "faults_503", "faults_cut", "results_chunked")}
    t.check("realistic: ... through 503s and cut bodies, never refused", delta["faults_503"] >= 1 and delta["faults_cut"] >= 1 and delta["refused_403"] == 0 and delta["results_chunked"] == 8, delta)


def check_connector_session(t: Any, port: int) -> None:
    """In-progress polls, 390112 renewal with a retry of the same requestId, and a timeout's abort."""
    with connect(port, "smoke_real_py_session") as conn:
        cur = conn.cursor()
        polls = emulator(t, "/_emulator/async_stats")["polls"]
        t.check("realistic: python connector polls a slow statement to its result", cur.execute("SELECT SYSTEM$WAIT(2)").fetchall() == [("waited 2 seconds",)])
        t.check("realistic: ... (it polled)", emulator(t, "/_emulator/async_stats")["polls"] > polls)
        values = [cur.execute(f"SELECT {n}").fetchone()[0] for n in range(45)]
        t.check("realistic: python connector through --expire-every 40 (renewed on 390112)", values == list(range(45)), values)
        seen = emulator(t, "/_emulator/request_ids?user=smoke_real_py_session")
        t.check("realistic: ... it retried the expired request with the same requestId", any(r["retry"] for r in seen), seen[-3:])
        try:
            cur.execute("SELECT SYSTEM$WAIT(5)", timeout=2)
            t.check("realistic: python connector timeout aborts the statement (604)", False, "no error")
        except Exception as e:  # noqa: BLE001 - snowflake.connector.errors.ProgrammingError
            t.check("realistic: python connector timeout aborts the statement (604)", getattr(e, "errno", None) == 604 and "SQL execution canceled" in str(e), e)
        aborts = emulator(t, "/_emulator/aborts")
        ids = {r["requestId"] for r in seen} | {r["requestId"] for r in emulator(t, "/_emulator/request_ids?user=smoke_real_py_session")}
        t.check("realistic: ... by abort-request with its requestId", any(a["canceled"] and a["requestId"] in ids for a in aborts), aborts)


def check_connector_hostile(t: Any, port: int) -> None:
    with connect(port, "snowsync_hostile") as conn:
        cur = conn.cursor()
        rows = cur.execute("SELECT * FROM REAL_H ORDER BY id").fetchall()
        same = rows == HOSTILE_ROWS and all(a.utcoffset() == b.utcoffset() for a, b in zip(rows[0][8:10], HOSTILE_ROWS[0][8:10]))
        t.check("realistic: python connector reads the hostile user's JSON result exactly", same, rows)
        rows = cur.execute("SELECT id, label, amount FROM REAL_CHUNKY ORDER BY id").fetchall()
        t.check("realistic: ... and a chunked JSON result", rows == CHUNKY_ROWS, rows[:3])


# ---------------------------------------------------------------------------------------------


def run(t: Any) -> None:
    """All of the above against a fresh `python -m snowemu --realistic`, then stop it."""
    emu = Emulator()
    failed_before = len(t.FAILED)
    try:
        if not t.check("realistic: emulator started with --realistic", emu.wait_ready(), emu.log):
            return
        t.BASE = emu.url
        config = emulator(t, "/_emulator/config")
        t.check("realistic: --realistic turns every behaviour on with its test values", {k: config.get(k) for k in ("async_after_ms", "async_every", "chunk_rows", "chunk_faults", "expire_every", "master_expire_every", "hostile_defaults")} == {"async_after_ms": 1000, "async_every": 5, "chunk_rows": 100, "chunk_faults": 7, "expire_every": 40, "master_expire_every": 3, "hostile_defaults": True}, config)
        token = check_parameters(t)
        check_chunks_raw(t, token, int(config.get("chunk_port") or 0), emu.port)
        check_in_progress_raw(t)
        check_expired_poll(t)
        check_abort_raw(t)
        check_slow_fault(t)
        check_retry_raw(t)
        check_master_expiry(t)
        check_hostile_raw(t)
        check_connector_chunks(t, emu.port)
        check_connector_session(t, emu.port)
        check_connector_hostile(t, emu.port)
    finally:
        emu.stop(keep_log=len(t.FAILED) > failed_before)
