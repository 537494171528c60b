"""Hooks of the JetStream plugin: the schema it owns and the engine's lifespan."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.jetstream.engine import JetStream, JetStreamSettings
from natskern.plugins.jetstream.schema import ACCOUNT_JETSTREAM, JETSTREAM

log = logging.getLogger("natskern")


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``jetstream`` section, and ``jetstream`` inside every account."""
    return {"jetstream": JETSTREAM, "accounts.*.jetstream": ACCOUNT_JETSTREAM}


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
        storage=broker.storage_backends.as_dict(),
        functions=broker.mapping_functions.as_dict(),
        server_name=broker.server_name,
        domain=section.get("domain", ""),
        sync=sync,
        max_memory=section.get("max_memory", -1),
        max_store=section.get("max_store", -1),
        accounts=broker.config.get("accounts") or None,
    )


@contextlib.asynccontextmanager
async def _running(broker: Any, config: JetStreamSettings) -> AsyncIterator[None]:
    async with JetStream(broker, config) as engine:
        broker.jetstream = engine
        broker.info_extra["jetstream"] = True
        log.info("Starting JetStream, store directory %s", config.store_dir)
        try:
            yield
        finally:
            broker.info_extra.pop("jetstream", None)
            broker.jetstream = None
