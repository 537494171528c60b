"""Response routes of service imports in natskern: consumed, discarded, expired, swept."""

from __future__ import annotations

import asyncio

import pytest
from natskern.kernel.core.imports import (
    DEFAULT_RESPONSE_THRESHOLD,
    MAX_HOPS,
    Imports,
    ResponseTable,
    stamp_request_info,
)
from natskern.plugins.accounts.plugin import imports_of

from natskern import Broker

CONFIG = {
    "accounts": {
        "A": {
            "exports": [
                {"service": "svc.>"},
                {"service": "st.>", "response_type": "stream", "response_threshold": 5.0},
            ]
        },
        "B": {
            "imports": [
                {"service": {"account": "A", "subject": "svc.>"}, "to": "local.>"},
                {"service": {"account": "A", "subject": "st.>"}},
            ]
        },
    }
}


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def wired() -> tuple[Broker, Imports, Clock]:
    broker = Broker(CONFIG)
    imports = imports_of(broker)
    assert imports is not None
    clock = Clock()
    imports.clock = clock
    return broker, imports, clock


async def test_single_route_lives_until_the_response(wired) -> None:
    broker, imports, _ = wired
    a, b = broker.connect(account="A"), broker.connect(account="B")
    requests = await a.subscribe("svc.>")
    pending = asyncio.ensure_future(b.request("local.x", b"q", timeout=5))
    msg = await requests.next_msg(timeout=5)
    table = imports.tables["A"]
    assert msg.subject == "svc.x" and msg.reply.encode().startswith(table.prefix)
    assert len(table) == 1
    await msg.respond(b"done")
    assert (await pending).data == b"done"
    assert len(table) == 0
    await a.close()
    await b.close()


async def test_stream_route_expires_after_the_threshold(wired) -> None:
    broker, imports, clock = wired
    a, b = broker.connect(account="A"), broker.connect(account="B")
    requests = await a.subscribe("st.>")
    replies = await b.subscribe("inbox.1")
    await b.publish("st.feed", b"q", reply="inbox.1")
    reply = (await requests.next_msg(timeout=5)).reply
    table = imports.tables["A"]
    await a.publish(reply, b"1")
    clock.now += 4.9
    await a.publish(reply, b"2")
    assert [(await replies.next_msg(timeout=5)).data for _ in range(2)] == [b"1", b"2"]
    clock.now += 0.2  # past the export's 5 s threshold
    await a.publish(reply, b"late")
    assert replies.queue.empty()
    assert len(table) == 0
    await a.close()
    await b.close()


async def test_sweep_drops_expired_routes_only(wired) -> None:
    broker, imports, clock = wired
    table = imports.tables["A"]
    requester = broker.get_account("B")
    old = table.add(requester, b"inbox.old", True, DEFAULT_RESPONSE_THRESHOLD)
    clock.now += 60
    new = table.add(requester, b"inbox.new", True, DEFAULT_RESPONSE_THRESHOLD)
    clock.now += DEFAULT_RESPONSE_THRESHOLD - 30
    assert table.sweep() == 1
    assert set(table.routes) == {new}
    assert old != new and old.startswith(table.prefix)
    clock.now += 60
    table._on_timer()  # what the sweep timer runs
    assert len(table) == 0


async def test_response_to_an_unknown_route_goes_nowhere(wired) -> None:
    broker, imports, _ = wired
    a, b = broker.connect(account="A"), broker.connect(account="B")
    everything = await b.subscribe(">")
    table: ResponseTable = imports.tables["A"]
    await a.publish((table.prefix + b"made.up").decode(), b"forged")
    assert everything.queue.empty()
    await a.close()
    await b.close()


async def test_timers_are_stopped_with_the_broker() -> None:
    config = {**CONFIG, "tcp": {"host": "127.0.0.1", "port": 0}}
    async with Broker(config) as broker:
        imports = imports_of(broker)
        assert imports is not None
        table = imports.tables["A"]
        table.add(broker.get_account("B"), b"inbox.x", True, 60.0)
        assert table._timer is not None
    assert table._timer is None


def test_hops_are_bounded() -> None:
    broker = Broker(CONFIG)
    imports = imports_of(broker)
    assert imports is not None
    [service, _] = imports.services
    imports.hops = MAX_HOPS
    assert service.deliver(b"local.x", b"", None, b"") is False
    imports.hops = 0


@pytest.mark.parametrize(
    ("hdr", "expected"),
    [
        (None, b"NATS/1.0\r\nI: 1\r\n\r\n"),
        (b"NATS/1.0\r\nX: 1\r\n\r\n", b"NATS/1.0\r\nX: 1\r\nI: 1\r\n\r\n"),
        (b"NATS/1.0 503\r\n\r\n", b"NATS/1.0 503\r\nI: 1\r\n\r\n"),
        (
            b"NATS/1.0\r\nNats-Request-Info: forged\r\nY: 2\r\n\r\n",
            b"NATS/1.0\r\nY: 2\r\nI: 1\r\n\r\n",
        ),
    ],
)
def test_request_info_replaces_what_the_client_sent(hdr: bytes | None, expected: bytes) -> None:
    assert stamp_request_info(hdr, b"I: 1\r\n") == expected


def test_request_info_of_a_chained_hop_keeps_the_requester() -> None:
    hdr = b'NATS/1.0\r\nNats-Request-Info: {"acc":"C"}\r\n\r\n'
    stamped = stamp_request_info(hdr, b"ignored\r\n", "B")
    assert stamped == b'NATS/1.0\r\nNats-Request-Info: {"acc":"C","svc":"B"}\r\n\r\n'
