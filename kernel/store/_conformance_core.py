"""Conformance tests, part 1: storing, reading, state, removals (see ``conformance.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

from natskern.kernel.store.api import SimpleState, StoreConfig, StoredMsg, StreamStore
from natskern.kernel.store.base import record_size

__all__ = ["Base", "CoreTests"]

Opener = Any


class Base:
    """What the test mixins rely on (provided by ``StoreConformance``)."""

    restart_supported = True

    def msg_size(self, subject: str, headers: bytes | None, payload: bytes) -> int:
        """The size the backend's ``bytes`` counts for one message: nats-server's
        file-store formula (:func:`~natskern.kernel.store.base.record_size`) unless the
        backend's test class says otherwise (the memory backend counts nats-server's
        memory-store size)."""
        return record_size(subject, headers, payload)

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        """Open a store (the backend's subclass provides it)."""
        raise NotImplementedError

    async def reopen(self, opener: Opener, store: StreamStore, **fields: Any) -> StreamStore:
        """Close and open again."""
        raise NotImplementedError


async def fill(store: StreamStore, subjects: list[str], n: int) -> list[int]:
    """Store ``n`` messages cycling through ``subjects`` (payload = index); return seqs."""
    out = []
    for i in range(n):
        seq, _ = await store.store_msg(subjects[i % len(subjects)], None, str(i).encode())
        out.append(seq)
    return out


class CoreTests(Base):
    """Store, load, read by filter, state, removals, purge, compact, truncate, skip."""

    async def test_store_and_load(self, opener: Opener) -> None:
        s = await opener()
        seq, ts = await s.store_msg("a.b", b"NATS/1.0\r\nX: 1\r\n\r\n", b"hello")
        assert seq == 1 and ts > 0
        seq2, ts2 = await s.store_msg("a.c", None, b"")
        assert seq2 == 2 and ts2 >= ts
        m = await s.load_msg(1)
        assert m == StoredMsg("a.b", 1, ts, b"NATS/1.0\r\nX: 1\r\n\r\n", b"hello")
        m2 = await s.load_msg(2)
        assert m2 is not None and m2.payload == b"" and not m2.headers
        assert await s.load_msg(3) is None and await s.load_msg(0) is None
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (2, 1, 2)
        assert (st.first_ts, st.last_ts, st.num_subjects, st.num_deleted) == (ts, ts2, 2, 0)
        assert st.bytes == self.msg_size(
            "a.b", b"NATS/1.0\r\nX: 1\r\n\r\n", b"hello"
        ) + self.msg_size("a.c", None, b"")

    async def test_empty_state(self, opener: Opener) -> None:
        s = await opener()
        st = s.state()
        assert (st.messages, st.bytes, st.first_seq, st.last_seq) == (0, 0, 0, 0)
        assert await s.load_next_msg(">", 0) is None and await s.load_last_msg(">") is None
        assert s.subjects_state() == {} and s.num_pending(0) == 0

    async def test_first_seq(self, opener: Opener) -> None:
        s = await opener(first_seq=100)
        st = s.state()
        assert (st.first_seq, st.last_seq) == (100, 99)
        assert (await s.store_msg("x", None, b""))[0] == 100

    async def test_sequences_never_reused(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a"], 5)
        assert await s.purge() == 5
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq, st.first_ts) == (0, 6, 5, 0)
        assert (await s.store_msg("a", None, b""))[0] == 6
        assert await s.remove_msg(6)
        s = await self.reopen(opener, s)
        assert s.state().last_seq == 6
        assert (await s.store_msg("a", None, b""))[0] == 7

    async def test_load_next_with_filters(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a.x", "b.x", "a.y", "a.y.z"], 12)
        for flt, start, want in [
            ("a.x", 1, 1),
            ("a.x", 2, 5),
            ("a.*", 2, 3),
            ("a.>", 4, 4),
            ("*.x", 3, 5),
            (">", 7, 7),
            ("", 12, 12),
            ("a.y.z", 9, 12),
            ("c", 1, 0),
            ("a.x", 10, 0),
        ]:
            m = await s.load_next_msg(flt, start)
            assert (m.seq if m else 0) == want, (flt, start)
        m = await s.load_next_msg("b.x", 0)
        assert m is not None and m.subject == "b.x" and m.payload == b"1"

    async def test_load_last_with_filters(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a.x", "b.x", "a.y"], 7)
        for flt, want in [("a.x", 7), ("b.x", 5), ("a.*", 7), ("*.y", 6), (">", 7), ("z", 0)]:
            m = await s.load_last_msg(flt)
            assert (m.seq if m else 0) == want, flt
        await s.remove_msg(7)
        m = await s.load_last_msg("a.x")
        assert m is not None and m.seq == 4

    async def test_filtered_and_subjects_state(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a.x", "b.x", "a.y"], 9)
        assert s.filtered_state("a.x") == SimpleState(3, 1, 7)
        assert s.filtered_state("a.*") == SimpleState(6, 1, 9)
        assert s.filtered_state("a.*", 4) == SimpleState(4, 4, 9)
        assert s.filtered_state(">", 8) == SimpleState(2, 8, 9)
        assert s.filtered_state("zz") == SimpleState(0, 0, 0)
        assert s.filtered_state("b.x", 9) == SimpleState(0, 0, 0)
        assert s.subjects_state() == {
            "a.x": SimpleState(3, 1, 7),
            "b.x": SimpleState(3, 2, 8),
            "a.y": SimpleState(3, 3, 9),
        }
        assert s.subjects_state("*.x") == {"a.x": SimpleState(3, 1, 7), "b.x": SimpleState(3, 2, 8)}
        await s.purge("b.x")
        assert "b.x" not in s.subjects_state() and s.state().num_subjects == 2

    async def test_num_pending(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a.x", "b.x", "a.y"], 9)
        assert s.num_pending(1) == 9 and s.num_pending(5) == 5 and s.num_pending(5, ">") == 5
        assert s.num_pending(2, "a.*") == 5 and s.num_pending(0, "b.x") == 3
        assert s.num_pending(1, "a.*", last_per_subject=True) == 2
        assert s.num_pending(9, ">", last_per_subject=True) == 1
        assert s.num_pending(10) == 0

    async def test_remove_msg(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 6)
        assert await s.remove_msg(3) and await s.remove_msg(1, erase=True)
        assert not await s.remove_msg(3) and not await s.remove_msg(99)
        assert await s.load_msg(3) is None
        st = s.state(deleted_details=True)
        assert (st.messages, st.first_seq, st.last_seq, st.num_deleted) == (4, 2, 6, 1)
        assert st.deleted == [3]
        assert s.filtered_state("a") == SimpleState(1, 5, 5)
        assert await s.remove_msg(6)
        st = s.state()
        assert (st.last_seq, st.num_deleted) == (6, 2)
        assert s.subjects_state("b") == {"b": SimpleState(2, 2, 4)}

    async def test_has_msg(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 6)
        assert [s.has_msg(q) for q in range(8)] == [False] + [True] * 6 + [False]
        await s.remove_msg(3)
        await s.purge("b")  # (2, 4 and 6)
        assert [q for q in range(1, 7) if s.has_msg(q)] == [1, 5]
        await s.compact(5)
        assert [q for q in range(1, 7) if s.has_msg(q)] == [5]

    async def test_purge_variants(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a.1", "a.2", "b"], 12)
        assert await s.purge("a.1", keep=1) == 3
        assert s.filtered_state("a.1") == SimpleState(1, 10, 10)
        assert await s.purge("a.*", seq=8) == 2  # a.2 at 2 and 5
        assert s.filtered_state("a.2") == SimpleState(2, 8, 11)
        assert await s.purge(seq=4) == 1  # b at 3
        assert await s.purge(keep=3) == 3
        assert [m.seq for m in [await s.load_next_msg(">", 0)] if m] == [10]
        assert await s.purge("b") == 1
        assert await s.purge() == 2
        st = s.state()
        assert (st.messages, st.bytes, st.first_seq, st.last_seq) == (0, 0, 13, 12)
        assert await s.purge() == 0

    async def test_compact(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 10)
        assert await s.compact(4) == 3
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (7, 4, 10)
        assert await s.compact(20) == 7
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (0, 20, 19)
        assert (await s.store_msg("a", None, b""))[0] == 20

    async def test_truncate(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 10)
        await s.truncate(6)
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (6, 1, 6)
        assert await s.load_msg(7) is None and s.filtered_state("b") == SimpleState(3, 2, 6)
        m = await s.load_last_msg("a")
        assert m is not None and m.seq == 5
        seq, _ = await s.store_msg("a", None, b"")
        assert seq > 6

    async def test_skip_msgs(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a"], 2)
        await s.skip_msgs(3, 5)
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (2, 1, 7)
        assert (await s.store_msg("a", None, b""))[0] == 8
        await s.purge()
        await s.skip_msgs(0, 2)
        st = s.state()
        assert (st.first_seq, st.last_seq) == (11, 10)
        s = await self.reopen(opener, s)
        assert s.state().last_seq == 10 and (await s.store_msg("a", None, b""))[0] == 11

    async def test_concurrent_appends_and_reads(self, opener: Opener) -> None:
        s = await opener()
        n = 400

        async def reader() -> int:
            seen = 0
            for _ in range(50):
                m = await s.load_last_msg(">")
                seen = max(seen, m.seq if m else 0)
                await asyncio.sleep(0)
            return seen

        tasks = [
            asyncio.create_task(s.store_msg(f"s.{i % 7}", None, str(i).encode())) for i in range(n)
        ]
        readers = [asyncio.create_task(reader()) for _ in range(3)]
        results = await asyncio.gather(*tasks)
        await asyncio.gather(*readers)
        assert [seq for seq, _ in results] == list(range(1, n + 1))
        ts = [t for _, t in results]
        assert ts == sorted(ts)
        for i in (0, 1, n // 2, n - 1):
            m = await s.load_msg(i + 1)
            assert m is not None and m.payload == str(i).encode() and m.subject == f"s.{i % 7}"
        assert s.state().messages == n
        s = await self.reopen(opener, s)
        assert s.state().messages == n and s.num_pending(0, "s.3") == len(range(3, n, 7))
