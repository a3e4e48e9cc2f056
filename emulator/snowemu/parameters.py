"""Session parameters as Snowflake keeps them, and the hostile account defaults the emulator honours.

Pure functions on SQL text and values: no I/O, no fakesnow. See README.md ("Hostile account
defaults").
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable

# --------------------------------------------------------------------------------------------
# The names Snowflake knows (ALTER SESSION SET of any other name fails with 001006)
# --------------------------------------------------------------------------------------------

# Session parameters from docs.snowflake.com/en/sql-reference/parameters, plus the client
# parameters the drivers send at login or set later (snowflake-connector-python constants.py
# PARAMETER_*, connection.py _update_parameters; gosnowflake auth.go SESSION_PARAMETERS).
SESSION_PARAMETERS = frozenset(
    """
    ABORT_DETACHED_QUERY ACTIVE_PYTHON_PROFILER AUTOCOMMIT BINARY_INPUT_FORMAT BINARY_OUTPUT_FORMAT
    CLIENT_ENABLE_LOG_INFO_STATEMENT_PARAMETERS CLIENT_MEMORY_LIMIT
    CLIENT_METADATA_REQUEST_USE_CONNECTION_CTX CLIENT_METADATA_USE_SESSION_DATABASE
    CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED CLIENT_PREFETCH_THREADS CLIENT_REQUEST_MFA_TOKEN
    CLIENT_RESULT_CHUNK_SIZE CLIENT_RESULT_COLUMN_CASE_INSENSITIVE CLIENT_SESSION_KEEP_ALIVE
    CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY CLIENT_STORE_TEMPORARY_CREDENTIAL
    CLIENT_TELEMETRY_ENABLED CLIENT_TIMESTAMP_TYPE_MAPPING CLIENT_VALIDATE_DEFAULT_PARAMETERS
    CSV_TIMESTAMP_FORMAT DATE_INPUT_FORMAT DATE_OUTPUT_FORMAT ENABLE_UNLOAD_PHYSICAL_TYPE_OPTIMIZATION
    ERROR_ON_NONDETERMINISTIC_MERGE ERROR_ON_NONDETERMINISTIC_UPDATE GEOGRAPHY_OUTPUT_FORMAT
    GEOMETRY_OUTPUT_FORMAT GO_QUERY_RESULT_FORMAT HYBRID_TABLE_LOCK_TIMEOUT JDBC_QUERY_RESULT_FORMAT
    JDBC_TREAT_DECIMAL_AS_INT JDBC_TREAT_TIMESTAMP_NTZ_AS_UTC JDBC_USE_SESSION_TIMEZONE JSON_INDENT
    JS_TREAT_INTEGER_AS_BIGINT LOCK_TIMEOUT LOG_LEVEL MULTI_STATEMENT_COUNT NOORDER_SEQUENCE_AS_DEFAULT
    ODBC_TREAT_DECIMAL_AS_INT PYTHON_CONNECTOR_QUERY_RESULT_FORMAT PYTHON_CONNECTOR_USE_NANOARROW
    PYTHON_PROFILER_MODULES PYTHON_PROFILER_TARGET_STAGE QUERY_CONTEXT_CACHE_SIZE QUERY_TAG
    QUOTED_IDENTIFIERS_IGNORE_CASE ROWS_PER_RESULTSET S3_STAGE_VPCE_DNS_NAME SEARCH_PATH SERVICE_NAME
    SIMULATED_DATA_SHARING_CONSUMER STATEMENT_QUEUED_TIMEOUT_IN_SECONDS STATEMENT_TIMEOUT_IN_SECONDS
    STRICT_JSON_OUTPUT TIMESTAMP_DAY_IS_ALWAYS_24H TIMESTAMP_INPUT_FORMAT TIMESTAMP_LTZ_OUTPUT_FORMAT
    TIMESTAMP_NTZ_OUTPUT_FORMAT TIMESTAMP_OUTPUT_FORMAT TIMESTAMP_TYPE_MAPPING
    TIMESTAMP_TZ_OUTPUT_FORMAT TIMEZONE TIME_INPUT_FORMAT TIME_OUTPUT_FORMAT TRACE_LEVEL
    TRANSACTION_ABORT_ON_ERROR TRANSACTION_DEFAULT_ISOLATION_LEVEL TWO_DIGIT_CENTURY_START
    UNSUPPORTED_DDL_ACTION USE_CACHED_RESULT WEEK_OF_YEAR_POLICY WEEK_START
    """.split()
)

# Snowflake's own defaults for the parameters the emulator reports or honours.
SNOWFLAKE_DEFAULTS: dict[str, Any] = {
    "ABORT_DETACHED_QUERY": False,
    "AUTOCOMMIT": True,
    "BINARY_INPUT_FORMAT": "HEX",
    "BINARY_OUTPUT_FORMAT": "HEX",
    "CLIENT_PREFETCH_THREADS": 4,
    "CLIENT_RESULT_CHUNK_SIZE": 160,
    "CLIENT_SESSION_KEEP_ALIVE": False,
    "DATE_INPUT_FORMAT": "AUTO",
    "DATE_OUTPUT_FORMAT": "YYYY-MM-DD",
    "ERROR_ON_NONDETERMINISTIC_MERGE": True,
    "GO_QUERY_RESULT_FORMAT": "ARROW",
    "JDBC_QUERY_RESULT_FORMAT": "ARROW",
    "JSON_INDENT": 2,
    "LOCK_TIMEOUT": 43200,
    "MULTI_STATEMENT_COUNT": 1,
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW",
    "QUOTED_IDENTIFIERS_IGNORE_CASE": False,
    "ROWS_PER_RESULTSET": 0,
    "STATEMENT_TIMEOUT_IN_SECONDS": 172800,
    "TIME_INPUT_FORMAT": "AUTO",
    "TIME_OUTPUT_FORMAT": "HH24:MI:SS",
    "TIMESTAMP_INPUT_FORMAT": "AUTO",
    "TIMESTAMP_LTZ_OUTPUT_FORMAT": "",
    "TIMESTAMP_NTZ_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF3",
    "TIMESTAMP_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM",
    "TIMESTAMP_TYPE_MAPPING": "TIMESTAMP_NTZ",
    "TIMESTAMP_TZ_OUTPUT_FORMAT": "",
    "TIMEZONE": "America/Los_Angeles",
    "TRANSACTION_DEFAULT_ISOLATION_LEVEL": "READ COMMITTED",
    "USE_CACHED_RESULT": True,
    "WEEK_START": 0,
}
# What the plain emulator does (fakesnow pins duckdb to UTC, see fakesnow/instance.py).
PLAIN_DEFAULTS: dict[str, Any] = {**SNOWFLAKE_DEFAULTS, "TIMEZONE": "Etc/UTC"}
# Defaults a customer's account may have set (`--hostile-defaults`, user SNOWSYNC_HOSTILE).
HOSTILE_DEFAULTS: dict[str, Any] = {
    **SNOWFLAKE_DEFAULTS,
    "GO_QUERY_RESULT_FORMAT": "JSON",
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "JSON",
    "JDBC_QUERY_RESULT_FORMAT": "JSON",
    "TIMESTAMP_INPUT_FORMAT": "DD/MM/YYYY HH24:MI:SS",
    "DATE_INPUT_FORMAT": "DD/MM/YYYY",
    "TIME_INPUT_FORMAT": "HH24.MI.SS",
    "QUOTED_IDENTIFIERS_IGNORE_CASE": True,
    "TIMEZONE": "America/Los_Angeles",
}
HOSTILE_USER = "SNOWSYNC_HOSTILE"

# login CLIENT_APP_ID -> the parameter that picks its result format (the account may set any)
RESULT_FORMAT_PARAMETER = {
    "Go": "GO_QUERY_RESULT_FORMAT",
    "PythonConnector": "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT",
    "JDBC": "JDBC_QUERY_RESULT_FORMAT",
}

# The parameters a query response lists (`data.parameters`); the python connector copies them
# into its converter (connection.py _update_parameters), so TIMEZONE drives its LTZ values.
REPORTED = (
    "CLIENT_PREFETCH_THREADS", "TIMESTAMP_OUTPUT_FORMAT", "TIME_OUTPUT_FORMAT", "CLIENT_RESULT_CHUNK_SIZE",
    "TIMESTAMP_TZ_OUTPUT_FORMAT", "CLIENT_SESSION_KEEP_ALIVE", "TIMESTAMP_NTZ_OUTPUT_FORMAT",
    "TIMESTAMP_LTZ_OUTPUT_FORMAT", "TIMESTAMP_TYPE_MAPPING", "TIMEZONE", "DATE_OUTPUT_FORMAT",
    "BINARY_OUTPUT_FORMAT", "AUTOCOMMIT", "GO_QUERY_RESULT_FORMAT", "JDBC_QUERY_RESULT_FORMAT",
    "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT", "QUOTED_IDENTIFIERS_IGNORE_CASE",
)  # fmt: skip


class SqlError(Exception):
    """A statement Snowflake would refuse: (code, message, sqlState), turned into error_body."""

    def __init__(self, code: str, message: str, sql_state: str):
        super().__init__(message)
        self.code, self.message, self.sql_state = code, message, sql_state


def unknown_parameter(names: Iterable[str]) -> SqlError | None:
    """Snowflake's answer to ALTER SESSION naming a parameter it does not have, if any does."""
    for name in names:
        if name.upper() not in SESSION_PARAMETERS:
            return SqlError("001006", f"SQL compilation error:\ninvalid parameter '{name.upper()}'", "22023")
    return None


def normalise(value: Any) -> Any:
    """A parameter value as Snowflake reports it: booleans and integers typed, the rest text."""
    if isinstance(value, (bool, int)):
        return value
    text = str(value)
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def truthy(value: Any) -> bool:
    return normalise(value) is True


# --------------------------------------------------------------------------------------------
# Date/time input formats (TIMESTAMP_INPUT_FORMAT, DATE_INPUT_FORMAT, TIME_INPUT_FORMAT)
# --------------------------------------------------------------------------------------------

KINDS = {"timestamp": ("100035", "Timestamp"), "date": ("100040", "Date"), "time": ("100108", "Time")}
FORMAT_PARAMETER = {"timestamp": "TIMESTAMP_INPUT_FORMAT", "date": "DATE_INPUT_FORMAT", "time": "TIME_INPUT_FORMAT"}
TYPE_KIND = {
    "TIMESTAMP": "timestamp", "TIMESTAMP_NTZ": "timestamp", "TIMESTAMP_LTZ": "timestamp",
    "TIMESTAMP_TZ": "timestamp", "DATETIME": "timestamp", "DATE": "date", "TIME": "time",
}  # fmt: skip
FUNCTION_KIND = {
    "TO_TIMESTAMP": "timestamp", "TO_TIMESTAMP_NTZ": "timestamp", "TO_TIMESTAMP_LTZ": "timestamp",
    "TO_TIMESTAMP_TZ": "timestamp", "TO_DATE": "date", "TO_TIME": "time",
}  # fmt: skip

# Snowflake format elements (docs: "Date and time formats in conversion functions"), longest first
_ELEMENTS = [
    ("YYYY", r"(?P<Y>\d{4})"), ("HH24", r"(?P<H>\d{1,2})"), ("HH12", r"(?P<H>\d{1,2})"),
    ("MMMM", r"(?P<MON>[A-Za-z]+)"), ("TZHTZM", r"(?P<TZH>[+-]\d{2})(?P<TZM>\d{2})"),
    ("TZH", r"(?P<TZH>[+-]\d{2})"), ("TZM", r"(?P<TZM>\d{2})"), ("MON", r"(?P<MON>[A-Za-z]{3})"),
    ("YY", r"(?P<YY>\d{2})"), ("MM", r"(?P<M>\d{1,2})"), ("DD", r"(?P<D>\d{1,2})"),
    ("DY", r"(?:[A-Za-z]{3})"), ("HH", r"(?P<H>\d{1,2})"), ("MI", r"(?P<MI>\d{2})"),
    ("SS", r"(?P<S>\d{2})"), ("AM", r"(?P<AMPM>[AaPp][Mm])"), ("PM", r"(?P<AMPM>[AaPp][Mm])"),
]  # fmt: skip
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}


def format_regex(fmt: str) -> re.Pattern[str]:
    """A Snowflake format string as an anchored regex with named groups (Y, M, D, H, MI, S, F, ...)."""
    out, i, u = [], 0, fmt.upper()
    while i < len(fmt):
        if u.startswith("FF", i):
            digits = fmt[i + 2] if i + 2 < len(fmt) and fmt[i + 2].isdigit() else ""
            out.append(rf"(?P<F>\d{{1,{digits or 9}}})")
            i += 2 + len(digits)
            continue
        if fmt[i] == '"':
            end = fmt.find('"', i + 1)
            end = len(fmt) if end < 0 else end
            out.append(re.escape(fmt[i + 1 : end]))
            i = end + 1
            continue
        for element, pattern in _ELEMENTS:
            if u.startswith(element, i):
                out.append(pattern)
                i += len(element)
                break
        else:
            out.append(r"\s+" if fmt[i].isspace() else re.escape(fmt[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE)


def _year(g: dict[str, str]) -> int:
    if "Y" in g:
        return int(g["Y"])
    if "YY" in g:  # TWO_DIGIT_CENTURY_START defaults to 1970
        yy = int(g["YY"])
        return 1900 + yy if yy >= 70 else 2000 + yy
    return 1970


def _hour(g: dict[str, str]) -> int:
    hour, meridiem = int(g.get("H", 0)), g.get("AMPM", "").upper()
    if meridiem == "PM" and hour < 12:
        return hour + 12
    return 0 if meridiem == "AM" and hour == 12 else hour


def parse_with_format(text: str, fmt: str, kind: str) -> str | None:
    """The ISO text duckdb reads for `text` written in Snowflake format `fmt`, or None if it does not match."""
    m = format_regex(fmt).fullmatch(text.strip())
    if not m:
        return None
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    try:
        month = _MONTHS.get(g["MON"][:3].upper(), 0) if "MON" in g else int(g.get("M", 1))
        day = dt.date(_year(g), month, int(g.get("D", 1)))
        clock = dt.time(_hour(g), int(g.get("MI", 0)), int(g.get("S", 0)))
    except ValueError:
        return None
    fraction = ("." + g["F"]) if "F" in g else ""
    zone = f" {g['TZH']}:{g.get('TZM', '00')}" if "TZH" in g else ""
    if kind == "date":
        return day.isoformat()
    if kind == "time":
        return clock.isoformat() + fraction
    return f"{day.isoformat()} {clock.isoformat()}{fraction}{zone}"


@dataclass
class InputFormats:
    """The session's three input formats; AUTO (the default) leaves text to fakesnow/duckdb."""

    timestamp: str = "AUTO"
    date: str = "AUTO"
    time: str = "AUTO"

    def active(self) -> bool:
        return any(f.upper() != "AUTO" for f in (self.timestamp, self.date, self.time))

    def convert(self, text: str, kind: str) -> str:
        """ISO text for `text` read as `kind`, or SqlError as Snowflake answers a mismatch."""
        fmt = getattr(self, kind)
        if fmt.upper() == "AUTO":
            return text
        iso = parse_with_format(text, fmt, kind)
        if iso is None:
            code, noun = KINDS[kind]
            raise SqlError(code, f"{noun} '{text}' is not recognized", "22007")
        return iso


_TYPE = r"(TIMESTAMP_NTZ|TIMESTAMP_LTZ|TIMESTAMP_TZ|TIMESTAMP|DATETIME|DATE|TIME)\b(?:\s*\(\s*\d+\s*\))?"
_AFTER_CAST = re.compile(r"\s*::\s*" + _TYPE, re.IGNORECASE)
_BEFORE_CAST = re.compile(r"\bCAST\s*\(\s*$", re.IGNORECASE)
_AFTER_CAST_AS = re.compile(r"\s+AS\s+" + _TYPE + r"\s*\)", re.IGNORECASE)
_BEFORE_FUNCTION = re.compile(r"\b(TO_TIMESTAMP_NTZ|TO_TIMESTAMP_LTZ|TO_TIMESTAMP_TZ|TO_TIMESTAMP|TO_DATE|TO_TIME)\s*\(\s*$", re.IGNORECASE)
_AFTER_ONE_ARGUMENT = re.compile(r"\s*\)")
_BEFORE_PARSE_JSON = re.compile(r"\bPARSE_JSON\s*\(\s*$", re.IGNORECASE)
_JSON_CAST = re.compile(
    r"\bvalue\s*\[\s*(\d+)\s*\]\s*::\s*(?:VARCHAR|STRING|TEXT)(?:\s*\(\s*\d+\s*\))?\s*::\s*" + _TYPE, re.IGNORECASE
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f"}


_TOKEN = re.compile(r"""'(?:[^'\\]+|\\.|'')*'?|--[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z)|"[^"]*"?""", re.DOTALL)
_TOKEN_KIND = {"'": "literal", '"': "ident", "-": "comment", "/": "comment"}


def tokens(sql: str) -> list[tuple[str, int, int]]:
    """("literal"|"comment"|"ident", start, end) spans of a statement, quotes included.

    A Snowflake literal escapes a quote as '' or \\' and any character with a backslash. One
    regex scan: push statements carry up to 1 MiB of JSON in a literal.
    """
    return [(_TOKEN_KIND[m.group(0)[0]], m.start(), m.end()) for m in _TOKEN.finditer(sql)]


def unescape_literal(body: str) -> str:
    """The value of a Snowflake single-quoted literal's body ('' and backslash escapes)."""
    return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else _ESCAPES.get(m.group(1), m.group(1)), body)


def escape_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _is_numeric(text: str) -> bool:
    # Snowflake reads a string holding an integer as epoch seconds/days whatever the format
    return bool(re.fullmatch(r"\s*-?\d+\s*", text))


def _cast_kind(sql: str, start: int, end: int) -> str | None:
    """The date/time kind a literal at sql[start:end] is read as, from the text around it."""
    before = sql[max(0, start - 40) : start]
    if m := _AFTER_CAST.match(sql, end):
        return TYPE_KIND[m.group(1).upper()]
    if _BEFORE_CAST.search(before) and (m := _AFTER_CAST_AS.match(sql, end)):
        return TYPE_KIND[m.group(1).upper()]
    if (m := _BEFORE_FUNCTION.search(before)) and _AFTER_ONE_ARGUMENT.match(sql, end):
        return FUNCTION_KIND[m.group(1).upper()]
    return None


def apply_input_formats(sql: str, formats: InputFormats) -> str:
    """Check (and rewrite to ISO) every date/time string a statement casts, as Snowflake would.

    Covers `'...'::TYPE`, `CAST('...' AS TYPE)`, `TO_TIMESTAMP*/TO_DATE/TO_TIME('...')` without a
    format argument, and `value[i]::VARCHAR::TYPE` over `FLATTEN(PARSE_JSON('...'))` (the i-th
    string of each row of the JSON literal). Raises SqlError for text the format does not match.
    """
    if not formats.active():
        return sql
    columns = {int(m.group(1)): TYPE_KIND[m.group(2).upper()] for m in _JSON_CAST.finditer(sql)}
    out, last = [], 0
    for kind_of_token, start, end in tokens(sql):
        if kind_of_token != "literal":
            continue
        body = sql[start + 1 : end - 1]
        kind = _cast_kind(sql, start, end)
        if kind is not None and not _is_numeric(unescape_literal(body)):
            new = escape_literal(formats.convert(unescape_literal(body), kind))
        elif columns and _BEFORE_PARSE_JSON.search(sql[max(0, start - 40) : start]):
            new = _json_rows(body, columns, formats)
        else:
            continue
        out.append(sql[last : start + 1] + new)
        last = end - 1
    out.append(sql[last:])
    return "".join(out)


def _json_rows(body: str, columns: dict[int, str], formats: InputFormats) -> str:
    """The PARSE_JSON literal with each row's cast columns checked and rewritten."""
    try:
        rows = json.loads(unescape_literal(body))
    except ValueError:
        return body
    if not isinstance(rows, list):
        return body
    changed = False
    for row in rows:
        if not isinstance(row, list):
            continue
        for index, kind in columns.items():
            if index < len(row) and isinstance(row[index], str) and not _is_numeric(row[index]):
                iso = formats.convert(row[index], kind)
                changed |= iso != row[index]
                row[index] = iso
    return escape_literal(json.dumps(rows, ensure_ascii=False)) if changed else body


# --------------------------------------------------------------------------------------------
# QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE (fakesnow only accepts FALSE, transforms.py alter_session)
# --------------------------------------------------------------------------------------------


def fold_quoted_identifiers(sql: str) -> str:
    """Upper-case every double-quoted identifier outside literals and comments.

    With QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE Snowflake resolves "abc" as ABC; duckdb (under
    fakesnow) keeps the case, so the layer folds the text instead.
    """
    out, last = [], 0
    for kind, start, end in tokens(sql):
        if kind == "ident":
            out.append(sql[last:start] + sql[start:end].upper())
            last = end
    out.append(sql[last:])
    return "".join(out)


# --------------------------------------------------------------------------------------------
# JSON result format (queryResultFormat "json"): every value a string, or null
# --------------------------------------------------------------------------------------------


def _fraction(ns: int, scale: int) -> str:
    """`seconds[.fraction]` with exactly `scale` digits, for a signed nanosecond count."""
    sign = "-" if ns < 0 else ""
    seconds, rest = divmod(abs(ns), 1_000_000_000)
    digits = f"{rest:09d}"[:scale]
    return f"{sign}{seconds}" + (f".{digits}" if scale > 0 else "")


def _fixed(column: dict) -> Callable[[Any], str]:
    scale = column.get("scale") or 0

    def conv(v: Any) -> str:
        if isinstance(v, Decimal):
            return f"{v:.{scale}f}"
        return str(v) if scale == 0 else f"{Decimal(v):.{scale}f}"

    return conv


def _timestamp(column: dict) -> Callable[[Any], str]:
    """NTZ/LTZ: epoch seconds in UTC; TZ: the same, a space, and the offset in minutes + 1440."""
    scale = 9 if column.get("scale") is None else column["scale"]

    def conv(v: dict) -> str:
        text = _fraction(v["epoch"] * 1_000_000_000 + v["fraction"], scale)
        return f"{text} {v['timezone']}" if "timezone" in v else text

    return conv


def _real(v: float) -> str:
    return "NaN" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))


def json_converters(rowtype: list[dict]) -> list[Callable[[Any], str]]:
    """One value -> text function per column, mirroring what the drivers parse.

    snowflake-connector-python converter.py: FIXED int/Decimal(text), REAL float(text), DATE
    int(text) days, TIME float(seconds), TIMESTAMP_NTZ/LTZ `epoch.fraction` (scale digits),
    TIMESTAMP_TZ `epoch.fraction offset+1440`, BOOLEAN "1"/"TRUE", BINARY hex; VARIANT as is.
    gosnowflake converter.go stringToValue reads the same forms.
    """
    convs: list[Callable[[Any], str]] = []
    for column in rowtype:
        kind = str(column.get("type", "text")).lower()
        scale = 9 if column.get("scale") is None else column["scale"]
        if kind == "fixed":
            convs.append(_fixed(column))
        elif kind == "real":
            convs.append(_real)
        elif kind == "boolean":
            convs.append(lambda v: "1" if v else "0")
        elif kind == "date":
            convs.append(lambda v: str((v - dt.date(1970, 1, 1)).days) if isinstance(v, dt.date) else str(v))
        elif kind == "time":
            convs.append(lambda v, s=scale: _fraction(int(v), s))
        elif kind.startswith("timestamp"):
            convs.append(_timestamp(column))
        elif kind == "binary":
            convs.append(lambda v: bytes(v).hex().upper())
        else:
            convs.append(str)
    return convs


def to_json_rows(columns: list[list[Any]], rowtype: list[dict]) -> list[list[str | None]]:
    """Column-major python values (pyarrow to_pylist of the Snowflake-shaped arrow) -> JSON rowset."""
    convs = json_converters(rowtype)
    out = [[None if v is None else conv(v) for v in col] for col, conv in zip(columns, convs, strict=True)]
    return [list(row) for row in zip(*out)] if out else []
