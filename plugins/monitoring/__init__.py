"""HTTP monitoring: nats-server's ``/varz``, ``/connz``, ``/subsz``, ``/accountz``... endpoints.

Owns the ``[monitoring]`` section (natskern-server fills it from ``http``,
``http_port`` and ``-m``).  The HTTP server starts in the broker's ``lifespan``,
so the port answers as soon as the broker is ready and ``/healthz`` reports
``ok`` from then on (503 once lame-duck mode begins).  Closed connections are
kept in a ring of ``max_closed_clients`` for ``/connz?state=closed``.

``/jsz`` and ``/varz``'s ``jetstream`` block read the running JetStream engine
(``broker.jetstream``) through its read-only ``usage()`` methods, and answer like a
nats-server with JetStream off while there is none.  Other plugins add or replace
endpoints with :func:`add_endpoint`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.schema_parts import listener_schema
from natskern.kernel.state import StateKey
from natskern.plugins.monitoring.state import MonitorState

if TYPE_CHECKING:  # pragma: no cover
    from natskern.plugins.monitoring.http import Request, Response

__all__ = ["SCHEMA", "add_endpoint", "monitor_url", "state_of"]

log = logging.getLogger("natskern.monitoring")

STATE_KEY = "monitoring"
_STATE: StateKey[MonitorState] = StateKey(STATE_KEY)

SCHEMA: dict[str, Any] = listener_schema(
    "HTTP monitoring endpoints (nats-server's http/http_port/-m).",
    port=8222,
    enabled=False,
    properties={
        "max_closed_clients": {
            "type": "integer",
            "minimum": 0,
            "default": 10000,
            "description": "closed connections remembered for /connz?state=closed",
        },
    },
)


def state_of(broker: Any) -> MonitorState | None:
    """The monitoring state of ``broker`` (None when monitoring is off or blocked)."""
    return _STATE.get(broker)


def monitor_url(broker: Any) -> str:
    """``http://host:port`` where ``broker``'s monitoring answers ("" when it does not)."""
    state = state_of(broker)
    return state.url if state is not None else ""


def add_endpoint(
    broker: Any, path: str, handler: Callable[[MonitorState, Request], Response]
) -> None:
    """Serve ``handler(state, request) -> Response`` at ``path`` (replacing a built-in one).

    Does nothing when monitoring is off.
    """
    state = state_of(broker)
    if state is None:
        return
    state.routes[path] = functools.partial(handler, state)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[monitoring]`` section."""
    return {"monitoring": SCHEMA}


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """When monitoring is on, create the state that collects closed connections."""
    section = config["monitoring"]
    if section["enabled"]:
        _STATE.set(broker, MonitorState(broker, section))


@hookimpl
def on_session_opened(client: Any) -> None:
    """Estimate the RTT at CONNECT, as nats-server does, until a PONG measures it.

    nats-server sets a client's RTT to the time from accepting the connection
    to its CONNECT (floored at 1 ns); from then on every PONG to one of the
    server's PINGs replaces it with the PING-to-PONG time (the kernel's
    session measures that).  Without the estimate ``/connz`` shows ``0s`` for
    the first seconds of every connection.
    """
    if getattr(client, "rtt", None) == 0.0:
        client.rtt = max(time.time() - client.start_time, 1e-9)


@hookimpl
def on_session_closed(client: Any, reason: str) -> None:
    """Remember a closed connection for ``/connz?state=closed`` and the totals."""
    state = state_of(client.broker)
    if state is not None:
        state.session_closed(client, reason)


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """Run the HTTP server while the broker runs (when ``[monitoring] enabled``)."""
    state = state_of(broker)
    return None if state is None else _serve(state)


@contextlib.asynccontextmanager
async def _serve(state: MonitorState) -> AsyncIterator[None]:
    from natskern.plugins.monitoring.http import HttpServer
    from natskern.plugins.monitoring.routes import builtin_routes

    section = state.section
    # Endpoints added by other plugins before the start override the built-in ones.
    state.routes = {**builtin_routes(state), **state.routes}
    server = HttpServer(state.routes, on_request=state.count_request)
    await server.start(section["host"], max(section["port"], 0))
    state.host, state.port = section["host"], server.port
    log.info("Starting http monitor on %s:%d", state.host, state.port)
    try:
        yield
    finally:
        await server.close()
        state.port = 0
