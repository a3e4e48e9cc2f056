"""The digest of the emulator's code: every module of this package, as it is on disk.

A running emulator reports the digest of the files it loaded (`GET /_emulator/config`, `code`);
`scripts/stack up` and the smoke test compare it with this one to tell a stale emulator. Run as
`python -m snowemu.digest` it prints the digest.
"""

from __future__ import annotations

import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def code_digest(folder: str = HERE) -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


if __name__ == "__main__":
    print(code_digest())
