"""The bench's own Snowflake emulator (`python -m snowemu`) on a free port, its databases in
.stack/bench/sf so they outlive the restart before every measured phase (fakesnow keeps every
result in memory); and a raw HTTP client of it (login, query-request) for seeding and the read
limit.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from .common import DATABASE, EMULATOR, LOADER, die
from .procs import proc_cpu, proc_peak_rss_mb


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
