"""A log's commit thread: runs its commit I/O one job at a time, off the event loop.

``asyncio.to_thread`` costs a group commit more than its ``pwrite`` in Python: a
copied context, an executor work item and ``concurrent.futures.Future``, a wrapping
asyncio future chained to it with two callbacks, and the executor's thread count
check, all per call.  A group commit of a durable log needs none of it: the file log
hands each commit's I/O to its own thread through a ``SimpleQueue`` (C, no lock in
Python) with a plain loop future, and the thread finishes it with one
``call_soon_threadsafe`` (the result, or the exception the I/O raised, reaches the
awaiting coroutine as it is).  Jobs run in submission order, one at a time: a
commit's write never overlaps another's.

The thread starts with the first job and is joined by :meth:`CommitThread.stop`
(the log's ``close``/``destroy``).  It is a daemon so that a log abandoned without
a close (a process about to die) does not keep the interpreter alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["CommitThread"]

_STOP = None


def _settle(fut: asyncio.Future[Any], exc: BaseException | None, result: Any) -> None:
    """(On the loop) finish ``fut`` unless its waiter gave up on it."""
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class CommitThread:
    """One thread that runs I/O jobs for a log, in order (see the module docstring)."""

    __slots__ = ("_jobs", "_name", "_thread")

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Any, Any] | None] = (
            SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``fn(*args)`` for the thread; the future has its result or its exception."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((fn, args, fut, loop))
        return fut

    def _main(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is _STOP:
                return
            fn, args, fut, loop = job
            try:
                result = fn(*args)
            except BaseException as exc:  # (reaches the waiter: StoreIOError, OSError, ...)
                err: BaseException | None = exc
                result = None
            else:
                err = None
            with contextlib.suppress(RuntimeError):  # (a closed loop: nobody waits any more)
                loop.call_soon_threadsafe(_settle, fut, err, result)
            del job, fn, args, fut, loop, err, result

    async def stop(self) -> None:
        """Let the queued jobs finish, then end the thread and join it.

        The wait for the jobs is awaited (the loop never blocks on one); the join
        itself only waits for the thread to return from its last line.
        """
        t = self._thread
        if t is None:
            return
        self._thread = None
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._jobs.put((_noop, (), done, loop))
        self._jobs.put(_STOP)
        await done
        t.join()


def _noop() -> None:
    return None
