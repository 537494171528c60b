"""Stream storage: the :class:`StreamStore` protocol, the shared base over a small record log,
and the conformance suite every backend runs (``natskern.kernel.store.conformance``)."""

from natskern.kernel.store.api import (
    ConsumerState,
    ConsumerStore,
    CorruptRecordError,
    SimpleState,
    StoreConfig,
    StoredMsg,
    StoreError,
    StoreIOError,
    StreamState,
    StreamStore,
)
from natskern.kernel.store.log import AuxLog, RecordLog, RecordMeta, Recovery

__all__ = [
    "AuxLog",
    "ConsumerState",
    "ConsumerStore",
    "CorruptRecordError",
    "RecordLog",
    "RecordMeta",
    "Recovery",
    "SimpleState",
    "StoreConfig",
    "StoreError",
    "StoreIOError",
    "StoredMsg",
    "StreamState",
    "StreamStore",
]
