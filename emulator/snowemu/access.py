"""Access control statements fakesnow cannot parse: roles, grants and network policies.

A customer onboarding snowsync runs `CREATE ROLE`, `GRANT ...`, `CREATE NETWORK POLICY` and the
like (`snowsync tenant init` prints them). The emulator answers them as Snowflake does when they
succeed, and enforces none of them: like every user, every role may read and write everything
(README.md, "Access control statements"). Users are user_keys.py's.
"""

from __future__ import annotations

import re

from .wire import strip_leading_comments

STATEMENT = re.compile(
    r"^\s*(?:"
    r"(?:CREATE(?:\s+OR\s+REPLACE)?|ALTER|DROP)\s+(?:ROLE|NETWORK\s+POLICY)\b"
    r"|GRANT\b|REVOKE\b"
    r")",
    re.I,
)


def statement(sql: str) -> bool:
    """Whether `sql` is a role, grant or network policy statement (answered as succeeded)."""
    return STATEMENT.match(strip_leading_comments(sql)) is not None
