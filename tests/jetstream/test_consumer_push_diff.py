"""Differential tests of push consumers: what a subscriber sees from nats-server 2.15.1 and natskern.

Idle heartbeats (with ``Nats-Last-Consumer`` / ``Nats-Last-Stream``), flow-control requests
(answered by the test like a client does), delivery only while the deliver subject has
interest, and ``push_bound``.  Repeated identical heartbeats are collapsed so the count of
heartbeats in a window (a matter of timing) does not decide anything.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.support.jsapi import request_past_flake

MS = 1_000_000


def _record(msg: Msg) -> Any:
    hdrs = dict(msg.headers or {})
    status = hdrs.pop("Status", None)
    if status is not None:
        desc = hdrs.pop("Description", None)
        keep = {k: v for k, v in hdrs.items() if k.startswith("Nats-Last")}
        if "Nats-Consumer-Stalled" in hdrs:
            keep["stalled"] = True
        fc = msg.reply.rsplit(".", 1)[0] if msg.reply else ""
        return [status, desc, keep, fc]
    tokens = msg.reply.split(".")
    del tokens[7]
    return [msg.subject, len(msg.data), tokens]


async def _collect(nc: nats.NATS, sub: Any, seconds: float, log: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            msg = await sub.next_msg(timeout=left)
        except nats.errors.TimeoutError:
            break
        rec = _record(msg)
        if msg.reply.startswith("$JS.FC."):
            await nc.publish(msg.reply, b"")
        if not log or rec != log[-1]:
            log.append(rec)


async def scenario(url: str) -> list[Any]:
    nc = await nats.connect(url)
    out: list[Any] = []
    try:
        resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
        for name in resp.get("streams") or []:
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
        req = {"name": "S", "subjects": ["s.>"], "max_msg_size": -1}
        await request_past_flake(nc, "$JS.API.STREAM.CREATE.S", json.dumps(req).encode())
        for i in range(3):
            await nc.request(f"s.{i}", b"x" * 10, timeout=5)
        cfg = {
            "name": "C",
            "deliver_subject": "dlv.c",
            "idle_heartbeat": 250 * MS,
            "flow_control": True,
            "ack_policy": "explicit",
        }
        body = json.dumps({"stream_name": "S", "config": cfg}).encode()
        created = json.loads(
            (await nc.request("$JS.API.CONSUMER.CREATE.S.C", body, timeout=5)).data
        )
        out.append(["created", created.get("push_bound"), created.get("num_pending")])
        await asyncio.sleep(0.3)
        info = json.loads((await nc.request("$JS.API.CONSUMER.INFO.S.C", b"", timeout=5)).data)
        out.append(["unbound", info.get("push_bound"), info["delivered"]])
        sub = await nc.subscribe("dlv.c")
        log: list[Any] = []
        await _collect(nc, sub, 0.7, log)
        for _ in range(4):
            await nc.request("s.big", b"y" * 600_000, timeout=5)
        await _collect(nc, sub, 1.0, log)
        out.append(log)
        info = json.loads((await nc.request("$JS.API.CONSUMER.INFO.S.C", b"", timeout=5)).data)
        delivered = {k: v for k, v in info["delivered"].items() if k != "last_active"}
        out.append(["bound", info.get("push_bound"), delivered, info["num_ack_pending"]])
    finally:
        await nc.close()
    return out


async def test_push_matches_nats_server(js_server_url: str, tmp_path: Path) -> None:
    theirs = await scenario(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await scenario(broker.listen_urls[0])
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}"
