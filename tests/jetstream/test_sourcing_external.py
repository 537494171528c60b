"""Mirrors and sources across accounts (``external``), differential against nats-server 2.15.1.

One nats-server config file for both servers: account A has the origin streams and exports
its consumer API, the deliver subjects and flow control; account B imports them under
``JS.A.API`` and sources from A through them.  Through nats-py: mirrors and sources (filter,
transforms, start sequence, two origins) catch up what A holds and follow what comes
after, enough of it to need flow control; an origin that does not exist shows its error
in STREAM.INFO and an API nobody imports none; a restart resumes without duplicates or
gaps; a restart without the API import leaves the streams as they were.  The messages
(the ``Nats-Stream-Source`` identity replaced by the origin's name, checked against the
origin's ``created``), stream states and STREAM.INFO's ``mirror``/``sources`` (``active``
checked and reduced to heard / not heard) must be the same on both servers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from natskern.kernel.jetstream.sourcing import stream_identity
from natskern.kernel.jetstream.wire import time_ns

from tests.jetstream.test_account_limits_diff import _natskern_cmd
from tests.jetstream.test_restart import connect_when_ready
from tests.support.processes import server_process
from tests.support.servers import NATS_SERVER_JS, free_port

API_IMPORT = '{ service: { account: A, subject: "$JS.API.CONSUMER.>" }, to: "JS.A.API.CONSUMER.>" }'
CONF = """
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{store}", strict: false }}
accounts {{
  A {{
    jetstream: enabled
    users = [ {{ user: a, password: a }} ]
    exports [
      {{ service: "$JS.API.CONSUMER.>" }}
      {{ stream: "deliver.b.>" }}
      {{ service: "$JS.FC.>" }}
    ]
  }}
  B {{
    jetstream: enabled
    users = [ {{ user: b, password: b }} ]
    imports [
      {api_import}
      {{ stream: {{ account: A, subject: "deliver.b.>" }} }}
      {{ service: {{ account: A, subject: "$JS.FC.>" }} }}
    ]
  }}
}}
"""
EXT = {"api": "JS.A.API", "deliver": "deliver.b"}
BULK = 2500  # 2.5 MB: more than a first flow-control window (a stall without answers)
STREAMS: list[dict[str, Any]] = [
    {"name": "M", "mirror": {"name": "O", "external": EXT}},
    {
        "name": "MF",
        "mirror": {"name": "O", "filter_subject": "o.1", "opt_start_seq": 2, "external": EXT},
    },
    {"name": "S", "sources": [{"name": "O", "filter_subject": "o.1", "external": EXT}]},
    {
        "name": "T",
        "sources": [
            {
                "name": "O",
                "subject_transforms": [{"src": "o.*", "dest": "t.$1"}],
                "external": EXT,
            },
            {"name": "P", "opt_start_seq": 2, "external": EXT},
        ],
    },
    {"name": "X", "sources": [{"name": "NOPE", "external": EXT}]},
    {"name": "Y", "mirror": {"name": "NOPE", "external": EXT}},
    {
        "name": "Z",
        "sources": [{"name": "O", "external": {"api": "JS.NONE.API", "deliver": "deliver.b"}}],
    },
]
#: Messages each stream holds after the first and the second round.
FIRST = {"M": 6 + BULK, "MF": 2, "S": 2, "T": 6 + BULK + 2}
SECOND = {"M": 8 + BULK, "MF": 3, "S": 3, "T": 8 + BULK + 3}


@contextlib.contextmanager
def server(cmd: list[str], conf: Path, port: int) -> Iterator[str]:
    """``cmd -c conf`` listening on ``port`` (its log beside the config); yields host:port."""
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with server_process([*cmd, "-c", str(conf)], port, env=env, log=conf.with_suffix(".log")):
        yield f"127.0.0.1:{port}"


async def _info(nc: nats.NATS, name: str) -> dict[str, Any]:
    return json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)).data)


async def _until(nc: nats.NATS, counts: dict[str, int]) -> None:
    for _ in range(1500):
        infos = {n: await _info(nc, n) for n in counts}
        if all(infos[n]["state"]["messages"] >= c for n, c in counts.items()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {counts}: {[i['state'] for i in infos.values()]}")


async def _until_error(nc: nats.NATS) -> None:
    """Until X's source and Y's mirror show the failed consumer create."""
    for _ in range(500):
        x, y = await _info(nc, "X"), await _info(nc, "Y")
        if "error" in x["sources"][0] and "error" in y["mirror"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the missing origin never showed an error")


def _source_info(info: dict[str, Any]) -> dict[str, Any]:
    """``mirror``/``sources`` with ``active`` reduced to whether the origin was heard."""
    out: dict[str, Any] = {}
    for key in ("mirror", "sources"):
        items = info.get(key)
        if items is None:
            continue
        listed = [items] if key == "mirror" else sorted(items, key=lambda s: s["name"])
        for item in listed:
            active = item.pop("active")
            assert active == -1 or 0 <= active < 20_000_000_000, item
            item["heard"] = active != -1
        out[key] = listed[0] if key == "mirror" else listed
    return out


async def _messages(nc: nats.NATS, name: str, idents: dict[str, str]) -> list[Any]:
    info = await _info(nc, name)
    out = []
    for seq in range(info["state"]["first_seq"], info["state"]["last_seq"] + 1):
        reply = await nc.request(
            f"$JS.API.STREAM.MSG.GET.{name}", json.dumps({"seq": seq}).encode(), timeout=5
        )
        msg = json.loads(reply.data).get("message")
        if msg is None:
            out.append((seq, None))
            continue
        hdrs = base64.b64decode(msg.get("hdrs", "")).decode()
        for origin, ident in idents.items():
            hdrs = hdrs.replace(f" {ident}\r\n", f" <{origin}>\r\n")
        data = base64.b64decode(msg.get("data", ""))
        out.append((seq, msg["subject"], hdrs, data if len(data) < 100 else len(data)))
    return out


async def _snapshot(b: nats.NATS, a: nats.NATS, names: list[str]) -> dict[str, Any]:
    idents = {}
    for origin in ("O", "P"):
        created = (await _info(a, origin))["created"]
        idents[origin] = stream_identity(time_ns(created))
    out: dict[str, Any] = {}
    for name in names:
        info = await _info(b, name)
        state = {k: info["state"][k] for k in ("messages", "first_seq", "last_seq")}
        out[name] = {"state": state, **_source_info(info)}
        if name in FIRST:
            msgs = await _messages(b, name, idents)
            if name == "T":  # two origins: their messages interleave as they arrive
                by_origin: dict[str, list[Any]] = {}
                for _, *rest in msgs:
                    by_origin.setdefault(rest[1].split("Nats-Stream-Source: ")[1][0], []).append(
                        rest
                    )
                out[name]["messages"] = by_origin
            else:
                out[name]["messages"] = msgs
    return out


async def _first(hostport: str) -> dict[str, Any]:
    a = await connect_when_ready(f"nats://a:a@{hostport}")
    b = await nats.connect(f"nats://b:b@{hostport}")
    try:
        ja = a.jetstream()
        await ja.add_stream(name="O", subjects=["o.>"])
        await ja.add_stream(name="P", subjects=["p.>"])
        await ja.publish("o.0", b"first")
        await ja.publish("o.1", b"x", headers={"h": "1", "Nats-Expected-Stream": "O"})
        await ja.publish("o.0", b"y", headers={"Nats-Msg-Id": "id-1"})
        await ja.publish("o.1", b"z", headers={"Nats-Msg-Id": "id-2"})
        await ja.publish("o.2", b"w")
        for i in range(3):
            await ja.publish("p.x", b"p%d" % i)
        for body in STREAMS:
            answer = await b.request(
                f"$JS.API.STREAM.CREATE.{body['name']}", json.dumps(body).encode(), timeout=5
            )
            assert "error" not in json.loads(answer.data), answer.data
        for i in range(BULK):  # while the sources copy
            await a.publish("o.bulk", b"%04d" % i + b"." * 996)
        await ja.publish("o.bulk", b"acked")  # (behind the bulk in the same connection)
        await _until(b, FIRST)
        await _until_error(b)
        return await _snapshot(b, a, [s["name"] for s in STREAMS])
    finally:
        await a.close()
        await b.close()


async def _second(hostport: str) -> dict[str, Any]:
    """After a restart: more in the origins, copied once each."""
    a = await connect_when_ready(f"nats://a:a@{hostport}")
    b = await nats.connect(f"nats://b:b@{hostport}")
    try:
        ja = a.jetstream()
        await ja.publish("o.1", b"after restart")
        await ja.publish("o.0", b"after restart")
        await ja.publish("p.y", b"after restart")
        await _until(b, SECOND)
        await asyncio.sleep(0.3)  # anything copied twice would show now
        return await _snapshot(b, a, [s["name"] for s in STREAMS if s["name"] in FIRST])
    finally:
        await a.close()
        await b.close()


async def _third(hostport: str) -> dict[str, Any]:
    """Restarted without the API import: nothing answers, nothing breaks."""
    a = await connect_when_ready(f"nats://a:a@{hostport}")
    b = await nats.connect(f"nats://b:b@{hostport}")
    try:
        await a.jetstream().publish("o.1", b"unreachable")
        await asyncio.sleep(0.5)
        out = await _snapshot(b, a, ["M", "S"])
        for name in ("M", "S"):
            out[name].pop("messages")
        return out
    finally:
        await a.close()
        await b.close()


async def _run(tmp: Path, name: str, cmd: list[str]) -> list[dict[str, Any]]:
    store = tmp / name
    results = []
    for round_, script in enumerate((_first, _second, _third)):
        port = free_port()
        conf = tmp / f"{name}-{round_}.conf"
        api_import = "" if script is _third else API_IMPORT
        conf.write_text(CONF.format(port=port, store=store, api_import=api_import))
        with server(cmd, conf, port) as hostport:
            results.append(await script(hostport))
    return results


async def test_external_mirrors_and_sources_match_nats_server(tmp_path: Path) -> None:
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    theirs = await _run(tmp_path, "nats-server", [NATS_SERVER_JS])
    ours = await _run(tmp_path, "natskern", _natskern_cmd())
    for round_ in range(3):
        assert ours[round_] == theirs[round_], round_
    first = theirs[0]
    assert first["S"]["messages"][0] == (
        1,
        "o.1",
        "NATS/1.0\r\nh: 1\r\nNats-Stream-Source: O:3V17LQ3b 2 o.1 > o.1 <O>\r\n\r\n",
        b"x",
    )
    assert first["X"]["sources"][0]["error"]["err_code"] == 10059
    assert "error" not in first["Z"]["sources"][0] and not first["Z"]["sources"][0]["heard"]
    assert first["M"]["mirror"]["lag"] == 0 and first["M"]["mirror"]["heard"]
