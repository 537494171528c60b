"""LogStore beyond the protocol: batches, back-pressure, logging of lazy mode and corruption."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from natskern.kernel.store.api import DISCARD_NEW, DiscardNewError, SimpleState, StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.memory import MemoryLogFactory, memory_record_size

from tests.store.sqlite_backend import SqliteLog


async def _memory(fac: MemoryLogFactory | None = None, **fields: Any) -> LogStore:
    fac = fac or MemoryLogFactory({}, track=True, durable=True)
    return await LogStore.factory(fac)(StoreConfig("B", **fields), "d", sync="always")


ITEMS = [(f"s.{i % 3}", b"NATS/1.0\r\n\r\n" if i == 4 else None, b"x" * i) for i in range(10)]


async def test_batch_columnar_path_and_restart() -> None:
    fac = MemoryLogFactory({}, track=True, durable=True)
    s = await _memory(fac)
    first, ts = await s.store_batch(ITEMS)
    assert first == 1
    st = s.state()
    assert (st.messages, st.last_seq, st.last_ts, st.first_ts) == (10, 10, ts, ts)
    assert st.bytes == sum(memory_record_size(*it) for it in ITEMS)
    assert s.subjects_state("s.1") == {"s.1": SimpleState(3, 2, 8)}
    m = await s.load_msg(5)
    assert m is not None and (m.subject, m.ts, m.headers, m.payload) == ("s.1", ts, *ITEMS[4][1:])
    assert (await s.store_msg("s.1", None, b""))[0] == 11
    before = s.state()
    await s.close()
    s = await _memory(fac)
    assert s.state() == before
    fac.logs["d"]._data.meta.pop("index")  # no checkpoint: the batch's records are scanned
    await s.close()
    fac.logs["d"]._data.checkpoint_current = False
    s = await _memory(fac)
    assert s.state() == before and s.filtered_state("s.0") == SimpleState(4, 1, 10)
    await s.close()


async def test_batch_over_a_log_without_append_batch(tmp_path: Any) -> None:
    s = await LogStore.factory(SqliteLog)(StoreConfig("B"), str(tmp_path), sync="always")
    first, _ = await s.store_batch(ITEMS)
    m = await s.load_msg(first + 9)
    assert first == 1 and m is not None and m.payload == b"x" * 9
    await s.close()


async def test_batch_applies_limits_per_message() -> None:
    s = await _memory(max_msgs=4, discard=DISCARD_NEW)
    with pytest.raises(DiscardNewError):
        await s.store_batch(ITEMS)
    assert s.state().messages == 4
    s2 = await _memory(max_msgs_per_subject=1)
    await s2.store_batch(ITEMS)
    assert s2.subjects_state() == {f"s.{i % 3}": SimpleState(1, i + 1, i + 1) for i in (7, 8, 9)}
    await s.close()
    await s2.close()


async def test_group_commit_and_back_pressure() -> None:
    fac = MemoryLogFactory({}, track=True, durable=True)
    s = await LogStore.factory(fac)(
        StoreConfig("B", options={"max_staged_bytes": 1000}), "d", sync="always"
    )
    results = await asyncio.gather(*(s.store_msg("a", None, b"x" * 100) for _ in range(200)))
    assert [r[0] for r in results] == list(range(1, 201))
    commits = fac.logs["d"].commits
    assert 2 <= commits < 200  # grouped, yet bounded by the staged-bytes limit
    await s.close()


async def test_lazy_mode_is_logged_and_commits_on_its_own(caplog: Any) -> None:
    fac = MemoryLogFactory({}, track=True, durable=True)
    with caplog.at_level(logging.WARNING, logger="natskern.store"):
        s = await LogStore.factory(fac)(StoreConfig("L"), "d", sync=20_000_000)
    assert any("LAZY" in r.getMessage() for r in caplog.records)
    await s.store_msg("a", None, b"x")  # returns before its commit
    before = fac.logs["d"].commits
    for _ in range(200):
        if fac.logs["d"].commits > before:
            break
        await asyncio.sleep(0.01)
    assert fac.logs["d"].commits > before
    await s.close()


async def test_a_vanished_record_is_logged_and_gone(caplog: Any) -> None:
    fac = MemoryLogFactory({}, track=True, durable=True)
    s = await _memory(fac)
    removed: list[tuple[int, str]] = []
    s.on_removal(lambda seq, subject: removed.append((seq, subject)))
    await s.store_batch(ITEMS)
    del fac.logs["d"]._data.recs[3]
    with caplog.at_level(logging.ERROR, logger="natskern.store"):
        assert await s.load_msg(3) is None
    assert any("sequence 3" in r.getMessage() for r in caplog.records)
    assert s.state().messages == 9 and s.filtered_state("s.2") == SimpleState(2, 6, 9)
    await s.flush()
    assert removed == [(3, "s.2")]
    await s.close()


async def test_reserved_meta_keys() -> None:
    s = await _memory()
    with pytest.raises(ValueError):
        await s.put_meta("index", b"")
    await s.put_meta("config", b"{}")
    assert s.config_record == b"{}"
    await s.close()


async def test_records_out_of_order_are_indexed_loudly(caplog: Any) -> None:
    from natskern.kernel.store.log import RecordMeta, Recovery

    fac = MemoryLogFactory({}, track=True)
    s = await _memory(fac)
    await s.store_batch(ITEMS)
    await s.close()
    log = fac("d", sync="always")
    metas = [RecordMeta(q, 1, "s.0", 30) for q in (3, 1, 2, 2, 7)]

    async def bad_open() -> Recovery:
        await type(log).open(log)
        return Recovery(metas, 10, 1)

    log.open = bad_open  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="natskern.store"):
        s = await LogStore.open(log, StoreConfig("B"))
    assert any("out of sequence order" in r.getMessage() for r in caplog.records)
    assert s.subjects_state() == {"s.0": SimpleState(4, 1, 7)}
    await s.close()


async def test_wildcards_over_many_subjects_match_a_naive_count() -> None:
    import random

    from natskern.kernel.subjects.tokens import matches

    s = await _memory()
    rng = random.Random(7)
    subjects = [f"w.{i}" for i in range(30)] + [f"v.{i}.x" for i in range(5)]
    live: dict[int, str] = {}
    for _ in range(600):
        subj = rng.choice(subjects)
        seq, _ = await s.store_msg(subj, None, b"")
        live[seq] = subj
    for seq in rng.sample(sorted(live), 150):
        await s.remove_msg(seq)
        del live[seq]
    for flt in ("w.*", "*.*", ">", "v.*.x", "w.>", "*.3"):
        for start in (0, 1, 77, 300, 599, 650):
            want = sorted(
                q for q, x in live.items() if q >= start and matches(flt.encode(), x.encode())
            )
            got = s.filtered_state(flt, start)
            assert (got.msgs, got.first, got.last) == (
                (len(want), want[0], want[-1]) if want else (0, 0, 0)
            ), (flt, start)
            assert s.num_pending(start, flt) == len(want)
            m = await s.load_next_msg(flt, start)
            assert (m.seq if m else None) == (want[0] if want else None)
            lps = {x for q, x in live.items() if matches(flt.encode(), x.encode())}
            last_of = {x: max(q for q, y in live.items() if y == x) for x in lps}
            assert s.num_pending(start, flt, last_per_subject=True) == sum(
                1 for q in last_of.values() if q >= start
            )
    await s.close()


async def test_a_cancelled_writer_leaves_its_group_alone() -> None:
    s = await _memory()
    tasks = [asyncio.create_task(s.store_msg("a", None, b"x")) for _ in range(10)]
    await asyncio.sleep(0)  # every writer staged and waits for the same commit
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r[0] for i, r in enumerate(results) if i != 3] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert s.state().messages == 10  # the cancelled write was staged: it is stored anyway
    await s.close()


async def test_subject_table_stays_bounded_under_key_churn(monkeypatch: Any) -> None:
    from natskern.kernel.store.index import MsgIndex

    monkeypatch.setattr(MsgIndex, "SWEEP_MIN", 16)
    s = await _memory(max_msgs_per_subject=1)
    for i in range(2000):  # unique keys, each deleted right after: a KV bucket with churn
        await s.store_msg(f"kv.k{i}", None, b"v")
        await s.purge(f"kv.k{i}")
    await s.store_msg("kv.last", None, b"v")
    idx = s._idx
    assert len(idx.names) < 100
    assert s.subjects_state("kv.*") == {"kv.last": SimpleState(1, 2001, 2001)}
    assert s.filtered_state("kv.>").msgs == 1
    await s.close()


async def test_a_damaged_checkpoint_falls_back_to_a_scan(caplog: Any) -> None:
    fac = MemoryLogFactory({}, track=True)
    s = await _memory(fac)
    await s.store_batch(ITEMS)
    await s.remove_msg(4)
    before = s.state(deleted_details=True)
    await s.close()
    meta = fac.logs["d"]._data.meta
    ckpt = bytearray(meta["index"])
    ckpt[len(ckpt) // 2] ^= 0x10
    meta["index"] = bytes(ckpt)
    with caplog.at_level(logging.WARNING, logger="natskern.store"):
        s = await _memory(fac)
    assert any("rescanning" in r.getMessage() for r in caplog.records)
    assert s.state(deleted_details=True) == before
    assert s.subjects_state("s.0") == {"s.0": SimpleState(3, 1, 10)}
    await s.close()
