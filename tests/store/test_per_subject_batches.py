"""A per-subject limit (a KV bucket's history) taken once per staged batch, and its removals.

A store whose only limit is ``max_msgs_per_subject`` and which refuses nothing is
``batchable``: ``stage_batch`` stages a run columnar and then removes each written
subject's oldest messages.  It must end where the same messages staged one by one
(the limit taken after each) end: the same live messages, subjects' state, bytes and
removal reports, a key written twice in one batch losing its first write at once;
and the file log's one ``SET`` record per group must bring back exactly that after a
crash (no clean close: the recovery scans), over the real file log.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from natskern.kernel.store.api import DISCARD_NEW, StoreConfig
from natskern.kernel.store.base import FEW, LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog.codec import SET

from tests.store import fault_tools as ft


async def open_store(root: Path, name: str, **cfg: object) -> LogStore:
    log = FileLogFactory(str(root / name), sync="always")
    return await LogStore.open(log, StoreConfig("KV_b", **cfg))  # type: ignore[arg-type]


def crash(store: LogStore) -> None:
    """Leave the store as kill -9 would (no close, no checkpoint: the next open scans)."""
    log = store._log  # type: ignore[attr-defined]
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)
    store._stop_timers()  # type: ignore[attr-defined]
    store._closed = True  # type: ignore[attr-defined]


def snapshot(store: LogStore) -> tuple[object, ...]:
    st = store.state(deleted_details=True)
    return (
        st.messages,
        st.bytes,
        st.first_seq,
        st.last_seq,
        st.deleted,
        {k: (v.msgs, v.first, v.last) for k, v in store.subjects_state(">").items()},
    )


@pytest.mark.parametrize("history", [1, 3])
@pytest.mark.parametrize("seed", range(3))
async def test_batches_end_where_one_by_one_ends_and_survive_a_crash(
    tmp_path: Path, seed: int, history: int
) -> None:
    rng = random.Random(seed * 10 + history)
    cfg = {"max_msgs_per_subject": history, "discard": DISCARD_NEW}
    batched = await open_store(tmp_path, "batched", **cfg)
    single = await open_store(tmp_path, "single", **cfg)
    assert batched.batchable
    got_b: list[tuple[int, str]] = []
    got_s: list[tuple[int, str]] = []
    batched.on_removal(lambda seq, subj: got_b.append((seq, subj)))
    single.on_removal(lambda seq, subj: got_s.append((seq, subj)))
    keys = [f"$KV.b.k{i}" for i in range(rng.randrange(3, 40))]
    for _ in range(12):
        n = rng.choice([1, 2, 5, FEW - 1, FEW, 2 * FEW + 3])
        items = [(rng.choice(keys), None, b"v%d" % rng.randrange(1000)) for _ in range(n)]
        first, _ts, commit = batched.stage_batch(items)
        assert commit is not None
        commits = []
        for subject, h, p in items:
            _seq, _ts2, c = single.stage_msg(subject, h, p)
            commits.append(c)
        await commit
        for c in commits:
            if c is not None:
                await c
        assert snapshot(batched) == snapshot(single)
        # the newest `history` writes of every key are the ones left
        for key in set(s for s, _h, _p in items):
            st = batched.filtered_state(key)
            assert st.msgs == min(history, batched.subjects_state(key)[key].msgs)
            assert st.msgs <= history
        assert batched.state().last_seq == first + n - 1
    assert sorted(got_b) == sorted(got_s) and got_b
    want = snapshot(batched)
    payloads = {s: (await batched.load_msg(s)).payload for s in range(1, want[3] + 1)  # type: ignore[union-attr]
                if await batched.load_msg(s) is not None}  # fmt: skip
    assert any(r.kind == SET for r in ft.layout(str(tmp_path / "batched")))
    crash(batched)
    again = await open_store(tmp_path, "batched", **cfg)
    assert snapshot(again) == want
    for s in range(1, want[3] + 1):
        m = await again.load_msg(s)
        assert (m.payload if m is not None else None) == payloads.get(s), s
    await again.close()
    await single.close()


async def test_a_key_written_twice_in_one_batch_loses_its_first_write_at_once(
    tmp_path: Path,
) -> None:
    store = await open_store(tmp_path, "s", max_msgs_per_subject=1, discard=DISCARD_NEW)
    removed: list[int] = []
    store.on_removal(lambda seq, subj: removed.append(seq))
    first, _ts, commit = store.stage_batch(
        [("$KV.b.a", None, b"1"), ("$KV.b.b", None, b"2"), ("$KV.b.a", None, b"3")]
    )
    assert first == 1
    assert await store.load_msg(1) is None  # gone before its commit
    assert (await store.load_msg(3)).payload == b"3"  # type: ignore[union-attr]
    assert commit is not None
    await commit
    assert removed == [1]
    st = store.state()
    assert (st.messages, st.first_seq, st.last_seq) == (2, 2, 3)
    crash(store)
    again = await open_store(tmp_path, "s", max_msgs_per_subject=1, discard=DISCARD_NEW)
    assert again.state().messages == 2 and await again.load_msg(1) is None
    await again.close()


@pytest.mark.parametrize(
    ("cfg", "batchable"),
    [
        ({"max_msgs_per_subject": 1, "discard": DISCARD_NEW}, True),
        ({"max_msgs_per_subject": 5}, True),
        ({"max_msgs_per_subject": 1, "max_bytes": 10_000}, False),
        ({"max_msgs_per_subject": 1, "max_msgs": 100}, False),
        ({"max_msgs_per_subject": 1, "max_msg_size": 100}, False),
        (
            {"max_msgs_per_subject": 1, "discard": DISCARD_NEW, "discard_new_per_subject": True},
            False,
        ),
    ],
)
async def test_only_a_limit_that_refuses_nothing_is_taken_per_batch(
    tmp_path: Path, cfg: dict, batchable: bool
) -> None:
    store = await open_store(tmp_path, "s", **cfg)
    assert store.batchable is batchable
    await store.close()
