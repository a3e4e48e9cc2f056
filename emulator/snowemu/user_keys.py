"""Users' registered public keys, as Snowflake keeps them: `RSA_PUBLIC_KEY` and
`RSA_PUBLIC_KEY_2` set by `CREATE USER` / `ALTER USER ... SET`, dropped by `ALTER USER ... UNSET`
(and with the user by `DROP USER`). Other user properties (TYPE, DEFAULT_ROLE, NETWORK_POLICY, ...)
are accepted and not kept.

fakesnow has no users, so these statements are answered here. A key-pair login of a user with
a registered key must carry a JWT whose issuer names the SHA-256 fingerprint of one of them and
whose RS256 signature that key verifies; otherwise Snowflake answers 390144. A user with no
registered key is accepted as before (the emulator does not know users it was never told of).
README.md, "Key-pair logins".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

# LOGIN_NAME (upper case) -> {1: key, 2: key}, each the base64 DER SubjectPublicKeyInfo as given
keys: dict[str, dict[int, str]] = {}

NAME = r'(?P<name>"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)'
CREATE = re.compile(r"^\s*CREATE\s+(?P<replace>OR\s+REPLACE\s+)?USER\s+(?:IF\s+NOT\s+EXISTS\s+)?" + NAME + r"(?P<rest>.*)$", re.I | re.S)
ALTER_SET = re.compile(r"^\s*ALTER\s+USER\s+(?:IF\s+EXISTS\s+)?" + NAME + r"\s+SET\s+(?P<rest>.*)$", re.I | re.S)
ALTER_UNSET = re.compile(r"^\s*ALTER\s+USER\s+(?:IF\s+EXISTS\s+)?" + NAME + r"\s+UNSET\s+(?P<rest>.*)$", re.I | re.S)
DROP = re.compile(r"^\s*DROP\s+USER\s+(?:IF\s+EXISTS\s+)?" + NAME + r"\s*;?\s*$", re.I | re.S)
KEY_VALUE = re.compile(r"\bRSA_PUBLIC_KEY(?P<two>_2)?\s*=\s*'(?P<key>[^']*)'", re.I)
KEY_NAME = re.compile(r"\bRSA_PUBLIC_KEY(?P<two>_2)?\b", re.I)


def user_name(raw: str) -> str:
    return raw[1:-1] if raw.startswith('"') else raw.upper()


def statement(sql: str) -> bool:
    """Applies a CREATE, ALTER or DROP USER statement; whether it was one (answered here)."""
    if m := DROP.match(sql):
        keys.pop(user_name(m.group("name")), None)
        return True
    for pattern, unset in ((CREATE, False), (ALTER_SET, False), (ALTER_UNSET, True)):
        m = pattern.match(sql)
        if m is None:
            continue
        user = keys.setdefault(user_name(m.group("name")), {})
        if pattern is CREATE and m.group("replace"):
            user.clear()
        if unset:
            for k in KEY_NAME.finditer(m.group("rest")):
                user.pop(2 if k.group("two") else 1, None)
        else:
            for k in KEY_VALUE.finditer(m.group("rest")):
                slot = 2 if k.group("two") else 1
                body = re.sub(r"\s+", "", k.group("key"))
                if body:
                    user[slot] = body
                else:
                    user.pop(slot, None)
        return True
    return False


def fingerprint(key_b64: str) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(key_b64)).digest()).decode()


def b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def refused(user: str, token: str) -> str | None:
    """Why a key-pair login of `user` with `token` is refused, or None when it is accepted."""
    registered = keys.get(user) or {}
    if not registered:
        return None
    try:
        head, body, sig = token.split(".")
        issuer = str(json.loads(b64url(body)).get("iss", ""))
    except ValueError:
        return "the token is not a JWT"
    match = [k for k in registered.values() if issuer.endswith("." + fingerprint(k))]
    if not match:
        return "the token's public key fingerprint matches neither RSA_PUBLIC_KEY nor RSA_PUBLIC_KEY_2"
    public = serialization.load_der_public_key(base64.b64decode(match[0]))
    try:
        public.verify(b64url(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "the token's signature does not verify with the registered key"
    return None
