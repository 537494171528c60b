"""``mirror_direct``: a mirror answers the direct gets made to its origin's name.

Differential against nats-server 2.15.1: the same exchange through nats-py against both
servers, what the client sees recorded and compared.  With the origin and the mirror both
serving, either may answer (a queue group), so only the stream's being one of the two is
recorded; once the origin is deleted only the mirror answers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

Record = list[Any]


async def wait_msgs(nc: nats.NATS, stream: str, count: int) -> None:
    """Until ``stream`` holds ``count`` messages (the mirror has caught up)."""
    jsm = nc.jsm()
    for _ in range(500):
        if (await jsm.stream_info(stream)).state.messages == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{stream} never reached {count} messages")


async def direct(nc: nats.NATS, subject: str, body: bytes = b"") -> tuple[Any, ...]:
    """A direct get's answer as the client sees it (times left out)."""
    try:
        msg = await nc.request(subject, body, timeout=2)
    except NoRespondersError:
        return ("no responders",)
    except NatsTimeout:
        return ("timeout",)
    hdrs = dict(msg.headers or {})
    hdrs.pop("Nats-Time-Stamp", None)
    return (msg.data, hdrs)


async def scenario(nc: nats.NATS, rec: Record) -> None:
    jsm = nc.jsm()
    await jsm.add_stream(name="ORIG", subjects=["o.>"], allow_direct=True)
    await jsm.add_stream(name="PLAIN", subjects=["p.>"])
    js = nc.jetstream()
    for subject, value in [("o.a", b"1"), ("o.b", b"2"), ("o.a", b"3")]:
        await js.publish(subject, value)
    await js.publish("p.a", b"x")
    # mirror_direct is inherited from the origin's allow_direct
    resp = await nc.request(
        "$JS.API.STREAM.CREATE.MIR",
        json.dumps({"name": "MIR", "mirror": {"name": "ORIG"}}).encode(),
    )
    cfg = json.loads(resp.data)["config"]
    rec.append(("MIR", cfg.get("mirror_direct"), cfg.get("allow_direct"), cfg.get("subjects")))
    resp = await nc.request(
        "$JS.API.STREAM.CREATE.PMIR",
        json.dumps({"name": "PMIR", "mirror": {"name": "PLAIN"}, "mirror_direct": True}).encode(),
    )
    cfg = json.loads(resp.data)["config"]
    rec.append(("PMIR", cfg.get("mirror_direct"), cfg.get("allow_direct")))
    await wait_msgs(nc, "MIR", 3)
    await wait_msgs(nc, "PMIR", 1)
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.MIR", b"")).data)
    rec.append(("info", info["config"].get("mirror_direct"), info["mirror"]["name"]))
    # Both serve the origin's name: either answers, the same message.
    for _ in range(6):
        data, hdrs = await direct(nc, "$JS.API.DIRECT.GET.ORIG.o.a")
        rec.append((data, hdrs.pop("Nats-Stream") in ("ORIG", "MIR"), hdrs))
    # A mirror of a stream without direct gets does not serve them.
    rec.append(("plain", await direct(nc, "$JS.API.DIRECT.GET.PLAIN.p.a")))
    # The mirror has no allow_direct of its own: its own name is not served.
    rec.append(("own name", await direct(nc, "$JS.API.DIRECT.GET.MIR.o.a")))
    # The origin gone, the mirror alone answers for it.
    await jsm.delete_stream("ORIG")
    rec.append(("last", await direct(nc, "$JS.API.DIRECT.GET.ORIG.o.a")))
    rec.append(("seq", await direct(nc, "$JS.API.DIRECT.GET.ORIG", b'{"seq":2}')))
    rec.append(("next", await direct(nc, "$JS.API.DIRECT.GET.ORIG", b'{"next_by_subj":"o.>"}')))
    rec.append(("missing", await direct(nc, "$JS.API.DIRECT.GET.ORIG.o.zz")))
    rec.append(("batch", await direct(nc, "$JS.API.DIRECT.GET.ORIG", b'{"seq":1,"batch":1}')))
    rec.append(("empty", await direct(nc, "$JS.API.DIRECT.GET.ORIG")))
    # Mirror direct switched off by an update: no longer served.
    resp = await nc.request(
        "$JS.API.STREAM.UPDATE.MIR",
        json.dumps({"name": "MIR", "mirror": {"name": "ORIG"}, "mirror_direct": False}).encode(),
    )
    rec.append(("update", json.loads(resp.data).get("config", {}).get("mirror_direct")))
    rec.append(("after update", await direct(nc, "$JS.API.DIRECT.GET.ORIG.o.a")))
    # A new mirror with mirror_direct of an origin that does not exist (any more).
    resp = await nc.request(
        "$JS.API.STREAM.CREATE.MIR2",
        json.dumps({"name": "MIR2", "mirror": {"name": "GONE"}, "mirror_direct": True}).encode(),
    )
    rec.append(("MIR2", json.loads(resp.data)["config"].get("mirror_direct")))
    rec.append(("gone, empty mirror", await direct(nc, "$JS.API.DIRECT.GET.GONE.x")))


async def run(url: str) -> Record:
    nc = await nats.connect(url)
    rec: Record = []
    try:
        await scenario(nc, rec)
    finally:
        await nc.close()
    return rec


async def test_mirror_direct_matches_nats_server(url: str, reference_url: str) -> None:
    expected = await run(reference_url)
    got = await run(url)
    assert got == expected
    assert expected[-1] == ("gone, empty mirror", ("no responders",))
