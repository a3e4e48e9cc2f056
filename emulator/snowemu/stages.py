"""Internal stages as Snowflake keeps them: client-side encrypted files, decrypted by COPY INTO.

Snowflake answers `PUT` with the stage's location, credentials and `encryptionMaterial` (the
stage's master key, `queryStageMasterKey`, with its `smkId` and the PUT's `queryId`); the driver
encrypts each file with a random file key (AES-CBC, PKCS#7, random IV), wraps the file key with
AES-ECB under the master key (PKCS#7 too, so a 16-byte key wraps to 32 bytes) and uploads the
ciphertext with the wrapped key, the IV and the material descriptor as object metadata
(`x-goog-meta-encryptiondata` / `x-goog-meta-matdesc` for GCS, `x-amz-meta-x-amz-key` /
`-iv` / `-matdesc` for S3, `x-ms-meta-encryptiondata` / `-matdesc` for Azure) and the SHA-256
of the plaintext as `sfc-digest`. COPY INTO decrypts each file with the stage's key; a file that
does not decrypt (uploaded unencrypted, or wrapped under another key) fails the statement.

fakesnow 0.12.1 answers PUT with a GCS-style presigned URL and stores the body as it comes. Here
the answer carries encryption material and a presigned URL of ours (`/_stage/<upload>/<name>`,
signed with a random `X-Goog-Signature`); the upload is kept encrypted beside fakesnow's stage
(outside its directory, so fakesnow never reads ciphertext), and a COPY INTO of the session
first decrypts the session's uploads into fakesnow's stage directory, or fails the way
Snowflake does. fakesnow keeps COPY's load history per table and file (FORCE loads again).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .wire import error_body

logger = logging.getLogger("snowsync.emulator")

# Snowflake's own words (the error it logs for a file whose key does not unwrap or decrypt).
DECRYPT_FAILED = ("100315", "Failed to decrypt. Check file key and master key.", "22000")
# Where the client-side encrypted uploads wait for a COPY INTO, outside fakesnow's stage tree.
VAULT = tempfile.mkdtemp(prefix="snowemu_stage_uploads_")


@dataclass
class Upload:
    """One presigned upload handed out by a PUT: where the file lands and the key it needs."""

    relpath: str  # the file's path under fakesnow's LOCAL_BUCKET_PATH
    master_key: bytes
    session_id: int


class DecryptError(Exception):
    pass


def decrypt(body: bytes, metadata: dict[str, str], master_key: bytes) -> bytes:
    """The plaintext of an upload, from its metadata (any of the three clouds' forms)."""
    wrapped, iv = None, None
    enc = metadata.get("x-goog-meta-encryptiondata") or metadata.get("x-ms-meta-encryptiondata")
    if enc:
        try:
            data = json.loads(enc)
            wrapped, iv = data["WrappedContentKey"]["EncryptedKey"], data["ContentEncryptionIV"]
        except (ValueError, KeyError, TypeError) as e:
            raise DecryptError(f"unreadable encryptiondata: {e}") from None
    elif metadata.get("x-amz-meta-x-amz-key"):
        wrapped, iv = metadata["x-amz-meta-x-amz-key"], metadata.get("x-amz-meta-x-amz-iv")
    if not wrapped or not iv:
        raise DecryptError("no encryption metadata")
    try:
        ecb = Cipher(algorithms.AES(master_key), modes.ECB()).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        file_key = unpad.update(ecb.update(base64.b64decode(wrapped)) + ecb.finalize()) + unpad.finalize()
        cbc = Cipher(algorithms.AES(file_key), modes.CBC(base64.b64decode(iv))).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        plain = unpad.update(cbc.update(body) + cbc.finalize()) + unpad.finalize()
    except ValueError as e:
        raise DecryptError(str(e)) from None
    digest = metadata.get("x-goog-meta-sfc-digest") or metadata.get("x-amz-meta-sfc-digest") or metadata.get("x-ms-meta-sfcdigest")
    if digest and digest != base64.b64encode(hashlib.sha256(plain).digest()).decode():
        raise DecryptError("sfc-digest does not match the decrypted file")
    return plain


class Stages:
    """The stages' master keys, the presigned uploads handed out, and the uploads waiting."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes, int]] = {}  # stage directory -> (master key, smkId)
        self.uploads: dict[str, Upload] = {}  # upload id -> Upload
        self.waiting: dict[str, tuple[int, bytes]] = {}  # relpath -> (session id, master key)
        self.signatures: list[str] = []  # every presigned URL's signature handed out
        self.counts = {"uploads": 0, "refused_uploads": 0, "decrypted": 0, "undecryptable": 0}

    def stats(self) -> dict:
        """Counts, and every secret handed out (stage keys, URL signatures), so that tests can
        scan their outputs for them."""
        keys = [base64.b64encode(k).decode() for k, _ in self.keys.values()]
        return {**self.counts, "secrets": keys + self.signatures}

    def put_answer(self, data: dict, base_url: str, session_id: int, query_id: str) -> None:
        """Turn fakesnow's PUT answer into Snowflake's: encryption material and our URL."""
        info = data.get("stageInfo") or {}
        url = str(info.get("presignedUrl") or "")
        if "/fs_bucket/" not in url:
            return  # a PUT with a bound target keeps fakesnow's LOCAL_FS answer
        relpath = unquote(url.split("/fs_bucket/", 1)[1])
        stage_dir = os.path.dirname(relpath)
        key, smk_id = self.keys.setdefault(stage_dir, (os.urandom(16), 1000 + len(self.keys)))
        upload_id = secrets.token_hex(12)
        self.uploads[upload_id] = Upload(relpath, key, session_id)
        name = os.path.basename(relpath)
        signature = secrets.token_hex(32)
        self.signatures.append(signature)
        info["presignedUrl"] = f"{base_url}/_stage/{upload_id}/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={signature}"
        info["isClientSideEncrypted"] = True
        info.setdefault("region", "us-central1")
        info.setdefault("endPoint", None)
        data["encryptionMaterial"] = {
            "queryStageMasterKey": base64.b64encode(key).decode(),
            "queryId": query_id,
            "smkId": smk_id,
        }

    def upload(self, upload_id: str, body: bytes, headers: dict[str, str]) -> int:
        """A PUT to a presigned URL: the HTTP status GCS would answer."""
        up = self.uploads.get(upload_id)
        if up is None:
            self.counts["refused_uploads"] += 1
            return 403  # SignatureDoesNotMatch: not a URL this emulator signed
        self.counts["uploads"] += 1
        target = os.path.join(VAULT, up.relpath)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(body)
        meta = {k: v for k, v in headers.items() if k.startswith(("x-goog-meta-", "x-amz-meta-", "x-ms-meta-"))}
        with open(target + ".meta", "w") as f:
            json.dump(meta, f)
        self.waiting[up.relpath] = (up.session_id, up.master_key)
        # an upload replaces the stage's file of that name (PUT OVERWRITE semantics)
        import fakesnow.transforms.stage as fs_stage

        stale = os.path.join(fs_stage.LOCAL_BUCKET_PATH, up.relpath)
        if os.path.exists(stale):
            os.remove(stale)
        logger.info("stage upload of %s bytes (%s)", len(body), os.path.basename(up.relpath))
        return 200

    def before_copy(self, session_id: int) -> dict | None:
        """Decrypt the session's waiting uploads into fakesnow's stage; the error a COPY INTO
        answers when one does not decrypt (that file is dropped, never loaded)."""
        import fakesnow.transforms.stage as fs_stage

        failed = None
        for relpath, (owner, key) in list(self.waiting.items()):
            if owner != session_id:
                continue
            del self.waiting[relpath]
            src = os.path.join(VAULT, relpath)
            try:
                with open(src, "rb") as f:
                    body = f.read()
                with open(src + ".meta") as f:
                    meta = json.load(f)
                plain = decrypt(body, meta, key)
            except (OSError, DecryptError) as e:
                logger.warning("stage file %s does not decrypt: %s", os.path.basename(relpath), e)
                self.counts["undecryptable"] += 1
                failed = failed or error_body(*DECRYPT_FAILED)
                continue
            finally:
                for p in (src, src + ".meta"):
                    if os.path.exists(p):
                        os.remove(p)
            target = os.path.join(fs_stage.LOCAL_BUCKET_PATH, relpath)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + ".part", "wb") as f:
                f.write(plain)
            os.replace(target + ".part", target)
            self.counts["decrypted"] += 1
        return failed


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
