"""Throughput and cold-start benchmark of snowsync on the local stack (run it with scripts/bench).

Phases (each prints one line and lands in .stack/bench/results.json):

  seed              BENCH.PUBLIC.BENCH_ROWS (N rows, 9 mixed columns) and COLD_ROWS (1,000 rows)
                    in a Snowflake emulator of our own (--db-path .stack/bench/sf, so the data
                    outlives the restarts below)
  pull_backfill     `snowsync pull bench --table BENCH_ROWS --backfill`
  limit_sf_read     the emulator's raw read rate: every SELECT the pull backfill sent (recorded by
                    the emulator: MAX, pre-scans, pages), replayed verbatim over raw HTTP on one
                    session, 1 and then 2 in flight, each response read and discarded (no Arrow
                    decode); the faster run is the limit
  limit_pg_copy     PostgreSQL's raw rate: `\\copy <fresh copy of the pulled table> FROM <file>`
                    with the pulled rows in COPY text form
  pull_incremental  every 10th row gets a later cursor and a new amount; `snowsync pull bench`
  push_backfill     M rows in platform.actions; `snowsync push bench --source actions --backfill`
  coldstart         target/release/snowsync-pull under a fake Lambda runtime API: spawn -> first
                    /next (init), spawn -> response posted (a real 1,000-row pull handled)

The emulator is restarted before every measured phase (fakesnow keeps every result in memory).
MB/s everywhere = bytes of the rows in PostgreSQL's text COPY form / wall seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository: this package is installed editable
OUT = ROOT / ".stack" / "bench"
SNOWSYNC = ROOT / "target" / "release" / "snowsync"
PULL_FUNCTION = ROOT / "target" / "release" / "snowsync-pull"
EMULATOR = [sys.executable, "-m", "snowemu"]  # the emulator package, installed by scripts/stack

TENANT = "bench"
PG_SCHEMA = f"tenant_{TENANT}"
SF_USER = "SNOWSYNC_BENCH"  # the tenant's login: its query count is what snowsync issued
LOADER = "BENCH_LOADER"  # seeding and bookkeeping
RAW_USER = "BENCH_RAW"  # the raw-read limit
DATABASE = "BENCH"
TABLE = "BENCH_ROWS"
COLD_TABLE = "COLD_ROWS"
COLD_ROWS = 1_000
# The memory phase: a table of 200 columns, and one of 16 MB VARIANT cells.
WIDE_TABLE = "WIDE_ROWS"
WIDE_COLUMNS = 200
HUGE_TABLE = "HUGE_CELLS"
HUGE_CELL_BYTES = 16 * 1024 * 1024 - 64  # Snowflake's VARIANT limit is 16 MB
DATA_COLUMNS = ["ID", "ACCOUNT_ID", "NAME", "AMOUNT", "IS_ACTIVE", "CLOSE_DATE", "UPDATED_AT", "PROPERTIES", "NOTE"]
PUSH_COLUMNS = "id, occurred_at, action_type, visitor_id, account_domain, channel, properties, ingested_at"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1_000_000
# The realistic phase's emulator: every Snowflake behaviour on (emulator/README.md),
# with chunks of Snowflake's order of size for this table (a few hundred KB) instead of the
# test suite's tiny ones.
REALISTIC = ["--realistic", "--chunk-rows", "2000"]

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Processes: CPU seconds and peak RSS from /proc
# ---------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def moto_pid() -> int | None:
    """The stack's moto server (DynamoDB, Secrets Manager), from scripts/stack's pid file."""
    try:
        return int((ROOT / ".stack" / "moto.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def proc_peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def proc_stat(pid: int) -> tuple[str, int, float, float] | None:
    """(comm, ppid, own CPU seconds, CPU seconds of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, (int(fields[13]) + int(fields[14])) / CLK_TCK


class PostgresCpu:
    """CPU seconds spent by PostgreSQL (postmaster, backends, background workers) during a phase:
    every live postgres process's own time plus what the postmaster has reaped from exited
    backends. Counts every client of the cluster, not only ours."""

    @staticmethod
    def total() -> float:
        procs = {}
        for d in os.listdir("/proc"):
            if d.isdigit() and (st := proc_stat(int(d))) and st[0] == "postgres":
                procs[int(d)] = st
        total = 0.0
        for _pid, (_comm, ppid, own, reaped) in procs.items():
            total += own
            if ppid not in procs:  # the postmaster: exited backends' time lands here
                total += reaped
        return total

    def __enter__(self) -> "PostgresCpu":
        self.start = self.total()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end = self.total()

    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


# ---------------------------------------------------------------------------------------------
# The bench's own Snowflake emulator
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self, db_path: Path, logfile: Path) -> None:
        self.db_path = db_path
        self.args: list[str] = []  # realistic behaviours (see REALISTIC), for the realistic phase
        self.logfile = logfile
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.logfile, "a") as logf:
            logf.write(f"\n==== {dt.datetime.now(dt.UTC).isoformat()} starting on port {self.port}\n")
            logf.flush()
            self.proc = subprocess.Popen(
                [*EMULATOR, "--host", "127.0.0.1", "--port", str(self.port), "--db-path", str(self.db_path), "--record-sql", *self.args],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"the bench emulator exited during startup; see {self.logfile}")
            try:
                with urllib.request.urlopen(self.url + "/_emulator/health", timeout=2) as r:
                    if r.status == 200:
                        self.warm_up()
                        return
            except OSError:
                pass
            time.sleep(0.3)
        die(f"the bench emulator did not answer within 90 s; see {self.logfile}")

    def warm_up(self) -> None:
        """fakesnow's first login in a process takes about 0.2 s (the limits log in before their
        clock starts): pay it here, with a user of its own, so every phase starts warm."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            raw_query(conn, raw_login(conn, "BENCH_WARMUP"), 1, "SELECT 1")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def peak_rss_mb(self) -> float | None:
        return proc_peak_rss_mb(self.pid)

    def chunk_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/chunk_stats", timeout=10) as r:
            return json.loads(r.read())

    def query_count(self, user: str) -> int:
        with urllib.request.urlopen(f"{self.url}/_emulator/query_count?user={urllib.parse.quote(user)}", timeout=10) as r:
            return int(json.loads(r.read())["queries"])

    def connect(self, user: str = LOADER):
        import snowflake.connector

        return snowflake.connector.connect(
            user=user, password="bench", account="bench-org-bench-account", host="127.0.0.1",
            port=self.port, protocol="http", database=DATABASE, schema="PUBLIC",
        )


# ---------------------------------------------------------------------------------------------
# PostgreSQL through psql
# ---------------------------------------------------------------------------------------------


def find_psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "psql").exists():
            return str(d / "psql")
    die("psql not found (scripts/stack up installs PostgreSQL)")
    return ""


PSQL = ""
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else ""  # GNU time, for peak RSS


def psql(sql: str, *, capture: bool = True) -> str:
    res = subprocess.run(
        [PSQL, os.environ["SNOWSYNC_DATABASE_URL"], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        die(f"psql failed on {sql[:200]!r}: {res.stderr.strip()}")
    return res.stdout.strip() if capture else ""


def copy_out_bytes(select: str, path: Path | None = None) -> int:
    """Size of `COPY (select) TO STDOUT` in bytes (text format); written to path when given."""
    proc = subprocess.Popen(
        [PSQL, os.environ["SNOWSYNC_DATABASE_URL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"COPY ({select}) TO STDOUT"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    n = 0
    out = open(path, "wb") if path else None
    try:
        while chunk := proc.stdout.read(1 << 20):
            n += len(chunk)
            if out:
                out.write(chunk)
    finally:
        if out:
            out.close()
    if proc.wait() != 0:
        die(f"COPY ({select[:120]}) TO STDOUT failed")
    return n


# ---------------------------------------------------------------------------------------------
# Running snowsync with wall time, peak RSS, CPU of every party and queries issued
# ---------------------------------------------------------------------------------------------


def measure(name: str, argv: list[str], emu: Emulator, env: dict[str, str], progress=None) -> dict[str, Any]:
    """Runs argv to completion; returns wall seconds, peak RSS, CPU seconds of the child, the
    emulator and PostgreSQL, and the Snowflake queries the tenant's login issued."""
    logfile = OUT / f"{name}.log"
    # Peak RSS from GNU time: wait4's ru_maxrss of a child spawned from this (large) Python
    # process counts the parent's RSS at vfork/exec, so a 20 MB child shows ~100 MB.
    rss_file = OUT / f"{name}.maxrss"
    rss_file.unlink(missing_ok=True)
    if TIME:
        argv = [TIME, "-q", "-f", "%M", "-o", str(rss_file), *argv]
    q0 = emu.query_count(SF_USER)
    e0 = emu.cpu()
    moto = moto_pid()
    m0 = proc_cpu(moto) if moto else 0.0
    with open(logfile, "w") as logf, PostgresCpu() as pg:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
        next_report = started + 30
        hwm = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic()
            if now >= next_report:
                next_report = now + 30
                extra = progress() if progress else ""
                ours = proc_cpu(proc.pid) + sum(proc_cpu(c) for c in child_pids(proc.pid))
                log(f"  {name}: {now - started:.0f} s, {emu.query_count(SF_USER) - q0} Snowflake queries so far"
                    f", emulator {emu.cpu() - e0:.0f} CPU s, snowsync {ours:.0f} CPU s{extra}")
            if not TIME:
                hwm = max(hwm, proc_peak_rss_mb(proc.pid) or 0.0)
            time.sleep(0.2)
        seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = logfile.read_text(errors="replace")
    if proc.returncode != 0:
        die(f"{' '.join(argv[:3])} ... exited {proc.returncode}; output in {logfile}:\n{output[-3000:]}")
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(int(rss_file.read_text().split()[-1]) / 1024 if TIME else hwm, 1),
        "queries": emu.query_count(SF_USER) - q0,
        "cpu_s": {
            "snowsync": round(usage.ru_utime + usage.ru_stime, 2),
            "emulator": round(emu.cpu() - e0, 2),
            "postgres": round(pg.seconds(), 2),
            # DynamoDB (leases, checkpoints per page, run records)
            "moto": round(proc_cpu(moto) - m0, 2) if moto else None,
        },
        "emulator_peak_rss_mb": round(emu.peak_rss_mb() or 0, 1),
        "output": output.strip().splitlines()[-5:],
    }


def pages_of(m: dict[str, Any]) -> int | None:
    """Pages the CLI reported for the (single) table it pulled."""
    for line in m.get("output", []):
        if found := re.search(r"\bpages\s+(\d+)", line):
            return int(found.group(1))
    return None


def utilisation(m: dict[str, Any]) -> float:
    """CPU seconds of every party / (wall seconds x cores): near 1, the machine is the limit."""
    return sum(v for v in m["cpu_s"].values() if v) / (m["seconds"] * (os.cpu_count() or 1))


def rates(m: dict[str, Any], rows: int, nbytes: int) -> dict[str, Any]:
    s = m["seconds"] or 1e-9
    m.update(rows=rows, bytes=nbytes, rows_per_s=round(rows / s), mb_per_s=round(nbytes / MB / s, 2))
    return m


# ---------------------------------------------------------------------------------------------
# Seed, onboard
# ---------------------------------------------------------------------------------------------


def table_ddl(name: str) -> str:
    return f"""CREATE OR REPLACE TABLE {name} (
        ID NUMBER(38,0) NOT NULL PRIMARY KEY, ACCOUNT_ID NUMBER(18,0), NAME VARCHAR,
        AMOUNT NUMBER(12,2), IS_ACTIVE BOOLEAN, CLOSE_DATE DATE, UPDATED_AT TIMESTAMP_NTZ,
        PROPERTIES VARIANT, NOTE VARCHAR)"""


def table_fill(name: str, rows: int) -> str:
    # NOTE: 60 characters of text per row
    return f"""INSERT INTO {name}
        SELECT SEQ4() + 1, 1 + (SEQ4() * 31) % 100000, 'Customer ' || (SEQ4() + 1),
               ((SEQ4() * 7919) % 10000000) / 100, SEQ4() % 3 = 0,
               DATEADD('day', SEQ4() % 1000, '2023-01-01'::DATE),
               DATEADD('millisecond', SEQ4() * 1501, '2024-01-01 00:00:00'::TIMESTAMP_NTZ),
               OBJECT_CONSTRUCT('source', CASE SEQ4() % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'partner' ELSE 'outbound' END,
                                'score', SEQ4() % 100, 'tier', 'gold'),
               SUBSTR('Note ' || (SEQ4() + 1) || ': renewal call booked, follow up with procurement next week.', 1, 60)
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
    subprocess.run([str(SNOWSYNC), "tenant", "remove", TENANT], env=env, capture_output=True)
    psql(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE; DELETE FROM platform.actions WHERE tenant = '{TENANT}'")
    config = OUT / "bench.toml"
    pulls = "".join(f'[[pull]]\ntable = "{t}"\ncursor = "UPDATED_AT"\nprimary_key = ["ID"]\n\n'
                    for t in (TABLE, COLD_TABLE, WIDE_TABLE, HUGE_TABLE))
    config.write_text(f"""# The benchmark tenant (written by scripts/bench).
tenant = "{TENANT}"

[snowflake]
account = "bench-org-bench-account"
user = "{SF_USER}"
warehouse = "BENCH_WH"
database = "{DATABASE}"
schema = "PUBLIC"

{pulls}[[push]]
source = "actions"
table = "BENCH_ACTIONS"
""")
    creds = OUT / "bench-credentials.json"
    creds.write_text(json.dumps({"password": "bench-password"}))
    res = subprocess.run([str(SNOWSYNC), "tenant", "add", str(config), "--credentials", str(creds)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"snowsync tenant add failed: {res.stdout}{res.stderr}")


def pg_table() -> str:
    name = psql(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{PG_SCHEMA}' AND lower(table_name) = lower('{TABLE}')")
    if not name:
        die(f"the pulled table is not in {PG_SCHEMA}")
    return f'{PG_SCHEMA}."{name}"'


def pg_select(where: str = "") -> str:
    cols = ", ".join(c.lower() for c in DATA_COLUMNS)
    return f"SELECT {cols} FROM {pg_table()}{where}"


# ---------------------------------------------------------------------------------------------
# Pull
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Machine limits
# ---------------------------------------------------------------------------------------------


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


def raw_login(conn: http.client.HTTPConnection, user: str) -> str:
    params = urllib.parse.urlencode({
        "requestId": str(uuid.uuid4()), "request_guid": str(uuid.uuid4()), "warehouse": "BENCH_WH",
        "databaseName": DATABASE, "schemaName": "PUBLIC",
    })
    body = json.dumps({"data": {
        "CLIENT_APP_ID": "Go", "CLIENT_APP_VERSION": "1.6.22", "SVN_REVISION": "", "ACCOUNT_NAME": "BENCH",
        "LOGIN_NAME": user, "PASSWORD": "bench", "SESSION_PARAMETERS": {"CLIENT_VALIDATE_DEFAULT_PARAMETERS": True},
        "CLIENT_ENVIRONMENT": {"APPLICATION": "Rust", "OS": "linux", "OS_VERSION": "", "OCSP_MODE": "FAIL_OPEN"},
    }})
    conn.request("POST", f"/session/v1/login-request?{params}", body, {"Content-Type": "application/json", "Accept": "application/json"})
    resp = json.loads(conn.getresponse().read())
    if not resp.get("success"):
        die(f"raw login failed: {resp}")
    return resp["data"]["token"]


SUCCESS = re.compile(rb'"success"\s*:\s*true')


def raw_query(conn: http.client.HTTPConnection, token: str, seq: int, sql: str) -> int:
    """Sends one query as the Rust client does, reads the whole response and discards it."""
    params = urllib.parse.urlencode({"requestId": str(uuid.uuid4()), "request_guid": str(uuid.uuid4())})
    body = json.dumps({"sqlText": sql, "asyncExec": False, "sequenceId": seq, "isInternal": False})
    conn.request("POST", f"/queries/v1/query-request?{params}", body, {
        "Content-Type": "application/json", "Accept": "application/snowflake",
        "Authorization": f'Snowflake Token="{token}"',
    })
    resp = conn.getresponse()
    n, head, tail = 0, b"", b""
    while chunk := resp.read(1 << 20):
        if not head:
            head = chunk[:2000]
        n += len(chunk)
        tail = (tail + chunk)[-4096:]
    if resp.status != 200 or not (SUCCESS.search(tail) or SUCCESS.search(head)):
        die(f"raw query failed (HTTP {resp.status}) for {sql[:200]}: {head[:600]!r}")
    return n


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


# ---------------------------------------------------------------------------------------------
# Push
# ---------------------------------------------------------------------------------------------


def push_backfill(emu: Emulator, env: dict[str, str], rows: int) -> dict[str, Any]:
    psql(f"DELETE FROM platform.actions WHERE tenant = '{TENANT}'")
    started = time.monotonic()
    psql(f"""INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties)
             SELECT '{TENANT}', g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second',
                    (ARRAY['page_view', 'signup', 'download', 'demo_request'])[1 + g % 4],
                    'visitor-' || (g % 50000), 'account' || (g % 2000) || '.example.com',
                    (ARRAY['web', 'email', 'ads'])[1 + g % 3],
                    jsonb_build_object('path', '/pricing/' || (g % 100), 'score', g % 100)
             FROM generate_series(1, {rows}) AS g""")
    log(f"  push: {rows} rows in platform.actions ({time.monotonic() - started:.1f}s)")
    nbytes = copy_out_bytes(f"SELECT {PUSH_COLUMNS} FROM platform.actions WHERE tenant = '{TENANT}'")
    emu.restart()

    def progress() -> str:
        # the push watermark (ingested_at, id) moves per batch; ids are 1..M in push order
        res = subprocess.run([str(SNOWSYNC), "status", TENANT], env=env, capture_output=True, text=True)
        m = re.search(r"^\S+\s+push\s.*#(\d+)", res.stdout, re.M)
        return f", about {int(m.group(1)):,} of {rows:,} rows pushed" if m else ""

    m = measure("push_backfill", [str(SNOWSYNC), "push", TENANT, "--source", "actions", "--backfill"], emu, env, progress)
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute("SELECT COUNT(*) FROM BENCH_ACTIONS")
        got = cur.fetchone()[0]
    if got != rows:
        die(f"push: {got} rows in BENCH_ACTIONS, expected {rows}")
    return rates(m, rows, nbytes)


# ---------------------------------------------------------------------------------------------
# Cold start under a fake Lambda runtime API
# ---------------------------------------------------------------------------------------------


class FakeRuntime:
    """The three endpoints of the Lambda runtime API the function uses, handing out one event."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = json.dumps(event).encode()
        self.t_next: float | None = None
        self.t_done: float | None = None
        self.kind = ""
        self.result: Any = None
        self.handed = False
        self.done = threading.Event()
        self.release = threading.Event()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != "/2018-06-01/runtime/invocation/next":
                    self.reply(404, b"{}")
                    return
                if runtime.t_next is None:
                    runtime.t_next = time.monotonic()
                if runtime.handed:  # the second poll: hold it until the run is over
                    runtime.release.wait(300)
                    self.close_connection = True
                    return
                runtime.handed = True
                self.reply(200, runtime.event, {
                    "Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:snowsync-pull",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path
                if path.endswith("/response") or path.endswith("/error") or path == "/2018-06-01/runtime/init/error":
                    if runtime.t_done is None:
                        runtime.t_done = time.monotonic()
                        runtime.kind = "response" if path.endswith("/response") else path.rsplit("/", 1)[1]
                        try:
                            runtime.result = json.loads(body)
                        except ValueError:
                            runtime.result = body.decode(errors="replace")
                        runtime.done.set()
                    self.reply(202, b'{"status":"OK"}')
                else:
                    self.reply(404, b"{}")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # the function is killed after each run: its connections end mid-request
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def coldstart(emu: Emulator, env: dict[str, str], runs: int) -> dict[str, Any]:
    emu.restart()
    event = json.loads((ROOT / "tests" / "fixtures" / "pull_event.json").read_text())
    event.update(tenant=TENANT, tables=[COLD_TABLE], mode="backfill")
    samples = []
    for i in range(runs):
        rt = FakeRuntime(event)
        fenv = dict(env)
        fenv.update(
            AWS_LAMBDA_RUNTIME_API=rt.address, AWS_LAMBDA_FUNCTION_NAME="snowsync-pull",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/snowsync-pull", AWS_LAMBDA_LOG_STREAM_NAME="bench",
        )
        with open(OUT / f"coldstart-{i + 1}.log", "w") as logf:
            started = time.monotonic()
            proc = subprocess.Popen([str(PULL_FUNCTION)], env=fenv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finished = rt.done.wait(120)
            peak = proc_peak_rss_mb(proc.pid)  # its own mm: not inflated by this process
            proc.send_signal(signal.SIGTERM)
            proc.wait()
        rt.close()
        if not finished or rt.t_next is None or rt.t_done is None:
            die(f"cold start run {i + 1}: no response within 120 s; see {OUT}/coldstart-{i + 1}.log")
        table = (rt.result.get("tables") or [{}])[0] if isinstance(rt.result, dict) else {}
        if rt.kind != "response" or table.get("outcome") != "complete" or table.get("rows_read") != COLD_ROWS:
            die(f"cold start run {i + 1}: the function answered {rt.kind}: {json.dumps(rt.result)[:800]}")
        samples.append({
            "init_ms": round((rt.t_next - started) * 1000, 1),
            "first_event_ms": round((rt.t_done - started) * 1000, 1),
            "peak_rss_mb": round(peak, 1) if peak else None,
        })
    return {
        "runs": samples,
        "event": event,
        "init_ms_median": round(statistics.median(s["init_ms"] for s in samples), 1),
        "first_event_ms_median": round(statistics.median(s["first_event_ms"] for s in samples), 1),
        "peak_rss_mb_max": max((s["peak_rss_mb"] or 0) for s in samples),
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def fmt_cpu(m: dict[str, Any]) -> str:
    return " ".join(f"{k} {v:.1f}" for k, v in m.get("cpu_s", {}).items() if v is not None)


def print_table(res: dict[str, Any]) -> None:
    p = res["phases"]
    print()
    pushed = f", M = {res['push_rows']:,} push rows" if "push_backfill" in p else ""
    print(f"snowsync bench: N = {res['rows']:,} rows{pushed}, {os.cpu_count()} cores")
    print("MB/s = bytes of the rows in PostgreSQL's text COPY form / wall seconds; CPU = seconds of CPU per process")
    header = f"{'phase':<23} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'MB/s':>7} {'peak RSS':>9} {'emu RSS':>8} {'queries':>8}  CPU s"
    print(header)
    print("-" * (len(header) + 30))
    for name in ("pull_backfill", "pull_backfill_realistic", "pull_incremental", "limit_sf_read", "limit_pg_copy", "push_backfill"):
        m = p.get(name)
        if not m:
            continue
        rss = f"{m['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in m else "-"
        erss = f"{m['emulator_peak_rss_mb']:.0f} MB" if m.get("emulator_peak_rss_mb") else "-"
        q = str(m["queries"]) if "queries" in m else "-"
        print(f"{name:<23} {m['rows']:>10,} {m['seconds']:>9.1f} {m['rows_per_s']:>9,} {m['mb_per_s']:>7.2f} {rss:>9} {erss:>8} {q:>8}  {fmt_cpu(m)}")
    if "pull_vs_limit" in res:
        r = res["pull_vs_limit"]
        print(f"\npull backfill / slower limit ({r['slower_limit']}, {r['limit_rows_per_s']:,} rows/s) = {r['ratio']:.2f}  (target >= 0.8)")
        print(f"both limits in series (read a page, then write it): {r['serial_rows_per_s']:,} rows/s; "
              f"the pull reaches {p['pull_backfill']['rows_per_s'] / r['serial_rows_per_s']:.2f} of that")
        b = p["pull_backfill"]
        print(f"during the pull backfill every party together kept {utilisation(b):.0%} of the {os.cpu_count()} cores busy")
        runs = p["limit_sf_read"].get("runs", {})
        print("the emulator's raw read of the pull's statements: " + ", ".join(f"{k.replace('_', ' ')[:-2]}: {v:.2f} s" for k, v in runs.items())
              + " (the limit is the faster)")
    if "pull_backfill_realistic" in p:
        r = p["pull_backfill_realistic"]
        print(f"realistic emulator ({r.get('flags')}): chunks {json.dumps(r.get('chunks', {}))}")
        if "pull_backfill" in p:
            print(f"  realistic / plain backfill rows/s = {r['rows_per_s'] / max(1, p['pull_backfill']['rows_per_s']):.2f}")
    if "pull_memory" in p:
        for name, m in p["pull_memory"].items():
            print(f"memory ({name}): {m['rows']:,} rows in {m['pages']} pages, {m['seconds']:.1f} s, peak RSS {m['peak_rss_mb']:.0f} MB")
    if "coldstart" in p:
        c = p["coldstart"]
        print(f"cold start (snowsync-pull, {len(c['runs'])} runs, median): spawn -> first /next {c['init_ms_median']:.0f} ms, "
              f"spawn -> first event handled ({COLD_ROWS:,}-row backfill) {c['first_event_ms_median']:.0f} ms, peak RSS {c['peak_rss_mb_max']:.0f} MB")
        print("  runs: " + ", ".join(f"{s['init_ms']:.0f}/{s['first_event_ms']:.0f} ms" for s in c["runs"]))
    print(f"seed {p['seed']['seconds']:.0f} s; total {res['total_seconds']:.0f} s; figures in {OUT / 'results.json'}")


def main() -> int:
    global PSQL
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the pulled table (default 1,000,000)")
    ap.add_argument("--push-rows", type=int, help="actions pushed (default: --rows)")
    ap.add_argument("--only", default="pull,limits,realistic,push,coldstart",
                    help="comma-separated phases: pull, limits (implies the pull backfill), realistic (the backfill again, "
                         "against a Snowflake-like emulator), push, coldstart; and, not by default, memory (200 columns, "
                         "16 MB cells)")
    ap.add_argument("--coldstart-runs", type=int, default=5)
    ap.add_argument("--realistic-args", default=" ".join(REALISTIC),
                    help=f"the realistic phase's emulator flags (default: {' '.join(REALISTIC)}), e.g. to measure one behaviour alone")
    ap.add_argument("--wide-rows", type=int, default=20_000, help="rows of the 200-column table (memory phase)")
    ap.add_argument("--huge-rows", type=int, default=100, help="rows of 16 MB VARIANT cells (memory phase)")
    args = ap.parse_args()
    push_rows = args.push_rows if args.push_rows is not None else args.rows
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {"pull", "limits", "realistic", "push", "coldstart", "memory"}
    if unknown:
        die(f"--only: unknown phase(s) {', '.join(sorted(unknown))}")
    for var in ("SNOWSYNC_DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION"):
        if var not in os.environ:
            die(f"{var} is not set: run through scripts/bench (it starts the stack)")
    for binary in (SNOWSYNC, PULL_FUNCTION):
        if not binary.exists():
            die(f"{binary} is missing: run through scripts/bench (it builds it)")
    PSQL = find_psql()

    OUT.mkdir(parents=True, exist_ok=True)
    sf_dir = OUT / "sf"
    shutil.rmtree(sf_dir, ignore_errors=True)
    sf_dir.mkdir()
    copy_file = OUT / "pulled.copy"
    emu = Emulator(sf_dir, OUT / "emulator.log")
    env = dict(os.environ, SNOWSYNC_SNOWFLAKE_URL=emu.url, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    res: dict[str, Any] = {
        "rows": args.rows, "push_rows": push_rows, "cores": os.cpu_count(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mb_definition": "bytes of the rows in PostgreSQL's text COPY form (COPY (SELECT <data columns>) TO STDOUT) / wall seconds",
        "phases": {},
    }
    p = res["phases"]
    try:
        emu.start()
        log(f"bench emulator on {emu.url} (data in {sf_dir})")
        pulling = bool(only & {"pull", "limits", "realistic"})
        p["seed"] = seed(emu, args.rows if pulling else 0)
        log(f"seed: {args.rows if pulling else 0:,} + {COLD_ROWS:,} rows in {p['seed']['seconds']} s")
        onboard(env)
        log(f"tenant {TENANT} onboarded")

        if pulling:
            log(f"pull backfill of {args.rows:,} rows ...")
            p["pull_backfill"] = pull_backfill(emu, env, args.rows, copy_file)
            reads = recorded_reads(emu)  # before the next restart forgets them
            log(f"pull backfill: {p['pull_backfill']['seconds']} s, {p['pull_backfill']['rows_per_s']:,} rows/s")
        if "limits" in only:
            log("limit: the emulator's raw read of the same pages ...")
            p["limit_sf_read"] = limit_sf_read(emu, args.rows, p["pull_backfill"]["bytes"], reads)
            log(f"limit_sf_read: {p['limit_sf_read']['seconds']} s, {p['limit_sf_read']['rows_per_s']:,} rows/s")
            log("limit: PostgreSQL COPY FROM of the same rows ...")
            p["limit_pg_copy"] = limit_pg_copy(args.rows, copy_file)
            log(f"limit_pg_copy: {p['limit_pg_copy']['seconds']} s, {p['limit_pg_copy']['rows_per_s']:,} rows/s")
            slower = min(("limit_sf_read", "limit_pg_copy"), key=lambda k: p[k]["rows_per_s"])
            res["pull_vs_limit"] = {
                "slower_limit": slower, "limit_rows_per_s": p[slower]["rows_per_s"],
                "ratio": round(p["pull_backfill"]["rows_per_s"] / max(1, p[slower]["rows_per_s"]), 3),
                # a loop that reads a page, then writes it, then reads the next can reach at most this
                "serial_rows_per_s": round(1 / (1 / p["limit_sf_read"]["rows_per_s"] + 1 / p["limit_pg_copy"]["rows_per_s"])),
            }
        if "realistic" in only:
            log(f"pull backfill of {args.rows:,} rows against the realistic emulator ...")
            p["pull_backfill_realistic"] = pull_backfill_realistic(emu, env, args.rows, args.realistic_args.split())
            p["pull_backfill_realistic"]["flags"] = args.realistic_args
            log(f"realistic pull backfill: {p['pull_backfill_realistic']['seconds']} s, {p['pull_backfill_realistic']['rows_per_s']:,} rows/s")
        if "pull" in only:
            log(f"incremental pull of {args.rows // 10:,} changed rows ...")
            p["pull_incremental"] = pull_incremental(emu, env, args.rows)
            log(f"pull incremental: {p['pull_incremental']['seconds']} s, {p['pull_incremental']['rows_per_s']:,} rows/s")
        copy_file.unlink(missing_ok=True)
        if "push" in only and push_rows > 0:
            log(f"push backfill of {push_rows:,} actions (the emulator parses INSERT ... VALUES slowly: progress every 30 s) ...")
            p["push_backfill"] = push_backfill(emu, env, push_rows)
            log(f"push backfill: {p['push_backfill']['seconds']} s, {p['push_backfill']['rows_per_s']:,} rows/s")
        if "memory" in only:
            log(f"memory: backfills of {args.wide_rows:,} rows of {WIDE_COLUMNS} columns and {args.huge_rows} rows of 16 MB VARIANT cells ...")
            p["pull_memory"] = pull_memory(emu, env, args.wide_rows, args.huge_rows)
        if "coldstart" in only:
            log(f"cold start of snowsync-pull, {args.coldstart_runs} runs ...")
            p["coldstart"] = coldstart(emu, env, args.coldstart_runs)
    finally:
        emu.stop()
    res["total_seconds"] = round(time.monotonic() - T0, 1)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
