"""pytest fixtures built on tests.support.servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from natskern import Broker
from tests.support.servers import NATS_SERVER, nats_server, natskern, natskern_over_pipe

#: Where ``kind`` tests can run: natskern over TCP, the real nats-server.
KINDS = ["natskern", "nats-server"]

#: Decorator for a ``kind`` test that also runs natskern over the in-memory pipe transport
#: (tests/plugins/pipe_transport.py, a third-party-style transport: the transport seam).
over_pipe_too = pytest.mark.parametrize("kind", ["natskern", "pipe", "nats-server"], indirect=True)


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


@pytest.fixture(params=["natskern", "pipe", "nats-server"])
async def any_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The same test against natskern (over TCP and over the in-memory pipe transport) and,
    when installed, the real nats-server.  Connect with ``tests.support.servers.connect``."""
    if request.param == "natskern":
        async with natskern() as b:
            yield b.listen_urls[0]
    elif request.param == "pipe":
        async with natskern_over_pipe() as (u, _):
            yield u
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        with nats_server() as u:
            yield u


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which server a test runs against (with ``tests.support.servers.serve``).

    ``@over_pipe_too`` adds ``pipe``: natskern over the in-memory pipe transport.
    """
    if request.param == "nats-server" and NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    return request.param
