"""``fdatasync`` through the kernel's AIO interface: no thread hand-off for a small group.

A group commit's sync costs the disk's flush, and with a commit thread also two
hand-offs: the loop wakes the thread, which must then take the GIL before it
can start the ``fdatasync`` (it only gets it once the loop goes back to
``epoll``), and the thread wakes the loop again when it is done.  With one
publish in flight those hand-offs are a good part of the round trip.  Linux AIO
(``IOCB_CMD_FDSYNC``, via ``caio``) runs the sync on a kernel worker: the loop
submits it with one ``io_submit`` and learns of its end from an eventfd it
watches like a socket; no Python thread and no GIL are involved, and the loop
never waits for the disk.

The file log uses it for the syncs of groups of data records
(:mod:`.pipeline`); a small one's ``pwritev`` goes to the page cache on the loop
(a few microseconds: no block allocation, no read).  Everything else (a new
block, metadata copies, side logs, erases) is written and synced by the commit
threads.

One context per event loop, made on first use; where the kernel or the file
system refuses (no AIO, no AIO fsync, too many contexts), :func:`syncer`
returns None for that loop and the commit threads do the syncs.
"""

from __future__ import annotations

import asyncio
import errno
import os
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "SMALL_GROUP",
    "AioSync",
    "acquire",
    "release",
    "syncer",
    "unsupported",
]

try:
    from caio import linux_aio as _aio
except ImportError:  # (not Linux, or the package without its kernel-AIO module)
    _aio = None

#: The largest group written on the loop (a larger one is copied by a commit thread).
SMALL_GROUP = 256 << 10
#: Requests one context takes at once (a loop has one sync in flight per log).
MAX_REQUESTS = 256
_NO = 1 << 64

#: The loops' contexts (None: refused on that loop).
_SYNCERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AioSync | None] = (
    weakref.WeakKeyDictionary()
)
#: Whether AIO is off for good in this process (``NATSKERN_NO_AIO=1``, or refused once).
_disabled = bool(os.environ.get("NATSKERN_NO_AIO"))


def unsupported(exc: OSError) -> bool:
    """Whether an AIO sync failed because the kernel or file system does not offer it."""
    return exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS)


class AioSync:
    """One event loop's kernel-AIO context for ``fdatasync``.

    The file logs of the loop share it (:func:`acquire`, :func:`release`); the last
    one to close it releases the kernel's context.  It keeps no strong reference to
    its loop, so a loop dropped without closing its logs takes the context with it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop_ref = weakref.ref(loop)
        self._ctx: Any = _aio.Context(MAX_REQUESTS)  # type: ignore[union-attr]
        self.inflight = 0
        #: File logs using it; set when the last one left while syncs were in flight.
        self.users = 0
        self.closing = False
        self._fileno = self._ctx.fileno
        loop.add_reader(self._fileno, self._completed)

    def fdatasync_then(self, fd: int, done: Callable[[OSError | None], None]) -> bool:
        """Start ``fdatasync(fd)`` and call ``done(None)`` or ``done(error)`` when it ends.

        ``done`` runs right where the completion is read (no loop iteration in between).
        False when the request could not be started (the caller syncs another way).
        """
        if self.inflight >= MAX_REQUESTS or self._loop_ref() is None:
            return False
        op = _aio.Operation.fdsync(fd)  # type: ignore[union-attr]
        op.set_callback(lambda res: _call(self, done, res))
        try:
            if self._ctx.submit(op) != 1:
                return False
        except ValueError:  # EINVAL: this file (its file system) takes no AIO fsync
            disable()
            return False
        except (OSError, SystemError):  # (EAGAIN: the kernel's AIO queue is full)
            return False
        self.inflight += 1
        return True

    def _completed(self) -> None:
        """(The eventfd is readable) run the callbacks of every finished request."""
        ctx = self._ctx
        try:  # noqa: SIM105 (contextlib.suppress costs more than the rest of this call)
            ctx.poll()
        except BlockingIOError:  # (a count taken already: the events are still there)
            pass
        while ctx.process_events(MAX_REQUESTS) == MAX_REQUESTS:
            pass

    def close(self) -> None:
        """Stop watching the context and let the kernel's context go (no log uses it)."""
        loop = self._loop_ref()
        if loop is not None:
            if _SYNCERS.get(loop) is self:
                del _SYNCERS[loop]
            if not loop.is_closed():
                loop.remove_reader(self._fileno)
        self._ctx = None  # (its last reference: the kernel's context is destroyed)


def _call(sync: AioSync, done: Callable[[OSError | None], None], res: int) -> None:
    sync.inflight -= 1
    if sync.closing and not sync.inflight and sync._ctx is not None:
        sync.close()
    if res >= _NO >> 1:
        err = _NO - res
        done(OSError(err, os.strerror(err)))
    else:
        done(None)


def syncer() -> AioSync | None:
    """The running loop's AIO context, or None where AIO syncs are not available."""
    if _disabled or _aio is None:
        return None
    loop = asyncio.get_running_loop()
    try:
        return _SYNCERS[loop]
    except KeyError:
        pass
    try:
        sync: AioSync | None = AioSync(loop)
    except (OSError, SystemError, RuntimeError, NotImplementedError):
        sync = None  # (io_setup refused: EAGAIN past aio-max-nr, ENOSYS, a seccomp filter)
    _SYNCERS[loop] = sync
    return sync


def acquire() -> AioSync | None:
    """The running loop's AIO context for one more file log (None: none here)."""
    sync = syncer()
    if sync is not None:
        sync.users += 1
        sync.closing = False
    return sync


def release(sync: AioSync) -> None:
    """A file log that took ``sync`` from :func:`acquire` closes; the last one closes it."""
    sync.users -= 1
    if sync.users <= 0 and sync._ctx is not None:
        if sync.inflight:
            sync.closing = True  # (closed by the last completion)
        else:
            sync.close()


def disable() -> None:
    """Use the commit threads from now on (a file system that refused an AIO sync)."""
    global _disabled
    _disabled = True
