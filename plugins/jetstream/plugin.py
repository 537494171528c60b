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
from natskern.kernel.jetstream.engine import JetStream, JetStreamSettings
from natskern.plugins.jetstream.schema import ACCOUNT_JETSTREAM, JETSTREAM

log = logging.getLogger("natskern")


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``jetstream`` section, and ``jetstream`` inside every account."""
    return {"jetstream": JETSTREAM, "accounts.*.jetstream": ACCOUNT_JETSTREAM}


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Refuse a ``store_backend`` no plugin registered (at start-up and with ``-t``)."""
    storage_choice(broker.storage_backends.as_dict(), config.get("jetstream", {}))


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
    ``always`` (acknowledge after fsync, the default) or a Go duration for the lazy mode.
    """
    store_dir = section.get("store_dir") or os.path.join(tempfile.gettempdir(), "nats")
    sync: str | int = "always"
    interval = section.get("sync_interval", "always")
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        sync = int(interval * 1_000_000_000)
    elif isinstance(interval, str) and interval != "always":
        sync = parse_duration_ns(interval)
    return JetStreamSettings(
        store_dir=store_dir,
        storage=storage_choice(broker.storage_backends.as_dict(), section),
        functions=broker.mapping_functions.as_dict(),
        server_name=broker.server_name,
        domain=section.get("domain", ""),
        sync=sync,
        max_memory=section.get("max_memory", -1),
        max_store=section.get("max_store", -1),
        accounts=broker.config.get("accounts") or None,
    )


def storage_choice(backends: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    """What a stream's ``storage`` names: ``memory``, and ``file`` = the durable backend.

    ``store_backend`` (default ``file``) picks the registered backend behind a
    client's ``storage: "file"``, e.g. ``rocksdb``.
    """
    wanted = section.get("store_backend") or "file"
    if wanted not in backends:
        known = ", ".join(sorted(backends))
        raise ConfigError(
            f"jetstream.store_backend: no storage backend {wanted!r} (known: {known})"
        )
    return {**backends, "file": backends[wanted]}


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
