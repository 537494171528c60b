"""JSON Schema of an account's ``exports`` and ``imports`` (nats-server's syntax).

The accounts plugin adds both keys to every entry of the auth plugin's ``accounts``
section (``accounts.*.exports``, ``accounts.*.imports``).  They are wired into the
routing tries at start, so a reload cannot change them: only a restart does.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel.config import RELOAD, RESTART

EXPORT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "stream": {"type": "string"},
        "service": {"type": "string"},
        "accounts": {"type": "array", "items": {"type": "string"}},
        "response_type": {
            "enum": ["single", "stream", "chunked", "Singleton", "Stream", "Chunked"]
        },
        "response_threshold": {"type": "number"},
    },
    "oneOf": [{"required": ["stream"]}, {"required": ["service"]}],
}

_IMPORT_SOURCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["account", "subject"],
    "properties": {"account": {"type": "string"}, "subject": {"type": "string"}},
}

IMPORT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "stream": _IMPORT_SOURCE,
        "service": _IMPORT_SOURCE,
        "prefix": {"type": "string"},
        "to": {"type": "string"},
        "share": {"type": "boolean"},
    },
    "oneOf": [{"required": ["stream"]}, {"required": ["service"]}],
}

#: What the plugin contributes, by path into the ``accounts`` section.
SCHEMA: dict[str, dict[str, Any]] = {
    "accounts.*.exports": {"type": "array", "items": EXPORT, "default": [], RELOAD: RESTART},
    "accounts.*.imports": {"type": "array", "items": IMPORT, "default": [], RELOAD: RESTART},
}
