"""Stream ``placement`` on a single, non-clustered server, differential against 2.15.1.

A placement naming a cluster or tags is accepted and kept (there is nothing to place on
one server), an empty one is dropped, ``preferred`` is refused with ``10052``; an update
may change the placement.  The same requests must get the same answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats

from tests.jetstream.test_api_e2e import jetstream_broker

CASES: list[dict[str, Any]] = [
    {"cluster": "other"},
    {"cluster": ""},
    {"tags": ["x"]},
    {"preferred": "srv"},
    {"cluster": "other", "tags": ["a", "b"]},
    {},
    {"cluster": "C1", "preferred": "x"},
]


async def _script(url: str) -> list[Any]:
    nc = await nats.connect(url)
    out: list[Any] = []
    try:
        for i, placement in enumerate(CASES):
            body = {"name": f"P{i}", "subjects": [f"p{i}"], "placement": placement}
            raw = await nc.request(f"$JS.API.STREAM.CREATE.P{i}", json.dumps(body).encode())
            answer = json.loads(raw.data)
            out.append((answer.get("error"), (answer.get("config") or {}).get("placement")))
            if "error" in answer:
                continue
            body["placement"] = {"cluster": "zzz", "tags": ["t"]}
            raw = await nc.request(f"$JS.API.STREAM.UPDATE.P{i}", json.dumps(body).encode())
            answer = json.loads(raw.data)
            out.append((answer.get("error"), (answer.get("config") or {}).get("placement")))
            await nc.request(f"$JS.API.STREAM.DELETE.P{i}", b"")
    finally:
        await nc.close()
    return out


async def test_placement_answers_match_nats_server(js_server_url: str, tmp_path: Path) -> None:
    theirs = await _script(js_server_url)
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await _script(broker.listen_urls[0])
    assert ours == theirs
    preferred = {
        "code": 500,
        "err_code": 10052,
        "description": "preferred server not permitted in placement",
    }
    assert theirs[0] == (None, {"cluster": "other"})
    assert theirs[1] == (None, {"cluster": "zzz", "tags": ["t"]})
    assert (preferred, None) in theirs
    assert (None, None) in theirs  # an empty placement is dropped
