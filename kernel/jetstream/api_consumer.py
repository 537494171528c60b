"""The ``$JS.API.CONSUMER.*`` responders (nats-server's ``jetstream_api.go``, consumer part).

:func:`handle` answers ``CONSUMER.CREATE.S[.C[.filter]]``, ``CONSUMER.DURABLE.CREATE.S.C``,
``INFO``, ``DELETE``, ``NAMES``, ``LIST``, ``PAUSE``, ``UNPIN`` and ``RESET`` (nats-server's
consumer answers that one itself: for an unknown stream or consumer nobody answers, None
here, as for ``MSG.NEXT``).  ``MSG.NEXT`` is served
by each pull consumer's own subscription, so it gets no answer here (``None``).  The API
dispatcher (:mod:`natskern.kernel.jetstream.api`) hands every ``$JS.API.CONSUMER.`` request
over to it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.consumer_priority import (
    advise_unpinned,
    priority_groups_info,
    sync_priority,
)
from natskern.kernel.jetstream.consumer_reset import reset_consumer, reset_error
from natskern.kernel.jetstream.consumercheck import check_create
from natskern.kernel.jetstream.consumerconfig import set_static_metadata
from natskern.kernel.jetstream.consumers import (
    add_consumer,
    delete_consumer,
    ensure_loaded,
    update_consumer,
)
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.godecode import (
    INT,
    STRING,
    TIME,
    UINT64,
    Struct,
    decode,
    gofield,
)
from natskern.kernel.jetstream.gojson import GoJSONError
from natskern.kernel.jetstream.sourcing import identity_answer
from natskern.kernel.jetstream.wire import API_TYPE_PREFIX, dumps, format_time, time_ns
from natskern.kernel.subjects.sublist import EMPTY_RESULT

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.consumer import Consumer
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["consumer_info", "handle", "refuse"]

NAMES_LIMIT: Final = 1024
_GROUP_NAME: Final = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")
LIST_LIMIT: Final = 256


@dataclass(slots=True)
class _Paging:
    offset: int = gofield(INT, 0)


@dataclass(slots=True)
class _Unpin:
    group: str = gofield(STRING, "")


@dataclass(slots=True)
class _Reset:
    seq: int = gofield(UINT64, 0, omitempty=True)


@dataclass(slots=True)
class _Pause:
    pause_until: str | None = gofield(TIME, None, omitempty=True)


def _decode(cls: type, root: str, body: bytes) -> Any:
    if not body.strip():
        return cls()
    try:
        return decode(body, Struct(cls, "server." + root), root)
    except GoJSONError as err:
        raise E.INVALID_JSON(err=str(err)) from None


def _resp(kind: str, *parts: dict[str, Any] | None) -> bytes:
    out: dict[str, Any] = {"type": API_TYPE_PREFIX + kind}
    for part in parts:
        if part:
            out.update(part)
    return dumps(out)


def consumer_info(
    js: AccountJetStream, consumer: Consumer, *, dynamic: bool = True
) -> dict[str, Any]:
    """ConsumerInfo; with ``dynamic`` the config names this server's version and API level."""
    info = consumer.info()
    if dynamic:
        meta = dict(info["config"].get("metadata") or {})
        meta["_nats.ver"] = js.version
        meta["_nats.level"] = str(API_LEVEL)
        info["config"]["metadata"] = dict(sorted(meta.items()))
    groups = priority_groups_info(consumer)
    if groups:
        info["priority_groups"] = groups
    return info


async def handle(
    js: AccountJetStream, tokens: list[str], hdr: bytes | None, body: bytes
) -> bytes | None:
    """The answer to a ``$JS.API.CONSUMER.*`` request (``tokens`` split on dots), or None."""
    n = len(tokens)
    if n < 4:
        return None
    op = tokens[3]
    try:
        if op == "CREATE" and n >= 5:
            return await _create(js, tokens, body)
        if op == "DURABLE" and n >= 5 and tokens[4] == "CREATE":
            return await _create(js, tokens, body)
        if op in ("NAMES", "LIST") and n == 5:
            return await _names(js, tokens[4], body, listing=op == "LIST")
        if n == 6 and op in ("INFO", "DELETE", "PAUSE", "UNPIN"):
            handler = {"INFO": _info, "DELETE": _delete, "PAUSE": _pause, "UNPIN": _unpin}[op]
            return await handler(js, tokens[4], tokens[5], body)
        if n == 6 and op == "RESET":
            return await _reset(js, tokens[4], tokens[5], body)
    except _Failed as failed:
        js.api_errors += 1
        return failed.answer
    return None


def refuse(js: AccountJetStream, tokens: list[str], err: ApiError) -> bytes | None:
    """``err`` as nats-server answers a consumer request it refuses unread (a required API
    level above ours): in the operation's own response type; None where it does not answer
    (``MSG.NEXT``, whose consumer sends a 412 status, ``RESET`` of an unknown consumer, an
    unknown operation)."""
    n = len(tokens)
    op = tokens[3] if n > 3 else ""
    extra: dict[str, Any] = {}
    if op in ("CREATE", "DURABLE") and n >= 5:
        kind = "create"
    elif op in ("NAMES", "LIST") and n == 5:
        kind = op.lower()
        extra = {"total": 0, "offset": 0, "limit": 0, "consumers": []}
    elif op in ("INFO", "DELETE", "UNPIN") and n == 6:
        kind = op.lower()
    elif op == "PAUSE" and n == 6:
        kind = "pause"
        extra = {"paused": False, "pause_until": format_time(0)}
    elif op == "RESET" and n == 6:
        stream = js.streams.get(tokens[4])
        if stream is None or tokens[5] not in stream.consumers:
            return None
        kind, extra = "reset", {"reset_seq": 0}
    else:
        return None
    return _resp(f"consumer_{kind}_response", {"error": err.to_json()}, extra)


class _Failed(Exception):
    def __init__(self, kind: str, err: ApiError, *extra: dict[str, Any]) -> None:
        self.answer = _resp(kind, {"error": err.to_json()}, *extra)


async def _stream(js: AccountJetStream, name: str, kind: str, *extra: dict[str, Any]) -> Stream:
    stream = js.streams.get(name)
    if stream is None:
        raise _Failed(kind, E.STREAM_NOT_FOUND(), *extra)
    await ensure_loaded(js, stream)
    return stream


async def _create(js: AccountJetStream, tokens: list[str], body: bytes) -> bytes:
    kind = "consumer_create_response"

    def lookup(name: str) -> Any:
        stream = js.streams.get(name)
        return stream.config if stream is not None else None

    def configs(name: str) -> dict[str, Any]:
        stream = js.streams.get(name)
        return {n: c.config for n, c in stream.consumers.items()} if stream else {}

    sname = tokens[5] if tokens[3] == "DURABLE" and len(tokens) > 5 else tokens[4]
    if sname in js.streams:
        await ensure_loaded(js, js.streams[sname])

    def has_interest(subject: str) -> bool:
        return js.client.account.sublist.match(subject.encode()) is not EMPTY_RESULT

    try:
        sname, plan = check_create(
            tokens,
            body,
            lookup,
            configs,
            has_interest=has_interest,
            default_max_consumers=js.settings.default_max_consumers,
        )
        stream = js.streams[sname]
        if plan.op == "create":
            consumer = await add_consumer(js, stream, plan.name, plan.config)
        else:
            consumer = stream.consumers[plan.name]
            if plan.op == "update":
                await update_consumer(consumer, plan.config)
                # A policy other than pinned_client drops the pin (nats-server 2.15.1 keeps
                # it, and requests without its id then wait until it times out).
                sync_priority(consumer)
    except ApiError as err:
        raise _Failed(kind, err) from None
    if plan.config.direct or plan.config.sourcing:
        return identity_answer(_resp(kind, consumer_info(js, consumer)), stream.created)
    return _resp(kind, consumer_info(js, consumer))


async def _info(js: AccountJetStream, sname: str, cname: str, body: bytes) -> bytes:
    kind = "consumer_info_response"
    stream = await _stream(js, sname, kind)
    consumer = stream.consumers.get(cname)
    if consumer is None:
        raise _Failed(kind, E.CONSUMER_NOT_FOUND())
    return _resp(kind, consumer_info(js, consumer))


async def _delete(js: AccountJetStream, sname: str, cname: str, body: bytes) -> bytes:
    kind = "consumer_delete_response"
    stream = await _stream(js, sname, kind)
    if not await delete_consumer(stream, cname):
        raise _Failed(kind, E.CONSUMER_NOT_FOUND())
    return _resp(kind, {"success": True})


async def _names(js: AccountJetStream, sname: str, body: bytes, *, listing: bool) -> bytes:
    kind = "consumer_list_response" if listing else "consumer_names_response"
    limit = LIST_LIMIT if listing else NAMES_LIMIT
    empty: dict[str, Any] = {
        "total": 0,
        "offset": 0,
        "limit": 0,
        "consumers": [],
    }
    try:
        req = _decode(_Paging, "JSApiConsumersRequest", body)
    except ApiError as err:
        raise _Failed(kind, err, empty) from None
    stream = await _stream(js, sname, kind, empty)
    names = sorted(stream.consumers)
    offset = min(max(req.offset, 0), len(names))
    page = names[offset : offset + limit]
    out: dict[str, Any] = {"total": len(names), "offset": offset, "limit": limit}
    if listing:
        out["consumers"] = [consumer_info(js, stream.consumers[n], dynamic=False) for n in page]
    else:
        out["consumers"] = page
    return _resp(kind, out)


async def _pause(js: AccountJetStream, sname: str, cname: str, body: bytes) -> bytes:
    kind = "consumer_pause_response"
    unpaused = {"paused": False, "pause_until": format_time(0)}
    try:
        req = _decode(_Pause, "JSApiConsumerPauseRequest", body)
    except ApiError as err:
        raise _Failed(kind, err, unpaused) from None
    stream = await _stream(js, sname, kind, unpaused)
    consumer = stream.consumers.get(cname)
    if consumer is None:
        raise _Failed(kind, E.CONSUMER_NOT_FOUND(), unpaused)
    until = time_ns(req.pause_until) if req.pause_until else 0
    if until <= 0 or req.pause_until.startswith("0001-01-01"):
        until = 0
    cfg = consumer.config.copy()
    cfg.pause_until = format_time(until) if until else None
    changed = cfg.pause_until != consumer.config.pause_until
    set_static_metadata(cfg)
    await update_consumer(consumer, cfg)
    now = time.time_ns()
    if changed:  # nats-server advises every change of pause_until (not a repeat)
        consumer.advise_pause(until > now)
        consumer._pause_ended = until <= now  # a pause set in the past ends here
    out: dict[str, Any] = {"paused": until > now, "pause_until": format_time(until)}
    if until > now:
        out["pause_remaining"] = until - now
    return _resp(kind, out)


async def _unpin(js: AccountJetStream, sname: str, cname: str, body: bytes) -> bytes:
    kind = "consumer_unpin_response"
    try:
        if not body.strip():
            raise E.INVALID_JSON(err="unexpected end of JSON input")
        req = _decode(_Unpin, "JSApiConsumerUnpinRequest", body)
        if not req.group:
            raise E.INVALID_JSON(err="consumer group not specified")
        if not _GROUP_NAME.fullmatch(req.group):
            raise E.CONSUMER_INVALID_GROUP_NAME()
    except ApiError as err:
        raise _Failed(kind, err) from None
    stream = await _stream(js, sname, kind)
    consumer = stream.consumers.get(cname)
    if consumer is None:
        raise _Failed(kind, E.CONSUMER_NOT_FOUND())
    if req.group not in consumer.config.priority_groups:
        raise _Failed(kind, E.CONSUMER_INVALID_PRIORITY_GROUP())
    prio = consumer._prio
    if prio is not None:
        prio.unassign()
    advise_unpinned(consumer, req.group, "admin")  # (pinned or not, as nats-server does)
    consumer.signal()
    return _resp(kind)


async def _reset(js: AccountJetStream, sname: str, cname: str, body: bytes) -> bytes | None:
    """``CONSUMER.RESET``: back to the ack floor (empty body) or to ``{seq}``."""
    kind = "consumer_reset_response"
    stream = js.streams.get(sname)
    if stream is None:
        return None
    await ensure_loaded(js, stream)
    consumer = stream.consumers.get(cname)
    if consumer is None:
        return None
    failed = {"reset_seq": 0}
    try:  # (only an empty body is "no sequence": blanks are bad JSON)
        req = _decode(_Reset, "JSApiConsumerResetRequest", body) if body else _Reset()
        if body and not body.strip():
            raise E.INVALID_JSON(err="unexpected end of JSON input")
    except ApiError as err:
        raise _Failed(kind, err, failed) from None
    bad = await reset_error(consumer, req.seq)
    if bad:
        raise _Failed(kind, E.CONSUMER_INVALID_RESET(err=bad), failed)
    seq = await reset_consumer(consumer, req.seq)
    return _resp(kind, consumer_info(js, consumer), {"reset_seq": seq})
