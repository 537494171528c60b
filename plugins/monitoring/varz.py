"""``/varz``: server identity, limits and running counters."""

from __future__ import annotations

import time
from typing import Any

from natskern.kernel import const
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import Request, Response, json_response
from natskern.plugins.monitoring.jsz import varz_jetstream
from natskern.plugins.monitoring.state import MonitorState, Totals, cores, rss_bytes

#: nats-server's default TLS handshake timeout (seconds), shown when TLS is not configured.
DEFAULT_TLS_TIMEOUT = 2.0


def traffic(state: MonitorState) -> Totals:
    """Messages and bytes of every connection so far: closed ones plus the open ones now."""
    totals = Totals()
    totals.add(state.closed_totals)
    for client in state.broker.clients.values():
        totals.add(client)
    return totals


def subscription_count(broker: Any) -> int:
    """Subscriptions stored in every account's routing trie."""
    return sum(account.sublist.count for account in broker.accounts.values())


def _websocket(broker: Any) -> dict[str, Any]:
    section = broker.config.get("websocket") or {}
    if not section.get("enabled", bool(section)):
        return {}
    out: dict[str, Any] = {}
    for key in ("host", "port"):
        if key in section:
            out[key] = section[key]
    return out


def varz(state: MonitorState, request: Request) -> Response:
    """Handle ``/varz``."""
    broker = state.broker
    opts = broker.options
    info = broker.info()
    now = time.time()
    totals = traffic(state)
    out: dict[str, Any] = {
        "server_id": broker.server_id,
        "server_name": broker.server_name,
        "version": info["version"],
        "proto": info["proto"],
        "go": info["go"],
        "host": info["host"],
        "port": info["port"],
    }
    for key in ("auth_required", "tls_required", "tls_verify"):
        if info.get(key):
            out[key] = True
    if info.get("connect_urls"):
        out["connect_urls"] = info["connect_urls"]
    out["max_connections"] = opts["max_connections"]
    if opts.get("max_subscriptions"):
        out["max_subscriptions"] = opts["max_subscriptions"]
    tls = broker.config.get("tls") or {}
    out.update(
        {
            "ping_interval": fmt.nanos(opts["ping_interval"]),
            "ping_max": opts["ping_max"],
            "http_host": state.host,
            "http_port": state.port,
            "http_base_path": "",
            "https_port": 0,
            "auth_timeout": fmt.number(float(broker.auth_timeout)),
            "max_control_line": opts["max_control_line"],
            "max_payload": opts["max_payload"],
            "max_pending": opts["max_pending"],
            "cluster": {},
            "gateway": {},
            "leaf": {},
            "mqtt": {},
            "websocket": _websocket(broker),
            "jetstream": varz_jetstream(broker),
            "tls_timeout": fmt.number(float(tls.get("timeout", DEFAULT_TLS_TIMEOUT))),
            "write_deadline": fmt.nanos(opts["write_deadline"]),
            "start": fmt.rfc3339(broker.start_time),
            "now": fmt.rfc3339(now),
            "uptime": fmt.uptime(now - broker.start_time),
            "mem": rss_bytes(),
            "cores": cores(),
            "gomaxprocs": cores(),
            "cpu": fmt.number(state.cpu.sample()),
            "connections": len(broker.clients),
            "total_connections": broker.total_connections,
            "routes": 0,
            "remotes": 0,
            "leafnodes": 0,
            "in_msgs": totals.in_msgs,
            "out_msgs": totals.out_msgs,
            "in_bytes": totals.in_bytes,
            "out_bytes": totals.out_bytes,
            "slow_consumers": broker.stats_slow_consumers,
            "subscriptions": subscription_count(broker),
            "http_req_stats": dict(sorted(state.http_req_stats.items())),
            "config_load_time": fmt.rfc3339(state.config_load_time()),
            "system_account": broker.system_account_name or const.SYSTEM_ACCOUNT,
        }
    )
    return json_response(fmt.dumps(out), request)
