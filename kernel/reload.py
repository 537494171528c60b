"""Configuration reload: which changes a running broker can take, and applying them.

What may change is declared in the merged schema, by the plugin that owns each
key: the :data:`~natskern.kernel.config.RELOAD` keyword (``"x-natskern-reload"``)
on a section or any subschema below it says ``"live"`` (the running broker takes
the change through the ``reload`` hook) or ``"restart"``.  A marker applies to
everything below it until another marker overrides it; an unmarked key is
``"restart"``, so a plugin that says nothing is never reloaded half-way.

:func:`diff_configs` compares two validated configurations against the schema and
refuses (:class:`ReloadError`) the first change under a restart-only key, naming
it as nats-server does (``config reload not supported for tcp.port: old=4222,
new=4333``).  :func:`reload_broker` builds the new configuration on a broker that
is never started (schema and every plugin's ``configure``, which must therefore
open nothing), then calls every plugin's ``reload`` hook on the running broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from natskern.kernel.config import LIVE, RELOAD, RESTART, Schema, child_schema
from natskern.kernel.errors import NatskernError
from natskern.kernel.state import RELOAD as RELOAD_RECORD

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.server import Broker

log = logging.getLogger("natskern")

__all__ = ["ConfigChanges", "ReloadError", "diff_configs", "reload_broker"]


class ReloadError(NatskernError):
    """A reload was refused; the running configuration is unchanged."""


@dataclass(frozen=True)
class ConfigChanges:
    """What a reload changes: the dotted paths that differ, and the lines to log.

    ``paths`` are the deepest keys that differ (a list is one value; a key present
    on one side only is walked as an empty table on the other).  ``lines`` say it
    as nats-server logs it: the section name for a change under a section marked
    live as a whole (``"auth"``), ``key = value`` for a key marked live one by one
    inside its section (``"max_payload = 2000"``).
    """

    paths: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.paths)

    @property
    def sections(self) -> frozenset[str]:
        """The top-level sections with a change."""
        return frozenset(path.split(".", 1)[0] for path in self.paths)

    def touches(self, *patterns: str) -> bool:
        """Whether any change is at, under or above one of the dotted ``patterns``.

        ``*`` in a pattern matches any one key: ``touches("accounts.*.mappings")``
        is true for a change at ``accounts.A.mappings.x``, and for one at
        ``accounts`` (a value replaced whole, which may hold mappings).
        """
        for pattern in patterns:
            want = pattern.split(".")
            for path in self.paths:
                have = path.split(".")
                if all(w in ("*", h) for w, h in zip(want, have, strict=False)):
                    return True
        return False


def diff_configs(old: Mapping[str, Any], new: Mapping[str, Any], schema: Schema) -> ConfigChanges:
    """Compare two configurations under ``schema``'s reload markers.

    Tables are compared key by key; every other value is compared whole.  Raises
    :class:`ReloadError` naming the first differing value (in key order) whose
    nearest marker is not ``"live"``.
    """
    paths: list[str] = []
    lines: list[str] = []
    _walk(old, new, schema, [], RESTART, None, paths, lines)
    return ConfigChanges(tuple(paths), tuple(lines))


def _walk(
    old: Any,
    new: Any,
    schema: Schema,
    path: list[str],
    mode: str,
    live_at: tuple[list[str], Any] | None,
    paths: list[str],
    lines: list[str],
) -> None:
    if old == new:
        return
    marker = schema.get(RELOAD)
    if marker is not None:
        mode = marker
        if marker == LIVE and live_at is None and path:
            live_at = (path, new)  # the outermost live node says what is logged
    if (old is None or isinstance(old, Mapping)) and (new is None or isinstance(new, Mapping)):
        before, after = old or {}, new or {}
        for key in sorted(set(before) | set(after), key=str):
            child = child_schema(schema, str(key))
            _walk(
                before.get(key),
                after.get(key),
                child if child is not None else {},
                [*path, str(key)],
                mode,
                live_at,
                paths,
                lines,
            )
        return
    dotted = ".".join(path)
    if mode != LIVE or live_at is None:
        raise ReloadError(f"config reload not supported for {dotted}: old={old}, new={new}")
    paths.append(dotted)
    node, value = live_at
    line = node[0] if len(node) == 1 else f"{'.'.join(node[1:])} = {value}"
    if line not in lines:
        lines.append(line)


def reauthorize_sessions(broker: Broker) -> None:
    """Check every session against the current auth: drop the refused, re-permission the rest."""
    for client in list(broker.clients.values()):
        if client.closed or not client.connect_received:
            continue
        identity = broker.authenticate(client, client.connect_opts)
        if identity is None or identity.account != client.account.name:
            log.error(
                '%s:%d - cid:%d - authentication error - User "%s"',
                client.host,
                client.port,
                client.cid,
                client.user,
            )
            client.close("Authentication Failure", "Authorization Violation")
            continue
        client.rebind(identity)


def reload_broker(broker: Broker, raw: Mapping[str, Any]) -> ConfigChanges:
    """Apply the raw configuration ``raw`` to the running ``broker``; return the changes.

    The new configuration is checked in full first (:meth:`Broker.check_config`:
    schema and every ``configure``); a refused change leaves the broker as it was.
    Then ``broker.config`` is replaced, every plugin's ``reload`` hook runs in plugin
    order, and, when one asked for it (:meth:`Broker.reauthorize`), every session is
    checked against the new credentials once.
    """
    try:
        checked = broker.check_config(raw)
    except NatskernError as exc:
        raise ReloadError(str(exc)) from None
    new = checked.config
    changes = diff_configs(broker.config, new, broker.schema)
    old = broker.config
    broker.config = new
    broker.options = new["server"]
    broker.reauthorize_pending = False
    if changes:
        broker.pm.hook.reload(broker=broker, old=old, new=new, changes=changes)
    if broker.reauthorize_pending:
        broker.reauthorize_pending = False
        reauthorize_sessions(broker)
    record = RELOAD_RECORD.get(broker)
    count = record["count"] if record is not None else 0
    RELOAD_RECORD.set(broker, {"time": time.time(), "count": count + 1})
    return changes
