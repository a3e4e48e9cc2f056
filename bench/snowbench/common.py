"""What every phase shares: the repository's paths, the names of the bench's tenant, users and
tables, the realistic phase's emulator flags, and the log.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

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
FANOUT_TENANT = "fanout"  # the fanout phases: a tenant of its own
FANOUT_TABLE = "FANOUT_ROWS"
KEYLESS_TABLE = "KEYLESS_ROWS"  # the keyless phase: no key, no cursor
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
