"""Conformance tests, part 2: limits, expiry, restart, consumers, lazy mode, faults."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from natskern.kernel.store._conformance_core import Base, Opener, fill
from natskern.kernel.store.api import (
    DISCARD_NEW,
    ConsumerState,
    DiscardNewError,
    MaxMsgSizeExceededError,
    PendingAck,
    SimpleState,
    StoreIOError,
    StreamStore,
)

__all__ = ["LifecycleTests", "LimitTests"]

_MS = 1_000_000


async def _until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


class LimitTests(Base):
    """Every limit and discard rule, ``max_age`` on the timer, per-message TTL."""

    async def test_max_msgs_discard_old(self, opener: Opener) -> None:
        s = await opener(max_msgs=3)
        removed: list[tuple[int, str]] = []
        s.on_removal(lambda seq, subj: removed.append((seq, subj)))
        await fill(s, ["a", "b"], 5)
        st = s.state()
        assert (st.messages, st.first_seq, st.last_seq) == (3, 3, 5)
        assert await _until(lambda: len(removed) == 2)
        assert removed == [(1, "a"), (2, "b")]

    async def test_max_msgs_discard_new(self, opener: Opener) -> None:
        s = await opener(max_msgs=2, discard=DISCARD_NEW)
        await fill(s, ["a"], 2)
        with pytest.raises(DiscardNewError) as exc:
            await s.store_msg("a", None, b"x")
        assert (exc.value.err_code, exc.value.code) == (10077, 503)
        assert exc.value.description == "maximum messages exceeded"
        assert s.state().last_seq == 2
        await s.remove_msg(1)
        assert (await s.store_msg("a", None, b""))[0] == 3

    async def test_max_bytes(self, opener: Opener) -> None:
        one = self.msg_size("a", None, b"x" * 10)
        s = await opener(max_bytes=3 * one)
        await fill(s, ["a"], 1)
        for _ in range(4):
            await s.store_msg("a", None, b"x" * 10)
        st = s.state()
        assert (st.bytes, st.messages, st.first_seq, st.last_seq) == (3 * one, 3, 3, 5)

    async def test_max_bytes_discard_new(self, opener: Opener) -> None:
        one = self.msg_size("a", None, b"x" * 10)
        s = await opener(max_bytes=2 * one, discard=DISCARD_NEW)
        await s.store_msg("a", None, b"x" * 10)
        await s.store_msg("a", None, b"x" * 10)
        with pytest.raises(DiscardNewError) as exc:
            await s.store_msg("a", None, b"x")
        assert exc.value.description == "maximum bytes exceeded"
        assert s.state().messages == 2

    async def test_max_msgs_per_subject(self, opener: Opener) -> None:
        s = await opener(max_msgs_per_subject=2)
        await fill(s, ["k.1", "k.2", "k.1", "k.1", "k.1"], 5)
        assert s.subjects_state() == {"k.1": SimpleState(2, 4, 5), "k.2": SimpleState(1, 2, 2)}

    async def test_discard_new_replaces_at_subject_limit(self, opener: Opener) -> None:
        # The KV exception: at max_msgs_per_subject a new message replaces the oldest.
        s = await opener(max_msgs=2, max_msgs_per_subject=1, discard=DISCARD_NEW)
        await s.store_msg("kv.a", None, b"1")
        await s.store_msg("kv.b", None, b"1")
        seq, _ = await s.store_msg("kv.a", None, b"2")
        assert seq == 3 and s.subjects_state()["kv.a"] == SimpleState(1, 3, 3)
        with pytest.raises(DiscardNewError):
            await s.store_msg("kv.c", None, b"1")

    async def test_discard_new_per_subject(self, opener: Opener) -> None:
        s = await opener(max_msgs_per_subject=1, discard=DISCARD_NEW, discard_new_per_subject=True)
        await s.store_msg("kv.a", None, b"1")
        with pytest.raises(DiscardNewError) as exc:
            await s.store_msg("kv.a", None, b"2")
        assert exc.value.description == "maximum messages per subject exceeded"
        await s.store_msg("kv.b", None, b"1")
        assert s.state().messages == 2

    async def test_max_msg_size(self, opener: Opener) -> None:
        s = await opener(max_msg_size=10)
        await s.store_msg("a", b"12345", b"12345")
        with pytest.raises(MaxMsgSizeExceededError) as exc:
            await s.store_msg("a", b"123456", b"12345")
        assert exc.value.err_code == 10054
        assert s.state().messages == 1 and s.state().last_seq == 1

    async def test_update_config_applies_limits(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a"], 10)
        cfg = s.config
        cfg.max_msgs = 4
        await s.update_config(cfg)
        st = s.state()
        assert (st.messages, st.first_seq) == (4, 7)

    async def test_max_age_expires_on_timer(self, opener: Opener) -> None:
        s = await opener(max_age=200 * _MS)
        removed: list[int] = []
        s.on_removal(lambda seq, subj: removed.append(seq))
        await fill(s, ["a", "b"], 3)
        assert s.state().messages == 3
        assert await _until(lambda: s.state().messages == 0)
        assert s.state().first_seq == 4
        assert await _until(lambda: sorted(removed) == [1, 2, 3])

    async def test_ttl(self, opener: Opener) -> None:
        s = await opener(max_age=300 * _MS, allow_msg_ttl=True)
        await s.store_msg("a", None, b"short", ttl=100 * _MS)
        await s.store_msg("a", None, b"never", ttl=-1)
        await s.store_msg("a", None, b"age")
        assert await _until(lambda: s.state().messages == 1)
        m = await s.load_next_msg(">", 0)
        assert m is not None and m.payload == b"never"
        assert s.state().first_seq == 2

    async def test_ttl_survives_restart(self, opener: Opener) -> None:
        s = await opener(allow_msg_ttl=True)
        await s.store_msg("a", None, b"", ttl=300 * _MS)
        await s.store_msg("a", None, b"")
        s = await self.reopen(opener, s, allow_msg_ttl=True)
        assert await _until(lambda: s.state().messages == 1)


class LifecycleTests(Base):
    """Restart, consumer state, config record, lazy mode, delete and the fault hooks."""

    async def corrupt(self, store: StreamStore, directory: str, seq: int) -> None:
        raise NotImplementedError

    async def tear_tail(self, directory: str) -> None:
        raise NotImplementedError

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        raise NotImplementedError

    async def test_restart_keeps_everything(self, opener: Opener) -> None:
        s = await opener(max_msgs_per_subject=5)
        await fill(s, ["a.x", "b.x", "a.y"], 30)
        await s.remove_msg(29)
        before = s.state(deleted_details=True)
        subjects = s.subjects_state()
        s = await self.reopen(opener, s, max_msgs_per_subject=5)
        assert s.state(deleted_details=True) == before
        assert s.subjects_state() == subjects
        m = await s.load_last_msg("a.*")
        assert m is not None and (m.seq, m.subject, m.payload) == (30, "a.y", b"29")
        assert (await s.store_msg("a.x", None, b""))[0] == 31
        assert s.filtered_state("a.x").msgs == 5

    async def test_restart_twice_and_after_removals(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 8)
        await s.purge("a")
        s = await self.reopen(opener, s)
        await s.store_msg("a", None, b"new")
        await s.compact(4)
        before = s.state(deleted_details=True)
        s = await self.reopen(opener, s)
        assert s.state(deleted_details=True) == before
        assert s.filtered_state("a") == SimpleState(1, 9, 9)

    async def test_config_record(self, opener: Opener, directory: str) -> None:
        s = await opener()
        put = getattr(s, "put_meta", None)
        if put is None:
            pytest.skip("store offers no put_meta")
        await put("config", b'{"name":"TEST"}')
        assert await s.get_meta("config") == b'{"name":"TEST"}'  # type: ignore[attr-defined]
        s = await self.reopen(opener, s)
        assert await s.get_meta("config") == b'{"name":"TEST"}'  # type: ignore[attr-defined]

    async def test_consumer_state_round_trip(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a"], 10)
        c = await s.consumer_store("C1")
        await c.update_config(b'{"durable_name":"C1"}')
        for i in range(1, 6):
            await c.update_delivered(i, i, 1, 1000 + i)
        await c.update_acks(1, 1)
        await c.update_acks(3, 3)
        await c.update_delivered(6, 2, 2, 2000)
        st = c.state()
        assert (st.delivered_consumer_seq, st.delivered_stream_seq) == (6, 5)
        assert (st.ack_floor_consumer_seq, st.ack_floor_stream_seq) == (1, 1)
        assert st.pending == {
            2: PendingAck(2, 2000),
            4: PendingAck(4, 1004),
            5: PendingAck(5, 1005),
        }
        assert st.redelivered == {2: 1}
        await c.update_acks(6, 2)
        st = c.state()
        assert (st.ack_floor_consumer_seq, st.ack_floor_stream_seq) == (3, 3)
        assert st.redelivered == {} and set(st.pending) == {4, 5}
        assert s.consumer_names() == ["C1"] and s.state().consumer_count == 1
        s = await self.reopen(opener, s)
        assert s.consumer_names() == ["C1"]
        c = await s.consumer_store("C1")
        assert c.state() == st and c.config() == b'{"durable_name":"C1"}'
        await c.update_acks(4, 4)
        await c.update_acks(5, 5)
        st = c.state()
        assert st.pending == {} and (st.ack_floor_consumer_seq, st.ack_floor_stream_seq) == (6, 5)

    async def test_consumer_close_and_reopen_in_session(self, opener: Opener) -> None:
        s = await opener()
        c = await s.consumer_store("C4")
        await c.update_delivered(1, 1, 1, 10)
        await c.update_delivered(2, 2, 1, 11)
        await c.update_acks(1, 1)
        want = c.state()
        await c.close()
        c = await s.consumer_store("C4")
        assert c.state() == want

    async def test_consumer_update_state_and_delete(self, opener: Opener) -> None:
        s = await opener()
        c = await s.consumer_store("C2")
        new = ConsumerState(9, 20, 7, 18, {8: PendingAck(19, 5)}, {19: 2})
        await c.update_state(new)
        assert c.state() == new
        many = await s.consumer_store("C3")
        for i in range(1, 3001):
            await many.update_delivered(i, i, 1, i)
            if i % 3:
                await many.update_acks(i, i)
        assert len(many.state().pending) == 1000
        s = await self.reopen(opener, s)
        assert (await s.consumer_store("C2")).state() == new
        assert len((await s.consumer_store("C3")).state().pending) == 1000
        await (await s.consumer_store("C2")).delete()
        assert s.consumer_names() == ["C3"]
        s = await self.reopen(opener, s)
        assert s.consumer_names() == ["C3"]

    async def test_consumer_update_many_equals_one_by_one(self, opener: Opener) -> None:
        """``update_many`` (optional: batched deltas) leaves the state the single calls leave,
        before and after a reopen, through the side log's rewrites."""
        s = await opener()
        batched = await s.consumer_store("B")
        if not hasattr(batched, "update_many"):
            pytest.skip("consumer store offers no update_many")
        single = await s.consumer_store("S")
        rng = random.Random(7)
        ops: list[tuple[Any, ...]] = []
        pending: list[tuple[int, int]] = []
        dseq = 0
        for sseq in range(1, 3001):
            dseq += 1
            ops.append(("D", dseq, sseq, 1, sseq * 10))
            pending.append((dseq, sseq))
            if pending and rng.random() < 0.1:  # a redelivery of a pending message
                first, seq = rng.choice(pending)
                dseq += 1
                ops.append(("D", dseq, seq, 2, sseq * 10 + 1))
            while pending and rng.random() < 0.55:  # acks, mostly in order
                first, seq = pending.pop(0 if rng.random() < 0.8 else rng.randrange(len(pending)))
                ops.append(("A", first, seq))
        i = 0
        while i < len(ops):
            n = rng.choice((1, 2, 5, 64, 300))
            batched.update_many(ops[i : i + n])  # type: ignore[attr-defined]
            i += n
        for op in ops:
            if op[0] == "D":
                await single.update_delivered(*op[1:])
            else:
                await single.update_acks(*op[1:])
        want = single.state()
        assert want.pending and batched.state() == want
        s = await self.reopen(opener, s)
        assert (await s.consumer_store("B")).state() == want
        assert (await s.consumer_store("S")).state() == want

    async def test_lazy_mode(self, opener: Opener) -> None:
        s = await opener(sync=50 * _MS)
        await fill(s, ["a"], 20)
        await s.flush()
        assert s.state().messages == 20
        s = await self.reopen(opener, s, sync=50 * _MS)
        assert s.state().messages == 20

    async def test_delete(self, opener: Opener) -> None:
        s = await opener()
        await fill(s, ["a"], 3)
        await s.delete()
        if self.restart_supported:
            s = await opener()
            assert s.state().messages == 0 and s.consumer_names() == []

    # -- faults (opt-in through the hooks) ------------------------------------------------

    async def test_fault_corrupt_record(self, opener: Opener, directory: str) -> None:
        s = await opener()
        await fill(s, ["a", "b"], 6)
        try:
            await self.corrupt(s, directory, 3)
        except NotImplementedError:
            pytest.skip("backend provides no corrupt() hook")
        assert await s.load_msg(3) is None
        m = await s.load_next_msg("a", 2)
        assert m is not None and m.seq == 5
        st = s.state()
        assert st.messages == 5 and s.filtered_state("a") == SimpleState(2, 1, 5)
        assert (await s.store_msg("a", None, b""))[0] == 7
        s = await self.reopen(opener, s)
        assert await s.load_msg(3) is None and s.state().messages == 6

    async def test_fault_torn_tail(self, opener: Opener, directory: str) -> None:
        s = await opener()
        await fill(s, ["a"], 5)
        await s.close()
        try:
            await self.tear_tail(directory)
        except NotImplementedError:
            pytest.skip("backend provides no tear_tail() hook")
        s = await opener()
        assert s.state().messages == 5
        assert (await s.store_msg("a", None, b""))[0] == 6

    async def test_fault_failed_commit(self, opener: Opener, directory: str) -> None:
        s = await opener()
        await fill(s, ["a"], 3)
        try:
            self.fail_commits(s, directory, 1)
        except NotImplementedError:
            pytest.skip("backend provides no fail_commits() hook")
        results = await asyncio.gather(
            *(s.store_msg("a", None, b"lost") for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, StoreIOError) for r in results), results
        st = s.state()
        assert st.messages == 3 and s.filtered_state("a") == SimpleState(3, 1, 3)
        seq, _ = await s.store_msg("a", None, b"kept")
        assert seq == 7
        s = await self.reopen(opener, s)
        assert s.state().messages == 4
        m = await s.load_last_msg("a")
        assert m is not None and m.payload == b"kept"

    async def test_fault_failed_commit_keeps_writes_staged_during_it(
        self, opener: Opener, directory: str
    ) -> None:
        """A write staged while a failing commit runs is either refused or kept for good.

        The second write comes once the first one's commit has had a few loop steps to
        start: a backend that waits on I/O has it staged into the next group, which
        the failure must not take along unnoticed (acknowledged, then missing).
        """
        s = await opener()
        await fill(s, ["a"], 2)
        try:
            self.fail_commits(s, directory, 1)
        except NotImplementedError:
            pytest.skip("backend provides no fail_commits() hook")
        first = asyncio.ensure_future(s.store_msg("a", None, b"lost"))
        for _ in range(3):
            await asyncio.sleep(0)
        second = asyncio.ensure_future(s.store_msg("a", None, b"second"))
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert isinstance(results[0], StoreIOError), results
        second_result = results[1]
        if isinstance(second_result, BaseException):
            assert isinstance(second_result, StoreIOError), results
            kept = []
        else:
            kept = [second_result[0]]
        seq, _ = await s.store_msg("a", None, b"third")
        kept.append(seq)
        for reopened in (False, True):
            if reopened:
                s = await self.reopen(opener, s)
            assert s.state().messages == 2 + len(kept), (results, s.state(), reopened)
            for q in kept:
                m = await s.load_msg(q)
                assert m is not None and m.payload in (b"second", b"third"), (q, m, reopened)
