"""``LogStore.stage_batch``: a run staged in one call, over the real file and memory logs.

Both paths (fewer than ``FEW`` messages: one by one; more: columnar) give consecutive
sequences and one timestamp, keep the subjects' state, are readable at once and
durable once the returned commit is done; with limits each message is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import FEW, LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.memory import MemoryLogFactory


async def open_store(kind: str, root: Path, shelf: dict, **cfg: int) -> LogStore:
    log = (
        FileLogFactory(str(root / "s"), sync="always")
        if kind == "file"
        else MemoryLogFactory(shelf)(str(root / "s"), sync="always")
    )
    return await LogStore.open(log, StoreConfig("S", **cfg))


@pytest.mark.parametrize("n", [1, FEW - 1, FEW, 3 * FEW])
@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_a_run_gets_consecutive_sequences_and_one_time(
    tmp_path: Path, kind: str, n: int
) -> None:
    shelf: dict = {}
    store = await open_store(kind, tmp_path, shelf)
    await store.store_msg("a.x", None, b"first")
    items = [(f"a.{i % 3}", None if i % 2 else b"NATS/1.0\r\n\r\n", b"p%d" % i) for i in range(n)]
    first, ts, commit = store.stage_batch(items)
    assert first == 2
    msg = await store.load_msg(first + n - 1)  # readable before the commit
    assert msg is not None and msg.payload == b"p%d" % (n - 1) and msg.ts == ts
    if kind == "file":
        assert commit is not None
        await commit
    else:
        assert commit is None
    st = store.state()
    assert (st.messages, st.last_seq) == (n + 1, n + 1)
    assert store.filtered_state("a.0").msgs == len(range(0, n, 3))
    got = [await store.load_msg(s) for s in range(first, first + n)]
    assert [(m.subject, m.headers, m.payload, m.ts) for m in got] == [  # type: ignore[union-attr]
        (s, h, p, ts) for s, h, p in items
    ]
    await store.close()
    again = await open_store(kind, tmp_path, shelf)
    assert again.state().messages == n + 1
    m = await again.load_msg(first + n - 1)
    assert m is not None and m.payload == b"p%d" % (n - 1)
    await again.close()


async def test_with_limits_each_message_is_checked(tmp_path: Path) -> None:
    store = await open_store("file", tmp_path, {}, max_msgs=3)
    assert not store.batchable
    _, _, commit = store.stage_batch([("a", None, b"%d" % i) for i in range(5)])
    assert commit is not None
    await commit
    st = store.state()
    assert (st.messages, st.first_seq, st.last_seq) == (3, 3, 5)  # discard old
    await store.close()
