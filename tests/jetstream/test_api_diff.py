"""Differential tests of the stream API and the publish path: natskern vs nats-server 2.15.1.

A script of steps (API requests and publishes with headers) runs against a real
nats-server and a real natskern broker, both through nats-py; every answer must be
equal after dropping times, the server's name and its version metadata.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from tests.jetstream.test_api_e2e import jetstream_broker
from tests.jetstream.test_stream_config_diff import _delete_all
from tests.support.jsapi import request_past_flake

Step = tuple[str, str, Any, dict[str, str] | None]


def api(subject: str, body: Any = b"") -> Step:
    return ("req", "$JS.API." + subject, body, None)


def direct(subject: str, body: Any = b"", kind: str = "raw") -> Step:
    """A direct get: the raw reply message(s), or ``"503"`` when nobody answers."""
    return (kind, "$JS.API.DIRECT.GET." + subject, body, None)


def pub(subject: str, payload: bytes = b"x", **headers: str) -> Step:
    return ("req", subject, payload, {k.replace("_", "-"): v for k, v in headers.items()} or None)


#: Times, and ``bytes``: nats-server's file store counts 30 bytes per record (+4 with
#: headers) where natskern's stores count 22 (reported to the store's owner).
_TIMES = ("created", "ts", "first_ts", "last_ts", "time", "bytes", "storage", "memory")


def normalise(value: Any) -> Any:
    """Times and the answering server's identity removed, recursively."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _TIMES:
                continue
            if k == "cluster":
                v = {kk: vv for kk, vv in v.items() if kk != "leader"}
            if k == "metadata":
                v = {kk: vv for kk, vv in v.items() if kk not in ("_nats.ver", "_nats.level")}
            if k == "api" and isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk != "level"}
            out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


S = {"name": "S", "subjects": ["s.>"]}

SCRIPTS: dict[str, list[Step]] = {
    "lifecycle": [
        api("INFO"),
        api("STREAM.CREATE.S", S),
        pub("s.a", b"one"),
        pub("s.b", b"two", Nats_Msg_Id="m1"),
        pub("s.b", b"two", Nats_Msg_Id="m1"),
        api("STREAM.INFO.S"),
        api("STREAM.INFO.S", {"subjects_filter": ">"}),
        api("STREAM.INFO.S", {"subjects_filter": "s.a", "deleted_details": True}),
        api("STREAM.NAMES"),
        api("STREAM.NAMES", {"subject": "s.x"}),
        api("STREAM.NAMES", {"subject": "t"}),
        api("STREAM.LIST"),
        api("STREAM.MSG.GET.S", {"seq": 2}),
        api("STREAM.MSG.GET.S", {"last_by_subj": "s.a"}),
        api("STREAM.MSG.GET.S", {"next_by_subj": "s.b", "seq": 1}),
        api("STREAM.MSG.GET.S", {"seq": 9}),
        api("STREAM.MSG.GET.S", b""),
        api("STREAM.MSG.GET.S", {}),
        api("STREAM.MSG.GET.S", {"seq": 1, "last_by_subj": "s.a"}),
        api("STREAM.MSG.GET.S", {"seq": 1, "batch": 2}),
        api("STREAM.MSG.GET.NOPE", {"seq": 1}),
        api("STREAM.MSG.DELETE.S", {"seq": 1}),
        api("STREAM.MSG.DELETE.S", {"seq": 1}),
        api("STREAM.MSG.DELETE.S", {"seq": 99}),
        api("STREAM.MSG.DELETE.S", {"seq": 0}),
        pub("s.c"),
        pub("s.c"),
        api("STREAM.MSG.DELETE.S", {"seq": 4}),
        api("STREAM.MSG.DELETE.S", {"seq": 4}),
        api("STREAM.MSG.DELETE.S", {}),
        api("STREAM.MSG.DELETE.S", b""),
        api("STREAM.MSG.DELETE.S", {"seq": "x"}),
        api("STREAM.INFO.S", {"deleted_details": True}),
        api("STREAM.PURGE.S", {"seq": 1, "keep": 1}),
        api("STREAM.PURGE.S", {"filter": "s.b"}),
        api("STREAM.PURGE.S"),
        api("STREAM.INFO.S"),
        api("STREAM.CREATE.S", S),
        api("STREAM.UPDATE.S", {**S, "max_msgs": 5}),
        api("STREAM.INFO.NOPE"),
        api("STREAM.NAMES", {"offset": "x"}),
        api("STREAM.DELETE.S"),
        api("STREAM.DELETE.S"),
        api("STREAM.NAMES"),
        api("INFO"),
        ("req", "$JS.API.INFO", b"", {"Nats-Required-Api-Level": "99"}),
        ("req", "$JS.API.STREAM.CREATE.S", json.dumps(S), {"Nats-Required-Api-Level": "99"}),
        ("req", "$JS.API.STREAM.NAMES", b"", {"Nats-Required-Api-Level": "99"}),
        ("req", "$JS.API.STREAM.INFO.S", b"", {"Nats-Required-Api-Level": "x"}),
        ("req", "$JS.API.STREAM.NAMES", b"", {"Nats-Required-Api-Level": "1"}),
    ],
    "expected-headers": [
        api("STREAM.CREATE.S", S),
        pub("s.a", Nats_Msg_Id="a"),
        pub("s.b"),
        pub("s.a", Nats_Expected_Last_Sequence="1"),
        pub("s.a", Nats_Expected_Last_Sequence="2"),
        pub("s.a", Nats_Expected_Last_Sequence="x"),
        pub("s.a", Nats_Expected_Last_Subject_Sequence="1"),
        pub("s.a", Nats_Expected_Last_Subject_Sequence="3"),
        pub("s.c", Nats_Expected_Last_Subject_Sequence="0"),
        pub(
            "s.d",
            Nats_Expected_Last_Subject_Sequence="2",
            Nats_Expected_Last_Subject_Sequence_Subject="s.b",
        ),
        pub("s.d", Nats_Expected_Last_Subject_Sequence_Subject="s.b"),
        pub("s.a", Nats_Expected_Stream="T"),
        pub("s.a", Nats_Expected_Stream="S"),
        pub("s.a", Nats_Expected_Last_Msg_Id="zz"),
        pub("s.a", Nats_Msg_Id="b"),
        pub("s.a", Nats_Expected_Last_Msg_Id="b"),
        pub("s.a", Nats_Msg_Id="a", Nats_Expected_Last_Sequence="1"),
        pub("s.a", Nats_Rollup="sub"),
        pub("s.a", Nats_TTL="1m"),
        pub("s.a", Nats_TTL="bogus"),
        pub("s.a", Nats_Msg_Id="a", Nats_Expected_Last_Sequence="7"),
        pub("s.a", Nats_Rollup="sub", Nats_Expected_Last_Sequence="7"),
        pub("s.a", Nats_Rollup="sub", Nats_Expected_Last_Msg_Id="zz"),
        pub("s.a", Nats_Msg_Id="a", Nats_Expected_Stream="Q"),
        pub("s.a", Nats_Msg_Id="a", Nats_TTL="1m"),
        pub("s.a", Nats_Expected_Last_Msg_Id="zz", Nats_Msg_Id="new"),
        pub("s.a", b"x", Nats_Expected_Stream="Q", X_Big="y" * 70000),
    ],
    "rollup-ttl-limits": [
        api(
            "STREAM.CREATE.S",
            {**S, "allow_rollup_hdrs": True, "allow_msg_ttl": True, "max_msg_size": 16},
        ),
        pub("s.a", b"1"),
        pub("s.a", b"2"),
        pub("s.b", b"3"),
        pub("s.a", b"4", Nats_Rollup="sub"),
        api("STREAM.INFO.S", {"subjects_filter": ">"}),
        pub("s.a", b"5", Nats_Rollup="bogus"),
        pub("s.c", b"6", Nats_Rollup="all"),
        api("STREAM.INFO.S"),
        pub("s.a", b"x" * 17),
        pub("s.a", b"x" * 17, Nats_Expected_Stream="Q"),
        pub("s.a", b"x" * 17, Nats_Rollup="bogus"),
        pub("s.a", b"7", Nats_TTL="500ms"),
        pub("s.a", b"7", Nats_TTL="x"),
        pub("s.a", b"8", Nats_TTL="1h"),
        pub("s.a", b"9", Nats_TTL="never"),
        api("STREAM.MSG.GET.S", {"last_by_subj": "s.a"}),
    ],
    "discard-new": [
        api(
            "STREAM.CREATE.S",
            {
                **S,
                "max_msgs": 2,
                "discard": "new",
                "max_msgs_per_subject": 1,
                "discard_new_per_subject": True,
            },
        ),
        pub("s.a"),
        pub("s.a"),
        pub("s.a", Nats_Rollup="sub"),
        pub("s.b"),
        pub("s.c"),
        api("STREAM.INFO.S"),
    ],
    "sealed-deny": [
        api("STREAM.CREATE.S", {**S, "deny_delete": True, "deny_purge": True}),
        pub("s.a"),
        api("STREAM.MSG.DELETE.S", {"seq": 1}),
        api("STREAM.PURGE.S"),
        api("STREAM.UPDATE.S", {**S, "deny_delete": True, "deny_purge": True, "sealed": True}),
        pub("s.a"),
        pub("s.a", Nats_Expected_Stream="Q"),
        api("STREAM.PURGE.S"),
        api("STREAM.MSG.DELETE.S", {"seq": 1}),
        api("STREAM.INFO.S"),
    ],
    "transform-interest": [
        api("STREAM.CREATE.S", {**S, "subject_transform": {"src": "s.*", "dest": "t.$1"}}),
        pub("s.a"),
        api("STREAM.MSG.GET.S", {"seq": 1}),
        api("STREAM.CREATE.I", {"name": "I", "subjects": ["i"], "retention": "interest"}),
        pub("i"),
        pub("i", Nats_Msg_Id="q"),
        pub("i", Nats_Msg_Id="q"),
        api("STREAM.INFO.I"),
        api("STREAM.CREATE.F", {"name": "F", "subjects": ["f"], "first_seq": 10}),
        api("STREAM.INFO.F"),
        pub("f"),
        api("STREAM.INFO.F"),
    ],
    "limits-discard-old": [
        api("STREAM.CREATE.S", {**S, "max_msgs": 3, "max_msgs_per_subject": 2}),
        pub("s.a", b"1"),
        pub("s.a", b"2"),
        pub("s.a", b"3"),
        pub("s.b", b"4"),
        pub("s.c", b"5"),
        api("STREAM.INFO.S", {"subjects_filter": ">", "deleted_details": True}),
        api("STREAM.UPDATE.S", {**S, "max_msgs": 1}),
        api("STREAM.INFO.S", {"subjects_filter": ">"}),
        api("STREAM.MSG.GET.S", {"seq": 5}),
        api("STREAM.MSG.GET.S", {"seq": 4}),
    ],
    "update-subjects": [
        api("STREAM.CREATE.S", {**S, "subjects": ["s.a"]}),
        pub("s.a", b"1"),
        api("STREAM.UPDATE.S", {**S, "subjects": ["s.b"]}),
        ("req", "s.a", b"lost", None),
        pub("s.b", b"2"),
        api("STREAM.INFO.S", {"subjects_filter": ">"}),
        api(
            "STREAM.UPDATE.S",
            {**S, "subjects": ["s.b", "s.c"], "subject_transform": {"src": "s.c", "dest": "s.cc"}},
        ),
        pub("s.c", b"3"),
        api("STREAM.INFO.S", {"subjects_filter": ">"}),
        api(
            "STREAM.UPDATE.S",
            {**S, "subjects": ["s.b"], "republish": {"src": "s.b", "dest": "rp.b"}},
        ),
        api("STREAM.UPDATE.S", {**S, "subjects": ["s.b"], "allow_msg_ttl": True}),
        api("STREAM.UPDATE.S", {**S, "subjects": ["s.b"]}),
    ],
    "direct-get": [
        api("STREAM.CREATE.D", {"name": "D", "subjects": ["d.>"], "allow_direct": True}),
        api("STREAM.CREATE.N", {"name": "N", "subjects": ["n"]}),
        pub("d.a", b"one", X_A="1"),
        pub("d.b", b"two"),
        pub("d.a", b""),
        pub("d.c", b"three", X_B="2"),
        direct("D", {"seq": 1}),
        direct("D", {"seq": 2}),
        direct("D", {"last_by_subj": "d.a"}),
        direct("D", {"next_by_subj": "d.b"}),
        direct("D", {"next_by_subj": "d.a", "seq": 2}),
        direct("D.d.b"),
        direct("D.d.*"),
        direct("D.d.>"),
        direct("D.d.zz"),
        direct("D", {"seq": 99}),
        direct("D"),
        direct("D", {}),
        direct("D", b"{x"),
        direct("D", {"seq": "x"}),
        direct("D", {"seq": 1, "last_by_subj": "d.a"}),
        direct("D", {"last_by_subj": "d.a", "batch": 2}),
        direct("D.d.b", {"seq": 1}),
        direct("D.d.b", b"{x"),
        direct("D", {"seq": 1, "no_hdr": True}),
        direct("NOPE", {"seq": 1}),
        direct("N", {"seq": 1}),
        direct("D", {"seq": 1, "batch": 3}, "batch"),
        direct("D", {"seq": 2, "batch": 10}, "batch"),
        direct("D", {"next_by_subj": "d.a", "batch": 5}, "batch"),
        direct("D", {"seq": 50, "batch": 2}, "batch"),
        direct("D", {"seq": 1, "batch": 10, "max_bytes": 5}, "batch"),
        pub("d.c.x", b"four"),
        pub("d.b", b"five"),
        direct("D", {"multi_last": ["d.a", "d.b"]}, "batch"),
        direct("D", {"multi_last": ["d.>"]}, "batch"),
        direct("D", {"multi_last": ["d.*"], "up_to_seq": 3}, "batch"),
        direct("D", {"multi_last": ["d.*"], "seq": 4}, "batch"),
        direct("D", {"multi_last": ["zz"]}, "batch"),
        direct("D", {"multi_last": ["d.>"], "batch": 2}, "batch"),
        direct("D", {"multi_last": ["d.a"], "last_by_subj": "d.a"}, "batch"),
        direct("D", {"start_time": "2000-01-01T00:00:00Z"}),
        direct("D", {"start_time": "2000-01-01T00:00:00Z", "batch": 2}, "batch"),
        direct("D", {"start_time": "2100-01-01T00:00:00Z"}),
        direct("D", {"start_time": "2000-01-01T00:00:00Z", "seq": 1}),
        api("STREAM.MSG.GET.D", {"start_time": "2000-01-01T00:00:00Z"}),
        api("STREAM.MSG.GET.D", {"start_time": "2100-01-01T00:00:00Z"}),
        api("STREAM.MSG.GET.D", {"start_time": "2000-01-01T00:00:00Z", "next_by_subj": "d.b"}),
    ],
}


def _raw(msg: Msg) -> tuple[dict[str, str], bytes]:
    headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Time-Stamp"}
    return headers, msg.data


async def _batch(nc: nats.NATS, subject: str, data: bytes) -> list[Any]:
    """Every reply to a batch direct get, up to its EOB (or a lone error status)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, data, reply=inbox)
    got: list[Any] = []
    while True:
        msg = await sub.next_msg(timeout=5)
        got.append(_raw(msg))
        status = (msg.headers or {}).get("Status")
        if status is not None:
            break
    await sub.unsubscribe()
    return got


async def run_script(url: str, steps: list[Step]) -> list[Any]:
    nc = await nats.connect(url)
    out = []
    try:
        await _delete_all(nc)
        for kind, subject, body, headers in steps:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            if kind == "batch":
                out.append(await _batch(nc, subject, data))
                continue
            try:
                msg = await request_past_flake(nc, subject, data, headers)
            except NoRespondersError:
                out.append("503")
                continue
            if kind == "raw":
                out.append(_raw(msg))
            else:
                out.append(normalise(json.loads(msg.data)) if msg.data else msg.headers)
    finally:
        await nc.close()
    return out


@pytest.fixture(scope="module")
async def natskern_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with jetstream_broker(tmp_path_factory.mktemp("nk")) as (broker, _):
        yield broker.listen_urls[0]


@pytest.mark.parametrize("script", list(SCRIPTS), ids=list(SCRIPTS))
async def test_api_matches_nats_server(script: str, js_server_url: str, tmp_path: Path) -> None:
    theirs = await run_script(js_server_url, SCRIPTS[script])
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await run_script(broker.listen_urls[0], SCRIPTS[script])
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}: {SCRIPTS[script][i][1]} {SCRIPTS[script][i][2]!r}"


DOMAIN_SCRIPT: list[Step] = [
    api("INFO"),
    ("req", "$JS.hub.API.STREAM.CREATE.S", S, None),
    pub("s.a"),
    pub("s.a", Nats_Msg_Id="d"),
    pub("s.a", Nats_Msg_Id="d"),
    pub("s.a", Nats_Expected_Stream="T"),
    ("req", "$JS.hub.API.STREAM.INFO.S", b"", None),
    api("STREAM.UPDATE.S", {**S, "max_msgs": 9}),
    ("req", "$JS.hub.API.INFO", b"", None),
]


async def test_domain_matches_nats_server(tmp_path: Path) -> None:
    """With ``domain: hub``: the domain API prefix, PubAck's and INFO's ``domain``."""
    from tests.jetstream.conftest import jetstream_server

    (tmp_path / "ref").mkdir()
    with jetstream_server(tmp_path / "ref", ', domain: "hub"') as url:
        theirs = await run_script(url, DOMAIN_SCRIPT)
    async with jetstream_broker(tmp_path / "nk", domain="hub") as (broker, _):
        ours = await run_script(broker.listen_urls[0], DOMAIN_SCRIPT)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}: {DOMAIN_SCRIPT[i][1]}"


async def _request_ok(nc: nats.NATS, subject: str, data: bytes) -> None:
    """An API request that must succeed (nats-server's store flake is asked again)."""
    answer = json.loads((await request_past_flake(nc, subject, data)).data)
    assert "error" not in answer, (subject, answer)


async def _advisories(url: str) -> list[tuple[str, dict[str, Any]]]:
    nc = await nats.connect(url)
    got: list[tuple[str, dict[str, Any]]] = []
    try:
        await _delete_all(nc)
        sub = await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>")
        await nc.flush()
        for subject, body in (
            ("CREATE.A", {"name": "A"}),
            ("UPDATE.A", {"name": "A", "max_msgs": 3}),
            ("DELETE.A", b""),
        ):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            await _request_ok(nc, "$JS.API.STREAM." + subject, data)
        for _ in range(3):
            msg = await sub.next_msg(timeout=5)
            event = json.loads(msg.data)
            assert len(event.pop("id")) == 22 and event.pop("timestamp")
            got.append((msg.subject, event))
    finally:
        await nc.close()
    return got


async def test_stream_advisories_match_nats_server(js_server_url: str, tmp_path: Path) -> None:
    theirs = await _advisories(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _advisories(broker.listen_urls[0])
    assert ours == theirs


async def _marker(url: str) -> tuple[int, dict[str, str], bytes]:
    """The subject delete marker left after a ``Nats-TTL`` expiry emptied its subject."""
    nc = await nats.connect(url)
    try:
        await _delete_all(nc)
        body = {"name": "MK", "subjects": ["m.>"], "subject_delete_marker_ttl": 1_000_000_000}
        await _request_ok(nc, "$JS.API.STREAM.CREATE.MK", json.dumps(body).encode())
        await nc.request("m.a", b"short", headers={"Nats-TTL": "1s"}, timeout=5)
        await nc.request("m.b", b"stays", timeout=5)
        get = json.dumps({"last_by_subj": "m.a"}).encode()
        for _ in range(400):
            reply = json.loads((await nc.request("$JS.API.STREAM.MSG.GET.MK", get, timeout=5)).data)
            message = reply.get("message")
            if message and message["seq"] != 1:
                raw = base64.b64decode(message.get("hdrs", ""))
                headers = dict(
                    line.split(": ", 1) for line in raw.decode().split("\r\n")[1:] if ": " in line
                )
                return message["seq"], headers, base64.b64decode(message.get("data", ""))
            await asyncio.sleep(0.01)
        raise AssertionError("no marker")
    finally:
        await nc.close()


async def test_subject_delete_marker_matches_nats_server(
    js_server_url: str, tmp_path: Path
) -> None:
    theirs = await _marker(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _marker(broker.listen_urls[0])
    assert (
        ours
        == theirs
        == (3, {"Nats-Marker-Reason": "MaxAge", "Nats-TTL": "1s", "Nats-Rollup": "sub"}, b"")
    )
