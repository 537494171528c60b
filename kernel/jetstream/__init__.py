"""The JetStream engine: streams, their configuration, the ``$JS.API`` and the publish path.

:data:`API_LEVEL` is the JetStream API level natskern advertises (``$JS.API.INFO``'s
``api.level``, the ``_nats.level`` stream metadata): the level whose features natskern
really implements, never higher, because clients switch features on by it.  Level 1 is
nats-server 2.11's feature set (per-message TTL and subject delete markers, batch direct
get, ``Nats-Expected-Last-Subject-Sequence-Subject``).  Features of higher levels
(counters, atomic and fast batches, schedules, async persistence) are refused in stream
configurations instead of being silently ignored.  The server version the metadata
carries (``_nats.ver``) is the one INFO advertises,
:data:`natskern.kernel.const.ADVERTISED_VERSION`.
"""

from __future__ import annotations

from typing import Final

from natskern.kernel.const import ADVERTISED_VERSION

__all__ = ["ADVERTISED_VERSION", "API_LEVEL"]

API_LEVEL: Final = 1
"""The JetStream API level natskern implements and advertises."""
