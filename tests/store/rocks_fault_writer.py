"""Harness for the kill -9 test of the RocksDB store: append forever, print every ack.

``python rocks_fault_writer.py DIRECTORY [IN_FLIGHT]`` opens the log in
DIRECTORY, prints ``S <first seq>`` and then, after every durable group commit,
one line ``A <seq> <seq> ...`` with the sequences it acknowledges.  It runs
until killed.  Payloads are a function of the sequence (:func:`payload_of`),
so the parent can check what it finds after the kill.
"""

from __future__ import annotations

import asyncio
import sys
import time

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.rocksdb import RocksLog


def payload_of(seq: int) -> bytes:
    """The payload the harness stores at ``seq``."""
    return b"%d:" % seq + bytes([seq % 251]) * (seq % 200)


def subject_of(seq: int) -> str:
    """The subject the harness stores at ``seq``."""
    return f"kill.{seq % 7}"


async def run(directory: str, in_flight: int) -> None:
    """Append with ``in_flight`` writers and one committer until killed."""
    log = RocksLog(directory, sync="always")
    rec = await log.open()
    if not isinstance(rec.records, list):
        async for _ in rec.records:  # type: ignore[union-attr]
            pass
    next_seq = rec.last_seq + 1
    out = sys.stdout
    out.write(f"S {next_seq}\n")
    out.flush()
    pending: list[tuple[int, asyncio.Future[None]]] = []
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def writer() -> None:
        nonlocal next_seq
        while True:
            seq = next_seq
            next_seq += 1
            log.append(StoredMsg(subject_of(seq), seq, time.time_ns(), None, payload_of(seq)))
            fut = loop.create_future()
            pending.append((seq, fut))
            wake.set()
            await fut

    async def committer() -> None:
        while True:
            await wake.wait()
            wake.clear()
            group = pending[:]
            pending.clear()
            await log.commit()
            out.write("A " + " ".join(str(s) for s, _ in group) + "\n")
            out.flush()
            for _, fut in group:
                fut.set_result(None)

    tasks = [asyncio.create_task(writer()) for _ in range(in_flight)]
    await committer()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64))
