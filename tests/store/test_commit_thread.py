"""The file logs' commit pool: each log's jobs in order and one at a time, errors to the
waiters, a bounded number of threads, joined when the last log closes.

Over the real file store: a log's lane is in the pool while the store is open and
leaves it at ``close``/``delete``; each commit's I/O error reaches every writer of its
group as ``StoreIOError`` (and the store takes writes again afterwards). The pool
tests use a pool of their own (the shared one serves whatever else the process runs).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoreConfig, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog import iothread
from natskern.plugins.storage.filelog.iothread import CommitPool, CommitThread


def alive(pool: CommitPool) -> list[threading.Thread]:
    return [t for t in pool.threads if t.is_alive()]


async def open_store(root: Path, name: str) -> LogStore:
    return await LogStore.open(FileLogFactory(str(root / name), sync="always"), StoreConfig("S"))


async def test_jobs_run_in_order_and_errors_reach_their_waiter() -> None:
    pool = CommitPool(2)
    ct = CommitThread("unit", pool)
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
    threads = alive(pool)
    assert len(threads) == 1  # one lane: one thread
    await ct.stop()
    assert pool.threads == [] and not any(t.is_alive() for t in threads)
    await ct.stop()  # (twice: nothing to do)


async def test_many_lanes_share_a_bounded_pool_each_in_order_one_job_at_a_time() -> None:
    pool = CommitPool(3)
    lanes = [CommitThread(f"l{i}", pool) for i in range(40)]
    running = [0] * len(lanes)
    seen: list[list[int]] = [[] for _ in lanes]
    overlap: list[int] = []
    gate = threading.Event()

    def job(lane: int, i: int) -> int:
        running[lane] += 1
        if running[lane] != 1:
            overlap.append(lane)
        if lane == 0 and i == 0:
            gate.wait(30)  # lane 0 holds a thread: the others go on on the rest
        seen[lane].append(i)
        running[lane] -= 1
        return i

    futs = [lanes[k].run(job, k, i) for i in range(25) for k in range(len(lanes))]
    others = [f for j, f in enumerate(futs) if j % len(lanes)]
    await asyncio.gather(*others)
    assert len(alive(pool)) == 3 and not futs[0].done()
    gate.set()
    assert await asyncio.gather(*futs) == [i for i in range(25) for _ in lanes]
    assert seen == [list(range(25))] * len(lanes) and overlap == []
    for lane in lanes[:-1]:
        await lane.stop()
    threads = alive(pool)
    assert len(threads) == 3  # a lane is still open
    await lanes[-1].stop()
    assert pool.threads == [] and not any(t.is_alive() for t in threads)


async def test_the_store_lane_leaves_the_pool_at_close_and_delete(tmp_path: Path) -> None:
    before = iothread.POOL.lanes
    stores = [await open_store(tmp_path, f"a{i}") for i in range(12)]
    for s in stores:
        await s.store_msg("s.a", None, b"x")
    assert iothread.POOL.lanes == before + 12
    assert 1 <= len(alive(iothread.POOL)) <= iothread.POOL_SIZE  # 12 stores, a few threads
    for s in stores[1:]:
        await s.close()
    assert iothread.POOL.lanes == before + 1
    await stores[0].delete()
    assert iothread.POOL.lanes == before
    if before == 0:  # (nothing else of the process's open: the threads are joined)
        assert iothread.POOL.threads == []
    store = await open_store(tmp_path, "a1")
    assert store.state().messages == 1
    await store.store_msg("s.a", None, b"y")
    assert iothread.POOL.lanes == before + 1
    await store.close()
    assert iothread.POOL.lanes == before


async def test_a_failed_commit_reaches_every_writer_of_its_group(tmp_path: Path) -> None:
    store = await open_store(tmp_path, "b")
    await store.store_msg("s.a", None, b"before")
    log = store._log  # type: ignore[attr-defined]
    real = log._write

    def failing(*args: object) -> None:
        raise OSError(5, "Input/output error")

    async def failing_direct(*args: object) -> None:
        failing()

    real_direct = log._write_direct
    log._write, log._write_direct = failing, failing_direct
    writers = [asyncio.ensure_future(store.store_msg("s.a", None, b"%d" % i)) for i in range(5)]
    results = await asyncio.gather(*writers, return_exceptions=True)
    assert all(isinstance(r, StoreIOError) for r in results), results
    assert "Input/output error" in str(results[0])
    log._write, log._write_direct = real, real_direct
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


async def test_callbacks_of_a_commit_run_in_its_completion_step(tmp_path: Path) -> None:
    from natskern.kernel.store.commit import call_when_committed

    store = await open_store(tmp_path, "cb")
    order: list[str] = []
    _, _, commit = store.stage_msg("s.a", None, b"x")
    assert commit is not None
    commit.add_done_callback(lambda f: order.append("done callback"))
    call_when_committed(commit, lambda f: order.append(f"now {f.done()}"))
    other = asyncio.get_running_loop().create_future()
    call_when_committed(other, lambda f: order.append("other"))  # (not a commit: a done callback)
    await commit
    assert order[0] == "now True"  # before the loop's callbacks of the same future
    other.set_result(None)
    await asyncio.sleep(0)
    assert order[-1] == "other"
    log = store._log  # type: ignore[attr-defined]
    real, real_direct = log._write, log._write_direct

    def failing(*args: object) -> None:
        raise OSError(5, "Input/output error")

    async def failing_direct(*args: object) -> None:
        failing()

    log._write, log._write_direct = failing, failing_direct
    _, _, commit = store.stage_msg("s.a", None, b"y")
    seen: list[BaseException | None] = []
    call_when_committed(commit, lambda f: seen.append(f.exception()))  # type: ignore[arg-type]
    with pytest.raises(StoreIOError):
        await commit  # type: ignore[misc]
    assert len(seen) == 1 and isinstance(seen[0], StoreIOError)  # a failed commit runs them too
    log._write, log._write_direct = real, real_direct
    await store.close()
