"""Priority groups where natskern decides on its own (no nats-server behaviour to compare).

* An update that moves a ``pinned_client`` consumer to another policy drops its pin: nats-server
  2.15.1 keeps it, and requests without the pin id then wait until it times out.
* Consumers without ``pinned_client``/``prioritized`` never get a priority state, so their
  pull round stays the plain one (one falsy check).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats

from tests.jetstream.test_api_e2e import jetstream_broker

PINNED = {"ack_policy": "explicit", "priority_policy": "pinned_client", "priority_groups": ["A"]}


async def _api(nc: nats.NATS, subject: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    return json.loads((await nc.request("$JS.API." + subject, data, timeout=5)).data)


async def _next(nc: nats.NATS, consumer: str, body: dict[str, Any]) -> Any:
    """The first message a pull request gets (a delivery keeps its stream subject: no
    ``nc.request``, whose reply mux goes by the subject)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    subject = f"$JS.API.CONSUMER.MSG.NEXT.S.{consumer}"
    await nc.publish(subject, json.dumps(body).encode(), reply=inbox)
    try:
        return await sub.next_msg(timeout=5)
    finally:
        await sub.unsubscribe()


async def test_update_away_from_pinned_drops_the_pin(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await _api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
            cfg = {"durable_name": "C", **PINNED}
            await _api(nc, "CONSUMER.CREATE.S.C", {"stream_name": "S", "config": cfg})
            for i in range(3):
                await nc.request(f"s.{i}", b"x", timeout=5)
            first = await _next(nc, "C", {"batch": 1, "group": "A"})
            pin = first.headers["Nats-Pin-Id"]
            assert len(pin) == 22
            groups = (await _api(nc, "CONSUMER.INFO.S.C"))["priority_groups"]
            assert groups[0]["pinned_client_id"] == pin
            cfg["priority_policy"] = "overflow"
            resp = await _api(nc, "CONSUMER.CREATE.S.C", {"stream_name": "S", "config": cfg})
            assert resp["priority_groups"] == [{"group": "A", "pinned_ts": "0001-01-01T00:00:00Z"}]
            served = await _next(nc, "C", {"batch": 1, "group": "A", "expires": 2_000_000_000})
            assert served.subject == "s.1" and "Nats-Pin-Id" not in (served.headers or {})
        finally:
            await nc.close()


async def test_plain_consumers_keep_the_plain_pull_round(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            await _api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
            configs = {
                "plain": {"ack_policy": "explicit"},
                "over": {"priority_policy": "overflow", "priority_groups": ["A"]},
                "pin": PINNED,
                "prio": {"priority_policy": "prioritized", "priority_groups": ["A"]},
            }
            for name, cfg in configs.items():
                body = {"stream_name": "S", "config": {"durable_name": name, **cfg}}
                assert "error" not in await _api(nc, f"CONSUMER.CREATE.S.{name}", body)
            await nc.request("s.1", b"x", timeout=5)
            for name in configs:
                msg = await _next(
                    nc, name, {"batch": 1, "group": "A"} if name != "plain" else {"batch": 1}
                )
                assert msg.subject == "s.1"
            stream = next(iter(js.accounts.values())).streams["S"]
            kinds = {n: type(c._prio).__name__ for n, c in stream.consumers.items()}
            assert kinds == {
                "plain": "NoneType",
                "over": "NoneType",
                "pin": "PriorityState",
                "prio": "PriorityState",
            }
        finally:
            await nc.close()
