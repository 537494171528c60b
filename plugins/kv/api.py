"""The in-process KV API: ``kv = await broker.kv("bucket")``.

The same conventions as nats-py's ``nats.js.kv`` (stream ``KV_<bucket>``, subjects
``$KV.<bucket>.<key>``, ``KV-Operation`` tombstones, ``Nats-Rollup: sub`` purges, CAS
with ``Nats-Expected-Last-Subject-Sequence``, gets by direct get, watches as ordered push
consumers), over the broker's in-process client: no socket, and remote clients see the
embedding application's writes and watches and the other way round.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from natskern.kernel.core.inprocess import InProcessClient
from natskern.plugins.kv.config import bucket_prefixes, bucket_stream_config
from natskern.plugins.kv.jsclient import APIError, JetStreamClient, OrderedConsumer

__all__ = [
    "BucketNotFoundError",
    "Entry",
    "KeyNotFoundError",
    "KeyValue",
    "KeyWatcher",
    "KeyWrongLastSequenceError",
    "create_bucket",
    "open_bucket",
    "update_bucket",
]

_KEY = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")
_NS = 1_000_000_000
DEL, PURGE = "DEL", "PURGE"


class KeyNotFoundError(KeyError):
    """No value for the key (absent, deleted or purged)."""


class BucketNotFoundError(LookupError):
    """No stream ``KV_<bucket>``."""


class KeyWrongLastSequenceError(APIError):
    """Compare-and-set failed: the key's last revision is not the expected one (10071)."""


@dataclass(frozen=True)
class Entry:
    """One revision of a key; ``operation`` is None for a put, "DEL" or "PURGE"."""

    bucket: str
    key: str
    value: bytes
    revision: int
    created_ns: int
    delta: int = 0
    operation: str | None = None


def _operation(headers: dict[str, str] | None) -> str | None:
    if not headers:
        return None
    if "KV-Operation" in headers:
        return headers["KV-Operation"]
    reason = headers.get("Nats-Marker-Reason")
    if reason in ("MaxAge", "Purge"):
        return PURGE
    return DEL if reason == "Remove" else None


def _check_key(key: str) -> None:
    if not _KEY.match(key) or key.startswith(".") or key.endswith("."):
        raise ValueError(f"invalid key {key!r}")


async def create_bucket(client: InProcessClient, bucket: str, **options: Any) -> KeyValue:
    """Create (or bind to an identical) bucket: nats.go's stream configuration
    (:func:`~natskern.plugins.kv.config.bucket_stream_config`'s options: ``history``,
    ``ttl``, ``max_value_size``, ``max_bytes``, ``storage``, ``replicas``, ``description``,
    ``republish``, ``compression``, ``metadata``, ``placement``, ``limit_marker_ttl``,
    ``mirror``, ``sources``)."""
    config = bucket_stream_config(bucket, **options)
    js = JetStreamClient(client)
    info = await js.api(f"STREAM.CREATE.KV_{bucket}", config)
    return KeyValue(js, bucket, info["config"])


async def update_bucket(client: InProcessClient, bucket: str, **options: Any) -> KeyValue:
    """Change a bucket's configuration (STREAM.UPDATE; the same options as create)."""
    config = bucket_stream_config(bucket, **options)
    js = JetStreamClient(client)
    try:
        info = await js.api(f"STREAM.UPDATE.KV_{bucket}", config)
    except APIError as e:
        if e.err_code == 10059:
            raise BucketNotFoundError(bucket) from None
        raise
    return KeyValue(js, bucket, info["config"])


async def open_bucket(client: InProcessClient, bucket: str) -> KeyValue:
    """Bind to an existing bucket (:class:`BucketNotFoundError` if there is none)."""
    js = JetStreamClient(client)
    try:
        info = await js.api(f"STREAM.INFO.KV_{bucket}")
    except APIError as e:
        if e.err_code == 10059:
            raise BucketNotFoundError(bucket) from None
        raise
    if info["config"].get("max_msgs_per_subject", 0) < 1:
        raise BucketNotFoundError(bucket)
    return KeyValue(js, bucket, info["config"])


class KeyValue:
    """A KV bucket seen from inside the broker process (async, like nats-py's ``KeyValue``)."""

    def __init__(
        self, js: JetStreamClient, bucket: str, config: dict[str, Any] | None = None
    ) -> None:
        self.js = js
        self.bucket = bucket
        self.stream = f"KV_{bucket}"
        #: Where keys are read (a mirror holds its origin's subjects) and written (a
        #: mirror's writes go to its origin).
        self.prefix, self.put_prefix = bucket_prefixes(bucket, config or {})

    async def get(self, key: str, revision: int | None = None) -> Entry:
        """The latest value of ``key`` (or the given revision); deleted keys are not found."""
        _check_key(key)
        subject = self.prefix + key
        if revision is None:
            msg = await self.js.direct_get(self.stream, last_by_subject=subject)
        else:
            msg = await self.js.direct_get(self.stream, seq=revision)
        if msg is None:
            raise KeyNotFoundError(key)
        headers = msg.headers or {}
        if headers.get("Nats-Subject") != subject:
            raise KeyNotFoundError(key)
        op = _operation(headers)
        if op is not None:
            raise KeyNotFoundError(key)
        return Entry(
            self.bucket,
            key,
            msg.data,
            int(headers["Nats-Sequence"]),
            0,
            operation=op,
        )

    async def put(self, key: str, value: bytes) -> int:
        """Store a new revision; its revision number."""
        _check_key(key)
        return await self.js.publish(self.put_prefix + key, value)

    async def create(self, key: str, value: bytes) -> int:
        """Store ``value`` only if the key has no value (also over a delete or purge)."""
        try:
            return await self.update(key, value, last=0)
        except KeyWrongLastSequenceError:
            msg = await self.js.direct_get(self.stream, last_by_subject=self.prefix + key)
            if msg is None or _operation(msg.headers) is None:
                raise
            return await self.update(key, value, last=int((msg.headers or {})["Nats-Sequence"]))

    async def update(self, key: str, value: bytes, last: int) -> int:
        """Store ``value`` if the key's last revision is ``last`` (compare and set)."""
        _check_key(key)
        headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
        try:
            return await self.js.publish(self.put_prefix + key, value, headers)
        except APIError as e:
            if e.err_code in (10071, 10164):
                raise KeyWrongLastSequenceError(e.code, e.err_code, e.description) from None
            raise

    async def delete(self, key: str, last: int | None = None) -> int:
        """Store a delete tombstone (``KV-Operation: DEL``); optionally compare and set."""
        _check_key(key)
        headers = {"KV-Operation": DEL}
        if last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
        try:
            return await self.js.publish(self.put_prefix + key, b"", headers)
        except APIError as e:
            if e.err_code in (10071, 10164):
                raise KeyWrongLastSequenceError(e.code, e.err_code, e.description) from None
            raise

    async def purge(self, key: str) -> int:
        """Store a purge tombstone that removes every earlier revision of the key."""
        _check_key(key)
        headers = {"KV-Operation": PURGE, "Nats-Rollup": "sub"}
        return await self.js.publish(self.put_prefix + key, b"", headers)

    async def purge_deletes(self) -> None:
        """Remove every deleted or purged key with its tombstone (nats-py's olderthan<=0)."""
        async with self.watch(">", meta_only=True) as w:
            async for e in w:
                if e is None:
                    break
                if e.operation in (DEL, PURGE):
                    await self.js.api(
                        f"STREAM.PURGE.{self.stream}", {"filter": self.prefix + e.key}
                    )

    async def keys(self, filter: str = ">") -> list[str]:
        """The keys that have a value (matching ``filter``), in revision order."""
        out: list[str] = []
        async with self.watch(filter, meta_only=True, ignore_deletes=True) as w:
            async for e in w:
                if e is None:
                    break
                out.append(e.key)
        return out

    async def history(self, key: str) -> list[Entry]:
        """Every stored revision of ``key``, tombstones included."""
        _check_key(key)
        out: list[Entry] = []
        async with self.watch(key, include_history=True) as w:
            async for e in w:
                if e is None:
                    break
                out.append(e)
        if not out:
            raise KeyNotFoundError(key)
        return out

    def watch(
        self,
        keys: str = ">",
        *,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
    ) -> KeyWatcher:
        """Watch keys: ``async with kv.watch(">") as w: async for entry in w``.

        The initial values come first, then ``None``, then live updates (with
        ``updates_only`` the ``None`` comes first).
        """
        policy = "new" if updates_only else "all" if include_history else "last_per_subject"
        return KeyWatcher(self, keys, policy, ignore_deletes, meta_only)

    async def status(self) -> dict[str, Any]:
        """Bucket status: values, history, ttl (s), bytes, storage, compression, metadata,
        republish, mirror, sources, and the stream info."""
        info = await self.js.api(f"STREAM.INFO.{self.stream}")
        cfg, state = info["config"], info["state"]
        return {
            "bucket": self.bucket,
            "values": state["messages"],
            "history": cfg["max_msgs_per_subject"],
            "ttl": cfg.get("max_age", 0) / _NS,
            "bytes": state["bytes"],
            "storage": cfg["storage"],
            "is_compressed": cfg.get("compression", "none") == "s2",
            "metadata": cfg.get("metadata") or {},
            "republish": cfg.get("republish"),
            "mirror": cfg.get("mirror"),
            "sources": cfg.get("sources") or [],
            "stream_info": info,
        }

    async def destroy(self) -> None:
        """Delete the bucket (its stream)."""
        await self.js.api(f"STREAM.DELETE.{self.stream}")


class KeyWatcher:
    """Entries of a watch: initial values, ``None``, then live ones (an async context)."""

    def __init__(
        self, kv: KeyValue, keys: str, policy: str, ignore_deletes: bool, meta_only: bool
    ) -> None:
        self.kv = kv
        self.keys = keys
        self.policy = policy
        self.ignore_deletes = ignore_deletes
        self.meta_only = meta_only
        self.consumer: OrderedConsumer | None = None
        self._initial = True  # still delivering the initial values
        self._marker_due = False  # the None marker is the next thing to yield

    async def start(self) -> KeyWatcher:
        """Create the consumer (``async with`` does it)."""
        self.consumer = await self.kv.js.ordered(
            self.kv.stream,
            [self.kv.prefix + self.keys],
            deliver_policy=self.policy,
            headers_only=self.meta_only,
        )
        c = self.consumer
        if self.policy == "new" or (c.num_pending == 0 and c.delivered == 0):
            self._initial, self._marker_due = False, True
        return self

    async def __aenter__(self) -> KeyWatcher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Delete the consumer."""
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    async def next(self, timeout: float | None = None) -> Entry | None:
        """The next entry, or None once at the end of the initial values."""
        assert self.consumer is not None, "start the watcher first"
        while True:
            if self._marker_due:
                self._marker_due = False
                return None
            d = await self.consumer.next(timeout)
            op = _operation(d.headers)
            if self._initial and d.pending == 0:
                self._initial, self._marker_due = False, True
            if self.ignore_deletes and op is not None:
                continue
            return Entry(
                self.kv.bucket,
                d.subject[len(self.kv.prefix) :],
                d.data,
                d.stream_seq,
                d.timestamp_ns,
                d.pending,
                op,
            )

    async def __aiter__(self) -> AsyncIterator[Entry | None]:
        while True:
            try:
                yield await self.next()
            except StopAsyncIteration:
                return
