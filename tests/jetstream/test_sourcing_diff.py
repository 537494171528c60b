"""Mirrors and sources, differential against nats-server 2.15.1 through nats-py.

The same streams and messages on both servers; then the headers of every sourced message
(``Nats-Stream-Source`` ends with the origin stream's identity, a hash of its creation
time, checked against each server's own ``created``) and STREAM.INFO's ``sources``
(with ``seq``, the last origin sequence taken) and ``mirror`` must be equal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import nats
from nats.js.api import StreamConfig, StreamSource, SubjectTransform
from natskern.kernel.jetstream.sourcing import stream_identity
from natskern.kernel.jetstream.wire import time_ns

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.jetstream.test_stream_config_diff import _delete_all

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def go_get_hash(text: str) -> str:
    """nats-server's ``getHash`` (the reference for :func:`stream_identity`)."""
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_DIGITS[b % 62] for b in digest[:8])


async def _info(nc: nats.NATS, name: str) -> dict[str, Any]:
    return json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)).data)


async def _until(nc: nats.NATS, name: str, count: int) -> None:
    for _ in range(500):
        if (await _info(nc, name))["state"]["messages"] >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} never reached {count} messages")


async def _headers(nc: nats.NATS, name: str, count: int) -> list[tuple[str, str]]:
    out = []
    for seq in range(1, count + 1):
        reply = await nc.request(
            f"$JS.API.STREAM.MSG.GET.{name}", json.dumps({"seq": seq}).encode(), timeout=5
        )
        msg = json.loads(reply.data)["message"]
        out.append((msg["subject"], base64.b64decode(msg.get("hdrs", "")).decode()))
    return out


def _source_info(info: dict[str, Any]) -> dict[str, Any]:
    """``mirror`` and ``sources`` (by name), ``active`` checked and dropped."""
    out: dict[str, Any] = {}
    for key in ("mirror", "sources"):
        items = info.get(key)
        if items is None:
            continue
        listed = [items] if key == "mirror" else sorted(items, key=lambda s: s["name"])
        for item in listed:
            assert 0 <= item.pop("active") < 10_000_000_000, item
        out[key] = listed[0] if key == "mirror" else listed
    return out


async def _script(url: str) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:
        await _delete_all(nc)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="O", subjects=["o.*"]))
        await js.add_stream(StreamConfig(name="MEM", subjects=["mem.*"], storage="memory"))
        await js.add_stream(StreamConfig(name="EMPTY", subjects=["e.*"]))
        await js.publish("o.1", b"a")
        await js.publish("o.2", b"b", headers={"h": "1", "Nats-Expected-Stream": "O"})
        await js.publish("o.1", b"c", headers={"Nats-Msg-Id": "m1"})
        await js.publish("o.3", b"d")
        await js.publish("mem.x", b"m" * 3, headers={"k": "v"})
        await js.add_stream(
            StreamConfig(
                name="ALL",
                sources=[
                    StreamSource(name="O", filter_subject="o.1"),
                    StreamSource(name="MEM"),
                    StreamSource(name="EMPTY"),
                ],
            )
        )
        await js.add_stream(
            StreamConfig(
                name="TR",
                sources=[
                    StreamSource(
                        name="O",
                        opt_start_seq=2,
                        subject_transforms=[SubjectTransform(src="o.*", dest="t.{{wildcard(1)}}")],
                    )
                ],
            )
        )
        await js.add_stream(StreamConfig(name="COPY", mirror=StreamSource(name="O")))
        await _until(nc, "ALL", 3)
        await _until(nc, "TR", 3)
        await _until(nc, "COPY", 4)
        await js.add_stream(StreamConfig(name="CHAIN", sources=[StreamSource(name="TR")]))
        await _until(nc, "CHAIN", 3)
        created = {n: (await _info(nc, n))["created"] for n in ("O", "MEM", "TR")}
        out: dict[str, Any] = {}
        for name, count in (("ALL", 3), ("TR", 3), ("COPY", 4), ("CHAIN", 3)):
            stored = await _headers(nc, name, count)
            for origin, stamp in created.items():
                ident = go_get_hash(stamp)
                assert ident == stream_identity(time_ns(stamp))
                stored = [(s, h.replace(f" {ident}\r\n", f" <{origin}>\r\n")) for s, h in stored]
            if name == "ALL":  # three sources: their messages interleave as they arrive
                stored.sort()
            out[name] = {"messages": stored, **_source_info(await _info(nc, name))}
        return out
    finally:
        await nc.close()


async def test_sourced_messages_and_source_info_match_nats_server(
    js_server_url: str, tmp_path: Path
) -> None:
    theirs = await _script(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _script(broker.listen_urls[0])
    assert ours == theirs
    assert ("o.1", "NATS/1.0\r\nNats-Stream-Source: O 1 o.1 > o.1 <O>\r\n\r\n") in theirs["ALL"][
        "messages"
    ]
    assert [s.get("seq") for s in theirs["ALL"]["sources"]] == [None, 1, 3]
    assert "seq" not in theirs["COPY"]["mirror"]
