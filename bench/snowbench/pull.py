"""The seed of the source tables, the bench tenant's onboarding, and the pull phases: the
backfill (plain and against the realistic emulator), the memory phase (wide rows, 16 MB cells)
and the incremental pull.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import (
    COLD_ROWS,
    COLD_TABLE,
    DATA_COLUMNS,
    DATABASE,
    HUGE_CELL_BYTES,
    HUGE_TABLE,
    KEYLESS_TABLE,
    OUT,
    PG_SCHEMA,
    ROOT,
    SF_USER,
    SNOWSYNC,
    TABLE,
    TENANT,
    WIDE_COLUMNS,
    WIDE_TABLE,
    die,
)
from .emulator import Emulator
from .measure import measure, pages_of, rates
from .postgres import copy_out_bytes, psql


def table_ddl(name: str) -> str:
    return f"""CREATE OR REPLACE TABLE {name} (
        ID NUMBER(38,0) NOT NULL PRIMARY KEY, ACCOUNT_ID NUMBER(18,0), NAME VARCHAR,
        AMOUNT NUMBER(12,2), IS_ACTIVE BOOLEAN, CLOSE_DATE DATE, UPDATED_AT TIMESTAMP_NTZ,
        PROPERTIES VARIANT, NOTE VARCHAR)"""


def table_fill(name: str, rows: int, offset: int = 0) -> str:
    """Rows offset + 1 .. offset + rows (fakesnow's SEQ4() repeats values past a few million
    rows in one statement, so large tables are filled a million at a time)."""
    n = f"(SEQ4() + {offset})" if offset else "SEQ4()"
    # NOTE: 60 characters of text per row
    return f"""INSERT INTO {name}
        SELECT {n} + 1, 1 + ({n} * 31) % 100000, 'Customer ' || ({n} + 1),
               (({n} * 7919) % 10000000) / 100, {n} % 3 = 0,
               DATEADD('day', {n} % 1000, '2023-01-01'::DATE),
               DATEADD('millisecond', {n} * 1501, '2024-01-01 00:00:00'::TIMESTAMP_NTZ),
               OBJECT_CONSTRUCT('source', CASE {n} % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'partner' ELSE 'outbound' END,
                                'score', {n} % 100, 'tier', 'gold'),
               SUBSTR('Note ' || ({n} + 1) || ': renewal call booked, follow up with procurement next week.', 1, 60)
        FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"""


def seed(emu: Emulator, rows: int) -> dict[str, Any]:
    started = time.monotonic()
    with emu.connect() as con:
        cur = con.cursor()
        for name, n in ((TABLE, rows), (COLD_TABLE, COLD_ROWS)):
            cur.execute(table_ddl(name))
            cur.execute(table_fill(name, n))
            cur.execute(f"SELECT COUNT(*) FROM {name}")
            got = cur.fetchone()[0]
            if got != n:
                die(f"seeding {name}: {got} rows, expected {n}")
    return {"seconds": round(time.monotonic() - started, 1), "rows": rows}


def onboard(env: dict[str, str]) -> None:
    psql(f"DELETE FROM platform.actions WHERE tenant = '{TENANT}'")
    pulls = "".join(pull_entry(t, 'deletes = "reconcile"\n' if t == TABLE else "")
                    for t in (TABLE, COLD_TABLE, WIDE_TABLE, HUGE_TABLE))
    pulls += f'[[pull]]\ntable = "{KEYLESS_TABLE}"\n\n'  # no key, no cursor: full refreshes
    add_tenant(env, TENANT, f"""{pulls}[[push]]
source = "actions"
table = "BENCH_ACTIONS"
""")


def pull_entry(table: str, extra: str = "") -> str:
    """A [[pull]] entry of a table seeded by table_ddl: cursor UPDATED_AT, key ID."""
    return f'[[pull]]\ntable = "{table}"\ncursor = "UPDATED_AT"\nprimary_key = ["ID"]\n{extra}\n'


def add_tenant(env: dict[str, str], tenant: str, body: str) -> None:
    """Onboards `tenant` afresh (its schema dropped) with these [[pull]]/[[push]] entries, on
    the bench's Snowflake login, database and credentials."""
    subprocess.run([str(SNOWSYNC), "tenant", "remove", tenant], env=env, capture_output=True)
    psql(f"DROP SCHEMA IF EXISTS tenant_{tenant} CASCADE")
    config = OUT / f"{tenant}.toml"
    config.write_text(f"""# A benchmark tenant (written by scripts/bench).
tenant = "{tenant}"

[snowflake]
account = "bench-org-bench-account"
user = "{SF_USER}"
warehouse = "BENCH_WH"
database = "{DATABASE}"
schema = "PUBLIC"

{body}""")
    creds = OUT / "bench-credentials.json"
    creds.write_text(json.dumps({"password": "bench-password"}))
    creds.chmod(0o600)
    res = subprocess.run([str(SNOWSYNC), "tenant", "add", str(config), "--credentials", str(creds)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"snowsync tenant add {tenant} failed: {res.stdout}{res.stderr}")


def pg_table() -> str:
    name = psql(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{PG_SCHEMA}' AND lower(table_name) = lower('{TABLE}')")
    if not name:
        die(f"the pulled table is not in {PG_SCHEMA}")
    return f'{PG_SCHEMA}."{name}"'


def pg_select(where: str = "") -> str:
    cols = ", ".join(c.lower() for c in DATA_COLUMNS)
    return f"SELECT {cols} FROM {pg_table()}{where}"


def pull_backfill(emu: Emulator, env: dict[str, str], rows: int, copy_file: Path) -> dict[str, Any]:
    emu.restart()
    m = measure("pull_backfill", [str(SNOWSYNC), "pull", TENANT, "--table", TABLE, "--backfill"], emu, env)
    m["pages"] = pages_of(m)
    got = int(psql(f"SELECT count(*) FROM {pg_table()}"))
    if got != rows:
        die(f"pull backfill: {got} rows in PostgreSQL, expected {rows}")
    nbytes = copy_out_bytes(pg_select(), copy_file)
    return rates(m, rows, nbytes)


def pull_backfill_realistic(emu: Emulator, env: dict[str, str], rows: int, flags: list[str]) -> dict[str, Any]:
    """The same backfill with the emulator behaving like Snowflake (REALISTIC): results in
    gzip chunks from a second listener (with 503s and cut bodies), statements answered
    "in progress" and polled, sessions expiring, hostile account defaults."""
    emu.args = flags
    try:
        emu.restart()
        m = measure("pull_backfill_realistic", [str(SNOWSYNC), "pull", TENANT, "--table", TABLE, "--backfill"], emu, env)
        m["chunks"] = emu.chunk_stats()
    finally:
        emu.args = []
        emu.restart()
    m["pages"] = pages_of(m)
    got = int(psql(f"SELECT count(*) FROM {pg_table()}"))
    if got != rows:
        die(f"realistic pull backfill: {got} rows in PostgreSQL, expected {rows}")
    return rates(m, rows, copy_out_bytes(pg_select()))


def wide_columns() -> list[tuple[str, str, str]]:
    """(name, type, value from n) of the 200-column table: numbers, text, timestamps, VARIANT."""
    kinds = [
        ("NUMBER(38,0)", "n * {i}"),
        ("NUMBER(12,2)", "(n * {i}) / 100"),
        ("VARCHAR", "'value ' || n || ' of column {i}'"),
        ("TIMESTAMP_NTZ", "DATEADD('second', n + {i}, '2024-01-01 00:00:00'::TIMESTAMP_NTZ)"),
        ("VARIANT", "OBJECT_CONSTRUCT('n', n, 'c', {i})"),
    ]
    cols = [("ID", "NUMBER(38,0)", "n"), ("UPDATED_AT", "TIMESTAMP_NTZ", "DATEADD('second', n, '2024-01-01 00:00:00'::TIMESTAMP_NTZ)")]
    for i in range(WIDE_COLUMNS - len(cols)):
        ty, expr = kinds[i % len(kinds)]
        cols.append((f"C{i:03}", ty, expr.format(i=i + 1)))
    return cols


def seed_memory_tables(emu: Emulator, wide_rows: int, huge_rows: int) -> None:
    cols = wide_columns()
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(f"CREATE OR REPLACE TABLE {WIDE_TABLE} (" + ", ".join(f"{n} {t}" for n, t, _ in cols) + ")")
        cur.execute(f"INSERT INTO {WIDE_TABLE} SELECT " + ", ".join(e for _, _, e in cols)
                    + f" FROM (SELECT SEQ4() + 1 AS n FROM TABLE(GENERATOR(ROWCOUNT => {wide_rows})))")
        cur.execute(f"CREATE OR REPLACE TABLE {HUGE_TABLE} (ID NUMBER(38,0), UPDATED_AT TIMESTAMP_NTZ, DOC VARIANT)")
        cur.execute(f"""INSERT INTO {HUGE_TABLE} SELECT n, DATEADD('second', n, '2024-01-01 00:00:00'::TIMESTAMP_NTZ),
                        TO_VARIANT(REPEAT('x', {HUGE_CELL_BYTES}))
                        FROM (SELECT SEQ4() + 1 AS n FROM TABLE(GENERATOR(ROWCOUNT => {huge_rows})))""")


def lambda_malloc_env() -> dict[str, str]:
    """The allocator setting the deployed functions run with (infra/template.yaml)."""
    found = re.search(r"^\s*GLIBC_TUNABLES:\s*(\S+)", (ROOT / "infra" / "template.yaml").read_text(), re.M)
    return {"GLIBC_TUNABLES": found.group(1)} if found else {}


def pull_memory(emu: Emulator, env: dict[str, str], wide_rows: int, huge_rows: int) -> dict[str, Any]:
    """Peak RSS of a backfill of 200 columns, and of one of 16 MB VARIANT cells, with the
    functions' allocator setting: pages are bounded by bytes, so memory is bounded by the page
    budget, not by the row."""
    env = {**env, **lambda_malloc_env()}
    seed_memory_tables(emu, wide_rows, huge_rows)
    out: dict[str, Any] = {}
    for name, table, rows in (("wide", WIDE_TABLE, wide_rows), ("huge", HUGE_TABLE, huge_rows)):
        emu.restart()
        m = measure(f"pull_memory_{name}", [str(SNOWSYNC), "pull", TENANT, "--table", table, "--backfill"], emu, env)
        got = int(psql(f"SELECT count(*) FROM {PG_SCHEMA}.{table.lower()}"))
        if got != rows:
            die(f"memory phase: {got} rows of {table} in PostgreSQL, expected {rows}")
        m["pages"] = pages_of(m)
        m["rows"] = rows
        m["rows_per_s"] = round(rows / m["seconds"])
        out[name] = m
    return out


def pull_incremental(emu: Emulator, env: dict[str, str], rows: int) -> dict[str, Any]:
    changed = rows // 10
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(f"""UPDATE {TABLE} SET AMOUNT = AMOUNT + 1.25,
                        UPDATED_AT = DATEADD('millisecond', ID, '2026-01-01 00:00:00'::TIMESTAMP_NTZ)
                        WHERE ID % 10 = 0""")
    emu.restart()
    m = measure("pull_incremental", [str(SNOWSYNC), "pull", TENANT, "--table", TABLE], emu, env)
    m["pages"] = pages_of(m)
    got = int(psql(f"SELECT count(*) FROM {pg_table()} WHERE updated_at >= '2026-01-01'"))
    if got != changed:
        die(f"incremental pull: {got} changed rows in PostgreSQL, expected {changed}")
    nbytes = copy_out_bytes(pg_select(" WHERE id % 10 = 0"))
    return rates(m, changed, nbytes)
