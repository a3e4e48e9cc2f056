"""The fanout phases (issue 15).

fanout_backfill: one table's backfill split into K key ranges (`parallel_backfill = K`), run as
the state machine runs it: the plan step (`snowsync unit pull '{..."plan":true}'`), then one
process per range unit, all at once, each a worker whose peak RSS is measured on its own. For
each K: wall time from the plan's start to the last worker's end, rows/s, every worker's peak
RSS and rate; then, for K > 1, seeded SIGKILLs of single workers, each killed unit rerun once
its lease lapsed, as the engine's retry would; then the same backfill in one process
(`snowsync pull --parallel K`). The destination is checked exact by aggregates after every run.

fanout_tables: a tenant of 20 small tables of varied sizes, `snowsync pull` one table at a
time, four at a time and at the tenant's default: wall time against the slowest table's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import FANOUT_TABLE, FANOUT_TENANT, OUT, SNOWSYNC, die, log
from .emulator import Emulator
from .keyless import normalise
from .measure import emulator_share, measure, peak_rss_mb, timed, utilisation
from .postgres import TIME, psql
from .procs import PostgresCpu, child_pids, moto_pid, proc_cpu
from .pull import add_tenant, pull_entry, table_ddl, table_fill

# what both sides must agree on after every run: rows, keys, numbers, text, and how the cursor spreads
AGGREGATES = ("COUNT(*), SUM(ID), SUM(ACCOUNT_ID), SUM(ROUND(AMOUNT * 100)), SUM(LENGTH(NAME)), SUM(LENGTH(NOTE)), "
              "SUM(CASE WHEN IS_ACTIVE THEN 1 ELSE 0 END), COUNT(DISTINCT UPDATED_AT), COUNT(DISTINCT CLOSE_DATE)")
# the tenant of small tables: varied sizes, the last two the slowest
SMALL_ROWS = [50_000 + (i * 7 % 11) * 10_000 for i in range(18)] + [200_000, 180_000]
SMALL_TABLES = [f"SMALL_{i:02}" for i in range(len(SMALL_ROWS))]
FILL_ROWS = 1_000_000  # rows per INSERT of the seed (see table_fill)
LEASE_TTL_S = 3  # the kill runs' lease: a killed unit's lease lapses this long after its last renewal


def seed_fanout(emu: Emulator, rows: int) -> dict[str, list[str]]:
    """FANOUT_ROWS (rows) and the 20 small tables, all of pull.py's 9 columns; returns each
    table's aggregates as Snowflake says them."""
    want: dict[str, list[str]] = {}
    with emu.connect() as con:
        cur = con.cursor()
        for table, n in [(FANOUT_TABLE, rows), *zip(SMALL_TABLES, SMALL_ROWS)]:
            cur.execute(table_ddl(table))
            for offset in range(0, n, FILL_ROWS):
                cur.execute(table_fill(table, min(FILL_ROWS, n - offset), offset))
            want[table] = normalise(cur.execute(f"SELECT {AGGREGATES} FROM {table}").fetchone())
            if want[table][0] != str(n):
                die(f"seeding {table}: {want[table][0]} rows, expected {n}")
    return want


def onboard_fanout(env: dict[str, str], k: int) -> None:
    """The tenant afresh (schema and state gone), FANOUT_ROWS split into k ranges."""
    add_tenant(env, FANOUT_TENANT, pull_entry(FANOUT_TABLE, f"parallel_backfill = {k}\n")
               + "".join(pull_entry(t) for t in SMALL_TABLES))


def check_exact(table: str, want: list[str], what: str) -> None:
    got = normalise(psql(f"SELECT {AGGREGATES.lower()} FROM tenant_{FANOUT_TENANT}.{table.lower()}").split("|"))
    if got != want:
        die(f"{what}: PostgreSQL's {table} has {got}, Snowflake's {want} ({AGGREGATES})")


@dataclass
class Worker:
    """One `snowsync unit pull` process (under GNU time for its peak RSS)."""

    unit: int
    name: str
    proc: subprocess.Popen
    rss_file: Path
    started: float
    seconds: float = 0.0
    cpu_s: float = 0.0
    code: int | None = None
    killed: bool = False

    def reap(self) -> bool:
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if not pid:
            return False
        self.seconds = time.monotonic() - self.started
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.code
        return True

    def kill(self) -> bool:
        """SIGKILLs snowsync itself (GNU time's child); False when it is not running."""
        for pid in child_pids(self.proc.pid) if TIME else [self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
                self.killed = True
            except ProcessLookupError:
                pass
        return self.killed

    def result(self) -> dict[str, Any]:
        """The unit's report: outcome and rows of its one object ('killed'/'failed' without one)."""
        text = (OUT / f"{self.name}.json").read_text()
        outcome, rows = ("killed" if self.killed else "failed"), 0
        if self.code == 0 and text.strip():
            obj = json.loads(text)["tables"][0]
            outcome, rows = obj["outcome"], obj["rows_written"]
        return {"unit": self.unit, "seconds": round(self.seconds, 2), "peak_rss_mb": peak_rss_mb(self.rss_file),
                "cpu_s": round(self.cpu_s, 2), "outcome": outcome, "rows": rows,
                "rows_per_s": round(rows / self.seconds) if self.seconds else 0}


def spawn(unit: int, name: str, event: dict[str, Any], env: dict[str, str]) -> Worker:
    argv, rss_file = timed(name, [str(SNOWSYNC), "unit", "pull", json.dumps(event)])
    with open(OUT / f"{name}.json", "w") as out, open(OUT / f"{name}.log", "w") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    return Worker(unit, name, proc, rss_file, time.monotonic())


def plan(env: dict[str, str], k: int) -> list[dict[str, Any]]:
    event = {"tenant": FANOUT_TENANT, "tables": [FANOUT_TABLE], "mode": "backfill", "plan": True}
    res = subprocess.run([str(SNOWSYNC), "unit", "pull", json.dumps(event)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"the plan step failed: {res.stdout}{res.stderr}")
    units = json.loads(res.stdout)["units"]
    if len(units) != k:
        die(f"the plan step made {len(units)} units, expected {k}: {res.stdout}")
    return units


def run_units(name: str, units: list[dict[str, Any]], env: dict[str, str], kill_at: list[float], seed: int) -> dict[str, Any]:
    """Every unit at once, one process each; at each of kill_at (seconds from the start) a
    running worker drawn by the seed is SIGKILLed. A unit whose process did not end `complete`
    (killed, its range's lease still held, failed) is rerun once its lease can have lapsed, as
    the state machine's retry would, until every unit is complete."""
    rng = random.Random(seed)
    pending = sorted(kill_at)
    t0 = time.monotonic()
    live = {i: spawn(i, f"{name}_u{i}", u, env) for i, u in enumerate(units)}
    runs: list[dict[str, Any]] = []
    kills: list[dict[str, Any]] = []
    rerun_at: dict[int, float] = {}
    while live or rerun_at:
        now = time.monotonic() - t0
        for i, w in list(live.items()):
            if w.reap():
                del live[i]
                runs.append(r := w.result())
                if r["outcome"] != "complete":
                    if sum(1 for x in runs if x["unit"] == i) > 20:
                        die(f"{name}: unit {i} did not complete in 20 runs; logs in {OUT}/{name}_u{i}*.log")
                    rerun_at[i] = now + LEASE_TTL_S + 0.5
        if pending and now >= pending[0]:
            pending.pop(0)
            if live:
                i = rng.choice(sorted(live))
                kills.append({"after_s": round(now, 2), "unit": i, "killed": live[i].kill()})
        for i, at in list(rerun_at.items()):
            if now >= at:
                del rerun_at[i]
                live[i] = spawn(i, f"{name}_u{i}_run{sum(1 for x in runs if x['unit'] == i) + 1}", units[i], env)
        time.sleep(0.05)
    return {"seconds": time.monotonic() - t0, "runs": runs, "kills": kills}


def fanout_backfill_k(emu: Emulator, env: dict[str, str], k: int, rows: int, want: list[str]) -> dict[str, Any]:
    """Plan + k workers at once, measured: wall, rows/s, each worker's peak RSS and rate, CPU of
    every party; the destination exact."""
    emu.restart()
    onboard_fanout(env, k)
    e0 = emu.cpu()
    moto = moto_pid()
    m0 = proc_cpu(moto) if moto else 0.0
    with PostgresCpu() as pg:
        started = time.monotonic()
        units = plan(env, k)
        plan_s = time.monotonic() - started
        done = run_units(f"fanout_k{k}", units, env, [], 0)
        seconds = time.monotonic() - started
    check_exact(FANOUT_TABLE, want, f"fanout backfill, K = {k}")
    workers = done["runs"]
    if any(w["outcome"] != "complete" for w in workers):
        die(f"fanout backfill, K = {k}: a worker did not complete: {workers}")
    m = {
        "k": k, "rows": rows, "seconds": round(seconds, 2), "plan_seconds": round(plan_s, 2),
        "rows_per_s": round(rows / seconds), "workers": workers,
        "peak_rss_mb_max": max(w["peak_rss_mb"] for w in workers),
        "worker_rows_per_s_mean": round(sum(w["rows_per_s"] for w in workers) / len(workers)),
        "cpu_s": {
            "snowsync": round(sum(w["cpu_s"] for w in workers), 2),
            "emulator": round(emu.cpu() - e0, 2),
            "postgres": round(pg.seconds(), 2),
            "moto": round(proc_cpu(moto) - m0, 2) if moto else None,
        },
        "emulator_peak_rss_mb": round(emu.peak_rss_mb() or 0, 1),
    }
    m["emulator_cpu_share"] = emulator_share(m)
    m["utilisation"] = round(utilisation(m), 3)
    return m


def fanout_inprocess_k(emu: Emulator, env: dict[str, str], k: int, rows: int, want: list[str]) -> dict[str, Any]:
    """The same backfill in one process: `snowsync pull --parallel k`, k ranges at once."""
    emu.restart()
    onboard_fanout(env, k)
    m = measure(f"fanout_inprocess_k{k}", [str(SNOWSYNC), "pull", FANOUT_TENANT, "--table", FANOUT_TABLE, "--backfill",
                                            "--parallel", str(k)], emu, env)
    check_exact(FANOUT_TABLE, want, f"in-process fanout backfill, --parallel {k}")
    m.update(k=k, rows=rows, rows_per_s=round(rows / m["seconds"]))
    m["emulator_cpu_share"] = emulator_share(m)
    return m


def fanout_kills_k(emu: Emulator, env: dict[str, str], k: int, kills: int, clean_s: float, seed: int, want: list[str]) -> dict[str, Any]:
    """A k-range backfill with `kills` single workers SIGKILLed at seeded points of the clean
    run's time, each killed unit rerun after its lease lapsed; exact at the end."""
    emu.restart()
    onboard_fanout(env, k)
    env = {**env, "SNOWSYNC_LEASE_TTL_SECS": str(LEASE_TTL_S)}
    rng = random.Random(seed)
    kill_at = [round(rng.uniform(0.1, 0.85) * clean_s, 2) for _ in range(kills)]
    done = run_units(f"fanout_kills_k{k}", plan(env, k), env, kill_at, seed)
    check_exact(FANOUT_TABLE, want, f"fanout backfill, K = {k}, after {kills} SIGKILLs")
    return {
        "k": k, "seed": seed, "seconds": round(done["seconds"], 2), "kills": done["kills"],
        "landed": sum(1 for x in done["kills"] if x["killed"]), "processes": len(done["runs"]),
        "outcomes": sorted({r["outcome"] for r in done["runs"]}),
    }


def fanout_backfill(emu: Emulator, env: dict[str, str], rows: int, ks: list[int], inprocess: list[int], kills: int,
                    seed: int, want: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": rows, "by_k": {}, "inprocess": {}, "kills": {}}
    for k in ks:
        m = out["by_k"][str(k)] = fanout_backfill_k(emu, env, k, rows, want[FANOUT_TABLE])
        log(f"fanout backfill K = {k}: {m['seconds']} s, {m['rows_per_s']:,} rows/s, worker peak RSS max "
            f"{m['peak_rss_mb_max']} MB, emulator {m['emulator_cpu_share']:.0%} of the cores; exact")
    split = [k for k in ks if k > 1]
    for n, k in enumerate(split):
        share = kills // len(split) + (1 if n < kills % len(split) else 0)
        m = out["kills"][str(k)] = fanout_kills_k(emu, env, k, share, out["by_k"][str(k)]["seconds"], seed + k, want[FANOUT_TABLE])
        log(f"fanout kills K = {k}: {m['landed']} of {len(m['kills'])} SIGKILLs landed, {m['processes']} worker processes, exact")
    for k in inprocess:
        m = out["inprocess"][str(k)] = fanout_inprocess_k(emu, env, k, rows, want[FANOUT_TABLE])
        log(f"fanout in process --parallel {k}: {m['seconds']} s, {m['rows_per_s']:,} rows/s, peak RSS {m['peak_rss_mb']} MB; exact")
    return out


def pulled_tables(logfile: Path) -> dict[str, float]:
    """Each table's seconds from the `--json` document a pull printed (its log may hold warnings too)."""
    text = logfile.read_text(errors="replace")
    doc, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
    return {o["object"]: o["seconds"] for o in doc["tables"] if o["outcome"] == "complete"}


def fanout_tables(emu: Emulator, env: dict[str, str], want: dict[str, list[str]]) -> dict[str, Any]:
    """The 20 small tables backfilled one at a time, four at a time and at the default
    (`[limits] max_parallel`, 4 unless set): wall against the slowest table and the sum."""
    onboard_fanout(env, 1)
    tables = [a for t in SMALL_TABLES for a in ("--table", t)]
    out: dict[str, Any] = {"tables": len(SMALL_TABLES), "rows": sum(SMALL_ROWS)}
    for label, flags in (("parallel_1", ["--parallel", "1"]), ("parallel_4", ["--parallel", "4"]), ("default", [])):
        emu.restart()
        name = f"fanout_tables_{label}"
        m = measure(name, [str(SNOWSYNC), "--json", "--quiet", "pull", FANOUT_TENANT, *tables, "--backfill", *flags], emu, env)
        per = pulled_tables(OUT / f"{name}.log")
        if len(per) != len(SMALL_TABLES):
            die(f"{name}: {len(per)} of {len(SMALL_TABLES)} tables complete")
        for t in SMALL_TABLES:
            check_exact(t, want[t], name)
        m.pop("output", None)
        m.update(rows=out["rows"], rows_per_s=round(out["rows"] / m["seconds"]),
                 slowest_table_s=max(per.values()), sum_table_s=round(sum(per.values()), 2), table_seconds=per)
        m["emulator_cpu_share"] = emulator_share(m)
        out[label] = m
        log(f"fanout tables {label}: {m['seconds']} s wall, slowest table {m['slowest_table_s']} s, "
            f"sum of tables {m['sum_table_s']} s; exact")
    return out
