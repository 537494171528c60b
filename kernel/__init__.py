"""natskern: a plugin-based, embeddable NATS broker kernel.

The public façade: :class:`Broker` (embed it with ``async with``), the
``hookimpl`` marker for plugins, and the error types.
"""

from kernel.errors import (
    ConfigError,
    NatskernError,
    NoRespondersError,
    PluginError,
    RequestTimeoutError,
)
from kernel.hookspecs import hookimpl
from kernel.server import Broker

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
