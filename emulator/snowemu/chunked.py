"""Chunked results, served by a second listener standing in for Snowflake's cloud storage (S3).

A result with more than `--chunk-rows` rows keeps a first part inline and lists the rest in
`data.chunks`; each chunk is a gzip-compressed Arrow IPC stream (or JSON rows) fetched from a
presigned-looking URL on this listener, which checks the SSE-C headers and injects S3-style faults.
See README.md ("Chunked results").
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import logging
import re
import secrets
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pyarrow as pa

logger = logging.getLogger("snowsync.emulator.chunks")

# SSE-C header names (snowflake-connector-python result_batch.py SSE_C_*; gosnowflake rows.go)
SSE_C_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
SSE_C_KEY = "x-amz-server-side-encryption-customer-key"
SSE_C_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
# Snowflake persists a query's result for 24 hours: `GET /queries/<id>/result` serves it again
# with fresh chunk URLs (gosnowflake monitoring.go getQueryResultResp, arrow_stream.go).
KEEP_PERSISTED_S = 24 * 3600
MAX_BYTES = 512 * 1024 * 1024  # compressed chunk bytes kept at most, oldest results dropped first
_PATH = re.compile(r"^/[^?]*/results/([^/]+)_0/main/data_0_0_(\d+)$")


def new_qrmk() -> tuple[str, str]:
    """A query result master key as Snowflake sends it (base64 of 32 bytes) and its key MD5."""
    raw = secrets.token_bytes(32)
    return base64.b64encode(raw).decode(), base64.b64encode(hashlib.md5(raw).digest()).decode()


@dataclass
class StoredResult:
    """The chunks of one result and its answer without them, persisted as Snowflake does."""

    qrmk: str
    key_md5: str
    bodies: list[bytes]
    rows: list[int] = field(default_factory=list)  # per chunk
    raw_sizes: list[int] = field(default_factory=list)  # per chunk, uncompressed
    user: str | None = None  # whose statement it was: only their sessions read it again
    answer: dict = field(default_factory=dict)  # `data` without `chunks`
    created: float = field(default_factory=time.monotonic)

    def size(self) -> int:
        return sum(len(b) for b in self.bodies)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _s3_error(code: str, message: str) -> bytes:
    """An S3 error document, as S3 answers a GET it refuses."""
    request_id = secrets.token_hex(8).upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{base64.b64encode(secrets.token_bytes(24)).decode()}</HostId></Error>"
    ).encode()


class ChunkStore:
    """Splits results into chunks and serves them over HTTP like a presigned S3 GET."""

    def __init__(self, rows_per_chunk: int, faults_every: int, host: str):
        self.rows = rows_per_chunk
        self.faults_every = faults_every
        self.host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self.port = 0
        self.results: dict[str, StoredResult] = {}
        self.chunked = 0  # results split so far: picks the inline/header variant
        self.gets = 0  # authorised chunk GETs: picks the faults
        self.stats = {"served": 0, "refused_403": 0, "faults_503": 0, "faults_cut": 0, "persisted_reads": 0}

    # ---- splitting --------------------------------------------------------------------------

    def split(self, data: dict, qid: str, user: str | None = None) -> None:
        """Give a result its qrmk and, past --chunk-rows rows, its chunks (in place).

        The variants alternate so clients meet all four: result k has an empty inline part when
        k is odd, and `chunkHeaders` when k // 2 is even (else only `qrmk`, from which the client
        builds the SSE-C headers, as snowflake-connector-python result_batch.py
        create_batches_from_response and gosnowflake chunk_downloader.go downloadChunkHelper do).
        """
        qrmk, key_md5 = new_qrmk()
        data["qrmk"] = qrmk
        if data.get("queryResultFormat") == "arrow" and data.get("rowsetBase64"):
            parts = self._arrow_parts(data)
        elif data.get("queryResultFormat") == "json" and isinstance(data.get("rowset"), list):
            parts = self._json_parts(data)
        else:
            return
        if parts is None:
            return
        k, self.chunked = self.chunked, self.chunked + 1
        inline, rest = parts(k % 2 == 1)
        self.sweep()
        stored = StoredResult(
            qrmk,
            key_md5,
            [gzip.compress(b, compresslevel=5) for _, b in rest],
            rows=[n for n, _ in rest],
            raw_sizes=[len(b) for _, b in rest],
            user=user,
        )
        self.results[qid] = stored
        inline(data)
        data["returned"] = data.get("total", 0)
        if (k // 2) % 2 == 0:
            # recorded from Snowflake: key and key MD5 only; the algorithm rides in the URL
            # (snowflake-connector-python test/data/wiremock/mappings/queries/select_large_request_successful.json)
            data["chunkHeaders"] = {SSE_C_KEY: qrmk, SSE_C_KEY_MD5: key_md5}
        stored.answer = {k: v for k, v in data.items() if k != "chunks"}
        data["chunks"] = self._entries(qid, stored)

    def persisted(self, qid: str, user: str) -> dict | None:
        """`data` of a persisted result read again (`GET /queries/<id>/result`): the same inline
        part and chunks under fresh URLs; None when it is gone or was another user's."""
        self.sweep()
        stored = self.results.get(qid)
        if stored is None or stored.user != user:
            return None
        self.stats["persisted_reads"] += 1
        return {**stored.answer, "chunks": self._entries(qid, stored)}

    def expire(self) -> int:
        """Forget every persisted result (as if its 24 hours had passed); how many there were."""
        n = len(self.results)
        self.results.clear()
        return n

    def _entries(self, qid: str, stored: StoredResult) -> list[dict]:
        return [self._entry(qid, i, stored.rows[i], stored.raw_sizes[i], len(b)) for i, b in enumerate(stored.bodies)]

    def _arrow_parts(self, data: dict):
        table = pa.ipc.open_stream(base64.b64decode(data["rowsetBase64"])).read_all()
        if table.num_rows <= self.rows:
            return None

        def parts(empty_inline: bool):
            first = 0 if empty_inline else self.rows
            rest = [(len(t), _ipc(t)) for t in self._slices(table.slice(first))]

            def inline(d: dict) -> None:
                d["rowsetBase64"] = base64.b64encode(_ipc(table.slice(0, first))).decode() if first else ""

            return inline, rest

        return parts

    def _json_parts(self, data: dict):
        rows = data["rowset"]
        if len(rows) <= self.rows:
            return None

        def parts(empty_inline: bool):
            first = 0 if empty_inline else self.rows
            rest = []
            for start in range(first, len(rows), self.rows):
                part = rows[start : start + self.rows]
                # JSON chunks are rows without the enclosing brackets (result_batch.py JSONResultBatch._load)
                rest.append((len(part), ",".join(json.dumps(r, ensure_ascii=False) for r in part).encode()))

            def inline(d: dict) -> None:
                d["rowset"] = rows[:first]

            return inline, rest

        return parts

    def _slices(self, table: pa.Table) -> list[pa.Table]:
        return [table.slice(start, self.rows) for start in range(0, table.num_rows, self.rows)]

    def _entry(self, qid: str, index: int, rows: int, raw_size: int, compressed_size: int) -> dict:
        """One `chunks` entry: the fields the drivers read (result_batch.py RemoteChunkInfo,
        gosnowflake query.go ExecResponseChunk)."""
        expires = int(time.time()) + 21600
        signature = quote(base64.b64encode(secrets.token_bytes(20)).decode(), safe="")
        url = (
            f"http://{self.host}:{self.port}/sfc-emulator-stage/results/{qid}_0/main/data_0_0_{index}"
            f"?{SSE_C_ALGORITHM}=AES256&response-content-encoding=gzip"
            f"&AWSAccessKeyId=AKIAEMULATOREXAMPLE00&Expires={expires}&Signature={signature}"
        )
        return {"url": url, "rowCount": rows, "uncompressedSize": raw_size, "compressedSize": compressed_size}

    def sweep(self) -> None:
        """Forget results older than Snowflake keeps them, and the oldest beyond MAX_BYTES."""
        now = time.monotonic()
        for qid, r in list(self.results.items()):
            if now - r.created > KEEP_PERSISTED_S:
                del self.results[qid]
        total = sum(r.size() for r in self.results.values())
        for qid in list(self.results):
            if total <= MAX_BYTES:
                break
            total -= self.results.pop(qid).size()

    # ---- serving ----------------------------------------------------------------------------

    async def start(self, port: int) -> None:
        """Listen on host:port (0 = a free port) with a plain asyncio HTTP/1.1 server.

        Not uvicorn: a fault must be able to send fewer bytes than its Content-Length and close.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        self.port = sock.getsockname()[1]
        await asyncio.start_server(self._connection, sock=sock)
        logger.warning("chunk storage listening on http://%s:%s", self.host, self.port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, headers = self._parse(head)
                keep = await self._respond(writer, method, target, headers)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _parse(head: bytes) -> tuple[str, str, dict[str, str]]:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return method, target, headers

    async def _respond(self, writer: asyncio.StreamWriter, method: str, target: str, headers: dict[str, str]) -> bool:
        """Answer one request; False when the connection must close (a cut body)."""
        url = urlsplit(target)
        m = _PATH.match(url.path)
        stored = self.results.get(m.group(1)) if m else None
        if method not in ("GET", "HEAD") or stored is None or int(m.group(2)) >= len(stored.bodies):
            await self._send(writer, 404, _s3_error("NoSuchKey", "The specified key does not exist."), "application/xml")
            return True
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not self._authorised(stored, headers, query):
            self.stats["refused_403"] += 1
            await self._send(writer, 403, _s3_error("AccessDenied", "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."), "application/xml")
            return True
        self.gets += 1
        if self.faults_every and self.gets % self.faults_every == 0:
            self.stats["faults_503"] += 1
            await self._send(writer, 503, _s3_error("SlowDown", "Please reduce your request rate."), "application/xml")
            return True
        index = int(m.group(2))
        body = stored.bodies[index]
        extra = {SSE_C_ALGORITHM: "AES256", "x-amz-server-side-encryption-customer-key-MD5": stored.key_md5, "ETag": f'"{hashlib.md5(body).hexdigest()}"'}
        if query.get("response-content-encoding"):
            # S3 answers the presigned URL's response-content-encoding=gzip with the header
            extra["Content-Encoding"] = query["response-content-encoding"]
        if self.faults_every and self.gets % (self.faults_every + 2) == 0:
            self.stats["faults_cut"] += 1
            await self._send(writer, 200, body, "binary/octet-stream", extra, cut=True)
            return False
        await self._send(writer, 200, body if method == "GET" else b"", "binary/octet-stream", extra, length=len(body))
        self.stats["served"] += 1
        return True

    @staticmethod
    def _authorised(stored: StoredResult, headers: dict[str, str], query: dict[str, str]) -> bool:
        """S3's SSE-C check: AES256 (header, or the signed URL parameter) and the result's key."""
        algorithm = headers.get(SSE_C_ALGORITHM) or query.get(SSE_C_ALGORITHM)
        md5 = headers.get(SSE_C_KEY_MD5)
        return algorithm == "AES256" and headers.get(SSE_C_KEY) == stored.qrmk and md5 in (None, stored.key_md5)

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
        cut: bool = False,
        length: int | None = None,
    ) -> None:
        """Write a response; `cut` sends half the body under the full Content-Length, then closes."""
        reason = {200: "OK", 403: "Forbidden", 404: "Not Found", 503: "Slow Down"}[status]
        head = {
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes).decode(),
            "Content-Type": content_type,
            "Content-Length": str(len(body) if length is None else length),
            "Server": "AmazonS3",
            **(extra or {}),
        }
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in head.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        writer.write(body[: max(1, len(body) // 2)] if cut else body)
        await writer.drain()

    def summary(self) -> dict[str, Any]:
        return {**self.stats, "results_chunked": self.chunked, "results_held": len(self.results), "port": self.port}
