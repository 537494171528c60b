"""Stream snapshot and restore end to end: a real natskern broker, nats-py driving the wire.

A stream with headers, interior and trailing deletes, a purged head and a consumer with
acks, pending and redeliveries is snapshotted, deleted (or left on another broker) and
restored, across the memory, file and RocksDB backends; everything a client can see
must come back: state, deleted sequences, every message with its time, the consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from natskern.kernel.jetstream import snapshot as snapshot_mod
from natskern.kernel.jetstream import snapshot_restore

from natskern import Broker
from tests.jetstream.snapshot_wire import api, restore, snapshot


@contextlib.asynccontextmanager
async def broker(store: Path, backend: str = "file") -> AsyncIterator[nats.NATS]:
    """natskern with JetStream (``file`` streams in ``backend``); yields a connection."""
    cfg = {
        "tcp": {"port": 0},
        "jetstream": {"enabled": True, "store_dir": str(store), "store_backend": backend},
    }
    async with Broker(cfg) as b:
        nc = await nats.connect(b.listen_urls[0])
        try:
            yield nc
        finally:
            await nc.close()


async def fill(nc: nats.NATS, storage: str = "file") -> None:
    """Stream S: a purged head, headers, interior and trailing deletes, consumer D."""
    cfg = {"name": "S", "subjects": ["s.>"], "storage": storage, "allow_msg_ttl": True}
    assert "error" not in await api(nc, "STREAM.CREATE.S", cfg)
    js = nc.jetstream()
    for _ in range(3):
        await js.publish("s.head", b"gone")
    await api(nc, "STREAM.PURGE.S")
    for i in range(60):
        headers = {"K": f"v{i}"} if i % 3 == 0 else None
        await js.publish(f"s.{i % 4}", b"x" * (i * 7), headers=headers)
    await js.publish("s.ttl", b"lives an hour", headers={"Nats-TTL": "1h"})
    for seq in (10, 11, 30, 64):
        assert (await api(nc, "STREAM.MSG.DELETE.S", {"seq": seq}))["success"]
    dcfg = {"durable_name": "D", "ack_policy": "explicit", "ack_wait": 60 * 10**9}
    assert "error" not in await api(nc, "CONSUMER.CREATE.S.D", {"stream_name": "S", "config": dcfg})
    sub = await js.pull_subscribe("s.>", durable="D", stream="S")
    msgs = await sub.fetch(6)
    for m in msgs[:2]:
        await m.ack()
    await msgs[2].nak()
    again = await sub.fetch(1)
    assert again[0].metadata.num_delivered == 2
    await nc.flush()


async def seen(nc: nats.NATS) -> dict[str, Any]:
    """What a client sees of S: info (deleted details), every message, consumer D."""
    info = await api(nc, "STREAM.INFO.S", {"deleted_details": True})
    state = info["state"]
    msgs = []
    for seq in range(state["first_seq"], state["last_seq"] + 1):
        got = await api(nc, "STREAM.MSG.GET.S", {"seq": seq})
        msgs.append(got.get("message") or got["error"]["err_code"])
    consumer = await api(nc, "CONSUMER.INFO.S.D")
    if "error" not in consumer:
        for key in ("ts", "created"):
            consumer.pop(key, None)
        for key in ("delivered", "ack_floor"):
            consumer[key].pop("last_active", None)
        consumer["config"].pop("metadata", None)
    return {"state": state, "created": info["created"], "msgs": msgs, "consumer": consumer}


def _body(snap: Any, **config: Any) -> dict[str, Any]:
    return {"config": {**snap.response["config"], **config}, "state": snap.response["state"]}


PAIRS = [("file", "file", "file"), ("file", "rocksdb", "file"), ("rocksdb", "file", "memory")]


@pytest.mark.parametrize(("source", "target", "storage"), PAIRS)
async def test_snapshot_delete_restore_gives_back_the_same_stream(
    tmp_path: Path, source: str, target: str, storage: str
) -> None:
    async with broker(tmp_path / "a", source) as nc:
        await fill(nc)
        before = await seen(nc)
        snap = await snapshot(nc, "S", chunk_size=2048, window_size=4096)
        assert snap.response["state"]["last_seq"] == before["state"]["last_seq"]
        assert snap.end_headers == {"Status": "204"}
        assert (await api(nc, "STREAM.DELETE.S"))["success"]
    async with broker(tmp_path / "b", target) as nc:
        first, final = await restore(nc, "S", snap.data, _body(snap, storage=storage))
        assert first["deliver_subject"].startswith("$JS.SNAPSHOT.RESTORE.S.")
        assert final is not None and final["type"].endswith("stream_create_response"), final
        assert final["state"]["messages"] == before["state"]["messages"]
        after = await seen(nc)
        if storage == "memory":  # the memory store counts nats-server's memory-store bytes
            before["state"].pop("bytes"), after["state"].pop("bytes")
        assert after["state"] == before["state"]
        assert after["created"] == before["created"]
        assert after["msgs"] == before["msgs"]
        assert after["consumer"] == before["consumer"]
        assert after["consumer"]["num_ack_pending"] == 4
        assert after["consumer"]["num_redelivered"] == 1
        # The stream goes on: the next message follows the restored last sequence.
        ack = await nc.jetstream().publish("s.next", b"after")
        assert ack.seq == before["state"]["last_seq"] + 1
    if target != "file" or storage == "memory":
        return
    async with broker(tmp_path / "b", target) as nc:  # and it survives a restart
        again = await seen(nc)
        assert again["msgs"][:-1] == before["msgs"]
        assert again["consumer"]["delivered"] == before["consumer"]["delivered"]


async def test_a_memory_stream_restores_into_a_file_stream(tmp_path: Path) -> None:
    async with broker(tmp_path / "a") as nc:
        await fill(nc, storage="memory")
        before = await seen(nc)
        snap = await snapshot(nc, "S")
        await api(nc, "STREAM.DELETE.S")
        _, final = await restore(nc, "S", snap.data, _body(snap, storage="file"))
        assert final is not None and final["config"]["storage"] == "file"
        after = await seen(nc)
        before["state"].pop("bytes"), after["state"].pop("bytes")  # file vs memory sizes
        assert (after["state"], after["msgs"]) == (before["state"], before["msgs"])


async def test_no_consumers_leaves_the_consumers_out(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        await fill(nc)
        snap = await snapshot(nc, "S", no_consumers=True)
        await api(nc, "STREAM.DELETE.S")
        _, final = await restore(nc, "S", snap.data, _body(snap))
        assert final is not None and final["state"]["consumer_count"] == 0
        assert (await api(nc, "CONSUMER.INFO.S.D"))["error"]["err_code"] == 10014
        with tarfile.open(fileobj=io.BytesIO(snap.data), mode="r:gz") as tar:
            names = tar.getnames()
        assert names[0] == "natskern-snapshot.json" and names[-1] == "SUMS.json"
        assert not [n for n in names if n.startswith("consumers/")]


async def test_the_archive_is_a_documented_gzip_tar(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        await fill(nc)
        snap = await snapshot(nc, "S")
    with tarfile.open(fileobj=io.BytesIO(snap.data), mode="r:gz") as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("natskern-snapshot.json").read())  # type: ignore[union-attr]
        sums = json.loads(tar.extractfile("SUMS.json").read())  # type: ignore[union-attr]
        consumer = json.loads(tar.extractfile("consumers/0001.json").read())  # type: ignore[union-attr]
    assert meta["format"] == "natskern-stream-snapshot" and meta["version"] == 1
    assert meta["state"]["first_seq"] == 4 and meta["state"]["last_seq"] == 64
    assert names[1].startswith("messages/") and sums["messages"] == 57
    assert [m["name"] for m in sums["members"]] == names[:-1]
    assert consumer["name"] == "D" and len(consumer["state"]["pending"]) == 4


async def test_restore_of_an_existing_name_is_refused(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        await fill(nc)
        snap = await snapshot(nc, "S")
        first, final = await restore(nc, "S", snap.data, _body(snap))
        assert final is None
        assert first["error"] == {
            "code": 400,
            "err_code": 10130,
            "description": "stream name already in use, cannot restore",
        }
        assert first["deliver_subject"] == ""


def _corrupt(data: bytes) -> bytes:
    raw = bytearray(gzip.decompress(data))
    raw[len(raw) // 2] ^= 0xFF  # inside a message segment: only the checksum can tell
    return gzip.compress(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "text"),
    [
        (_corrupt, "checksum mismatch in member 'messages/00000001.bin'"),
        (lambda d: d[: len(d) // 2], "not a valid natskern snapshot archive"),
        (lambda d: b"garbage" * 100, "not a valid natskern snapshot archive"),
    ],
    ids=["flipped-byte", "truncated", "not-gzip"],
)
async def test_a_damaged_archive_is_refused_and_leaves_nothing(
    tmp_path: Path, damage: Any, text: str
) -> None:
    async with broker(tmp_path) as nc:
        await fill(nc)
        snap = await snapshot(nc, "S")
        await api(nc, "STREAM.DELETE.S")
        _, final = await restore(nc, "S", damage(snap.data), _body(snap))
        assert final is not None
        err = final["error"]
        assert (err["code"], err["err_code"]) == (500, 10062), err
        assert err["description"].startswith("restore failed: " + text), err
        assert (await api(nc, "STREAM.INFO.S"))["error"]["err_code"] == 10059
        assert (await api(nc, "STREAM.NAMES"))["streams"] is None
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and "S" in p.parts]
    assert leftovers == []
    assert os.listdir(tmp_path / "jetstream" / "$G" / "snapshots") == []


async def test_a_small_window_waits_for_acks(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        cfg = {"name": "S", "subjects": ["s.>"]}
        await api(nc, "STREAM.CREATE.S", cfg)
        js = nc.jetstream()
        for i in range(200):
            await js.publish(f"s.{i}", os.urandom(200))  # random: compresses poorly
        inbox = nc.new_inbox()
        got: list[Any] = []
        arrived = asyncio.Event()

        async def on_chunk(msg: Any) -> None:
            got.append(msg)
            arrived.set()

        await nc.subscribe(inbox, cb=on_chunk)
        req = {"deliver_subject": inbox, "chunk_size": 1024, "window_size": 3072}
        assert "error" not in await api(nc, "STREAM.SNAPSHOT.S", req)
        while len(got) < 3:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 5)
        await asyncio.sleep(0.3)
        assert len(got) == 3  # a window of three chunks, none acked: the server waits
        assert [m.reply.rsplit(".", 2)[1:] for m in got] == [
            ["1024", "1"],
            ["1024", "2"],
            ["1024", "3"],
        ]
        await nc.publish(got[0].reply, b"")
        while len(got) < 4:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 5)
        await asyncio.sleep(0.3)
        assert len(got) == 4  # one ack, one more chunk
        for m in got:
            await nc.publish(m.reply, b"")
        acked = 4
        while not got or got[-1].data:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 5)
            for m in got[acked:]:
                if m.reply:
                    await nc.publish(m.reply, b"")
            acked = len(got)
        assert got[-1].headers == {"Status": "204"}


async def test_no_acks_end_the_snapshot_with_408(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_mod, "ACK_TIMEOUT", 0.2)
    async with broker(tmp_path) as nc:
        await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
        for i in range(50):
            await nc.jetstream().publish(f"s.{i}", os.urandom(100))
        advisories: list[Any] = []

        async def on_adv(msg: Any) -> None:
            advisories.append(msg)

        await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>", cb=on_adv)
        snap = await snapshot(nc, "S", ack=False, chunk_size=1024, window_size=1024)
        assert [c[1] for c in snap.chunks] == [1024, 0]
        assert snap.end_headers == {"Status": "408", "Description": "No Flow Response"}
        await nc.flush()
        await asyncio.sleep(0.05)
        done = [json.loads(m.data) for m in advisories if "SNAPSHOT_COMPLETE" in m.subject]
        assert done and done[0]["error"] == "no flow response"


async def test_advisories_frame_snapshot_and_restore(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        await fill(nc)
        advisories: list[tuple[str, dict[str, Any]]] = []

        async def on_adv(msg: Any) -> None:
            advisories.append((msg.subject, json.loads(msg.data)))

        await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>", cb=on_adv)
        snap = await snapshot(nc, "S")
        await api(nc, "STREAM.DELETE.S")
        _, final = await restore(nc, "S", snap.data, _body(snap))
        assert final is not None and "error" not in final
        await nc.flush()
        await asyncio.sleep(0.05)
    subjects = [s for s, _ in advisories]
    assert subjects == [
        "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.S",
        "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE.S",
        "$JS.EVENT.ADVISORY.STREAM.DELETED.S",
        "$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE.S",
        "$JS.EVENT.ADVISORY.STREAM.CREATED.S",
        "$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.S",
    ]
    bodies = dict(advisories)
    create = bodies["$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.S"]
    assert create["type"] == "io.nats.jetstream.advisory.v1.snapshot_create"
    assert create["state"] == snap.response["state"]
    complete = bodies["$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.S"]
    assert complete["type"] == "io.nats.jetstream.advisory.v1.restore_complete"
    assert complete["bytes"] == len(snap.data)
    assert list(complete) == [
        "type",
        "id",
        "timestamp",
        "stream",
        "start",
        "end",
        "bytes",
        "client",
    ]


async def test_a_stalled_restore_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_restore, "STALL_TIMEOUT", 0.2)
    async with broker(tmp_path) as nc:
        first = await api(nc, "STREAM.RESTORE.S", {"config": {"name": "S"}})
        subject = first["deliver_subject"]
        assert (await nc.request(subject, b"part", timeout=2)).data == b""
        await asyncio.sleep(0.5)
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request(subject, b"more", timeout=2)
        assert os.listdir(tmp_path / "jetstream" / "$G" / "snapshots") == []
        assert (await api(nc, "STREAM.INFO.S"))["error"]["err_code"] == 10059


async def test_a_sealed_stream_restores_sealed(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        await api(nc, "STREAM.CREATE.Z", {"name": "Z", "subjects": ["z"]})
        await nc.jetstream().publish("z", b"kept")
        cfg = (await api(nc, "STREAM.INFO.Z"))["config"]
        assert "error" not in await api(nc, "STREAM.UPDATE.Z", {**cfg, "sealed": True})
        snap = await snapshot(nc, "Z")
        await api(nc, "STREAM.DELETE.Z")
        _, final = await restore(
            nc, "Z", snap.data, {"config": snap.response["config"], "state": snap.response["state"]}
        )
        assert final is not None and final["config"]["sealed"] is True, final
        assert final["state"]["messages"] == 1
        refused = await api(nc, "STREAM.MSG.DELETE.Z", {"seq": 1})
        assert refused["error"]["err_code"] == 10109  # still sealed


async def test_a_restored_mirror_goes_on_from_its_last_message(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        js = nc.jetstream()
        await api(nc, "STREAM.CREATE.O", {"name": "O", "subjects": ["o.>"]})
        for i in range(5):
            await js.publish(f"o.{i}", b"%d" % i)
        await api(nc, "STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
        for _ in range(200):
            if (await api(nc, "STREAM.INFO.M"))["state"]["messages"] == 5:
                break
            await asyncio.sleep(0.02)
        snap = await snapshot(nc, "M")
        await api(nc, "STREAM.DELETE.M")
        for i in range(5, 8):
            await js.publish(f"o.{i}", b"%d" % i)
        body = {"config": snap.response["config"], "state": snap.response["state"]}
        _, final = await restore(nc, "M", snap.data, body)
        assert final is not None and "error" not in final, final
        for _ in range(200):
            state = (await api(nc, "STREAM.INFO.M"))["state"]
            if state["messages"] >= 8:
                break
            await asyncio.sleep(0.02)
        assert (state["messages"], state["first_seq"], state["last_seq"]) == (8, 1, 8)
        for seq in range(1, 9):
            got = await api(nc, "STREAM.MSG.GET.M", {"seq": seq})
            assert got["message"]["subject"] == f"o.{seq - 1}"


async def test_a_snapshot_nobody_receives_ends_with_no_interest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_mod, "INTEREST_WAIT", 0.1)
    async with broker(tmp_path) as nc:
        await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
        await nc.jetstream().publish("s.1", b"x")
        done = asyncio.get_running_loop().create_future()

        async def on_adv(msg: Any) -> None:
            if not done.done():
                done.set_result(json.loads(msg.data))

        await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE.S", cb=on_adv)
        answer = await api(nc, "STREAM.SNAPSHOT.S", {"deliver_subject": "nobody.listens"})
        assert "error" not in answer
        complete = await asyncio.wait_for(done, 5)
        assert complete["error"] == "no interest"


async def test_a_kv_bucket_round_trips(tmp_path: Path) -> None:
    async with broker(tmp_path) as nc:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="cfg", history=3)
        await kv.put("a", b"1")
        await kv.put("a", b"2")
        await kv.put("b", b"x")
        await kv.delete("b")
        await kv.put("c", b"y")
        await kv.purge("c")
        before = [e.value for e in await kv.history("a")]
        snap = await snapshot(nc, "KV_cfg")
        await js.delete_key_value("cfg")
        body = {"config": snap.response["config"], "state": snap.response["state"]}
        _, final = await restore(nc, "KV_cfg", snap.data, body)
        assert final is not None and "error" not in final, final
        kv = await js.key_value("cfg")
        assert (await kv.get("a")).value == b"2"
        assert [e.value for e in await kv.history("a")] == before
        assert sorted(await kv.keys()) == ["a"]
        assert (await kv.put("a", b"3")) == snap.response["state"]["last_seq"] + 1
