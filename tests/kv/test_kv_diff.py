"""KV through nats-py: one scenario run against natskern and nats-server 2.15.1.

Each scenario records what the client sees (values, revisions, operations, error
classes and codes) into a list; the recordings from both servers must be equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType
from nats.js.errors import APIError, BucketNotFoundError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from tests.support.watchrace import ATTEMPTS, longest, matches_reference

Record = list[Any]
Scenario = Callable[[nats.NATS, Record], Awaitable[None]]


def entry(e: Any) -> tuple[Any, ...]:
    """What a client sees in an entry (timestamps left out)."""
    return (e.key, e.value, e.revision, e.operation, getattr(e, "delta", None))


async def attempt(rec: Record, coro: Awaitable[Any]) -> Any:
    """Await ``coro``; record its result's shape or the error class and code."""
    try:
        result = await coro
    except (APIError, KeyNotFoundError, NoKeysError, BucketNotFoundError) as e:
        rec.append(("error", type(e).__name__, getattr(e, "err_code", None)))
        return None
    rec.append(("ok", result if isinstance(result, int | bool | str | None) else entry(result)))
    return result


async def crud(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    kv = await js.create_key_value(
        KeyValueConfig(bucket="cfg", history=5, max_value_size=1024, max_bytes=1 << 20)
    )
    st = await kv.status()
    rec.append(("status", st.bucket, st.values, st.history, st.ttl))
    await attempt(rec, kv.put("a", b"1"))
    await attempt(rec, kv.put("a", b"2"))
    await attempt(rec, kv.put("b.c", b"x"))
    await attempt(rec, kv.get("a"))
    await attempt(rec, kv.get("a", revision=1))
    await attempt(rec, kv.get("a", revision=3))  # revision of another key
    await attempt(rec, kv.get("missing"))
    await attempt(rec, kv.create("a", b"no"))
    await attempt(rec, kv.create("new", b"yes"))
    await attempt(rec, kv.update("a", b"3", last=2))
    await attempt(rec, kv.update("a", b"4", last=2))
    await attempt(rec, kv.put("big", b"x" * 2000))
    await attempt(rec, kv.delete("a"))
    await attempt(rec, kv.get("a"))
    await attempt(rec, kv.create("a", b"again"))  # create over a deleted key
    await attempt(rec, kv.delete("b.c", last=1))
    await attempt(rec, kv.delete("b.c", last=3))
    await attempt(rec, kv.purge("new"))
    rec.append(("history", [entry(e) for e in await longest(lambda: kv.history("a"), NoKeysError)]))
    rec.append(("keys", sorted(await longest(kv.keys, NoKeysError))))
    keys_filtered = await longest(lambda: kv.keys(filters=["b.>", "a"]), NoKeysError)
    rec.append(("keys-filter", sorted(keys_filtered)))
    st = await kv.status()
    rec.append(("status", st.values, st.history))
    # (a repeat purges the same markers again: idempotent, past nats-py's watcher race)
    for _ in range(ATTEMPTS):
        await kv.purge_deletes(olderthan=-1)
    st = await kv.status()
    rec.append(("after purge_deletes", st.values))
    rec.append(
        ("history b.c", [entry(e) for e in await longest(lambda: kv.history("a"), NoKeysError)])
    )
    for i in range(7):
        await kv.put("h", b"%d" % i)
    rec.append(
        ("history cap", [entry(e) for e in await longest(lambda: kv.history("h"), NoKeysError)])
    )
    rec.append(("delete bucket", await js.delete_key_value("cfg")))
    try:
        await js.key_value("cfg")
    except BucketNotFoundError as e:
        rec.append(("bound", type(e).__name__))


async def ttl_and_storage(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    kv = await js.create_key_value(
        KeyValueConfig(bucket="mem", ttl=60, storage=StorageType.MEMORY, history=2)
    )
    st = await kv.status()
    rec.append((st.ttl, st.history, st.stream_info.config.storage, st.stream_info.config.max_age))
    cfg = st.stream_info.config
    rec.append(
        (
            cfg.allow_rollup_hdrs,
            cfg.deny_delete,
            cfg.allow_direct,
            cfg.discard,
            cfg.duplicate_window,
        )
    )
    await kv.put("k", b"v")
    rec.append(entry(await kv.get("k")))
    kv2 = await js.key_value("mem")
    rec.append(entry(await kv2.get("k")))
    rec.append(await longest(kv.keys, NoKeysError))
    # per-key TTL (ADR-48): Nats-TTL on create and purge; the bucket allows message TTLs
    await attempt(rec, kv.create("t", b"ttl", msg_ttl=60))
    await attempt(rec, kv.purge("t", msg_ttl=60))
    rec.append(
        ("ttl history", [entry(e) for e in await longest(lambda: kv.history("t"), NoKeysError)])
    )
    msg = await nc.jsm().get_last_msg("KV_mem", "$KV.mem.t")
    rec.append(
        ("ttl headers", {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Time-Stamp"})
    )
    await kv.purge("k")
    try:
        await longest(kv.keys, NoKeysError)
    except NoKeysError as e:
        rec.append(type(e).__name__)


async def watchers(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    kv = await js.create_key_value(KeyValueConfig(bucket="w", history=10))
    for key, value in [("a", b"1"), ("b.x", b"2"), ("a", b"3"), ("b.y", b"4")]:
        await kv.put(key, value)
    await kv.delete("b.y")

    async def initial(w: KeyValue.KeyWatcher) -> list[Any]:
        seen: list[Any] = []
        async for e in w:
            seen.append(entry(e) if e is not None else None)
            if e is None:
                return seen
        return seen

    variants: list[tuple[str, dict[str, Any]]] = [
        ("all", {}),
        ("key", {"keys": "a"}),
        ("wild", {"keys": "b.*"}),
        ("history", {"keys": ">", "include_history": True}),
        ("ignore_deletes", {"keys": ">", "ignore_deletes": True}),
        ("meta_only", {"keys": ">", "meta_only": True}),
    ]
    for name, kwargs in variants:
        keys = kwargs.pop("keys", ">")
        w = await kv.watch(keys, **kwargs)
        # the initial values then the None marker, then live updates (no sleep: the
        # marker is awaited before writing, so no timing decides the outcome)
        seen = await asyncio.wait_for(initial(w), 10)
        # Each live update awaited before the next write: an entry's delta (the consumer's
        # pending count) would otherwise depend on whether the second write was stored
        # before the first was delivered, which load decides.
        for key, value in (("a", b"live-"), ("b.z", b"live2-")):
            await kv.put(key, value + name.encode())
            if keys in (">", key) or (keys == "b.*" and key.startswith("b.")):
                e = await w.updates(timeout=10)
                seen.append(entry(e) if e is not None else None)
        await w.stop()
        rec.append((name, seen))
    # nats-py's watch has no updates_only: the same consumer as nats.go's (deliver new)
    sub = await js.subscribe("$KV.w.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    await kv.put("u", b"1")
    msg = await sub.next_msg(timeout=5)
    rec.append(("updates_only", msg.subject, msg.data, msg.metadata.sequence.stream))
    await sub.unsubscribe()
    empty = await js.create_key_value(KeyValueConfig(bucket="empty"))
    w = await empty.watchall()
    e = await w.updates(timeout=5)
    rec.append(("empty", e))
    await w.stop()


async def direct_get(nc: nats.NATS, rec: Record) -> None:
    """A bucket with allow_direct: nats-py's gets go through Direct Get."""
    js = nc.jetstream()
    kv = await js.create_key_value(KeyValueConfig(bucket="d", history=3, direct=True))
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("a", b"3")
    for key, rev in [("a", None), ("a", 1), ("a", 2), ("b", 2), ("zz", None), ("a", 99)]:
        await attempt(rec, kv.get(key, revision=rev))
    await kv.delete("b")
    await attempt(rec, kv.get("b"))
    await attempt(rec, kv.get("b", revision=4))
    await attempt(rec, kv.create("b", b"back"))
    await kv.purge("a")
    await attempt(rec, kv.get("a"))
    await attempt(rec, kv.get("a", revision=1))
    rec.append(("history", [entry(e) for e in await longest(lambda: kv.history("a"), NoKeysError)]))


SCENARIOS: dict[str, Scenario] = {
    "direct": direct_get,
    "crud": crud,
    "ttl": ttl_and_storage,
    "watchers": watchers,
}


async def run(url: str, scenario: Scenario) -> Record:
    nc = await nats.connect(url)
    rec: Record = []
    try:
        await scenario(nc, rec)
    finally:
        await nc.close()
    return rec


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_kv_matches_nats_server(name: str, url: str, reference_url: str) -> None:
    await matches_reference(lambda u: run(u, SCENARIOS[name]), url, reference_url)
