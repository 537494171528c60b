"""Hooks of the KV plugin and the entry point behind :meth:`natskern.Broker.kv`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.core.inprocess import InProcessClient
from natskern.kernel.hookspecs import hookimpl
from natskern.plugins.kv.api import KeyValue, create_bucket, open_bucket, update_bucket

__all__ = ["bucket", "internal_client"]


def internal_client(broker: Any) -> InProcessClient:
    """The broker's in-process client shared by the KV and object-store APIs."""
    client: InProcessClient | None = getattr(broker, "_store_client", None)
    if client is None or client.closed:
        client = broker.connect(name="natskern-stores")
        broker._store_client = client
    return client


async def bucket(
    broker: Any, name: str, *, create: bool = False, update: bool = False, **config: Any
) -> KeyValue:
    """Bind to bucket ``name``; with ``create``, create it first (``history``, ``ttl``,
    ``mirror``, ``sources``, ``republish``, ...); with ``update``, change its config."""
    if getattr(broker, "jetstream", None) is None:
        raise RuntimeError("JetStream is not enabled on this broker")
    client = internal_client(broker)
    if update:
        return await update_bucket(client, name, **config)
    if create:
        return await create_bucket(client, name, **config)
    return await open_bucket(client, name)


@hookimpl
def lifespan(broker: Any) -> contextlib.AbstractAsyncContextManager[None] | None:
    """Close the in-process client of the stores when the broker stops."""
    return _closing(broker)


@contextlib.asynccontextmanager
async def _closing(broker: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        client = getattr(broker, "_store_client", None)
        if client is not None:
            await client.close()
            broker._store_client = None


@hookimpl
def register_commands(cli: Any) -> None:
    """``natskern kv ...`` (imported lazily when the root group supports it)."""
    register_lazy(cli, "kv", "natskern.plugins.kv.cli:kv")


def register_lazy(cli: Any, name: str, target: str, aliases: tuple[str, ...] = ()) -> None:
    """Add command ``name`` (``module:attribute``), lazily if ``cli`` can import lazily."""
    lazy = getattr(cli, "lazy", None)
    if isinstance(lazy, dict):
        lazy[name] = target
    else:
        import importlib

        module, _, attr = target.partition(":")
        cli.add_command(getattr(importlib.import_module(module), attr), name)
    table = getattr(cli, "aliases", None)
    if isinstance(table, dict):
        for alias in aliases:
            table.setdefault(alias, name)
