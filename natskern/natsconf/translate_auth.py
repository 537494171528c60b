"""``authorization {}``, users, permissions and ``accounts {}`` onto ``auth`` and ``accounts``.

Model shapes produced (see the config contract):

* ``auth``: ``user``, ``password``, ``token``, ``timeout`` (seconds), ``users``,
  ``default_permissions``; top-level ``no_auth_user``/``system_account`` land here too.
* a user entry: ``user``, ``password``, ``nkey``, ``permissions`` and, when given,
  ``allowed_connection_types`` (upper-case names).
* permissions: ``publish``/``subscribe`` as ``{"allow": [...], "deny": [...]}`` with only
  the lists that were written (a bare string or list means allow-only), and
  ``allow_responses`` as ``true``/``false`` or ``{"max": n, "expires": seconds}``.
* ``accounts.NAME``: ``users``, ``exports``, ``imports``, ``mappings``, ``jetstream``
  (``"enabled"``, ``"disabled"`` or a map of limits), ``default_permissions``, ``limits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from natskern.kernel.const import GLOBAL_ACCOUNT
from natskern.kernel.subjects.tokens import is_valid_queue_name, is_valid_subject
from natskern.natsconf.translate_blocks import read_mappings, to_storage_size
from natskern.natsconf.values import describe, is_public_nkey
from natskern.natsconf.walker import (
    Field,
    Handler,
    aliases,
    ignored,
    to_bool,
    to_count,
    to_duration,
    to_string,
)

__all__ = ["translate_accounts", "translate_authorization"]

CONNECTION_TYPES = frozenset(
    {"STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", "IN_PROCESS"}
)
RESPONSE_TYPES = frozenset({"single", "stream", "chunked"})


# -- permissions -----------------------------------------------------------------------


def _check_subject(field: Field, subject: str, *, queue_ok: bool) -> bool:
    text = subject
    if queue_ok:
        parts = subject.split(None, 1)
        text = parts[0] if parts else ""
        if len(parts) == 2 and not is_valid_queue_name(parts[1].strip().encode()):
            field.error(f"invalid queue group in {describe(subject)}")
            return False
    if not is_valid_subject(text.encode()):
        field.error(f"{describe(subject)} is not a valid subject")
        return False
    return True


def _subjects(name: str, *, queue_ok: bool) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        subjects = field.strings(value)
        if subjects is not None and all(
            _check_subject(field, s, queue_ok=queue_ok) for s in subjects
        ):
            out[name] = subjects

    return handle


def _direction(name: str) -> Handler:
    queue_ok = name == "subscribe"
    lists = {
        "allow": _subjects("allow", queue_ok=queue_ok),
        "deny": _subjects("deny", queue_ok=queue_ok),
    }

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        if isinstance(value, Mapping):
            perm: dict[str, Any] = {}
            field.walk(value, lists, perm)
            out[name] = perm
            return
        perm = {}
        _subjects("allow", queue_ok=queue_ok)(field, value, perm)
        if "allow" in perm:
            out[name] = perm

    return handle


_RESPONSES: dict[str, Handler] = {
    "max": to_count("max"),
    "expires": to_duration("expires"),
    "ttl": to_duration("expires"),
}


def _allow_responses(field: Field, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, bool):
        out["allow_responses"] = value
    elif isinstance(value, Mapping):
        responses: dict[str, Any] = {}
        field.walk(value, _RESPONSES, responses)
        out["allow_responses"] = responses
    else:
        field.error(f"expected true, false or {{max, expires}}, got {describe(value)}")


PERMISSIONS: dict[str, Handler] = aliases(
    {
        ("publish", "pub", "import"): _direction("publish"),
        ("subscribe", "sub", "export"): _direction("subscribe"),
        ("allow_responses", "publish_allow_responses"): _allow_responses,
    }
)


def _permissions(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        perms: dict[str, Any] = {}
        if field.walk(value, PERMISSIONS, perms) is not None:
            out[name] = perms

    return handle


# -- users -----------------------------------------------------------------------------


def _nkey(prefix: str, what: str, *, keep: bool = True) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        key = field.string(value)
        if key is None:
            return
        if not is_public_nkey(key, prefix):
            field.error(f"not a valid public nkey for {what}: {describe(key)}")
        elif keep:
            out["nkey"] = key
        else:
            field.ignore("account nkeys belong to JWT/operator mode")

    return handle


def _connection_types(field: Field, value: Any, out: dict[str, Any]) -> None:
    names = field.strings(value)
    if names is None:
        return
    upper = [n.upper() for n in names]
    bad = [n for n in upper if n not in CONNECTION_TYPES]
    if bad:
        field.error(f"invalid connection types {bad}; known: {sorted(CONNECTION_TYPES)}")
    else:
        out["allowed_connection_types"] = upper


USER: dict[str, Handler] = aliases(
    {
        ("user", "username"): to_string("user"),
        ("password", "pass"): to_string("password"),
        "nkey": _nkey("U", "a user"),
        ("permissions", "permission", "authorization"): _permissions("permissions"),
        ("allowed_connection_types", "connection_types", "clients"): _connection_types,
        "proxy_required": ignored("proxy protocol is not implemented"),
    }
)


def _users(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        users: list[dict[str, Any]] = []
        for item, element in field.elements(value):
            entry: dict[str, Any] = {}
            clean = item.walk(element, USER, entry) is not None
            ident = entry.get("user") or entry.get("nkey")
            if not ident:
                if clean:
                    item.error("a user entry needs a user or an nkey")
                continue
            seen = item.tr.user_names
            if ident in seen:
                item.error(
                    f'duplicate user "{ident}" (also defined at {item.tr.where(seen[ident])})'
                )
            seen[ident] = item.pos
            users.append(entry)
        out[name] = users

    return handle


# -- authorization {} --------------------------------------------------------------------


AUTHORIZATION: dict[str, Handler] = aliases(
    {
        ("user", "username"): to_string("user"),
        ("password", "pass"): to_string("password"),
        "token": to_string("token"),
        "timeout": to_duration("timeout"),
        "users": _users("users"),
        ("default_permissions", "default_permission", "permissions"): _permissions(
            "default_permissions"
        ),
        ("auth_callout", "callout"): ignored("auth callout is not implemented"),
        "proxy_required": ignored("proxy protocol is not implemented"),
    }
)


def translate_authorization(field: Field, value: Any, model: dict[str, Any]) -> None:
    """The top-level ``authorization {}`` block into ``model["auth"]``."""
    auth = model.setdefault("auth", {})
    conf = field.walk(value, AUTHORIZATION, auth)
    if conf is None:
        return
    single = bool(auth.get("user") or auth.get("password"))
    if single and auth.get("token"):
        field.error("cannot have a user/password and a token")
    if auth.get("users") and single:
        field.error("cannot have a single user/password and a users array")
    if auth.get("users") and auth.get("token"):
        field.error("cannot have a token and a users array")
    if auth.get("user"):
        seen = field.tr.user_names
        if auth["user"] in seen:
            field.error(f'duplicate user "{auth["user"]}"')
        seen[auth["user"]] = field.pos


# -- accounts {} -------------------------------------------------------------------------


def _subject(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        subject = field.string(value)
        if subject is not None and _check_subject(field, subject, queue_ok=False):
            out[name] = subject

    return handle


def _account_names(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        names = field.strings(value)
        if names is not None:
            out[name] = names

    return handle


def _response_type(field: Field, value: Any, out: dict[str, Any]) -> None:
    kind = field.string(value)
    if kind is None:
        return
    if kind.lower() not in RESPONSE_TYPES:
        field.error(f"expected one of single, stream, chunked, got {describe(kind)}")
    else:
        out["response_type"] = kind.lower()


EXPORT: dict[str, Handler] = aliases(
    {
        "stream": _subject("stream"),
        "service": _subject("service"),
        "accounts": _account_names("accounts"),
        ("response_type", "response"): _response_type,
        ("response_threshold", "threshold", "response_max_time"): to_duration("response_threshold"),
        "latency": ignored("service latency tracking is not implemented"),
        "account_token_position": ignored("JWT/operator mode is not supported"),
        "advertise": ignored(),
        "allow_trace": ignored("message tracing is not implemented"),
    }
)

_IMPORT_SOURCE: dict[str, Handler] = {
    "account": to_string("account"),
    "subject": _subject("subject"),
}


def _import_source(kind: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        source: dict[str, Any] = {}
        if field.walk(value, _IMPORT_SOURCE, source) is None:
            return
        missing = [k for k in ("account", "subject") if k not in source]
        if missing:
            field.error(f"{kind} import needs {' and '.join(missing)}")
            return
        field.tr.imported_accounts.append((field, source["account"]))
        out[kind] = source

    return handle


IMPORT: dict[str, Handler] = {
    "stream": _import_source("stream"),
    "service": _import_source("service"),
    "prefix": to_string("prefix"),
    "to": to_string("to"),
    "share": to_bool("share"),
    "allow_trace": ignored("message tracing is not implemented"),
}


def _one_of_stream_service(field: Field, entry: dict[str, Any], what: str) -> bool:
    kinds = [k for k in ("stream", "service") if k in entry]
    if len(kinds) != 1:
        field.error(f"an {what} needs exactly one of stream or service")
        return False
    return True


def _entries(name: str, table: dict[str, Handler], what: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        entries: list[dict[str, Any]] = []
        for item, element in field.elements(value):
            entry: dict[str, Any] = {}
            if item.walk(element, table, entry) is not None and _one_of_stream_service(
                item, entry, what
            ):
                entries.append(entry)
        out[name] = entries

    return handle


def _limit(name: str) -> Handler:
    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        count = field.integer(value, minimum=-1)
        if count is not None:
            out[name] = count

    return handle


ACCOUNT_JETSTREAM: dict[str, Handler] = aliases(
    {
        ("max_memory", "max_mem", "mem", "memory"): to_storage_size("max_memory"),
        ("max_store", "max_file", "max_disk", "store", "disk"): to_storage_size("max_store"),
        ("max_streams", "streams"): _limit("max_streams"),
        ("max_consumers", "consumers"): _limit("max_consumers"),
        ("max_bytes_required", "max_stream_bytes", "max_bytes"): to_bool("max_bytes_required"),
        ("mem_max_stream_bytes", "memory_max_stream_bytes"): to_storage_size(
            "mem_max_stream_bytes"
        ),
        ("disk_max_stream_bytes", "store_max_stream_bytes"): to_storage_size(
            "disk_max_stream_bytes"
        ),
        "max_ack_pending": _limit("max_ack_pending"),
        "store_backend": to_string("store_backend"),  # natskern's: file, rocksdb
        "cluster_traffic": ignored("clustering is not implemented yet"),
    }
)


def _account_jetstream(field: Field, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, bool):
        out["jetstream"] = "enabled" if value else "disabled"
    elif isinstance(value, str) and value.lower() in ("enabled", "disabled"):
        out["jetstream"] = value.lower()
    elif isinstance(value, Mapping):
        limits: dict[str, Any] = {}
        if field.walk(value, ACCOUNT_JETSTREAM, limits) is not None:
            out["jetstream"] = limits or "enabled"
    else:
        field.error(f"expected enabled, disabled, a boolean or a map, got {describe(value)}")


def _account_mappings(field: Field, value: Any, out: dict[str, Any]) -> None:
    mappings = read_mappings(field, value)
    if mappings is not None:
        out["mappings"] = mappings


ACCOUNT_LIMITS: dict[str, Handler] = aliases(
    {
        ("max_connections", "max_conn"): _limit("max_connections"),
        ("max_subscriptions", "max_subs"): _limit("max_subscriptions"),
        ("max_payload", "max_pay"): _limit("max_payload"),
        ("max_leafnodes", "max_leafs"): _limit("max_leafnodes"),
    }
)


def _account_limits(field: Field, value: Any, out: dict[str, Any]) -> None:
    limits: dict[str, Any] = {}
    if field.walk(value, ACCOUNT_LIMITS, limits) is not None:
        out["limits"] = limits


ACCOUNT: dict[str, Handler] = aliases(
    {
        "users": _users("users"),
        "exports": _entries("exports", EXPORT, "export"),
        "imports": _entries("imports", IMPORT, "import"),
        ("jetstream", "js"): _account_jetstream,
        ("mappings", "maps"): _account_mappings,
        "default_permissions": _permissions("default_permissions"),
        "nkey": _nkey("A", "an account", keep=False),
        "limits": _account_limits,
        ("msg_trace", "trace_dest"): ignored("message tracing is not implemented"),
    }
)


def translate_accounts(field: Field, value: Any, model: dict[str, Any]) -> None:
    """The ``accounts`` block (a map of accounts or a list of names) into ``model["accounts"]``."""
    accounts = model.setdefault("accounts", {})
    if isinstance(value, list):
        for item, element in field.elements(value):
            name = item.string(element)
            if name is not None and _account_name_ok(item, name):
                accounts.setdefault(name, {})
        return
    conf = field.mapping(value)
    if conf is None:
        return
    for name, body in conf.items():
        item = field.child(name, conf.position(name))
        if name in conf.used and not isinstance(body, Mapping):
            continue  # a $variable defined inside the block
        if not _account_name_ok(item, name):
            continue
        account: dict[str, Any] = {}
        item.walk(body, ACCOUNT, account)
        accounts[name] = account


def _account_name_ok(field: Field, name: str) -> bool:
    if name == GLOBAL_ACCOUNT:
        field.error(f'"{GLOBAL_ACCOUNT}" is a reserved account')
        return False
    if not name or any(ch.isspace() for ch in name):
        field.error(f"invalid account name {describe(name)}")
        return False
    return True
