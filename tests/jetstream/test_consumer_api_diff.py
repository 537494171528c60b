"""Differential tests of the CONSUMER management API: nats-server 2.15.1 vs natskern.

The same raw requests (CREATE, INFO, NAMES, LIST, DELETE, PAUSE, UNPIN, unknown names)
go to both servers; the answers must be equal once times, generated names and the
answering server's version are masked.  Field order is compared too (clients do not
care, but it shows the response structs were followed).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.support.jsapi import api_past_flake

_TIMES = ("created", "ts", "last_active", "pause_until")


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _TIMES and isinstance(v, str):
                out[k] = "*"
            elif k == "pause_remaining":
                out[k] = v > 0
            elif k in ("_nats.ver", "_nats.level"):
                out[k] = "*"
            else:
                out[k] = _mask(v)
        return out
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _ordered(value: Any) -> Any:
    """Keys in order (a list of pairs), so field order is compared as well."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def cc(name: str, **config: Any) -> tuple[str, dict[str, Any]]:
    return f"CONSUMER.CREATE.S.{name}", {"stream_name": "S", "config": {"name": name, **config}}


STEPS: list[tuple[str, Any]] = [
    ("STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]}),
    cc("a", ack_policy="explicit", durable_name="a"),
    cc("b", filter_subject="s.b", description="bee", metadata={"k": "v"}),
    cc("p", deliver_subject="dlv.p", ack_policy="none"),
    ("CONSUMER.INFO.S.a", None),
    ("CONSUMER.INFO.S.b", None),
    ("CONSUMER.INFO.S.p", None),
    ("CONSUMER.INFO.S.nope", None),
    ("CONSUMER.INFO.NOPE.a", None),
    ("CONSUMER.NAMES.S", None),
    ("CONSUMER.NAMES.S", {"offset": 1}),
    ("CONSUMER.NAMES.NOPE", None),
    ("STREAM.CREATE.E", {"name": "E", "subjects": ["e.>"]}),
    ("CONSUMER.NAMES.E", None),
    ("CONSUMER.LIST.E", None),
    ("CONSUMER.LIST.E", b"{bad"),
    ("CONSUMER.LIST.S", None),
    ("CONSUMER.LIST.S", {"offset": 5}),
    ("CONSUMER.PAUSE.S.a", {"pause_until": "2099-01-01T00:00:00Z"}),
    ("CONSUMER.INFO.S.a", None),
    ("CONSUMER.PAUSE.S.a", {}),
    ("CONSUMER.PAUSE.S.nope", {}),
    ("CONSUMER.UNPIN.S.a", {"group": "g"}),
    ("CONSUMER.UNPIN.S.a", {}),
    ("CONSUMER.UNPIN.S.a", None),
    ("CONSUMER.UNPIN.S.a", {"group": "bad group"}),
    ("CONSUMER.UNPIN.S.nope", {"group": "g"}),
    ("CONSUMER.DELETE.S.b", None),
    ("CONSUMER.DELETE.S.b", None),
    ("CONSUMER.DELETE.NOPE.b", None),
    ("CONSUMER.NAMES.S", None),
    ("CONSUMER.DURABLE.CREATE.S.d", {"stream_name": "S", "config": {"durable_name": "d"}}),
    ("CONSUMER.INFO.S.d", None),
]


async def _run(url: str) -> list[Any]:
    nc = await nats.connect(url)
    out = []
    try:
        resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
        for name in resp.get("streams") or []:
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
        for subject, body in STEPS:
            data = (
                body
                if isinstance(body, bytes)
                else json.dumps(body).encode()
                if body is not None
                else b""
            )
            resp = await api_past_flake(nc, "$JS.API." + subject, data)
            if subject.startswith("STREAM."):
                continue
            out.append((subject, _ordered(_mask(resp))))
    finally:
        await nc.close()
    return out


async def test_consumer_api_matches_nats_server(js_server_url: str, tmp_path: Path) -> None:
    theirs = await _run(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _run(broker.listen_urls[0])
    for (subject, a), (_, b) in zip(ours, theirs, strict=True):
        assert a == b, subject


#: The advisories each step of ``_pause_advisories`` gives on nats-server: pause, the same
#: pause again, a pause in the past (it resumes), resume, resume again, a short pause, and
#: the end of that pause.
PAUSE_ADVISORIES = [1, 0, 1, 1, 0, 1, 1]


async def _pause_advisories(url: str) -> list[Any]:
    """PAUSE changes (and the end of a pause) and the advisories each one gives."""
    import datetime

    nc = await nats.connect(url)
    seen: list[dict[str, Any]] = []

    async def on_advisory(msg: Any) -> None:
        seen.append(json.loads(msg.data))

    # This consumer's advisories only: a pause another test left on the shared nats-server
    # may run out (and be advised) while this one runs.
    await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PA.c", cb=on_advisory)
    await nc.request("$JS.API.STREAM.CREATE.PA", b'{"name":"PA","subjects":["pa.>"]}')
    await nc.request("$JS.API.CONSUMER.CREATE.PA.c", b'{"stream_name":"PA","config":{"name":"c"}}')

    def after(seconds: float) -> str:
        when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        return when.isoformat().replace("+00:00", "Z")

    later = after(60)
    out: list[Any] = []
    steps = [later, later, "2020-01-01T00:00:00Z", None, None, "soon"]
    for until, expected in zip(steps, PAUSE_ADVISORIES, strict=False):
        if until == "soon":
            until = after(1.5)  # (taken when sent: this pause runs out below)
        body = {"pause_until": until} if until else {}
        reply = await nc.request("$JS.API.CONSUMER.PAUSE.PA.c", json.dumps(body).encode())
        # The advisories this change gives: as many as expected arrive (however slow the
        # machine), then a pause for any more (or, expecting none, for one that is wrong).
        deadline = asyncio.get_running_loop().time() + 10
        while len(seen) < expected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3 if not expected else 0.1)
        answer = json.loads(reply.data)
        answer.pop("pause_remaining", None)
        out.append([answer, [[a["paused"], a["pause_until"][:4]] for a in seen]])
        seen.clear()
    deadline = asyncio.get_running_loop().time() + 10
    while not seen and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)  # the pause of ``soon`` runs out: one more advisory
    out.append(["ended", [[a["paused"], a["type"], sorted(a)] for a in seen]])
    await nc.close()
    return [_mask(step) for step in out]


async def test_pause_advisories_match_nats_server(js_server_url: str, tmp_path: Path) -> None:
    """An advisory per change of pause_until (not per repeat) and one when a pause ends."""
    theirs = await _pause_advisories(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _pause_advisories(broker.listen_urls[0])
    assert ours == theirs
    assert [len(step[1]) for step in theirs] == PAUSE_ADVISORIES
