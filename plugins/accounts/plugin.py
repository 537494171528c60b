"""The ``accounts`` plugin: hooks that wire exports and imports into the broker's accounts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.core.imports import Imports
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.state import StateKey
from natskern.plugins.accounts.schema import SCHEMA
from natskern.plugins.accounts.wiring import plan_imports, wire

#: ``broker.plugin_state`` key of the broker's :class:`natskern.kernel.core.imports.Imports`.
STATE_KEY = "accounts"
_IMPORTS: StateKey[Imports] = StateKey(STATE_KEY)


def imports_of(broker: Any) -> Imports | None:
    """The cross-account wiring of ``broker`` (None when no account imports anything)."""
    return _IMPORTS.get(broker)


@hookimpl
def config_schema() -> dict[str, Any]:
    """``exports`` and ``imports`` inside every account of the ``accounts`` section."""
    return SCHEMA


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Check exports and imports and create their internal subscriptions."""
    accounts = config.get("accounts") or {}
    if not any(section.get("exports") or section.get("imports") for section in accounts.values()):
        return
    plan = plan_imports(accounts, broker.mapping_functions.as_dict())
    imports = Imports()
    wire(broker, imports, plan)
    _IMPORTS.set(broker, imports)


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """Stop the response-route sweep timers when the broker stops."""
    imports = imports_of(broker)
    if imports is None:
        return None
    return _running(imports)


@contextlib.asynccontextmanager
async def _running(imports: Imports) -> AsyncIterator[None]:
    try:
        yield
    finally:
        imports.close()
