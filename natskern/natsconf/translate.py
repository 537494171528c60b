"""Map a parsed nats-server config onto natskern's configuration model.

:func:`translate` takes the tree from :func:`natskern.natsconf.parser.parse_file` and
returns the same dict a TOML/JSON config would give (sections ``server``, ``tcp``,
``auth``, ``accounts``, ``mappings``, ``tls``, ``websocket``, ``monitoring``,
``jetstream``, ``cluster``, ``logging``), ready for the kernel's schema validation.

* Every key nats-server documents is accepted.  Keys natskern does not act on are
  reported as *ignored* (logged), never silently dropped; JWT/operator-mode keys are
  errors, because ignoring them would open a server that was meant to be closed.
* Unknown keys and unusable values are errors naming file, line and key; all of them are
  reported at once (:class:`~natskern.natsconf.errors.ConfTranslateError`).
* Where nats-server only warns (a duration written as a bare number of seconds), the
  value is used and a warning is recorded; ``natskern-server -t`` then fails, as
  ``nats-server -t`` does.
* nats-server defaults that differ from natskern's own are written out: the client port
  listens on ``0.0.0.0:4222`` and monitoring on the client host.  ``port: 0`` means the
  default port (as in nats-server); ``-1`` means a random port.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from natskern.kernel import const
from natskern.natsconf.errors import ConfTranslateError
from natskern.natsconf.parser import ConfMap, Pos
from natskern.natsconf.translate_auth import translate_accounts, translate_authorization
from natskern.natsconf.translate_blocks import (
    listen,
    translate_cluster,
    translate_jetstream,
    translate_mappings,
    translate_store_dir,
    translate_tls,
    translate_websocket,
)
from natskern.natsconf.walker import (
    Field,
    Handler,
    Translation,
    aliases,
    ignored,
    to_bool,
    to_count,
    to_duration,
    to_string,
)

__all__ = ["DEFAULT_HOST", "Translation", "translate", "translate_report"]

log = logging.getLogger("natskern.natsconf")

#: nats-server binds every interface unless told otherwise.
DEFAULT_HOST = "0.0.0.0"
_INT32_MAX = 2**31 - 1
_MIN_LAME_DUCK = 30.0


def _section(name: str, handler: Handler) -> Handler:
    """Run ``handler`` with ``out`` = ``model[name]``."""

    def handle(field: Field, value: Any, model: dict[str, Any]) -> None:
        handler(field, value, model.setdefault(name, {}))

    return handle


def _port(field: Field, value: Any, out: dict[str, Any]) -> None:
    port = field.integer(value, what="a port number")
    if port is None:
        return
    if not -1 <= port <= 65535:
        field.error(f"port {port} is out of range (-1 for a random port, 0 for the default)")
        return
    out["port"] = port


_host_port = listen(_port)


def _server_name(field: Field, value: Any, model: dict[str, Any]) -> None:
    name = field.string(value)
    if name is None:
        return
    model.setdefault("server", {})["name"] = name


def _monitor(handler: Handler) -> Handler:
    def handle(field: Field, value: Any, model: dict[str, Any]) -> None:
        monitoring = model.setdefault("monitoring", {})
        handler(field, value, monitoring)
        if "port" in monitoring:
            monitoring["enabled"] = monitoring["port"] != 0

    return handle


def _trace_verbose(field: Field, value: Any, model: dict[str, Any]) -> None:
    flag = field.boolean(value)
    if flag:
        model.setdefault("logging", {})["trace"] = True
        field.ignore("traces of the system account are not distinguished")


def _lame_duck_duration(field: Field, value: Any, model: dict[str, Any]) -> None:
    seconds = field.duration(value, numbers="error")
    if seconds is None:
        return
    if seconds and seconds < _MIN_LAME_DUCK:
        field.error(f"invalid lame_duck_duration of {value}, minimum is 30 seconds")
        return
    if seconds:
        model.setdefault("server", {})["lame_duck_duration"] = seconds


def _unsupported(why: str) -> Handler:
    def handle(field: Field, _value: Any, _model: dict[str, Any]) -> None:
        field.error(f"not supported: {why}")

    return handle


def _whole_block(why: str) -> Handler:
    def handle(field: Field, value: Any, _model: dict[str, Any]) -> None:
        if field.mapping(value) is not None:
            field.ignore(why)

    return handle


_JWT = "JWT/operator mode is not supported by natskern; use authorization {} or accounts {}"

TOP_LEVEL: dict[str, Handler] = aliases(
    {
        "listen": _section("tcp", _host_port),
        ("host", "net"): to_string("host", "tcp"),
        "port": _section("tcp", _port),
        "server_name": _server_name,
        "http": _monitor(_host_port),
        ("http_port", "monitor_port"): _monitor(_port),
        ("https", "https_port"): ignored("HTTPS monitoring is not implemented (use http)"),
        "http_base_path": ignored(),
        "debug": to_bool("debug", "logging"),
        "trace": to_bool("trace", "logging"),
        "trace_verbose": _trace_verbose,
        "trace_headers": ignored(),
        "logtime": to_bool("logtime", "logging"),
        "logtime_utc": ignored(),
        ("logfile", "log_file"): to_string("file", "logging"),
        ("logfile_size_limit", "log_size_limit", "logfile_max_num", "log_max_num"): ignored(
            "log rotation is not implemented"
        ),
        "syslog": to_bool("syslog", "logging"),
        "remote_syslog": to_string("remote_syslog", "logging"),
        ("pidfile", "pid_file"): to_string("pid_file", "logging"),
        "ports_file_dir": ignored(),
        "prof_port": ignored("profiling is not available"),
        "max_payload": to_count("max_payload", "server", size=True, limit=_INT32_MAX),
        ("max_pending", "max_pending_size"): to_count("max_pending", "server", size=True),
        "max_control_line": to_count("max_control_line", "server", size=True, limit=_INT32_MAX),
        ("max_connections", "max_conn"): to_count("max_connections", "server"),
        ("max_subscriptions", "max_subs"): to_count("max_subscriptions", "server"),
        ("max_sub_tokens", "max_subscription_tokens"): ignored(),
        "max_traced_msg_len": to_count("max_traced_msg_len", "logging"),
        "ping_interval": to_duration("ping_interval", "server", numbers="warn"),
        "ping_max": to_count("ping_max", "server"),
        "write_deadline": to_duration("write_deadline", "server", numbers="warn"),
        "write_timeout": ignored(),
        "lame_duck_duration": _lame_duck_duration,
        "lame_duck_grace_period": to_duration("lame_duck_grace_period", "server", numbers="error"),
        "authorization": translate_authorization,
        "accounts": translate_accounts,
        ("system_account", "system"): to_string("system_account", "auth"),
        ("no_system_account", "no_system", "no_sys_acc"): ignored(),
        "no_auth_user": to_string("no_auth_user", "auth"),
        ("mappings", "maps"): translate_mappings,
        "jetstream": translate_jetstream,
        ("store_dir", "storedir"): translate_store_dir,
        "tls": translate_tls,
        "allow_non_tls": ignored("plain connections are refused when TLS is configured"),
        "cluster": translate_cluster,
        ("websocket", "ws"): translate_websocket,
        "gateway": _whole_block("gateways are not implemented: the block is ignored"),
        ("leafnodes", "leaf"): _whole_block("leaf nodes are not implemented: the block is ignored"),
        "mqtt": _whole_block("MQTT is not implemented: the block is ignored"),
        (
            "operator",
            "operators",
            "root_operator",
            "root_operators",
            "resolver",
            "account_resolver",
            "accounts_resolver",
            "resolver_tls",
            "resolver_preload",
            "resolver_pinned_accounts",
            "trusted",
            "trusted_keys",
        ): _unsupported(_JWT),
        "client_advertise": ignored(),
        (
            "server_tags",
            "server_metadata",
            "no_header_support",
            "disable_sublist_cache",
            "no_sublist_cache",
            "max_closed_clients",
            "connect_error_reports",
            "reconnect_error_reports",
            "default_js_domain",
            "ocsp",
            "ocsp_cache",
            "proxies",
            "feature_flags",
        ): ignored(),
    }
)


def translate_report(parsed: Mapping[str, Any], *, source: str) -> Translation:
    """Translate ``parsed`` and return the model with its warnings and ignored keys.

    Raises :class:`ConfTranslateError` listing every problem when there is any.
    """
    tr = Translation(source)
    root = Field(tr, "", parsed.pos if isinstance(parsed, ConfMap) else None)
    root.walk(parsed, TOP_LEVEL, tr.model)
    _finish(tr, parsed)
    if tr.problems:
        raise ConfTranslateError(tr.problems)
    return tr


def translate(parsed: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """natskern's configuration model for a parsed nats-server config.

    Warnings and ignored keys are logged on ``natskern.natsconf``; problems raise
    :class:`ConfTranslateError` (a :class:`natskern.kernel.errors.ConfigError`).
    """
    tr = translate_report(parsed, source=source)
    for line in tr.warnings:
        log.warning("%s", line)
    for line in tr.ignored:
        log.info("%s", line)
    return tr.model


def _position(parsed: Mapping[str, Any], *names: str) -> Pos | None:
    """Where the last of the (case-insensitive) top-level ``names`` was written."""
    if not isinstance(parsed, ConfMap):
        return None
    found = None
    for key in parsed:
        if key.lower() in names:
            found = parsed.position(key)
    return found


def _finish(tr: Translation, parsed: Mapping[str, Any]) -> None:
    """Defaults nats-server applies and the checks that need more than one key."""
    model = tr.model
    tcp = model.setdefault("tcp", {})
    tcp.setdefault("host", DEFAULT_HOST)
    if not tcp.get("port"):
        tcp["port"] = const.DEFAULT_PORT
    monitoring = model.get("monitoring")
    if monitoring is not None and monitoring.get("enabled"):
        monitoring.setdefault("host", tcp["host"])

    server = model.get("server", {})
    payload = server.get("max_payload", const.DEFAULT_MAX_PAYLOAD)
    pending = server.get("max_pending", const.DEFAULT_MAX_PENDING)
    if payload > pending:
        tr.problem(
            _position(parsed, "max_payload", "max_pending", "max_pending_size"),
            f"max_payload ({payload}) cannot be higher than max_pending ({pending})",
        )

    auth = model.get("auth", {})
    no_auth_user = auth.get("no_auth_user")
    if no_auth_user and no_auth_user not in tr.user_names:
        tr.problem(
            _position(parsed, "no_auth_user"),
            f'key "no_auth_user": "{no_auth_user}" is not a user in authorization {{}} '
            "or accounts {}",
        )
    accounts = model.get("accounts", {})
    system = auth.get("system_account")
    if system and accounts and system not in accounts and system != const.SYSTEM_ACCOUNT:
        tr.problem(
            _position(parsed, "system_account", "system"),
            f'key "system_account": account "{system}" is not defined in accounts {{}}',
        )
    for field, account in tr.imported_accounts:
        if account not in accounts:
            field.error(f'import from account "{account}", which is not defined')
