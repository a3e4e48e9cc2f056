"""The push phase: M actions in platform.actions, pushed to the emulator by a backfill.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from .common import PUSH_COLUMNS, SNOWSYNC, TENANT, die, log
from .emulator import Emulator
from .measure import measure, rates
from .postgres import copy_out_bytes, psql


def seed_actions(rows: int, first: int = 1) -> None:
    """Actions `first` .. `first + rows - 1` of the bench tenant in platform.actions."""
    psql(f"""INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties)
             SELECT '{TENANT}', g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second',
                    (ARRAY['page_view', 'signup', 'download', 'demo_request'])[1 + g % 4],
                    'visitor-' || (g % 50000), 'account' || (g % 2000) || '.example.com',
                    (ARRAY['web', 'email', 'ads'])[1 + g % 3],
                    jsonb_build_object('path', '/pricing/' || (g % 100), 'score', g % 100)
             FROM generate_series({first}, {first + rows - 1}) AS g""")


def push_backfill(emu: Emulator, env: dict[str, str], rows: int) -> dict[str, Any]:
    psql(f"DELETE FROM platform.actions WHERE tenant = '{TENANT}'")
    started = time.monotonic()
    seed_actions(rows)
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
