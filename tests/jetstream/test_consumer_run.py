"""A pull round's run of new messages (``consumer_run.pull_run``) against the general path.

Two consumers of one stream get the same requests: one with runs, one with runs turned
off (every message through ``_deliver``).  What their clients see — frames, ack subjects
(the consumer's name aside), status replies — and their CONSUMER.INFO counts must match,
over file and memory stores, ack none and explicit, headers, a filter, interior deletes,
``max_ack_pending`` and messages read back from disk.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from natskern.kernel.jetstream import consumer_delivery, consumer_run
from natskern.plugins.storage.filelog import memcache

from tests.jetstream.test_api_e2e import jetstream_broker

BATCHES = [1, 7, 64, 300, 3, 256, 500]


async def _pull(nc: nats.NATS, consumer: str, batch: int, ack: bool) -> list[tuple]:
    """One no-wait request of ``batch``; every frame until the batch is full or a status."""
    inbox = nc.new_inbox()
    got: list[tuple] = []
    done = asyncio.Event()

    async def on_msg(m: nats.aio.msg.Msg) -> None:
        status = m.headers.get("Status") if m.headers else None
        subject = "<inbox>" if status else m.subject  # (each request has its own)
        got.append((subject, m.reply.replace(consumer, "C"), m.headers, m.data))
        if ack and not status:
            await nc.publish(m.reply, b"+ACK")
        if status or sum(1 for g in got if g[1]) >= batch:
            done.set()

    sub = await nc.subscribe(inbox, cb=on_msg)
    body = json.dumps({"batch": batch, "no_wait": True}).encode()
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.S.{consumer}", body, reply=inbox)
    await asyncio.wait_for(done.wait(), 10)
    await nc.flush()
    await sub.unsubscribe()
    return got


def _info(info: object) -> tuple:
    return (
        info.delivered.consumer_seq,  # type: ignore[attr-defined]
        info.delivered.stream_seq,  # type: ignore[attr-defined]
        info.ack_floor.consumer_seq,  # type: ignore[attr-defined]
        info.ack_floor.stream_seq,  # type: ignore[attr-defined]
        info.num_pending,  # type: ignore[attr-defined]
        info.num_ack_pending,  # type: ignore[attr-defined]
        info.num_waiting,  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("storage", ["file", "memory"])
@pytest.mark.parametrize(
    ("ack", "filt", "max_ack"),
    [(False, None, -1), (True, None, 200), (True, "s.1", -1), (False, "s.*", -1)],
)
async def test_runs_deliver_what_the_general_path_delivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, ack: bool, filt, max_ack
) -> None:
    monkeypatch.setattr(memcache, "RECENT_BYTES", 16 << 10)  # most reads come from the disk
    runs = 0
    real = consumer_run.pull_run

    def counting(*args: object) -> int:
        nonlocal runs
        n = real(*args)  # type: ignore[arg-type]
        runs += n > 0
        return n

    monkeypatch.setattr(consumer_delivery, "pull_run", counting)
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"], storage=storage))
            js = nc.jetstream()
            for i in range(900):
                hdrs = {"K": str(i)} if i % 4 == 0 else None
                await js.publish(f"s.{i % 3}", b"m%d" % i, headers=hdrs)
            for seq in (5, 6, 7, 400, 899):
                await nc.jsm().delete_msg("S", seq)
            policy = AckPolicy.EXPLICIT if ack else AckPolicy.NONE
            seen: dict[str, list] = {}
            for name, lane in (("fast", True), ("slow", False)):
                cfg = ConsumerConfig(
                    durable_name=name,
                    ack_policy=policy,
                    max_ack_pending=max_ack,
                    filter_subject=filt,
                )
                await nc.jsm().add_consumer("S", cfg)
                if not lane:
                    monkeypatch.setattr(consumer_delivery, "run_target", lambda *a: None)
                frames = [await _pull(nc, name, b, ack) for b in BATCHES]
                await nc.flush()
                await asyncio.sleep(0.05)  # the acks recorded
                seen[name] = [frames, _info(await js.consumer_info("S", name))]
            assert seen["fast"] == seen["slow"]
            assert runs > 0
            assert sum(len(f) for f in seen["fast"][0]) > 300
        finally:
            await nc.close()


async def _push_collect(nc: nats.NATS, subject: str, consumer: str, want: int, ack: bool) -> list:
    """Every frame a push consumer sends to ``subject`` until ``want`` messages arrived;
    flow-control requests are answered (and recorded where they came)."""
    got: list = []
    count = 0
    done = asyncio.Event()

    async def on_msg(m: nats.aio.msg.Msg) -> None:
        nonlocal count
        if m.reply.startswith("$JS.FC."):
            got.append("flow control")
            await nc.publish(m.reply, b"")
            return
        if m.headers and m.headers.get("Status"):
            return  # (idle heartbeats: a matter of timing)
        got.append((m.subject, m.reply.replace(consumer, "C"), m.headers, m.data))
        if ack:
            await nc.publish(m.reply, b"+ACK")
        count += 1
        if count >= want:
            done.set()

    sub = await nc.subscribe(subject, cb=on_msg)
    await asyncio.wait_for(done.wait(), 20)
    await nc.flush()
    await asyncio.sleep(0.05)  # the acks recorded
    await sub.unsubscribe()
    return got


@pytest.mark.parametrize("storage", ["file", "memory"])
@pytest.mark.parametrize("ack", [False, True])
async def test_push_runs_deliver_what_the_general_path_delivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, ack: bool
) -> None:
    """Push runs stop where flow control is due: the requests come after the same messages."""
    monkeypatch.setattr(memcache, "RECENT_BYTES", 64 << 10)  # most reads come from the disk
    runs = 0
    real = consumer_run.deliver_run

    def counting(*args: object) -> tuple[int, int]:
        nonlocal runs
        n, size = real(*args)  # type: ignore[arg-type]
        runs += n > 0
        return n, size

    monkeypatch.setattr(consumer_delivery, "deliver_run", counting)
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await nc.jsm().add_stream(StreamConfig(name="S", subjects=["s.>"], storage=storage))
            js = nc.jetstream()
            for i in range(1200):  # 1200 x ~5 KB: flow control falls due inside runs
                hdrs = {"K": str(i)} if i % 4 == 0 else None
                await js.publish(f"s.{i % 3}", b"m%d" % i + b"x" * (4000 + i), headers=hdrs)
            for seq in (5, 6, 7, 400, 1199):
                await nc.jsm().delete_msg("S", seq)
            policy = AckPolicy.EXPLICIT if ack else AckPolicy.NONE
            seen: dict[str, list] = {}
            for name, lane in (("fast", True), ("slow", False)):
                if not lane:
                    monkeypatch.setattr(consumer_delivery, "push_target", lambda *a: None)
                cfg = ConsumerConfig(
                    durable_name=name,
                    ack_policy=policy,
                    deliver_subject=f"dlv.{name}",
                    flow_control=True,
                    idle_heartbeat=5.0,
                    max_ack_pending=-1,
                )
                await nc.jsm().add_consumer("S", cfg)
                frames = await _push_collect(nc, f"dlv.{name}", name, 1195, ack)
                seen[name] = [frames, _info(await js.consumer_info("S", name))]
            assert seen["fast"] == seen["slow"]
            assert runs > 0
            assert seen["fast"][0].count("flow control") >= 2
        finally:
            await nc.close()
