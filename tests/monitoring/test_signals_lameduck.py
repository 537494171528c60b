"""Lame-duck mode: announce with ``"ldm": true``, stop accepting, close everyone, stop.

In-process tests drive :func:`natskern.kernel.lameduck.enter_lame_duck` on a broker in the
test's loop with nats-py clients; one test sends SIGUSR2 to a natskern-server
process.  Waits are on events (callbacks, closes); deadlines only guard hangs.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import TYPE_CHECKING

import nats
import pytest
from natskern.kernel.lameduck import close_interval, enter_lame_duck

from tests.support.servers import natskern, raw_connect

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.monitoring.conftest import ServerProcess

SHORT = {"server": {"lame_duck_duration": 0.3, "lame_duck_grace_period": 0.05}}


@pytest.mark.parametrize(
    ("duration", "grace", "clients", "expected"),
    [
        (120, 10, 10, 1.0),  # capped at one second
        (30, 10, 40, 0.5),
        (5, 10, 2, 0.5),  # nothing left after the grace: one second is spread
        (0.3, 0.05, 5, 0.05),
    ],
)
def test_close_interval_spreads_the_remaining_time(
    duration: float, grace: float, clients: int, expected: float
) -> None:
    assert close_interval(duration, grace, clients) == pytest.approx(expected)


async def test_nats_py_clients_get_the_lame_duck_callback_then_are_closed() -> None:
    async with natskern(SHORT) as broker:
        url = broker.listen_urls[0]
        events: list[tuple[str, int]] = []
        closed = [asyncio.Event() for _ in range(3)]
        clients = []
        for i in range(3):

            async def ldm(i: int = i) -> None:
                events.append(("ldm", i))

            async def disconnected(i: int = i) -> None:
                events.append(("disconnected", i))
                closed[i].set()

            clients.append(
                await nats.connect(
                    url,
                    lame_duck_mode_cb=ldm,
                    disconnected_cb=disconnected,
                    allow_reconnect=False,
                )
            )
        task = asyncio.ensure_future(enter_lame_duck(broker))
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in closed)), 10)
        await asyncio.wait_for(task, 10)
        assert broker.lame_duck
        assert not broker.clients
        assert broker.listen_urls == []  # listeners closed
        # every client heard about lame-duck mode before it was disconnected
        for i in range(3):
            assert events.index(("ldm", i)) < events.index(("disconnected", i))
        await asyncio.wait_for(broker.serve_forever(), 10)  # the broker stopped
        for nc in clients:
            await nc.close()


async def test_ldm_info_is_sent_only_to_protocol_1_clients() -> None:
    config = {"server": {"lame_duck_duration": 30, "lame_duck_grace_period": 30}}
    async with natskern(config) as broker:
        url = broker.listen_urls[0]
        readers = {}
        for proto in (0, 1):
            reader, writer = await raw_connect(url)
            await reader.readline()
            writer.write(b'CONNECT {"verbose":false,"protocol":%d}\r\nPING\r\n' % proto)
            assert await reader.readline() == b"PONG\r\n"
            readers[proto] = (reader, writer)
        task = asyncio.ensure_future(enter_lame_duck(broker))
        line = await asyncio.wait_for(readers[1][0].readline(), 10)
        assert line.startswith(b"INFO ")
        info = json.loads(line[5:])
        assert info["ldm"] is True and info["client_id"] >= 1
        # The protocol-0 client is told nothing: the next thing it sees is our PONG.
        readers[0][1].write(b"PING\r\n")
        assert await asyncio.wait_for(readers[0][0].readline(), 10) == b"PONG\r\n"
        # No new client gets in any more.
        with pytest.raises(OSError):
            await raw_connect(url)
        task.cancel()
        for _, writer in readers.values():
            writer.close()


async def test_without_clients_the_broker_stops_at_once() -> None:
    config = {"server": {"lame_duck_duration": 3600, "lame_duck_grace_period": 3600}}
    async with natskern(config) as broker:
        await asyncio.wait_for(enter_lame_duck(broker), 10)  # no hour-long grace wait
        await asyncio.wait_for(broker.serve_forever(), 10)


async def test_sigusr2_puts_natskern_server_in_lame_duck_mode(
    natskern_server: Callable[..., ServerProcess],
) -> None:
    server = natskern_server(
        "listen: 127.0.0.1:{port}\nlame_duck_duration: 30s\nlame_duck_grace_period: 50ms\n"
    )
    told = asyncio.Event()
    gone = asyncio.Event()

    async def ldm() -> None:
        told.set()

    async def disconnected() -> None:
        gone.set()

    nc = await nats.connect(
        server.url, lame_duck_mode_cb=ldm, disconnected_cb=disconnected, allow_reconnect=False
    )
    server.proc.send_signal(signal.SIGUSR2)
    await asyncio.wait_for(told.wait(), 10)
    await asyncio.wait_for(gone.wait(), 10)
    assert await asyncio.to_thread(server.wait_exit) == 0
    log = server.log.read_text()
    assert "Entering lame duck mode, stop accepting new clients" in log
    assert log.index("Closing existing clients") < log.index("Server Exiting..")
    await nc.close()
