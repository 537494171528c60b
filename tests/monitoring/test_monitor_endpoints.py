"""``/varz``, ``/accountz``, ``/subsz``, ``/healthz``, ``/jsz`` on natskern: values follow the
configuration and the broker's state; readiness and plugin-added endpoints."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import nats
from natskern.kernel.lameduck import enter_lame_duck
from natskern.plugins.monitoring import add_endpoint, monitor_url
from natskern.plugins.monitoring.http import Response, json_response

from natskern import Broker
from tests.monitoring.conftest import http_request, monitored_broker
from tests.support.servers import free_port

if TYPE_CHECKING:
    from tests.monitoring.conftest import Http, Monitored

CONFIG = {
    "server": {"max_payload": 4096, "ping_interval": 30, "write_deadline": 2.5, "name": "mon-1"},
    "auth": {"users": [{"user": "g", "password": "g"}]},
    "accounts": {"A": {"users": [{"user": "a", "password": "a"}], "mappings": {"x": "y"}}},
    "mappings": {"src.*": [{"destination": "dst.{{wildcard(1)}}", "weight": "100%"}]},
}


async def test_varz_reflects_the_configuration(http: Http) -> None:
    async with monitored_broker(CONFIG) as m:
        varz = (await http(m.monitor_url, "/varz")).json()
        assert varz["server_name"] == "mon-1"
        assert varz["max_payload"] == 4096
        assert varz["ping_interval"] == 30_000_000_000
        assert varz["write_deadline"] == 2_500_000_000
        assert varz["auth_required"] is True
        assert varz["http_port"] == int(m.monitor_url.rsplit(":", 1)[1])
        assert varz["port"] == int(m.nats_url.rsplit(":", 1)[1])
        assert varz["system_account"] == "$SYS"
        assert varz["mem"] > 0 and varz["cores"] >= 1


async def test_varz_counts_traffic_of_closed_connections_too(
    http: Http, monitored: Monitored
) -> None:
    nc = await nats.connect(monitored.nats_url)
    sub = await nc.subscribe("t")
    await nc.publish("t", b"12345")
    await sub.next_msg(timeout=5)
    await nc.close()
    deadline = asyncio.get_running_loop().time() + 10
    while monitored.broker.clients and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    varz = (await http(monitored.monitor_url, "/varz")).json()
    assert (varz["in_msgs"], varz["in_bytes"], varz["out_msgs"], varz["out_bytes"]) == (1, 5, 1, 5)
    assert varz["connections"] == 0 and varz["subscriptions"] == 0


async def test_accountz_lists_accounts_and_details(http: Http) -> None:
    async with monitored_broker(CONFIG) as m:
        a = await nats.connect(m.nats_url, user="a", password="a")
        await a.subscribe("in.a")
        await a.flush()
        names = (await http(m.monitor_url, "/accountz")).json()["accounts"]
        assert set(names) == {"$G", "A", "$SYS"}
        detail = (await http(m.monitor_url, "/accountz?acc=A")).json()["account_detail"]
        assert detail["account_name"] == "A"
        assert (detail["client_connections"], detail["subscriptions"]) == (1, 1)
        assert detail["mappings"] == {"x": [{"subject": "y", "weight": 100}]}
        assert detail["sublist_stats"]["num_subscriptions"] == 1
        g_detail = (await http(m.monitor_url, "/accountz?acc=$G")).json()["account_detail"]
        assert g_detail["mappings"] == {
            "src.*": [{"subject": "dst.{{wildcard(1)}}", "weight": 100}]
        }
        # per-account subsz and accstatz
        subsz = (await http(m.monitor_url, "/subsz?acc=A&subs=1")).json()
        assert [s["subject"] for s in subsz["subscriptions_list"]] == ["in.a"]
        statz = (await http(m.monitor_url, "/accstatz")).json()["account_statz"]
        assert [e["acc"] for e in statz] == ["A"]
        every = (await http(m.monitor_url, "/accstatz?unused=1")).json()["account_statz"]
        assert {e["acc"] for e in every} == {"$G", "A", "$SYS"}
        await a.close()


async def test_healthz_turns_503_in_lame_duck_mode(http: Http) -> None:
    config = {"server": {"lame_duck_duration": 30, "lame_duck_grace_period": 30}}
    async with monitored_broker(config) as m:
        nc = await nats.connect(m.nats_url, allow_reconnect=False)
        assert (await http(m.monitor_url, "/healthz")).status == 200
        task = asyncio.ensure_future(enter_lame_duck(m.broker))
        await asyncio.sleep(0)  # let lame-duck mode begin (it runs up to its grace wait)
        reply = await http(m.monitor_url, "/healthz")
        assert reply.status == 503
        assert reply.json()["status"] == "error"
        task.cancel()
        await nc.close()


async def test_jsz_reports_jetstream_disabled_until_a_plugin_serves_it(
    http: Http, monitored: Monitored
) -> None:
    jsz = (await http(monitored.monitor_url, "/jsz")).json()
    assert jsz["disabled"] is True and jsz["streams"] == 0

    def custom(state, request):  # type: ignore[no-untyped-def]
        return json_response(b'{"disabled": false}', request)

    add_endpoint(monitored.broker, "/jsz", custom)
    assert (await http(monitored.monitor_url, "/jsz")).json() == {"disabled": False}
    add_endpoint(monitored.broker, "/extra", lambda state, request: Response(200, b"{}"))
    assert (await http(monitored.monitor_url, "/extra")).status == 200


async def test_monitoring_answers_once_the_broker_is_ready() -> None:
    port = free_port()
    broker = Broker({"tcp": {"port": 0}, "monitoring": {"enabled": True, "port": port}})
    assert monitor_url(broker) == ""
    async with broker:
        url = monitor_url(broker)
        assert url == f"http://127.0.0.1:{port}"
        assert (await http_request(url, "/healthz")).status == 200
    assert monitor_url(broker) == ""
    try:
        await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        pass
    else:
        raise AssertionError("the monitoring port still answers after stop")


async def test_monitoring_is_off_by_default() -> None:
    async with Broker({"tcp": {"port": 0}}) as broker:
        assert monitor_url(broker) == ""
