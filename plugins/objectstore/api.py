"""The in-process object-store API: ``obs = await broker.object_store("bucket")``.

nats-py's conventions (ADR-20): stream ``OBJ_<bucket>``, chunks on ``$O.<b>.C.<nuid>``,
the ObjectInfo JSON on ``$O.<b>.M.<base64url(name)>`` with ``Nats-Rollup: sub``, the old
chunks purged after a replace, SHA-256 digests; over the broker's in-process client, so
nats-py's object store and the embedding application read each other's objects.
Objects are streamed chunk by chunk (``put`` takes bytes or an async iterator of bytes,
``get_chunks`` yields them), so memory stays bounded: a put keeps at most ``PUT_WINDOW``
chunks waiting for their PubAcks (as nats.go publishes them asynchronously), a get
holds one chunk.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from natskern.kernel.core.inprocess import InProcessClient
from natskern.plugins.kv.jsclient import APIError, JetStreamClient

__all__ = ["ObjectInfo", "ObjectNotFoundError", "ObjectStore", "create_store", "open_store"]

CHUNK = 128 * 1024
#: Chunks of a put published and not yet acknowledged (4 MiB of 128 KiB chunks): the
#: stream commits them in groups (one fsync for many) instead of one chunk per fsync.
PUT_WINDOW = 32
_BUCKET = re.compile(r"^[a-zA-Z0-9_-]+$")
_NS = 1_000_000_000


class ObjectNotFoundError(KeyError):
    """No (live) object of that name."""


class DigestMismatchError(ValueError):
    """The chunks read do not have the digest or size of the object's info."""


@dataclass
class ObjectInfo:
    """An object's metadata as stored in its meta message (nats-py's field names)."""

    name: str
    bucket: str
    nuid: str = ""
    size: int = 0
    chunks: int = 0
    digest: str = ""
    description: str | None = None
    headers: dict[str, list[str]] | None = None
    metadata: dict[str, str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    mtime: str = ""
    deleted: bool = False

    def to_json(self) -> bytes:
        """The meta message payload (empty fields left out, as the clients do)."""
        d: dict[str, Any] = {"name": self.name}
        if self.description:
            d["description"] = self.description
        if self.headers:
            d["headers"] = self.headers
        if self.metadata:
            d["metadata"] = self.metadata
        if self.options:
            d["options"] = self.options
        d.update(bucket=self.bucket, nuid=self.nuid, size=self.size, mtime=self.mtime)
        d.update(chunks=self.chunks, digest=self.digest)
        if self.deleted:
            d["deleted"] = True
        return json.dumps(d).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ObjectInfo:
        """Decode a meta message payload (unknown fields ignored)."""
        d = json.loads(data)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


def _meta_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _digest(h: Any) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(h.digest()).decode()


async def create_store(
    client: InProcessClient,
    bucket: str,
    *,
    ttl: float = 0,
    max_bytes: int = -1,
    storage: str = "file",
    description: str | None = None,
) -> ObjectStore:
    """Create (or bind to an identical) object store with the clients' stream config."""
    if not _BUCKET.match(bucket):
        raise ValueError(f"invalid bucket name {bucket!r}")
    config: dict[str, Any] = {
        "name": f"OBJ_{bucket}",
        "subjects": [f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
        "max_age": int(ttl * _NS),
        "max_bytes": max_bytes,
        "storage": storage,
        "num_replicas": 1,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "allow_direct": True,
    }
    if description:
        config["description"] = description
    js = JetStreamClient(client)
    await js.api(f"STREAM.CREATE.OBJ_{bucket}", config)
    return ObjectStore(js, bucket)


async def open_store(client: InProcessClient, bucket: str) -> ObjectStore:
    """Bind to an existing object store (``LookupError`` if there is none)."""
    js = JetStreamClient(client)
    try:
        await js.api(f"STREAM.INFO.OBJ_{bucket}")
    except APIError as e:
        if e.err_code == 10059:
            raise LookupError(f"object store {bucket!r} not found") from None
        raise
    return ObjectStore(js, bucket)


async def _chunks(data: bytes | AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for i in range(0, len(view), size):
            yield bytes(view[i : i + size])
        return
    buf = bytearray()
    async for piece in data:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


class ObjectStore:
    """An object store seen from inside the broker process."""

    def __init__(self, js: JetStreamClient, bucket: str) -> None:
        self.js = js
        self.bucket = bucket
        self.stream = f"OBJ_{bucket}"

    def _meta_subject(self, name: str) -> str:
        return f"$O.{self.bucket}.M.{_meta_token(name)}"

    async def info(self, name: str, *, show_deleted: bool = False) -> ObjectInfo:
        """The object's info (:class:`ObjectNotFoundError` if absent or deleted)."""
        msg = await self.js.direct_get(self.stream, last_by_subject=self._meta_subject(name))
        if msg is None:
            raise ObjectNotFoundError(name)
        info = ObjectInfo.from_json(msg.data)
        if info.deleted and not show_deleted:
            raise ObjectNotFoundError(name)
        return info

    async def put(
        self,
        name: str,
        data: bytes | AsyncIterable[bytes],
        *,
        description: str | None = None,
        headers: dict[str, list[str]] | None = None,
        metadata: dict[str, str] | None = None,
        chunk_size: int = CHUNK,
    ) -> ObjectInfo:
        """Store an object in chunks (replacing one of the same name); its info."""
        try:
            old: ObjectInfo | None = await self.info(name, show_deleted=True)
        except ObjectNotFoundError:
            old = None
        nuid = secrets.token_urlsafe(16).replace("-", "A").replace("_", "B")
        chunk_subject = f"$O.{self.bucket}.C.{nuid}"
        h, size, count = hashlib.sha256(), 0, 0
        # Each chunk is routed to the stream when its task starts (tasks start in order,
        # and a publish routes before its first suspension): the acks are awaited in order.
        acks: deque[asyncio.Future[int]] = deque()
        try:
            async for chunk in _chunks(data, chunk_size):
                acks.append(asyncio.ensure_future(self.js.publish(chunk_subject, chunk)))
                h.update(chunk)
                size += len(chunk)
                count += 1
                if len(acks) >= PUT_WINDOW:
                    await acks.popleft()
            while acks:
                await acks.popleft()
            info = ObjectInfo(
                name,
                self.bucket,
                nuid,
                size,
                count,
                _digest(h),
                description,
                headers,
                metadata,
                {"max_chunk_size": chunk_size},
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            await self.js.publish(self._meta_subject(name), info.to_json(), {"Nats-Rollup": "sub"})
        except BaseException:
            if acks:  # the chunks still in flight land (or fail) before the purge
                await asyncio.gather(*acks, return_exceptions=True)
            await self.js.api(f"STREAM.PURGE.{self.stream}", {"filter": chunk_subject})
            raise
        if old is not None and not old.deleted and old.nuid:
            await self.js.api(
                f"STREAM.PURGE.{self.stream}", {"filter": f"$O.{self.bucket}.C.{old.nuid}"}
            )
        return info

    async def get_chunks(self, name: str) -> AsyncIterator[bytes]:
        """The object's chunks in order (object links followed); size and digest checked."""
        info = await self.info(name)
        link = info.options.get("link") if info.options else None
        if link:
            if not link.get("name"):
                raise ValueError(f"{name!r} links to the whole store {link.get('bucket')!r}")
            other = ObjectStore(self.js, link["bucket"])
            async for chunk in other.get_chunks(link["name"]):
                yield chunk
            return
        if info.chunks == 0:
            return
        consumer = await self.js.ordered(self.stream, [f"$O.{self.bucket}.C.{info.nuid}"])
        h, size = hashlib.sha256(), 0
        try:
            while True:
                d = await consumer.next(self.js.timeout)
                h.update(d.data)
                size += len(d.data)
                yield d.data
                if d.pending == 0:
                    break
        finally:
            await consumer.stop()
        if size != info.size or _digest(h) != info.digest:
            raise DigestMismatchError(f"object {name!r}: size or digest mismatch")

    async def get(self, name: str) -> bytes:
        """The whole object (use :meth:`get_chunks` for large ones)."""
        return b"".join([c async for c in self.get_chunks(name)])

    async def delete(self, name: str) -> ObjectInfo:
        """Mark the object deleted and purge its chunks."""
        info = await self.info(name, show_deleted=True)
        nuid = info.nuid
        info.deleted, info.size, info.chunks, info.digest = True, 0, 0, ""
        await self.js.publish(self._meta_subject(name), info.to_json(), {"Nats-Rollup": "sub"})
        await self.js.api(f"STREAM.PURGE.{self.stream}", {"filter": f"$O.{self.bucket}.C.{nuid}"})
        return info

    async def rename(self, name: str, new_name: str) -> ObjectInfo:
        """Rename a live object (the target must not exist, or be deleted)."""
        info = await self.info(name)
        try:
            await self.info(new_name)
        except ObjectNotFoundError:
            pass
        else:
            raise FileExistsError(new_name)
        info.name = new_name
        await self.js.publish(self._meta_subject(new_name), info.to_json(), {"Nats-Rollup": "sub"})
        await self.js.api(f"STREAM.PURGE.{self.stream}", {"filter": self._meta_subject(name)})
        return info

    async def add_link(self, name: str, target: ObjectInfo) -> ObjectInfo:
        """Store ``name`` as a link to object ``target`` (in this or another store)."""
        if target.deleted:
            raise ObjectNotFoundError(target.name)
        if target.options and target.options.get("link"):
            raise ValueError("a link cannot point to a link")
        return await self._put_link(name, {"bucket": target.bucket, "name": target.name})

    async def add_bucket_link(self, name: str, bucket: str) -> ObjectInfo:
        """Store ``name`` as a link to the whole object store ``bucket``."""
        return await self._put_link(name, {"bucket": bucket})

    async def _put_link(self, name: str, link: dict[str, str]) -> ObjectInfo:
        try:
            old = await self.info(name)
        except ObjectNotFoundError:
            pass
        else:
            if not (old.options or {}).get("link"):
                raise FileExistsError(f"{name!r} exists and is not a link")
        nuid = secrets.token_urlsafe(16).replace("-", "A").replace("_", "B")
        mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        info = ObjectInfo(name, self.bucket, nuid, options={"link": link}, mtime=mtime)
        await self.js.publish(self._meta_subject(name), info.to_json(), {"Nats-Rollup": "sub"})
        return info

    async def list(self, *, include_deleted: bool = False) -> list[ObjectInfo]:
        """Every object's info (deleted ones only if asked)."""
        out: list[ObjectInfo] = []
        consumer = await self.js.ordered(
            self.stream, [f"$O.{self.bucket}.M.>"], deliver_policy="last_per_subject"
        )
        try:
            if consumer.num_pending == 0 and consumer.delivered == 0:
                return out
            while True:
                d = await consumer.next(self.js.timeout)
                info = ObjectInfo.from_json(d.data)
                if include_deleted or not info.deleted:
                    out.append(info)
                if d.pending == 0:
                    return out
        finally:
            await consumer.stop()

    async def status(self) -> dict[str, Any]:
        """Bucket status: size (stream bytes), sealed, description, and the stream info."""
        info = await self.js.api(f"STREAM.INFO.{self.stream}")
        cfg = info["config"]
        return {
            "bucket": self.bucket,
            "size": info["state"]["bytes"],
            "sealed": cfg.get("sealed", False),
            "description": cfg.get("description"),
            "stream_info": info,
        }

    async def destroy(self) -> None:
        """Delete the object store (its stream)."""
        await self.js.api(f"STREAM.DELETE.{self.stream}")
