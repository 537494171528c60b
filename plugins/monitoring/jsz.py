"""``/jsz`` and the ``jetstream`` block of ``/varz``, as nats-server 2.15 fills them.

The figures come from the running engine (``broker.jetstream``, set by the JetStream
plugin) through its read-only ``usage()`` methods, the streams' ``state()`` and the
consumers' ``info()``; nothing here changes JetStream.  Field order and omissions
follow nats-server's ``JSInfo``, ``AccountDetail``, ``StreamDetail`` and
``JetStreamVarz`` structs:

* the server's ``config``: ``max_memory``/``max_storage`` as configured, else what
  nats-server would pick (75 % of the machine's memory, 75 % of the space available
  where the streams are stored, computed once per engine); ``store_dir`` is
  ``<store_dir>/jetstream`` as in nats-server; natskern's default durable mode shows as
  nats-server's ``sync_interval: always`` (``sync_always: true`` next to the 2 minute
  interval), the lazy mode as its interval; ``compress_ok`` shows when both limits are
  configured (nats-server drops it from the configuration it computes); ``strict`` is
  left out because natskern ignores unknown request fields (nats-server's
  ``strict: false``);
* ``limits`` has only what natskern applies (``max_duplicate_window`` when set, and
  ``default_max_consumers``: 1000 unless configured, ``-1`` for no cap);
* an account's ``reserved_memory``/``reserved_storage`` are its limits as Go's
  ``uint64`` (unlimited ``-1`` is 18446744073709551615), the server's are what the
  streams' ``max_bytes`` reserve;
* a standalone server is its own leader: ``leader-only`` answers, ``raft`` adds
  ``streams_leader``/``consumers_leader``, ``stream-leader-only`` skips nothing.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream.api import state_json
from natskern.kernel.jetstream.wire import format_time, to_wire
from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import HttpError, Request, Response, json_response
from natskern.plugins.monitoring.query import decode_bool, decode_int
from natskern.plugins.monitoring.state import MonitorState

__all__ = ["jsz", "jsz_info", "varz_jetstream"]

#: nats-server's default background fsync interval (also shown with ``sync_always``).
DEFAULT_SYNC_INTERVAL = 120_000_000_000
#: nats-server's guesses when the machine's memory or disk cannot be read.
MAX_MEMORY_FALLBACK = 256 * 1024 * 1024
MAX_STORE_FALLBACK = 1024**4
#: nats-server's ``/jsz`` page size over accounts.
DEFAULT_LIMIT = 1024
#: What nats-server answers to ``leader-only`` when it is not the meta leader.
NOT_LEADER = "filtered response: not leader"
_UINT64 = 2**64 - 1

#: The estimated server limits, computed once per engine (nats-server: at start-up).
_ESTIMATES: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


def engine_of(broker: Any) -> Any:
    """The broker's running JetStream engine, or None when JetStream is off."""
    return getattr(broker, "jetstream", None)


def _memory_estimate() -> int:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return MAX_MEMORY_FALLBACK
    return total // 4 * 3 if total > 0 else MAX_MEMORY_FALLBACK


def _disk_estimate(path: str) -> int:
    """75 % of the space available at ``path`` (or its closest existing parent)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        st = os.statvfs(path)
    except OSError:
        return MAX_STORE_FALLBACK
    return st.f_bavail * st.f_bsize // 4 * 3


def _store_dir(engine: Any) -> str:
    return os.path.join(engine.settings.store_dir, "jetstream")


def _server_limits(engine: Any) -> tuple[int, int]:
    """(max_memory, max_storage): the configured limits, else nats-server's estimates."""
    settings = engine.settings
    memory, store = settings.max_memory, settings.max_store
    if memory < 0 or store < 0:
        estimates = _ESTIMATES.get(engine)
        if estimates is None:
            estimates = (_memory_estimate(), _disk_estimate(_store_dir(engine)))
            _ESTIMATES[engine] = estimates
        memory = memory if memory >= 0 else estimates[0]
        store = store if store >= 0 else estimates[1]
    return memory, store


def config_json(engine: Any) -> dict[str, Any]:
    """nats-server's ``JetStreamConfig`` of the running engine."""
    settings = engine.settings
    memory, store = _server_limits(engine)
    out: dict[str, Any] = {
        "max_memory": memory,
        "max_storage": store,
        "store_dir": _store_dir(engine),
    }
    if settings.sync == "always":
        out["sync_interval"] = DEFAULT_SYNC_INTERVAL
        out["sync_always"] = True
    elif settings.sync:
        out["sync_interval"] = int(settings.sync)
    if settings.domain:
        out["domain"] = settings.domain
    if settings.max_memory > 0 and settings.max_store > 0:
        # nats-server keeps its start-up flag only when both limits are configured.
        out["compress_ok"] = True
    return out


def limits_json(engine: Any) -> dict[str, Any]:
    """nats-server's ``JSLimitOpts``: the server-wide limits natskern applies."""
    out: dict[str, Any] = {}
    if engine.settings.max_duplicate_window:
        out["max_duplicate_window"] = engine.settings.max_duplicate_window
    if engine.settings.default_max_consumers:
        out["default_max_consumers"] = engine.settings.default_max_consumers
    return out


def stats_json(usage: Any, *, level: int = API_LEVEL) -> dict[str, Any]:
    """nats-server's ``JetStreamStats`` of a server-wide usage."""
    return {
        "memory": usage.memory,
        "storage": usage.storage,
        "reserved_memory": usage.reserved_memory,
        "reserved_storage": usage.reserved_storage,
        "accounts": usage.accounts,
        "ha_assets": 0,
        "api": {"level": level, "total": usage.api_total, "errors": usage.api_errors},
    }


def varz_jetstream(broker: Any) -> dict[str, Any]:
    """``/varz``'s ``jetstream``: ``{}`` when JetStream is off, else config, stats, limits."""
    engine = engine_of(broker)
    if engine is None:
        return {}
    return {
        "config": config_json(engine),
        "stats": stats_json(engine.usage()),
        "limits": limits_json(engine),
    }


def _consumer_detail(consumer: Any, *, config: bool) -> dict[str, Any]:
    info = consumer.info()
    if not config:
        info.pop("config", None)
    return info


def stream_detail(ajs: Any, stream: Any, *, consumers: bool, config: bool) -> dict[str, Any]:
    """nats-server's ``StreamDetail`` of one stream."""
    out: dict[str, Any] = {
        "name": stream.config.name,
        "created": format_time(stream.created),
        "cluster": {"leader": ajs.server_name},
    }
    if config:
        out["config"] = to_wire(stream.config)
    out["state"] = state_json(stream)
    if consumers:
        details = [_consumer_detail(c, config=config) for c in list(stream.consumers.values())]
        if details:
            out["consumer_detail"] = details
    out.update(ajs.source_info(stream))
    return out


def _uint64(limit: int) -> int:
    """Go's ``uint64(int64)`` of a limit (``-1`` wraps around)."""
    return limit & _UINT64


def account_detail(ajs: Any, *, streams: bool, consumers: bool, config: bool) -> dict[str, Any]:
    """nats-server's ``AccountDetail`` of one account with JetStream."""
    usage = ajs.usage()
    limits = ajs.limits
    name = ajs.account.name
    out: dict[str, Any] = {
        "name": name,
        "id": name,
        "memory": usage.memory,
        "storage": usage.storage,
        "reserved_memory": _uint64(limits.max_memory),
        "reserved_storage": _uint64(limits.max_store),
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": usage.api_total, "errors": usage.api_errors},
    }
    if streams:
        details = [
            stream_detail(ajs, s, consumers=consumers, config=config)
            for s in list(ajs.streams.values())
        ]
        if details:
            out["stream_detail"] = details
    return out


def _disabled(state: MonitorState) -> dict[str, Any]:
    """nats-server's answer while JetStream is off."""
    return {
        "memory": 0,
        "storage": 0,
        "reserved_memory": 0,
        "reserved_storage": 0,
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": 0, "errors": 0},
        "server_id": state.broker.server_id,
        "now": fmt.rfc3339(time.time()),
        "disabled": True,
        "config": {"max_memory": 0, "max_storage": 0},
        "streams": 0,
        "consumers": 0,
        "messages": 0,
        "bytes": 0,
        "total": 0,
    }


def jsz_info(
    state: MonitorState,
    *,
    acc: str = "",
    accounts: bool = False,
    streams: bool = False,
    consumers: bool = False,
    config: bool = False,
    leader_only: bool = False,
    offset: int = 0,
    limit: int = 0,
    raft: bool = False,
) -> dict[str, Any]:
    """nats-server's ``Jsz(opts)``: the ``/jsz`` document for these options.

    Raises :class:`HttpError` 400 for ``leader_only`` while JetStream is off.
    """
    offset = max(offset, 0)
    limit = limit or DEFAULT_LIMIT
    streams = streams or consumers
    accounts = accounts or (streams and not acc)
    engine = engine_of(state.broker)
    if engine is None:
        if leader_only:
            raise HttpError(400, NOT_LEADER)
        return _disabled(state)
    enabled = [a for a in list(engine.accounts.values()) if a.limits is not None]
    total = engine.usage()
    out = stats_json(total)
    out["server_id"] = state.broker.server_id
    out["now"] = fmt.rfc3339(time.time())
    out["config"] = config_json(engine)
    out["limits"] = limits_json(engine)
    out["streams"] = total.streams
    if raft and total.streams:
        out["streams_leader"] = total.streams
    out["consumers"] = total.consumers
    if raft and total.consumers:
        out["consumers_leader"] = total.consumers
    out["messages"] = total.messages
    out["bytes"] = total.bytes
    chosen = [a for a in enabled if a.account.name == acc] if acc else []
    if not chosen and accounts:
        chosen = sorted(enabled, key=lambda a: a.account.name)
        if limit > 0:
            chosen = chosen[offset:][:limit]
    if chosen:
        out["account_details"] = [
            account_detail(a, streams=streams, consumers=consumers, config=config) for a in chosen
        ]
    out["total"] = len(enabled)
    return out


def jsz(state: MonitorState, request: Request) -> Response:
    """Handle ``/jsz`` (the options decoded in nats-server's order, for its errors)."""
    accounts = decode_bool(request, "accounts")
    streams = decode_bool(request, "streams")
    consumers = decode_bool(request, "consumers")
    decode_bool(request, "direct-consumers")  # natskern has no direct consumers
    config = decode_bool(request, "config")
    offset = decode_int(request, "offset")
    limit = decode_int(request, "limit")
    leader_only = decode_bool(request, "leader-only")
    raft = decode_bool(request, "raft")
    decode_bool(request, "stream-leader-only")  # a standalone server leads every stream
    out = jsz_info(
        state,
        acc=request.arg("acc"),
        accounts=accounts,
        streams=streams,
        consumers=consumers,
        config=config,
        leader_only=leader_only,
        offset=offset,
        limit=limit,
        raft=raft,
    )
    return json_response(fmt.dumps(out), request)
