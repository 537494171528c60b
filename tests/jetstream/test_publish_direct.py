"""Publishes staged on the publisher's read path (``Stream.submit_now``), over a real broker.

While a stream is idle its ingest subscribers hand plain publishes to ``submit_now`` at
once, without the ingest task's turn.  What must not change: sequences follow arrival
order across the stream's subjects (a message queued on one subject goes before a later one
on another), nothing overtakes a holder of the stream's lock (an API operation), and
messages with headers, KV puts and stores with limits are acknowledged as before.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats

from tests.jetstream.test_api_e2e import jetstream_broker

HANG = 10.0


async def _create(nc: nats.NATS, body: dict[str, Any]) -> None:
    msg = await nc.request(f"$JS.API.STREAM.CREATE.{body['name']}", json.dumps(body).encode())
    assert "error" not in json.loads(msg.data)


async def _acks(nc: nats.NATS, msgs: list[tuple[str, bytes, dict[str, str] | None]]) -> list:
    """Publish ``msgs`` back to back (one flush), each with its own reply; the acks in order."""
    inbox = nc.new_inbox()
    got: dict[int, Any] = {}
    done = asyncio.get_running_loop().create_future()

    async def on_ack(msg: Any) -> None:
        got[int(msg.subject.rsplit(".", 1)[1])] = json.loads(msg.data)
        if len(got) == len(msgs) and not done.done():
            done.set_result(None)

    sub = await nc.subscribe(inbox + ".*", cb=on_ack)
    for i, (subject, payload, headers) in enumerate(msgs):
        await nc.publish(subject, payload, reply=f"{inbox}.{i}", headers=headers)
    await nc.flush()
    await asyncio.wait_for(done, HANG)
    await sub.unsubscribe()
    return [got[i] for i in range(len(msgs))]


async def test_sequences_follow_arrival_across_the_stream_s_subjects(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await _create(nc, {"name": "S", "subjects": ["a.*", "b.*"]})
            msgs = [(("a.x", "b.y")[i % 3 == 0], b"%d" % i, None) for i in range(300)]
            # headers now and then: those take the task's path, the rest the direct one
            for i in range(7, 300, 50):
                msgs[i] = (msgs[i][0], msgs[i][1], {"X": "1"})
            acks = await _acks(nc, msgs)
            assert [a["seq"] for a in acks] == list(range(1, 301))
            stream = next(iter(js.accounts.values())).streams["S"]
            for seq in range(1, 301):
                msg = await stream.store.load_msg(seq)
                assert msg is not None
                assert (msg.subject, msg.payload) == (msgs[seq - 1][0], b"%d" % (seq - 1))
        finally:
            await nc.close()


async def test_a_publish_waits_for_the_holder_of_the_stream_lock(tmp_path: Path) -> None:
    """With the lock held (as a purge holds it) a publish is queued, not staged at once."""
    async with jetstream_broker(tmp_path) as (broker, js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await _create(nc, {"name": "S", "subjects": ["s.>"]})
            await _acks(nc, [("s.a", b"first", None)])
            stream = next(iter(js.accounts.values())).streams["S"]
            (ingest,) = [sub for sub, _ in js.accounts["$G"]._ingest["S"]]
            delivered = ingest.owner.out_msgs
            async with stream.lock:
                pending = asyncio.ensure_future(_acks(nc, [("s.a", b"second", None)]))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + HANG
                while ingest.owner.out_msgs == delivered and loop.time() < deadline:
                    await asyncio.sleep(0.001)
                assert ingest.owner.out_msgs == delivered + 1  # it arrived...
                assert stream.store.state().last_seq == 1  # ...and waits behind the lock
            (ack,) = await pending
            assert ack["seq"] == 2
        finally:
            await nc.close()


async def test_kv_puts_keep_their_history(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            kv = await nc.jetstream().create_key_value(bucket="b", history=2)
            for i in range(5):
                assert await kv.put("k", b"%d" % i) == i + 1
            entries = await kv.history("k")
            assert [(e.revision, e.value) for e in entries] == [(4, b"3"), (5, b"4")]
        finally:
            await nc.close()


async def test_a_store_with_limits_checks_each_message_on_the_direct_path(tmp_path: Path) -> None:
    """``max_msgs`` with ``discard: new``: not batchable, so message by message, at once."""
    async with jetstream_broker(tmp_path) as (broker, js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await _create(nc, {"name": "S", "subjects": ["s.>"], "max_msgs": 3, "discard": "new"})
            stream = next(iter(js.accounts.values())).streams["S"]
            assert not stream._plain_runs()
            acks = await _acks(nc, [("s.a", b"%d" % i, None) for i in range(5)])
            assert [a.get("seq") for a in acks[:3]] == [1, 2, 3]
            assert [a["error"]["err_code"] for a in acks[3:]] == [10077, 10077]
            assert stream.store.state().messages == 3
        finally:
            await nc.close()
