"""Differential tests: the same traffic against natskern and nats-server, then compare
the monitoring JSON — key sets and value types, and the counters.

nats-server keeps ~40 internal subscriptions and system-account imports; counts
are compared as differences from a baseline taken before the traffic, and the
few keys that only exist because of those internals are listed in ``ONLY_GNATSD``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import nats
import pytest

if TYPE_CHECKING:
    from tests.monitoring.conftest import GnatsdMonitored, Http, Monitored

#: Key paths nats-server has and natskern does not, with the reason.
ONLY_GNATSD = {
    # The system imports nats-server adds to every account ($SYS.REQ.ACCOUNT.PING.CONNZ...).
    "account_detail.imports",
}

ENDPOINTS = [
    "/varz",
    "/connz?state=any&subs=detail&auth=1",
    "/connz?subs=1",
    "/connz?state=closed&subs=1",
    "/connz?sort=msgs_from&limit=1&offset=1",
    "/subsz",
    "/subsz?subs=1&test=foo.x",
    "/routez",
    "/gatewayz",
    "/leafz",
    "/accountz",
    "/accountz?acc=$G",
    "/accstatz",
    "/healthz",
    # /jsz is compared with nats-server 2.15.1, the JetStream reference (2.9.10 has no
    # api.level nor total): tests/monitoring/test_monitor_jsz_diff.py.
]


def kind(value: Any) -> str:
    """A JSON value's type, ints and floats both being numbers."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def shape(value: Any, path: str = "") -> dict[str, str]:
    """Every key path of a JSON document with its type."""
    out = {path or ".": kind(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(shape(item, f"{path}.{key}" if path else key))
    elif isinstance(value, list):
        for item in value:  # the union over the elements (optional keys differ per entry)
            out.update(shape(item, f"{path}[]"))
    return out


async def run_traffic(url: str) -> list[Any]:
    """Publish plain, header and queue traffic; leave two clients open and one closed."""
    alpha = await nats.connect(url, name="alpha")
    beta = await nats.connect(url, name="beta")
    got: list[str] = []
    arrived = asyncio.Condition()

    async def on_msg(msg: Any) -> None:
        async with arrived:
            got.append(msg.subject)
            arrived.notify_all()

    async def wait_for(count: int) -> None:
        async with arrived:
            try:
                await asyncio.wait_for(arrived.wait_for(lambda: len(got) >= count), 10)
            except TimeoutError:
                raise AssertionError(f"only {got} arrived") from None

    await beta.subscribe("foo.*", cb=on_msg)
    await beta.subscribe("bar", queue="q1", cb=on_msg)
    await beta.subscribe("never.>", cb=on_msg)
    await beta.flush()
    # nats-server 2.9.10 sometimes (a few percent of runs) delivers none of the messages
    # another client publishes right after a subscriber's PING/PONG; a round trip of the
    # publisher in between avoids it.
    await alpha.flush()
    for _ in range(3):
        await alpha.publish("foo.x", b"hello")
    await alpha.publish("bar", b"12345678")
    await alpha.publish("foo.h", b"xy", headers={"k": "v"})
    await alpha.publish("nobody", b"0123456789")
    await alpha.flush()
    await wait_for(5)
    await beta.flush()
    gamma = await nats.connect(url, name="gamma")
    await gamma.flush()
    await gamma.subscribe("gone.>")
    await gamma.publish("foo.y", b"z")
    await gamma.flush()
    await wait_for(6)
    await gamma.close()
    return [alpha, beta]


async def settle(http: Http, base: str) -> None:
    """Wait until the server has recorded gamma's close (a guard, not a timing decision)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        closed = (await http(base, "/connz?state=closed")).json()["connections"]
        if any(c.get("name") == "gamma" for c in closed):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("gamma never showed up as closed")


async def snapshot(http: Http, base: str) -> dict[str, Any]:
    """Every endpoint's JSON."""
    return {path: (await http(base, path)).json() for path in ENDPOINTS}


@pytest.fixture
async def both(
    http: Http, monitored: Monitored, gnatsd_monitored: GnatsdMonitored
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(baseline, after-traffic) snapshots of natskern and nats-server."""
    results = {}
    for name, nats_url, base in (
        ("natskern", monitored.nats_url, monitored.monitor_url),
        ("nats-server", gnatsd_monitored.nats_url, gnatsd_monitored.monitor_url),
    ):
        before = await snapshot(http, base)
        try:
            clients = await run_traffic(nats_url)
        except AssertionError as exc:
            connz = (await http(base, "/connz?subs=detail")).json()
            raise AssertionError(f"{name}: {exc}; server sees {connz}") from None
        await settle(http, base)
        after = await snapshot(http, base)
        results[name] = (before, after)
        for client in clients:
            await client.close()
    return results


async def test_json_shapes_match_nats_server(both: dict[str, Any]) -> None:
    ours, theirs = both["natskern"][1], both["nats-server"][1]
    for path in ENDPOINTS:
        mine, real = shape(ours[path]), shape(theirs[path])
        for key in ONLY_GNATSD:
            for k in [
                k for k in real if k == key or k.startswith(key + ".") or k.startswith(key + "[")
            ]:
                real.pop(k)
        assert mine == real, path


def _delta(both: dict[str, Any], server: str, path: str, key: str) -> int:
    before, after = both[server]
    return after[path][key] - before[path][key]


COUNTERS = [
    ("/varz", "in_msgs"),
    ("/varz", "out_msgs"),
    ("/varz", "in_bytes"),
    ("/varz", "out_bytes"),
    ("/varz", "subscriptions"),
    ("/varz", "slow_consumers"),
    ("/subsz", "num_subscriptions"),
    ("/subsz", "num_inserts"),
    ("/subsz", "num_removes"),
]


async def test_counter_deltas_match_nats_server(both: dict[str, Any]) -> None:
    ours = {c: _delta(both, "natskern", *c) for c in COUNTERS}
    theirs = {c: _delta(both, "nats-server", *c) for c in COUNTERS}
    assert ours == theirs


async def test_current_counts_match_nats_server(both: dict[str, Any]) -> None:
    ours, theirs = both["natskern"][1], both["nats-server"][1]
    assert ours["/varz"]["connections"] == theirs["/varz"]["connections"] == 2
    assert ours["/connz?subs=1"]["total"] == theirs["/connz?subs=1"]["total"] == 2


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # nats-server's fixture probes its port once: that connection has no name.
    return {c["name"]: c for c in doc["connections"] if c.get("name")}


def _subs(conn: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (s["subject"], s.get("qgroup", ""), s["msgs"], s.get("max", 0))
        for s in conn.get("subscriptions_list_detail", [])
    )


async def test_per_connection_counters_match_nats_server(both: dict[str, Any]) -> None:
    path = "/connz?state=any&subs=detail&auth=1"
    ours = _by_name(both["natskern"][1][path])
    theirs = _by_name(both["nats-server"][1][path])
    assert set(ours) == set(theirs) == {"alpha", "beta", "gamma"}
    for name in ours:
        for key in (
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "subscriptions",
            "kind",
            "type",
        ):
            assert ours[name][key] == theirs[name][key], (name, key)
        assert _subs(ours[name]) == _subs(theirs[name]), name
    assert "stop" in ours["gamma"] and "reason" in ours["gamma"]
    assert "stop" not in ours["alpha"]


async def test_closed_connections_keep_their_subscriptions(both: dict[str, Any]) -> None:
    for server in ("natskern", "nats-server"):
        closed = both[server][1]["/connz?state=closed&subs=1"]["connections"]
        gamma = [c for c in closed if c.get("name") == "gamma"]
        assert gamma and gamma[0]["subscriptions_list"] == ["gone.>"], server


async def test_subscription_list_matches_nats_server(both: dict[str, Any]) -> None:
    path = "/subsz?subs=1&test=foo.x"
    for server in ("natskern", "nats-server"):
        doc = both[server][1][path]
        listed = [(s["account"], s["subject"], s["msgs"]) for s in doc["subscriptions_list"]]
        assert listed == [("$G", "foo.*", 5)], server
        assert doc["total"] == 1


async def test_paging_and_sorting_match_nats_server(both: dict[str, Any]) -> None:
    path = "/connz?sort=msgs_from&limit=1&offset=1"
    for server in ("natskern", "nats-server"):
        doc = both[server][1][path]
        assert (doc["offset"], doc["limit"], doc["num_connections"], doc["total"]) == (1, 1, 1, 2)
        # alpha sent the most; beta comes second
        assert doc["connections"][0]["name"] == "beta", server


async def test_account_traffic_matches_nats_server(both: dict[str, Any]) -> None:
    def g_account(server: str) -> dict[str, Any]:
        entries = both[server][1]["/accstatz"]["account_statz"]
        return next(e for e in entries if e["acc"] == "$G")

    ours, theirs = g_account("natskern"), g_account("nats-server")
    assert ours["conns"] == theirs["conns"] == 2
    before = {
        s: next(
            (e for e in both[s][0]["/accstatz"]["account_statz"] if e["acc"] == "$G"),
            {"sent": {"msgs": 0, "bytes": 0}, "received": {"msgs": 0, "bytes": 0}},
        )
        for s in ("natskern", "nats-server")
    }
    for direction in ("sent", "received"):
        for key in ("msgs", "bytes"):
            mine = ours[direction][key] - before["natskern"][direction][key]
            real = theirs[direction][key] - before["nats-server"][direction][key]
            assert mine == real, (direction, key)
