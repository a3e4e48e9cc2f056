"""Measuring a run of snowsync: wall time, peak RSS, the CPU seconds of every party (snowsync,
the emulator, moto, PostgreSQL) and the queries it issued; and the rates derived from them.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import MB, OUT, ROOT, SF_USER, die, log
from .emulator import Emulator
from .postgres import TIME
from .procs import PostgresCpu, child_pids, moto_pid, proc_cpu, proc_peak_rss_mb


def measure(name: str, argv: list[str], emu: Emulator, env: dict[str, str], progress=None) -> dict[str, Any]:
    """Runs argv to completion; returns wall seconds, peak RSS, CPU seconds of the child, the
    emulator and PostgreSQL, and the Snowflake queries the tenant's login issued."""
    logfile = OUT / f"{name}.log"
    argv, rss_file = timed(name, argv)
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
        "peak_rss_mb": peak_rss_mb(rss_file) if TIME else round(hwm, 1),
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


def timed(name: str, argv: list[str]) -> tuple[list[str], Path]:
    """argv under GNU time writing the peak RSS to OUT/<name>.maxrss (when GNU time is there).
    Not wait4's ru_maxrss: for a child spawned from this (large) Python process it counts the
    parent's RSS at vfork/exec, so a 20 MB child shows ~100 MB."""
    rss_file = OUT / f"{name}.maxrss"
    rss_file.unlink(missing_ok=True)
    return ([TIME, "-q", "-f", "%M", "-o", str(rss_file), *argv] if TIME else argv), rss_file


def peak_rss_mb(rss_file: Path) -> float:
    """What GNU time wrote (KB), in MB; 0 when the process was killed before it could write."""
    try:
        return round(int(rss_file.read_text().split()[-1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return 0.0


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


def emulator_share(m: dict[str, Any]) -> float:
    """The emulator's CPU seconds / (wall seconds x cores): near 1 / cores, it is the bottleneck."""
    return round(m["cpu_s"]["emulator"] / (m["seconds"] * (os.cpu_count() or 1)), 3)
