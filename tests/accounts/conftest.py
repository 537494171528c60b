"""The ``target`` fixture: a scenario's nats-server config on natskern and on nats-server."""

from __future__ import annotations

import pytest
from accounts_helpers import Serve, serve_nats_server, serve_natskern

from tests.support.servers import NATS_SERVER


@pytest.fixture(params=["natskern", "nats-server"])
def target(request: pytest.FixtureRequest) -> Serve:
    """Start a server from a nats-server config text: natskern, then nats-server."""
    if request.param == "nats-server" and NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    return serve_natskern if request.param == "natskern" else serve_nats_server
