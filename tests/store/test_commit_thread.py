"""The file log's commit thread: jobs in order, errors to the waiters, joined at close.

Over the real file store: the thread exists while the store is open, each commit's
I/O error reaches every writer of its group as ``StoreIOError`` (and the store
takes writes again afterwards), and ``close``/``delete`` end and join the thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoreConfig, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog.iothread import CommitThread


def commit_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"natskern-commit:{name}"]


async def open_store(root: Path, name: str) -> LogStore:
    return await LogStore.open(FileLogFactory(str(root / name), sync="always"), StoreConfig("S"))


async def test_jobs_run_in_order_and_errors_reach_their_waiter() -> None:
    ct = CommitThread("natskern-commit:unit")
    seen: list[int] = []

    def job(i: int) -> int:
        if i == 3:
            raise OSError(28, "No space left on device")
        seen.append(i)
        return i * 10

    futs = [ct.run(job, i) for i in range(6)]
    results = await asyncio.gather(*futs, return_exceptions=True)
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], OSError) and results[3].errno == 28
    assert seen == [0, 1, 2, 4, 5]
    assert [t for t in threading.enumerate() if t.name == "natskern-commit:unit"]
    await ct.stop()
    assert not [t for t in threading.enumerate() if t.name == "natskern-commit:unit"]
    await ct.stop()  # (twice: nothing to do)


async def test_the_store_thread_is_joined_at_close_and_delete(tmp_path: Path) -> None:
    store = await open_store(tmp_path, "a")
    await store.store_msg("s.a", None, b"x")
    assert len(commit_threads("a")) == 1
    await store.close()
    assert commit_threads("a") == []
    store = await open_store(tmp_path, "a")
    assert store.state().messages == 1
    await store.store_msg("s.a", None, b"y")
    assert len(commit_threads("a")) == 1
    await store.delete()
    assert commit_threads("a") == []


async def test_a_failed_commit_reaches_every_writer_of_its_group(tmp_path: Path) -> None:
    store = await open_store(tmp_path, "b")
    await store.store_msg("s.a", None, b"before")
    log = store._log  # type: ignore[attr-defined]
    real = log._write

    def failing(*args: object) -> None:
        raise OSError(5, "Input/output error")

    log._write = failing
    writers = [asyncio.ensure_future(store.store_msg("s.a", None, b"%d" % i)) for i in range(5)]
    results = await asyncio.gather(*writers, return_exceptions=True)
    assert all(isinstance(r, StoreIOError) for r in results), results
    assert "Input/output error" in str(results[0])
    log._write = real
    seq, _ = await store.store_msg("s.a", None, b"after")
    st = store.state()
    assert st.messages == 2 and (await store.load_msg(seq)).payload == b"after"  # type: ignore[union-attr]
    await store.close()
    again = await open_store(tmp_path, "b")
    assert [m.payload for m in [await again.load_msg(s) for s in (1, seq)]] == [b"before", b"after"]  # type: ignore[union-attr]
    await again.close()


@pytest.mark.parametrize("n", [1, 50])
async def test_commits_in_flight_all_complete_before_close_returns(tmp_path: Path, n: int) -> None:
    store = await open_store(tmp_path, "c")
    futs = [store.stage_msg("s.a", None, b"%d" % i)[2] for i in range(n)]
    await store.close()
    assert all(f is None or f.done() for f in futs)
    again = await open_store(tmp_path, "c")
    assert again.state().messages == n
    await again.close()
