"""The built-in endpoint table (imported only when the monitoring server starts)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from natskern.plugins.monitoring.accountz import accountz, accstatz
from natskern.plugins.monitoring.connz import connz
from natskern.plugins.monitoring.healthz import healthz
from natskern.plugins.monitoring.http import Handler, Request, Response
from natskern.plugins.monitoring.jsz import jsz
from natskern.plugins.monitoring.misc import gatewayz, index, leafz, routez
from natskern.plugins.monitoring.state import MonitorState
from natskern.plugins.monitoring.subsz import subsz
from natskern.plugins.monitoring.varz import varz

#: path -> handler(state, request); the nats-server 2.9 set.
ENDPOINTS: dict[str, Callable[[MonitorState, Request], Response]] = {
    "/": index,
    "/varz": varz,
    "/connz": connz,
    "/routez": routez,
    "/gatewayz": gatewayz,
    "/leafz": leafz,
    "/subsz": subsz,
    "/subscriptionsz": subsz,
    "/accountz": accountz,
    "/accstatz": accstatz,
    "/jsz": jsz,
    "/healthz": healthz,
}


def builtin_routes(state: MonitorState) -> dict[str, Handler]:
    """The built-in endpoints bound to ``state``."""
    return {path: functools.partial(handler, state) for path, handler in ENDPOINTS.items()}
