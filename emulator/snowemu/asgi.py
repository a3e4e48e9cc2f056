"""The ASGI plumbing of the layer: request bodies and tokens, JSON answers, and calling fakesnow's
app with its answer captured (with the exceptions fakesnow logged while it ran) instead of sent.

Also the waits of a session's statement queue, which a statement's cancellation cuts short.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gzip
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

logger = logging.getLogger("snowsync.emulator")


Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# exceptions raised/logged while fakesnow handled the current request (see CaptureHandler)
_captured: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("captured", default=None)


class CaptureHandler(logging.Handler):
    """Collect fakesnow's logged exceptions for the request in flight, to put in the error message."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _captured.get()
        if sink is not None and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            sink.append(f"{type(exc).__name__}: {exc}")


def session_token(scope: Scope) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            auth = v.decode("latin-1")
            if m := re.match(r'^\s*Snowflake\s+Token\s*=\s*"([^"]*)"', auth, re.IGNORECASE):
                return m.group(1)
            return auth[17:-1] or None  # what fakesnow does
    return None


def decode_body(scope: Scope, body: bytes) -> bytes:
    for k, v in scope.get("headers", []):
        if k == b"content-encoding" and v.strip().lower() == b"gzip":
            return gzip.decompress(body)
    return body


def with_session_token(scope: Scope, token: str) -> Scope:
    """The scope with the session's current token: a statement that outlived its request may
    run after a renewal replaced the token its request carried (fakesnow looks the header up)."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k != b"authorization"]
    headers.append((b"authorization", f'Snowflake Token="{token}"'.encode()))
    return {**scope, "headers": headers}


def with_plain_body(scope: Scope, body: bytes) -> Scope:
    """Scope for forwarding a decompressed/rewritten body: drop content-encoding, fix content-length."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k not in (b"content-encoding", b"content-length")]
    headers.append((b"content-length", str(len(body)).encode()))
    return {**scope, "headers": headers}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            return b"".join(chunks)


def replay_receive(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read body once, then defers to the real one."""
    sent = False

    async def _receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return _receive


async def send_text(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, obj: Any, status: int = 200) -> None:
    payload = json.dumps(obj).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@dataclass
class Captured:
    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    errors: list[str] = field(default_factory=list)

    def json(self) -> Any | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def call_inner(app: Any, scope: Scope, body: bytes, receive: Receive) -> Captured:
    """Run the wrapped fakesnow app and capture its response instead of sending it."""
    out = Captured()
    sink: list[str] = []
    token = _captured.set(sink)
    chunks: list[bytes] = []

    async def _send(message: Message) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(with_plain_body(scope, body), replay_receive(body, receive), _send)
    except Exception as e:  # noqa: BLE001 - starlette re-raises after sending its 500
        logger.error("fakesnow raised on %s", scope.get("path"), exc_info=e)
        if not sink or not sink[-1].endswith(str(e)):
            sink.append(f"{type(e).__name__}: {e}")
        out.status = 500
    finally:
        _captured.reset(token)
    out.body = b"".join(chunks)
    out.errors = sink
    return out


async def disconnected() -> Message:
    """The receive channel of a statement whose query-request was already answered."""
    return {"type": "http.disconnect"}


def interrupt(conn: Any) -> None:
    """Interrupt whatever duckdb runs on a session's connection (fakesnow keeps it as _duck_conn)."""
    duck = getattr(conn, "_duck_conn", None)
    if duck is not None:
        with contextlib.suppress(Exception):
            duck.interrupt()


async def acquire_unless(lock: asyncio.Lock, cancel: asyncio.Event | None) -> bool:
    """Take the session's queue, unless the statement is canceled while it waits (False)."""
    if cancel is None:
        await lock.acquire()
        return True
    acquire, canceled = asyncio.ensure_future(lock.acquire()), asyncio.ensure_future(cancel.wait())
    await asyncio.wait({acquire, canceled}, return_when=asyncio.FIRST_COMPLETED)
    canceled.cancel()
    if not acquire.done():
        acquire.cancel()
    try:
        await acquire
    except asyncio.CancelledError:
        return False
    if cancel.is_set():
        lock.release()
        return False
    return True


async def wait_unless(seconds: float, cancel: asyncio.Event | None) -> bool:
    """Sleep, unless canceled first (False)."""
    if cancel is None:
        await asyncio.sleep(seconds)
        return True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(cancel.wait(), seconds)
    return not cancel.is_set()
