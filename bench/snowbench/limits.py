"""The machine's limits for a pull: the emulator's raw read of the pages the backfill sent
(replayed over raw HTTP, 1 and 2 in flight) and PostgreSQL's raw COPY FROM of the same rows.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .common import DATA_COLUMNS, DATABASE, MB, PG_SCHEMA, RAW_USER, SF_USER, TABLE, die
from .emulator import Emulator, raw_login, raw_query
from .measure import rates
from .postgres import psql
from .procs import PostgresCpu
from .pull import pg_table


def recorded_reads(emu: Emulator) -> list[str]:
    """Every SELECT of the bench table the pull backfill sent (the emulator runs with
    --record-sql): MAX(cursor), the boundary pre-scans and the pages, verbatim and in order. So
    the limit reads exactly what the pull read, whatever shapes pull.rs uses."""
    with urllib.request.urlopen(f"{emu.url}/_emulator/queries?user={urllib.parse.quote(SF_USER)}", timeout=30) as r:
        sqls = json.loads(r.read())["sql"]
    table = f'"{DATABASE}"."PUBLIC"."{TABLE}"'
    reads = [q for q in sqls if table in q]
    if not reads:
        die(f"the emulator recorded no SELECT of {table} by {SF_USER}: was it started with --record-sql?")
    return reads


def raw_read(emu: Emulator, sqls: list[str], inflight: int) -> dict[str, Any]:
    """Sends sqls on one fresh session, `inflight` at a time (one HTTP connection each, as the
    pull keeps READ_AHEAD pages in flight), each response read whole and discarded."""
    emu.restart()
    e0 = emu.cpu()
    conns = [http.client.HTTPConnection("127.0.0.1", emu.port, timeout=600) for _ in range(inflight)]
    token = raw_login(conns[0], RAW_USER)
    q0 = emu.query_count(RAW_USER)
    todo = list(enumerate(sqls))
    lock = threading.Lock()
    body_bytes = [0]
    failed: list[BaseException] = []

    def worker(conn: http.client.HTTPConnection) -> None:
        while True:
            with lock:
                if not todo or failed:
                    return
                i, sql = todo.pop(0)
            try:
                n = raw_query(conn, token, i + 1, sql)
            except BaseException as e:  # noqa: BLE001 - reported below (die() raises SystemExit)
                failed.append(e)
                return
            with lock:
                body_bytes[0] += n

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    for c in conns:
        c.close()
    if failed:
        die(f"raw read ({inflight} in flight) failed: {failed[0]}")
    return {
        "seconds": round(seconds, 3),
        "in_flight": inflight,
        "queries": emu.query_count(RAW_USER) - q0,
        "response_mb": round(body_bytes[0] / MB, 1),
        "cpu_s": {"emulator": round(emu.cpu() - e0, 2)},
        "emulator_peak_rss_mb": round(emu.peak_rss_mb() or 0, 1),
    }


def limit_sf_read(emu: Emulator, rows: int, nbytes: int, sqls: list[str]) -> dict[str, Any]:
    """The faster of reading the pull's statements one at a time and two at a time."""
    runs = [raw_read(emu, sqls, n) for n in (1, 2)]
    best = min(runs, key=lambda m: m["seconds"])
    m = dict(best, runs={f"{r['in_flight']}_in_flight_s": r["seconds"] for r in runs})
    return rates(m, rows, nbytes)


def limit_pg_copy(rows: int, copy_file: Path) -> dict[str, Any]:
    target = f"{PG_SCHEMA}.bench_copy_limit"
    psql(f"DROP TABLE IF EXISTS {target}; CREATE TABLE {target} (LIKE {pg_table()} INCLUDING ALL)")
    cols = ", ".join(c.lower() for c in DATA_COLUMNS)
    with PostgresCpu() as pg:
        started = time.monotonic()
        psql(f"\\copy {target} ({cols}) FROM '{copy_file}'")
        seconds = time.monotonic() - started
    got = int(psql(f"SELECT count(*) FROM {target}"))
    psql(f"DROP TABLE {target}")
    if got != rows:
        die(f"COPY limit: {got} rows loaded, expected {rows}")
    m = {"seconds": round(seconds, 3), "cpu_s": {"postgres": round(pg.seconds(), 2)}}
    return rates(m, rows, copy_file.stat().st_size)
