"""PostgreSQL through psql: statements, and COPY of a SELECT to a file (the rows' size in COPY
text form is what MB/s counts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .common import die


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
