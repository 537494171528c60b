"""A stream's lock, which also tells whether anyone is waiting for it."""

from __future__ import annotations

import asyncio
from typing import Literal

__all__ = ["StreamLock"]


class StreamLock(asyncio.Lock):
    """The lock a stream's ingest task and API changes (purge, delete) hold.

    :meth:`busy` is what the read path asks before it stages publishes itself:
    the lock is held, or a coroutine is waiting to take it.  ``locked()`` alone is
    False from the moment the lock is released to the moment the waiter it woke
    runs, and staging in between would overtake that waiter.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Coroutines inside :meth:`acquire` (waiting, or just woken and not yet holding it).
        self.wanted = 0

    async def acquire(self) -> Literal[True]:
        """Take the lock (see :class:`asyncio.Lock`), counted in :attr:`wanted` meanwhile."""
        self.wanted += 1
        try:
            return await super().acquire()
        finally:
            self.wanted -= 1

    def busy(self) -> bool:
        """Whether the lock is held or somebody waits for it."""
        return self.wanted > 0 or self.locked()
