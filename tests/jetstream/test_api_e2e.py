"""The stream API and the publish path end to end: nats-py's ``js``/``jsm`` against natskern."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from natskern.kernel.jetstream.engine import JetStream, JetStreamSettings

from natskern import Broker
from tests.support.servers import natskern


@contextlib.asynccontextmanager
async def jetstream_broker(
    store: Path, domain: str = ""
) -> AsyncIterator[tuple[Broker, JetStream]]:
    async with natskern() as broker:
        settings = JetStreamSettings(
            store_dir=str(store),
            storage=broker.storage_backends.as_dict(),
            functions=broker.mapping_functions.as_dict(),
            server_name=broker.server_name,
            domain=domain,
        )
        async with JetStream(broker, settings) as js:
            yield broker, js


@pytest.fixture
async def js_url(tmp_path: Path) -> AsyncIterator[str]:
    async with jetstream_broker(tmp_path) as (broker, _):
        yield broker.listen_urls[0]


async def test_stream_lifecycle(js_url: str) -> None:
    nc = await nats.connect(js_url)
    try:
        js = nc.jetstream()
        jsm = nc.jsm()
        info = await jsm.add_stream(StreamConfig(name="ORDERS", subjects=["orders.>"]))
        assert info.config.name == "ORDERS" and info.state.messages == 0
        acks = [await js.publish("orders.new", b"%d" % i) for i in range(3)]
        assert [a.seq for a in acks] == [1, 2, 3] and acks[0].stream == "ORDERS"
        dup = await js.publish("orders.new", b"x", headers={"Nats-Msg-Id": "a"})
        again = await js.publish("orders.new", b"x", headers={"Nats-Msg-Id": "a"})
        assert again.duplicate and again.seq == dup.seq == 4
        info = await jsm.stream_info("ORDERS")
        assert info.state.messages == 4 and info.state.last_seq == 4
        msg = await jsm.get_msg("ORDERS", 2)
        assert msg.data == b"1" and msg.subject == "orders.new"
        last = await jsm.get_last_msg("ORDERS", "orders.new")
        assert last.seq == 4
        assert await jsm.delete_msg("ORDERS", 1)
        with pytest.raises(APIError) as info:
            await jsm.delete_msg("ORDERS", 1)
        assert info.value.err_code == 10057  # below the first sequence, as nats-server says
        assert await jsm.find_stream_name_by_subject("orders.x") == "ORDERS"
        names = [s.config.name for s in await jsm.streams_info()]
        assert names == ["ORDERS"]
        assert await jsm.purge_stream("ORDERS")
        info = await jsm.stream_info("ORDERS")
        assert info.state.messages == 0 and info.state.first_seq == 5
        info = await jsm.update_stream(
            StreamConfig(name="ORDERS", subjects=["orders.>", "o2"], max_msgs=10)
        )
        assert info.config.max_msgs == 10
        assert (await js.publish("o2", b"z")).seq == 5
        assert await jsm.delete_stream("ORDERS")
        with pytest.raises(NotFoundError):
            await jsm.stream_info("ORDERS")
        account = await jsm.account_info()
        assert account.streams == 0 and account.api.level == 1
    finally:
        await nc.close()


async def test_restart_keeps_streams(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep"])
        for i in range(3):
            await js.publish("keep", b"%d" % i, headers={"Nats-Msg-Id": f"m{i}"})
        await nc.close()
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        info = await js.stream_info("KEEP")
        assert info.state.messages == 3 and info.state.last_seq == 3
        again = await js.publish("keep", b"0", headers={"Nats-Msg-Id": "m0"})
        assert again.duplicate and again.seq == 1
        assert (await js.publish("keep", b"new")).seq == 4
        await nc.close()


async def test_enabled_by_config(tmp_path: Path) -> None:
    """The JetStream plugin runs the engine when ``jetstream.enabled`` (INFO says so)."""
    config = {"jetstream": {"enabled": True, "store_dir": str(tmp_path)}}
    async with natskern(config) as broker:
        assert broker.info()["jetstream"] is True
        nc = await nats.connect(broker.listen_urls[0])
        try:
            js = nc.jetstream()
            await js.add_stream(name="CFG", subjects=["cfg.>"], storage="memory")
            ack = await js.publish("cfg.a", b"x")
            assert (ack.stream, ack.seq) == ("CFG", 1)
        finally:
            await nc.close()
    assert (tmp_path / "jetstream" / "$G" / "streams" / "CFG" / "meta.json").exists()


async def test_key_value_without_consumers(js_url: str) -> None:
    """nats-py's KV front-end over natskern streams: create, put, get (direct), update, delete."""
    nc = await nats.connect(js_url)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="cfg", history=3)
        assert (await kv.put("a", b"1")) == 1
        assert (await kv.put("a", b"2")) == 2
        entry = await kv.get("a")
        assert (entry.value, entry.revision) == (b"2", 2)
        assert (await kv.update("a", b"3", last=2)) == 3
        with pytest.raises(KeyWrongLastSequenceError):
            await kv.update("a", b"4", last=2)
        assert (await kv.create("b", b"x")) == 4
        with pytest.raises(KeyWrongLastSequenceError):
            await kv.create("b", b"y")
        await kv.delete("b")
        with pytest.raises(KeyNotFoundError):
            await kv.get("b")
        assert (await kv.create("b", b"again")) == 6
        status = await kv.status()
        assert status.bucket == "cfg" and status.history == 3
    finally:
        await nc.close()


async def test_per_message_ttl_expires(js_url: str) -> None:
    """``Nats-TTL`` on a stream with ``allow_msg_ttl``: the message goes, the others stay."""
    nc = await nats.connect(js_url)
    try:
        jsm = nc.jsm()
        await jsm.add_stream(StreamConfig(name="T", subjects=["t"], allow_msg_ttl=True))
        js = nc.jetstream()
        await js.publish("t", b"short", headers={"Nats-TTL": "1s"})
        await js.publish("t", b"stays")
        for _ in range(300):
            if (await jsm.stream_info("T")).state.messages == 1:
                break
            await asyncio.sleep(0.02)
        info = await jsm.stream_info("T")
        assert (info.state.messages, info.state.first_seq) == (1, 2)
    finally:
        await nc.close()


async def test_marker_after_restart(tmp_path: Path) -> None:
    """A message stored before a restart still leaves its subject delete marker."""
    cfg = StreamConfig(name="MK", subjects=["m.>"], subject_delete_marker_ttl=1.0)
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        await nc.jsm().add_stream(cfg)
        await nc.jetstream().publish("m.a", b"short", headers={"Nats-TTL": "2s"})
        await nc.close()
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            jsm = nc.jsm()
            for _ in range(400):
                try:
                    last = await jsm.get_last_msg("MK", "m.a")
                except NotFoundError:  # expired, marker not written yet
                    last = None
                if last is not None and last.seq == 2:
                    break
                await asyncio.sleep(0.01)
            assert last is not None
            assert last.seq == 2 and last.headers is not None
            assert last.headers["Nats-Marker-Reason"] == "MaxAge"
        finally:
            await nc.close()


async def test_a_purge_forgets_the_purged_messages_expiry(tmp_path: Path) -> None:
    """A stream with markers tracks each message's expiry; a purge leaves none behind."""
    cfg = StreamConfig(
        name="PX", subjects=["p.>"], allow_msg_ttl=True, subject_delete_marker_ttl=60.0
    )
    async with jetstream_broker(tmp_path) as (broker, engine):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            js = nc.jetstream()
            await js.add_stream(cfg)
            for i in range(6):
                await js.publish(f"p.{i % 3}", b"x", headers={"Nats-TTL": "1h"})
            stream = next(iter(engine.accounts.values())).streams["PX"]
            assert sorted(stream._expiring) == [1, 2, 3, 4, 5, 6]
            await js.purge_stream("PX", subject="p.1")  # (seqs 2 and 5)
            assert sorted(stream._expiring) == [1, 3, 4, 6]
            await js.purge_stream("PX", seq=4)  # (below 4: 1 and 3)
            assert sorted(stream._expiring) == [4, 6]
            await js.publish("p.0", b"y", headers={"Nats-Rollup": "sub"})
            await js.purge_stream("PX")
            assert stream._expiring == {}
            info = await js.stream_info("PX")
            assert info.state.messages == 0
        finally:
            await nc.close()


async def test_concurrent_expected_last_sequence(js_url: str) -> None:
    """Writes in flight together: an expected-sequence check sees every write before it."""
    nc = await nats.connect(js_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="CAS", subjects=["cas.>"])

        async def attempt(i: int) -> int | None:
            try:
                headers = {"Nats-Expected-Last-Sequence": "0"} if i % 2 else None
                return (await js.publish(f"cas.{i}", b"x", headers=headers)).seq
            except APIError as err:
                assert err.err_code == 10071
                return None

        results = await asyncio.gather(*(attempt(i) for i in range(40)))
        stored = [r for r in results if r is not None]
        winners = [r for i, r in enumerate(results) if i % 2 and r is not None]
        assert len(winners) <= 1 and (not winners or winners[0] == 1)
        assert sorted(stored) == list(range(1, len(stored) + 1))
        assert (await js.stream_info("CAS")).state.messages == len(stored)
    finally:
        await nc.close()
