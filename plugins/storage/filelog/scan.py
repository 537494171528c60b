"""The recovery scanner: verify every record of a block and resynchronise past corruption.

A block is read whole (one ``pread``) and walked record by record with one
``unpack_from`` and one checksum (xxh3_64; blake2b in older records) per record.
A record that fails (bad magic, an
implausible length, a checksum mismatch) starts a *bad region*; the scanner looks
for the next offset where the magic is found, the header's lengths are plausible,
the checksum of the record it describes validates and its sequence is above the
last good one (``bytes.find`` for the magic, then the checks).  Everything in
between is reported, with the sequence when it can be told: the bad header's own
sequences missing between its good neighbours (message records are written in
sequence order and removals are records of their own, so nothing else leaves a
gap but ``skip_msgs`` and failed commits), else the bad header's own sequence
when it lies between them.  So a flipped bit in a length field costs
that record only, never the rest of the block.  A bad region that reaches the end
of the newest block is a torn tail (a partial write): the caller truncates it.
Zeros after the last record are no corruption: the block was allocated ahead of
its data (see :mod:`.blocks`) and not cut back before a crash; ``data_end`` says
where the data ends.

Removals are written twice in their group (the record, then a ``FLAG_ECHO`` copy
at the group's end, in the same block): the scan keeps the first copy it finds,
and a second copy whose first was lost to corruption goes into ``restored``.  A
``SET`` record (a group's single removals in one record) yields one removal per
sequence, as its ``DEL`` records would have.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import blake2b

from natskern.plugins.storage.filelog.codec import (
    DEL,
    ERASED,
    FLAG_ECHO,
    FLAG_HEADERS,
    FLAG_XXH3,
    HEADER,
    KINDS,
    MAGIC,
    MAGIC_BYTES,
    MAX_RECORD,
    META,
    MSG,
    OVERHEAD,
    RANGE,
    SET,
    checksum_ok,
    decode_removal_hint,
    removal_set_members,
)
from xxhash import xxh3_64_digest as xxh3

__all__ = ["BadRegion", "BlockScan", "merge_removals", "scan_block"]

DEAD = 0xFFFFFFFF
#: The length of a removal record (header, hint, checksum).
REMOVAL_SIZE = OVERHEAD + 8
#: A gap between good neighbours up to this long is reported sequence by sequence.
MAX_GUESS = 1024


@dataclass(slots=True)
class BadRegion:
    """Bytes ``start..end`` of a block failed their checksums."""

    start: int
    end: int
    #: The sequence in the bad record's header (0 when there was no header); untrusted.
    seq: int = 0
    #: The good sequences around it (for the report).
    prev_seq: int = 0
    next_seq: int = 0
    #: True when it runs to the end of the block (a torn tail in the newest block).
    tail: bool = False
    #: The bad record's header had the magic and a length that fits the block (a whole
    #: record that fails its checksum, rather than a partial write).
    whole: bool = False
    #: The sequences the region held, as far as they can be told (see :func:`scan_block`).
    seqs: list[int] = field(default_factory=list)
    #: The region is exactly one removal record (its header's kind and length say so):
    #: no message was lost there, and the removal has its other copy.
    removal: bool = False


@dataclass(slots=True)
class BlockScan:
    """What one block holds, as found by :func:`scan_block`."""

    #: Sequence of slot 0 (0: the block holds no message).
    first_seq: int = 0
    #: Record offset per sequence ``first_seq + i`` (``DEAD`` for a gap).
    offs: array = field(default_factory=lambda: array("I"))
    #: Per slot: timestamp, subject id (into ``subjects``), stored size.
    ts: array = field(default_factory=lambda: array("q"))
    sid: array = field(default_factory=lambda: array("I"))
    size: array = field(default_factory=lambda: array("I"))
    #: Per-message TTLs that are not 0, by sequence.
    ttls: dict[int, int] = field(default_factory=dict)
    #: Removals in log order: (first, last, hint_seq, hint_ts).
    removals: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: Removals only their second copy (``FLAG_ECHO``) held: the first was corrupt.
    restored: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: Metadata records in log order: (key, value or None, generation).
    metas: list[tuple[bytes, bytes | None, int]] = field(default_factory=list)
    bad: list[BadRegion] = field(default_factory=list)
    #: Where the last good record ends.
    end: int = 0
    #: Where the block's data ends: its length, less the zeros after the last record of
    #: a block that was allocated ahead and not cut back (a crash); -1 until scanned.
    data_end: int = -1
    #: The subject names ``sid`` indexes when they are the block's own (from a sidecar);
    #: None: the ids are the scan's shared ones.
    names: list[bytes] | None = None
    #: Highest sequence seen (messages, erased, removals and their hints) and its ts.
    hi_seq: int = 0
    hi_ts: int = 0


def _valid_at(buf: bytes, mv: memoryview, pos: int, n: int, floor: int) -> bool:
    """Whether a whole, checksum-valid record with a sequence above ``floor`` starts at ``pos``."""
    if n - pos < OVERHEAD:
        return False
    magic, kind, flags, total, seq, _ts, _ttl, slen, hlen = HEADER.unpack_from(buf, pos)
    if magic != MAGIC or kind not in KINDS or total < OVERHEAD or total > MAX_RECORD:
        return False
    end = pos + total
    if end > n or OVERHEAD + slen + hlen > total:
        return False
    if kind in (MSG, ERASED) and seq <= floor:
        return False
    return checksum_ok(mv[pos : end - 8], flags, buf[end - 8 : end])


def scan_block(
    buf: bytes,
    subjects: dict[bytes, int],
    record_size: Callable[[int, int, int], int],
    prev_seq: int = 0,
) -> BlockScan:
    """Verify and index every record of ``buf`` (a whole block file).

    ``subjects`` interns subject bytes to ids across blocks (the caller keeps the
    reverse list); ``record_size(subject_len, headers_len, payload_len)`` is the
    stored size the stream counts; ``prev_seq`` the last good message sequence of the
    blocks before.
    """
    res = BlockScan()
    offs, tss, sids, sizes = res.offs, res.ts, res.sid, res.size
    offs_append, ts_append, sid_append, size_append = (
        offs.append,
        tss.append,
        sids.append,
        sizes.append,
    )
    unpack = HEADER.unpack_from
    mv = memoryview(buf)
    n = len(buf)
    pos = 0
    first = 0
    last = prev_seq
    hi_seq = hi_ts = 0
    rsize = record_size
    bad_start = -1
    bad_seq = 0
    bad_whole = False
    bad_removal = 0  # the length of the bad record when it is a whole removal's
    bad_end = 0  # where the bad record would end, by its length field
    echoes: list[tuple[int, int, int, int]] = []
    while pos < n:
        ok = False
        if n - pos >= OVERHEAD:
            magic, kind, flags, total, seq, ts, ttl, slen, hlen = unpack(buf, pos)
            end = pos + total
            if (
                magic == MAGIC
                and OVERHEAD <= total <= MAX_RECORD
                and end <= n
                and OVERHEAD + slen + hlen <= total
                and (
                    xxh3(mv[pos : end - 8]) == buf[end - 8 : end]
                    if flags & FLAG_XXH3
                    else blake2b(mv[pos : end - 8], digest_size=8).digest() == buf[end - 8 : end]
                )
            ):
                ok = (
                    (kind == MSG and seq > last)
                    or kind in (DEL, RANGE, ERASED, META)
                    or (kind == SET and total > REMOVAL_SIZE and (total - REMOVAL_SIZE) % 8 == 0)
                )
            elif bad_start < 0 and magic == MAGIC:
                bad_seq = seq
                bad_whole = end <= n
                bad_end = end
                if kind in (DEL, RANGE):
                    bad_removal = REMOVAL_SIZE if total == REMOVAL_SIZE else 0
                else:
                    bad_removal = total if kind == SET and total >= REMOVAL_SIZE + 8 else 0
        if not ok:
            if bad_start < 0 and not buf[pos] and buf.count(0, pos) == n - pos:
                res.data_end = pos  # zeros allocated ahead: the data's end
                break
            if bad_start < 0:
                bad_start = pos
            nxt = buf.find(MAGIC_BYTES, pos + 1)
            while nxt >= 0 and not _valid_at(buf, mv, nxt, n, last):
                nxt = buf.find(MAGIC_BYTES, nxt + 1)
            if nxt < 0:
                # a torn write into space allocated ahead is followed by its zeros
                stop = bad_start + len(buf[bad_start:].rstrip(b"\0"))
                res.data_end = stop
                res.bad.append(
                    BadRegion(
                        bad_start,
                        stop,
                        bad_seq,
                        last,
                        0,
                        tail=True,
                        whole=bad_whole and bad_end <= stop,
                    )
                )
                break
            pos = nxt
            continue
        if bad_start >= 0:
            nseq = seq if kind in (MSG, ERASED) else 0
            if nseq and nseq - last - 1 <= MAX_GUESS:
                # message records are contiguous in sequence (removals are separate
                # records), so what is missing between the good neighbours was here
                guess = list(range(last + 1, nseq))
            elif (
                last < bad_seq
                and (nseq == 0 or bad_seq < nseq)
                and not (bad_removal and pos - bad_start == bad_removal)
            ):  # (a removal's own sequence is not a message's: its seq field may be the flip)
                guess = [bad_seq]
            else:
                guess = []
            one_removal = bool(bad_removal) and pos - bad_start == bad_removal
            res.bad.append(
                BadRegion(bad_start, pos, bad_seq, last, nseq, seqs=guess, removal=one_removal)
            )
            bad_start = -1
            bad_seq = 0
            bad_whole = False
            bad_removal = 0
        if kind == MSG:
            if first == 0:
                first = seq
            else:
                gap = seq - first - len(offs)
                if gap:
                    offs.extend(array("I", [DEAD]) * gap)
                    tss.extend(array("q", [0]) * gap)
                    sids.extend(array("I", [0]) * gap)
                    sizes.extend(array("I", [0]) * gap)
            offs_append(pos)
            ts_append(ts)
            s0 = pos + HEADER.size
            subj = buf[s0 : s0 + slen]
            sid = subjects.get(subj)
            if sid is None:
                sid = subjects[subj] = len(subjects)
            sid_append(sid)
            size_append(
                rsize(slen, hlen if flags & FLAG_HEADERS else -1, total - OVERHEAD - slen - hlen)
            )
            if ttl:
                res.ttls[seq] = ttl
            last = seq
            if seq > hi_seq:
                hi_seq, hi_ts = seq, ts
        elif kind in (DEL, RANGE):
            hint = decode_removal_hint(buf, pos)
            (echoes if flags & FLAG_ECHO else res.removals).append(
                (seq, ttl if kind == RANGE else seq, hint, ts)
            )
            top = max(hint, ttl if kind == RANGE else seq)
            if top > hi_seq:
                hi_seq, hi_ts = top, ts
        elif kind == SET:  # one entry per sequence, as if each had its DEL record
            hint = decode_removal_hint(buf, pos)
            into = echoes if flags & FLAG_ECHO else res.removals
            into.extend([(s, s, hint, ts) for s in removal_set_members(buf, pos, total)])
            top = max(hint, ttl)
            if top > hi_seq:
                hi_seq, hi_ts = top, ts
        elif kind == ERASED:
            last = max(last, seq)
            if seq > hi_seq:
                hi_seq, hi_ts = seq, ts
        else:  # META
            k0 = pos + HEADER.size
            key = buf[k0 : k0 + slen]
            value = buf[k0 + slen : end - 8] if flags & FLAG_HEADERS else None
            res.metas.append((key, value, seq))
        pos = end
        res.end = pos
    if res.data_end < 0:
        res.data_end = n
    res.first_seq = first
    res.hi_seq, res.hi_ts = hi_seq, hi_ts
    if echoes:
        merge_removals(res, echoes)
    return res


def merge_removals(res: BlockScan, copies: list[tuple[int, int, int, int]]) -> None:
    """Add the removals of ``copies`` that ``res`` lacks (their first copy was lost) to it."""
    have = {(r[0], r[1]) for r in res.removals}
    for r in copies:
        if (r[0], r[1]) not in have:
            have.add((r[0], r[1]))
            res.removals.append(r)
            res.restored.append(r)
