"""Differential tests of pull consumers: what a client sees from nats-server 2.15.1 and natskern.

Each scenario creates a stream and a consumer with raw API requests, publishes, then sends
``MSG.NEXT`` requests (and acks) and records every message that arrives on the request's
inbox: subject, status line, the ``Nats-Pending-*`` headers, the ack subject's tokens
(timestamp dropped), payload.  The same scenario runs against a real nats-server and a
natskern broker; the recordings and the final ``CONSUMER.INFO`` counts must be equal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.support.jsapi import api_past_flake

MS = 1_000_000
Scenario = Callable[["Driver"], Awaitable[None]]


class Driver:
    """Runs a scenario's steps on one server and records what comes back."""

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.log: list[Any] = []
        self.last: list[Msg] = []

    async def api(self, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        return await api_past_flake(self.nc, "$JS.API." + subject, data)

    async def setup(self, consumer: dict[str, Any], n: int = 0, **stream: Any) -> None:
        await self.api("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], **stream})
        resp = await self.api(
            "CONSUMER.CREATE.S.C", {"stream_name": "S", "config": {"name": "C", **consumer}}
        )
        assert "error" not in resp, resp
        for i in range(n):
            await self.pub(f"s.{i % 3}", b"m%d" % i)
        if n:
            await self.settle()

    async def settle(self) -> None:
        """Wait until the consumer's ``num_pending`` holds still: nats-server counts new
        messages for its consumers after the PubAck, so a pull right after the last publish
        could see its deliveries' pending counts one short (a flake under load)."""
        last = None
        for _ in range(40):
            info = await self.api("CONSUMER.INFO.S.C")
            if info.get("num_pending") == last:
                return
            last = info.get("num_pending")
            await asyncio.sleep(0.05)

    async def pending_reaches(self, count: int) -> None:
        """Wait until the consumer counts ``count`` pending messages (nats-server counts a new
        message for its consumers after the PubAck: a ``no_wait`` pull right after the publish
        could get a 404 there, a flake under load)."""
        for _ in range(100):
            if (await self.api("CONSUMER.INFO.S.C")).get("num_pending") == count:
                return
            await asyncio.sleep(0.02)

    async def pub(self, subject: str, data: bytes) -> None:
        await self.nc.request(subject, data, timeout=5)

    async def next(self, body: Any, wait: float = 0.6, until_status: bool = True) -> None:
        """Send one pull request; record what arrives within ``wait`` s (or up to a status)."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.C", payload, reply=inbox)
        got: list[Any] = []
        self.last = []
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        while True:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            rec = self._record(msg)
            if got and rec == got[-1] and rec[0] == "100":
                continue  # repeated heartbeats: how many is a matter of timing
            got.append(rec)
            if msg.reply:
                self.last.append(msg)
            elif until_status and msg.headers is not None and got[-1][0] != "100":
                break
        await sub.unsubscribe()
        self.log.append(got)

    @staticmethod
    def _record(msg: Msg) -> Any:
        hdrs = dict(msg.headers or {})
        status = hdrs.pop("Status", None)
        desc = hdrs.pop("Description", None)
        if status is not None:
            keep = {k: v for k, v in hdrs.items() if k.startswith("Nats-Pending")}
            return [status, desc, keep]
        tokens = msg.reply.split(".")
        del tokens[7]  # the timestamp
        return [msg.subject, msg.data.decode(), tokens]

    async def ack(self, i: int, body: bytes = b"") -> None:
        await self.nc.publish(self.last[i].reply, body)
        await self.nc.flush()

    async def ack_next(self, i: int, body: bytes = b"+NXT", wait: float = 0.5) -> None:
        """Ack with ``+NXT``: the next messages go to the ack's reply subject."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        await self.nc.publish(self.last[i].reply, body, reply=inbox)
        got: list[Any] = []
        self.last = []
        try:
            while True:
                msg = await sub.next_msg(timeout=wait)
                got.append(self._record(msg))
                if msg.reply:
                    self.last.append(msg)
        except nats.errors.TimeoutError:
            pass
        await sub.unsubscribe()
        self.log.append(got)

    async def background(self, body: Any) -> asyncio.Task[None]:
        """A pull request left open while the scenario goes on."""
        return asyncio.create_task(self.next(body, wait=2.0))

    async def info(self) -> None:
        await asyncio.sleep(0.1)
        resp = await self.api("CONSUMER.INFO.S.C")
        keys = (
            "delivered",
            "ack_floor",
            "num_ack_pending",
            "num_redelivered",
            "num_waiting",
            "num_pending",
        )
        out = {k: resp.get(k) for k in keys}
        for k in ("delivered", "ack_floor"):
            if out[k] and "last_active" in out[k]:
                out[k] = {**out[k], "last_active": "*"}
        self.log.append(out)


async def pull_basic(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 5)
    await d.next({"batch": 2})
    await d.ack(0)
    await d.ack(1)
    await d.next(b"2")
    await d.next(b"")
    await d.info()


async def pull_no_wait(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 3)
    await d.next({"batch": 5, "no_wait": True})
    await d.next({"batch": 5, "no_wait": True})
    await d.next({"batch": 5, "no_wait": True, "expires": 300 * MS}, wait=0.8)
    await d.info()


async def pull_expires(d: Driver) -> None:
    await d.setup({"ack_policy": "none"}, 2)
    await d.next({"batch": 5, "expires": 300 * MS}, wait=1.0)
    await d.info()


async def pull_limits(d: Driver) -> None:
    await d.setup(
        {"ack_policy": "explicit", "max_batch": 3, "max_expires": 1000 * MS, "max_bytes": 1000}, 2
    )
    await d.next({"batch": 4})
    await d.next({"batch": 1, "expires": 2000 * MS})
    await d.next({"batch": 1, "max_bytes": 2000})
    await d.next({"batch": 1, "idle_heartbeat": 500 * MS, "expires": 600 * MS})
    await d.next(b"{bad")
    await d.info()


async def pull_max_bytes(d: Driver) -> None:
    await d.setup({"ack_policy": "none"}, 4)
    await d.next({"batch": 3, "max_bytes": 5})
    await d.next({"batch": 1, "max_bytes": 100})
    await d.next({"batch": 10, "max_bytes": 120, "expires": 300 * MS}, wait=0.8)
    await d.info()


async def pull_filter(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit", "filter_subject": "s.1"}, 7)
    await d.next({"batch": 10, "expires": 300 * MS}, wait=0.8)
    await d.info()


async def pull_nak_term(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit", "ack_wait": 400 * MS}, 3)
    await d.next({"batch": 3})
    first = list(d.last)
    await d.ack(0, b"-NAK")
    await d.ack(1, b"+TERM")
    await d.next({"batch": 1})
    await d.info()
    await asyncio.sleep(0.15)  # the in-progress one now expires clearly after the NAKed one
    await d.nc.publish(first[2].reply, b"+WPI")
    await asyncio.sleep(0.5)
    await d.next({"batch": 2, "expires": 100 * MS}, wait=0.4)
    await d.info()


async def pull_ack_all(d: Driver) -> None:
    await d.setup({"ack_policy": "all"}, 4)
    await d.next({"batch": 4})
    await d.ack(2)
    await d.info()


async def pull_deliver_policies(d: Driver) -> None:
    await d.api("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
    for i in range(6):
        await d.pub(f"s.{i % 2}", b"m%d" % i)
    for name, cfg in (("C", {"deliver_policy": "last"}),):
        await d.api(
            f"CONSUMER.CREATE.S.{name}", {"stream_name": "S", "config": {"name": name, **cfg}}
        )
    await d.info()
    await d.next({"batch": 5, "no_wait": True})


async def pull_last_per_subject(d: Driver) -> None:
    await d.api("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
    for i in range(7):
        await d.pub(f"s.{i % 3}", b"m%d" % i)
    await d.api(
        "CONSUMER.CREATE.S.C",
        {
            "stream_name": "S",
            "config": {"name": "C", "deliver_policy": "last_per_subject", "filter_subject": "s.>"},
        },
    )
    await d.info()
    await d.next({"batch": 5, "no_wait": True})
    await d.pub("s.9", b"late")
    await d.next({"batch": 5, "no_wait": True})
    await d.info()


async def pull_start_seq_and_purge(d: Driver) -> None:
    await d.api("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
    for i in range(8):
        await d.pub(f"s.{i % 2}", b"m%d" % i)
    await d.api(
        "CONSUMER.CREATE.S.C",
        {
            "stream_name": "S",
            "config": {
                "name": "C",
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": 3,
                "ack_policy": "explicit",
            },
        },
    )
    await d.info()
    await d.next({"batch": 2})
    await d.api("STREAM.PURGE.S", {"filter": "s.0"})
    await d.info()
    await d.api("STREAM.MSG.DELETE.S", {"seq": 6})
    await d.info()
    await d.api("STREAM.PURGE.S")
    await d.info()
    await d.pub("s.1", b"after")
    await d.pending_reaches(1)
    await d.next({"batch": 2, "no_wait": True})
    await d.info()


async def pull_heartbeat(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 1)
    await d.next({"batch": 3, "expires": 700 * MS, "idle_heartbeat": 200 * MS}, wait=1.0)
    await d.info()


async def pull_ack_next(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 5)
    await d.next({"batch": 1})
    await d.ack_next(0)
    await d.ack_next(0, b"+NXT 2")
    await d.ack_next(1, b'+NXT {"batch": 5, "no_wait": true}')
    await d.info()


async def pull_nak_delay(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 1)
    await d.next({"batch": 1})
    await d.ack(0, b'-NAK {"delay": 500000000}')
    await d.next({"batch": 1, "no_wait": True})
    await d.next({"batch": 1, "expires": 1500 * MS}, wait=2.0)
    await d.info()


async def pull_max_waiting_and_delete(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit", "max_waiting": 1})
    first = await d.background({"batch": 1, "expires": 1500 * MS})
    await asyncio.sleep(0.2)
    await d.next({"batch": 1, "expires": 1000 * MS})
    await d.info()
    await d.api("CONSUMER.DELETE.S.C")
    await first


async def pull_overflow_group(d: Driver) -> None:
    cfg = {"ack_policy": "explicit", "priority_policy": "overflow", "priority_groups": ["A"]}
    await d.setup(cfg, 3)
    await d.next({"batch": 1})
    await d.next({"batch": 1, "group": "B"})
    await d.next({"batch": 1, "group": "A", "id": "x"})
    await d.next({"batch": 1, "group": "A", "priority": 10})
    await d.next({"batch": 2, "group": "A", "min_pending": 5, "expires": 300 * MS}, wait=0.8)
    await d.next({"batch": 2, "group": "A", "min_pending": 2, "expires": 300 * MS}, wait=0.8)
    await d.next({"batch": 1, "group": "A", "min_ack_pending": 2, "expires": 300 * MS}, wait=0.8)
    await d.info()


async def pull_plain_priority_fields(d: Driver) -> None:
    await d.setup({"ack_policy": "explicit"}, 1)
    await d.next({"batch": 1, "min_pending": 1})
    await d.next({"batch": 1, "group": "whatever"})
    await d.info()


async def pull_push_consumer(d: Driver) -> None:
    await d.setup({"deliver_subject": "dlv.x"})
    await d.next({"batch": 1})


SCENARIOS: dict[str, Scenario] = {
    f.__name__: f
    for f in (
        pull_basic,
        pull_no_wait,
        pull_expires,
        pull_limits,
        pull_max_bytes,
        pull_filter,
        pull_nak_term,
        pull_ack_all,
        pull_deliver_policies,
        pull_last_per_subject,
        pull_start_seq_and_purge,
        pull_heartbeat,
        pull_ack_next,
        pull_nak_delay,
        pull_max_waiting_and_delete,
        pull_push_consumer,
        pull_overflow_group,
        pull_plain_priority_fields,
    )
}


async def _run(url: str, scenario: Scenario) -> list[Any]:
    nc = await nats.connect(url)
    try:
        resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
        for name in resp.get("streams") or []:
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
        d = Driver(nc)
        await scenario(d)
        return d.log
    finally:
        await nc.close()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_pull_matches_nats_server(name: str, js_server_url: str, tmp_path: Path) -> None:
    theirs = await _run(js_server_url, SCENARIOS[name])
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _run(broker.listen_urls[0], SCENARIOS[name])
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}"
