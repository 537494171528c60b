"""The logs' commit threads: a small shared pool runs each log's I/O jobs in order, one at a time.

``asyncio.to_thread`` costs a group commit more than its ``pwrite`` in Python: a
copied context, an executor work item and ``concurrent.futures.Future``, a wrapping
asyncio future chained to it with two callbacks, and the executor's thread count
check, all per call.  A group commit of a durable log needs none of it: each file
log has a :class:`CommitThread` (a lane of the pool) that queues its jobs with a
plain loop future; a pool thread finishes each with one ``call_soon_threadsafe``
(the result, or the exception the I/O raised, reaches the awaiting coroutine as it
is).  A lane's jobs run in submission order, one at a time: a commit's write never
overlaps another of the same log.

The pool has at most :data:`POOL_SIZE` threads, however many logs are open (a
server with hundreds of KV buckets has hundreds of logs): a lane with work waits
in the pool's queue of ready lanes; a thread takes a lane, runs one job, and puts
the lane back at the end of the queue if it has more (lanes take turns).  Threads
start with the first jobs (one per open lane, up to the limit) and are joined when
the last lane stops (:meth:`CommitThread.stop`, the log's ``close``/``destroy``).
They are daemons so that a log abandoned without a close (a process about to die)
does not keep the interpreter alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["POOL_SIZE", "CommitPool", "CommitThread"]

#: The most commit threads the process runs.
POOL_SIZE = 4
THREAD_NAME = "natskern-commit"

_Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(fut: asyncio.Future[Any], exc: BaseException | None, result: Any) -> None:
    """(On the loop) finish ``fut`` unless its waiter gave up on it."""
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class CommitPool:
    """Commit threads and their queue of lanes with work (``None`` ends a thread).

    The file logs share one (the module's); tests build their own.
    """

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self.ready: SimpleQueue[CommitThread | None] = SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lanes = 0
        self._lock = threading.Lock()

    def attach(self) -> None:
        """A lane opens: one more thread, up to ``size``."""
        with self._lock:
            self.lanes += 1
            if len(self.threads) < min(self.lanes, self.size):
                t = threading.Thread(
                    target=self._main, name=f"{THREAD_NAME}-{len(self.threads)}", daemon=True
                )
                self.threads.append(t)
                t.start()

    def detach(self) -> None:
        """A lane stopped (its jobs are done); the last one ends and joins the threads."""
        with self._lock:
            self.lanes -= 1
            if self.lanes:
                return
            threads, self.threads = self.threads, []
            for _ in threads:
                self.ready.put(None)
            for t in threads:  # (idle: each returns as soon as it takes its None)
                t.join()

    def _main(self) -> None:
        get, put = self.ready.get, self.ready.put
        while True:
            lane = get()
            if lane is None:
                return
            with lane._lock:
                fn, args, fut, loop = lane._jobs.popleft()
            try:
                result = fn(*args)
            except BaseException as exc:  # (reaches the waiter: StoreIOError, OSError, ...)
                err: BaseException | None = exc
                result = None
            else:
                err = None
            with contextlib.suppress(RuntimeError):  # (a closed loop: nobody waits any more)
                loop.call_soon_threadsafe(_settle, fut, err, result)
            with lane._lock:
                more = lane._queued = bool(lane._jobs)
            if more:
                put(lane)
            del lane, fn, args, fut, loop, err, result


#: The pool the file logs share.
POOL = CommitPool()


class CommitThread:
    """One log's lane of the commit pool: its jobs run in order, one at a time."""

    __slots__ = ("_jobs", "_lock", "_name", "_open", "_pool", "_queued")

    def __init__(self, name: str, pool: CommitPool | None = None) -> None:
        self._name = name
        self._pool = POOL if pool is None else pool
        self._jobs: deque[_Job] = deque()
        self._lock = threading.Lock()
        #: Whether the lane is in the pool's ready queue or a thread runs its job.
        self._queued = False
        self._open = False

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``fn(*args)`` for the pool; the future has its result or its exception."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if not self._open:
            self._open = True
            self._pool.attach()
        with self._lock:
            self._jobs.append((fn, args, fut, loop))
            if self._queued:
                return fut
            self._queued = True
        self._pool.ready.put(self)
        return fut

    async def stop(self) -> None:
        """Let the lane's queued jobs finish, then leave the pool (the last lane joins it).

        The wait for the jobs is awaited (the loop never blocks on one); the join
        only waits for idle threads to return.
        """
        if not self._open:
            return
        await self.run(_noop)
        self._open = False
        self._pool.detach()


def _noop() -> None:
    return None
