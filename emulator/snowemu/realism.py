"""Which real-Snowflake behaviours the emulator shows, as the command line set them.

Every part of the layer reads the same Realism; `--realistic` turns each behaviour on with the
test values below unless its own flag says otherwise (README.md, "Realistic behaviours").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Realism:
    """Which real-Snowflake behaviours are on (0 = off); `--realistic` turns all on."""

    async_after_ms: int = 0
    async_every: int = 0
    chunk_rows: int = 0
    chunk_port: int = 0
    chunk_faults: int = 0
    expire_every: int = 0
    master_expire_every: int = 0
    hostile_defaults: bool = False

    @property
    def background(self) -> bool:
        """Statements run as tasks that outlive their query-request (in-progress answers)."""
        return bool(self.async_after_ms or self.async_every)


# the test values --realistic gives the flags it turns on (README.md lists them)
REALISTIC_VALUES = {"async_after_ms": 1000, "async_every": 5, "chunk_rows": 100, "chunk_faults": 7, "expire_every": 40, "master_expire_every": 3}
