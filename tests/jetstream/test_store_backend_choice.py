"""Which durable backend a client's ``storage: "file"`` uses: the server's
``jetstream.store_backend``, an account's ``jetstream { store_backend }``, and a
stream's metadata key ``natskern.store_backend`` (through nats-py, real brokers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from natskern import Broker, ConfigError
from tests.support.servers import free_port

KEY = "natskern.store_backend"


def _config(store: Path, backend: str | None = None, **extra: Any) -> dict:
    js: dict[str, Any] = {"enabled": True, "store_dir": str(store)}
    if backend is not None:
        js["store_backend"] = backend
    return {"tcp": {"port": free_port()}, "jetstream": js, **extra}


def _stream_dir(store: Path, name: str, account: str = "$G") -> Path:
    return store / "jetstream" / account / "streams" / name


def _backend_on_disk(directory: Path) -> str:
    """What the stream's directory holds: RocksDB's files, or the file log's blocks."""
    if (directory / "CURRENT").exists():
        return "rocksdb"
    if list(directory.glob("*.blk")):
        return "file"
    return "none"


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
    assert _backend_on_disk(_stream_dir(tmp_path, "ORDERS")) == backend


def test_an_unknown_backend_is_refused_before_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no storage backend 'tape'"):
        Broker(_config(tmp_path, "tape"))


def test_an_unknown_account_backend_is_refused_before_start(tmp_path: Path) -> None:
    accounts = {"A": {"jetstream": {"store_backend": "tape"}, "users": []}}
    with pytest.raises(
        ConfigError, match=r"accounts\.A\.jetstream\.store_backend: no storage backend"
    ):
        Broker(_config(tmp_path, accounts=accounts))


async def test_the_metadata_key_puts_one_stream_in_rocksdb_and_it_stays_there(
    tmp_path: Path,
) -> None:
    for round_ in range(2):
        async with Broker(_config(tmp_path)) as broker:  # the server's default: file
            nc = await nats.connect(broker.listen_urls[0])
            js = nc.jetstream()
            if round_ == 0:
                await js.add_stream(name="R", subjects=["r.>"], metadata={KEY: "rocksdb"})
                await js.add_stream(name="F", subjects=["f.>"])
                for i in range(3):
                    await js.publish("r.x", b"r%d" % i)
                    await js.publish("f.x", b"f%d" % i)
            for name in ("R", "F"):
                info = await js.stream_info(name)
                assert info.state.messages == 3, name
                assert (await js.get_msg(name, 3)).data == name.lower().encode() + b"2"
            info = await js.stream_info("R")
            assert info.config.metadata and info.config.metadata[KEY] == "rocksdb"
            await nc.close()
    assert _backend_on_disk(_stream_dir(tmp_path, "R")) == "rocksdb"
    assert _backend_on_disk(_stream_dir(tmp_path, "F")) == "file"


async def test_the_account_setting_and_the_key_over_it(tmp_path: Path) -> None:
    accounts = {
        "A": {"jetstream": {"store_backend": "rocksdb"}, "users": [{"user": "a", "password": "a"}]},
        "B": {"jetstream": "enabled", "users": [{"user": "b", "password": "b"}]},
    }
    for round_ in range(2):
        async with Broker(_config(tmp_path, accounts=accounts)) as broker:
            url = broker.listen_urls[0]
            a = await nats.connect(url, user="a", password="a")
            b = await nats.connect(url, user="b", password="b")
            ja, jb = a.jetstream(), b.jetstream()
            if round_ == 0:
                await ja.add_stream(name="AR", subjects=["ar"])
                await ja.add_stream(name="AF", subjects=["af"], metadata={KEY: "file"})
                await jb.add_stream(name="BF", subjects=["bf"])
                await ja.publish("ar", b"1")
                await ja.publish("af", b"2")
                await jb.publish("bf", b"3")
            assert (await ja.get_msg("AR", 1)).data == b"1"
            assert (await ja.get_msg("AF", 1)).data == b"2"
            assert (await jb.get_msg("BF", 1)).data == b"3"
            await a.close()
            await b.close()
    assert _backend_on_disk(_stream_dir(tmp_path, "AR", "A")) == "rocksdb"
    assert _backend_on_disk(_stream_dir(tmp_path, "AF", "A")) == "file"
    assert _backend_on_disk(_stream_dir(tmp_path, "BF", "B")) == "file"


async def test_an_unknown_name_in_the_metadata_refuses_the_create(tmp_path: Path) -> None:
    async with Broker(_config(tmp_path)) as broker:
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        with pytest.raises(APIError) as err:
            await js.add_stream(name="T", subjects=["t"], metadata={KEY: "tape"})
        assert err.value.err_code == 10052
        assert err.value.description == (f"{KEY}: no storage backend 'tape' (known: file, rocksdb)")
        with pytest.raises(APIError) as err:  # a memory stream has no durable backend
            await js.add_stream(
                name="M", subjects=["m"], storage=StorageType.MEMORY, metadata={KEY: "rocksdb"}
            )
        assert err.value.err_code == 10052 and "applies to file storage" in err.value.description
        for name in ("T", "M"):
            with pytest.raises(NotFoundError):
                await js.stream_info(name)
            assert not _stream_dir(tmp_path, name).exists()
        await nc.close()


async def test_an_update_may_not_move_a_stream_to_another_backend(tmp_path: Path) -> None:
    async with Broker(_config(tmp_path)) as broker:
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s"])
        await js.publish("s", b"kept")
        moved = StreamConfig(name="S", subjects=["s"], metadata={KEY: "rocksdb"})
        with pytest.raises(APIError) as err:
            await js.update_stream(moved)
        assert err.value.err_code == 10052
        assert err.value.description == "stream configuration update can not change store backend"
        # naming the backend it is in, or leaving the key alone, is an update like any other
        same = StreamConfig(name="S", subjects=["s"], metadata={KEY: "file"}, max_msgs=10)
        assert (await js.update_stream(same)).config.max_msgs == 10
        with pytest.raises(APIError):
            await js.update_stream(StreamConfig(name="S", subjects=["s"], metadata={KEY: "x"}))
        info = await js.update_stream(StreamConfig(name="S", subjects=["s"], max_msgs=5))
        assert info.config.max_msgs == 5 and info.state.messages == 1
        await nc.close()
    assert _backend_on_disk(_stream_dir(tmp_path, "S")) == "file"


async def test_a_changed_default_does_not_reopen_a_stream_in_another_backend(
    tmp_path: Path,
) -> None:
    async with Broker(_config(tmp_path, "file")) as broker:
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await js.add_stream(name="OLD", subjects=["old"])
        await js.publish("old", b"before")
        await nc.close()
    async with Broker(_config(tmp_path, "rocksdb")) as broker:
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        assert (await js.get_msg("OLD", 1)).data == b"before"  # still in its block files
        await js.add_stream(name="NEW", subjects=["new"])
        await js.publish("new", b"after")
        await nc.close()
    assert _backend_on_disk(_stream_dir(tmp_path, "OLD")) == "file"
    assert _backend_on_disk(_stream_dir(tmp_path, "NEW")) == "rocksdb"
    assert (_stream_dir(tmp_path, "OLD") / "store.backend").read_text().strip() == "file"
