"""The cluster plugin: owns the ``cluster`` config section.

Clustering is not implemented yet: the section is accepted as nats-server configs
carry it (``name``, ``listen``, ``routes`` and whatever else the block holds) and a
start with a listen address or routes says it runs standalone.  The cluster's
``name`` is read by the mappings plugin (cluster-scoped weighted mappings).
Route listeners will be opened in ``lifespan``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.hookspecs import hookimpl

log = logging.getLogger("natskern")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Accepted for nats-server compatibility; clustering is not implemented yet.",
    "additionalProperties": True,
    "properties": {
        "name": {"type": "string", "default": ""},
        "listen": {"type": "string", "default": ""},
        "routes": {"type": "array", "items": {"type": "string"}, "default": []},
    },
}


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``cluster`` section."""
    return {"cluster": SCHEMA}


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """At start, say plainly that clustering was asked for but is not implemented yet."""
    section = broker.config.get("cluster", {})
    if not (section.get("listen") or section.get("routes")):
        return None
    return _standalone()


@contextlib.asynccontextmanager
async def _standalone() -> AsyncIterator[None]:
    log.warning("Clustering was requested but is not implemented yet: running standalone")
    yield
