"""The stream-store conformance suite: every behaviour of :class:`StreamStore`, for any backend.

Use it from a test module (pytest with pytest-asyncio, ``asyncio_mode = auto``)::

    from natskern.kernel.store.conformance import StoreConformance

    class TestMyBackend(StoreConformance):
        async def open_store(self, config, directory, *, sync="always"):
            return await my_factory(config, directory, sync=sync)

``open_store`` opens (or reopens: same ``directory``) a store; a backend that
keeps nothing across ``close`` sets ``restart_supported = False``, and one whose
``bytes`` does not count nats-server's file-store size overrides ``msg_size``
(the memory backend counts nats-server's memory-store size).  The fault
hooks (:meth:`~StoreConformance.corrupt`, :meth:`~StoreConformance.tear_tail`,
:meth:`~StoreConformance.fail_commits`) are optional: their tests are skipped
when a subclass does not provide them.  No test depends on timing except that
``max_age``/TTL expiry must happen within a few seconds without further writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from natskern.kernel.store._conformance_core import CoreTests
from natskern.kernel.store._conformance_more import LifecycleTests, LimitTests
from natskern.kernel.store.api import StoreConfig, StreamStore

__all__ = ["Opener", "StoreConformance", "eventually"]

#: ``await opener(**config_fields)`` opens the test's store (``sync=`` picks the mode).
Opener = Callable[..., Awaitable[StreamStore]]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


class StoreConformance(CoreTests, LimitTests, LifecycleTests):
    """The base class a backend's test class derives from (see the module docstring)."""

    #: Whether a closed store's contents are found again by the next ``open_store``.
    restart_supported = True

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        """Open the store of ``directory`` with ``config`` (the subclass provides it)."""
        raise NotImplementedError

    # -- optional fault hooks -----------------------------------------------------------------

    async def corrupt(self, store: StreamStore, directory: str, seq: int) -> None:
        """Flip a bit inside the stored record of ``seq`` (the store is open, committed)."""
        raise NotImplementedError

    async def tear_tail(self, directory: str) -> None:
        """Leave a partial record at the end of the (closed) store, as a crash mid-write does."""
        raise NotImplementedError

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        """Make the next ``count`` commits of the open ``store`` fail with StoreIOError."""
        raise NotImplementedError

    # -- fixtures -----------------------------------------------------------------------------

    @pytest.fixture
    def directory(self, tmp_path: Any) -> str:
        """The stream's directory."""
        return str(tmp_path / "stream")

    @pytest.fixture
    async def opener(self, directory: str) -> AsyncIterator[Opener]:
        """Opens the test's store with the given config fields; closes what is left open."""
        opened: list[StreamStore] = []

        async def open_(*, sync: str | int = "always", **fields: Any) -> StreamStore:
            fields.setdefault("name", "TEST")
            fields.setdefault("subjects", [">"])
            store = await self.open_store(StoreConfig(**fields), directory, sync=sync)
            opened.append(store)
            return store

        yield open_
        for store in opened:
            with contextlib.suppress(Exception):  # already closed or deleted
                await store.close()

    async def reopen(self, opener: Opener, store: StreamStore, **fields: Any) -> StreamStore:
        """Close ``store`` and open it again (skips the test without restart support)."""
        if not self.restart_supported:
            pytest.skip("backend keeps nothing across close")
        await store.close()
        return await opener(**fields)
