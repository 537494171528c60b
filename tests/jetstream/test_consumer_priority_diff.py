"""Differential tests of priority groups (``pinned_client``, ``prioritized``), ``CONSUMER.UNPIN``
and ``CONSUMER.RESET``: what a client sees from nats-server 2.15.1 and from natskern.

The pull exchanges are recorded as in :mod:`tests.jetstream.test_consumer_pull_diff` (status
lines with their ``Nats-Pending-*`` headers, ack subjects without the timestamp), plus each
message's ``Nats-Pin-Id`` and the ``PINNED``/``UNPINNED`` advisories; pin ids are replaced by
``PIN1``, ``PIN2``... in order of appearance, so the two servers' recordings compare equal
exactly when the same requests were pinned, refused and served.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from tests.jetstream.conftest import jetstream_server
from tests.jetstream.test_api_e2e import jetstream_broker
from tests.jetstream.test_consumer_pull_diff import MS, Driver
from tests.support.servers import NATS_SERVER_JS

PINNED = {"ack_policy": "explicit", "priority_policy": "pinned_client", "priority_groups": ["A"]}
_DROP = ("created", "ts", "config")


class PinDriver(Driver):
    """A :class:`Driver` that also records pin ids (normalised) and the pin advisories."""

    def __init__(self, nc: nats.NATS) -> None:
        super().__init__(nc)
        self.pins: dict[str, str] = {}
        self.advisories: list[Any] = []

    async def setup(self, consumer: dict[str, Any], n: int = 0, **stream: Any) -> None:
        await super().setup(consumer, n, **stream)
        # nats-server counts new messages into a consumer's pending asynchronously: the
        # ack subject of a message published just before could show one more pending.
        await asyncio.sleep(0.05)

    def pin_name(self, pin: str) -> str:
        if not pin:
            return ""
        return self.pins.setdefault(pin, f"PIN{len(self.pins) + 1}")

    def pin(self, name: str) -> str:
        """The real pin id recorded as ``name`` (``PIN1``...); unknown names pass through."""
        return next((real for real, n in self.pins.items() if n == name), name)

    def _record(self, msg: Msg) -> Any:  # type: ignore[override]
        rec = Driver._record(msg)
        hdrs = msg.headers or {}
        if "Status" not in hdrs and "Nats-Pin-Id" in hdrs:
            rec.append(self.pin_name(hdrs["Nats-Pin-Id"]))
        return rec

    async def watch(self) -> None:
        async def on_advisory(msg: Msg) -> None:
            body = json.loads(msg.data)
            for key in ("id", "timestamp"):
                assert body.pop(key)
            if "pinned_id" in body:
                body["pinned_id"] = self.pin_name(body["pinned_id"])
            self.advisories.append([msg.subject, body])

        await self.nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PINNED.>", cb=on_advisory)
        await self.nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.>", cb=on_advisory)

    async def groups(self, consumer: str = "C") -> None:
        """Record the consumer's ``priority_groups`` (pin normalised, time masked)."""
        resp = await self.api(f"CONSUMER.INFO.S.{consumer}")
        self.log.append(self._groups(resp))

    def _groups(self, resp: dict[str, Any]) -> list[dict[str, str]] | None:
        groups = resp.get("priority_groups")
        for g in groups or []:
            if "pinned_client_id" in g:
                g["pinned_client_id"] = self.pin_name(g["pinned_client_id"])
            if g.get("pinned_ts") != "0001-01-01T00:00:00Z":
                g["pinned_ts"] = "*"
        return groups

    async def call(self, subject: str, raw: bytes = b"", level: str = "") -> None:
        """Record a raw API request's answer (times and the config dropped), or None."""
        headers = {"Nats-Required-Api-Level": level} if level else None
        try:
            resp = await self.nc.request("$JS.API." + subject, raw, timeout=0.5, headers=headers)
        except nats.errors.TimeoutError:
            self.log.append(None)
            return
        except nats.errors.NoRespondersError:
            self.log.append("no responders")
            return
        body = json.loads(resp.data)
        for key in _DROP:
            body.pop(key, None)
        if "priority_groups" in body:
            body["priority_groups"] = self._groups(body)
        for key in ("delivered", "ack_floor"):
            if key in body and "last_active" in body[key]:
                body[key]["last_active"] = "*"
        self.log.append(body)

    async def concurrent(self, bodies: list[Any], publish: int, wait: float = 0.5) -> None:
        """Open all ``bodies`` as pull requests, then publish; record each inbox in order
        (the ack subjects without their pending count: a race with the publishing)."""
        inboxes: list[list[Any]] = [[] for _ in bodies]
        subs = []
        for i, body in enumerate(bodies):
            inbox = self.nc.new_inbox()

            async def cb(msg: Msg, i: int = i) -> None:
                rec = self._record(msg)
                if msg.reply:  # the pending count depends on how far the publishing got
                    rec[2][-1] = "*"
                inboxes[i].append(rec)

            subs.append(await self.nc.subscribe(inbox, cb=cb))
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            await self.nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.C", payload, reply=inbox)
        await self.nc.flush()
        await asyncio.sleep(0.1)
        for i in range(publish):
            await self.pub(f"s.{i % 3}", b"p%d" % i)
        await asyncio.sleep(wait)
        for sub in subs:
            await sub.unsubscribe()
        self.log.extend(inboxes)


async def pinned_basic(d: PinDriver) -> None:
    await d.setup({**PINNED, "priority_timeout": 5000 * MS}, 6)
    await d.groups()
    await d.next({"batch": 1, "group": "A"}, wait=0.2)
    await d.groups()
    await d.next({"batch": 1, "group": "A", "id": "not-the-pin"})
    await d.next({"batch": 2, "group": "A", "id": d.pin("PIN1")}, wait=0.2)
    await d.next({"batch": 1, "group": "A", "expires": 300 * MS}, wait=0.5)
    await d.next({"batch": 1, "group": "B"})
    await d.call("CONSUMER.UNPIN.S.C", b'{"group":"A"}')
    await d.groups()
    await d.next({"batch": 1, "group": "A", "id": d.pin("PIN1")})
    await d.next({"batch": 1, "group": "A"}, wait=0.2)
    await d.groups()
    await d.info()


async def pinned_timeout(d: PinDriver) -> None:
    await d.setup({**PINNED, "priority_timeout": 500 * MS}, 1)
    await d.next({"batch": 1, "group": "A"}, wait=0.1)
    waiting = await d.background({"batch": 2, "group": "A", "expires": 1800 * MS})
    await asyncio.sleep(0.1)
    await d.pub("s.1", b"while pinned")
    await d.next({"batch": 1, "group": "A", "id": d.pin("PIN1")}, wait=0.1)
    await d.groups()
    await asyncio.sleep(0.8)  # the pin runs out: the waiting request gets the next one
    await d.groups()
    await d.pub("s.2", b"after")
    await waiting
    await d.groups()
    await d.info()


async def pinned_max_bytes(d: PinDriver) -> None:
    await d.setup({**PINNED, "priority_timeout": 5000 * MS}, 2)
    await d.next({"batch": 1, "group": "A", "max_bytes": 5})
    await d.groups()
    await d.next(b"1", wait=0.2)
    await d.groups()
    await d.next({"batch": 1, "group": "A"}, wait=0.2)
    await d.info()


async def pinned_delete_and_update(d: PinDriver) -> None:
    """A deleted consumer's pin does not time out later; an update keeps the pin."""
    await d.setup({**PINNED, "priority_timeout": 300 * MS}, 2)
    await d.next({"batch": 1, "group": "A"}, wait=0.1)
    await d.api("CONSUMER.DELETE.S.C")
    await asyncio.sleep(0.5)
    cfg = {"name": "C", **PINNED, "priority_timeout": 5000 * MS}
    await d.api("CONSUMER.CREATE.S.C", {"stream_name": "S", "config": cfg})
    await d.next({"batch": 1, "group": "A"}, wait=0.1)
    cfg["max_ack_pending"] = 10
    await d.call("CONSUMER.CREATE.S.C", json.dumps({"stream_name": "S", "config": cfg}).encode())
    await d.next({"batch": 1, "group": "A", "id": d.pin("PIN2")}, wait=0.1)


async def unpin_errors(d: PinDriver) -> None:
    await d.setup({**PINNED, "priority_groups": ["A", "B"]})
    over = {"priority_policy": "overflow", "priority_groups": ["O"]}
    await d.api("CONSUMER.CREATE.S.OV", {"stream_name": "S", "config": {"name": "OV", **over}})
    await d.api("CONSUMER.CREATE.S.P", {"stream_name": "S", "config": {"name": "P"}})
    for subject, body in (
        ("CONSUMER.UNPIN.S.C", b""),
        ("CONSUMER.UNPIN.S.C", b"{}"),
        ("CONSUMER.UNPIN.S.C", b"{bad"),
        ("CONSUMER.UNPIN.S.C", b'{"group":"no.dots"}'),
        ("CONSUMER.UNPIN.S.C", b'{"group":"Z"}'),
        ("CONSUMER.UNPIN.S.C", b'{"group":"B"}'),
        ("CONSUMER.UNPIN.S.X", b'{"group":"A"}'),
        ("CONSUMER.UNPIN.T.C", b'{"group":"A"}'),
        ("CONSUMER.UNPIN.S.OV", b'{"group":"O"}'),
        ("CONSUMER.UNPIN.S.P", b'{"group":"A"}'),
    ):
        await d.call(subject, body)
    await d.groups("OV")
    await d.groups("P")


async def prioritized(d: PinDriver) -> None:
    cfg = {"ack_policy": "none", "priority_policy": "prioritized", "priority_groups": ["A"]}
    await d.setup(cfg)
    await d.groups()
    await d.next({"batch": 1, "group": "A", "priority": 10})
    await d.next({"batch": 1, "group": "A", "id": "x"})
    await d.concurrent(
        [
            {"batch": 2, "group": "A", "priority": 5},
            b"2",
            {"batch": 2, "group": "A"},
            {"batch": 2, "group": "A", "priority": 5},
            {"batch": 1, "group": "A", "priority": 1},
        ],
        publish=9,
    )
    await d.info()


async def pinned_waiting_queue(d: PinDriver) -> None:
    await d.setup({**PINNED, "priority_timeout": 5000 * MS})
    await d.concurrent(
        [
            {"batch": 1, "group": "A", "id": "stale"},
            {"batch": 3, "group": "A", "expires": 400 * MS},
            {"batch": 2, "group": "A", "expires": 400 * MS},
        ],
        publish=4,
    )
    await d.groups()
    await d.info()


async def reset_positions(d: PinDriver) -> None:
    await d.setup({"ack_policy": "explicit", "ack_wait": 2000 * MS}, 6)
    await d.call("CONSUMER.RESET.S.X")
    await d.call("CONSUMER.RESET.T.C")
    await d.next({"batch": 4})
    await d.ack(0)
    await d.ack(2)
    await d.ack(1, b"-NAK")
    await d.info()
    for body in (b"", b"{bad", b'{"seq":-1}', b" ", b'{"seq":0}', b'{"seq":3}'):
        await d.call("CONSUMER.RESET.S.C", body)
    await d.call("CONSUMER.RESET.S.C", b'{"seq":100}')
    await d.call("CONSUMER.RESET.S.C", b'{"seq":5}')
    await d.next({"batch": 2})
    await d.ack(0)
    await d.info()


async def reset_policies(d: PinDriver) -> None:
    await d.api("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
    for i in range(6):
        await d.pub(f"s.{i % 3}", b"m%d" % i)
    for cfg in (
        {"deliver_policy": "new"},
        {"deliver_policy": "last"},
        {"deliver_policy": "by_start_sequence", "opt_start_seq": 3},
        {"deliver_policy": "last_per_subject", "filter_subject": "s.>"},
        {"deliver_policy": "by_start_time", "opt_start_time": "2020-01-01T00:00:00Z"},
        {"deliver_subject": "d.x"},
        {"ack_policy": "none", "filter_subject": "s.1"},
    ):
        await d.api("CONSUMER.DELETE.S.C")
        resp = await d.api("CONSUMER.CREATE.S.C", {"stream_name": "S", "config": cfg})
        assert "error" not in resp, resp
        for body in (b"", b'{"seq":2}', b'{"seq":4}'):
            await d.call("CONSUMER.RESET.S.C", body)
    await d.next({"batch": 5, "no_wait": True})


async def reset_interest(d: PinDriver) -> None:
    await d.setup({"durable_name": "C", "ack_policy": "explicit"}, 8, retention="interest")
    await d.next({"batch": 3})
    await d.ack(0)
    await asyncio.sleep(0.2)  # the ack is processed after the flush (nats-server: later)
    await d.call("CONSUMER.RESET.S.C", b'{"seq":7}')
    await asyncio.sleep(0.5)  # interest removal runs after the answer (both servers)
    resp = await d.api("STREAM.INFO.S")
    d.log.append({k: resp["state"][k] for k in ("messages", "first_seq", "last_seq")})
    await d.call("CONSUMER.RESET.S.C", b'{"seq":2}')
    await d.next({"batch": 5, "no_wait": True})


async def required_level(d: PinDriver) -> None:
    """Consumer requests asking for a higher API level: refused in their own response type."""
    await d.setup(PINNED, 1)
    for subject, body in (
        ("CONSUMER.CREATE.S.N", b'{"stream_name":"S","config":{"name":"N"}}'),
        ("CONSUMER.DURABLE.CREATE.S.N", b"{}"),
        ("CONSUMER.CREATE.S", b"{}"),
        ("CONSUMER.INFO.S.C", b""),
        ("CONSUMER.INFO.T.X", b""),
        ("CONSUMER.DELETE.S.C", b""),
        ("CONSUMER.NAMES.S", b""),
        ("CONSUMER.LIST.T", b""),
        ("CONSUMER.PAUSE.S.C", b""),
        ("CONSUMER.UNPIN.S.X", b'{"group":"A"}'),
        ("CONSUMER.RESET.S.C", b""),
        ("CONSUMER.RESET.S.X", b""),
    ):
        await d.call(subject, body, level="99")
    await d.call("CONSUMER.INFO.S.C", level="1")
    inbox = d.nc.new_inbox()
    sub = await d.nc.subscribe(inbox)
    body = b'{"batch":1,"group":"A"}'
    headers = {"Nats-Required-Api-Level": "99"}
    await d.nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.C", body, reply=inbox, headers=headers)
    msg = await sub.next_msg(timeout=2)
    d.log.append(Driver._record(msg))
    await d.next({"batch": 1, "group": "A"}, wait=0.2)


SCENARIOS = {
    f.__name__: f
    for f in (
        pinned_basic,
        pinned_timeout,
        pinned_max_bytes,
        pinned_waiting_queue,
        pinned_delete_and_update,
        unpin_errors,
        prioritized,
        reset_positions,
        reset_policies,
        reset_interest,
        required_level,
    )
}


async def _run(url: str, scenario: Any) -> list[Any]:
    nc = await nats.connect(url)
    try:
        resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
        for name in resp.get("streams") or []:
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
        d = PinDriver(nc)
        await d.watch()
        await scenario(d)
        await nc.flush()
        await asyncio.sleep(0.05)
        return [*d.log, ["advisories", d.advisories]]
    finally:
        await nc.close()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_priority_matches_nats_server(name: str, js_server_url: str, tmp_path: Path) -> None:
    theirs = await _run(js_server_url, SCENARIOS[name])
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _run(broker.listen_urls[0], SCENARIOS[name])
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}"


async def _restart_phase(url: str, d: PinDriver | None) -> PinDriver:
    """Phase one (``d`` None): pin a durable consumer and reset it; phase two: after a restart."""
    nc = await nats.connect(url)
    try:
        if d is None:
            d = PinDriver(nc)
            await d.setup({**PINNED, "durable_name": "C"}, 5)
            await d.next({"batch": 2, "group": "A"}, wait=0.2)
            await d.call("CONSUMER.RESET.S.C", b'{"seq":2}')
            await d.next({"batch": 1, "group": "A", "id": d.pin("PIN1")}, wait=0.2)
            await d.groups()
            return d
        d.nc = nc
        await d.groups()  # the pin is not kept
        await d.info()  # the reset and the delivery after it are
        await d.next({"batch": 1, "group": "A", "id": d.pin("PIN1")})
        await d.next({"batch": 1, "group": "A"}, wait=0.2)
        await d.groups()
        return d
    finally:
        await nc.close()


async def test_restart_keeps_the_reset_not_the_pin(tmp_path: Path) -> None:
    """Both servers restarted on their store: the reset position stays, the pin is gone."""
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    logs = []
    for run in ("theirs", "ours"):
        store = tmp_path / run
        store.mkdir()
        d = None
        for _ in range(2):
            if run == "theirs":
                with jetstream_server(store) as url:
                    d = await _restart_phase(url, d)
            else:
                async with jetstream_broker(store) as (broker, _):
                    d = await _restart_phase(broker.listen_urls[0], d)
        assert d is not None
        logs.append(d.log)
    assert logs[0] == logs[1]
    assert logs[1][-2][0][-1] == "PIN2"  # a new pin after the restart
