"""``tls {}``, ``websocket {}``, ``jetstream {}``, ``cluster {}`` and ``mappings {}`` blocks.

Each ``translate_*`` handler reads one nats-server block and writes the matching model
section (``tls``, ``websocket``, ``jetstream``, ``cluster``, ``mappings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from natskern.kernel.subjects.tokens import is_valid_subject
from natskern.natsconf.values import describe, parse_storage_size, split_host_port
from natskern.natsconf.walker import (
    Field,
    Handler,
    aliases,
    ignored,
    to_bool,
    to_string,
)

__all__ = [
    "listen",
    "read_mappings",
    "read_tls",
    "storage_size",
    "to_storage_size",
    "translate_cluster",
    "translate_jetstream",
    "translate_store_dir",
    "translate_tls",
    "translate_websocket",
]

CLUSTERING_LATER = "clustering is not implemented yet"


def storage_size(field: Field, value: Any) -> int | None:
    """A JetStream size: an integer (suffixes allowed) or a string like ``"10G"`` (binary)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < -1:
            field.error(f"must be -1 (unlimited) or more, got {value}")
            return None
        return value
    if isinstance(value, str):
        try:
            return parse_storage_size(value)
        except ValueError as exc:
            field.error(f'expected a size like 1G or "10G": {exc}')
            return None
    field.error(f'expected a size (an integer or a string like "10G"), got {describe(value)}')
    return None


def listen(port: Handler) -> Handler:
    """A ``listen`` handler: ``host:port`` or a bare port.

    It sets ``host`` of ``out`` (when one is written) and hands the port to ``port``.
    """

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            port(field, value, out)
            return
        text = field.string(value)
        if text is None:
            return
        try:
            host, number = split_host_port(text)
        except ValueError as exc:
            field.error(str(exc))
            return
        if host:
            out["host"] = host
        port(field, number, out)

    return handle


def _any_port(field: Field, value: Any, out: dict[str, Any]) -> None:
    out["port"] = value


_listen = listen(_any_port)


# -- tls {} ------------------------------------------------------------------------------


def _file(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        path = field.string(value)
        if path is None:
            return
        if not os.path.isfile(path):
            field.error(f"cannot read file {describe(path)}: no such file")
        out[name] = path

    return handle


def _tls_timeout(field: Field, value: Any, out: dict[str, Any]) -> None:
    seconds = field.duration(value)
    if seconds is not None:
        out["timeout"] = seconds


def _handshake_first(field: Field, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, bool):
        out["handshake_first"] = value
        return
    text = field.string(value)
    if text is None:
        return
    if text.lower() != "auto" and field.duration(text) is None:
        return
    out["handshake_first"] = True
    field.ignore("the fallback delay for clients that do not start with TLS is not implemented")


def _verify_and_map(field: Field, value: Any, out: dict[str, Any]) -> None:
    flag = field.boolean(value)
    if flag:
        out["verify"] = True
        out["verify_and_map"] = True


def _known_urls(field: Field, value: Any, out: dict[str, Any]) -> None:
    if field.boolean(value):
        field.error("verify_cert_and_check_known_urls not supported in this context")


def _windows_store(field: Field, value: Any, out: dict[str, Any]) -> None:
    if value:
        field.error(f"{field.path.rsplit('.', 1)[-1]} not compatible with current operating system")


TLS: dict[str, Handler] = aliases(
    {
        "cert_file": _file("cert_file"),
        "key_file": _file("key_file"),
        "ca_file": _file("ca_file"),
        "verify": to_bool("verify"),
        "timeout": _tls_timeout,
        ("handshake_first", "first", "immediate"): _handshake_first,
        "verify_and_map": _verify_and_map,
        "verify_cert_and_check_known_urls": _known_urls,
        ("cert_store", "cert_match"): _windows_store,
        (
            "insecure",
            "cipher_suites",
            "curve_preferences",
            "min_version",
            "pinned_certs",
            "connection_rate_limit",
            "certs",
            "cert_match_by",
            "ca_certs_match",
            "cert_match_skip_invalid",
            "ocsp_peer",
        ): ignored("natskern uses Python's default TLS settings"),
    }
)


def read_tls(field: Field, value: Any) -> dict[str, Any] | None:
    """A ``tls {}`` block: ``cert_file key_file ca_file verify timeout handshake_first``."""
    tls: dict[str, Any] = {}
    if field.walk(value, TLS, tls) is None:
        return None
    if not tls.get("cert_file") or not tls.get("key_file"):
        field.error("cert_file and key_file are required")
        return None
    return tls


def translate_tls(field: Field, value: Any, model: dict[str, Any]) -> None:
    """Top-level ``tls {}`` (TLS on the client port) into ``model["tls"]``."""
    tls = read_tls(field, value)
    if tls is not None:
        model["tls"] = tls


# -- websocket {} ------------------------------------------------------------------------


def _port(field: Field, value: Any, out: dict[str, Any]) -> None:
    port = field.integer(value, what="a port number", minimum=-1)
    if port is not None:
        if port > 65535:
            field.error(f"port {port} is out of range")
        else:
            out["port"] = port


def _ws_tls(field: Field, value: Any, out: dict[str, Any]) -> None:
    tls = read_tls(field, value)
    if tls is None:
        return
    for extra in ("timeout", "handshake_first", "verify_and_map"):
        if tls.pop(extra, None) is not None:
            field.child(extra, None).ignore("not applied to WebSocket TLS")
    out["tls"] = tls


WEBSOCKET: dict[str, Handler] = aliases(
    {
        "listen": _listen,
        ("host", "net"): to_string("host"),
        "port": _port,
        "tls": _ws_tls,
        "no_tls": to_bool("no_tls"),
        "compression": to_bool("compression"),
        "advertise": ignored(),
        ("same_origin", "allowed_origins"): ignored("origin checks are not implemented"),
        "handshake_timeout": ignored(),
        "authorization": ignored(
            "WebSocket clients authenticate against the server-wide authorization"
        ),
        "no_auth_user": ignored("WebSocket clients use the server-wide no_auth_user"),
        ("jwt_cookie", "user_cookie", "pass_cookie", "token_cookie"): ignored(
            "cookie authentication is not implemented"
        ),
        "headers": ignored(),
        "ping_interval": ignored(),
    }
)


def translate_websocket(field: Field, value: Any, model: dict[str, Any]) -> None:
    """``websocket {}`` (alias ``ws``) into ``model["websocket"]``; a port enables it."""
    ws: dict[str, Any] = {}
    if field.walk(value, WEBSOCKET, ws) is None:
        return
    ws["enabled"] = ws.get("port", 0) != 0
    if ws["enabled"] and "tls" not in ws and not ws.get("no_tls"):
        field.error("websocket needs a tls {} block or no_tls: true")
    model["websocket"] = ws


# -- jetstream {} ------------------------------------------------------------------------


def _store_dir(field: Field, value: Any, out: dict[str, Any]) -> None:
    path = field.string(value)
    if path is None:
        return
    tr = field.tr
    if tr.store_dir_at is not None:
        field.error(f"duplicate store_dir (also set at {tr.where(tr.store_dir_at)})")
        return
    tr.store_dir_at = field.pos
    out["store_dir"] = path


def to_storage_size(name: str) -> Handler:
    """A handler storing a :func:`storage_size` as ``out[name]``."""

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        size = storage_size(field, value)
        if size is not None:
            out[name] = size

    return handle


def _sync_interval(field: Field, value: Any, out: dict[str, Any]) -> None:
    """``sync_interval``/``sync``: ``always`` (durable, natskern's default) or a duration.

    A duration is the opt-in lazy mode (fsync on that timer).  As in nats-server, a bare
    number is seconds with the "should be converted to a duration" warning, and ``0``
    means the default (here ``always``).  A negative interval is refused.
    """
    if isinstance(value, str) and value.lower() == "always":
        out["sync_interval"] = "always"
        return
    seconds = field.duration(value, numbers="warn")
    if seconds is None:
        return
    if not seconds:
        out.pop("sync_interval", None)
    elif isinstance(value, str):
        out["sync_interval"] = value  # the plugin parses the Go duration to nanoseconds
    else:
        out["sync_interval"] = seconds


def _js_limits(field: Field, value: Any, out: dict[str, Any]) -> None:
    """``limits {}``: ``default_max_consumers`` applies; the rest is accepted and ignored."""
    field.walk(value, JETSTREAM_LIMITS, out.setdefault("limits", {}))
    if not out["limits"]:
        del out["limits"]


def _default_max_consumers(field: Field, value: Any, out: dict[str, Any]) -> None:
    """nats-server 2.15's per-stream consumer cap: ``0`` keeps its default, ``-1`` none."""
    count = field.integer(value, minimum=-1)
    if count is not None:
        if count:
            out["default_max_consumers"] = count
        else:
            out.pop("default_max_consumers", None)


#: ``jetstream { limits {} }``: nats-server 2.15.1's ``JSLimitOpts`` keys.
JETSTREAM_LIMITS: dict[str, Handler] = aliases(
    {
        "default_max_consumers": _default_max_consumers,
        (
            "max_ack_pending",
            "max_ha_assets",
            "max_request_batch",
            "duplicate_window",
            "batch",
        ): ignored(),
    }
)

JETSTREAM: dict[str, Handler] = aliases(
    {
        "enabled": to_bool("enabled"),
        ("sync_interval", "sync"): _sync_interval,
        "limits": _js_limits,
        ("store_dir", "store", "storedir"): _store_dir,
        ("max_memory_store", "max_mem_store", "max_mem"): to_storage_size("max_memory"),
        ("max_file_store", "max_file"): to_storage_size("max_store"),
        "domain": to_string("domain"),
        "store_backend": to_string("store_backend"),  # natskern's: file, rocksdb
        (
            "strict",
            "unique_tag",
            "max_outstanding_catchup",
            "max_catchup",
            "max_buffered_size",
            "max_buffered_msgs",
            "request_queue_limit",
            "info_queue_limit",
            "max_concurrent_io",
            "extension_hint",
        ): ignored(),
        ("key", "ek", "cipher", "prev_key", "prev_ek", "tpm"): ignored(
            "encryption at rest is not implemented"
        ),
    }
)


def translate_jetstream(field: Field, value: Any, model: dict[str, Any]) -> None:
    """``jetstream``: a boolean, ``enabled``/``disabled`` or a map (enabled unless it says not)."""
    js = model.setdefault("jetstream", {})
    if isinstance(value, bool):
        js["enabled"] = value
    elif isinstance(value, str):
        word = value.lower()
        if word in ("enabled", "enable", "disabled", "disable"):
            js["enabled"] = word.startswith("enable")
        else:
            field.error(f"expected 'enabled' or 'disabled', got {describe(value)}")
    elif isinstance(value, Mapping):
        js["enabled"] = True
        field.walk(value, JETSTREAM, js)
    else:
        field.error(f"expected a boolean, enabled/disabled or a map, got {describe(value)}")


def translate_store_dir(field: Field, value: Any, model: dict[str, Any]) -> None:
    """Top-level ``store_dir``: JetStream's directory (does not enable JetStream)."""
    _store_dir(field, value, model.setdefault("jetstream", {}))


# -- cluster {} --------------------------------------------------------------------------


def _routes(field: Field, value: Any, out: dict[str, Any]) -> None:
    routes = field.strings(value, scalar_ok=False)
    if routes is not None:
        out["routes"] = routes


CLUSTER: dict[str, Handler] = aliases(
    {
        "name": to_string("name"),
        "listen": _listen,
        ("host", "net"): to_string("host"),
        "port": _port,
        "routes": _routes,
        (
            "authorization",
            "tls",
            "advertise",
            "cluster_advertise",
            "no_advertise",
            "connect_retries",
            "connect_backoff",
            "permissions",
            "pool_size",
            "accounts",
            "compression",
            "ping_interval",
            "ping_max",
            "write_deadline",
            "write_timeout",
        ): ignored(CLUSTERING_LATER),
    }
)


def translate_cluster(field: Field, value: Any, model: dict[str, Any]) -> None:
    """``cluster {}``: accepted (name, listen, routes kept); clustering comes later."""
    raw: dict[str, Any] = {}
    if field.walk(value, CLUSTER, raw) is None:
        return
    cluster: dict[str, Any] = {k: raw[k] for k in ("name", "routes") if k in raw}
    if "port" in raw or "host" in raw:
        host = raw.get("host") or "0.0.0.0"
        host = f"[{host}]" if ":" in host else host
        cluster["listen"] = f"{host}:{raw.get('port', 6222)}"
    model["cluster"] = cluster
    field.ignore(CLUSTERING_LATER)


# -- mappings {} -------------------------------------------------------------------------


def _weight(field: Field, value: Any, out: dict[str, Any]) -> None:
    weight: Any = value
    if isinstance(value, str):
        text = value.strip().removesuffix("%")
        weight = int(text) if text.isdigit() else value
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        field.error(f'expected a weight from 0 to 100 (or "NN%"), got {describe(value)}')
        return
    out["weight"] = weight


_DESTINATION: dict[str, Handler] = aliases(
    {
        ("destination", "dest"): to_string("destination"),
        "weight": _weight,
        "cluster": to_string("cluster"),
    }
)


def _weighted(field: Field, value: Any) -> dict[str, Any] | None:
    entry: dict[str, Any] = {}
    if field.walk(value, _DESTINATION, entry) is None:
        return None
    if "destination" not in entry:
        field.error("a weighted mapping needs a destination")
        return None
    if "weight" not in entry:
        field.error(f"missing weight for mapping destination {describe(entry['destination'])}")
        return None
    return entry


def read_mappings(field: Field, value: Any) -> dict[str, Any] | None:
    """A ``mappings {}`` block: ``{source: destination | [{destination, weight, cluster}]}``."""
    conf = field.mapping(value)
    if conf is None:
        return None
    mappings: dict[str, Any] = {}
    for source, target in conf.items():
        item = field.child(source, conf.position(source))
        if not is_valid_subject(source.encode()):
            item.error(f"{describe(source)} is not a valid subject")
            continue
        if isinstance(target, str):
            mappings[source] = target
            continue
        if isinstance(target, Mapping):
            entry = _weighted(item, target)
            entries = [entry] if entry is not None else []
        elif isinstance(target, list):
            entries = [e for f, el in item.elements(target) if (e := _weighted(f, el)) is not None]
        else:
            item.error(
                f"expected a destination subject or weighted destinations, got {describe(target)}"
            )
            continue
        totals: dict[str, int] = {}
        for entry in entries:
            key = entry.get("cluster", "")
            totals[key] = totals.get(key, 0) + entry["weight"]
        over = {k: v for k, v in totals.items() if v > 100}
        if over:
            item.error(f"total weight {max(over.values())} exceeds 100")
            continue
        mappings[source] = entries
    return mappings


def translate_mappings(field: Field, value: Any, model: dict[str, Any]) -> None:
    """Top-level ``mappings`` (alias ``maps``): subject mappings of the global account."""
    mappings = read_mappings(field, value)
    if mappings is not None:
        model.setdefault("mappings", {}).update(mappings)
