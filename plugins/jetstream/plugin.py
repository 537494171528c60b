"""Hooks of the JetStream plugin: the schema it owns and the start-up notice."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.hookspecs import hookimpl
from natskern.plugins.jetstream.schema import ACCOUNT_JETSTREAM, JETSTREAM

log = logging.getLogger("natskern")


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``jetstream`` section, and ``jetstream`` inside every account."""
    return {"jetstream": JETSTREAM, "accounts.*.jetstream": ACCOUNT_JETSTREAM}


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """At start, say plainly that JetStream was asked for but is not implemented yet."""
    if not broker.config.get("jetstream", {}).get("enabled"):
        return None
    return _running()


@contextlib.asynccontextmanager
async def _running() -> AsyncIterator[None]:
    log.warning("JetStream was requested but is not implemented yet: it stays off")
    yield
