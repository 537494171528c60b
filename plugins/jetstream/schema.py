"""JSON Schema of the ``jetstream`` section and of an account's ``jetstream`` key."""

from __future__ import annotations

from typing import Any

#: Bytes, or -1 for "no limit" (nats-server's sizes, already converted by natsconf).
_BYTES = {"type": "integer", "minimum": -1}
#: A count, or -1 for "no limit".
_COUNT = {"type": "integer", "minimum": -1}

JETSTREAM: dict[str, Any] = {
    "type": "object",
    "description": "JetStream: streams, consumers, KV and object stores (nats-server's keys).",
    "additionalProperties": True,
    "properties": {
        "enabled": {"type": "boolean", "default": False},
        "store_dir": {"type": "string", "default": ""},
        "store_backend": {
            "type": "string",
            "default": "file",
            "description": (
                "The durable backend a stream's storage 'file' uses: file or rocksdb "
                "(an account's jetstream.store_backend, or a stream's metadata key "
                "natskern.store_backend, overrides it)."
            ),
        },
        "max_memory": {"type": "integer", "default": -1},
        "max_store": {"type": "integer", "default": -1},
        "domain": {"type": "string", "default": ""},
        "sync_interval": {
            "description": (
                "always (acknowledge after fsync, the default) or a duration such as '1s' "
                "(seconds when a number): the opt-in LAZY mode, fsync on that timer"
            ),
            "type": ["string", "number"],
        },
        "limits": {
            "type": "object",
            "description": "nats-server's server-wide JetStream limits that natskern applies.",
            "additionalProperties": True,
            "properties": {
                "default_max_consumers": {
                    "type": "integer",
                    "minimum": -1,
                    "description": (
                        "consumers a stream without its own max_consumers may have "
                        "(0: nats-server's 1000, -1: no cap)"
                    ),
                },
            },
        },
    },
}

#: An account's JetStream limits, with the key names natsconf translates nats-server's
#: aliases to (``max_mem``/``mem``/``memory`` -> ``max_memory``, ``max_file``/``max_disk``/
#: ``store``/``disk`` -> ``max_store``, ``streams`` -> ``max_streams`` ...).
ACCOUNT_LIMITS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_memory": _BYTES,
        "max_store": _BYTES,
        "max_streams": _COUNT,
        "max_consumers": _COUNT,
        "max_ack_pending": _COUNT,
        "max_bytes_required": {"type": "boolean"},
        "mem_max_stream_bytes": _BYTES,
        "disk_max_stream_bytes": _BYTES,
        "store_backend": {
            "type": "string",
            "description": (
                "The durable backend of the account's file streams (file or rocksdb); "
                "default: the server's jetstream.store_backend."
            ),
        },
    },
}

ACCOUNT_JETSTREAM: dict[str, Any] = {
    "description": "The account's JetStream: enabled, disabled, or enabled with limits.",
    "oneOf": [
        {"enum": ["enabled", "disabled"]},
        {"type": "boolean"},
        ACCOUNT_LIMITS,
    ],
}
