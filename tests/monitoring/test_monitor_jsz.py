"""``/jsz`` and ``/varz``'s ``jetstream`` on an in-process natskern: what follows from
natskern's own settings (the lazy sync mode, configured limits) and the figures after
streams change (purge, delete).  The comparison with nats-server is in
``test_monitor_jsz_diff.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
from nats.js.api import StreamConfig

from tests.monitoring.conftest import monitored_broker

if TYPE_CHECKING:
    from tests.monitoring.conftest import Http


def _config(tmp_path: Path, **jetstream: Any) -> dict[str, Any]:
    return {"jetstream": {"enabled": True, "store_dir": str(tmp_path), **jetstream}}


async def test_lazy_sync_and_configured_limits_show_in_config(tmp_path: Path, http: Http) -> None:
    config = _config(tmp_path, sync_interval="1s", max_memory=1 << 20, max_store=1 << 30)
    async with monitored_broker(config) as m:
        jsz = (await http(m.monitor_url, "/jsz")).json()
        assert jsz["config"] == {
            "max_memory": 1 << 20,
            "max_storage": 1 << 30,
            "store_dir": str(tmp_path / "jetstream"),
            "sync_interval": 1_000_000_000,
            "compress_ok": True,
        }
        varz = (await http(m.monitor_url, "/varz")).json()
        assert varz["jetstream"]["config"] == jsz["config"]


async def test_figures_follow_purge_and_delete(tmp_path: Path, http: Http) -> None:
    async with monitored_broker(_config(tmp_path)) as m:
        nc = await nats.connect(m.nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="S", subjects=["s"], max_bytes=4096))
            for _ in range(3):
                await js.publish("s", b"abc")
            jsz = (await http(m.monitor_url, "/jsz")).json()
            assert (jsz["streams"], jsz["messages"], jsz["bytes"]) == (1, 3, 3 * (30 + 1 + 3))
            assert jsz["storage"] == jsz["bytes"] and jsz["reserved_storage"] == 4096
            await js.purge_stream("S")
            jsz = (await http(m.monitor_url, "/jsz?streams=1")).json()
            assert (jsz["messages"], jsz["bytes"], jsz["storage"]) == (0, 0, 0)
            state = jsz["account_details"][0]["stream_detail"][0]["state"]
            assert (state["first_seq"], state["last_seq"]) == (4, 3)
            await js.delete_stream("S")
            jsz = (await http(m.monitor_url, "/jsz?streams=1")).json()
            assert (jsz["streams"], jsz["reserved_storage"]) == (0, 0)
            assert "stream_detail" not in jsz["account_details"][0]
            # create, 3 publishes (not API calls), purge, delete
            assert jsz["api"]["total"] == 3 and jsz["api"]["errors"] == 0
        finally:
            await nc.close()


async def test_accounts_without_jetstream_are_not_listed(tmp_path: Path, http: Http) -> None:
    config = {
        **_config(tmp_path),
        "accounts": {
            "A": {"jetstream": "enabled", "users": [{"user": "a", "password": "a"}]},
            "OFF": {"users": [{"user": "o", "password": "o"}]},
        },
    }
    async with monitored_broker(config) as m:
        jsz = (await http(m.monitor_url, "/jsz?accounts=1")).json()
        assert [a["name"] for a in jsz["account_details"]] == ["A"]
        assert (jsz["accounts"], jsz["total"]) == (1, 1)
        assert "account_details" not in (await http(m.monitor_url, "/jsz?acc=OFF")).json()
        accountz = (await http(m.monitor_url, "/accountz?acc=OFF")).json()
        assert accountz["account_detail"]["jetstream_enabled"] is False
        accountz = (await http(m.monitor_url, "/accountz?acc=A")).json()
        assert accountz["account_detail"]["jetstream_enabled"] is True
