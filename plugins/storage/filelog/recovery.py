"""Opening a file log: checkpoint fast path, or the verifying scan (runs in a thread).

Clean close: the log writes ``~blocks`` (every block's id, end, first sequence
and offsets) as a two-copy metadata value.  On open, when every block file still
ends exactly where it says and the store's ``index`` checkpoint was written at
that same end (``~index-pos``), nothing is scanned: the index is loaded and the
store loads its own checkpoint.  Any block written, truncated, added or deleted
since, or a checkpoint copy that fails its checksum, means a full scan; the
scan rebuilds everything from the records themselves.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import deque
from collections.abc import Iterator
from itertools import compress, repeat
from operator import ne
from typing import TYPE_CHECKING

from natskern.kernel.store.log import RecordMeta, Recovery
from natskern.plugins.storage.filelog.blocks import (
    DEAD,
    NO_TARGET,
    Block,
    block_name,
    decode_checkpoint,
    encode_checkpoint,
)
from natskern.plugins.storage.filelog.formatmark import check_format
from natskern.plugins.storage.filelog.group import trim
from natskern.plugins.storage.filelog.journal import JournalAux
from natskern.plugins.storage.filelog.meta import meta_paths, pos_from, read_meta, write_meta_copy
from natskern.plugins.storage.filelog.scan import (
    MAX_GUESS,
    BadRegion,
    BlockScan,
    merge_removals,
    scan_block,
)
from natskern.plugins.storage.filelog.sidecar import (
    BlockAcc,
    decode_sidecar,
    encode_sidecar,
    sidecar_removals,
)

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.log import FileLog

SMALL = 64 << 10

__all__ = ["open_log", "remove_all", "write_checkpoint"]


def _size_fn():  # type: ignore[no-untyped-def]
    """The size the stream counts per message: the store's formula (nats-server's)."""
    from natskern.kernel.store.base import record_size_raw

    return record_size_raw


def _listing(directory: str) -> tuple[list[int], set[str]]:
    blocks, keys = [], set()
    for fn in os.listdir(directory):
        if fn.endswith(".blk") and fn[:-4].isdigit():
            blocks.append(int(fn[:-4]))
        elif fn.startswith("meta.") and fn[-2:] in (".0", ".1"):
            try:
                keys.add(bytes.fromhex(fn[5:-2]).decode())
            except ValueError:
                continue
    return sorted(blocks), keys


def open_log(log: FileLog) -> Recovery:
    """Open ``log``'s directory and recover it (see the module docstring)."""
    d = log.directory
    log.take_lock()
    block_ids, keys = _listing(d)
    problems: list[str] = []
    lost: set[str] = set()
    ckpt_raw: bytes | None = None
    index_present = False
    repair: set[str] = set()  # keys with one bad copy: the data may hold a newer value
    for key in sorted(keys):
        copy, probs = read_meta(d, key)
        problems.extend(probs)
        if copy is None:
            lost.add(key)
            continue
        if probs and not key.startswith("~"):
            repair.add(key)
        log.meta_gen[key] = copy.gen
        value = copy.value if copy.present else None
        if key == "index":
            index_present = copy.present
        if key == "~blocks":
            ckpt_raw = value
        elif key == "~index-pos":
            log.index_pos = pos_from(value)
        elif value is None or len(value) <= SMALL:
            log.meta_small[key] = value
        elif key == "index":
            log.meta_once[key] = value
    check_format(log)
    _open_aux(log, problems)
    sizes = {bid: os.path.getsize(os.path.join(d, block_name(bid))) for bid in block_ids}
    ck = decode_checkpoint(d, ckpt_raw) if ckpt_raw else None
    ck_hi = (ck[1], ck[2]) if ck else (0, 0)
    index_ok = index_present and "index" not in lost
    if ck is not None and not lost and not repair and index_ok:
        blocks, hi_seq, hi_ts = ck
        on_disk = [b.id for b in blocks] == block_ids and all(sizes[b.id] == b.size for b in blocks)
        if on_disk and _current(log, blocks):
            log.set_blocks(blocks)
            if blocks:
                _accumulate(blocks[-1])
            log.hi_seq, log.hi_ts = hi_seq, hi_ts
            log._committed_last_msg = max((b.last_seq for b in blocks), default=0)
            return Recovery([], hi_seq, hi_ts, checkpoint_current=True, problems=problems)
    log.meta_once.clear()  # not current: the store will not load it
    return _scan(log, block_ids, problems, lost | repair, ck_hi, index_ok)


def _scan(
    log: FileLog,
    block_ids: list[int],
    problems: list[str],
    lost: set[str],
    ck_hi: tuple[int, int],
    index_ok: bool,
) -> Recovery:
    d = log.directory
    subjects: dict[bytes, int] = {}
    rsize = _size_fn()
    scans: list[BlockScan] = []
    blocks: list[Block] = []
    corrupt: list[int] = []
    prev = 0
    hi_seq, hi_ts = ck_hi
    data_meta: dict[bytes, tuple[bytes | None, int]] = {}
    last_buf = b""
    for bid in block_ids:
        b = Block(d, bid)
        with open(b.path, "rb") as f:
            buf = f.read()
        sc = None
        if bid != block_ids[-1]:
            sc = _from_sidecar(b.path, buf, prev)
        if sc is None:
            sc = scan_block(buf, subjects, rsize, prev)
            if sc.data_end < len(buf) and not (sc.bad and sc.bad[-1].tail):  # (see scan)
                buf = _cut_zeros(b.path, buf, sc.data_end)
            if bid != block_ids[-1] and not sc.bad:
                _write_sidecar(b, sc, list(subjects), buf)  # so the next recovery need not scan
            elif bid != block_ids[-1]:
                _sidecar_fallback(b.path, sc, len(buf))
        else:
            log.sidecars_used += 1
        if bid == block_ids[-1]:
            last_buf = buf
        b.size = len(buf)
        b.first_seq, b.offs = sc.first_seq, sc.offs
        b.live = len(b.offs) - b.offs.count(DEAD)
        b.min_target = min((r[0] for r in sc.removals), default=NO_TARGET)
        if sc.first_seq:
            prev = max(prev, b.last_seq)
        if sc.hi_seq > hi_seq:
            hi_seq, hi_ts = sc.hi_seq, sc.hi_ts
        for k, v, g in sc.metas:
            if g >= data_meta.get(k, (None, -1))[1]:
                data_meta[k] = (v, g)
        blocks.append(b)
        scans.append(sc)
    for i, (b, sc) in enumerate(zip(blocks, scans, strict=True)):
        for bad in sc.bad:
            if bad.tail and i == len(blocks) - 1:
                b.size = bad.start
                known = bad.seq == bad.prev_seq + 1
                if known and bad.whole:
                    corrupt.append(bad.seq)
                if known and bad.seq > hi_seq:
                    hi_seq, hi_ts = bad.seq, 0  # never hand that sequence out again
                problems.append(_torn_line(bad, block_name(b.id), known))
                with open(b.path, "r+b") as f:
                    f.truncate(b.size)
                    os.fsync(f.fileno())
                continue
            if bad.tail:  # the end of an older block: the next good one is in a later block
                bad.next_seq = next((x.first_seq for x in blocks[i + 1 :] if x.first_seq), 0)
                if bad.next_seq and bad.next_seq - bad.prev_seq - 1 <= MAX_GUESS:
                    bad.seqs = list(range(bad.prev_seq + 1, bad.next_seq))
                elif bad.seq > bad.prev_seq and (not bad.next_seq or bad.seq < bad.next_seq):
                    bad.seqs = [bad.seq]
            corrupt.extend(bad.seqs)
            problems.append(_corrupt_line(bad, block_name(b.id)))
        for first, last, _h, _t in sc.restored:
            what = f"sequence {first}" if first == last else f"sequences {first}..{last}"
            problems.append(
                f"removal of {what} in {block_name(b.id)}: its record is corrupt, "
                f"restored from its other copy"
            )
    log.set_blocks(blocks)
    singles: list[int] = []
    for sc in scans:
        for first, last, _h, _t in sc.removals:
            if first == last:
                singles.append(first)
            else:
                log.kill(first, last)
    singles.sort()
    log.kill_seqs(singles)  # (one bisect per run of them in a block, not per removal)
    if blocks and not scans[-1].bad:
        blocks[-1].acc = BlockAcc.from_scan(scans[-1], list(subjects), last_buf[: blocks[-1].size])
    log.hi_seq, log.hi_ts = hi_seq, hi_ts
    log._committed_last_msg = prev
    for key in sorted(lost):
        found = data_meta.get(key.encode())
        both = key not in log.meta_gen
        if found is not None and (both or found[1] > log.meta_gen[key]):
            value, gen = found
            log.meta_small[key] = value
            log.meta_gen[key] = gen
            problems.append(f"metadata {key!r}: rebuilt from the copy kept in the data")
        elif both and not key.startswith("~") and key != "index":
            problems.append(f"metadata {key!r}: lost (no copy in the data)")
            continue
        elif both:
            continue
        log.put_meta(key, log.meta_small.get(key))  # rewrite the bad copies
        if both:
            log.meta_twice.add(key)
    current = index_ok and _current(log, blocks)
    names = [n.decode("utf-8", "surrogateescape") for n in subjects]
    return Recovery(
        _records(blocks, scans, names),
        hi_seq,
        hi_ts,
        checkpoint_current=current,
        problems=problems,
        corrupt=sorted(set(corrupt)),
    )


#: RecordMeta is a frozen dataclass: its generated ``__init__`` goes through
#: ``object.__setattr__`` per field, a few microseconds each under load.  The scan
#: builds millions, so it builds a block's worth at a time with C-level loops: the
#: instances with ``object.__new__``, then every slot filled by ``map`` over the slot
#: descriptor's ``__set__`` and the block's arrays (same class, still frozen).
_SET = tuple(RecordMeta.__dict__[f].__set__ for f in ("seq", "ts", "subject", "size", "ttl"))


def _records(blocks: list[Block], scans: list[BlockScan], names: list[str]) -> Iterator[RecordMeta]:
    """Every live record's meta, in sequence order (the scan's arrays freed as it goes)."""
    set_seq, set_ts, set_subject, set_size, set_ttl = _SET
    for i, (b, sc) in enumerate(zip(blocks, scans, strict=True)):
        subj = (
            names if sc.names is None else [n.decode("utf-8", "surrogateescape") for n in sc.names]
        )
        n = len(b.offs)
        paused = gc.isenabled()
        gc.disable()  # (tens of thousands of new objects, no cycles: the collector only costs)
        live = list(map(ne, b.offs, repeat(DEAD, n)))
        seqs = list(compress(range(b.first_seq, b.first_seq + n), live))
        metas = list(map(object.__new__, repeat(RecordMeta, len(seqs))))
        drain(map(set_seq, metas, seqs))
        drain(map(set_ts, metas, compress(sc.ts, live)))
        drain(map(set_subject, metas, map(subj.__getitem__, compress(sc.sid, live))))
        drain(map(set_size, metas, compress(sc.size, live)))
        if sc.ttls:
            drain(map(set_ttl, metas, map(sc.ttls.get, seqs, repeat(0))))
        else:
            drain(map(set_ttl, metas, repeat(0, len(metas))))
        scans[i] = BlockScan()
        if paused:
            gc.enable()
        yield from metas


def drain(it: Iterator[object]) -> None:
    """Run an iterator to its end in C."""
    deque(it, maxlen=0)


def _accumulate(b: Block) -> None:
    """Rebuild the active block's accumulator (one block scanned) so it gets a sidecar."""
    with open(b.path, "rb") as f:
        buf = f.read()
    subjects: dict[bytes, int] = {}
    sc = scan_block(buf, subjects, _size_fn())
    if not sc.bad and sc.first_seq == b.first_seq and len(sc.offs) == len(b.offs):
        b.acc = BlockAcc.from_scan(sc, list(subjects), buf)


def _write_sidecar(b: Block, sc: BlockScan, names: list[bytes], buf: bytes) -> None:
    """Write the sidecar of a sealed block that had to be scanned (best effort, unsynced)."""
    acc = BlockAcc.from_scan(sc, names, buf)
    if acc is None:
        return
    parts = encode_sidecar(acc, len(buf), sc.first_seq, sc.offs)
    with contextlib.suppress(OSError), open(b.path[:-4] + ".idx", "wb") as f:
        f.writelines(parts)


def _sidecar_fallback(path: str, sc: BlockScan, size: int) -> None:
    """Merge into ``sc`` (a sealed block scanned with corruption) its intact sidecar's removals."""
    try:
        with open(path[:-4] + ".idx", "rb") as f:
            data = f.read()
    except OSError:
        return
    removals = sidecar_removals(data, size)
    if removals:
        merge_removals(sc, removals)


def _from_sidecar(path: str, buf: bytes, prev: int) -> BlockScan | None:
    """The block's sidecar as a scan result, when it is intact and matches ``buf``."""
    try:
        with open(path[:-4] + ".idx", "rb") as f:
            data = f.read()
    except OSError:
        return None
    got = decode_sidecar(data, buf)
    if got is None:
        return None
    sc, names = got
    if sc.first_seq and sc.first_seq <= prev:
        return None
    sc.names = names
    return sc


def _cut_zeros(path: str, buf: bytes, end: int) -> bytes:
    """Cut the zeros after a block's last record (its space allocated ahead, not cut back
    before a crash): no data is lost, so it is not reported.  Returns the data."""
    with open(path, "r+b") as f:
        f.truncate(end)
        os.fsync(f.fileno())
    return buf[:end]


def _torn_line(bad: BadRegion, name: str, known: bool) -> str:
    if known and bad.whole:
        what = f"a whole record of sequence {bad.seq} failing its checksum"
    else:
        what = "a partial write" + (f" of sequence {bad.seq}" if known else "")
    return f"truncated a torn record of {bad.end - bad.start} bytes at the end of {name} ({what})"


def _corrupt_line(bad: BadRegion, name: str) -> str:
    where = f"{bad.end - bad.start} bytes at offset {bad.start} of {name}"
    if bad.seqs:
        return f"corrupt record, sequence {', '.join(map(str, bad.seqs))}: {where} skipped"
    lo, hi = bad.prev_seq + 1, bad.next_seq - 1
    if (bad.next_seq and hi < lo) or bad.removal:
        around = (
            f"between sequences {bad.prev_seq} and {bad.next_seq}"
            if bad.next_seq
            else f"after sequence {bad.prev_seq}"
        )
        return (
            f"corrupt record {around} (no message "
            f"is missing: a removal or metadata record, which has another copy): {where} skipped"
        )
    seqs = f"sequences {lo}..{hi}" if bad.next_seq else f"sequences after {bad.prev_seq}"
    return f"corrupt region ({seqs} unreadable, if they held messages): {where} skipped"


def _end(blocks: list[Block]) -> tuple[int, int]:
    return (blocks[-1].id, blocks[-1].size) if blocks else (0, 0)


def _current(log: FileLog, blocks: list[Block]) -> bool:
    """Whether the store's index checkpoint was written at the data's end (and is the one read)."""
    bid, off, gen = log.index_pos
    return (bid, off) == _end(blocks) and gen == log.meta_gen.get("index", -1)


def _open_aux(log: FileLog, problems: list[str]) -> None:
    log.journal.open(problems)
    for name in log.journal.entries:
        log.aux[name] = JournalAux(log.journal, name)


def write_checkpoint(log: FileLog) -> None:
    """Write the block-index checkpoint (at a clean close, in a thread)."""
    if not log.blocks and not log.meta_gen:
        return
    if log.blocks:
        trim(log.blocks[-1])  # (its space allocated ahead: the checkpoint says where it ends)
    gen = log.meta_gen.get("~blocks", 0) + 1
    data = encode_checkpoint(log.blocks, log.hi_seq, log.hi_ts)
    created = write_meta_copy(log.directory, "~blocks", gen, data)
    log.meta_gen["~blocks"] = gen
    if created:
        fd = os.open(log.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_all(directory: str) -> None:
    """Delete every file of a log and its directory."""
    if not os.path.isdir(directory):
        return
    for fn in os.listdir(directory):
        os.unlink(os.path.join(directory, fn))
    with contextlib.suppress(OSError):
        os.rmdir(directory)


__all__ += ["meta_paths"]
