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
import contextlib
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
# The designated user whose stages live on S3 (moto, at $SNOWEMU_STAGE_S3), as an AWS account's
# do: PUT answers the bucket, path and temporary credentials, and COPY reads the object back.
S3_STAGE_USER = "SNOWSYNC_S3_STAGE"
S3_BUCKET = "snowemu-stages"


@dataclass
class Upload:
    """One presigned upload handed out by a PUT: where the file lands and the key it needs."""

    relpath: str  # the file's path under fakesnow's LOCAL_BUCKET_PATH
    master_key: bytes
    session_id: int
    s3_key: str | None = None  # where the client puts it on S3 (S3 stages)


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
        self.waiting: dict[str, Upload] = {}  # relpath -> the upload COPY has yet to decrypt
        self.signatures: list[str] = []  # every presigned URL's signature handed out
        self.counts = {"uploads": 0, "refused_uploads": 0, "decrypted": 0, "undecryptable": 0}

    def stats(self) -> dict:
        """Counts, and every secret handed out (stage keys, URL signatures), so that tests can
        scan their outputs for them."""
        keys = [base64.b64encode(k).decode() for k, _ in self.keys.values()]
        return {**self.counts, "secrets": keys + self.signatures}

    def put_answer(self, data: dict, base_url: str, session_id: int, query_id: str, user: str = "") -> None:
        """Turn fakesnow's PUT answer into Snowflake's: encryption material and our URL."""
        info = data.get("stageInfo") or {}
        url = str(info.get("presignedUrl") or "")
        if "/fs_bucket/" not in url:
            return  # a PUT with a bound target keeps fakesnow's LOCAL_FS answer
        relpath = unquote(url.split("/fs_bucket/", 1)[1])
        stage_dir = os.path.dirname(relpath)
        key, smk_id = self.keys.setdefault(stage_dir, (os.urandom(16), 1000 + len(self.keys)))
        name = os.path.basename(relpath)
        s3 = os.environ.get("SNOWEMU_STAGE_S3")
        if user.upper() == S3_STAGE_USER and s3:
            prefix = f"{stage_dir}/"
            ensure_bucket()
            import fakesnow.transforms.stage as fs_stage

            with contextlib.suppress(FileNotFoundError):  # the new upload replaces the stage's file
                os.remove(os.path.join(fs_stage.LOCAL_BUCKET_PATH, relpath))
            self.waiting[relpath] = Upload(relpath, key, session_id, s3_key=prefix + name)
            creds = {"AWS_KEY_ID": "ASIA" + secrets.token_hex(8).upper(), "AWS_SECRET_KEY": secrets.token_urlsafe(30), "AWS_TOKEN": secrets.token_urlsafe(60)}
            self.signatures += [creds["AWS_SECRET_KEY"], creds["AWS_TOKEN"]]
            data["stageInfo"] = {
                "locationType": "S3", "location": f"{S3_BUCKET}/{prefix}", "path": prefix, "region": "us-east-1",
                "endPoint": s3, "isClientSideEncrypted": True, "creds": creds, "presignedUrl": None,
            }  # fmt: skip
        else:
            upload_id = secrets.token_hex(12)
            self.uploads[upload_id] = Upload(relpath, key, session_id)
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
        self.waiting[up.relpath] = up
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
        for relpath, up in list(self.waiting.items()):
            if up.session_id != session_id:
                continue
            del self.waiting[relpath]
            try:
                got = self.fetch(up)
                if got is None:
                    continue  # never uploaded: not in the stage
                plain = decrypt(*got, up.master_key)
            except (OSError, DecryptError) as e:
                logger.warning("stage file %s does not decrypt: %s", os.path.basename(relpath), e)
                self.counts["undecryptable"] += 1
                failed = failed or error_body(*DECRYPT_FAILED)
                continue
            target = os.path.join(fs_stage.LOCAL_BUCKET_PATH, relpath)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + ".part", "wb") as f:
                f.write(plain)
            os.replace(target + ".part", target)
            self.counts["decrypted"] += 1
        return failed

    def fetch(self, up: Upload) -> tuple[bytes, dict[str, str]] | None:
        """An upload's body and metadata (its `x-*-meta-*` headers), taken out of where the
        client put it; None when it never arrived."""
        if up.s3_key is not None:
            s3 = s3_client()
            try:
                obj = s3.get_object(Bucket=S3_BUCKET, Key=up.s3_key)
            except s3.exceptions.NoSuchKey:
                return None
            return obj["Body"].read(), {f"x-amz-meta-{k}": v for k, v in obj["Metadata"].items()}
        src = os.path.join(VAULT, up.relpath)
        try:
            with open(src, "rb") as f:
                body = f.read()
            with open(src + ".meta") as f:
                meta = json.load(f)
        finally:
            for p in (src, src + ".meta"):
                if os.path.exists(p):
                    os.remove(p)
        return body, meta


def s3_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["SNOWEMU_STAGE_S3"], region_name="us-east-1", aws_access_key_id="snowemu", aws_secret_access_key="snowemu")


_bucket_made: list[bool] = []


def ensure_bucket() -> None:
    """The S3 stages' bucket, made once (moto keeps buckets in memory)."""
    if not _bucket_made:
        with contextlib.suppress(Exception):  # already there
            s3_client().create_bucket(Bucket=S3_BUCKET)
        _bucket_made.append(True)


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
