"""Generated stream configs, differential against nats-server 2.15.1.

Hypothesis builds CREATE bodies from a vocabulary of fields and values (valid ones,
boundaries and wrong JSON types) and, for some, an UPDATE of the stream it created;
nats-server's ``config``/``error`` must equal natskern's (see
``test_stream_config_diff`` for the harness and what is left out).
"""

from __future__ import annotations

import json
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.jetstream.test_stream_config_diff import Model, _delete_all, normalise, reference

SEC = 1_000_000_000

_DURATIONS = [0, -1, SEC // 20, SEC // 10, SEC, 2 * SEC, 120 * SEC]
_INTS = [0, -1, -2, 1, 5, 1024]
_WRONG = ["x", 1.5, [], {}, True, None]

_FIELDS: dict[str, list[Any]] = {
    "description": ["", "d", 5],
    "subjects": [
        [],
        ["fz"],
        ["fz.*", "fz.a"],
        ["fz.*", "fz.b.>"],
        ["fz.>"],
        ["$JS.API.x"],
        ["a..b"],
    ],
    "retention": ["limits", "interest", "workqueue", "LIMITS", 1],
    "max_consumers": _INTS,
    "max_msgs": _INTS,
    "max_bytes": _INTS,
    "max_age": _DURATIONS,
    "max_msgs_per_subject": _INTS,
    "max_msg_size": _INTS,
    "discard": ["old", "new", "New", "x"],
    "storage": ["file", "memory", "File"],
    "num_replicas": [0, 1, 3, -1],
    "no_ack": [True, False],
    "duplicate_window": _DURATIONS,
    "compression": ["none", "s2", ""],
    "first_seq": [0, 1, 10, -1],
    "subject_transform": [
        {"src": "fz.*", "dest": "out.$1"},
        {"src": "", "dest": ""},
        {"src": "fz.*", "dest": "out.{{partition(3,1)}}"},
        {"src": "fz.*", "dest": "x.*"},
    ],
    "republish": [{"dest": "rp.>"}, {"src": "fz.>", "dest": "rp.>"}, {"src": ">", "dest": ">"}],
    "allow_direct": [True, False],
    "mirror_direct": [True, False],
    "discard_new_per_subject": [True, False],
    "sealed": [False, True],
    "deny_delete": [True, False],
    "deny_purge": [True, False],
    "allow_rollup_hdrs": [True, False],
    "allow_msg_ttl": [True, False],
    "subject_delete_marker_ttl": _DURATIONS,
    "consumer_limits": [{}, {"inactive_threshold": SEC}, {"max_ack_pending": -1}],
    "metadata": [{}, {"k": "v"}, {"_nats.req.level": "7"}],
    "mirror": [{"name": "ORIGIN"}, {"name": "ORIGIN", "filter_subject": "origin.a"}],
    "sources": [[{"name": "ORIGIN"}], [{"name": "A"}, {"name": "B", "filter_subject": "b.>"}]],
    "pedantic": [True, False],
}


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "FZ"}
    for name in draw(st.lists(st.sampled_from(sorted(_FIELDS)), max_size=6, unique=True)):
        values = _FIELDS[name]
        body[name] = draw(
            st.sampled_from(values + (_WRONG if draw(st.booleans()) and name != "sources" else []))
        )
    return body


@pytest.fixture(scope="module")
def origin_config() -> dict[str, Any]:
    return {"name": "ORIGIN", "subjects": ["origin.>"], "max_msg_size": 100, "allow_direct": True}


async def _both(nc: nats.NATS, model: Model, op: str, name: str, body: bytes) -> tuple[Any, Any]:
    theirs = await reference(nc, op, name, body)
    return normalise(model.run(op, name, body)), theirs


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(create=bodies(), change=st.one_of(st.none(), bodies()))
async def test_generated_configs_match(
    create: dict[str, Any],
    change: dict[str, Any] | None,
    js_server_url: str,
    mapping_functions: dict[str, Any],
    origin_config: dict[str, Any],
) -> None:
    model = Model(mapping_functions)
    nc = await nats.connect(js_server_url)
    try:
        await _delete_all(nc)
        origin = json.dumps(origin_config).encode()
        assert (await _both(nc, model, "create", "ORIGIN", origin))[0].get("config")
        ours, theirs = await _both(nc, model, "create", "FZ", json.dumps(create).encode())
        assert ours == theirs, create
        if change is not None and "config" in theirs:
            ours, theirs = await _both(nc, model, "update", "FZ", json.dumps(change).encode())
            assert ours == theirs, (create, change)
    finally:
        await nc.close()
