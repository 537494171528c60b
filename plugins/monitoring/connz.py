"""``/connz``: open and closed client connections, sorted, filtered and paged."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from natskern.kernel import const
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import HttpError, Request, Response, json_response
from natskern.plugins.monitoring.query import decode_bool, decode_int, decode_subs, decode_uint
from natskern.plugins.monitoring.state import ConnView, MonitorState

#: Default and largest page size.
DEFAULT_LIMIT = 1024

_PING = b"PING\r\n"

#: sort option -> (key of a view at ``now``, descending?)
SORTS: dict[str, tuple[Callable[[ConnView, float], Any], bool]] = {
    "cid": (lambda v, now: v.cid, False),
    "start": (lambda v, now: v.start, False),
    "subs": (lambda v, now: v.num_subs(), True),
    "pending": (lambda v, now: v.pending, True),
    "msgs_to": (lambda v, now: v.out_msgs, True),
    "msgs_from": (lambda v, now: v.in_msgs, True),
    "bytes_to": (lambda v, now: v.out_bytes, True),
    "bytes_from": (lambda v, now: v.in_bytes, True),
    "last": (lambda v, now: v.last, True),
    "idle": (lambda v, now: (v.stop or now) - v.last, True),
    "uptime": (lambda v, now: (v.stop or now) - v.start, True),
    "stop": (lambda v, now: v.stop or 0.0, True),
    "reason": (lambda v, now: v.reason, False),
}
_CLOSED_ONLY = ("stop", "reason")

_STATES = {"": "open", "open": "open", "closed": "closed", "any": "any", "all": "any"}


def _request_rtt(client: Any) -> None:
    """Like nats-server: a real client without an RTT yet is sent a PING to measure one."""
    if client.closed or not client.lang or client.pings_out:
        return
    client.pings_out += 1
    client._ping_sent_at = time.monotonic()
    client.send(_PING)


def render_conn(
    view: ConnView, now: float, *, auth: bool, subs: bool, detail: bool
) -> dict[str, Any]:
    """One entry of ``connections`` with nats-server's keys, order and omissions."""
    end = view.stop if view.stop is not None else now
    out: dict[str, Any] = {
        "cid": view.cid,
        "kind": view.kind,
        "type": view.type,
        "ip": view.ip,
        "port": view.port,
        "start": fmt.rfc3339(view.start),
        "last_activity": fmt.rfc3339(view.last),
    }
    if view.stop is not None:
        out["stop"] = fmt.rfc3339(view.stop)
        if view.reason:
            out["reason"] = view.reason
    out["rtt"] = fmt.rtt(view.rtt)
    out["uptime"] = fmt.uptime(end - view.start)
    out["idle"] = fmt.uptime(end - view.last)
    out["pending_bytes"] = view.pending
    out["in_msgs"] = view.in_msgs
    out["out_msgs"] = view.out_msgs
    out["in_bytes"] = view.in_bytes
    out["out_bytes"] = view.out_bytes
    out["subscriptions"] = view.num_subs()
    for key in ("name", "lang", "version"):
        value = getattr(view, key)
        if value:
            out[key] = value
    if auth:
        if view.user:
            out["authorized_user"] = view.user
        if view.account and view.account != const.GLOBAL_ACCOUNT:
            out["account"] = view.account
    if subs:
        listing = view.subscriptions()
        if listing and detail:
            # nats-server names the account only in a closed connection's saved details.
            account = view.account if view.closed else ""
            out["subscriptions_list_detail"] = [sub_detail(s, view.cid, account) for s in listing]
        elif listing:
            out["subscriptions_list"] = [s[0] for s in listing]
    return out


def sub_detail(sub: tuple[str, str, str, int, int], cid: int, account: str = "") -> dict[str, Any]:
    """A subscription as ``subscriptions_list_detail`` / ``/subsz`` list it."""
    subject, queue, sid, msgs, max_msgs = sub
    out: dict[str, Any] = {}
    if account:
        out["account"] = account
    out["subject"] = subject
    if queue:
        out["qgroup"] = queue
    out["sid"] = sid
    out["msgs"] = msgs
    if max_msgs:
        out["max"] = max_msgs
    out["cid"] = cid
    return out


def connz(state: MonitorState, request: Request) -> Response:
    """Handle ``/connz``."""
    broker = state.broker
    sort = request.arg("sort") or "cid"
    auth = decode_bool(request, "auth")
    subs, detail = decode_subs(request)
    offset = max(decode_int(request, "offset"), 0)
    limit = decode_int(request, "limit")
    if limit <= 0:
        limit = DEFAULT_LIMIT
    cid = decode_uint(request, "cid")
    raw_state = request.arg("state")
    which = _STATES.get(raw_state.lower())
    if which is None:
        raise HttpError(400, f"Error decoding state for {raw_state}")
    user = request.arg("user")
    acc = request.arg("acc")
    if sort not in SORTS:
        raise HttpError(400, f"invalid sorting option: {sort}")
    if sort in _CLOSED_ONLY and which != "closed":
        raise HttpError(400, f"sort by {sort} only valid on closed connections")

    now = time.time()
    result: dict[str, Any] = {
        "server_id": broker.server_id,
        "now": fmt.rfc3339(now),
        "num_connections": 0,
        "total": 0,
        "offset": offset,
        "limit": limit,
        "connections": [],
    }
    if acc and acc not in broker.accounts:
        # nats-server answers an unknown account with an empty, id-less page.
        result.update(server_id="", connections=None)
        return json_response(fmt.dumps(result), request)

    views: list[ConnView] = []
    if which in ("open", "any"):
        views.extend(state.open_views())
    if which in ("closed", "any"):
        views.extend(state.closed)
    if user:
        views = [v for v in views if v.user == user]
    if acc:
        views = [v for v in views if v.account == acc]
    result["total"] = len(views)

    if cid:
        page = [v for v in views if v.cid == cid][:1]
        result["offset"], result["limit"] = 0, 1
    else:
        key, descending = SORTS[sort]
        views.sort(key=lambda v: v.cid)
        views.sort(key=lambda v: key(v, now), reverse=descending)
        page = views[offset : offset + limit]
    for view in page:
        if view.client is not None and view.rtt == 0:
            _request_rtt(view.client)
    result["num_connections"] = len(page)
    result["connections"] = [render_conn(v, now, auth=auth, subs=subs, detail=detail) for v in page]
    return json_response(fmt.dumps(result), request)
