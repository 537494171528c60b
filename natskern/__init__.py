"""natskern: a plugin-based, embeddable NATS broker.

The public façade: :class:`Broker` (embed it with ``async with``), the in-process
client, the ``hookimpl`` marker for plugins, the auth types and the error types::

    from natskern import Broker

    async with Broker({"tcp": {"port": 4222}}) as broker:
        app = broker.connect(name="app")

Names are imported on first use, so commands that never build a broker
(``natskern-server -v``, ``--help``) do not pay for asyncio, pluggy and
jsonschema.  The kernel itself is ``natskern.kernel``; the built-in plugins are
``natskern.plugins``.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

from natskern._source import extend_source_path

__path__ = extend_source_path(__path__, os.path.dirname(__file__))

if TYPE_CHECKING:  # pragma: no cover
    from natskern.broker import Broker
    from natskern.kernel.core.accounts import Identity
    from natskern.kernel.core.inprocess import InProcessClient, Msg
    from natskern.kernel.core.permissions import Permissions
    from natskern.kernel.errors import (
        ConfigError,
        NatskernError,
        NoRespondersError,
        PluginError,
        RequestTimeoutError,
    )
    from natskern.kernel.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "Broker": "natskern.broker",
    "hookimpl": "natskern.kernel.hookspecs",
    "Identity": "natskern.kernel.core.accounts",
    "Permissions": "natskern.kernel.core.permissions",
    "InProcessClient": "natskern.kernel.core.inprocess",
    "Msg": "natskern.kernel.core.inprocess",
    "ConfigError": "natskern.kernel.errors",
    "NatskernError": "natskern.kernel.errors",
    "NoRespondersError": "natskern.kernel.errors",
    "PluginError": "natskern.kernel.errors",
    "RequestTimeoutError": "natskern.kernel.errors",
}

__all__ = [
    "Broker",
    "ConfigError",
    "Identity",
    "InProcessClient",
    "Msg",
    "NatskernError",
    "NoRespondersError",
    "Permissions",
    "PluginError",
    "RequestTimeoutError",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    """Import a public name when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'natskern' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes, the lazy ones included."""
    return sorted(set(globals()) | set(_LAZY))
