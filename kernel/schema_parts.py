"""JSON Schema pieces that several plugins' ``config_schema()`` fragments share.

Built-in and third-party plugins alike use these so that the same kind of setting
is spelt and validated the same way in every section (``natskern config schema``
shows the result).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["listener_properties", "listener_schema", "port_property"]


def port_property(default: int) -> dict[str, Any]:
    """A TCP port setting: 0..65535, with 0 or -1 meaning "pick a free port" (nats-server's -1)."""
    return {
        "type": "integer",
        "minimum": -1,
        "maximum": 65535,
        "default": default,
        "description": "0 or -1: pick a free port",
    }


def listener_properties(
    *, port: int, enabled: bool, host: str = "127.0.0.1"
) -> dict[str, dict[str, Any]]:
    """The ``enabled``, ``host`` and ``port`` properties of a section that listens on TCP."""
    return {
        "enabled": {"type": "boolean", "default": enabled},
        "host": {"type": "string", "default": host},
        "port": port_property(port),
    }


def listener_schema(
    description: str,
    *,
    port: int,
    enabled: bool,
    host: str = "127.0.0.1",
    properties: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A closed object schema: ``enabled``/``host``/``port`` (see above), then ``properties``.

    ``description`` documents the section; no other keys than these are allowed.
    """
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": {
            **listener_properties(port=port, enabled=enabled, host=host),
            **(properties or {}),
        },
    }
