"""Opening a :class:`~natskern.kernel.store.base.LogStore`: checkpoint or scan, and the checkpoint.

At a clean close the store saves its whole index as one metadata value
(``put_meta("index", ...)``: the columns as raw bytes, per-subject state, TTLs,
checksummed) next to the ``seq`` record (last sequence, highest used, last
time).  At open, when the log says the checkpoint is still current, the index
comes back with ``array.frombytes`` (no per-message work); otherwise every
:class:`RecordMeta` the log recovered is indexed.  A checkpoint that fails its
checksum is dropped and the log reopened for a scan (logged).

**Periodic checkpoints** (an optional extension of the record log, like
``append_batch``): a log with ``set_checkpointer(snapshot, request)`` gets, at
open, ``snapshot(scratch=None)``, which returns an
:class:`~natskern.kernel.store.checkpoint.IndexSnapshot` of the store's index as
it is at that moment (staged changes included; ``scratch``: memory to copy the
columns into, pre-faulted off the loop), and ``request()``, which makes
the store commit soon (an empty group if nothing is staged).  The log calls
``snapshot()`` at the start of a commit, when everything staged so far is what
that commit writes and the previous commit's outcome is in the index, writes the
snapshot's ``chunks()`` off the event loop once that commit succeeded, and after
a crash reports ``Recovery.checkpoint_base``: the store loads the snapshot,
indexes the records after it (``records``) and applies the removals since
(``removed``).
"""

from __future__ import annotations

import heapq
import logging
import struct
from array import array
from itertools import accumulate, islice
from typing import TYPE_CHECKING

from natskern.kernel.store.checkpoint import IndexSnapshot, dump_index, load_index
from natskern.kernel.store.consumer import CONSUMER_PREFIX
from natskern.kernel.store.index import MsgIndex
from natskern.kernel.store.log import RecordColumns, RecordMeta, Recovery

if TYPE_CHECKING:
    from natskern.kernel.store.api import StoreConfig
    from natskern.kernel.store.commit import GroupCommitter
    from natskern.kernel.store.log import RecordLog

__all__ = ["SEQ_META", "Opening"]

logger = logging.getLogger("natskern.store")

#: The ``seq`` metadata record: last sequence, highest sequence used, last time.
SEQ_META = struct.Struct("<QQq")
_CKPT_EXTRA = struct.Struct("<QQqQ")
_CHUNK = 65536


class Opening:
    """Open-time loading and the close-time checkpoint (a mixin of ``LogStore``)."""

    config: StoreConfig
    _log: RecordLog
    _idx: MsgIndex
    _commit: GroupCommitter
    _sync: str | int
    _hw: int
    _last_seq: int
    _last_ts: int
    _ttl: dict[int, int]
    _never: set[int]
    _heap: list[tuple[int, int]]
    _config_record: bytes | None
    _consumer_names: set[str]
    _closed: bool

    if TYPE_CHECKING:  # provided by LogStore and its other mixins

        def _enforce_all(self) -> None:
            raise NotImplementedError

        def _arm(self) -> None:
            raise NotImplementedError

    async def _load(self) -> None:
        """Open the log and build the index (checkpoint or scan), then apply the limits."""
        rec = await self._log.open()
        name = self.config.name
        if self._sync != "always":
            logger.warning(
                "stream %s: LAZY sync mode (sync_interval %.3f s): acknowledged writes may be "
                "lost on a crash or power cut",
                name,
                int(self._sync) / 1e9,
            )
        for line in rec.problems:
            logger.warning("stream %s: %s", name, line)
        for seq in rec.corrupt:
            logger.error("stream %s: corrupt record at sequence %d skipped", name, seq)
        loaded = False
        if rec.checkpoint_current or rec.checkpoint_base:
            loaded = await self._load_checkpoint()
            if not loaded:
                logger.warning("stream %s: index checkpoint unusable, rescanning the log", name)
                self._log.put_meta("index", None)
                await self._log.commit()
                await self._log.close()
                rec = await self._log.open()
        # current: the checkpoint is the whole index; tail: records and removals follow it
        current = loaded and rec.checkpoint_current
        tail = loaded and not current
        if not loaded:
            await self._scan(rec)
        elif tail:
            n = await self._scan(rec, fresh=False)
            removed = self._apply_removed(rec.removed)
            logger.info(
                "stream %s: index checkpoint loaded, %d newer records indexed, %d removals "
                "replayed (%d messages)",
                name,
                n,
                removed,
                self._idx.msgs,
            )
        self._hw = max(self._hw, rec.last_seq)
        if not current and rec.last_seq >= self._last_seq:
            self._last_seq, self._last_ts = rec.last_seq, max(rec.last_ts, self._last_ts)
        meta = await self._log.get_meta("seq")
        if meta is not None and len(meta) == SEQ_META.size:
            # Written at every skip/compact/truncate and with the close-time checkpoint (not
            # with a periodic one): it holds unless appends followed it.
            last, hw, last_ts = SEQ_META.unpack(meta)
            if hw >= self._hw:
                self._hw, self._last_seq, self._last_ts = hw, last, last_ts
        if not self._hw and self.config.first_seq > 1:
            self._hw = self._last_seq = self.config.first_seq - 1
        if not self._idx.msgs:
            self._idx.reset(self._hw + 1)
        self._config_record = await self._log.get_meta("config")
        self._consumer_names = {
            n[len(CONSUMER_PREFIX) :]
            for n in self._log.aux_names()
            if n.startswith(CONSUMER_PREFIX)
        }
        for s in self._ttl:
            if self._idx.is_live(s):
                if self._ttl[s] < 0:
                    self._never.add(s)
                else:
                    self._heap.append((self._idx.ts[s - self._idx.base] + self._ttl[s], s))
        heapq.heapify(self._heap)
        setter = getattr(self._log, "set_checkpointer", None)
        if setter is not None:  # (a log that wants a snapshot at once asks for a commit)
            setter(self._snapshot, self._request_commit)
        self._enforce_all()
        if self._commit.group.dirty:
            await self._commit.drain()
        self._arm()

    async def _scan(self, rec: Recovery, *, fresh: bool = True) -> int:
        """Index every recovered record, in chunks of consecutive sequences (columnar).

        ``fresh``: into a new index (a full scan); else after the loaded checkpoint.
        Returns how many records were indexed.
        """
        if fresh:
            self._idx = MsgIndex()
        records = rec.records
        n = 0
        if hasattr(records, "__aiter__"):
            chunk: list[RecordMeta] = []
            async for m in records:  # type: ignore[union-attr]
                if type(m) is RecordColumns:
                    if chunk:
                        self._index_chunk(chunk)
                        n += len(chunk)
                        chunk = []
                    self._index_columns(m)
                    n += len(m.seqs)
                    continue
                chunk.append(m)  # type: ignore[arg-type]
                if len(chunk) >= _CHUNK:
                    self._index_chunk(chunk)
                    n += len(chunk)
                    chunk = []
            if chunk:
                self._index_chunk(chunk)
                n += len(chunk)
            return n
        it = iter(records)  # type: ignore[arg-type]
        while part := list(islice(it, _CHUNK)):
            metas = [m for m in part if isinstance(m, RecordMeta)]
            if len(metas) == len(part):
                self._index_chunk(metas)
                n += len(metas)
                continue
            for m in part:  # (columns and metas mixed: keep their order)
                if isinstance(m, RecordMeta):
                    self._index_chunk([m])
                    n += 1
                else:
                    self._index_columns(m)
                    n += len(m.seqs)
        return n

    def _apply_removed(self, ranges: list[tuple[int, int]]) -> int:
        """Apply removals committed after the checkpoint; return how many messages went."""
        idx = self._idx
        before = idx.msgs
        merged: list[list[int]] = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        for first, last in merged:
            if first == last:
                idx.remove(first)
            else:
                idx.remove_range(first, last)
        return before - idx.msgs

    def _index_chunk(self, chunk: list[RecordMeta]) -> None:
        ttls = [m.ttl for m in chunk]
        self._index_columns(
            RecordColumns(
                [m.seq for m in chunk],
                [m.ts for m in chunk],
                [m.subject for m in chunk],
                [m.size for m in chunk],
                {m.seq: m.ttl for m in chunk if m.ttl} if any(ttls) else {},
            )
        )

    def _index_columns(self, cols: RecordColumns) -> None:
        idx = self._idx
        seqs, tss, subjects, sizes = list(cols.seqs), cols.ts, cols.subjects, cols.sizes
        if not seqs:
            return
        dense = seqs[-1] - seqs[0] + 1 == len(seqs)
        if seqs != sorted(seqs) or seqs[0] < idx.end or (not dense and len(set(seqs)) < len(seqs)):
            # A log must recover in sequence order; index what still can be, loudly.
            logger.error(
                "stream %s: the log recovered records out of sequence order", self.config.name
            )
            kept = {q: i for i, q in enumerate(seqs) if q >= idx.end}
            order = [kept[q] for q in sorted(kept)]
            if not order:
                return
            seqs = [seqs[i] for i in order]
            tss = [tss[i] for i in order]
            subjects = [subjects[i] for i in order]
            sizes = [sizes[i] for i in order]
        tss = list(tss)
        if tss[0] < self._last_ts or tss != sorted(tss):
            # Timestamps never decrease in the index (a clock step back is flattened).
            tss = list(accumulate(tss, max, initial=self._last_ts))[1:]
        self._last_ts = tss[-1]
        sids = list(map(idx.subjects.get, subjects))
        if None in sids:
            sids = [idx.intern(x) if s is None else s for s, x in zip(sids, subjects, strict=True)]
        if cols.ttls:
            self._ttl.update(cols.ttls)
        sizes = list(sizes)
        n = len(seqs)
        if seqs[-1] - seqs[0] + 1 == n:
            idx.add_run(seqs[0], tss, sids, sizes)  # type: ignore[arg-type]
            return
        lo = 0
        for i in range(1, n + 1):
            if i == n or seqs[i] != seqs[i - 1] + 1:
                idx.add_run(seqs[lo], tss[lo:i], sids[lo:i], sizes[lo:i])  # type: ignore[arg-type]
                lo = i

    async def _load_checkpoint(self) -> bool:
        data = await self._log.get_meta("index")
        if data is None:
            return False
        try:
            idx, extra = load_index(data)
            last, hw, last_ts, nttl = _CKPT_EXTRA.unpack_from(extra)
            ttl: dict[int, int] = {}
            if nttl:
                pairs = array("q")
                pairs.frombytes(extra[_CKPT_EXTRA.size : _CKPT_EXTRA.size + 16 * nttl])
                ttl = dict(zip(pairs[0::2], pairs[1::2], strict=True))
        except (ValueError, struct.error, UnicodeDecodeError) as exc:
            logger.warning("stream %s: %s", self.config.name, exc)
            return False
        self._idx, self._ttl = idx, ttl
        self._hw, self._last_seq, self._last_ts = hw, last, last_ts
        return True

    def _request_commit(self) -> None:
        """Commit soon (a log's request for a commit to take its snapshot in), unless closing."""
        if not self._closed:
            self._commit.mark()

    def _snapshot(self, scratch: memoryview | None = None) -> IndexSnapshot:
        """A snapshot of the index as it is now, for a log's periodic checkpoint.

        ``scratch``: pre-faulted memory to copy the columns into (see :class:`IndexSnapshot`).
        """
        return IndexSnapshot(self._idx, self._checkpoint_extra(), scratch)

    def _checkpoint_extra(self) -> bytes:
        """The checkpoint's extra part: the sequence record and the live messages' TTLs."""
        live = [(s, t) for s, t in self._ttl.items() if self._idx.is_live(s)]
        pairs = array("q", [x for p in live for x in p])
        head = _CKPT_EXTRA.pack(self._last_seq, self._hw, self._last_ts, len(live))
        return head + pairs.tobytes()

    def _checkpoint(self) -> bytes:
        """The index checkpoint (the index, its TTLs and the sequence record), as bytes."""
        return dump_index(self._idx, self._checkpoint_extra())
