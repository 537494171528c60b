"""The essential plugin that owns the broker-wide config sections.

Sections: ``server`` (limits and timers of the client protocol), ``plugins``
(which default plugins to leave out), ``logging``, and the sections nats-server
configs carry that natskern accepts before it implements them (``cluster``).
"""

from __future__ import annotations

import logging
from typing import Any

from natskern.kernel import const
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl

log = logging.getLogger("natskern")

_SECONDS = {"type": "number", "minimum": 0}

SERVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Client-protocol limits and timers (nats-server's top-level options).",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "default": "", "description": "server_name; default: the id"},
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
    "additionalProperties": False,
    "properties": {
        "debug": {"type": "boolean", "default": False},
        "trace": {"type": "boolean", "default": False},
        "logtime": {"type": "boolean", "default": True},
        "file": {"type": "string", "default": ""},
        "pid_file": {"type": "string", "default": ""},
        "syslog": {"type": "boolean", "default": False},
    },
}

CLUSTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Accepted for nats-server compatibility; clustering is not implemented yet.",
    "additionalProperties": True,
    "properties": {
        "name": {"type": "string", "default": ""},
        "listen": {"type": "string", "default": ""},
        "routes": {"type": "array", "items": {"type": "string"}, "default": []},
    },
}


JETSTREAM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Accepted for nats-server compatibility; JetStream is not implemented yet.",
    "additionalProperties": True,
    "properties": {
        "enabled": {"type": "boolean", "default": False},
        "store_dir": {"type": "string", "default": ""},
        "max_memory": {"type": "integer", "default": -1},
        "max_store": {"type": "integer", "default": -1},
        "domain": {"type": "string", "default": ""},
    },
}


@hookimpl
def config_schema() -> dict[str, dict[str, Any]]:
    """The broker-wide sections."""
    return {
        "server": SERVER_SCHEMA,
        "plugins": PLUGINS_SCHEMA,
        "logging": LOGGING_SCHEMA,
        "cluster": CLUSTER_SCHEMA,
        "jetstream": JETSTREAM_SCHEMA,
    }


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Check cross-field limits; say plainly what natskern does not do yet."""
    server = config["server"]
    if server["max_payload"] > server["max_pending"]:
        raise ConfigError(
            f"server.max_payload ({server['max_payload']}) cannot be higher than "
            f"server.max_pending ({server['max_pending']})"
        )
    if config["jetstream"]["enabled"]:
        log.warning("JetStream was requested but is not implemented yet: it stays off")
    if config["cluster"].get("listen") or config["cluster"].get("routes"):
        log.warning("Clustering was requested but is not implemented yet: running standalone")
