"""Progress bars for ``natskern object put`` and ``get``: bytes counted as they pass.

nats-py reads a put's source with ``readinto`` and writes a get's target with ``write``,
both in an executor thread; :class:`CountedFile` counts what goes through those calls and
:func:`transfer_progress` turns the counts into a rich bar on the terminal (stderr), as
natscli shows one unless ``--no-progress``.  Without a terminal nothing is drawn.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["CountedFile", "progress_wanted", "transfer_progress"]


class CountedFile:
    """A binary file whose ``readinto``/``write`` report each byte count to ``on_bytes``.

    Everything else is the wrapped file's (nats-py looks for ``readinto`` to read a put's
    source in a thread).
    """

    def __init__(self, raw: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the file; the count read."""
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._on_bytes(n)
        return int(n or 0)

    def write(self, data: bytes) -> int:
        """Write ``data`` to the file; the count written."""
        n = self._raw.write(data)
        self._on_bytes(len(data))
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def progress_wanted(no_progress: bool) -> bool:
    """Whether to draw a bar: not turned off, and stderr is a terminal."""
    return not no_progress and sys.stderr.isatty()


@contextlib.contextmanager
def transfer_progress(
    label: str, total: int | None, *, enabled: bool, console: Any = None
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``; while enabled, a bar of ``total`` bytes shows the transfer.

    ``console`` is a rich Console (stderr by default). Disabled, ``advance`` does nothing.
    """
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
