"""The broker an application embeds: the kernel's broker with the built-in plugins."""

from __future__ import annotations

from natskern.defaults import DEFAULT_PLUGINS
from natskern.kernel.server import Broker as KernelBroker

__all__ = ["Broker"]


class Broker(KernelBroker):
    """A NATS broker with natskern's built-in plugins (transports, auth, mappers, monitoring).

    Everything else is the kernel's :class:`natskern.kernel.server.Broker`:
    ``Broker(config, plugins=[...])``, then ``async with broker:`` in a running
    event loop.  Built-ins can be left out by name (``{"plugins": {"block":
    ["unix"]}}``).
    """

    default_plugins = DEFAULT_PLUGINS
