"""The push-bulk phase: the same push backfill of M actions on both paths side by side (staged
files + COPY INTO, and INSERTs), the serial limit of the machine's parts doing the bulk path's
work without snowsync, and the crossover between the paths for small increments.

The serial limit: PostgreSQL's own `COPY (SELECT ...) TO STDOUT` of the rows (as quoted CSV, the
form snowsync writes), then the emulator's own `PUT` + `COPY INTO` + `MERGE` of the same rows in
files of the push's batch size, through the official Python connector (which encrypts each
file, as snowsync does). Their seconds add up: a loop that reads, then loads, can reach at most
that; snowsync overlaps reading the next batch with loading this one.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import OUT, PUSH_COLUMNS, SNOWSYNC, TENANT, die, log
from .emulator import Emulator
from .measure import measure, rates
from . import postgres
from .postgres import copy_out_bytes, psql
from .push import seed_actions

# snowsync's defaults (shared/src/deps.rs): rows per batch, and the bulk path's threshold
BATCH_ROWS = 50_000
DEST = "BENCH_ACTIONS"
# The temporary table and MERGE snowsync sends (shared/src/snowflake/destination.rs), for the limit
STAGE_DDL = (
    'CREATE TEMPORARY TABLE IF NOT EXISTS "SNOWSYNC_PUSH_ACTIONS" ("ID" NUMBER(38,0), "OCCURRED_AT" TIMESTAMP_TZ, '
    '"ACTION_TYPE" VARCHAR, "VISITOR_ID" VARCHAR, "ACCOUNT_DOMAIN" VARCHAR, "CHANNEL" VARCHAR, "PROPERTIES" VARCHAR, '
    '"INGESTED_AT" TIMESTAMP_TZ)'
)
COLS = ["ID", "OCCURRED_AT", "ACTION_TYPE", "VISITOR_ID", "ACCOUNT_DOMAIN", "CHANNEL", "PROPERTIES", "INGESTED_AT"]
COPY_FORMAT = (
    "FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP FIELD_DELIMITER = ',' FIELD_OPTIONALLY_ENCLOSED_BY = '\"' "
    "NULL_IF = () EMPTY_FIELD_AS_NULL = TRUE ESCAPE_UNENCLOSED_FIELD = NONE)"
)
PG_TEXT = (
    "id::text, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), action_type, visitor_id, "
    "account_domain, channel, properties::text, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
)


def merge_sql() -> str:
    q = lambda n: f'"{n}"'  # noqa: E731
    src = ", ".join(f"PARSE_JSON({q(c)}) AS {q(c)}" if c == "PROPERTIES" else q(c) for c in COLS)
    updates = ", ".join(f"{q(c)} = s.{q(c)}" for c in COLS if c != "ID") + ', "EXPORTED_AT" = CURRENT_TIMESTAMP()'
    names = ", ".join(q(c) for c in COLS) + ', "EXPORTED_AT"'
    values = ", ".join(f"s.{q(c)}" for c in COLS) + ", CURRENT_TIMESTAMP()"
    return (
        f'MERGE INTO {DEST} d USING (SELECT {src} FROM "SNOWSYNC_PUSH_ACTIONS" '
        'QUALIFY ROW_NUMBER() OVER (PARTITION BY "ID" ORDER BY "INGESTED_AT" DESC) = 1) s '
        'ON d."ID" = s."ID" '
        f"WHEN MATCHED THEN UPDATE SET {updates} WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
    )


def drop_destination(emu: Emulator) -> None:
    with emu.connect() as con:
        con.cursor().execute(f"DROP TABLE IF EXISTS {DEST}")


def destination_rows(emu: Emulator) -> int:
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {DEST}")
        return int(cur.fetchone()[0])


def one_path(emu: Emulator, env: dict[str, str], rows: int, name: str, path_env: dict[str, str]) -> dict[str, Any]:
    drop_destination(emu)
    emu.restart()
    m = measure(name, [str(SNOWSYNC), "push", TENANT, "--source", "actions", "--backfill"], emu, {**env, **path_env})
    if (got := destination_rows(emu)) != rows:
        die(f"{name}: {got} rows in {DEST}, expected {rows}")
    return m


def serial_limit(emu: Emulator, rows: int) -> dict[str, Any]:
    """PostgreSQL's COPY TO STDOUT of the rows as quoted CSV, then the emulator's PUT + COPY INTO
    + MERGE of the same rows in files of BATCH_ROWS, each timed on its own."""
    drop_destination(emu)
    emu.restart()
    with emu.connect() as con:
        con.cursor().execute(
            f"CREATE TABLE {DEST} (ID NUMBER(38,0) NOT NULL, OCCURRED_AT TIMESTAMP_TZ, ACTION_TYPE VARCHAR, VISITOR_ID VARCHAR, "
            "ACCOUNT_DOMAIN VARCHAR, CHANNEL VARCHAR, PROPERTIES VARIANT, INGESTED_AT TIMESTAMP_TZ, EXPORTED_AT TIMESTAMP_TZ)"
        )
    csv_path = OUT / "push-limit.csv"
    started = time.monotonic()
    with open(csv_path, "wb") as out:
        proc = subprocess.run(
            [postgres.PSQL, os.environ["SNOWSYNC_DATABASE_URL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
             f"COPY (SELECT {PG_TEXT} FROM platform.actions WHERE tenant = '{TENANT}' ORDER BY ingested_at, id) "
             "TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)"],
            stdout=out,
        )  # fmt: skip
    pg_seconds = time.monotonic() - started
    if proc.returncode != 0:
        die("push limit: COPY TO STDOUT failed")
    # the files, written outside the clock (snowsync's writing counts in its own time)
    files_dir = Path(tempfile.mkdtemp(prefix="push-limit-", dir=OUT))
    files: list[Path] = []
    with open(csv_path, "rb") as f:
        batch: list[bytes] = []
        for line in f:
            batch.append(line)
            if len(batch) == BATCH_ROWS:
                files.append(write_gz(files_dir, len(files), batch))
                batch = []
        if batch:
            files.append(write_gz(files_dir, len(files), batch))
    merge = merge_sql()
    e0 = emu.cpu()
    started = time.monotonic()
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(STAGE_DDL)
        for f in files:
            cur.execute('DELETE FROM "SNOWSYNC_PUSH_ACTIONS"')
            cur.execute(f"PUT 'file://{f}' @%SNOWSYNC_PUSH_ACTIONS AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = GZIP OVERWRITE = TRUE")
            cur.execute(f"COPY INTO \"SNOWSYNC_PUSH_ACTIONS\" FROM @%SNOWSYNC_PUSH_ACTIONS FILES = ('{f.name}') {COPY_FORMAT}")
            cur.execute(merge)
    sf_seconds = time.monotonic() - started
    emulator_cpu = emu.cpu() - e0
    if (got := destination_rows(emu)) != rows:
        die(f"push limit: {got} rows in {DEST}, expected {rows}")
    csv_path.unlink(missing_ok=True)
    for f in files:
        f.unlink()
    files_dir.rmdir()
    total = pg_seconds + sf_seconds
    return {
        "pg_copy_seconds": round(pg_seconds, 3),
        "sf_put_copy_merge_seconds": round(sf_seconds, 3),
        "emulator_cpu_s": round(emulator_cpu, 2),
        "files": len(files),
        "seconds": round(total, 3),
        "rows_per_s": round(rows / total),
    }


def write_gz(d: Path, n: int, lines: list[bytes]) -> Path:
    path = d / f"actions_{n:05d}.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.writelines(lines)
    return path


def crossover(emu: Emulator, env: dict[str, str], sizes: list[int], base: int) -> dict[str, Any]:
    """An incremental push of n new actions on each path, for each n: where the file round trip
    (PUT, upload, COPY) starts paying for itself against INSERTs."""
    out: dict[str, Any] = {}
    first = base + 1
    emu.restart()
    for n in sizes:
        row: dict[str, Any] = {}
        for path, path_env in (("insert", {"SNOWSYNC_PUSH_BULK_MIN_ROWS": str(10**9)}), ("bulk", {"SNOWSYNC_PUSH_BULK_MIN_ROWS": "1"})):
            seed_actions(n, first)
            first += n
            m = measure(f"push_crossover_{path}_{n}", [str(SNOWSYNC), "push", TENANT, "--source", "actions"], emu, {**env, **path_env})
            row[path] = {"seconds": m["seconds"], "rows_per_s": round(n / m["seconds"])}
        out[str(n)] = row
        log(f"  crossover {n:,} rows: INSERTs {row['insert']['seconds']} s, file {row['bulk']['seconds']} s")
    return out


def push_bulk(emu: Emulator, env: dict[str, str], rows: int, sizes: list[int]) -> dict[str, Any]:
    psql(f"DELETE FROM platform.actions WHERE tenant = '{TENANT}'")
    started = time.monotonic()
    seed_actions(rows)
    log(f"  push-bulk: {rows:,} rows in platform.actions ({time.monotonic() - started:.1f}s)")
    nbytes = copy_out_bytes(f"SELECT {PUSH_COLUMNS} FROM platform.actions WHERE tenant = '{TENANT}'")
    res: dict[str, Any] = {}
    res["bulk"] = rates(one_path(emu, env, rows, "push_backfill_bulk", {"SNOWSYNC_PUSH_BULK_MIN_ROWS": "1"}), rows, nbytes)
    log(f"  bulk path: {res['bulk']['seconds']} s, {res['bulk']['rows_per_s']:,} rows/s, peak RSS {res['bulk']['peak_rss_mb']} MB")
    if os.environ.get("SNOWBENCH_SKIP_INSERT_PATH") != "1":
        res["insert"] = rates(
            one_path(emu, env, rows, "push_backfill_insert", {"SNOWSYNC_PUSH_BULK_MIN_ROWS": str(10**9), "SNOWSYNC_PUSH_BATCH_ROWS": "10000"}),
            rows, nbytes,
        )  # fmt: skip
        log(f"  INSERT path: {res['insert']['seconds']} s, {res['insert']['rows_per_s']:,} rows/s, peak RSS {res['insert']['peak_rss_mb']} MB")
    res["serial_limit"] = serial_limit(emu, rows)
    lim = res["serial_limit"]
    log(f"  serial limit: PG COPY {lim['pg_copy_seconds']} s + emulator PUT/COPY/MERGE {lim['sf_put_copy_merge_seconds']} s = {lim['rows_per_s']:,} rows/s")
    res["bulk_vs_serial_limit"] = round(res["bulk"]["rows_per_s"] / max(1, lim["rows_per_s"]), 3)
    if sizes:
        res["crossover"] = crossover(emu, env, sizes, rows)
    return res
