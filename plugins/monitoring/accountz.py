"""``/accountz`` (account list or one account's detail) and ``/accstatz`` (traffic per account)."""

from __future__ import annotations

import time
from typing import Any

from natskern.kernel import const
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import HttpError, Request, Response, json_response
from natskern.plugins.monitoring.jsz import engine_of
from natskern.plugins.monitoring.query import decode_bool
from natskern.plugins.monitoring.state import MonitorState, Totals
from natskern.plugins.monitoring.subsz import sublist_stats


def _mappings(broker: Any, name: str) -> dict[str, list[dict[str, Any]]]:
    """The account's configured subject mappings as ``{source: [{subject, weight}]}``."""
    if name == const.GLOBAL_ACCOUNT:
        section = broker.config.get("mappings") or {}
    else:
        section = ((broker.config.get("accounts") or {}).get(name) or {}).get("mappings") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for source, dest in section.items():
        entries = dest if isinstance(dest, list) else [dest]
        rendered = []
        for entry in entries:
            if isinstance(entry, str):
                rendered.append({"subject": entry, "weight": 100})
                continue
            weight = entry.get("weight", 100)
            if isinstance(weight, str):
                weight = int(weight.strip().rstrip("%").strip())
            item: dict[str, Any] = {
                "subject": entry.get("destination") or entry.get("dest"),
                "weight": weight,
            }
            if entry.get("cluster"):
                item["cluster"] = entry["cluster"]
            rendered.append(item)
        out[source] = rendered
    return out


def jetstream_enabled(broker: Any, name: str) -> bool:
    """Whether JetStream runs in account ``name`` (nats-server's ``a.js != nil``)."""
    engine = engine_of(broker)
    ajs = engine.accounts.get(name) if engine is not None else None
    return ajs is not None and ajs.limits is not None


def account_detail(state: MonitorState, name: str) -> dict[str, Any]:
    """``account_detail`` of ``/accountz?acc=name``."""
    broker = state.broker
    account = broker.accounts[name]
    out: dict[str, Any] = {
        "account_name": name,
        "update_time": fmt.rfc3339(state.config_load_time()),
        "expired": False,
        "complete": True,
        "jetstream_enabled": jetstream_enabled(broker, name),
        "leafnode_connections": 0,
        "client_connections": len(account.clients),
        "subscriptions": account.sublist.count,
    }
    mappings = _mappings(broker, name)
    if mappings:
        out["mappings"] = mappings
    out["sublist_stats"] = sublist_stats([account.sublist])
    return out


def accountz(state: MonitorState, request: Request) -> Response:
    """Handle ``/accountz``."""
    broker = state.broker
    out: dict[str, Any] = {
        "server_id": broker.server_id,
        "now": fmt.rfc3339(time.time()),
        "system_account": broker.system_account_name,
    }
    acc = request.arg("acc")
    if not acc:
        out["accounts"] = list(broker.accounts)
    elif acc not in broker.accounts:
        raise HttpError(400, f"Account {acc} does not exist")
    else:
        out["account_detail"] = account_detail(state, acc)
    return json_response(fmt.dumps(out), request)


def accstatz(state: MonitorState, request: Request) -> Response:
    """Handle ``/accstatz``: per-account connections and traffic (``unused=1``: all accounts)."""
    broker = state.broker
    unused = decode_bool(request, "unused")
    entries = []
    for name, account in broker.accounts.items():
        conns = len(account.clients)
        if not conns and not unused:
            continue
        totals = Totals()
        totals.add(state.account_stats(name))
        for client in account.clients:
            totals.add(client)
        entries.append(
            {
                "acc": name,
                "conns": conns,
                "leafnodes": 0,
                "total_conns": conns,
                # From the account's point of view: "sent" went out to its clients.
                "sent": {"msgs": totals.out_msgs, "bytes": totals.out_bytes},
                "received": {"msgs": totals.in_msgs, "bytes": totals.in_bytes},
                "slow_consumers": 0,
            }
        )
    out = {
        "server_id": broker.server_id,
        "now": fmt.rfc3339(time.time()),
        "account_statz": entries,
    }
    return json_response(fmt.dumps(out), request)
