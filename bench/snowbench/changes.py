"""The source changing under an incremental table: a column added (the column backfill it
costs, beside a full backfill of the same table), and rows deleted (`snowsync reconcile`, with
nothing to find, when every range's fingerprint agrees, and with deletions in every range).
"""

from __future__ import annotations

from typing import Any

from .common import SNOWSYNC, TABLE, TENANT, die
from .emulator import Emulator
from .measure import measure, pages_of, rates
from .postgres import psql
from .pull import pg_table


def pull_column_added(emu: Emulator, env: dict[str, str], rows: int) -> dict[str, Any]:
    """REGION added to the source and filled; an incremental pull (the column backfill), then
    a full backfill of the same table for comparison."""
    with emu.connect() as con:
        cur = con.cursor()
        cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN REGION VARCHAR")
        cur.execute(f"UPDATE {TABLE} SET REGION = 'region ' || (ID % 10)")
    out: dict[str, Any] = {}
    for name, extra in (("column_backfill", []), ("full_backfill", ["--backfill"])):
        emu.restart()
        m = measure(f"pull_column_added_{name}", [str(SNOWSYNC), "pull", TENANT, "--table", TABLE, *extra], emu, env)
        m["pages"] = pages_of(m)
        got = int(psql(f"SELECT count(*) FROM {pg_table()} WHERE region = 'region ' || (id % 10)"))
        if got != rows:
            die(f"{name} after a column was added: {got} rows have it, expected {rows}")
        out[name] = rates(m, rows, 0)
    return out


def reconcile(emu: Emulator, env: dict[str, str], rows: int) -> dict[str, Any]:
    """`snowsync reconcile`: once with nothing deleted, once with a row deleted in every
    thousand (so in every range)."""
    out: dict[str, Any] = {}
    for name in ("nothing_deleted", "deletes_everywhere"):
        if name == "deletes_everywhere":
            with emu.connect() as con:
                con.cursor().execute(f"DELETE FROM {TABLE} WHERE ID % 1000 = 7")
        emu.restart()
        m = measure(f"reconcile_{name}", [str(SNOWSYNC), "reconcile", TENANT, "--table", TABLE], emu, env)
        m["ranges"] = pages_of(m)
        left = int(psql(f"SELECT count(*) FROM {pg_table()}"))
        want = rows - (rows // 1000 + (1 if rows % 1000 >= 7 else 0) if name == "deletes_everywhere" else 0)
        if left != want:
            die(f"reconcile ({name}): {left} rows left in PostgreSQL, expected {want}")
        out[name] = rates(m, rows, 0)
    return out
