"""Endpoints with little to say yet: ``/``, ``/routez``, ``/gatewayz``, ``/leafz``,
answered with nats-server's shapes for a standalone server."""

from __future__ import annotations

import html
import time
from typing import Any

from natskern.kernel import const
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import Request, Response, json_response
from natskern.plugins.monitoring.query import decode_bool, decode_subs
from natskern.plugins.monitoring.state import MonitorState

#: (path, title) listed on the index page.
INDEX_LINKS = (
    ("varz", "General"),
    ("jsz", "JetStream"),
    ("connz", "Connections"),
    ("accountz", "Accounts"),
    ("accstatz", "Account Stats"),
    ("subsz", "Subscriptions"),
    ("routez", "Routes"),
    ("leafz", "LeafNodes"),
    ("gatewayz", "Gateways"),
    ("healthz", "Health Probe"),
)


def _head(state: MonitorState) -> dict[str, Any]:
    return {"server_id": state.broker.server_id, "now": fmt.rfc3339(time.time())}


def index(state: MonitorState, request: Request) -> Response:
    """Handle ``/``: an HTML page linking every endpoint."""
    links = "\n".join(
        f'    <a href="./{path}">{html.escape(title)}</a>' for path, title in INDEX_LINKS
    )
    page = (
        '<html lang="en">\n  <head><title>natskern monitoring</title></head>\n  <body>\n'
        f"    <h1>natskern</h1>\n    <p>v{const.ADVERTISED_VERSION} "
        f"({html.escape(state.broker.server_name)})</p>\n{links}\n  </body>\n</html>\n"
    )
    return Response(200, page.encode(), "text/html; charset=utf-8")


def routez(state: MonitorState, request: Request) -> Response:
    """Handle ``/routez``: no cluster routes."""
    decode_subs(request)
    out = _head(state)
    out.update(num_routes=0, routes=[])
    return json_response(fmt.dumps(out), request)


def gatewayz(state: MonitorState, request: Request) -> Response:
    """Handle ``/gatewayz``: no gateways."""
    decode_bool(request, "accs")
    decode_subs(request)
    out = _head(state)
    out.update(outbound_gateways={}, inbound_gateways={})
    return json_response(fmt.dumps(out), request)


def leafz(state: MonitorState, request: Request) -> Response:
    """Handle ``/leafz``: no leaf nodes."""
    decode_bool(request, "subs")
    out = _head(state)
    out.update(leafnodes=0, leafs=None)
    return json_response(fmt.dumps(out), request)
