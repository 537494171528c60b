"""JSON Schema of the ``[auth]`` and ``[accounts]`` sections (nats-server's blocks).

Other plugins add keys to every account, and are not listed here: ``exports`` and
``imports`` (the accounts plugin), ``mappings`` (the mappings plugin), ``jetstream``
(the JetStream plugin).  A reload may change users, passwords and permissions; the
system account needs a restart.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel.config import LIVE, RELOAD, RESTART

_RESTART = {RELOAD: RESTART}

_SUBJECTS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

DIRECTION: dict[str, Any] = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"allow": _SUBJECTS, "deny": _SUBJECTS},
        },
    ]
}

PERMISSIONS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "publish": DIRECTION,
        "subscribe": DIRECTION,
        "allow_responses": {
            "oneOf": [
                {"type": "boolean"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "max": {"type": "integer", "minimum": 0},
                        "expires": {"type": "number", "minimum": 0},
                    },
                },
            ]
        },
    },
}

USER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "user": {"type": "string"},
        "password": {"type": "string"},
        "nkey": {"type": "string", "pattern": "^U[A-Z2-7]{55}$"},
        "permissions": PERMISSIONS,
        "allowed_connection_types": {"type": "array", "items": {"type": "string"}},
    },
    "anyOf": [{"required": ["user"]}, {"required": ["nkey"]}],
}

AUTH: dict[str, Any] = {
    "type": "object",
    "description": "Who may connect (nats-server's authorization block).",
    RELOAD: LIVE,
    "additionalProperties": False,
    "properties": {
        "token": {"type": "string", "default": ""},
        "user": {"type": "string", "default": ""},
        "password": {"type": "string", "default": ""},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 2.0},
        "users": {"type": "array", "items": USER, "default": []},
        "default_permissions": PERMISSIONS,
        "no_auth_user": {"type": "string", "default": ""},
        "system_account": {"type": "string", "default": "$SYS", **_RESTART},
    },
}

ACCOUNT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "users": {"type": "array", "items": USER, "default": []},
        "default_permissions": PERMISSIONS,
        "limits": {"type": "object"},
    },
}

ACCOUNTS: dict[str, Any] = {
    "type": "object",
    "description": "Isolated subject spaces and their users (nats-server's accounts block).",
    RELOAD: LIVE,
    "additionalProperties": ACCOUNT,
    "propertyNames": {"not": {"const": "$G"}},
}
