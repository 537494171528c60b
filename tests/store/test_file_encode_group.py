"""encode_group builds exactly the records codec.encode_msg describes, with the columns to match.

encode_group builds a group's message records inline, column by column (the file
store's cost per message at commit), not through ``codec.encode_msg``; these tests
hold the two to the same bytes for every kind of message a run can hold (no
headers, an empty header block, headers, a TTL, a payload large enough to be a
part of its own, a non-ASCII subject), and check the columns the index is built
from: offsets, stored sizes (the kernel's ``record_size``), sequences, times,
subjects, and the group's high-water mark when a message is erased in the very
group that staged it.
"""

from __future__ import annotations

from natskern.kernel.store.api import StoredMsg
from natskern.kernel.store.base import record_size
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.codec import encode_msg
from natskern.plugins.storage.filelog.group import _BIG_PAYLOAD, encode_group

_T0 = 1_700_000_000_000_000_000


def _messages() -> list[tuple[StoredMsg, int]]:
    big = bytes(range(256)) * (_BIG_PAYLOAD // 256 + 3)
    out: list[tuple[StoredMsg, int]] = []
    shapes = [
        ("plain.a", None, b"x" * 40, 0),
        ("plain.b", None, b"", 0),
        ("empty.hdrs", b"", b"payload", 0),
        ("hdrs", b"NATS/1.0\r\nNats-Msg-Id: 7\r\n\r\n", b"y" * 300, 0),
        ("ttl.one", None, b"expires", 5_000_000_000),
        ("ttl.two", b"NATS/1.0\r\nA: b\r\n\r\n", b"z", 5_000_000_000),
        ("big.plain", None, big, 0),
        ("big.hdrs", b"NATS/1.0\r\nA: b\r\n\r\n", big, 0),
        ("sübject.ünicode", None, b"u" * 17, 0),
        ("plain.a", None, b"again", 0),
    ]
    for i, (subject, headers, payload, ttl) in enumerate(shapes):
        out.append((StoredMsg(subject, i + 1, _T0 + i, headers, payload), ttl))
    return out


async def test_records_and_columns_match_the_codec(tmp_path) -> None:
    log = FileLog(str(tmp_path / "s"))
    await log.open()
    try:
        msgs = _messages()
        for m, ttl in msgs:
            log.append(m, ttl)
        g = encode_group(log, log._ops, {}, {})
        want = [
            encode_msg(m.seq, m.ts, ttl, m.subject.encode(), m.headers, m.payload)
            for m, ttl in msgs
        ]
        data = b"".join(g.iov)
        assert data == b"".join(want)
        assert g.size == len(data)
        # the large payloads are parts of their own, not copied into a joined part
        assert any(part is msgs[6][0].payload for part in g.iov)
        offs, at = [], 0
        for rec in want:
            offs.append(at)
            at += len(rec)
        assert g.offs == offs
        assert g.seqs == [m.seq for m, _ in msgs]
        assert g.tss == [m.ts for m, _ in msgs]
        assert g.subjs == [m.subject.encode() for m, _ in msgs]
        assert g.sizes == [record_size(m.subject, m.headers, m.payload) for m, _ in msgs]
        assert g.ttls == {m.seq: ttl for m, ttl in msgs if ttl}
        assert (g.hi_seq, g.hi_ts) == (10, _T0 + 9)
    finally:
        await log.close()


async def test_a_message_erased_in_its_own_group_is_not_written(tmp_path) -> None:
    log = FileLog(str(tmp_path / "s"))
    await log.open()
    try:
        msgs = [StoredMsg(f"s.{i}", i, _T0 + i, None, b"p%d" % i) for i in range(1, 6)]
        for m in msgs:
            log.append(m)
        log.remove(5, erase=True)  # the newest: still the group's high-water mark
        log.remove(2, erase=True)
        g = encode_group(log, log._ops, {}, {})
        kept = [m for m in msgs if m.seq not in (2, 5)]
        records = [encode_msg(m.seq, m.ts, 0, m.subject.encode(), None, m.payload) for m in kept]
        assert b"".join(g.iov).startswith(b"".join(records))
        assert g.seqs == [1, 3, 4]
        assert g.offs == [0, len(records[0]), len(records[0]) + len(records[1])]
        assert g.sizes == [record_size(m.subject, None, m.payload) for m in kept]
        assert (g.hi_seq, g.hi_ts) == (5, _T0 + 5)
        assert [r[:2] for r in g.removals] == [(5, 5), (2, 2)]
    finally:
        await log.close()
