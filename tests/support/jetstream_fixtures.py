"""Fixtures shared by the KV and object-store tests: natskern with JetStream, nats-server 2.15.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from natskern import Broker
from tests.jetstream.conftest import jetstream_server
from tests.support.servers import NATS_SERVER_JS, natskern, natskern_in_thread


@contextlib.asynccontextmanager
async def js_broker(store: Path) -> AsyncIterator[Broker]:
    """natskern with the JetStream plugin enabled, its store in ``store``."""
    async with natskern({"jetstream": {"enabled": True, "store_dir": str(store)}}) as broker:
        yield broker


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A running natskern broker with JetStream."""
    async with js_broker(tmp_path / "natskern") as b:
        yield b


@pytest.fixture
async def url(broker: Broker) -> str:
    """The URL of the ``broker`` fixture."""
    return broker.listen_urls[0]


@pytest.fixture
def thread_url(tmp_path: Path) -> Iterator[str]:
    """natskern with JetStream on a thread: for synchronous tests (the CLI run in process)."""
    with natskern_in_thread(
        {"jetstream": {"enabled": True, "store_dir": str(tmp_path / "js")}}
    ) as u:
        yield u


@pytest.fixture
def reference_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    """nats-server 2.15.1 with JetStream (skipped when it is not installed)."""
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    store = tmp_path / "ref"
    store.mkdir()
    with jetstream_server(store) as ref:
        yield ref
