"""nats-server 2.15's per-stream consumer cap (``limits { default_max_consumers }``) and the
JetStream plugin's reading of ``sync_interval`` and ``limits``.

The cap against nats-server 2.15.1 through nats-py is in
``tests/natsconf/test_natsconf_jetstream.py``; here the rules it showed: 1000 by default, a
stream's own ``max_consumers`` wins, ``-1`` lifts the cap, updates of existing consumers
are not counted.
"""

from __future__ import annotations

import json

import pytest
from natskern.kernel.errors import ConfigError
from natskern.kernel.jetstream.consumercheck import check_create
from natskern.kernel.jetstream.consumerconfig import ConsumerConfig
from natskern.kernel.jetstream.engine import DEFAULT_MAX_CONSUMERS
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.streamrequest import check_create as check_stream
from natskern.plugins.jetstream.plugin import default_max_consumers, sync_mode


def _fill(max_consumers: int, cap: int, tries: int) -> list[int | str]:
    """Create ``tries`` durables on stream S; the outcome of each (ok or the err_code)."""
    body = json.dumps({"name": "S", "subjects": ["s.>"], "max_consumers": max_consumers})
    stream = check_stream("S", body, lookup=lambda _n: None, functions={})
    consumers: dict[str, ConsumerConfig] = {}
    out: list[int | str] = []
    for i in range(tries):
        req = json.dumps({"stream_name": "S", "config": {"durable_name": f"D{i}"}}).encode()
        tokens = f"$JS.API.CONSUMER.CREATE.S.D{i}".split(".")
        try:
            _, plan = check_create(
                tokens,
                req,
                lambda _n: stream,
                lambda _n: consumers,
                default_max_consumers=cap,
            )
        except ApiError as err:
            out.append(err.err_code)
            continue
        consumers[plan.name] = plan.config
        out.append("ok")
    return out


def test_the_default_cap_is_nats_servers_1000() -> None:
    outcome = _fill(-1, DEFAULT_MAX_CONSUMERS, 1001)
    assert outcome[:1000] == ["ok"] * 1000 and outcome[1000] == 10026


@pytest.mark.parametrize(
    ("max_consumers", "cap", "expected"),
    [
        (-1, 2, ["ok", "ok", 10026]),
        (0, 2, ["ok", "ok", 10026]),
        (3, 2, ["ok", "ok", "ok", 10026]),  # the stream's own limit wins, even above the cap
        (1, 5, ["ok", 10026]),
        (-1, -1, ["ok"] * 5),  # -1: no cap
    ],
)
def test_a_streams_own_limit_wins_over_the_default(
    max_consumers: int, cap: int, expected: list[int | str]
) -> None:
    assert _fill(max_consumers, cap, len(expected)) == expected


def test_updating_an_existing_consumer_is_not_a_new_one() -> None:
    stream = check_stream("S", b'{"name": "S"}', lookup=lambda _n: None, functions={})
    req = json.dumps({"stream_name": "S", "config": {"durable_name": "D"}}).encode()
    tokens = ["$JS", "API", "CONSUMER", "CREATE", "S", "D"]
    _, plan = check_create(tokens, req, lambda _n: stream, lambda _n: {}, default_max_consumers=1)
    _, again = check_create(
        tokens, req, lambda _n: stream, lambda _n: {"D": plan.config}, default_max_consumers=1
    )
    assert again.op == "same"


@pytest.mark.parametrize(
    ("limits", "cap"),
    [
        ({}, 1000),
        ({"default_max_consumers": 0}, 1000),
        ({"default_max_consumers": 7}, 7),
        ({"default_max_consumers": -1}, -1),
    ],
)
def test_plugin_reads_default_max_consumers(limits: dict[str, int], cap: int) -> None:
    assert default_max_consumers(limits) == cap


@pytest.mark.parametrize(
    ("interval", "mode"),
    [
        ("always", "always"),
        ("Always", "always"),
        ("0s", "always"),
        (0, "always"),
        ("10s", 10_000_000_000),
        ("1m30s", 90_000_000_000),
        (1.5, 1_500_000_000),
    ],
)
def test_sync_interval_modes(interval: str | float, mode: str | int) -> None:
    assert sync_mode(interval) == mode


@pytest.mark.parametrize("interval", ["bogus", "-1s", -2, True])
def test_bad_sync_intervals_are_config_errors(interval: object) -> None:
    with pytest.raises(ConfigError, match=r"jetstream\.sync_interval"):
        sync_mode(interval)
