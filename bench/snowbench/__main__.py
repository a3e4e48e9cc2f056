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
  pull_column_added REGION added to the source and filled: `snowsync pull bench` (the column
                    backfill), then `--backfill` of the same table, side by side
  reconcile         `snowsync reconcile bench`: nothing deleted (every range's fingerprint
                    agrees), then a row in every thousand deleted (every range ships its keys)
  pull_keyless      KEYLESS_ROWS (no key, no cursor) of each --keyless-rows size, with results in
                    chunks: `snowsync pull bench --table KEYLESS_ROWS --backfill`, exact by aggregates
  push_backfill     M rows in platform.actions; `snowsync push bench --source actions --backfill`
  push_bulk         (--only push-bulk) the same backfill on the bulk path (staged files, COPY INTO)
                    and on the INSERT path, the serial limit (PostgreSQL's COPY TO STDOUT, then the
                    emulator's own PUT + COPY INTO + MERGE of the same rows in the same files) and
                    increments of --crossover-sizes on both paths
  coldstart         target/release/snowsync-pull under a fake Lambda runtime API: spawn -> first
                    /next (init), spawn -> response posted (a real 1,000-row pull handled)
  fanout_tables     (only with --only fanout) a tenant of 20 small tables: `snowsync pull` with
                    --parallel 1, --parallel 4 and the default; wall against the slowest table
  fanout_backfill   (only with --only fanout) FANOUT_ROWS (--fanout-rows) split into K key ranges
                    (parallel_backfill = K) for each K of --fanout-workers: the plan step, then
                    one `snowsync unit pull` process per range at once (peak RSS per worker);
                    `snowsync pull --parallel K` in one process; --fanout-kills seeded SIGKILLs
                    of single workers over the K > 1 runs; exact after every run

The emulator is restarted before every measured phase (fakesnow keeps every result in memory).
MB/s everywhere = bytes of the rows in PostgreSQL's text COPY form / wall seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from typing import Any

from . import postgres
from .changes import pull_column_added, reconcile
from .coldstart import coldstart
from .common import (
    COLD_ROWS,
    OUT,
    PULL_FUNCTION,
    REALISTIC,
    SNOWSYNC,
    T0,
    TENANT,
    WIDE_COLUMNS,
    die,
    log,
)
from .emulator import Emulator
from .fanout import fanout_backfill, fanout_tables, seed_fanout
from .keyless import pull_keyless
from .limits import limit_pg_copy, limit_sf_read, recorded_reads
from .pull import (
    onboard,
    pull_backfill,
    pull_backfill_realistic,
    pull_incremental,
    pull_memory,
    seed,
)
from .push import push_backfill
from .push_bulk import push_bulk
from .report import print_table


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the pulled table (default 1,000,000)")
    ap.add_argument("--push-rows", type=int, help="actions pushed (default: --rows)")
    ap.add_argument("--only", default="pull,limits,realistic,keyless,push,coldstart,changes",
                    help="comma-separated phases: pull, limits (implies the pull backfill), realistic (the backfill again, "
                         "against a Snowflake-like emulator), keyless (full refreshes of a keyless table, results in chunks), "
                          "push, coldstart, changes (a column added, rows deleted: after pull); and, not by default, memory (200 columns, "
                          "16 MB cells), fanout (key ranges in worker processes, 20 small tables; about 18 minutes at 10M rows) and "
                          "push-bulk (the push backfill of --push-rows on both paths, the serial limit, the crossover)")
    ap.add_argument("--crossover-sizes", default="1000,2000,5000,20000",
                    help="increments pushed on both paths by the push-bulk phase (comma-separated; empty: none)")
    ap.add_argument("--keyless-rows", default="1000000,5000000", help="sizes of the keyless phase's table (comma-separated)")
    ap.add_argument("--keyless-kills", type=int, default=3, help="seeded SIGKILLs of keyless runs per size (keyless phase)")
    ap.add_argument("--seed", type=int, default=int(time.time()), help="seed of the SIGKILL points (printed; replay with it)")
    ap.add_argument("--coldstart-runs", type=int, default=5)
    ap.add_argument("--realistic-args", default=" ".join(REALISTIC),
                    help=f"the realistic phase's emulator flags (default: {' '.join(REALISTIC)}), e.g. to measure one behaviour alone")
    ap.add_argument("--wide-rows", type=int, default=20_000, help="rows of the 200-column table (memory phase)")
    ap.add_argument("--huge-rows", type=int, default=100, help="rows of 16 MB VARIANT cells (memory phase)")
    ap.add_argument("--fanout-rows", type=int, default=10_000_000, help="rows of the fanout phase's table (default 10,000,000)")
    ap.add_argument("--fanout-workers", default="1,2,4", help="the fanout phase's K: key ranges, one worker process each")
    ap.add_argument("--fanout-inprocess", default="2,4", help="the K of the in-process variant, `snowsync pull --parallel K` (empty: none)")
    ap.add_argument("--fanout-kills", type=int, default=12, help="seeded SIGKILLs of single workers over the fanout runs with K > 1")
    args = ap.parse_args()
    push_rows = args.push_rows if args.push_rows is not None else args.rows
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {"pull", "limits", "realistic", "keyless", "push", "coldstart", "memory", "fanout", "changes", "push-bulk"}
    if unknown:
        die(f"--only: unknown phase(s) {', '.join(sorted(unknown))}")
    for var in ("SNOWSYNC_DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION"):
        if var not in os.environ:
            die(f"{var} is not set: run through scripts/bench (it starts the stack)")
    for binary in (SNOWSYNC, PULL_FUNCTION):
        if not binary.exists():
            die(f"{binary} is missing: run through scripts/bench (it builds it)")
    postgres.PSQL = postgres.find_psql()

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
        pulling = bool(only & {"pull", "limits", "realistic", "changes"})
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
        if "changes" in only:
            log("a column added to the source: the column backfill, then a full backfill ...")
            p["pull_column_added"] = pull_column_added(emu, env, args.rows)
            c = p["pull_column_added"]
            log(f"column added: column backfill {c['column_backfill']['seconds']} s, full backfill {c['full_backfill']['seconds']} s")
            log("reconcile: nothing deleted, then deletions in every range ...")
            p["reconcile"] = reconcile(emu, env, args.rows)
        copy_file.unlink(missing_ok=True)
        if "keyless" in only:
            sizes = [int(n) for n in args.keyless_rows.split(",") if n.strip()]
            log(f"keyless full refreshes of {', '.join(f'{n:,}' for n in sizes)} rows, results in chunks ...")
            log(f"  SIGKILL points seeded with --seed {args.seed}")
            p["pull_keyless"] = pull_keyless(emu, env, sizes, args.keyless_kills, args.seed)
            for n in sizes:
                k = p["pull_keyless"][str(n)]
                log(f"pull keyless {n:,}: {k['seconds']} s, {k['rows_per_s']:,} rows/s, peak RSS {k['peak_rss_mb']} MB")
        if "push" in only and push_rows > 0:
            log(f"push backfill of {push_rows:,} actions (the emulator parses INSERT ... VALUES slowly: progress every 30 s) ...")
            p["push_backfill"] = push_backfill(emu, env, push_rows)
            log(f"push backfill: {p['push_backfill']['seconds']} s, {p['push_backfill']['rows_per_s']:,} rows/s")
        if "push-bulk" in only and push_rows > 0:
            log(f"push backfill of {push_rows:,} actions on both paths, the serial limit, the crossover ...")
            sizes = [int(n) for n in args.crossover_sizes.split(",") if n.strip()]
            p["push_bulk"] = push_bulk(emu, env, push_rows, sizes)
        if "memory" in only:
            log(f"memory: backfills of {args.wide_rows:,} rows of {WIDE_COLUMNS} columns and {args.huge_rows} rows of 16 MB VARIANT cells ...")
            p["pull_memory"] = pull_memory(emu, env, args.wide_rows, args.huge_rows)
        if "fanout" in only:
            log(f"fanout: seeding {args.fanout_rows:,} rows and 20 small tables ...")
            started = time.monotonic()
            want = seed_fanout(emu, args.fanout_rows)
            log(f"fanout: seeded in {time.monotonic() - started:.0f} s; SIGKILL points seeded with --seed {args.seed}")
            p["fanout_tables"] = fanout_tables(emu, env, want)
            ks = [int(k) for k in args.fanout_workers.split(",") if k.strip()]
            inprocess = [int(k) for k in args.fanout_inprocess.split(",") if k.strip()]
            p["fanout_backfill"] = fanout_backfill(emu, env, args.fanout_rows, ks, inprocess, args.fanout_kills, args.seed, want)
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
