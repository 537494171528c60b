"""Stream ``bytes`` and ``max_bytes``, differential against nats-server 2.15.1 through nats-py.

nats-server's memory store counts ``len(subject) + len(headers) + len(payload) + 16`` per
message, its file store ``30 + len(subject) + len(payload)`` (``+ 4 + len(headers)`` with
headers).  natskern's memory backend and its durable backends must report the same
``state.bytes`` and refuse or drop the same messages at ``max_bytes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.jetstream.test_stream_config_diff import _delete_all

#: (subject, headers, payload): without headers, with headers, an empty payload, UTF-8.
MESSAGES: list[tuple[str, dict[str, str] | None, bytes]] = [
    ("b.one", None, b"12345"),
    ("b.two", {"h": "1"}, b"12345"),
    ("b.three", {"Nats-Msg-Id": "x", "a": "bb"}, b""),
    ("b.\u00e9t\u00e9", None, b"x" * 40),
]


async def _state(nc: nats.NATS, name: str) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)
    state = json.loads(reply.data)["state"]
    return {k: state[k] for k in ("messages", "bytes", "first_seq", "last_seq")}


async def _script(url: str, storage: str) -> list[Any]:
    """Byte counts after each message, then max_bytes with discard new and discard old."""
    nc = await nats.connect(url)
    out: list[Any] = []
    try:
        await _delete_all(nc)
        js = nc.jetstream()
        await js.add_stream(name="B", subjects=["b.>"], storage=storage)
        for subject, headers, payload in MESSAGES:
            await js.publish(subject, payload, headers=headers)
            out.append(await _state(nc, "B"))
        # Room for exactly two of the "b.two" messages under either formula, not three.
        two = out[1]["bytes"] - out[0]["bytes"]
        for discard in ("new", "old"):
            name = f"L{discard.upper()}"
            await js.add_stream(
                name=name,
                subjects=[f"{name.lower()}.>"],
                storage=storage,
                max_bytes=2 * two + 1,
                discard=discard,
            )
            for _ in range(3):
                try:
                    ack = await js.publish(f"{name.lower()}.two", b"12345", headers={"h": "1"})
                    out.append(ack.seq)
                except NatsError as exc:
                    out.append(type(exc).__name__ + ": " + str(getattr(exc, "err_code", "")))
                out.append(await _state(nc, name))
    finally:
        await nc.close()
    return out


@pytest.mark.parametrize("storage", ["memory", "file"])
async def test_stream_bytes_match_nats_server(
    storage: str, js_server_url: str, tmp_path: Path
) -> None:
    theirs = await _script(js_server_url, storage)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _script(broker.listen_urls[0], storage)
    assert ours == theirs


async def test_memory_bytes_are_nats_servers_memory_store_figure(tmp_path: Path) -> None:
    """Without the reference: the formula itself, headers or not."""
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            js = nc.jetstream()
            await js.add_stream(name="M", subjects=["m.*"], storage="memory")
            await js.publish("m.a", b"12345")
            assert (await _state(nc, "M"))["bytes"] == 3 + 5 + 16
            await js.publish("m.b", b"12345", headers={"h": "1"})
            hdr = len(b"NATS/1.0\r\nh: 1\r\n\r\n")
            assert (await _state(nc, "M"))["bytes"] == 24 + 3 + hdr + 5 + 16
        finally:
            await nc.close()
