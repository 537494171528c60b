"""pytest fixtures built on tests.support.servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from natskern import Broker
from tests.support.servers import NATS_SERVER, nats_server, natskern


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A natskern broker with the default profile on a free loopback port."""
    async with natskern() as b:
        yield b


@pytest.fixture
async def url(broker: Broker) -> str:
    """The TCP URL of the ``broker`` fixture."""
    return broker.listen_urls[0]


@pytest.fixture(scope="session")
def gnatsd_url() -> Iterator[str]:
    """A real nats-server (session-wide); skips when it is not installed."""
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    with nats_server() as u:
        yield u


@pytest.fixture(params=["natskern", "nats-server"])
async def any_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The same test against natskern and, when installed, the real nats-server."""
    if request.param == "natskern":
        async with natskern() as b:
            yield b.listen_urls[0]
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        with nats_server() as u:
            yield u


@pytest.fixture(params=["natskern", "nats-server"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which server a test runs against (with ``tests.support.servers.serve``)."""
    if request.param == "nats-server" and NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    return request.param
