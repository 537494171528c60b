"""The records of the stream's publish path for writes that wait on the store.

:class:`_Write` is a hand-driven store coroutine (what it yields is awaited as a task
would), :class:`_Staged` a message staged with ``stage_msg`` waiting for its group commit,
:class:`_Dup` a ``Nats-Msg-Id`` duplicate of a write still waiting; :func:`_settled` waits
until a hand-driven coroutine may go on.  Used by :class:`~natskern.kernel.jetstream.stream.Stream`
only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from natskern.kernel.store.commit import is_commit_wait

__all__ = ["_Dup", "_Staged", "_Write", "_settled"]


class _Write:
    """A write handed to the store that has to wait: its coroutine and what it awaits.

    ``staged`` once the store has taken the message (its sequence is assigned) and
    only the commit is awaited; ``done`` with ``value`` (the answer) at the end.
    """

    __slots__ = ("awaited", "coro", "done", "staged", "value")

    def __init__(self, coro: Coroutine[Any, Any, bytes | None], awaited: Any) -> None:
        self.coro = coro
        self.done = False
        self.value: bytes | None = None
        self.set_awaited(awaited)

    def set_awaited(self, awaited: Any) -> None:
        """The coroutine yielded ``awaited``: taken as a task takes a future."""
        if getattr(awaited, "_asyncio_future_blocking", None) is not None:
            # Unmarked as a task does when it takes one, so that other writers of the
            # same commit may await it too.
            awaited._asyncio_future_blocking = False
        self.awaited = awaited
        self.staged = is_commit_wait(awaited)

    def finished(self, value: bytes | None) -> None:
        """The coroutine returned ``value``."""
        self.value = value
        self.done = self.staged = True
        self.awaited = None


class _Staged:
    """A message staged in the store (``stage_msg``) waiting for its group commit."""

    __slots__ = ("commit", "done", "hdr", "msg_id", "seq", "subject", "ts", "ttl", "value")

    def __init__(
        self,
        commit: asyncio.Future[None],
        subject: str,
        hdr: bytes | None,
        ttl: int,
        msg_id: str,
        seq: int,
        ts: int,
    ) -> None:
        self.commit = commit
        self.subject = subject
        self.hdr = hdr
        self.ttl = ttl
        self.msg_id = msg_id
        self.seq = seq
        self.ts = ts
        self.done = False
        self.value: bytes | None = None


class _Dup:
    """A duplicate (``Nats-Msg-Id``) of a message whose write was still waiting."""

    __slots__ = ("first", "msg_id")

    def __init__(self, first: _Write | _Staged, msg_id: str) -> None:
        self.first = first
        self.msg_id = msg_id


async def _settled(awaited: Any) -> None:
    """Wait until what a hand-driven coroutine yielded lets it go on.

    ``None`` is a bare yield (``asyncio.sleep(0)``): one loop round.  A future is
    waited for without taking its result: the coroutine takes it when resumed.
    """
    if awaited is None:
        await asyncio.sleep(0)
    elif not awaited.done():
        await asyncio.wait((awaited,))
