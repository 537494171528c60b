"""natskern: a plugin-based, embeddable NATS broker kernel.

The public façade: :class:`Broker` (embed it with ``async with``), the
``hookimpl`` marker for plugins, and the error types.

``Broker`` and ``hookimpl`` are imported on first use: importing any
``kernel.*`` module imports this package first, and commands that never build a
broker (``natskern-server -v``, ``-h``, ``--signal``) should not pay for
asyncio, pluggy and jsonschema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from natskern.kernel.errors import (
    ConfigError,
    NatskernError,
    NoRespondersError,
    PluginError,
    RequestTimeoutError,
)

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.hookspecs import hookimpl
    from natskern.kernel.server import Broker

__version__ = "0.1.0"

__all__ = [
    "Broker",
    "ConfigError",
    "NatskernError",
    "NoRespondersError",
    "PluginError",
    "RequestTimeoutError",
    "__version__",
    "hookimpl",
]

_LAZY = {
    "Broker": ("natskern.kernel.server", "Broker"),
    "hookimpl": ("natskern.kernel.hookspecs", "hookimpl"),
}


def __getattr__(name: str) -> Any:
    """Import ``Broker`` / ``hookimpl`` when first asked for."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'natskern.kernel' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Module attributes, the lazy ones included."""
    return sorted(set(globals()) | set(_LAZY))
