"""Opening a :class:`~natskern.kernel.store.base.LogStore`: checkpoint or scan, and the checkpoint.

At a clean close the store saves its whole index as one metadata value
(``put_meta("index", ...)``: the columns as raw bytes, per-subject state, TTLs,
checksummed) next to the ``seq`` record (last sequence, highest used, last
time).  At open, when the log says the checkpoint is still current, the index
comes back with ``array.frombytes`` (no per-message work); otherwise every
:class:`RecordMeta` the log recovered is indexed.  A checkpoint that fails its
checksum is dropped and the log reopened for a scan (logged).
"""

from __future__ import annotations

import heapq
import logging
import struct
from array import array
from itertools import accumulate, islice
from typing import TYPE_CHECKING

from natskern.kernel.store.checkpoint import dump_index, load_index
from natskern.kernel.store.consumer import CONSUMER_PREFIX
from natskern.kernel.store.index import MsgIndex
from natskern.kernel.store.log import RecordMeta, Recovery

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
        if rec.checkpoint_current:
            loaded = await self._load_checkpoint()
            if not loaded:
                logger.warning("stream %s: index checkpoint unusable, rescanning the log", name)
                self._log.put_meta("index", None)
                await self._log.commit()
                await self._log.close()
                rec = await self._log.open()
        if not loaded:
            await self._scan(rec)
        self._hw = max(self._hw, rec.last_seq)
        if not loaded and rec.last_seq >= self._last_seq:
            self._last_seq, self._last_ts = rec.last_seq, max(rec.last_ts, self._last_ts)
        meta = await self._log.get_meta("seq")
        if meta is not None and len(meta) == SEQ_META.size:
            # Written with every checkpoint and at every skip/compact/truncate: after a
            # checkpoint it is at least as new; after a scan it holds unless appends followed.
            last, hw, last_ts = SEQ_META.unpack(meta)
            if loaded or hw >= self._hw:
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
        self._enforce_all()
        if self._commit.group.dirty:
            await self._commit.drain()
        self._arm()

    async def _scan(self, rec: Recovery) -> None:
        """Index every recovered record, in chunks of consecutive sequences (columnar)."""
        self._idx = MsgIndex()
        records = rec.records
        if hasattr(records, "__aiter__"):
            chunk: list[RecordMeta] = []
            async for m in records:  # type: ignore[union-attr]
                chunk.append(m)
                if len(chunk) >= _CHUNK:
                    self._index_chunk(chunk)
                    chunk = []
            if chunk:
                self._index_chunk(chunk)
            return
        it = iter(records)  # type: ignore[arg-type]
        while chunk := list(islice(it, _CHUNK)):
            self._index_chunk(chunk)

    def _index_chunk(self, chunk: list[RecordMeta]) -> None:
        idx = self._idx
        seqs = [m.seq for m in chunk]
        dense = seqs[-1] - seqs[0] + 1 == len(seqs)
        if seqs != sorted(seqs) or seqs[0] < idx.end or (not dense and len(set(seqs)) < len(seqs)):
            # A log must recover in sequence order; index what still can be, loudly.
            logger.error(
                "stream %s: the log recovered records out of sequence order", self.config.name
            )
            kept: dict[int, RecordMeta] = {m.seq: m for m in chunk if m.seq >= idx.end}
            chunk = [kept[q] for q in sorted(kept)]
            if not chunk:
                return
            seqs = [m.seq for m in chunk]
        tss = [m.ts for m in chunk]
        if tss[0] < self._last_ts or tss != sorted(tss):
            # Timestamps never decrease in the index (a clock step back is flattened).
            tss = list(accumulate(tss, max, initial=self._last_ts))[1:]
        self._last_ts = tss[-1]
        sizes = [m.size for m in chunk]
        subjects = [m.subject for m in chunk]
        sids = list(map(idx.subjects.get, subjects))
        if None in sids:
            sids = [idx.intern(x) if s is None else s for s, x in zip(sids, subjects, strict=True)]
        ttls = [m.ttl for m in chunk]
        if any(ttls):
            self._ttl.update((q, t) for q, t in zip(seqs, ttls, strict=True) if t)
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

    def _checkpoint(self) -> bytes:
        """The index checkpoint (the index, its TTLs and the sequence record), as bytes."""
        live = [(s, t) for s, t in self._ttl.items() if self._idx.is_live(s)]
        pairs = array("q", [x for p in live for x in p])
        extra = _CKPT_EXTRA.pack(self._last_seq, self._hw, self._last_ts, len(live))
        return dump_index(self._idx, extra + pairs.tobytes())
