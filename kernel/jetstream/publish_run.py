"""A run of plain publishes staged in one store call, answered together once committed.

The JetStream publish path checks and stages each message on its own (headers,
dedupe, expectations, rollups).  Most publishes carry no headers at all: for
those, on a stream with nothing stateful to check per message (no limits in the
store, no usage limits, no republish, no interest retention), a batch read from
a client gives runs of messages that need nothing but their sequence.  Such a run
is staged with one ``stage_batch`` call (consecutive sequences, one timestamp)
and waits as one entry of the stream's answer queue: one group commit covers it.
"""

from __future__ import annotations

import asyncio

__all__ = ["StagedRun"]


class StagedRun:
    """Messages staged with one ``stage_batch``: ``first..first + len(items) - 1``."""

    __slots__ = ("commit", "first", "items", "replies", "ts")

    def __init__(
        self,
        commit: asyncio.Future[None] | None,
        first: int,
        ts: int,
        items: list[tuple[str, None, bytes]],
        replies: list[bytes],
    ) -> None:
        #: The group commit that makes the run durable (None: nothing to wait for).
        self.commit = commit
        self.first = first
        self.ts = ts
        #: What was staged: ``(subject, None, payload)`` per message.
        self.items = items
        #: Each message's reply subject (empty: no acknowledgement wanted).
        self.replies = replies
