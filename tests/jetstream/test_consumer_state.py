"""Consumer state through a real natskern broker: restart, retention, limits, num_pending.

Each test drives nats-py against natskern with real (short) durations; waits are for
events with generous timeouts, never for timing to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from tests.jetstream.test_api_e2e import jetstream_broker


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("storage", ["file", "memory"])
async def test_durable_state_survives_restart(tmp_path: Path, storage: str) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"], storage=storage))
        for i in range(6):
            await js.publish("s.a", b"%d" % i)
        sub = await js.pull_subscribe("s.>", durable="d", config=ConsumerConfig(ack_wait=30))
        msgs = await sub.fetch(4, timeout=5)
        for m in msgs[:2]:
            await m.ack_sync()
        await msgs[3].ack_sync()  # 3 stays pending
        before = await js.consumer_info("S", "d")
        await nc.close()
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        if storage == "memory":
            with pytest.raises(nats.js.errors.NotFoundError):
                await js.consumer_info("S", "d")
            await nc.close()
            return
        after = await js.consumer_info("S", "d")
        for a, b in ((after.delivered, before.delivered), (after.ack_floor, before.ack_floor)):
            assert (a.consumer_seq, a.stream_seq) == (b.consumer_seq, b.stream_seq)
        assert after.num_ack_pending == 1 and after.num_pending == 2
        sub = await js.pull_subscribe("s.>", durable="d")
        rest = await sub.fetch(2, timeout=5)
        assert [m.metadata.sequence.stream for m in rest] == [5, 6]
        await nc.close()


async def test_ack_none_state_survives_restart_with_nothing_pending(tmp_path: Path) -> None:
    """AckNone keeps no pending entries, before and after a restart (nats-server's rule)."""
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"]))
        for i in range(600):
            await js.publish("s.a", b"%d" % i)
        cfg = ConsumerConfig(ack_policy=AckPolicy.NONE)
        sub = await js.pull_subscribe("s.>", durable="n", config=cfg)
        got = await sub.fetch(300, timeout=5)
        got += await sub.fetch(200, timeout=5)
        assert len(got) == 500
        before = await js.consumer_info("S", "n")
        assert before.num_ack_pending == 0 and before.ack_floor.stream_seq == 500
        await nc.close()
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        after = await js.consumer_info("S", "n")
        assert (after.delivered.consumer_seq, after.delivered.stream_seq) == (500, 500)
        assert (after.ack_floor.consumer_seq, after.ack_floor.stream_seq) == (500, 500)
        assert after.num_ack_pending == 0 and after.num_pending == 100
        sub = await js.pull_subscribe("s.>", durable="n")
        rest = await sub.fetch(100, timeout=5)
        assert [m.metadata.sequence.stream for m in rest] == list(range(501, 601))
        await nc.close()


async def test_workqueue_removes_acked(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js, jsm = nc.jetstream(), nc.jsm()
        await jsm.add_stream(StreamConfig(name="W", subjects=["w.>"], retention="workqueue"))
        for i in range(4):
            await js.publish("w.x", b"%d" % i)
        sub = await js.pull_subscribe("w.>", durable="wq")
        msgs = await sub.fetch(4, timeout=5)
        for m in msgs[:3]:
            await m.ack_sync()

        async def drained() -> bool:
            return (await jsm.stream_info("W")).state.messages == 1

        await _eventually(drained)
        resp = await nc.request(
            "$JS.API.CONSUMER.CREATE.W.other",
            json.dumps(
                {"stream_name": "W", "config": {"name": "other", "ack_policy": "explicit"}}
            ).encode(),
            timeout=5,
        )
        assert json.loads(resp.data)["error"]["err_code"] == 10099
        await nc.close()


async def test_interest_retention(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js, jsm = nc.jetstream(), nc.jsm()
        await jsm.add_stream(StreamConfig(name="I", subjects=["i.>"], retention="interest"))
        await js.publish("i.x", b"nobody")  # no consumer: not stored
        assert (await jsm.stream_info("I")).state.messages == 0
        a = await js.pull_subscribe("i.>", durable="a")
        b = await js.pull_subscribe("i.>", durable="b")
        await js.publish("i.x", b"both")
        assert (await jsm.stream_info("I")).state.messages == 1
        (ma,) = await a.fetch(1, timeout=5)
        await ma.ack_sync()
        assert (await jsm.stream_info("I")).state.messages == 1
        (mb,) = await b.fetch(1, timeout=5)
        await mb.ack_sync()

        async def gone() -> bool:
            return (await jsm.stream_info("I")).state.messages == 0

        await _eventually(gone)
        await js.publish("i.x", b"for a and b")
        await js.publish("i.x", b"again")
        (ma,) = await a.fetch(1, timeout=5)
        await ma.ack_sync()
        assert (await jsm.stream_info("I")).state.messages == 2
        await jsm.delete_consumer("I", "b")  # a still needs the second one
        assert (await jsm.stream_info("I")).state.messages == 1
        await jsm.delete_consumer("I", "a")
        assert (await jsm.stream_info("I")).state.messages == 0
        await js.pull_subscribe("i.a", durable="only_a")
        await js.publish("i.b", b"no filter matches")  # not stored, a sequence is used
        ack = await js.publish("i.a", b"kept")
        info = await jsm.stream_info("I")
        assert info.state.messages == 1 and info.state.last_seq == ack.seq
        await nc.close()


async def test_ephemeral_removed_after_inactive_threshold(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        jsm = nc.jsm()
        await jsm.add_stream(StreamConfig(name="S", subjects=["s.>"]))
        info = await jsm.add_consumer("S", ConsumerConfig(inactive_threshold=0.3))
        assert info.config.inactive_threshold == 0.3

        async def removed() -> bool:
            return not (await jsm.consumers_info("S"))

        await _eventually(removed)
        await nc.close()


async def test_max_ack_pending_pauses_delivery(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"]))
        for i in range(5):
            await js.publish("s.a", b"%d" % i)
        sub = await js.pull_subscribe("s.>", durable="m", config=ConsumerConfig(max_ack_pending=2))
        first = await sub.fetch(5, timeout=1)
        assert len(first) == 2
        await first[0].ack_sync()
        more = await sub.fetch(5, timeout=1)
        assert [m.metadata.sequence.stream for m in more] == [3]
        await nc.close()


async def test_headers_only_and_deliver_group(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"]))
        await js.publish("s.a", b"hello", headers={"X": "1"})
        sub = await js.pull_subscribe("s.>", durable="h", config=ConsumerConfig(headers_only=True))
        (m,) = await sub.fetch(1, timeout=5)
        assert m.data == b"" and m.headers["Nats-Msg-Size"] == "5" and m.headers["X"] == "1"
        got: list[bytes] = []
        q1 = await js.subscribe("s.>", queue="workers")
        q2 = await js.subscribe("s.>", queue="workers")
        for i in range(10):
            await js.publish("s.b", b"%d" % i)
        want = sorted([b"hello"] + [b"%d" % i for i in range(10)])
        # Until every message has come to one member or other (a deadline, not a quiet spell,
        # ends the wait: a loaded machine delivers late), then whatever else is already queued.
        deadline = asyncio.get_running_loop().time() + 20
        while len(got) < len(want) and asyncio.get_running_loop().time() < deadline:
            for q in (q1, q2):
                with contextlib.suppress(nats.errors.TimeoutError):
                    got.append((await q.next_msg(timeout=0.1)).data)
        for q in (q1, q2):
            while q.pending_msgs:
                got.append((await q.next_msg(timeout=1)).data)
        assert sorted(got) == want
        await nc.close()


async def test_num_pending_matches_naive_recount(tmp_path: Path) -> None:
    """Random publish/ack/delete/purge against a filtered consumer vs a recount of the stream."""
    rng = random.Random(7)
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js, jsm = nc.jetstream(), nc.jsm()
        await jsm.add_stream(StreamConfig(name="S", subjects=["s.>"], max_msgs_per_subject=20))
        sub = await js.pull_subscribe(
            "s.a.*", durable="p", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
        )
        stored: dict[int, str] = {}
        delivered_to = 0
        for step in range(120):
            op = rng.random()
            if op < 0.55:
                subj = rng.choice(["s.a.1", "s.a.2", "s.b.1"])
                ack = await js.publish(subj, b"x")
                stored[ack.seq] = subj
                same = sorted(s for s, v in stored.items() if v == subj)
                for old in same[:-20]:
                    del stored[old]
            elif op < 0.75:
                try:
                    msgs = await sub.fetch(rng.randint(1, 3), timeout=0.2)
                except nats.errors.TimeoutError:
                    msgs = []
                for m in msgs:
                    delivered_to = max(delivered_to, m.metadata.sequence.stream)
                    await m.ack()
            elif op < 0.9 and stored:
                seq = rng.choice(sorted(stored))
                await jsm.delete_msg("S", seq)
                del stored[seq]
            elif op < 0.95:
                await jsm.purge_stream("S", subject="s.a.2")
                stored = {s: v for s, v in stored.items() if v != "s.a.2"}
            else:
                await jsm.purge_stream("S")
                stored.clear()
            info = await js.consumer_info("S", "p")
            start = info.delivered.stream_seq
            naive = sum(1 for s, v in stored.items() if s > start and v.startswith("s.a."))
            assert info.num_pending == naive, f"step {step}"
        await nc.close()


async def test_backoff_redelivery_up_to_max_deliver(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"]))
        await js.publish("s.a", b"x")
        cfg = ConsumerConfig(backoff=[0.1, 0.3], max_deliver=3)
        sub = await js.pull_subscribe("s.>", durable="b", config=cfg)
        info = await js.consumer_info("S", "b")
        assert info.config.ack_wait == 0.1
        counts = []
        for _ in range(3):
            (m,) = await sub.fetch(1, timeout=5)
            counts.append(m.metadata.num_delivered)
        assert counts == [1, 2, 3]
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(1, timeout=1)
        info = await js.consumer_info("S", "b")
        assert info.num_ack_pending == 0 and info.num_redelivered == 1
        await nc.close()


async def test_replay_original_and_start_time(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js, jsm = nc.jetstream(), nc.jsm()
        await jsm.add_stream(StreamConfig(name="S", subjects=["s.>"]))
        await js.publish("s.a", b"0")
        await asyncio.sleep(0.3)
        await js.publish("s.a", b"1")
        msg2 = await jsm.get_msg("S", 2)
        await js.publish("s.a", b"2")
        # by_start_time: the first message not older than the given time
        resp = await nc.request(
            "$JS.API.CONSUMER.CREATE.S.t",
            json.dumps(
                {
                    "stream_name": "S",
                    "config": {
                        "name": "t",
                        "deliver_policy": "by_start_time",
                        "opt_start_time": msg2.time.isoformat().replace("+00:00", "Z"),
                    },
                }
            ).encode(),
            timeout=5,
        )
        created = json.loads(resp.data)
        assert created["num_pending"] == 2 and created["delivered"]["stream_seq"] == 1, created
        # replay original: the gap between the first two messages is kept
        sub = await js.subscribe(
            "s.>", ordered_consumer=True, config=ConsumerConfig(replay_policy="original")
        )
        loop = asyncio.get_running_loop()
        first = await sub.next_msg(timeout=5)
        t0 = loop.time()
        second = await sub.next_msg(timeout=5)
        assert (first.data, second.data) == (b"0", b"1")
        assert loop.time() - t0 >= 0.2
        await nc.close()
