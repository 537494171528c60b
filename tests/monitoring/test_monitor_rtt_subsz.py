"""``/connz`` ``rtt`` and ``/subsz`` ``num_cache``/``max_fanout`` carry real values.

``rtt``: estimated at CONNECT as nats-server does (accept to CONNECT), then
replaced by the PING-to-PONG time of the server's own PINGs.  ``/subsz``: a
subject counts as cached from its first match, as in nats-server (whose
sublist caches on the first match), with its current fan-out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import nats

from tests.monitoring.conftest import monitored_broker
from tests.support.servers import raw_connect

if TYPE_CHECKING:
    from tests.monitoring.conftest import Http

DEADLINE = 10.0  # only stops a broken run from hanging


async def test_rtt_is_set_at_connect_and_then_measured_from_the_servers_ping(http: Http) -> None:
    async with monitored_broker() as m:
        m.broker.first_ping_delay = 0.0  # the first PING goes out at once
        reader, writer = await raw_connect(m.nats_url)
        await asyncio.wait_for(reader.readline(), DEADLINE)  # INFO
        writer.write(b'CONNECT {"verbose":false,"lang":"raw"}\r\n')
        assert await asyncio.wait_for(reader.readline(), DEADLINE) == b"PING\r\n"
        (session,) = m.broker.clients.values()
        estimate = session.rtt
        assert estimate > 0  # the CONNECT-time estimate, before any PONG
        conn = (await http(m.monitor_url, "/connz")).json()["connections"][0]
        assert conn["rtt"] != "0s"
        writer.write(b"PONG\r\nPING\r\n")  # answers the server's PING
        assert await asyncio.wait_for(reader.readline(), DEADLINE) == b"PONG\r\n"
        assert session.pings_out == 0
        assert session.rtt > 0 and session.rtt != estimate  # measured PING -> PONG
        writer.close()


async def test_nats_py_sees_a_nonzero_rtt_in_its_first_connz(http: Http) -> None:
    async with monitored_broker() as m:
        nc = await nats.connect(m.nats_url, name="first")
        await nc.flush()
        conn = (await http(m.monitor_url, "/connz")).json()["connections"][0]
        assert conn["rtt"] != "0s"
        await nc.close()


async def test_subsz_counts_each_subject_matched_once_with_its_fanout(http: Http) -> None:
    async with monitored_broker() as m:
        subs = await nats.connect(m.nats_url)
        for subject in ("foo", "foo", "foo.*", "bar"):
            await subs.subscribe(subject)
        await subs.subscribe("foo", queue="q")
        await subs.subscribe("foo", queue="q")
        await subs.flush()
        pub = await nats.connect(m.nats_url)
        for subject in ("foo", "bar", "none"):  # each published once
            await pub.publish(subject, b"x")
        await pub.flush()
        await subs.flush()
        stats = (await http(m.monitor_url, "/subsz")).json()
        assert stats["num_cache"] == 3
        assert stats["max_fanout"] == 3  # foo: two plain subscriptions and one queue group
        assert stats["avg_fanout"] == (3 + 1 + 0) / 3
        await pub.close()
        await subs.close()
