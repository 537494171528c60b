"""``jetstream.store_backend``: which durable backend a client's ``storage: "file"`` uses."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType

from natskern import Broker, ConfigError


def _config(store: Path, backend: str) -> dict:
    return {
        "tcp": {"port": 0},
        "jetstream": {"enabled": True, "store_dir": str(store), "store_backend": backend},
    }


@pytest.mark.parametrize("backend", ["file", "rocksdb"])
async def test_file_streams_live_in_the_chosen_backend_and_survive_a_restart(
    tmp_path: Path, backend: str
) -> None:
    for round_ in range(2):
        async with Broker(_config(tmp_path, backend)) as broker:
            nc = await nats.connect(broker.listen_urls[0])
            js = nc.jetstream()
            if round_ == 0:
                await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=StorageType.FILE)
                await js.publish("orders.new", b"first")
            info = await js.stream_info("ORDERS")
            assert info.state.messages == 1
            assert (await js.get_msg("ORDERS", 1)).data == b"first"
            await nc.close()
    rocks_files = list(tmp_path.rglob("CURRENT"))  # RocksDB's manifest pointer
    assert bool(rocks_files) == (backend == "rocksdb")


def test_an_unknown_backend_is_refused_before_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no storage backend 'tape'"):
        Broker(_config(tmp_path, "tape"))
