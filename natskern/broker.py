"""The broker an application embeds: the kernel's broker with the built-in plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from natskern.defaults import DEFAULT_PLUGINS
from natskern.kernel.server import Broker as KernelBroker

if TYPE_CHECKING:  # pragma: no cover
    from natskern.plugins.kv.api import KeyValue
    from natskern.plugins.objectstore.api import ObjectStore

__all__ = ["Broker"]


class Broker(KernelBroker):
    """A NATS broker with natskern's built-in plugins (transports, auth, mappers, monitoring).

    Everything else is the kernel's :class:`natskern.kernel.server.Broker`:
    ``Broker(config, plugins=[...])``, then ``async with broker:`` in a running
    event loop.  Built-ins can be left out by name (``{"plugins": {"block":
    ["unix"]}}``).
    """

    default_plugins = DEFAULT_PLUGINS

    def _store_plugin(self, name: str) -> Any:
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            raise RuntimeError(f"the {name!r} plugin is not loaded")
        return plugin

    async def kv(self, bucket: str, *, create: bool = False, **config: Any) -> KeyValue:
        """The KV bucket ``bucket`` through the ``kv`` plugin, in process (no socket).

        With ``create=True`` the bucket is created first (``history``, ``ttl`` in
        seconds, ``max_value_size``, ``max_bytes``, ``storage``); creating an identical
        bucket again binds to it.  Needs ``jetstream.enabled``.
        """
        result: KeyValue = await self._store_plugin("kv").bucket(
            self, bucket, create=create, **config
        )
        return result

    async def object_store(
        self, bucket: str, *, create: bool = False, **config: Any
    ) -> ObjectStore:
        """The object store ``bucket`` through the ``objectstore`` plugin, in process.

        With ``create=True`` it is created first (``ttl`` in seconds, ``max_bytes``,
        ``storage``, ``description``).  Needs ``jetstream.enabled``.
        """
        result: ObjectStore = await self._store_plugin("objectstore").bucket(
            self, bucket, create=create, **config
        )
        return result
