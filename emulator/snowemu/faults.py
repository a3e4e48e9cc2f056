"""Fault injection for tests: failures armed per user by `POST /_emulator/faults`.

A fault is scoped to one login name, so tests running in parallel never see each other's. Of
that user's query-requests after the first `after`, every `every`-th answers HTTP 503 or 429,
finds its session expired (390112), or is delayed (`delay`: before the statement starts; `slow`:
the statement itself runs longer in its session's queue, where an abort or a timeout stops it),
`count` times. README.md, "Fault injection".
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from .asgi import Send, send_json, send_text
from .state import SessionState
from .wire import expired_body

logger = logging.getLogger("snowsync.emulator")


@dataclass
class Fault:
    """Injected failures for one user's queries (see /_emulator/faults)."""

    kind: str
    every: int
    remaining: int
    delay_ms: int = 0
    after: int = 0
    seen: int = 0
    injected: int = 0


faults: dict[str, Fault] = {}  # LOGIN_NAME upper-cased -> the fault armed for its sessions


def arm(spec: dict[str, Any]) -> dict[str, Any]:
    """POST /_emulator/faults {"user", "kind", "every", "count", "after", "delay_ms"}."""
    user = str(spec.get("user", "")).upper()
    faults[user] = Fault(
        kind=str(spec.get("kind", "http_503")),
        every=max(1, int(spec.get("every", 1))),
        remaining=int(spec.get("count", 1)),
        delay_ms=int(spec.get("delay_ms", 0)),
        after=int(spec.get("after", 0)),
    )
    return {"user": user, "armed": faults[user].remaining}


def report(user: str) -> dict[str, Any]:
    """GET /_emulator/faults?user=U: how many were injected and how many are left."""
    f = faults.get(user)
    return {"user": user, "injected": f.injected if f else 0, "remaining": f.remaining if f else 0}


async def inject(state: SessionState, send: Send) -> tuple[bool, float]:
    """The fault due for this query-request, if any: (True when it answered the request,
    seconds a "slow" fault adds to the statement's own run)."""
    fault = faults.get(state.user)
    if not fault or fault.remaining <= 0:
        return False, 0.0
    fault.seen += 1
    if fault.seen <= fault.after or (fault.seen - fault.after) % fault.every != 0:
        return False, 0.0
    fault.remaining -= 1
    fault.injected += 1
    logger.warning("fault %s injected for %s (%s left)", fault.kind, state.user, fault.remaining)
    if fault.kind == "http_503":
        await send_text(send, 503, "Service Unavailable")
    elif fault.kind == "http_429":
        await send_text(send, 429, "Too Many Requests")
    elif fault.kind == "expired":
        state.expired = True
        await send_json(send, expired_body())
    elif fault.kind == "slow":
        # the statement itself runs longer (in its session's queue, abortable), so it is
        # answered in progress; "delay" holds the HTTP answer before the statement starts
        return False, fault.delay_ms / 1000
    else:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
        return False, 0.0
    return True, 0.0
