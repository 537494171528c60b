"""The in-process object-store API (``broker.object_store``) and nats-py on the same store."""

from __future__ import annotations

import hashlib

import nats
import pytest
from natskern.plugins.objectstore import ObjectNotFoundError

from natskern import Broker


def blob(n: int) -> bytes:
    return (hashlib.sha256(b"x").digest() * (n // 32 + 1))[:n]


async def test_inprocess_put_get_list_delete(broker: Broker) -> None:
    obs = await broker.object_store("files", create=True)
    data = blob(300_000)
    info = await obs.put("big", data, description="d")
    assert (info.size, info.chunks) == (300_000, 3)
    assert (
        info.digest
        == "SHA-256="
        + __import__("base64").urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
    )
    assert await obs.get("big") == data
    assert (await obs.put("empty", b"")).chunks == 0
    assert await obs.get("empty") == b""
    await obs.put("big", b"small now")
    assert await obs.get("big") == b"small now"
    status = await obs.status()
    assert status["stream_info"]["state"]["messages"] == 3  # 2 meta + 1 chunk
    assert sorted(i.name for i in await obs.list()) == ["big", "empty"]
    await obs.rename("empty", "void")
    with pytest.raises(ObjectNotFoundError):
        await obs.info("empty")
    await obs.delete("void")
    with pytest.raises(ObjectNotFoundError):
        await obs.get("void")
    assert [i.name for i in await obs.list()] == ["big"]
    assert [i.name for i in await obs.list(include_deleted=True)] == ["big", "void"]


async def test_embedded_and_remote_read_each_other(broker: Broker, url: str) -> None:
    obs = await broker.object_store("shared", create=True)
    nc = await nats.connect(url)
    try:
        remote = await nc.jetstream().object_store("shared")
        data = blob(200_000)
        await obs.put("from-app", data)
        got = await remote.get("from-app")
        assert got.data == data and got.info.size == 200_000
        await remote.put("from-remote", data[:1000])
        assert await obs.get("from-remote") == data[:1000]
        assert (await obs.info("from-remote")).size == 1000
        await remote.delete("from-app")
        with pytest.raises(ObjectNotFoundError):
            await obs.info("from-app")
        assert [i.name for i in await remote.list(ignore_deletes=True)] == ["from-remote"]
    finally:
        await nc.close()


async def test_streamed_put(broker: Broker) -> None:
    obs = await broker.object_store("s", create=True)

    async def pieces():  # type: ignore[no-untyped-def]
        for i in range(10):
            yield bytes([i]) * 50_000

    info = await obs.put("stream", pieces())
    assert (info.size, info.chunks) == (500_000, 4)
    got = b"".join([c async for c in obs.get_chunks("stream")])
    assert got == b"".join(bytes([i]) * 50_000 for i in range(10))


async def test_links_followed_by_nats_py(broker: Broker, url: str) -> None:
    src = await broker.object_store("src", create=True)
    links = await broker.object_store("links", create=True)
    target = await src.put("real", b"payload")
    link = await links.add_link("alias", target)
    assert link.options == {"link": {"bucket": "src", "name": "real"}} and link.chunks == 0
    await links.add_bucket_link("whole", "src")
    assert await links.get("alias") == b"payload"  # object links are followed
    with pytest.raises(ValueError):
        await links.get("whole")  # a bucket link has no data
    nc = await nats.connect(url)
    try:
        remote = await nc.jetstream().object_store("links")
        got = await remote.get("alias")  # nats-py follows an object link
        assert got.data == b"payload"
        info = await remote.get_info("whole")
        assert info.options.link.bucket == "src" and not info.options.link.name
    finally:
        await nc.close()


async def test_large_object_in_process_with_flow_control(broker: Broker) -> None:
    """16 MiB in 128 KiB chunks: the reader answers the broker's flow-control requests."""
    obs = await broker.object_store("large", create=True, storage="memory")
    block = blob(1 << 20)

    async def pieces():  # type: ignore[no-untyped-def]
        for _ in range(16):
            yield block

    info = await obs.put("x", pieces())
    assert info.chunks == 128
    h, n = hashlib.sha256(), 0
    async for chunk in obs.get_chunks("x"):
        h.update(chunk)
        n += len(chunk)
    assert n == 16 << 20 and h.digest() == hashlib.sha256(block * 16).digest()


async def test_windowed_put_keeps_chunk_order(broker: Broker, url: str) -> None:
    """A put keeps up to PUT_WINDOW chunks in flight: they are stored in order all the same."""
    from natskern.plugins.objectstore.api import PUT_WINDOW

    obs = await broker.object_store("order", create=True)
    data = b"".join(i.to_bytes(4, "big") * 250 for i in range(PUT_WINDOW * 5 + 3))
    info = await obs.put("many", data, chunk_size=1000)
    assert info.chunks == PUT_WINDOW * 5 + 3
    assert await obs.get("many") == data
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        got = await (await js.object_store("order")).get("many")  # nats-py checks the digest
        assert got.data == data
        seqs = []
        sub = await js.subscribe(f"$O.order.C.{info.nuid}", ordered_consumer=True)
        for _ in range(info.chunks):
            msg = await sub.next_msg(5)
            seqs.append(msg.metadata.sequence.stream)
            assert msg.data == data[(len(seqs) - 1) * 1000 : len(seqs) * 1000]
        assert seqs == list(range(seqs[0], seqs[0] + info.chunks))
    finally:
        await nc.close()


async def test_failed_put_leaves_no_chunks(broker: Broker) -> None:
    """A chunk refused mid-put (the bucket is full) fails the put; its chunks are purged,
    those still in flight when the error was seen included."""
    from natskern.plugins.kv.jsclient import APIError

    obs = await broker.object_store("full", create=True, max_bytes=1 << 20)
    with pytest.raises(APIError) as err:
        await obs.put("big", blob(3 << 20))
    assert (err.value.err_code, err.value.description) == (10077, "maximum bytes exceeded")
    state = (await obs.status())["stream_info"]["state"]
    assert state["messages"] == 0
    with pytest.raises(ObjectNotFoundError):
        await obs.info("big")
    assert (await obs.put("small", b"fits")).size == 4
    assert await obs.get("small") == b"fits"
