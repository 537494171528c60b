"""Hooks of the object-store plugin; the entry point of :meth:`natskern.Broker.object_store`."""

from __future__ import annotations

from typing import Any

from natskern.kernel.hookspecs import hookimpl
from natskern.plugins.kv.plugin import internal_client, register_lazy

__all__ = ["bucket"]


async def bucket(broker: Any, name: str, *, create: bool = False, **config: Any) -> Any:
    """Bind to object store ``name``; with ``create``, create it first."""
    from natskern.plugins.objectstore.api import create_store, open_store

    if getattr(broker, "jetstream", None) is None:
        raise RuntimeError("JetStream is not enabled on this broker")
    client = internal_client(broker)
    if create:
        return await create_store(client, name, **config)
    return await open_store(client, name)


@hookimpl
def register_commands(cli: Any) -> None:
    """``natskern object ...`` (alias ``obj``), imported lazily when the group supports it."""
    register_lazy(cli, "object", "natskern.plugins.objectstore.cli:obj", ("obj",))
