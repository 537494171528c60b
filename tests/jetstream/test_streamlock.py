"""The stream lock tells the read path whether anyone holds or waits for it."""

from __future__ import annotations

import asyncio

from natskern.kernel.jetstream.streamlock import StreamLock


async def test_busy_covers_the_gap_between_a_release_and_the_woken_waiter() -> None:
    lock = StreamLock()
    assert not lock.busy()
    await lock.acquire()
    assert lock.busy() and lock.wanted == 0
    got: list[str] = []

    async def waiter() -> None:
        async with lock:
            got.append("in")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert lock.wanted == 1
    lock.release()
    # released, the waiter woken but not yet run: locked() says free, busy() does not
    assert not lock.locked() and lock.busy()
    await task
    assert got == ["in"] and not lock.busy() and lock.wanted == 0


async def test_a_cancelled_waiter_is_no_longer_counted() -> None:
    lock = StreamLock()
    await lock.acquire()
    task = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    assert lock.wanted == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert lock.wanted == 0 and lock.busy()  # (still held by the first)
    lock.release()
    assert not lock.busy()
