"""Running a command's coroutine: event loop, signals and the one-line error.

Every command body is an ``async`` function run through :func:`run`.  The first
SIGINT/SIGTERM sets the ``stop`` event the command receives (long-running
commands such as ``sub`` and ``reply`` wait on it and then drain cleanly); a
second signal cancels the command outright.  Errors meant for the user are
raised as :class:`CliError` and printed by ``main`` as a single line.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from natskern.cli.output import on_stdout_closed

__all__ = ["CliError", "Interrupted", "new_event_loop", "run", "wait_first", "wait_or_stop"]

T = TypeVar("T")


class CliError(click.ClickException):
    """An error reported to the user as one line on stderr with a non-zero exit."""

    exit_code = 1


class Interrupted(Exception):
    """The command was cancelled by a repeated signal; exit quietly with 130."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a uvloop event loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a declared dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``main(stop)`` to completion in a fresh event loop with signal handling.

    ``stop`` is set by the first SIGINT/SIGTERM (or when stdout's reader goes
    away); the second signal cancels ``main`` and :class:`Interrupted` is raised.
    """

    async def wrapper() -> T:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            if stop.is_set():
                task.cancel()
            else:
                stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        on_stdout_closed(stop.set)
        try:
            return await main(stop)
        except asyncio.CancelledError:
            raise Interrupted() from None
        finally:
            on_stdout_closed(None)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(wrapper())


async def wait_or_stop(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await ``awaitable`` unless ``stop`` is set first; return ``None`` when stopped."""
    task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        stopper.cancel()
        raise
    if task in done:
        stopper.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def wait_first(*awaitables: Awaitable[Any]) -> None:
    """Return as soon as one of ``awaitables`` is done; the others are cancelled."""
    waiters = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
