"""The KV plugin: key-value buckets as conventions over JetStream streams (``KV_<bucket>``).

Remote clients use their own KV APIs (nats-py's ``js.key_value``); the embedding
application uses :meth:`natskern.Broker.kv`, which goes through this plugin's in-process
API (:mod:`natskern.plugins.kv.api`); ``natskern kv ...`` commands come from
:mod:`natskern.plugins.kv.cli`.
"""

from natskern.plugins.kv.api import (
    BucketNotFoundError,
    Entry,
    KeyNotFoundError,
    KeyValue,
    KeyWatcher,
    KeyWrongLastSequenceError,
)

__all__ = [
    "BucketNotFoundError",
    "Entry",
    "KeyNotFoundError",
    "KeyValue",
    "KeyWatcher",
    "KeyWrongLastSequenceError",
]
