"""JetStream test fixtures: nats-server 2.15.1 with JetStream, the mapping functions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from natskern.kernel.subjects.transform import MappingFunction, collect_functions

from tests.mappers.conftest import mapper_plugin_manager
from tests.support.processes import server_process
from tests.support.servers import NATS_SERVER_JS, free_port


@contextlib.contextmanager
def jetstream_server(store: Path, extra: str = "") -> Iterator[str]:
    """nats-server 2.15 with JetStream in ``store``; yields its URL.

    ``strict: false``: natskern ignores unknown request fields (as nats-server did up to
    2.11), so the reference runs with the lenient decoder too.
    """
    assert NATS_SERVER_JS is not None
    port = free_port()
    conf = store / "js.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\n'
        f'jetstream {{ store_dir: "{store / "data"}", strict: false {extra} }}\n'
    )
    with server_process([NATS_SERVER_JS, "-c", str(conf)], port, stop_timeout=5.0):
        yield f"nats://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def js_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One nats-server 2.15.1 with JetStream per test module (skipped when not installed)."""
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    with jetstream_server(tmp_path_factory.mktemp("js")) as url:
        yield url


@pytest.fixture(scope="session")
def mapping_functions() -> dict[str, MappingFunction]:
    """The built-in mapping functions, as a broker collects them."""
    return collect_functions(mapper_plugin_manager())
