"""Bucket mirrors, sources and republish through nats-py, against nats-server 2.15.1.

nats-py has no mirror or source options: the streams are made in nats.go's shape
(``prepareKeyValueConfig``) with a plain STREAM.CREATE, then bound with
``js.key_value``.  A mirror holds its origin's subjects (``$KV.<origin>.<key>``), so a
handle bound to it reads with the origin's prefix (what nats.go does for a mirror and
``natskern kv`` does for every mirror); unchanged, nats-py finds nothing there.  Each
scenario records what the client sees; both servers' recordings must be equal.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from nats.js.api import DeliverPolicy, KeyValueConfig, RePublish
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from tests.kv.test_kv_diff import Record, Scenario, attempt, entry
from tests.support.watchrace import longest, matches_reference

NS = 1_000_000_000


def kv_stream(bucket: str, **extra: Any) -> dict[str, Any]:
    """nats.go's stream config of a bucket (history 5), ``extra`` merged in."""
    cfg: dict[str, Any] = {
        "name": f"KV_{bucket}",
        "subjects": [f"$KV.{bucket}.>"],
        "max_msgs_per_subject": 5,
        "max_age": 0,
        "duplicate_window": 120 * NS,
        "max_msg_size": -1,
        "max_bytes": -1,
        "max_msgs": -1,
        "max_consumers": -1,
        "storage": "file",
        "num_replicas": 1,
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
        "discard": "new",
    }
    cfg.update(extra)
    return {k: v for k, v in cfg.items() if v is not None}


async def create(nc: nats.NATS, cfg: dict[str, Any]) -> dict[str, Any]:
    resp = await nc.request(f"$JS.API.STREAM.CREATE.{cfg['name']}", json.dumps(cfg).encode())
    reply: dict[str, Any] = json.loads(resp.data)
    assert "error" not in reply, reply
    return reply


async def wait_msgs(nc: nats.NATS, stream: str, count: int) -> None:
    jsm = nc.jsm()
    for _ in range(500):
        if (await jsm.stream_info(stream)).state.messages == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{stream} never reached {count} messages")


async def initial(w: KeyValue.KeyWatcher) -> list[Any]:
    seen: list[Any] = []
    async for e in w:
        if e is None:
            return seen
        seen.append(entry(e))
    return seen


async def mirror(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    okv = await js.create_key_value(KeyValueConfig(bucket="orig", history=5, direct=True))
    for key, value in [("a", b"1"), ("b", b"2"), ("a", b"3"), ("c.d", b"4")]:
        await okv.put(key, value)
    await okv.delete("b")
    info = await create(
        nc, kv_stream("mir", subjects=None, mirror={"name": "KV_orig"}, mirror_direct=True)
    )
    cfg = info["config"]
    rec.append(
        ("config", "subjects" in cfg, cfg["mirror"], cfg["mirror_direct"], cfg["allow_direct"])
    )
    await wait_msgs(nc, "KV_mir", 5)
    mkv = await js.key_value("mir")
    # nats-py unchanged looks for $KV.mir.<key>: nothing there
    await attempt(rec, mkv.get("a"))
    mkv._pre = "$KV.orig."
    await attempt(rec, mkv.get("a"))
    await attempt(rec, mkv.get("a", revision=1))
    await attempt(rec, mkv.get("b"))
    rec.append(("keys", sorted(await longest(mkv.keys, NoKeysError))))
    rec.append(
        ("history", [entry(e) for e in await longest(lambda: mkv.history("a"), NoKeysError)])
    )
    w = await mkv.watchall()
    rec.append(("watch", await asyncio.wait_for(initial(w), 10)))
    # a write through the mirror's handle reaches the origin, then comes back mirrored
    await attempt(rec, mkv.put("e", b"5"))
    e = await w.updates(timeout=10)
    rec.append(("live", entry(e) if e else None))
    await w.stop()
    # mirror_direct: with the origin gone, the origin's handle still reads, from the mirror
    await js.delete_key_value("orig")
    await attempt(rec, okv.get("a"))
    await attempt(rec, okv.get("c.d"))
    await attempt(rec, okv.get("b"))


async def sources(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    one = await js.create_key_value(KeyValueConfig(bucket="one", history=5))
    two = await js.create_key_value(KeyValueConfig(bucket="two", history=5))
    await one.put("a", b"1")
    await one.put("a", b"2")
    await one.delete("x")
    await two.put("b.c", b"3")
    await two.put("a", b"4")
    # one source first: revisions follow the origin's order
    solo = kv_stream(
        "solo",
        sources=[
            {
                "name": "KV_one",
                "subject_transforms": [{"src": "$KV.one.>", "dest": "$KV.solo.>"}],
            }
        ],
        subjects=["$KV.solo.>"],
    )
    cfg = (await create(nc, solo))["config"]
    rec.append(("solo config", cfg["subjects"], cfg["sources"]))
    await wait_msgs(nc, "KV_solo", 3)
    skv = await js.key_value("solo")
    await attempt(rec, skv.get("a"))
    await attempt(rec, skv.get("x"))
    rec.append(
        ("solo history", [entry(e) for e in await longest(lambda: skv.history("a"), NoKeysError)])
    )
    rec.append(("solo keys", await longest(skv.keys, NoKeysError)))
    await attempt(rec, skv.put("own", b"mine"))
    # two sources: the interleaving is the servers' own, so no revisions are recorded
    agg = kv_stream(
        "agg",
        sources=[
            {"name": f"KV_{b}", "subject_transforms": [{"src": f"$KV.{b}.>", "dest": "$KV.agg.>"}]}
            for b in ("one", "two")
        ],
    )
    await create(nc, agg)
    await wait_msgs(nc, "KV_agg", 5)
    akv = await js.key_value("agg")
    rec.append(("agg keys", sorted(await longest(akv.keys, NoKeysError))))
    got = await akv.get("b.c")
    rec.append(("agg b.c", got.key, got.value))
    hist = await longest(lambda: akv.history("a"), NoKeysError)
    rec.append(("agg a", sorted((e.value, e.operation) for e in hist)))
    # a new write to a source arrives in the sourced bucket
    w = await skv.watch("a", include_history=False)
    await asyncio.wait_for(initial(w), 10)
    await one.put("a", b"live")
    e = await w.updates(timeout=10)
    rec.append(("solo live", e.key, e.value, e.operation))
    await w.stop()
    msg = await nc.jsm().get_last_msg("KV_solo", "$KV.solo.a")
    src = (msg.headers or {}).get("Nats-Stream-Source", "")
    rec.append(("source header", src.split(" ")[:5]))


async def republish(nc: nats.NATS, rec: Record) -> None:
    js = nc.jetstream()
    sub = await nc.subscribe("rp.>")
    hsub = await nc.subscribe("h.>")
    kv = await js.create_key_value(
        KeyValueConfig(bucket="rp", history=3, republish=RePublish(src=">", dest="rp.>"))
    )
    hkv = await js.create_key_value(
        KeyValueConfig(
            bucket="rph", republish=RePublish(src="$KV.rph.k.>", dest="h.>", headers_only=True)
        )
    )
    st = await kv.status()
    rp = st.stream_info.config.republish
    rec.append(("config", rp.src, rp.dest, rp.headers_only))
    await kv.put("k", b"v1")
    await kv.put("k", b"v2")
    await kv.delete("k")
    await kv.purge("k")
    await kv.create("n", b"new")
    await hkv.put("k.1", b"payload")
    await hkv.put("other", b"not republished")
    await hkv.put("k.2", b"xx")

    def seen(msg: Any) -> tuple[Any, ...]:
        hdrs = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Time-Stamp"}
        return (msg.subject, msg.data, hdrs)

    rec.append(("republished", [seen(await sub.next_msg(timeout=5)) for _ in range(5)]))
    rec.append(("headers only", [seen(await hsub.next_msg(timeout=5)) for _ in range(2)]))
    # the bucket's own reads are unchanged
    await attempt(rec, kv.get("n"))
    try:
        await kv.get("k")
    except KeyNotFoundError as e:
        rec.append(type(e).__name__)
    try:
        await hkv.keys(filters=["nope"])
    except NoKeysError as e:
        rec.append(type(e).__name__)
    # nats-py's watch of updates only, over a republishing bucket
    osub = await js.subscribe("$KV.rp.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    await kv.put("u", b"1")
    msg = await osub.next_msg(timeout=5)
    rec.append(("ordered", msg.subject, msg.data))
    rec.append(("and republished", seen(await sub.next_msg(timeout=5))))


SCENARIOS: dict[str, Scenario] = {"mirror": mirror, "sources": sources, "republish": republish}


async def run(url: str, scenario: Scenario) -> Record:
    nc = await nats.connect(url)
    rec: Record = []
    try:
        await scenario(nc, rec)
    finally:
        await nc.close()
    return rec


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_kv_sources_match_nats_server(name: str, url: str, reference_url: str) -> None:
    await matches_reference(lambda u: run(u, SCENARIOS[name]), url, reference_url)
