"""JetStream test fixtures: nats-server 2.15.1 with JetStream, the mapping functions."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from natskern.kernel.subjects.transform import MappingFunction, collect_functions

from tests.mappers.conftest import mapper_plugin_manager
from tests.support.servers import NATS_SERVER_JS, free_port, wait_for_port


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
    log = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen([NATS_SERVER_JS, "-c", str(conf)], stdout=log, stderr=log)
    try:
        try:
            wait_for_port(port)
        except TimeoutError:
            log.seek(0)
            raise RuntimeError(f"nats-server did not start: {log.read()[-2000:]!r}") from None
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
