"""Object store through nats-py: one scenario run against natskern and nats-server 2.15.1."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js.api import ObjectMeta, ObjectMetaOptions, ObjectStoreConfig, StorageType
from nats.js.errors import NotFoundError, ObjectNotFoundError

from tests.support.watchrace import longest, matches_reference

Record = list[Any]
Scenario = Callable[[nats.NATS, Record], Awaitable[None]]


def info(i: Any) -> tuple[Any, ...]:
    """What a client sees in an ObjectInfo (nuid and mtime left out)."""
    return (i.name, i.bucket, i.size, i.chunks, i.digest, i.deleted, i.description, i.headers)


def blob(n: int) -> bytes:
    return hashlib.sha256(b"seed").digest() * (n // 32) + b"x" * (n % 32)


async def crud(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    obs = await js.create_object_store("files", ObjectStoreConfig(description="d"))
    st = await obs.status()
    rec.append(("status", st.bucket, st.description, st.sealed, st.size))
    data = blob(300_000)  # three chunks of 128 KiB
    r = await obs.put("a/b.bin", data, meta=ObjectMeta(description="first"))
    rec.append(("put", info(r)))
    rec.append(("empty", info(await obs.put("empty", b""))))
    small = ObjectMeta(name="small", options=ObjectMetaOptions(max_chunk_size=1000))
    rec.append(("small", info(await obs.put("small", io.BytesIO(blob(4500)), meta=small))))
    got = await obs.get("a/b.bin")
    rec.append(("get", info(got.info), got.data == data))
    got = await obs.get("small")
    rec.append(("get small", got.data == blob(4500), got.info.chunks))
    rec.append(("get empty", (await obs.get("empty")).data))
    r = await obs.put("a/b.bin", b"replaced")  # the old chunks are purged
    rec.append(("replace", info(r), (await obs.get("a/b.bin")).data))
    rec.append(("info", info(await obs.get_info("a/b.bin"))))
    rec.append(("list", sorted(info(i) for i in await longest(obs.list, NotFoundError))))
    # nats-py 2.16's update_meta cannot rename (it refuses any name change of a live
    # object, then would publish under the old name): only the description changes here
    await obs.update_meta("small", ObjectMeta(name="small", description="updated"))
    rec.append(("updated", info(await obs.get_info("small"))))
    r = await obs.delete("small")
    rec.append(("delete", info(r) if r is not None else None))
    try:
        await obs.get("small")
    except (ObjectNotFoundError, NotFoundError) as e:
        rec.append(("get deleted", type(e).__name__))
    rec.append(("list", sorted(info(i) for i in await longest(obs.list, NotFoundError))))
    rec.append(
        (
            "list with deleted",
            sorted(
                info(i)
                for i in await longest(lambda: obs.list(ignore_deletes=False), NotFoundError)
            ),
        )
    )
    st = await obs.status()
    rec.append(("status", st.size, st.sealed, st.stream_info.state.messages))
    await obs.seal()
    st = await obs.status()
    rec.append(("sealed", st.sealed))
    try:
        await obs.put("late", b"x")
    except Exception as e:
        rec.append(("put sealed", type(e).__name__, getattr(e, "err_code", None)))
    rec.append(("delete store", await js.delete_object_store("files")))


async def watch_and_limits(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    obs = await js.create_object_store(
        "w", ObjectStoreConfig(storage=StorageType.MEMORY, max_bytes=200_000)
    )
    await obs.put("one", b"1")
    w = await obs.watch()
    seen = []
    while True:
        e = await w.updates(timeout=5)
        seen.append(None if e is None else info(e))
        if e is None:
            break
    await obs.put("two", b"22")
    seen.append(info(await w.updates(timeout=5)))
    await obs.delete("one")
    seen.append(info(await w.updates(timeout=5)))
    await w.stop()
    rec.append(("watch", seen))
    try:
        await obs.put("huge", blob(300_000))
    except Exception as e:
        rec.append(("too big", type(e).__name__, getattr(e, "err_code", None)))
    rec.append(("left", sorted(i.name for i in await longest(obs.list, NotFoundError))))


SCENARIOS: dict[str, Scenario] = {"crud": crud, "watch": watch_and_limits}


async def stream_bytes(nc: nats.NATS, rec: Record) -> None:
    js, jsm = nc.jetstream(), nc.jsm()
    await jsm.add_stream(name="S", subjects=["s.>"], allow_rollup_hdrs=True)
    await js.publish("s.a", b"x")
    rec.append((await jsm.stream_info("S")).state.bytes)
    await js.publish("s.b", b"x", headers={"Nats-Rollup": "sub"})
    rec.append((await jsm.stream_info("S")).state.bytes)


async def run(url: str, scenario: Scenario) -> Record:
    nc = await nats.connect(url)
    rec: Record = []
    try:
        await scenario(nc, rec)
    finally:
        await nc.close()
    return rec


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_object_store_matches_nats_server(name: str, url: str, reference_url: str) -> None:
    await matches_reference(lambda u: run(u, SCENARIOS[name]), url, reference_url)


async def test_stream_bytes_match_nats_server(url: str, reference_url: str) -> None:
    assert await run(url, stream_bytes) == await run(reference_url, stream_bytes)
