"""Processes as /proc shows them: CPU seconds, peak RSS, children, the stack's moto server, and the
CPU of PostgreSQL's backends over a phase.
"""

from __future__ import annotations

import os
from typing import Any

from .common import CLK_TCK, ROOT


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
