"""Back-pressure (``max_staged_bytes``) holds writers at the group no commit has taken.

Over the real file log: its commit thread is held by a job of the test's (a
``threading.Event``), so one commit stays in flight for as long as the test wants
it to. A lazy store keeps staging its next group meanwhile, up to the limit; the
writer past it waits until the commit in flight is done and the full group is
taken; every message ends up stored, in order.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory

LIMIT = 1000
PAYLOAD = b"x" * 100  # (a message counts ~140 bytes: 8 fill the group past LIMIT)
GUARD = 30.0  # only against a hang: no wait decides the test


async def _spin(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_lazy_store_stages_its_next_group_while_one_is_in_flight(tmp_path: Path) -> None:
    store = await LogStore.open(
        FileLogFactory(str(tmp_path / "s"), sync=10**10),
        StoreConfig("B", options={"max_staged_bytes": LIMIT}),
        sync=10**10,  # lazy, 10 s: the timer never commits during the test
    )
    log = store._log
    gate = threading.Event()
    held = log._io.run(gate.wait)  # the commit thread is busy until the gate opens
    try:
        seq = 0
        while not store.backlogged:  # group 1 fills past the limit
            seq, _ts = await asyncio.wait_for(store.store_msg("a", None, PAYLOAD), GUARD)
        # the next writer starts group 1's commit (stuck behind the gate) and goes on
        seq, _ts = await asyncio.wait_for(store.store_msg("a", None, PAYLOAD), GUARD)
        assert not store.backlogged and seq > 1
        first_group = seq - 1
        while not store.backlogged:  # group 2 stages while group 1 is in flight
            seq, _ts = await asyncio.wait_for(store.store_msg("a", None, PAYLOAD), GUARD)
        assert seq >= 2 * first_group - 1
        late = asyncio.ensure_future(store.store_msg("a", None, PAYLOAD))
        await _spin()
        assert not late.done()  # past the limit with a commit in flight: it waits
        gate.set()
        await asyncio.wait_for(held, GUARD)
        last, _ts = await asyncio.wait_for(late, GUARD)
        assert last == seq + 1
    finally:
        gate.set()
    await store.flush()
    got = [await store.load_msg(s) for s in range(1, last + 1)]
    assert [m.seq for m in got if m is not None] == list(range(1, last + 1))
    await store.close()
