"""``/subsz`` (alias ``/subscriptionsz``): routing-trie statistics and the subscription list."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from natskern.kernel.subjects.tokens import is_valid_literal_subject, matches
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.connz import DEFAULT_LIMIT, sub_detail
from natskern.plugins.monitoring.http import HttpError, Request, Response, json_response
from natskern.plugins.monitoring.query import decode_bool, decode_int
from natskern.plugins.monitoring.state import MonitorState

_ZERO = {
    "num_subscriptions": 0,
    "num_cache": 0,
    "num_inserts": 0,
    "num_removes": 0,
    "num_matches": 0,
    "cache_hit_rate": 0,
    "max_fanout": 0,
    "avg_fanout": 0,
}


def sublist_stats(sublists: Iterable[Any]) -> dict[str, Any]:
    """The stats of one or more routing tries combined, with nats-server's keys.

    Counters add up; the hit rate is over all matches and the average fan-out
    over all cached results, so one busy account is not averaged away.
    """
    out = dict(_ZERO)
    hits = 0.0
    fanout_total = 0.0
    for sublist in sublists:
        # Subjects matched once count as cached, as in nats-server (see Sublist.stats).
        stats = sublist.stats(seen=True)
        for key in ("num_subscriptions", "num_cache", "num_inserts", "num_removes", "num_matches"):
            out[key] += stats[key]
        hits += stats["cache_hit_rate"] * stats["num_matches"]
        fanout_total += stats["avg_fanout"] * stats["num_cache"]
        out["max_fanout"] = max(out["max_fanout"], stats["max_fanout"])
    if out["num_matches"]:
        out["cache_hit_rate"] = fmt.number(hits / out["num_matches"])
    if out["num_cache"] and fanout_total:
        out["avg_fanout"] = fmt.number(fanout_total / out["num_cache"])
    return out


def subsz(state: MonitorState, request: Request) -> Response:
    """Handle ``/subsz``."""
    broker = state.broker
    subs = decode_bool(request, "subs")
    offset = max(decode_int(request, "offset"), 0)
    limit = decode_int(request, "limit")
    if limit <= 0:
        limit = DEFAULT_LIMIT
    test = request.arg("test")
    if test and not is_valid_literal_subject(test.encode()):
        raise HttpError(400, f"invalid test subject, must be valid publish subject: {test}")
    acc = request.arg("acc")
    if acc:
        account = broker.accounts.get(acc)
        if account is None:
            return json_response(fmt.dumps(dict(_ZERO)), request)
        accounts = [account]
    else:
        accounts = list(broker.accounts.values())
    stats = sublist_stats(a.sublist for a in accounts)
    if not subs:
        return json_response(fmt.dumps(stats), request)

    listing: list[dict[str, Any]] = []
    test_bytes = test.encode()
    for account in accounts:
        for sub in account.sublist.subscriptions():
            if test and not matches(sub.subject, test_bytes):
                continue
            info = (
                sub.subject.decode("utf-8", "replace"),
                sub.queue.decode("utf-8", "replace") if sub.queue else "",
                sub.sid.decode("utf-8", "replace"),
                sub.delivered,
                sub.max_msgs,
            )
            listing.append(sub_detail(info, sub.client.cid, account.name))
    page = listing[offset : offset + limit]
    out: dict[str, Any] = {"server_id": broker.server_id, "now": fmt.rfc3339(time.time())}
    out.update(stats)
    # nats-server 2.9 reports the size of the returned page as ``total``.
    out.update(total=len(page), offset=offset, limit=limit, subscriptions_list=page)
    return json_response(fmt.dumps(out), request)
