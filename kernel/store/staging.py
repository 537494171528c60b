"""Writes of :class:`~natskern.kernel.store.base.LogStore`: staging messages into the log.

``store_msg``/``stage_msg`` (one message; an inline path when nothing is to be
checked), ``stage_batch``/``store_batch`` (a run: columnar when no message can be
refused, the per-subject limit of a KV bucket taken once per batch), and
``_stage``, the checked path of one message (limits, TTL, discard rules).  Every
staged write marks the current commit group (:mod:`.commit`).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from natskern.kernel.store.api import RemovalCallback, StoreClosedError, StoredMsg

if TYPE_CHECKING:
    from natskern.kernel.store.commit import GroupCommitter
    from natskern.kernel.store.index import MsgIndex
    from natskern.kernel.store.log import RecordLog

__all__ = ["FEW", "Staging"]

#: The store's clock (a module global: a snapshot restore pins it per message).
_time_ns = time.time_ns
#: Batches of fewer messages take :meth:`LogStore._stage_few` (measured: the columnar
#: path's setup costs more than it saves below ~32 messages of the file store).
FEW = 32


class Staging:
    """The write half of the store (a mixin of ``LogStore``)."""

    _closed: bool
    _commit: GroupCommitter
    _idx: MsgIndex
    _log: RecordLog
    _plain: bool
    _checked: bool
    _limited: bool
    _per_only: bool
    _overhead: int
    _hdr_overhead: int
    _hw: int
    _last_seq: int
    _last_ts: int
    _max_age: int
    _max_per: int
    _max_msgs: int
    _max_bytes: int
    _ttl: dict[int, int]
    _never: set[int]
    _heap: list[tuple[int, int]]
    _timer: asyncio.TimerHandle | None
    _timer_at: int
    _cb: RemovalCallback | None
    _append_batch: Callable[..., None] | None
    _remove_many: Callable[[list[int]], None] | None

    if TYPE_CHECKING:  # provided by LogStore and its other mixins

        def _open_check(self) -> None:
            raise NotImplementedError

        def _arm(self) -> None:
            raise NotImplementedError

        def _enforce(self, sid: int) -> None:
            raise NotImplementedError

        def _drop_oldest_of(self, sid: int) -> None:
            raise NotImplementedError

        def _check_new(self, sid: int, size: int, headers: bytes | None, payload: bytes) -> None:
            raise NotImplementedError

    async def store_msg(
        self, subject: str, headers: bytes | None, payload: bytes, *, ttl: int = 0
    ) -> tuple[int, int]:
        """Append a message; return ``(seq, ts)`` once durable (see the protocol)."""
        if self._closed:
            raise StoreClosedError()
        if self._commit.group.nbytes > self._commit.max_staged:
            await self._commit.room()
        seq, ts, commit = self.stage_msg(subject, headers, payload, ttl=ttl)
        if commit is not None:
            await commit
        return seq, ts

    @property
    def backlogged(self) -> bool:
        """Whether more bytes wait for their commit than the store lets in (see :meth:`room`)."""
        return self._commit.group.nbytes > self._commit.max_staged

    async def room(self) -> None:
        """Wait until the store takes writes again (:attr:`backlogged` is false)."""
        await self._commit.room()

    def stage_msg(
        self, subject: str, headers: bytes | None, payload: bytes, *, ttl: int = 0
    ) -> tuple[int, int, asyncio.Future[None] | None]:
        """Stage a message without waiting for it: ``(seq, ts, commit)``.

        The synchronous half of :meth:`store_msg`, for a caller that writes many
        messages at once (the JetStream publish path): the message has its sequence
        and is readable; ``commit`` is the future of the group commit that makes it
        durable (it raises the commit's :class:`StoreIOError`), None when nothing is
        to be awaited (a memory or lazy store).  Limits refuse as in :meth:`store_msg`.
        Back-pressure is the caller's: await :meth:`room` while :attr:`backlogged`.
        """
        if self._closed:
            raise StoreClosedError()
        commit = self._commit
        if ttl or not self._plain:
            seq, ts = self._stage(subject, headers, payload, ttl)
            if commit.awaits:
                return seq, ts, commit.group.waiter()
            return seq, ts, None
        # No limits, no expiry: _stage without its checks, with MsgIndex.add inline (the
        # hot path: every attribute and call here is paid once per message).
        idx = self._idx
        sid = idx.subjects.get(subject)
        if sid is None:
            sid = idx.intern(subject)
        size = (
            (self._hdr_overhead + len(headers) if headers else self._overhead)
            + (len(subject) if subject.isascii() else len(subject.encode()))
            + len(payload)
        )
        seq = self._hw + 1
        ts = _time_ns()
        if ts < self._last_ts:
            ts = self._last_ts
        self._hw = self._last_seq = seq
        self._last_ts = ts
        self._log.append(StoredMsg(idx.names[sid], seq, ts, headers, payload), 0)
        live = idx.live
        if seq - idx.base == len(live):  # (MsgIndex.add without a gap to fill)
            idx.ts.append(ts)
            idx.size.append(size)
            idx.sid.append(sid)
            live.append(1)
            idx.msgs += 1
            idx.bytes += size
            counts = idx.sub_count
            n = counts[sid]
            if not n:
                idx.sub_first[sid] = seq
            idx.sub_last[sid] = seq
            counts[sid] = n + 1
        else:
            idx.add(seq, ts, sid, size)
        g = commit.mark(size)
        if not g.add_lo:
            g.add_lo = seq
        if commit.awaits:
            fut = g.future
            return seq, ts, fut if fut is not None else g.waiter()
        return seq, ts, None

    @property
    def batchable(self) -> bool:
        """Whether :meth:`stage_batch` takes its columnar path (no limit to check per message).

        True without limits, and with only a per-subject limit that refuses nothing
        (a KV bucket's history): then the oldest messages of each subject the batch
        wrote are removed once the batch is staged.
        """
        return not self._checked or self._per_only

    def stage_batch(
        self, items: Sequence[tuple[str, bytes | None, bytes]]
    ) -> tuple[int, int, asyncio.Future[None] | None]:
        """Stage ``(subject, headers, payload)`` tuples without waiting: ``(first, ts, commit)``.

        :meth:`stage_msg` for many messages in one call (the JetStream publish path
        stages a run of plain publishes from one read this way): they get the
        consecutive sequences from ``first`` on and one timestamp ``ts``; ``commit``
        is as in :meth:`stage_msg`.  Without limits (:attr:`batchable`) this is
        the columnar path of :meth:`store_batch`; with limits each message is checked
        as by :meth:`stage_msg`, and a refused one raises (those before it stay staged).
        """
        if self._closed:
            raise StoreClosedError()
        if not items:
            return 0, 0, None
        if self._checked and not self._per_only:
            first, ts = self._stage(*items[0], 0)
            for subject, headers, payload in items[1:]:
                self._stage(subject, headers, payload, 0)
        else:
            if len(items) < FEW:
                first, ts = self._stage_few(items)
            else:
                first, ts = self._stage_batch(items)
            if self._per_only:
                self._enforce_batch(items)
        commit = self._commit
        return first, ts, commit.group.waiter() if commit.awaits else None

    def _stage_few(self, items: Sequence[tuple[str, bytes | None, bytes]]) -> tuple[int, int]:
        """:meth:`_stage_batch` for a few messages: stage_msg's inline path, one time for all.

        (The columnar path's setup costs more than it saves below :data:`FEW` messages.)
        """
        idx = self._idx
        get, names, add, append = idx.subjects.get, idx.names, idx.add, self._log.append
        o, oh = self._overhead, self._hdr_overhead
        ts = _time_ns()
        if ts < self._last_ts:
            ts = self._last_ts
        first = seq = self._hw + 1
        total = 0
        for subject, headers, payload in items:
            sid = get(subject)
            if sid is None:
                sid = idx.intern(subject)
            size = (
                (oh + len(headers) if headers else o)
                + (len(subject) if subject.isascii() else len(subject.encode()))
                + len(payload)
            )
            self._hw = self._last_seq = seq
            append(StoredMsg(names[sid], seq, ts, headers, payload), 0)
            add(seq, ts, sid, size)
            total += size
            seq += 1
        self._last_ts = ts
        g = self._commit.mark(total)
        if not g.add_lo:
            g.add_lo = first
        if self._timer is None and self._max_age:
            self._arm()
        return first, ts

    async def store_batch(
        self, items: Sequence[tuple[str, bytes | None, bytes]], *, ttl: int = 0
    ) -> tuple[int, int]:
        """Append ``(subject, headers, payload)`` tuples; return ``(first_seq, ts)``.

        The messages get the consecutive sequences from ``first_seq`` on and one
        timestamp, and are committed in one group (one wait for the whole batch).
        Limits apply per message; a refused message raises, and those before it in
        the batch stay stored (not atomic).  Without limits or TTL it takes a
        columnar path, and a log with ``append_batch(first_seq, ts, items)`` gets
        the batch in one call (the memory backend's path to millions a second).
        """
        if self._closed:
            raise StoreClosedError()
        if not items:
            return 0, 0
        commit = self._commit
        if commit.group.nbytes > commit.max_staged:
            await commit.room()
            self._open_check()
        if ttl or (self._checked and not self._per_only):
            first, ts = self._stage(*items[0], ttl)
            for subject, headers, payload in items[1:]:
                self._stage(subject, headers, payload, ttl)
        else:
            first, ts = self._stage_batch(items)
            if self._per_only:
                self._enforce_batch(items)
        if commit.awaits:
            await commit.wait(commit.group)
        return first, ts

    def _stage_batch(self, items: Sequence[tuple[str, bytes | None, bytes]]) -> tuple[int, int]:
        idx = self._idx
        get = idx.subjects.get
        found = [get(it[0]) for it in items]
        if None in found:
            found = [
                idx.intern(it[0]) if s is None else s for s, it in zip(found, items, strict=True)
            ]
        sids: list[int] = found  # type: ignore[assignment]
        o, oh = self._overhead, self._hdr_overhead
        sizes = [
            (oh + len(h) if h else o) + (len(s) if s.isascii() else len(s.encode())) + len(p)
            for s, h, p in items
        ]
        first = self._hw + 1
        self._hw = self._last_seq = first + len(items) - 1
        ts = max(_time_ns(), self._last_ts)
        self._last_ts = ts
        if self._append_batch is not None:
            self._append_batch(first, ts, items)
        else:
            names, append = idx.names, self._log.append
            for i, (_, headers, payload) in enumerate(items):
                append(StoredMsg(names[sids[i]], first + i, ts, headers, payload), 0)
        idx.add_batch(first, ts, sids, sizes)
        g = self._commit.mark(sum(sizes))
        if not g.add_lo:
            g.add_lo = first
        if self._timer is None and self._max_age:
            self._arm()
        return first, ts

    def _enforce_batch(self, items: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Take the per-subject limit of every subject a staged batch wrote (``_per_only``).

        The same removals as the limit taken after each message: each subject keeps its
        newest ``max_msgs_per_subject`` messages, so a key written twice in one batch
        has its first write removed at once.  The batch's removals reach the log in one
        call when it has ``remove_many`` (the file log: one ``SET`` record per group).
        """
        idx = self._idx
        sid_of = idx.subjects.__getitem__
        if len(items) == 1:
            sids_in = [sid_of(items[0][0])]
        else:
            sids_in = list(map(sid_of, dict.fromkeys([it[0] for it in items])))
        seqs, sids = idx.remove_oldest(sids_in, self._max_per)
        if not seqs:
            return
        many = self._remove_many
        if many is not None:
            many(seqs)
        else:
            for seq in seqs:
                self._log.remove(seq)
        g = self._commit.group
        if not g.dirty:
            g = self._commit.mark()
        g.undo.extend(zip(seqs, sids, strict=True))
        lo = min(seqs)
        if lo < g.min_rm:
            g.min_rm = lo
        if self._cb is not None:
            g.removed.extend(zip(seqs, map(idx.names.__getitem__, sids), strict=True))

    def _stage(
        self, subject: str, headers: bytes | None, payload: bytes, ttl: int
    ) -> tuple[int, int]:
        """Check the limits, assign the sequence and time, stage into the log and the index."""
        idx = self._idx
        sid = idx.subjects.get(subject)
        if sid is None:
            sid = idx.intern(subject)
        size = (
            (self._hdr_overhead + len(headers) if headers else self._overhead)
            + (len(subject) if subject.isascii() else len(subject.encode()))
            + len(payload)
        )  # (msg_size, inline)
        if self._checked:
            self._check_new(sid, size, headers, payload)
        seq = self._hw + 1
        self._hw = self._last_seq = seq
        ts = _time_ns()
        if ts < self._last_ts:
            ts = self._last_ts
        self._last_ts = ts
        self._log.append(StoredMsg(idx.names[sid], seq, ts, headers, payload), ttl)
        idx.add(seq, ts, sid, size)
        g = self._commit.mark(size)
        if not g.add_lo:
            g.add_lo = seq
        if ttl:
            self._ttl[seq] = ttl
            if ttl < 0:
                self._never.add(seq)
            else:
                heapq.heappush(self._heap, (ts + ttl, seq))
                if self._timer is not None and ts + ttl < self._timer_at:
                    self._timer.cancel()
                    self._timer = None
        if self._limited:
            mp = self._max_per
            if self._max_msgs or self._max_bytes:
                self._enforce(sid)
            elif idx.sub_count[sid] > mp:  # only a per-subject limit (a KV bucket's history)
                self._drop_oldest_of(sid)
        if self._timer is None and (self._max_age or ttl > 0):
            self._arm()
        return seq, ts
