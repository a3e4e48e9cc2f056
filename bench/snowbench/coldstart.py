"""The cold-start phase: target/release/snowsync-pull under a fake Lambda runtime API, timed from
spawn to its first /next (init) and to a real 1,000-row pull's response.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .common import COLD_ROWS, COLD_TABLE, OUT, PULL_FUNCTION, ROOT, TENANT, die
from .emulator import Emulator
from .procs import proc_peak_rss_mb


class FakeRuntime:
    """The three endpoints of the Lambda runtime API the function uses, handing out one event."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = json.dumps(event).encode()
        self.t_next: float | None = None
        self.t_done: float | None = None
        self.kind = ""
        self.result: Any = None
        self.handed = False
        self.done = threading.Event()
        self.release = threading.Event()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != "/2018-06-01/runtime/invocation/next":
                    self.reply(404, b"{}")
                    return
                if runtime.t_next is None:
                    runtime.t_next = time.monotonic()
                if runtime.handed:  # the second poll: hold it until the run is over
                    runtime.release.wait(300)
                    self.close_connection = True
                    return
                runtime.handed = True
                self.reply(200, runtime.event, {
                    "Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:snowsync-pull",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path
                if path.endswith("/response") or path.endswith("/error") or path == "/2018-06-01/runtime/init/error":
                    if runtime.t_done is None:
                        runtime.t_done = time.monotonic()
                        runtime.kind = "response" if path.endswith("/response") else path.rsplit("/", 1)[1]
                        try:
                            runtime.result = json.loads(body)
                        except ValueError:
                            runtime.result = body.decode(errors="replace")
                        runtime.done.set()
                    self.reply(202, b'{"status":"OK"}')
                else:
                    self.reply(404, b"{}")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # the function is killed after each run: its connections end mid-request
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def coldstart(emu: Emulator, env: dict[str, str], runs: int) -> dict[str, Any]:
    emu.restart()
    event = json.loads((ROOT / "tests" / "fixtures" / "pull_event.json").read_text())
    event.update(tenant=TENANT, tables=[COLD_TABLE], mode="backfill")
    samples = []
    for i in range(runs):
        rt = FakeRuntime(event)
        fenv = dict(env)
        fenv.update(
            AWS_LAMBDA_RUNTIME_API=rt.address, AWS_LAMBDA_FUNCTION_NAME="snowsync-pull",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/snowsync-pull", AWS_LAMBDA_LOG_STREAM_NAME="bench",
        )
        with open(OUT / f"coldstart-{i + 1}.log", "w") as logf:
            started = time.monotonic()
            proc = subprocess.Popen([str(PULL_FUNCTION)], env=fenv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finished = rt.done.wait(120)
            peak = proc_peak_rss_mb(proc.pid)  # its own mm: not inflated by this process
            proc.send_signal(signal.SIGTERM)
            proc.wait()
        rt.close()
        if not finished or rt.t_next is None or rt.t_done is None:
            die(f"cold start run {i + 1}: no response within 120 s; see {OUT}/coldstart-{i + 1}.log")
        table = (rt.result.get("tables") or [{}])[0] if isinstance(rt.result, dict) else {}
        if rt.kind != "response" or table.get("outcome") != "complete" or table.get("rows_read") != COLD_ROWS:
            die(f"cold start run {i + 1}: the function answered {rt.kind}: {json.dumps(rt.result)[:800]}")
        samples.append({
            "init_ms": round((rt.t_next - started) * 1000, 1),
            "first_event_ms": round((rt.t_done - started) * 1000, 1),
            "peak_rss_mb": round(peak, 1) if peak else None,
        })
    return {
        "runs": samples,
        "event": event,
        "init_ms_median": round(statistics.median(s["init_ms"] for s in samples), 1),
        "first_event_ms_median": round(statistics.median(s["first_event_ms"] for s in samples), 1),
        "peak_rss_mb_max": max((s["peak_rss_mb"] or 0) for s in samples),
    }
