"""Hooks of the JetStream plugin: the schema it owns and the engine's lifespan."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.jetstream.engine import DEFAULT_MAX_CONSUMERS, JetStream, JetStreamSettings
from natskern.kernel.jetstream.storechoice import StorageChoice
from natskern.plugins.jetstream.schema import ACCOUNT_JETSTREAM, JETSTREAM

log = logging.getLogger("natskern")


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``jetstream`` section, and ``jetstream`` inside every account."""
    return {"jetstream": JETSTREAM, "accounts.*.jetstream": ACCOUNT_JETSTREAM}


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Refuse a ``store_backend`` (the server's or an account's) no plugin registered, or
    a bad ``sync_interval`` (at start-up and with ``-t``)."""
    section = config.get("jetstream", {})
    storage_choice(broker.storage_backends.as_dict(), section, config.get("accounts"))
    sync_mode(section.get("sync_interval", "always"))


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """When ``jetstream.enabled``, run the JetStream engine for the broker's accounts."""
    section = broker.config.get("jetstream", {})
    if not section.get("enabled"):
        return None
    return _running(broker, settings(broker, section))


def settings(broker: Any, section: dict[str, Any]) -> JetStreamSettings:
    """The engine's settings from the ``jetstream`` section and the broker's registries.

    ``store_dir`` defaults to nats-server's (``<tmp>/nats``); ``sync_interval`` is
    ``always`` (acknowledge after fsync, the default) or a Go duration for the lazy mode
    (:func:`sync_mode`); ``limits.default_max_consumers`` caps the consumers of a stream
    without its own ``max_consumers``.
    """
    store_dir = section.get("store_dir") or os.path.join(tempfile.gettempdir(), "nats")
    return JetStreamSettings(
        store_dir=store_dir,
        storage=storage_choice(
            broker.storage_backends.as_dict(), section, broker.config.get("accounts")
        ),
        functions=broker.mapping_functions.as_dict(),
        server_name=broker.server_name,
        domain=section.get("domain", ""),
        sync=sync_mode(section.get("sync_interval", "always")),
        default_max_consumers=default_max_consumers(section.get("limits") or {}),
        max_memory=section.get("max_memory", -1),
        max_store=section.get("max_store", -1),
        accounts=broker.config.get("accounts") or None,
    )


def sync_mode(interval: Any) -> str | int:
    """The store's ``sync`` for a ``sync_interval``: ``"always"`` or the lazy interval in ns.

    ``always`` (any case) or an unset/zero interval is the durable default; a Go
    duration string or a number of seconds is the opt-in lazy mode.
    """
    if isinstance(interval, bool) or interval is None:
        raise ConfigError(
            f"jetstream.sync_interval: expected always or a duration, got {interval!r}"
        )
    if isinstance(interval, int | float):
        ns = int(interval * 1_000_000_000)
    elif interval.lower() == "always":
        return "always"
    else:
        try:
            ns = parse_duration_ns(interval)
        except ValueError as exc:
            raise ConfigError(f"jetstream.sync_interval: {exc}") from None
    if ns < 0:
        raise ConfigError(f"jetstream.sync_interval: must not be negative, got {interval!r}")
    return ns or "always"


def default_max_consumers(limits: dict[str, Any]) -> int:
    """``limits.default_max_consumers``: 0 or unset is nats-server's 1000, -1 no cap."""
    value = int(limits.get("default_max_consumers") or 0)
    return value if value else DEFAULT_MAX_CONSUMERS


def storage_choice(
    backends: dict[str, Any], section: dict[str, Any], accounts: dict[str, Any] | None = None
) -> StorageChoice:
    """What a stream's ``storage`` names: ``memory``, and ``file`` = the durable backend.

    ``store_backend`` (default ``file``) picks the registered backend behind a
    client's ``storage: "file"``, e.g. ``rocksdb``; an account's ``jetstream {
    store_backend }`` overrides it for that account's streams, and a stream's
    metadata key ``natskern.store_backend`` for that stream
    (:mod:`natskern.kernel.jetstream.storechoice`).
    """
    wanted = section.get("store_backend") or "file"
    _known(backends, wanted, "jetstream.store_backend")
    per_account: dict[str, str] = {}
    for name, account in (accounts or {}).items():
        js = account.get("jetstream") if isinstance(account, dict) else None
        if isinstance(js, dict) and js.get("store_backend"):
            per_account[name] = js["store_backend"]
            _known(backends, js["store_backend"], f"accounts.{name}.jetstream.store_backend")
    return StorageChoice(backends, wanted, per_account)


def _known(backends: dict[str, Any], wanted: str, where: str) -> None:
    if wanted not in backends or wanted == "memory":
        known = ", ".join(sorted(n for n in backends if n != "memory"))
        raise ConfigError(f"{where}: no storage backend {wanted!r} (known: {known})")


@contextlib.asynccontextmanager
async def _running(broker: Any, config: JetStreamSettings) -> AsyncIterator[None]:
    async with JetStream(broker, config) as engine:
        broker.jetstream = engine
        broker.info_extra["jetstream"] = True
        mode = (
            "durable: acknowledged after fsync"
            if config.sync == "always"
            else (f"LAZY: fsync every {config.sync / 1e9:g}s, a crash can lose acknowledged writes")
        )
        log.info("Starting JetStream, store directory %s (%s)", config.store_dir, mode)
        try:
            yield
        finally:
            broker.info_extra.pop("jetstream", None)
            broker.jetstream = None
