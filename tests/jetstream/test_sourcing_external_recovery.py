"""External sources that lose their origin's consumer, or find their origin late.

natskern in process with the two-account config of ``test_sourcing_external``; the health
check and the retry schedule are shortened (module settings of
:mod:`natskern.kernel.jetstream.sourcing_remote`) so the recreations happen within the
test.  Also: the ack subject forms a source reads, and a plain client in the importing
account receiving a push consumer's deliveries through the stream import (nats-server
shows the stored subject; the same check runs against nats-server 2.15.1).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from natskern.kernel.jetstream import sourcing_remote
from natskern.kernel.jetstream.sourcing_remote import parse_ack_reply, retry_delay

from tests.accounts.accounts_helpers import natskern_config
from tests.jetstream.test_account_limits_diff import _natskern_cmd
from tests.jetstream.test_restart import connect_when_ready
from tests.jetstream.test_sourcing_external import API_IMPORT, CONF, EXT, server
from tests.support.servers import NATS_SERVER_JS, free_port, natskern


def test_ack_reply_forms() -> None:
    assert parse_ack_reply(b"$JS.ACK.O.C1.1.7.3.1700000000000000000.12") == ("C1", 1, 7, 3, 12)
    v2 = b"$JS.ACK.hub.ACCHASH.O.C1.2.9.4.1700000000000000000.0.rnd"
    assert parse_ack_reply(v2) == ("C1", 2, 9, 4, 0)
    assert parse_ack_reply(b"$JS.ACK.O.C1.1.7.3.17") is None
    assert parse_ack_reply(b"_INBOX.x") is None
    assert parse_ack_reply(b"$JS.ACK.O.C1.x.7.3.1.0") is None


def test_retry_schedule_is_nats_servers() -> None:
    assert 0.1 <= retry_delay(0, 10.0) <= 0.2  # past the throttle: jitter only
    assert 1.1 <= retry_delay(0, 1.0) <= 1.2  # the 2 s throttle
    assert 10.1 <= retry_delay(1, 5.0) <= 10.2  # 5 s * 2 * fails
    assert 120.1 <= retry_delay(50, 5.0) <= 120.2  # at most 2 min


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sourcing_remote, "HEALTH_CHECK", 0.5)
    monkeypatch.setattr(sourcing_remote, "RETRY_THRESHOLD", 0.05)
    monkeypatch.setattr(sourcing_remote, "RETRY_BACKOFF", 0.05)


async def _info(nc: nats.NATS, name: str) -> dict[str, Any]:
    return json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)).data)


async def _api(nc: nats.NATS, subject: str, body: Any = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    return json.loads((await nc.request(f"$JS.API.{subject}", data, timeout=5)).data)


async def _until(nc: nats.NATS, name: str, messages: int) -> dict[str, Any]:
    for _ in range(1000):
        info = await _info(nc, name)
        if info["state"]["messages"] >= messages:
            return info
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never reached {messages}: {info}")


async def _payloads(nc: nats.NATS, name: str) -> list[bytes]:
    js = nc.jetstream()
    last = (await _info(nc, name))["state"]["last_seq"]
    return [(await js.get_msg(name, seq)).data for seq in range(1, last + 1)]


async def test_lost_consumer_and_late_origin(tmp_path: Path, quick: None) -> None:
    config = natskern_config(CONF.format(port=0, store=tmp_path, api_import=API_IMPORT))
    async with natskern(config) as broker:
        hostport = broker.listen_urls[0].removeprefix("nats://")
        a = await connect_when_ready(f"nats://a:a@{hostport}")
        b = await nats.connect(f"nats://b:b@{hostport}")
        ja = a.jetstream()
        await ja.add_stream(name="O", subjects=["o.>"])
        for i in range(3):
            await ja.publish("o.x", b"%d" % i)
        await _api(b, "STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O", "external": EXT}]})
        await _api(b, "STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O", "external": EXT}})
        await _until(b, "S", 3)
        await _until(b, "M", 3)
        # The origin's consumers go away: silence, then new ones from where each stopped.
        names = (await _api(a, "CONSUMER.NAMES.O"))["consumers"]
        assert len(names) == 2
        for name in names:
            assert (await _api(a, f"CONSUMER.DELETE.O.{name}"))["success"]
        for i in range(3, 5):
            await ja.publish("o.x", b"%d" % i)
        await _until(b, "S", 5)
        await _until(b, "M", 5)
        assert await _payloads(b, "S") == [b"0", b"1", b"2", b"3", b"4"]
        assert await _payloads(b, "M") == [b"0", b"1", b"2", b"3", b"4"]
        assert set((await _api(a, "CONSUMER.NAMES.O"))["consumers"]).isdisjoint(names)
        # A source of a stream that does not exist yet: its error, then its messages.
        await _api(
            b, "STREAM.CREATE.L", {"name": "L", "sources": [{"name": "LATE", "external": EXT}]}
        )
        for _ in range(500):
            source = (await _info(b, "L"))["sources"][0]
            if "error" in source:
                break
            await asyncio.sleep(0.01)
        assert source["error"]["err_code"] == 10059 and source["active"] == -1
        await ja.add_stream(name="LATE", subjects=["late"])
        await ja.publish("late", b"finally")
        info = await _until(b, "L", 1)
        assert "error" not in info["sources"][0] and info["sources"][0]["seq"] == 1
        # Deleting the sourcing stream also asks the origin to drop its consumer.
        await _api(b, "STREAM.DELETE.L")
        for _ in range(500):
            if not (await _api(a, "CONSUMER.NAMES.LATE"))["consumers"]:
                break
            await asyncio.sleep(0.01)
        assert (await _api(a, "CONSUMER.NAMES.LATE"))["consumers"] == []
        await a.close()
        await b.close()


async def _plain_push(hostport: str) -> list[tuple[str, str, bytes]]:
    """A push consumer of A delivering to a subject B imports: what B's client sees."""
    a = await connect_when_ready(f"nats://a:a@{hostport}")
    b = await nats.connect(f"nats://b:b@{hostport}")
    try:
        got: asyncio.Queue[Any] = asyncio.Queue()
        sub = await b.subscribe("deliver.b.plain", cb=got.put)
        await b.flush()
        ja = a.jetstream()
        await ja.add_stream(name="O", subjects=["o.>"])
        await ja.publish("o.one", b"1")
        await ja.publish("o.two", b"2", headers={"k": "v"})
        cfg = {"durable_name": "D", "deliver_subject": "deliver.b.plain", "ack_policy": "none"}
        answer = await _api(a, "CONSUMER.DURABLE.CREATE.O.D", {"stream_name": "O", "config": cfg})
        assert "error" not in answer, answer
        out = []
        for _ in range(2):
            msg = await asyncio.wait_for(got.get(), 5)
            out.append((msg.subject, msg.reply.split(".")[2], msg.data))
        await sub.unsubscribe()
        return out
    finally:
        await a.close()
        await b.close()


async def test_push_deliveries_through_a_stream_import_show_the_stored_subject(
    tmp_path: Path,
) -> None:
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    found = []
    for name, cmd in (("nats-server", [NATS_SERVER_JS]), ("natskern", _natskern_cmd())):
        port = free_port()
        conf = tmp_path / f"{name}.conf"
        conf.write_text(CONF.format(port=port, store=tmp_path / name, api_import=API_IMPORT))
        with server(cmd, conf, port) as hostport:
            found.append(await _plain_push(hostport))
    assert found[0] == found[1] == [("o.one", "O", b"1"), ("o.two", "O", b"2")]


async def test_restart_leaves_no_consumer_behind_and_recreated_origin_starts_over(
    tmp_path: Path, quick: None
) -> None:
    config = natskern_config(CONF.format(port=0, store=tmp_path, api_import=API_IMPORT))
    async with natskern(config) as broker:
        hostport = broker.listen_urls[0].removeprefix("nats://")
        a = await connect_when_ready(f"nats://a:a@{hostport}")
        b = await nats.connect(f"nats://b:b@{hostport}")
        await a.jetstream().add_stream(name="O", subjects=["o.>"])
        await a.jetstream().publish("o.x", b"old")
        await _api(b, "STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O", "external": EXT}]})
        await _until(b, "S", 1)
        assert len((await _api(a, "CONSUMER.NAMES.O"))["consumers"]) == 1
        await a.close()
        await b.close()
    async with natskern(config) as broker:
        hostport = broker.listen_urls[0].removeprefix("nats://")
        a = await connect_when_ready(f"nats://a:a@{hostport}")
        b = await nats.connect(f"nats://b:b@{hostport}")
        ja = a.jetstream()
        await ja.publish("o.x", b"after restart")
        await _until(b, "S", 2)
        # The consumer of before the restart was dropped when the broker stopped.
        assert len((await _api(a, "CONSUMER.NAMES.O"))["consumers"]) == 1
        # A new stream under the old name has another identity: copied from its start.
        await ja.delete_stream("O")
        await ja.add_stream(name="O", subjects=["o.>"])
        await ja.publish("o.x", b"new 1")
        await ja.publish("o.x", b"new 2")
        await _until(b, "S", 4)
        assert await _payloads(b, "S") == [b"old", b"after restart", b"new 1", b"new 2"]
        js = b.jetstream()
        headers = [(await js.get_msg("S", seq)).headers or {} for seq in (1, 3)]
        old, new = (h["Nats-Stream-Source"].split(" ") for h in headers)
        assert (old[1], new[1]) == ("1", "1") and old[5] != new[5]
        await a.close()
        await b.close()
