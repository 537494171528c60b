"""Consumer state over an :class:`~natskern.kernel.store.log.AuxLog`, once for every backend.

Each update stages one small delta entry into the consumer's side log; the
stream's next group commit makes it durable (no fsync per ack, and the update
does not wait for it: a lost ack after a crash means a redelivery, never a lost
message).  When the deltas outgrow the state, the log is rewritten as one
snapshot.  Pending acks live in three sorted columns (stream seq, delivery seq,
timestamp: 24 bytes each), not one object per ack.

Semantics follow nats-server's consumer file store: a pending entry keeps the
*original* delivery sequence, redeliveries only count in ``redelivered``, and the
ack floor moves when the acknowledgement right above it arrives (or to the
delivered pair when nothing is pending).
"""

from __future__ import annotations

import bisect
import logging
import struct
import sys
from array import array
from typing import TYPE_CHECKING, Any

from natskern.kernel.store.api import ConsumerState, PendingAck, StoreClosedError
from natskern.kernel.store.log import AuxLog

if TYPE_CHECKING:
    from natskern.kernel.store.base import LogStore

__all__ = ["CONSUMER_PREFIX", "LogConsumerStore", "MemoryConsumerStore"]

logger = logging.getLogger("natskern.store")

#: Side logs of consumers are named ``CONSUMER_PREFIX + name``.
CONSUMER_PREFIX = "consumer."
_BIG_ENDIAN = sys.byteorder == "big"
_D = struct.Struct("<cQQQq")
_A = struct.Struct("<cQQ")
_S = struct.Struct("<cQQQQII")
#: A run of first deliveries: consumer seqs ``dseq``, ``dseq + 1``, ... at one time, then
#: ``count`` u64 stream seqs (ascending).
_R = struct.Struct("<cQqI")


class LogConsumerStore:
    """A :class:`~natskern.kernel.store.api.ConsumerStore` over a side log of its stream."""

    #: Whether updates are encoded into the side log (not for :class:`MemoryConsumerStore`).
    _logged = True

    def __init__(self, store: LogStore, name: str, aux: AuxLog) -> None:
        self._store = store
        self.name = name
        self._aux = aux
        self._dc = self._ds = self._fc = self._fs = 0
        self._p_sseq = array("Q")
        self._p_dseq = array("Q")  # 0 = acknowledged (a tombstone)
        self._p_ts = array("q")
        self._head = 0
        self._live = 0
        self._redelivered: dict[int, int] = {}
        self._config: bytes | None = None
        self._deltas = 0
        self._closed = False

    @classmethod
    async def open(cls, store: LogStore, name: str, aux: AuxLog) -> LogConsumerStore:
        """Replay the side log into a new consumer store."""
        cs = cls(store, name, aux)
        for entry in await aux.replay():
            try:
                cs._apply(entry)
            except (struct.error, ValueError, IndexError) as exc:
                logger.warning("consumer %s: bad state entry skipped: %s", name, exc)
        return cs

    # -- entries ---------------------------------------------------------------------------

    def _apply(self, entry: bytes) -> None:
        kind = entry[:1]
        if kind == b"D":
            _, dseq, sseq, dcount, ts = _D.unpack(entry)
            self._delivered(dseq, sseq, dcount, ts)
        elif kind == b"A":
            _, dseq, sseq = _A.unpack(entry)
            self._acked(dseq, sseq)
        elif kind == b"B":
            self._apply_batch(entry)
            return
        elif kind == b"S":
            self._load_snapshot(entry)
        elif kind == b"C":
            self._config = bytes(entry[1:])
        else:
            raise ValueError(f"unknown entry kind {kind!r}")
        self._deltas += 1

    def _apply_batch(self, entry: bytes) -> None:
        """A ``B`` entry: ``D`` and ``A`` records back to back (see :meth:`update_many`)."""
        pos, end = 1, len(entry)
        while pos < end:
            kind = entry[pos : pos + 1]
            if kind == b"D":
                _, dseq, sseq, dcount, ts = _D.unpack_from(entry, pos)
                self._delivered(dseq, sseq, dcount, ts)
                pos += _D.size
            elif kind == b"A":
                _, dseq, sseq = _A.unpack_from(entry, pos)
                self._acked(dseq, sseq)
                pos += _A.size
            elif kind == b"R":
                _, dseq, ts, count = _R.unpack_from(entry, pos)
                pos += _R.size
                seqs = array("Q")
                seqs.frombytes(entry[pos : pos + 8 * count])
                if len(seqs) != count:
                    raise ValueError("truncated delivery run")
                if _BIG_ENDIAN:
                    seqs.byteswap()
                pos += 8 * count
                self._delivered_run(dseq, seqs, ts)
                self._deltas += count - 1
            else:
                raise ValueError(f"unknown batch record kind {kind!r}")
            self._deltas += 1

    def _snapshot(self) -> bytes:
        self._compact()
        red = array("Q", [x for kv in sorted(self._redelivered.items()) for x in kv])
        head = _S.pack(
            b"S", self._dc, self._ds, self._fc, self._fs, len(self._p_sseq), len(red) // 2
        )
        return (
            head
            + self._p_sseq.tobytes()
            + self._p_dseq.tobytes()
            + self._p_ts.tobytes()
            + red.tobytes()
        )

    def _load_snapshot(self, entry: bytes) -> None:
        _, dc, ds, fc, fs, npend, nred = _S.unpack_from(entry)
        pos = _S.size
        cols: list[array[int]] = []
        for code in ("Q", "Q", "q", "Q"):
            n = npend if len(cols) < 3 else 2 * nred
            col = array(code)
            col.frombytes(entry[pos : pos + 8 * n])
            if len(col) != n:
                raise ValueError("truncated consumer snapshot")
            pos += 8 * n
            cols.append(col)
        self._dc, self._ds, self._fc, self._fs = dc, ds, fc, fs
        self._p_sseq, self._p_dseq, self._p_ts = cols[0], cols[1], cols[2]
        self._head, self._live = 0, npend
        red = cols[3]
        self._redelivered = dict(zip(red[0::2], red[1::2], strict=True))

    def _stage(self, entry: bytes) -> None:
        if self._closed or self._store._closed:
            raise StoreClosedError("consumer store closed")
        self._deltas += 1
        if self._deltas > 1024 and self._deltas > 2 * (self._live + len(self._redelivered)):
            self._rewrite()
        else:
            self._aux.append(entry)
            self._store._commit.mark(len(entry))

    def _rewrite(self) -> None:
        entries = [self._snapshot()]
        if self._config is not None:
            entries.append(b"C" + self._config)
        self._aux.rewrite(entries)
        self._deltas = len(entries)
        self._store._commit.mark(sum(map(len, entries)))

    # -- pending columns -------------------------------------------------------------------

    def _find(self, sseq: int) -> int:
        i = bisect.bisect_left(self._p_sseq, sseq, self._head)
        if i < len(self._p_sseq) and self._p_sseq[i] == sseq:
            return i
        return -1

    def _compact(self) -> None:
        keep = [i for i in range(self._head, len(self._p_sseq)) if self._p_dseq[i]]
        self._p_sseq = array("Q", [self._p_sseq[i] for i in keep])
        self._p_dseq = array("Q", [self._p_dseq[i] for i in keep])
        self._p_ts = array("q", [self._p_ts[i] for i in keep])
        self._head = 0
        self._live = len(keep)

    def _delivered(self, dseq: int, sseq: int, dcount: int, ts: int) -> None:
        if dseq > self._dc:
            self._dc = dseq
        if sseq > self._ds:
            self._ds = sseq
        if dcount > 1:
            self._redelivered[sseq] = dcount - 1
        cols = self._p_sseq
        if not cols or sseq > cols[-1]:
            cols.append(sseq)
            self._p_dseq.append(dseq)
            self._p_ts.append(ts)
            self._live += 1
            return
        i = self._find(sseq)
        if i >= 0:
            if not self._p_dseq[i]:
                self._p_dseq[i] = dseq
                self._live += 1
            self._p_ts[i] = ts
            return
        i = bisect.bisect_left(cols, sseq, self._head)
        cols.insert(i, sseq)
        self._p_dseq.insert(i, dseq)
        self._p_ts.insert(i, ts)
        self._live += 1

    def _delivered_run(self, dseq: int, seqs: Any, ts: int) -> None:
        """First deliveries of ``seqs`` (ascending) as ``dseq``, ``dseq + 1``, ... at ``ts``."""
        n = len(seqs)
        if not n:
            return
        cols = self._p_sseq
        if cols and seqs[0] <= cols[-1]:
            for k, sseq in enumerate(seqs):
                self._delivered(dseq + k, sseq, 1, ts)
            return
        cols.extend(seqs)
        self._p_dseq.extend(range(dseq, dseq + n))
        self._p_ts.extend([ts] * n)
        self._live += n
        if dseq + n - 1 > self._dc:
            self._dc = dseq + n - 1
        if seqs[-1] > self._ds:
            self._ds = seqs[-1]

    def _acked(self, dseq: int, sseq: int) -> None:
        cols, dcol = self._p_sseq, self._p_dseq
        n, h = len(cols), self._head
        if h < n and cols[h] == sseq:  # in-order acks take the head
            i = h
        else:
            i = bisect.bisect_left(cols, sseq, h)
            if i >= n or cols[i] != sseq:
                i = -1
        if i >= 0 and dcol[i]:
            dseq = dcol[i]
            dcol[i] = 0
            self._live -= 1
        if self._redelivered:
            self._redelivered.pop(sseq, None)
        if not self._live:
            self._fc, self._fs = self._dc, self._ds
            self._p_sseq, self._p_dseq, self._p_ts = array("Q"), array("Q"), array("q")
            self._head = 0
            return
        if dseq == self._fc + 1:
            self._fc, self._fs = dseq, sseq
            j = i + 1 if i >= 0 else bisect.bisect_right(cols, sseq, h)
            while j < n and not dcol[j]:
                j += 1
            if j < n and self._dc > dseq:
                self._fc, self._fs = dcol[j] - 1, cols[j] - 1
        while h < n and not dcol[h]:
            h += 1
        self._head = h
        if h > 4096 and h * 2 > n:
            self._compact()

    # -- the protocol ----------------------------------------------------------------------

    async def update_delivered(self, dseq: int, sseq: int, dcount: int, ts: int) -> None:
        """Record delivery ``dseq`` of stream message ``sseq`` (``dcount`` = 1 first time)."""
        self._delivered(dseq, sseq, dcount, ts)
        self._stage(_D.pack(b"D", dseq, sseq, dcount, ts))

    async def update_acks(self, dseq: int, sseq: int) -> None:
        """Record the acknowledgement of delivery ``dseq`` (stream ``sseq``)."""
        self._acked(dseq, sseq)
        self._stage(_A.pack(b"A", dseq, sseq))

    def update_many(self, ops: list[tuple[Any, ...]]) -> None:
        """Record a run of deliveries and acks in one staged entry (what the two calls above
        do one by one): ``("D", dseq, sseq, dcount, ts)`` and ``("A", dseq, sseq)`` tuples in
        order, and ``("DR", dseq, seqs, ts)``: first deliveries of the ascending stream seqs
        ``seqs`` as consumer seqs ``dseq``, ``dseq + 1``, ... at ``ts`` (one record for the
        run).  Synchronous: staging never waits (the stream's group commit makes it durable).
        """
        if self._closed or self._store._closed:
            raise StoreClosedError("consumer store closed")
        records: list[bytes] = []
        deltas = 0
        delivered, acked = self._delivered, self._acked
        pack_d, pack_a = _D.pack, _A.pack
        add = records.append
        logged = self._logged
        for op in ops:
            kind = op[0]
            if kind == "A":
                _, dseq, sseq = op
                acked(dseq, sseq)
                if logged:
                    add(pack_a(b"A", dseq, sseq))
            elif kind == "D":
                _, dseq, sseq, dcount, ts = op
                delivered(dseq, sseq, dcount, ts)
                if logged:
                    add(pack_d(b"D", dseq, sseq, dcount, ts))
            else:
                _, dseq, seqs, ts = op
                col = array("Q", seqs)
                self._delivered_run(dseq, col, ts)
                if not logged:
                    continue
                if _BIG_ENDIAN:
                    col.byteswap()
                add(_R.pack(b"R", dseq, ts, len(col)))
                add(col.tobytes())
                deltas += len(col) - 2
        if not logged:
            return
        deltas += len(records)
        if len(records) == 1:
            self._stage(records[0])
            return
        self._deltas += deltas - 1
        self._stage(b"B" + b"".join(records))

    async def update_state(self, state: ConsumerState) -> None:
        """Replace the whole state (and rewrite the side log as one snapshot)."""
        if self._closed or self._store._closed:
            raise StoreClosedError("consumer store closed")
        self._dc, self._ds = state.delivered_consumer_seq, state.delivered_stream_seq
        self._fc, self._fs = state.ack_floor_consumer_seq, state.ack_floor_stream_seq
        items = sorted((p.sseq, dseq, p.ts) for dseq, p in state.pending.items())
        self._p_sseq = array("Q", [x[0] for x in items])
        self._p_dseq = array("Q", [x[1] for x in items])
        self._p_ts = array("q", [x[2] for x in items])
        self._head, self._live = 0, len(items)
        self._redelivered = dict(state.redelivered)
        self._rewrite()

    def state(self) -> ConsumerState:
        """The current state (a copy the caller may keep)."""
        pending = {
            self._p_dseq[i]: PendingAck(self._p_sseq[i], self._p_ts[i])
            for i in range(self._head, len(self._p_dseq))
            if self._p_dseq[i]
        }
        return ConsumerState(
            delivered_consumer_seq=self._dc,
            delivered_stream_seq=self._ds,
            ack_floor_consumer_seq=self._fc,
            ack_floor_stream_seq=self._fs,
            pending=pending,
            redelivered=dict(self._redelivered),
        )

    async def update_config(self, config: bytes) -> None:
        """Store the consumer's configuration record (opaque bytes); durable on return."""
        self._config = bytes(config)
        self._stage(b"C" + self._config)
        await self._store._settle()

    def config(self) -> bytes | None:
        """The stored configuration record, if any."""
        return self._config

    async def close(self) -> None:
        """Commit the staged updates and release; the state stays in the side log."""
        if self._closed:
            return
        self._closed = True
        self._store._consumer_gone(self.name, deleted=False)
        await self._store._commit.drain()

    async def delete(self) -> None:
        """Remove the consumer's state from storage."""
        self._closed = True
        self._store._consumer_gone(self.name, deleted=True)
        self._store._commit.mark()
        await self._store._settle()


class MemoryConsumerStore(LogConsumerStore):
    """Consumer state kept in memory only: a consumer's ``mem_storage`` on any stream.

    The same state machine as :class:`LogConsumerStore`, with nothing staged into the
    stream's log: no side log, no commit, and nothing to reopen after a restart (the
    consumer is gone then, as on nats-server).  Deliveries and acks cost no I/O.
    """

    _logged = False

    def __init__(self, name: str) -> None:
        super().__init__(_NO_STORE, name, _NO_AUX)  # type: ignore[arg-type]

    def _stage(self, entry: bytes) -> None:
        if self._closed:
            raise StoreClosedError("consumer store closed")

    def _rewrite(self) -> None:
        return

    async def update_config(self, config: bytes) -> None:
        """Keep the configuration record (in memory)."""
        if self._closed:
            raise StoreClosedError("consumer store closed")
        self._config = bytes(config)

    async def close(self) -> None:
        """Release; the state goes with it."""
        self._closed = True

    async def delete(self) -> None:
        """Release; the state goes with it."""
        self._closed = True


class _NoAux:
    """The side log of a :class:`MemoryConsumerStore`: keeps nothing."""

    def append(self, entry: bytes) -> None:
        """Drop the entry."""

    def rewrite(self, entries: Any) -> None:
        """Drop the entries."""

    async def replay(self) -> list[bytes]:
        """Nothing was kept."""
        return []


class _NoStore:
    """The stream store a :class:`MemoryConsumerStore` answers to: none (never closed)."""

    _closed = False


_NO_AUX = _NoAux()
_NO_STORE = _NoStore()
