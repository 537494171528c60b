"""nats-py's watcher-based calls, past its race with nats-server's deliveries.

``kv.keys()``, ``kv.history()``, ``kv.purge_deletes()`` and ``obs.list()`` read a
watcher until its "no more entries" marker, which nats-py sends when consumer info
reports nothing pending and its own callback has seen no message yet.  nats-server
can answer that consumer info before the deliveries it already counted reach the
client, so such a call now and then ends before entries the server sent (the CI
failure of stop 22: a ``purge_deletes`` that purged nothing; a ``history`` cut short
to nothing raises ``NoKeysError``).  The race only ever *loses* entries, so the
differential tests take the longest of a few answers, on both servers alike.

A watch's initial values can be cut short the same way (the marker first, the values
after it).  :func:`matches_reference` covers what no retry of one call can: when
natskern's recording differs from the reference's, the scenario runs once more on a
fresh nats-server, and natskern must match that one.  A natskern bug differs from
both; a race of the reference's, from one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ATTEMPTS", "longest", "matches_reference"]

#: Answers taken; the race losing all of them is vanishingly rare.
ATTEMPTS = 3

T = TypeVar("T", bound=Sequence[Any])


async def longest(call: Callable[[], Awaitable[T]], *empty: type[Exception]) -> T:
    """The longest of :data:`ATTEMPTS` answers of ``call``; an exception of ``empty``
    (the client's "nothing there") counts as an empty answer and is raised only if
    every attempt raised it."""
    best: T | None = None
    error: Exception | None = None
    for _ in range(ATTEMPTS):
        try:
            answer = await call()
        except empty as e:
            error = e
            continue
        if best is None or len(answer) > len(best):
            best = answer
    if best is None:
        assert error is not None
        raise error
    return best


async def matches_reference(
    run: Callable[[str], Awaitable[list[Any]]], url: str, reference_url: str
) -> None:
    """Assert that ``run(url)`` (natskern) records what ``run(reference_url)`` does, or,
    when it does not, what ``run`` records on a fresh nats-server (see the module doc)."""
    from tests.jetstream.conftest import jetstream_server

    expected = await run(reference_url)
    got = await run(url)
    if got != expected:
        with (
            tempfile.TemporaryDirectory(prefix="ref-again-") as d,
            jetstream_server(Path(d)) as again,
        ):
            expected = await run(again)
    assert got == expected
