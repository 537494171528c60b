"""The stream's answer queue: acknowledgements sent in publish order as their writes finish.

Every submitted message that cannot be answered at once (its write waits for a group
commit, or it waits behind one that does) is queued as ``(answer, many, reply, result)``;
:meth:`AnswerQueue._pump` works through the queue's head as far as the writes are done
and, at the first one that is not, registers itself as a done callback of the future it
waits for (a group commit).  No task and no ``asyncio.wait`` stand between a commit and
its acknowledgements: the commit's completion runs the pump, which sends every answer the
commit covered.  Only a hand-driven write (a store coroutine, ``_Write``) is finished by a
task of its own, which runs the pump again at its end.

Answers the pump sends in one go to the same ``many(replies, acks)`` (the engine's
:func:`~natskern.kernel.core.replies.publish_replies`) leave in one call; ``answer(reply,
ack)`` sends one at a time otherwise.  Used by :class:`~natskern.kernel.jetstream.stream.Stream`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from natskern.kernel.jetstream.publish_run import StagedRun
from natskern.kernel.jetstream.stream_writes import _Dup, _Staged, _Write
from natskern.kernel.store.commit import call_when_committed

__all__ = ["Answer", "AnswerMany", "AnswerQueue"]

log = logging.getLogger("natskern.jetstream")

#: ``answer(reply, ack)``: send a publish's acknowledgement.
Answer = Callable[[bytes, bytes], Any]
#: ``many(replies, acks)``: send acknowledgements in order (an empty reply: none wanted).
AnswerMany = Callable[[list[bytes], list[bytes]], Any]


class _Outbox:
    """Answers gathered by one pass of the pump, sent when the pass ends or the sink changes."""

    __slots__ = ("acks", "many", "replies")

    def __init__(self) -> None:
        self.many: AnswerMany | None = None
        self.replies: list[bytes] = []
        self.acks: list[bytes] = []

    def add(self, answer: Answer, many: AnswerMany | None, reply: bytes, ack: bytes) -> None:
        """Send ``ack`` to ``reply`` after what was added before."""
        if many is None:
            self.send()
            _answer_one(answer, reply, ack)
            return
        if many is not self.many:
            self.send()
            self.many = many
        self.replies.append(reply)
        self.acks.append(ack)

    def extend(
        self, answer: Answer, many: AnswerMany | None, replies: list[bytes], acks: list[bytes]
    ) -> None:
        """Send ``acks[i]`` to ``replies[i]`` after what was added before."""
        if many is None:
            self.send()
            for reply, ack in zip(replies, acks, strict=True):
                if reply:
                    _answer_one(answer, reply, ack)
            return
        if many is not self.many:
            self.send()
            self.many = many
        self.replies += replies
        self.acks += acks

    def send(self) -> None:
        """Send what was gathered."""
        many = self.many
        if many is not None and self.replies:
            replies, acks = self.replies, self.acks
            self.replies, self.acks = [], []
            try:
                many(replies, acks)
            except Exception:
                log.exception("JetStream: answering %d publishes failed", len(replies))


def _answer_one(answer: Answer, reply: bytes, ack: bytes) -> None:
    try:
        answer(reply, ack)
    except Exception:
        log.exception("JetStream: answering a publish on %r failed", reply)


class AnswerQueue:
    """The answer-queue side of :class:`~natskern.kernel.jetstream.stream.Stream`.

    The stream gives it ``_run_acks(run)``, ``_committed(staged)``, ``_dup_answer(dup)``
    and ``_finish(write)``; :meth:`_init_answers` sets the queue up.
    """

    def _init_answers(self) -> None:
        #: Submitted messages not answered yet, in order: ``(answer, many, reply, result)``.
        self._answers: deque[tuple[Answer, AnswerMany | None, bytes, Any]] = deque()
        #: Whether the pump waits as a done callback of the head's commit.
        self._waiting = False
        #: The task finishing a hand-driven write at the head (None: none).
        self._driver: asyncio.Task[None] | None = None
        self._pumping = False
        #: Set once the queue is empty (awaited by :meth:`drain`).
        self._idle: asyncio.Future[None] | None = None

    async def drain(self) -> None:
        """Wait until every message submitted so far is stored and answered."""
        while self._answers:
            self._kick()
            if not self._answers:
                return
            idle = self._idle
            if idle is None:
                idle = self._idle = asyncio.get_running_loop().create_future()
            await asyncio.wait((idle,))

    def _answer_later(
        self, answer: Answer, many: AnswerMany | None, reply: bytes, result: Any
    ) -> None:
        """Queue an answer behind the ones waiting; they are sent in order."""
        if not reply and type(result) is bytes:
            return
        self._answers.append((answer, many, reply, result))
        self._kick()

    def _kick(self) -> None:
        """Run the pump unless it is waiting for something already (or running)."""
        if not (self._waiting or self._pumping or self._driver is not None):
            self._pump()

    def _wait_for(self, future: asyncio.Future[Any]) -> None:
        self._waiting = True
        call_when_committed(future, self._pump)  # (a group commit's: in its completion step)

    def _pump(self, _done: object = None) -> None:
        """Send the answers at the head of the queue whose writes are done, in order."""
        self._waiting = False
        if self._pumping:
            return
        self._pumping = True
        queue = self._answers
        out = _Outbox()
        try:
            while queue:
                answer, many, reply, result = queue[0]
                try:
                    kind = type(result)
                    if kind is StagedRun:
                        commit = result.commit
                        if commit is not None and not commit.done():
                            self._wait_for(commit)
                            return
                        replies, acks = self._run_acks(result)  # type: ignore[attr-defined]
                        queue.popleft()
                        out.extend(answer, many, replies, acks)
                        continue
                    if kind is _Staged:
                        if result.done:
                            value = result.value
                        elif result.commit.done():
                            value = self._committed(result)  # type: ignore[attr-defined]
                        else:
                            self._wait_for(result.commit)
                            return
                    elif kind is _Write:
                        if not result.done:
                            out.send()
                            loop = asyncio.get_running_loop()
                            self._driver = loop.create_task(self._drive_head(result))
                            return
                        value = result.value
                    elif kind is _Dup:
                        value = self._dup_answer(result)  # type: ignore[attr-defined]
                    else:
                        value = result
                except Exception:
                    log.exception("JetStream: finishing a write failed")
                    value = None
                queue.popleft()
                if reply and value is not None:
                    out.add(answer, many, reply, value)
        finally:
            out.send()
            self._pumping = False
            if not queue:
                idle = self._idle
                if idle is not None:
                    self._idle = None
                    if not idle.done():
                        idle.set_result(None)

    async def _drive_head(self, write: _Write) -> None:
        """Finish the hand-driven write at the head of the queue, then pump on."""
        try:
            await self._finish(write)  # type: ignore[attr-defined]
        finally:
            self._driver = None
        self._pump()
