"""Smoke test of the Snowflake emulator, speaking the wire protocol the Rust client uses.

Run against a running stack:
    eval "$(scripts/stack env)"
    .venv/bin/python emulator/tests/smoke_test.py

Request bodies mirror snowflake-api 0.14 (requests.rs / session.rs / connection.rs), and the
response checks mirror the fields its response structs (responses.rs) require, so a response the
Rust client would fail to deserialise fails here. Then it starts its own emulator with
--realistic on free ports and proves, with raw HTTP and the official python connector
(smoke_realistic.py), the behaviours real Snowflake has and the plain emulator hides.
Prints "N passed, M failed"; exits 1 on failure.
"""

from __future__ import annotations

import base64
import hashlib
import datetime as dt
import gzip
import json
import os
import secrets
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import smoke_realistic  # beside this file
from snowemu import digest

BASE = os.environ.get("SNOWSYNC_SNOWFLAKE_URL", "").rstrip("/")
PASSED: list[str] = []
FAILED: list[str] = []

SNOWFLAKE_TYPES = {
    "fixed", "real", "text", "date", "variant", "timestamp_ltz", "timestamp_ntz",
    "timestamp_tz", "object", "binary", "time", "boolean", "array",
}  # fmt: skip


def check(name: str, cond: bool, detail: Any = "") -> bool:
    if cond:
        PASSED.append(name)
        print(f"ok   {name}")
    else:
        FAILED.append(name)
        print(f"FAIL {name}: {str(detail)[:1500]}")
    return cond


# ---------------------------------------------------------------------------------------------
# HTTP, as snowflake-api sends it
# ---------------------------------------------------------------------------------------------


def http(method: str, path: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


def common_params() -> dict[str, str]:
    return {
        "clientStartTime": str(int(dt.datetime.now().timestamp())),
        "requestId": str(uuid.uuid4()),
        "request_guid": str(uuid.uuid4()),
    }


def login(
    user: str,
    password: str | None = "hunter2",
    role: str | None = "SNOWSYNC_ROLE",
    database: str | None = "SNOWSYNC",
    schema: str | None = "PUBLIC",
    warehouse: str | None = "SNOWSYNC_WH",
    jwt: str | None = None,
) -> tuple[int, Any]:
    """POST /session/v1/login-request exactly like Session::create (values upper-cased like the crate)."""
    params = common_params()
    for k, v in (("warehouse", warehouse), ("databaseName", database), ("schemaName", schema), ("roleName", role)):
        if v is not None:
            params[k] = v.upper()
    data: dict[str, Any] = {
        "CLIENT_APP_ID": "Go",
        "CLIENT_APP_VERSION": "1.6.22",
        "SVN_REVISION": "",
        "ACCOUNT_NAME": "SNOWSYNC-TEST",
        "LOGIN_NAME": user.upper(),
        "SESSION_PARAMETERS": {"CLIENT_VALIDATE_DEFAULT_PARAMETERS": True},
        "CLIENT_ENVIRONMENT": {"APPLICATION": "Rust", "OS": "darwin", "OS_VERSION": "gc-arm64", "OCSP_MODE": "FAIL_OPEN"},
    }
    if jwt is not None:
        data["AUTHENTICATOR"] = "SNOWFLAKE_JWT"
        data["TOKEN"] = jwt
    else:
        data["PASSWORD"] = password
    return http(
        "POST",
        "/session/v1/login-request?" + urllib.parse.urlencode(params),
        {"data": data},
        {"Accept": "application/json"},
    )


SEQ = [0]


def query(token: str, sql: str, gzip_body: bool = False, request_id: str | None = None) -> tuple[int, Any]:
    """POST /queries/v1/query-request exactly like SnowflakeApi::run_sql (ArrowQuery)."""
    SEQ[0] += 1
    body = {"sqlText": sql, "asyncExec": False, "sequenceId": SEQ[0], "isInternal": False}
    headers = {"Accept": "application/snowflake", "Authorization": f'Snowflake Token="{token}"'}
    raw = None
    if gzip_body:
        raw = gzip.compress(json.dumps(body).encode())
        headers["Content-Encoding"] = "gzip"
    params = common_params()
    if request_id is not None:  # a retry: same requestId, new request_guid
        params["requestId"] = request_id
    return http("POST", "/queries/v1/query-request?" + urllib.parse.urlencode(params), body, headers, raw)


# ---------------------------------------------------------------------------------------------
# Shape validators: the fields snowflake-api's serde structs require
# ---------------------------------------------------------------------------------------------


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def opt(v: Any, pred) -> bool:
    return v is None or pred(v)


def login_problems(resp: Any) -> list[str]:
    """BaseRestResponse<LoginResponseData>."""
    p: list[str] = []
    if not isinstance(resp, dict):
        return [f"not an object: {resp!r}"]
    if resp.get("success") is not True:
        p.append("success != true")
    for k in ("code", "message"):
        if k not in resp or not opt(resp[k], lambda x: isinstance(x, str)):
            p.append(f"{k} missing or not string/null")
    d = resp.get("data")
    if not isinstance(d, dict):
        return p + ["data not an object"]
    for k in ("sessionId", "masterValidityInSeconds", "validityInSeconds"):
        if not is_int(d.get(k)):
            p.append(f"data.{k} not int: {d.get(k)!r}")
    for k in ("token", "masterToken", "serverVersion"):
        if not isinstance(d.get(k), str) or not d.get(k):
            p.append(f"data.{k} not a non-empty string")
    if not isinstance(d.get("parameters", []), list) or any(not isinstance(x, dict) or not isinstance(x.get("name"), str) or "value" not in x for x in d.get("parameters", [])):
        p.append("data.parameters not a list of {name, value}")
    si = d.get("sessionInfo")
    if not isinstance(si, dict) or not isinstance(si.get("roleName"), str):
        p.append("data.sessionInfo.roleName missing")
    else:
        for k in ("databaseName", "schemaName", "warehouseName"):
            if not opt(si.get(k), lambda x: isinstance(x, str)):
                p.append(f"data.sessionInfo.{k} not string/null")
    return p


def query_success_problems(resp: Any) -> list[str]:
    """BaseRestResponse<QueryExecResponseData>."""
    p: list[str] = []
    if not isinstance(resp, dict):
        return [f"not an object: {resp!r}"]
    if resp.get("success") is not True:
        p.append(f"success != true ({resp.get('code')}: {resp.get('message')})")
    for k in ("code", "message"):
        if not opt(resp.get(k), lambda x: isinstance(x, str)):
            p.append(f"{k} not string/null")
    d = resp.get("data")
    if not isinstance(d, dict):
        return p + ["data not an object"]
    params = d.get("parameters")
    if not isinstance(params, list) or any(not isinstance(x, dict) or not isinstance(x.get("name"), str) or "value" not in x for x in params):
        p.append("data.parameters missing or not a list of {name, value}")
    rowtype = d.get("rowtype")
    if not isinstance(rowtype, list):
        p.append("data.rowtype missing")
    else:
        for c in rowtype:
            if not isinstance(c.get("name"), str):
                p.append(f"rowtype name: {c}")
            if c.get("type") not in SNOWFLAKE_TYPES:
                p.append(f"rowtype type {c.get('type')!r} unknown to the client")
            if not isinstance(c.get("nullable"), bool):
                p.append(f"rowtype nullable: {c}")
            for k in ("byteLength", "length", "scale", "precision"):
                if not opt(c.get(k), is_int):
                    p.append(f"rowtype {k}: {c}")
    for k in ("total", "returned", "statementTypeId", "version"):
        if not is_int(d.get(k)):
            p.append(f"data.{k} not int: {d.get(k)!r}")
    for k in ("queryId", "finalRoleName"):
        if not isinstance(d.get(k), str):
            p.append(f"data.{k} not a string: {d.get(k)!r}")
    for k in ("databaseProvider", "finalDatabaseName", "finalSchemaName", "finalWarehouseName", "rowsetBase64", "qrmk", "getResultUrl", "resultIds"):
        if not opt(d.get(k), lambda x: isinstance(x, str)):
            p.append(f"data.{k} not string/null")
    if not opt(d.get("numberOfBinds"), is_int):
        p.append("data.numberOfBinds not int/null")
    if d.get("rowset") is None and d.get("rowsetBase64") is None:
        p.append("neither rowset nor rowsetBase64")
    return p


def query_error_problems(resp: Any) -> list[str]:
    """BaseRestResponse<ExecErrorResponseData>."""
    p: list[str] = []
    if not isinstance(resp, dict):
        return [f"not an object: {resp!r}"]
    if resp.get("success") is not False:
        p.append("success != false")
    if not isinstance(resp.get("code"), str):
        p.append("code not a string")
    if not isinstance(resp.get("message"), str):
        p.append("message not a string")
    d = resp.get("data")
    if not isinstance(d, dict):
        return p + ["data not an object"]
    if not is_int(d.get("age")):
        p.append("data.age not int")
    if not isinstance(d.get("internalError"), bool):
        p.append("data.internalError not bool")
    for k in ("errorCode", "queryId", "sqlState"):
        if not isinstance(d.get(k), str):
            p.append(f"data.{k} not a string: {d.get(k)!r}")
    for k in ("line", "pos"):
        if not opt(d.get(k), is_int):
            p.append(f"data.{k} not int/null")
    if isinstance(d.get("errorCode"), str) and d.get("errorCode") != resp.get("code"):
        p.append("data.errorCode != code")
    return p


def expect_error(name: str, status: int, resp: Any, code: str, sql_state: str | None = None, message: str | None = None) -> None:
    problems = query_error_problems(resp)
    check(f"{name}: error shape the client can deserialise", not problems, (problems, resp))
    check(f"{name}: HTTP 200", status == 200, status)
    check(f"{name}: code {code}", isinstance(resp, dict) and resp.get("code") == code, resp)
    if sql_state is not None:
        check(f"{name}: sqlState {sql_state}", isinstance(resp, dict) and (resp.get("data") or {}).get("sqlState") == sql_state, resp)
    if message is not None:
        check(f"{name}: message", isinstance(resp, dict) and resp.get("message") == message, resp.get("message") if isinstance(resp, dict) else resp)


def expect_ok(name: str, status: int, resp: Any) -> dict:
    problems = query_success_problems(resp)
    check(f"{name}: success shape the client can deserialise", status == 200 and not problems, (status, problems, resp))
    return resp.get("data") or {} if isinstance(resp, dict) else {}


def decode_arrow(d: dict) -> pa.Table:
    b64 = d.get("rowsetBase64") or ""
    reader = pa.ipc.open_stream(base64.b64decode(b64))
    return reader.read_all()


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


EXPIRED_BODY = {"code": "390112", "data": None, "message": "Your session has expired. Please login again.", "success": False, "headers": None}


def run() -> None:
    status, resp = http("GET", "/_emulator/health")
    check("emulator answers", status == 200, (status, resp))
    status, resp = http("GET", "/_emulator/config")
    check(
        "the stack's emulator runs the code on disk (else: scripts/stack down && scripts/stack up)",
        status == 200 and isinstance(resp, dict) and resp.get("code") == digest.code_digest(),
        (status, resp),
    )

    # --- login -----------------------------------------------------------------------------------
    status, resp = login("smoke_user", role="snowsync_role")
    problems = login_problems(resp)
    check("login: response has every field LoginResponseData needs", status == 200 and not problems, (status, problems, resp))
    d = resp.get("data", {}) if isinstance(resp, dict) else {}
    check("login: validityInSeconds 3600", d.get("validityInSeconds") == 3600, d)
    check("login: masterValidityInSeconds 14400", d.get("masterValidityInSeconds") == 14400, d)
    check("login: sessionInfo.roleName from roleName param", (d.get("sessionInfo") or {}).get("roleName") == "SNOWSYNC_ROLE", d)
    check("login: code and message are null", isinstance(resp, dict) and resp.get("code") is None and resp.get("message") is None, resp)
    token = d.get("token", "")

    status, resp = login("smoke_user_norole", role=None)
    check("login without roleName: role PUBLIC", ((resp.get("data") or {}).get("sessionInfo") or {}).get("roleName") == "PUBLIC", resp)

    # --- DDL / DML / SELECT ----------------------------------------------------------------------
    db = f"SMOKE_{secrets.token_hex(4).upper()}"
    table = f"{db}.S.ALLTYPES"
    for sql in (
        f"CREATE DATABASE {db}",
        f"CREATE SCHEMA {db}.S",
        f"""CREATE TABLE {table} (
            id NUMBER(38,0), amount NUMBER(12,2), ratio FLOAT, label TEXT, flag BOOLEAN, day DATE,
            at_time TIME, ntz TIMESTAMP_NTZ, tz TIMESTAMP_TZ, doc VARIANT, blob BINARY)""",
    ):
        status, resp = query(token, sql)
        dd = expect_ok(sql.split("(")[0].strip(), status, resp)
        check(f"{sql.split('(')[0].strip()}: returned == rows", dd.get("returned") == dd.get("total") == 1, dd)

    status, resp = query(
        token,
        f"""INSERT INTO {table}
            SELECT 1, 12.34, 1.5, 'héllo', TRUE, '2024-01-02'::DATE, '12:34:56.789'::TIME,
                   '2024-01-02 03:04:05.123456'::TIMESTAMP_NTZ, '2024-01-02 03:04:05.5 +00:00'::TIMESTAMP_TZ,
                   PARSE_JSON('{{"a": [1, 2]}}'), TO_BINARY('DEADBEEF', 'HEX')""",
    )
    dd = expect_ok("INSERT ... SELECT", status, resp)
    check("INSERT: json rowset with 1 row inserted, returned 1", dd.get("rowset") == [["1"]] and dd.get("returned") == 1, dd)
    status, resp = query(token, f"INSERT INTO {table} VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    expect_ok("INSERT all NULLs", status, resp)
    status, resp = query(token, f"INSERT INTO {table} (id) VALUES (3)", gzip_body=True)
    expect_ok("INSERT with gzip request body", status, resp)

    status, resp = query(token, f"SELECT * FROM {table} ORDER BY id NULLS LAST")
    dd = expect_ok("SELECT *", status, resp)
    check("SELECT *: arrow result", dd.get("queryResultFormat") == "arrow" and bool(dd.get("rowsetBase64")), dd.get("queryResultFormat"))
    check("SELECT *: returned == total == 3", dd.get("returned") == 3 and dd.get("total") == 3, (dd.get("returned"), dd.get("total")))
    check("SELECT *: rowtype types", [c.get("type") for c in dd.get("rowtype", [])] == ["fixed", "fixed", "real", "text", "boolean", "date", "time", "timestamp_ntz", "timestamp_tz", "variant", "binary"], dd.get("rowtype"))
    try:
        t = decode_arrow(dd)
        check("SELECT *: rowsetBase64 decodes with pa.ipc.open_stream", True)
        check("SELECT *: 3 rows, 11 columns", t.num_rows == 3 and t.num_columns == 11, t.shape)
        b = t.combine_chunks().to_batches()[0]
        b.validate(full=True)
        check("SELECT *: batch validates (full)", True)
        rows = t.to_pylist()
        r0, r1 = rows[0], rows[2]  # id 1, and the all-NULL row (sorted last)
        check("row 1 values", (r0["ID"], r0["AMOUNT"], r0["RATIO"], r0["LABEL"], r0["FLAG"], r0["DAY"]) == (1, Decimal("12.34"), 1.5, "héllo", True, dt.date(2024, 1, 2)), r0)
        check("row 1 TIME as int64 nanoseconds", r0["AT_TIME"] == (12 * 3600 + 34 * 60 + 56) * 10**9 + 789 * 10**6, r0["AT_TIME"])
        check("row 1 TIMESTAMP_NTZ struct", r0["NTZ"] == {"epoch": 1704164645, "fraction": 123456000}, r0["NTZ"])
        check("row 1 TIMESTAMP_TZ struct", r0["TZ"] == {"epoch": 1704164645, "fraction": 500000000, "timezone": 1440}, r0["TZ"])
        check("row 1 VARIANT json text", json.loads(r0["DOC"]) == {"a": [1, 2]}, r0["DOC"])
        check("row 1 BINARY", r0["BLOB"] == bytes.fromhex("DEADBEEF"), r0["BLOB"])
        check("NULL row: every column NULL", all(v is None for v in r1.values()), r1)
        for col_name in t.column_names:
            col = b.column(t.column_names.index(col_name))
            check(f"validity {col_name}: exactly the NULL row is null", col.is_null().to_pylist() == [False, col_name != "ID", True], col.is_null().to_pylist())
        for col_name in ("NTZ", "TZ"):
            col = b.column(t.column_names.index(col_name))
            field = b.schema.field(col_name)
            children_ok = all(col.field(i).null_count == 0 for i in range(col.type.num_fields))
            non_nullable = all(not field.type.field(i).nullable for i in range(field.type.num_fields))
            check(f"{col_name}: struct-level validity, non-nullable children have no nulls", col.null_count == 2 and children_ok and non_nullable, (col.null_count, [col.field(i).null_count for i in range(col.type.num_fields)]))
    except Exception:  # noqa: BLE001
        check("SELECT *: arrow decoding", False, traceback.format_exc())

    status, resp = query(token, f"SELECT * FROM {table} WHERE id = -1")
    dd = expect_ok("SELECT with no rows", status, resp)
    check("SELECT with no rows: returned 0", dd.get("returned") == 0, dd.get("returned"))

    # --- errors -----------------------------------------------------------------------------------
    status, resp = query(token, "SELECT * FROM no_such_table_anywhere")
    expect_error("bad query", status, resp, "002003", "42S02")
    check("bad query: message without the connector's code prefix", isinstance(resp, dict) and not str(resp.get("message", "")).startswith("002003"), resp)
    status, resp = query(token, "SELEC 1")
    expect_error("syntax error", status, resp, "001003", "42000")
    status, resp = query(token, "SELECT INTERVAL '1 day' AS i")  # fakesnow: unhandled (HTTP 500)
    expect_error("fakesnow unhandled exception", status, resp, "000603")
    check("fakesnow unhandled exception: message names the cause", "INTERVAL" in str(resp.get("message") if isinstance(resp, dict) else resp), resp)

    # --- ALTER SESSION ----------------------------------------------------------------------------
    tag = f"snowsync-smoke-{secrets.token_hex(4)}"
    status, resp = query(token, f"ALTER SESSION SET QUERY_TAG = '{tag}'")
    dd = expect_ok("ALTER SESSION SET QUERY_TAG", status, resp)
    check("ALTER SESSION: status row", dd.get("rowset") == [["Statement executed successfully."]] and dd.get("returned") == 1 and [c["name"] for c in dd.get("rowtype", [])] == ["status"], dd)
    status, tags = http("GET", "/_emulator/query_tags")
    check("/_emulator/query_tags lists the tag", status == 200 and isinstance(tags, list) and tag in tags, tags)
    status, resp = query(token, "/* c */ alter session set TIMEZONE = 'UTC', STATEMENT_TIMEOUT_IN_SECONDS = 60")
    expect_ok("ALTER SESSION SET several params", status, resp)
    status, resp = query(token, "ALTER SESSION UNSET QUERY_TAG")
    expect_ok("ALTER SESSION UNSET", status, resp)
    status, resp = query(token, "ALTER SESSION SET QUERY_TAG = 'x' NOT_A_PARAMETER = 1")
    expect_error("ALTER SESSION SET of an unknown parameter", status, resp, "001006", "22023", "SQL compilation error:\ninvalid parameter 'NOT_A_PARAMETER'")
    status, resp = query(token, "SELECT 1 AS one")
    expect_ok("session still usable after ALTER SESSION", status, resp)

    # --- designated users -------------------------------------------------------------------------
    status, resp = login("snowsync_wrong_password")
    check(
        "SNOWSYNC_WRONG_PASSWORD: 390100 in Snowflake's shape",
        status == 200
        and resp
        == {
            "data": {"nextAction": "RETRY_LOGIN", "authnMethod": "PASSWORD", "signInOptions": {}, "errorCode": "390100"},
            "code": "390100",
            "message": "Incorrect username or password was specified.",
            "success": False,
            "headers": None,
        },
        (status, resp),
    )
    status, resp = login("Snowsync_IP_Blocked")
    check(
        "SNOWSYNC_IP_BLOCKED: 390422",
        status == 200
        and isinstance(resp, dict)
        and resp.get("success") is False
        and resp.get("code") == "390422"
        and (resp.get("data") or {}).get("errorCode") == "390422"
        and "authnMethod" in (resp.get("data") or {})
        and resp.get("message") == "IP 203.0.113.7 is not allowed to access Snowflake.  Contact your local security administrator.",
        (status, resp),
    )

    # --- key-pair (JWT) login ---------------------------------------------------------------------
    jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=") + ".c2ln"
    status, resp = login("smoke_jwt_user", password=None, jwt=jwt)
    check("JWT login accepted", status == 200 and not login_problems(resp), (status, login_problems(resp), resp))
    status, resp = http("GET", "/_emulator/last_jwt?user=smoke_jwt_user")
    check("/_emulator/last_jwt returns the token", status == 200 and resp == {"token": jwt}, (status, resp))

    # A registered key: only a JWT it signed, naming its fingerprint, logs in (390144 otherwise)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    user = "SMOKE_KEYED_" + secrets.token_hex(4).upper()
    status, resp = query(token, f"CREATE USER {user} RSA_PUBLIC_KEY = '{base64.b64encode(der).decode()}'")
    expect_ok("CREATE USER ... RSA_PUBLIC_KEY answered by the layer", status, resp)

    def signed(issuer_fp: str) -> str:
        enc = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
        head = enc(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        body = enc(json.dumps({"iss": f"ACCT.{user}.{issuer_fp}", "sub": f"ACCT.{user}", "iat": 0, "exp": 9999999999}).encode())
        sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{enc(sig)}"

    status, resp = login(user, password=None, jwt=signed(fp))
    check("JWT signed by the registered key: accepted", status == 200 and not login_problems(resp), (status, resp))
    status, resp = login(user, password=None, jwt=jwt)
    check("JWT of another key: 390144", isinstance(resp, dict) and resp.get("code") == "390144", (status, resp))
    status, resp = query(token, f"ALTER USER {user} UNSET RSA_PUBLIC_KEY")
    expect_ok("ALTER USER ... UNSET RSA_PUBLIC_KEY", status, resp)
    status, resp = login(user, password=None, jwt=jwt)
    check("no registered key left: accepted as before", status == 200 and not login_problems(resp), (status, resp))
    status, resp = query(token, f"ALTER USER {user} SET RSA_PUBLIC_KEY_2 = '{base64.b64encode(der).decode()}'")
    expect_ok("ALTER USER ... SET RSA_PUBLIC_KEY_2", status, resp)
    status, resp = query(token, f"DROP USER IF EXISTS {user}")
    expect_ok("DROP USER answered by the layer", status, resp)
    status, resp = login(user, password=None, jwt=jwt)
    check("a dropped user's keys are gone", status == 200 and not login_problems(resp), (status, resp))

    # Onboarding's access control statements: answered as succeeded, not enforced (access.py)
    for sql in (
        'CREATE ROLE IF NOT EXISTS "SMOKE_ROLE"',
        'GRANT USAGE ON WAREHOUSE "W" TO ROLE "SMOKE_ROLE"',
        f'GRANT SELECT ON TABLE {table} TO ROLE "SMOKE_ROLE"',
        'GRANT ROLE "SMOKE_ROLE" TO USER "SMOKE_SVC"',
        "CREATE NETWORK POLICY \"SMOKE_NP\" ALLOWED_IP_LIST = ('192.0.2.1')",
        'ALTER USER "SMOKE_SVC" SET NETWORK_POLICY = "SMOKE_NP"',
        'REVOKE ROLE "SMOKE_ROLE" FROM USER "SMOKE_SVC"',
    ):
        status, resp = query(token, sql)
        expect_ok(sql.split(" TO ")[0], status, resp)

    # --- no-write role ----------------------------------------------------------------------------
    status, resp = login("smoke_reader", role="snowsync_no_write")
    ro = (resp.get("data") or {}).get("token", "") if isinstance(resp, dict) else ""
    status, resp = query(ro, f"SELECT COUNT(*) AS n FROM {table}")
    expect_ok("no-write role: SELECT allowed", status, resp)
    status, resp = query(ro, f"/* leading comment */\n-- another\n  insert into {table.lower()} (id) values (9)")
    expect_error(
        "no-write role: INSERT", status, resp, "003001", "42501",
        f"SQL access control error:\nInsufficient privileges to operate on table '{table}'",
    )  # fmt: skip
    for sql in (f"DELETE FROM {table}", f"MERGE INTO {table} t USING {table} s ON t.id = s.id WHEN MATCHED THEN DELETE", f"CREATE TABLE {db}.S.X (a INT)", f"DROP TABLE {table}", f"TRUNCATE TABLE {table}", f"UPDATE {table} SET id = 1"):
        status, resp = query(ro, sql)
        check(f"no-write role: {sql.split()[0]} -> 003001", isinstance(resp, dict) and resp.get("code") == "003001" and not query_error_problems(resp), resp)
    status, resp = query(token, f"SELECT COUNT(*) AS n FROM {table}")
    dd = expect_ok("denied writes did not reach the table", status, resp)
    try:
        check("denied writes did not reach the table: still 3 rows", decode_arrow(dd).column(0).to_pylist() == [3], decode_arrow(dd).to_pylist())
    except Exception:  # noqa: BLE001
        check("denied writes did not reach the table: still 3 rows", False, traceback.format_exc())

    # --- renew and close --------------------------------------------------------------------------
    status, resp = login("smoke_renew")
    d = resp.get("data") or {}
    status, resp = http(
        "POST",
        "/session/token-request?" + urllib.parse.urlencode(common_params()),
        {"oldSessionToken": d.get("token"), "requestType": "RENEW"},
        {"Accept": "application/snowflake", "Authorization": f'Snowflake Token="{d.get("masterToken")}"'},
    )
    rd = resp.get("data") or {} if isinstance(resp, dict) else {}
    check("token-request renews the session", status == 200 and resp.get("success") is True and isinstance(rd.get("sessionToken"), str) and all(is_int(rd.get(k)) for k in ("validityInSecondsST", "validityInSecondsMT", "sessionId")), resp)
    status, resp = query(rd.get("sessionToken", ""), "SELECT 1 AS one")
    expect_ok("renewed token works", status, resp)
    status, resp = http("POST", "/session?delete=true", {}, {"Accept": "application/snowflake", "Authorization": f'Snowflake Token="{rd.get("sessionToken", "")}"'})
    check("close session", status == 200 and isinstance(resp, dict) and resp.get("success") is True and resp.get("data") is None, resp)
    status, resp = query(rd.get("sessionToken", ""), "SELECT 1 AS one")
    expect_error("query on a closed session", status, resp, "390104")

    # --- expired sessions (last: it expires every session) ----------------------------------------
    status, resp = login("smoke_expiry")
    exp_token = (resp.get("data") or {}).get("token", "")
    status, resp = query(exp_token, "SELECT 1 AS one")
    expect_ok("before expiry", status, resp)
    status, resp = http("POST", "/_emulator/expire_sessions", {})
    check("/_emulator/expire_sessions", status == 200, (status, resp))
    status, resp = query(exp_token, "SELECT 1 AS one")
    check("expired session: Snowflake's 390112 body, data null", status == 200 and resp == EXPIRED_BODY, (status, resp))
    status, resp = login("smoke_after_expiry")
    status, resp = query((resp.get("data") or {}).get("token", ""), "SELECT 1 AS one")
    expect_ok("new login after expiry works", status, resp)


def check_stages() -> None:
    """PUT answers with encryption material; the official connector's encrypted upload loads, an
    unencrypted or wrongly keyed one fails COPY INTO with Snowflake's error and loads nothing, and
    COPY's load history skips a file already loaded (FORCE loads it again)."""
    import tempfile

    import snowflake.connector

    port = int(urllib.parse.urlparse(BASE).port or 80)
    conn = snowflake.connector.connect(
        user="smoke_stage", password="hunter2", account="snowsync-test", host="127.0.0.1", port=port, protocol="http",
        database="SNOWSYNC", schema="PUBLIC", warehouse="SNOWSYNC_WH",
    )  # fmt: skip
    cur = conn.cursor()
    cur.execute("CREATE OR REPLACE TABLE STAGE_SMOKE (ID NUMBER, NAME VARCHAR)")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rows.csv.gz")
        with gzip.open(path, "wb") as f:
            f.write(b"1,one\n2,two\n")
        put = cur.execute(f"PUT file://{path} @%STAGE_SMOKE AUTO_COMPRESS=FALSE").fetchall()
        check("stage: the connector's PUT uploads (encrypted)", bool(put) and put[0][6] == "UPLOADED", put)
    loaded = cur.execute("COPY INTO STAGE_SMOKE FROM @%STAGE_SMOKE FILES = ('rows.csv.gz') FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP)").fetchall()
    rows = cur.execute("SELECT ID, NAME FROM STAGE_SMOKE ORDER BY ID").fetchall()
    check("stage: COPY INTO decrypts and loads the connector's file", rows == [(1, "one"), (2, "two")], (loaded, rows))
    again = cur.execute("COPY INTO STAGE_SMOKE FROM @%STAGE_SMOKE FILES = ('rows.csv.gz') FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP)").fetchall()
    count = cur.execute("SELECT COUNT(*) FROM STAGE_SMOKE").fetchall()
    check("stage: load history skips a file already loaded", count == [(2,)] and again[0][1] == "LOAD_SKIPPED", (again, count))
    cur.execute("COPY INTO STAGE_SMOKE FROM @%STAGE_SMOKE FILES = ('rows.csv.gz') FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP) FORCE = TRUE")
    count = cur.execute("SELECT COUNT(*) FROM STAGE_SMOKE").fetchall()
    check("stage: FORCE loads it again", count == [(4,)], count)
    conn.close()

    # raw protocol: PUT's answer, then an upload without (or with the wrong) encryption
    status, resp = login("smoke_stage_raw")
    token = (resp.get("data") or {}).get("token", "")
    query(token, "CREATE OR REPLACE TABLE STAGE_RAW (ID NUMBER, NAME VARCHAR)")
    for case in ("unencrypted", "wrong key"):
        status, resp = query(token, "PUT file:///snowsync/raw.csv.gz @%STAGE_RAW AUTO_COMPRESS=FALSE SOURCE_COMPRESSION=GZIP OVERWRITE=TRUE")
        d = (resp or {}).get("data") or {}
        info, material = d.get("stageInfo") or {}, d.get("encryptionMaterial") or {}
        check(f"stage ({case}): PUT answers a GCS presigned URL and encryption material",
              info.get("locationType") == "GCS" and str(info.get("presignedUrl", "")).startswith("http")
              and len(base64.b64decode(material.get("queryStageMasterKey", ""))) == 16 and material.get("smkId") is not None,
              d)  # fmt: skip
        body = gzip.compress(b"3,three\n")
        headers = {"x-goog-meta-sfc-digest": base64.b64encode(hashlib.sha256(body).digest()).decode()}
        if case == "wrong key":
            headers["x-goog-meta-encryptiondata"] = json.dumps({"WrappedContentKey": {"EncryptedKey": base64.b64encode(os.urandom(32)).decode()}, "ContentEncryptionIV": base64.b64encode(os.urandom(16)).decode()})
            body = os.urandom(32)
        req = urllib.request.Request(info["presignedUrl"], data=body, method="PUT", headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            check(f"stage ({case}): the upload itself is accepted, as by GCS", r.status == 200, r.status)
        status, resp = query(token, "COPY INTO STAGE_RAW FROM @%STAGE_RAW FILES = ('raw.csv.gz') FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP)")
        expect_error(f"stage ({case}): COPY INTO fails to decrypt", status, resp, "100315", message="Failed to decrypt. Check file key and master key.")
        status, resp = query(token, "SELECT COUNT(*) AS N FROM STAGE_RAW")
        check(f"stage ({case}): nothing loaded", decode_arrow(expect_ok("count", status, resp)).column(0).to_pylist() == [0], resp)
    req = urllib.request.Request(BASE + "/_stage/not-signed/raw.csv.gz", data=b"x", method="PUT")
    try:
        urllib.request.urlopen(req, timeout=30)
        refused = None
    except urllib.error.HTTPError as e:
        refused = e.code
    check("stage: an upload to a URL the emulator did not sign is refused", refused == 403, refused)


def check_concurrent_merges() -> None:
    """Sessions of one database MERGE into their own tables at once, as a push's exports do.

    fakesnow runs a MERGE through a temporary table of one fixed name and recorded every table a
    CREATE makes in a catalog all sessions share, so the first MERGEs of two sessions in a fresh
    database failed the second commit (000603, duplicate key) about nine times in ten. Snowflake's
    temporary tables belong to their session: concurrent MERGEs never collide there.
    """
    import threading

    import snowflake.connector

    port = int(urllib.parse.urlparse(BASE).port or 80)

    def connect(database: str | None) -> Any:
        return snowflake.connector.connect(
            user="smoke_merge", password="hunter2", account="snowsync-test", host="127.0.0.1", port=port, protocol="http",
            database=database, schema="PUBLIC" if database else None, warehouse="SNOWSYNC_WH",
        )  # fmt: skip

    admin = connect(None)
    errors: list[str] = []
    trials = 10
    for _ in range(trials):
        database = "MERGE_SMOKE_" + uuid.uuid4().hex[:8].upper()
        admin.cursor().execute(f"CREATE DATABASE {database}")
        sessions = [connect(database) for _ in range(2)]
        for i, conn in enumerate(sessions):
            conn.cursor().execute(f"CREATE TABLE T{i} (ID NUMBER, N NUMBER)")
        start = threading.Barrier(len(sessions))

        def merge(i: int) -> None:
            start.wait()
            try:
                sessions[i].cursor().execute(
                    f"MERGE INTO T{i} d USING (SELECT 1 AS ID, 2 AS N) s ON d.ID = s.ID "
                    "WHEN MATCHED THEN UPDATE SET N = s.N WHEN NOT MATCHED THEN INSERT (ID, N) VALUES (s.ID, s.N)"
                )
            except Exception as e:  # noqa: BLE001
                errors.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=merge, args=(i,)) for i in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for conn in sessions:
            conn.close()
    admin.close()
    check(f"merge: first MERGEs of two sessions in a fresh database never collide ({trials} trials)", not errors, errors[:1])

def main() -> int:
    global BASE
    if not BASE:
        print("SNOWSYNC_SNOWFLAKE_URL is not set: run  eval \"$(scripts/stack env)\"  first", file=sys.stderr)
        return 2
    print(f"emulator: {BASE}")
    try:
        run()
    except Exception:  # noqa: BLE001
        check("smoke test ran to completion", False, traceback.format_exc())
    try:
        check_stages()
    except Exception:  # noqa: BLE001
        check("stage smoke test ran to completion", False, traceback.format_exc())
    try:
        check_concurrent_merges()
    except Exception:  # noqa: BLE001
        check("merge smoke test ran to completion", False, traceback.format_exc())
    stack_base = BASE
    try:
        smoke_realistic.run(sys.modules[__name__])
    except Exception:  # noqa: BLE001
        check("realistic smoke test ran to completion", False, traceback.format_exc())
    finally:
        BASE = stack_base
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    if FAILED:
        print("failed: " + ", ".join(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
