"""Group commit: one :meth:`RecordLog.commit` covers every write staged while the previous ran.

A :class:`Group` collects what the store staged into the log since the last
commit started, with what is needed to take it back out of the index if the
commit fails.  :class:`GroupCommitter` runs the commits:

* **durable** (``sync="always"`` over a durable log): the first write of a group
  schedules a commit task for the next loop iteration; every write staged until
  that commit *starts* joins it, every write staged while it runs joins the next
  one.  Each writer awaits its group's future: it returns once the commit that
  covers it is done, or raises the commit's :class:`StoreIOError`.
* **lazy** (``sync=<ns>``): writers return after staging; a timer commits every
  interval.
* **immediate** (a log with ``durable=False``, the memory backend): writers
  return after staging; the commit runs on the next loop iteration.

Overlap: a log with ``write_ahead_min`` (the file log) has a group that reaches
that many bytes while a commit is in flight committed at once, as well (at most
:data:`MAX_INFLIGHT` commits in flight); the log keeps them in order.  A failed
commit rolls back only its own group's appends (:meth:`GroupCommitter.first_add_after`).

Back-pressure: when the group no commit has taken yet holds more than
``max_staged`` bytes, writers wait (:meth:`GroupCommitter.room`) until a commit
takes it (at once, or once the commit in flight is done).  A commit in flight
does not hold writers back: a lazy store stages its next group while the last
one is written and synced (memory: at most about twice ``max_staged``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from natskern.kernel.store.api import StoreIOError
from natskern.kernel.store.log import RecordLog

__all__ = ["Group", "GroupCommitter", "call_when_committed", "is_commit_wait"]

logger = logging.getLogger("natskern.store")

#: The most commits in flight at once (a log with ``write_ahead_min`` overlaps them).
MAX_INFLIGHT = 8


class Group:
    """What one commit covers: staged bytes, undo records, removals to report."""

    __slots__ = ("add_lo", "dirty", "future", "min_rm", "nbytes", "removed", "undo")

    def __init__(self) -> None:
        self.future: _SharedFuture | None = None
        #: The first sequence appended in this group (0: none); every later one was too.
        self.add_lo = 0
        #: ``(seq, sid)`` of single removals, ``(start, sids, live)`` of range removals.
        self.undo: list[tuple[Any, ...]] = []
        #: ``(seq, subject)`` to report to the removal callback once committed.
        self.removed: list[tuple[int, str]] = []
        self.nbytes = 0
        self.dirty = False
        #: The lowest sequence this group removed (columns below it may not be trimmed).
        self.min_rm = 1 << 64

    def waiter(self) -> asyncio.Future[None]:
        """The future this group's writers await (created on first use)."""
        fut = self.future
        if fut is None:
            fut = self.future = _SharedFuture(loop=asyncio.get_running_loop())
            fut.add_done_callback(_consume)
        return fut


class _SharedFuture(asyncio.Future[None]):
    """A group's future, awaited by all its writers: one writer's cancellation leaves it be.

    ``Task.cancel`` asks the awaited future to cancel; this one declines, so the
    cancelled writer gets its CancelledError when the commit is done and the
    others still get their result (what ``asyncio.shield`` would do, without a
    second future and two more callbacks per writer).

    ``now`` holds callbacks the committer runs as soon as it has set the result
    (see :func:`call_when_committed`), not a loop iteration later.
    """

    now: list[Callable[[asyncio.Future[None]], None]] | None = None

    def cancel(self, msg: object = None) -> bool:
        """Decline (see the class docstring)."""
        return False


def call_when_committed(
    awaited: asyncio.Future[Any], fn: Callable[[asyncio.Future[Any]], None]
) -> None:
    """Call ``fn(awaited)`` once ``awaited`` is done.

    For a group's future, right where the committer finishes it (in the same step:
    the publishes it covered are answered without waiting for the loop's next
    iteration); for any other future, as its done callback.
    """
    if type(awaited) is _SharedFuture and not awaited.done():
        now = awaited.now
        if now is None:
            awaited.now = [fn]
        else:
            now.append(fn)
    else:
        awaited.add_done_callback(fn)


def _run_now(fut: _SharedFuture | None) -> None:
    """Run a finished group future's ``now`` callbacks (an error is logged, not raised)."""
    if fut is None or not fut.now:
        return
    now, fut.now = fut.now, None
    for fn in now:
        try:
            fn(fut)
        except Exception:
            logger.exception("a callback of a finished commit failed")


def is_commit_wait(awaited: object) -> bool:
    """Whether a coroutine that yielded ``awaited`` is a writer waiting for its commit.

    Such a writer's message is staged (its sequence is taken); it only waits for the
    fsync.  The JetStream publish path drives such writers in batches and checks the
    next message meanwhile.  Back-pressure (:meth:`GroupCommitter.room`) never yields
    a group's future itself, so a writer held back before staging is told apart.
    """
    return type(awaited) is _SharedFuture


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


class GroupCommitter:
    """Runs the commits of one store's log, one per group."""

    def __init__(
        self,
        log: RecordLog,
        *,
        lazy_interval: float | None,
        max_staged: int,
        on_success: Callable[[Group], None],
        on_failure: Callable[[Group, StoreIOError], None],
    ) -> None:
        self._log = log
        #: Whether writers await the commit that covers them.
        self.awaits = log.durable and lazy_interval is None
        self._interval = lazy_interval
        self.max_staged = max_staged
        self.staged = 0
        self.group = Group()
        #: Groups taken by a commit not yet done, oldest first.
        self._inflight: list[Group] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._on_success = on_success
        self._on_failure = on_failure
        self.commits = 0
        #: Staged bytes from which a group is committed while another commit is in flight
        #: (the log's optional ``write_ahead_min``; 0: one commit at a time).
        ahead = int(getattr(log, "write_ahead_min", 0) or 0)
        self._ahead_min = ahead if self.awaits else 0
        self._ahead_due = False

    def mark(self, nbytes: int = 0) -> Group:
        """Note that something was staged into the current group; schedule its commit."""
        g = self.group
        g.dirty = True
        g.nbytes += nbytes
        self.staged += nbytes
        if self._task is None:
            if self._interval is None:
                self._start()
            elif self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self._interval, self._start)
        elif (
            self._ahead_min
            and g.nbytes >= self._ahead_min
            and self._inflight
            and not self._ahead_due
            and len(self._inflight) < MAX_INFLIGHT
        ):
            self._ahead_due = True  # (taken on the next step: the writer may stage more first)
            asyncio.get_running_loop().create_task(self._ahead())
        return g

    def _start(self) -> None:
        self._timer = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _ahead(self) -> None:
        """Commit the staged group now, while an earlier commit is still in flight."""
        self._ahead_due = False
        g = self.group
        if g.dirty and g.nbytes >= self._ahead_min and self._inflight:
            self.group = Group()
            await self._commit_one(g)

    async def _run(self) -> None:
        ran = False
        try:
            while self.group.dirty and not (ran and self._interval is not None):
                ran = True
                g = self.group
                self.group = Group()
                await self._commit_one(g)
        finally:
            self._task = None
            if self.group.dirty:
                if self._interval is None:
                    self._start()
                elif self._timer is None:
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(self._interval, self._start)

    async def _commit_one(self, g: Group) -> None:
        """Commit group ``g`` (just taken from staging) and finish it either way."""
        self._inflight.append(g)
        try:
            await self._log.commit()
        except asyncio.CancelledError:
            self._failed(g, StoreIOError("commit cancelled"))
            raise
        except Exception as exc:
            self._failed(g, exc if isinstance(exc, StoreIOError) else StoreIOError(str(exc)))
        else:
            self.commits += 1
            try:
                self._on_success(g)
            except Exception:
                logger.exception("after-commit bookkeeping failed")
            if g.future is not None and not g.future.done():
                g.future.set_result(None)
        finally:
            self._inflight.remove(g)
            self.staged -= g.nbytes
            _run_now(g.future)  # (after the bookkeeping: they may stage more)

    def _failed(self, g: Group, err: StoreIOError) -> None:
        if not self.awaits:
            logger.error("commit failed, %d staged bytes lost: %s", g.nbytes, err)
        try:
            self._on_failure(g, err)
        except Exception:
            logger.exception("rollback after a failed commit failed")
        if g.future is not None and not g.future.done():
            g.future.set_exception(err)

    def first_add_after(self, g: Group) -> int:
        """The first sequence appended by a group taken or staged after ``g`` (0: none).

        ``g``'s own appends are the sequences from ``g.add_lo`` up to just below it.
        """
        inflight = self._inflight
        later = inflight[inflight.index(g) + 1 :] if g in inflight else []
        for h in [*later, self.group]:
            if h is not g and h.add_lo:
                return h.add_lo
        return 0

    async def wait(self, g: Group) -> None:
        """Wait until group ``g`` is committed (raises its commit's error)."""
        if g is self.group and not g.dirty:
            return
        if g is self.group and self._task is None:
            self._start()
        await g.waiter()

    async def room(self) -> None:
        """Wait while the group no commit has taken yet holds more than ``max_staged`` bytes."""
        while self.group.nbytes > self.max_staged:
            inflight = self._inflight[0] if self._inflight else None
            if inflight is not None:  # the full group is taken once this commit is done
                with contextlib.suppress(StoreIOError):
                    # Shielded: the writer is not staged yet (see is_commit_wait).
                    await asyncio.shield(inflight.waiter())
                continue
            if self._task is None:
                self._start()
            await asyncio.sleep(0)  # (the commit task takes the group on its first step)

    async def drain(self) -> None:
        """Commit everything staged so far and wait for it (errors are raised)."""
        while self._inflight:
            with contextlib.suppress(StoreIOError):
                await self._inflight[-1].waiter()
        if self.group.dirty:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self.wait(self.group)

    def cancel(self) -> None:
        """Stop the lazy timer (the store is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
