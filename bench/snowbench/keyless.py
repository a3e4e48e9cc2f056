"""The keyless phase: full refreshes of a table without a key (one query, its result streamed
chunk by chunk into the staging table) of each size asked for, against an emulator that sends
large results in chunks as Snowflake does; checked exact by count, sums and content aggregates
on both sides, with peak RSS under the functions' allocator setting; then seeded SIGKILLs of
further runs, after each of which the live table must still be whole.
"""

from __future__ import annotations

import random
import subprocess
import time
from decimal import Decimal
from typing import Any

from .common import KEYLESS_TABLE, PG_SCHEMA, SNOWSYNC, TENANT, die
from .emulator import Emulator
from .measure import measure, pages_of, rates
from .postgres import copy_out_bytes, psql
from .pull import lambda_malloc_env

# chunks of a few MB, as Snowflake sends a result of this size (CLIENT_RESULT_CHUNK_SIZE caps them)
KEYLESS_FLAGS = ["--chunk-rows", "50000"]
# what both sides must agree on: rows, amounts, text, and how the values spread
AGGREGATES = "COUNT(*), SUM(AMOUNT), SUM(LENGTH(NOTE)), COUNT(DISTINCT NOTE), COUNT(DISTINCT KIND), COUNT(DISTINCT SEEN_AT)"
AGGREGATE_NAMES = ("rows", "sum_amount", "sum_note_length", "distinct_notes", "distinct_kinds", "distinct_times")
COLUMNS = "kind, amount, seen_at, note"


def seed_keyless(emu: Emulator, rows: int) -> None:
    """Short rows, many of them equal (a keyless event log keeps duplicates)."""
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(f"CREATE OR REPLACE TABLE {KEYLESS_TABLE} (KIND VARCHAR, AMOUNT NUMBER(12,2), SEEN_AT TIMESTAMP_NTZ, NOTE VARCHAR)")
        cur.execute(f"""INSERT INTO {KEYLESS_TABLE}
            SELECT 'kind ' || (SEQ4() % 13), (SEQ4() % 100000) / 4,
                   DATEADD('second', SEQ4() % 2000000, '2024-01-01 00:00:00'::TIMESTAMP_NTZ),
                   'event ' || (SEQ4() % 1500000)
            FROM TABLE(GENERATOR(ROWCOUNT => {rows}))""")


def normalise(row: Any) -> list[str]:
    """Each aggregate as a plain decimal, whichever side (a driver's Decimal, psql's text) said it."""
    return [format(Decimal(str(v).strip()).normalize(), "f") for v in row]


def live_aggregates() -> list[str]:
    return normalise(psql(f"SELECT {AGGREGATES.lower()} FROM {PG_SCHEMA}.{KEYLESS_TABLE.lower()}").split("|"))


def killed_runs(emu: Emulator, env: dict[str, str], want: list[str], seconds: float, kills: int, seed: int) -> dict[str, Any]:
    """`kills` runs SIGKILLed at seeded points of a clean run's time, then one to the end: after
    each kill the live table still holds the whole previous copy (never part of the new one),
    and the last run is exact, having read on from the persisted result or started over."""
    rng = random.Random(seed)
    env = {**env, "SNOWSYNC_LEASE_TTL_SECS": "2"}
    argv = [str(SNOWSYNC), "pull", TENANT, "--table", KEYLESS_TABLE, "--backfill"]
    points = []
    reads = emu.chunk_stats()["persisted_reads"]
    for _ in range(kills):
        at = round(rng.uniform(0.15, 0.9) * seconds, 2)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(at)
        killed = proc.poll() is None
        proc.kill()
        proc.wait()
        points.append({"after_s": at, "killed": killed})
        time.sleep(2.5)  # the dead run's lease lapses
        if live_aggregates() != want:
            die(f"after a SIGKILL at {at} s the live {KEYLESS_TABLE} no longer matches the source")
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"the run after the SIGKILLs failed: {res.stdout}{res.stderr}")
    if live_aggregates() != want:
        die(f"after the SIGKILLs the pulled {KEYLESS_TABLE} differs from the source")
    # a run after a kill that had checkpointed a page reads on from the persisted result
    return {"seed": seed, "kills": points, "resumed_runs": emu.chunk_stats()["persisted_reads"] - reads}


def pull_keyless(emu: Emulator, env: dict[str, str], sizes: list[int], kills: int, seed: int) -> dict[str, Any]:
    env = {**env, **lambda_malloc_env()}
    out: dict[str, Any] = {"flags": " ".join(KEYLESS_FLAGS)}
    emu.args = KEYLESS_FLAGS
    try:
        for rows in sizes:
            emu.restart()
            seed_keyless(emu, rows)
            with emu.connect() as con:
                want = normalise(con.cursor().execute(f"SELECT {AGGREGATES} FROM {KEYLESS_TABLE}").fetchone())
            emu.restart()  # fakesnow keeps every result in memory: start the measured run clean
            m = measure(f"pull_keyless_{rows}", [str(SNOWSYNC), "pull", TENANT, "--table", KEYLESS_TABLE, "--backfill"], emu, env)
            m["chunks"] = emu.chunk_stats()
            got = live_aggregates()
            if got != want:
                die(f"keyless pull of {rows:,} rows: PostgreSQL has {got}, Snowflake {want} ({AGGREGATES})")
            m["pages"] = pages_of(m)
            m["exact"] = dict(zip(AGGREGATE_NAMES, want))
            m["sigkills"] = killed_runs(emu, env, want, m["seconds"], kills, seed + rows)
            out[str(rows)] = rates(m, rows, copy_out_bytes(f"SELECT {COLUMNS} FROM {PG_SCHEMA}.{KEYLESS_TABLE.lower()}"))
    finally:
        emu.args = []
        emu.restart()
    return out
