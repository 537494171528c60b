"""``/connz`` on natskern: closed-connection ring, filters, sorting, paging, auth fields."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import nats

from tests.monitoring.conftest import http_request, monitored_broker

if TYPE_CHECKING:
    from tests.monitoring.conftest import Http, Monitored

USERS = {
    "auth": {"users": [{"user": "g", "password": "g"}]},
    "accounts": {"A": {"users": [{"user": "a", "password": "a"}]}},
}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def wait_closed(base: str, count: int) -> list[dict[str, Any]]:
    """The closed list once it holds ``count`` entries (deadline only guards a hang)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc = (await http_request(base, "/connz?state=closed")).json()
        if doc["total"] >= count:
            return doc["connections"]
        await asyncio.sleep(0.01)
    raise AssertionError("closed connections never recorded")


async def test_closed_ring_keeps_the_newest_max_closed_clients() -> None:
    async with monitored_broker({"monitoring": {"max_closed_clients": 2}}) as m:
        for name in ("one", "two", "three"):
            nc = await nats.connect(m.nats_url, name=name)
            await nc.close()
            await wait_closed(m.monitor_url, 1)
        closed = await wait_closed(m.monitor_url, 2)
        assert [c["name"] for c in closed] == ["two", "three"]
        assert all(c["reason"] == "Client Closed" for c in closed)
        varz = (await http_request(m.monitor_url, "/varz")).json()
        assert varz["total_connections"] == 3 and varz["connections"] == 0


async def test_state_cid_and_limit(http: Http, monitored: Monitored) -> None:
    keep = await nats.connect(monitored.nats_url, name="keep")
    gone = await nats.connect(monitored.nats_url, name="gone")
    await gone.close()
    closed = await wait_closed(monitored.monitor_url, 1)
    gone_cid = closed[0]["cid"]
    base = monitored.monitor_url
    open_doc = (await http(base, "/connz")).json()
    assert [c["name"] for c in open_doc["connections"]] == ["keep"]
    any_doc = (await http(base, "/connz?state=all")).json()
    assert sorted(c["name"] for c in any_doc["connections"]) == ["gone", "keep"]
    by_cid = (await http(base, f"/connz?cid={gone_cid}&state=any")).json()
    assert [c["name"] for c in by_cid["connections"]] == ["gone"]
    assert (by_cid["limit"], by_cid["total"]) == (1, 2)
    # cid applies to the chosen state: a closed cid is not among the open ones
    assert (await http(base, f"/connz?cid={gone_cid}")).json()["connections"] == []
    await keep.close()


async def test_sort_orders(http: Http, monitored: Monitored) -> None:
    base = monitored.monitor_url
    quiet = await nats.connect(monitored.nats_url, name="quiet")
    busy = await nats.connect(monitored.nats_url, name="busy")
    sub = await quiet.subscribe("x.>")
    await quiet.subscribe("y")
    await quiet.flush()
    for _ in range(5):
        await busy.publish("x.1", b"abc")
    await busy.flush()
    await sub.next_msg(timeout=5)

    async def names(query: str) -> list[str]:
        doc = (await http(base, "/connz?" + query)).json()
        return [c["name"] for c in doc["connections"]]

    assert await names("sort=cid") == ["quiet", "busy"]
    assert await names("sort=start") == ["quiet", "busy"]
    assert await names("sort=msgs_from") == ["busy", "quiet"]
    assert await names("sort=bytes_from") == ["busy", "quiet"]
    assert await names("sort=msgs_to") == ["quiet", "busy"]
    assert await names("sort=subs") == ["quiet", "busy"]
    assert await names("sort=cid&offset=1") == ["busy"]
    assert await names("sort=cid&limit=1") == ["quiet"]
    assert await names("sort=cid&offset=5") == []
    await quiet.close()
    await busy.close()


async def test_auth_fields_and_user_account_filters(http: Http) -> None:
    async with monitored_broker(USERS) as m:
        g = await nats.connect(m.nats_url, user="g", password="g", name="in-g")
        a = await nats.connect(m.nats_url, user="a", password="a", name="in-a")
        doc = (await http(m.monitor_url, "/connz?auth=1")).json()
        by_name = {c["name"]: c for c in doc["connections"]}
        assert by_name["in-g"]["authorized_user"] == "g"
        assert "account" not in by_name["in-g"]  # the global account is not named
        assert by_name["in-a"]["account"] == "A"
        plain = (await http(m.monitor_url, "/connz")).json()["connections"]
        assert all("authorized_user" not in c for c in plain)
        only_a = (await http(m.monitor_url, "/connz?acc=A")).json()
        assert [c["name"] for c in only_a["connections"]] == ["in-a"]
        only_g = (await http(m.monitor_url, "/connz?user=g")).json()
        assert [c["name"] for c in only_g["connections"]] == ["in-g"]
        unknown = (await http(m.monitor_url, "/connz?acc=nope")).json()
        assert unknown["server_id"] == "" and unknown["connections"] is None
        await g.close()
        await a.close()


async def test_activity_rtt_and_pending_are_reported(http: Http, monitored: Monitored) -> None:
    nc = await nats.connect(monitored.nats_url, name="c")
    first = (await http(monitored.monitor_url, "/connz")).json()["connections"][0]
    await nc.publish("a", b"1")
    await nc.flush()
    # The first /connz asked the client for an RTT (like nats-server); it answers with a PONG.
    deadline = time.monotonic() + 10
    while True:
        conn = (await http(monitored.monitor_url, "/connz")).json()["connections"][0]
        if conn["rtt"] != "0s" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert conn["rtt"] != "0s"
    assert _when(conn["last_activity"]) > _when(first["last_activity"])
    assert conn["in_msgs"] == 1 and conn["pending_bytes"] == 0
    await nc.close()


async def test_in_process_clients_are_not_connections(http: Http, monitored: Monitored) -> None:
    async with monitored.broker.connect(name="inproc") as client:
        await client.subscribe("a")
        doc = (await http(monitored.monitor_url, "/connz")).json()
        assert doc["connections"] == []
        subs = (await http(monitored.monitor_url, "/subsz")).json()
        assert subs["num_subscriptions"] == 1
