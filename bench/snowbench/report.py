"""The table the bench prints at the end (every figure is in .stack/bench/results.json too).
"""

from __future__ import annotations

import json
import os
from typing import Any

from .common import COLD_ROWS, OUT
from .measure import utilisation


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
    if "pull_column_added" in p:
        c = p["pull_column_added"]
        col, full = c["column_backfill"], c["full_backfill"]
        print(f"a column added to {col['rows']:,} rows: column backfill {col['seconds']:.1f} s ({col['queries']} queries, peak RSS {col['peak_rss_mb']:.0f} MB)"
              f" | full backfill {full['seconds']:.1f} s ({full['queries']} queries, peak RSS {full['peak_rss_mb']:.0f} MB)"
              f" | {full['seconds'] / max(col['seconds'], 1e-9):.1f}x")
    if "reconcile" in p:
        for name, m in p["reconcile"].items():
            print(f"reconcile, {name.replace('_', ' ')}: {m['rows']:,} rows in {m.get('ranges')} ranges, {m['seconds']:.1f} s, "
                  f"{m['queries']} Snowflake queries, peak RSS {m['peak_rss_mb']:.0f} MB; CPU s {fmt_cpu(m)}")
    if "pull_keyless" in p:
        k = p["pull_keyless"]
        for n, m in k.items():
            if n == "flags":
                continue
            print(f"keyless full refresh ({k['flags']}): {m['rows']:,} rows in {m['chunks'].get('served', 0)} chunks, "
                  f"{m['seconds']:.1f} s, {m['rows_per_s']:,} rows/s, {m['mb_per_s']:.2f} MB/s, peak RSS {m['peak_rss_mb']:.0f} MB")
            k9 = m.get("sigkills", {})
            landed = sum(1 for p in k9.get("kills", []) if p["killed"])
            print(f"  then {landed} of {len(k9.get('kills', []))} runs SIGKILLed mid-run (seed {k9.get('seed')}), the live table whole "
                  f"after each; {k9.get('resumed_runs')} runs read on from a killed run's persisted result; exact at the end")
    if "push_bulk" in p:
        b = p["push_bulk"]
        print(f"\npush backfill of {b['bulk']['rows']:,} actions, both paths:")
        for path in ("bulk", "insert"):
            if m := b.get(path):
                print(f"  {path:<7} {m['seconds']:>8.1f} s {m['rows_per_s']:>9,} rows/s  peak RSS {m['peak_rss_mb']:.0f} MB  queries {m['queries']}  CPU {fmt_cpu(m)}")
        lim = b["serial_limit"]
        print(f"  serial limit: PostgreSQL COPY TO STDOUT {lim['pg_copy_seconds']:.1f} s + the emulator's PUT + COPY INTO + MERGE of "
              f"{lim['files']} files {lim['sf_put_copy_merge_seconds']:.1f} s = {lim['rows_per_s']:,} rows/s; "
              f"bulk / limit = {b['bulk_vs_serial_limit']:.2f} (target >= 0.7, and >= 50,000 rows/s)")
        for n, row in b.get("crossover", {}).items():
            print(f"  increment of {int(n):>6,} rows: INSERTs {row['insert']['seconds']:.2f} s, file {row['bulk']['seconds']:.2f} s")
    if "pull_memory" in p:
        for name, m in p["pull_memory"].items():
            print(f"memory ({name}): {m['rows']:,} rows in {m['pages']} pages, {m['seconds']:.1f} s, peak RSS {m['peak_rss_mb']:.0f} MB")
    if "coldstart" in p:
        c = p["coldstart"]
        print(f"cold start (snowsync-pull, {len(c['runs'])} runs, median): spawn -> first /next {c['init_ms_median']:.0f} ms, "
              f"spawn -> first event handled ({COLD_ROWS:,}-row backfill) {c['first_event_ms_median']:.0f} ms, peak RSS {c['peak_rss_mb_max']:.0f} MB")
        print("  runs: " + ", ".join(f"{s['init_ms']:.0f}/{s['first_event_ms']:.0f} ms" for s in c["runs"]))
    if "fanout_tables" in p:
        print_fanout(p["fanout_tables"], p.get("fanout_backfill"))
    print(f"seed {p['seed']['seconds']:.0f} s; total {res['total_seconds']:.0f} s; figures in {OUT / 'results.json'}")


def print_fanout(tables: dict[str, Any], backfill: dict[str, Any] | None) -> None:
    print(f"\nfanout, {tables['tables']} small tables ({tables['rows']:,} rows), `snowsync pull --backfill`:")
    for label in ("parallel_1", "parallel_4", "default"):
        m = tables[label]
        print(f"  {label:<11} wall {m['seconds']:6.1f} s   slowest table {m['slowest_table_s']:5.1f} s   sum of tables "
              f"{m['sum_table_s']:6.1f} s   peak RSS {m['peak_rss_mb']:.0f} MB   emulator {m['emulator_cpu_share']:.0%} of the cores")
    if not backfill:
        return
    print(f"fanout backfill of {backfill['rows']:,} rows: plan + K `snowsync unit pull` workers at once (exact after each):")
    print(f"  {'K':>2} {'seconds':>8} {'rows/s':>9} {'worker rows/s':>14} {'peak RSS per worker (MB)':<28} {'emulator':>8} {'all CPU':>8}")
    for k, m in backfill["by_k"].items():
        rss = ", ".join(f"{w['peak_rss_mb']:.0f}" for w in sorted(m["workers"], key=lambda w: w["unit"]))
        print(f"  {k:>2} {m['seconds']:8.1f} {m['rows_per_s']:>9,} {m['worker_rows_per_s_mean']:>14,} {rss:<28} "
              f"{m['emulator_cpu_share']:>8.0%} {m['utilisation']:>8.0%}")
    for k, m in backfill["inprocess"].items():
        print(f"  in one process, --parallel {k}: {m['seconds']:.1f} s, {m['rows_per_s']:,} rows/s, peak RSS {m['peak_rss_mb']:.0f} MB")
    for k, m in backfill["kills"].items():
        print(f"  K = {k}: {m['landed']} of {len(m['kills'])} SIGKILLs of single workers landed (seed {m['seed']}), "
              f"{m['processes']} worker processes in all, exact at the end ({m['seconds']:.1f} s)")
