"""The essential plugin that owns the broker-wide config sections.

Sections: ``server`` (limits and timers of the client protocol), ``plugins``
(which default plugins to leave out) and ``logging``.  A reload may change every
``server`` key but ``name`` (new connections get the new limits) and the whole
``logging`` section (the application that set logging up sets it up again); the
plugin list needs a restart.
"""

from __future__ import annotations

import logging
from typing import Any

from natskern.kernel import const
from natskern.kernel.config import LIVE, RELOAD
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl

log = logging.getLogger("natskern")

_SECONDS = {"type": "number", "minimum": 0}
_LIVE = {RELOAD: LIVE}


def _live(properties: dict[str, Any], *, but: tuple[str, ...] = ()) -> dict[str, Any]:
    """``properties`` with each one marked reloadable, except those named in ``but``."""
    return {k: v if k in but else {**v, **_LIVE} for k, v in properties.items()}


SERVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Client-protocol limits and timers (nats-server's top-level options).",
    "additionalProperties": False,
    "properties": _live(
        {
            "name": {
                "type": "string",
                "default": "",
                "description": "server_name; default: the id",
            },
            "max_payload": {"type": "integer", "minimum": 1, "default": const.DEFAULT_MAX_PAYLOAD},
            "max_pending": {"type": "integer", "minimum": 1, "default": const.DEFAULT_MAX_PENDING},
            "max_control_line": {
                "type": "integer",
                "minimum": 32,
                "default": const.DEFAULT_MAX_CONTROL_LINE,
            },
            "max_connections": {
                "type": "integer",
                "minimum": 0,
                "default": const.DEFAULT_MAX_CONNECTIONS,
            },
            "max_subscriptions": {"type": "integer", "minimum": 0, "default": 0},
            "ping_interval": {**_SECONDS, "default": const.DEFAULT_PING_INTERVAL},
            "ping_max": {"type": "integer", "minimum": 0, "default": const.DEFAULT_PING_MAX},
            "write_deadline": {**_SECONDS, "default": const.DEFAULT_WRITE_DEADLINE},
            "lame_duck_duration": {**_SECONDS, "default": const.DEFAULT_LAME_DUCK_DURATION},
            "lame_duck_grace_period": {
                **_SECONDS,
                "default": const.DEFAULT_LAME_DUCK_GRACE_PERIOD,
            },
        },
        but=("name",),
    ),
}

PLUGINS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Which default plugins to leave out, by name.",
    "additionalProperties": False,
    "properties": {
        "block": {"type": "array", "items": {"type": "string"}, "default": []},
    },
}

LOGGING_SCHEMA: dict[str, Any] = {
    "type": "object",
    RELOAD: LIVE,
    "additionalProperties": False,
    "properties": {
        "debug": {"type": "boolean", "default": False},
        "trace": {"type": "boolean", "default": False},
        "logtime": {"type": "boolean", "default": True},
        "file": {"type": "string", "default": ""},
        "pid_file": {"type": "string", "default": ""},
        "syslog": {"type": "boolean", "default": False},
        "remote_syslog": {"type": "string", "default": ""},
        "max_traced_msg_len": {"type": "integer", "minimum": 0, "default": 0},
    },
}


@hookimpl
def config_schema() -> dict[str, dict[str, Any]]:
    """The broker-wide sections."""
    return {
        "server": SERVER_SCHEMA,
        "plugins": PLUGINS_SCHEMA,
        "logging": LOGGING_SCHEMA,
    }


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Check cross-field limits."""
    server = config["server"]
    if server["max_payload"] > server["max_pending"]:
        raise ConfigError(
            f"server.max_payload ({server['max_payload']}) cannot be higher than "
            f"server.max_pending ({server['max_pending']})"
        )
