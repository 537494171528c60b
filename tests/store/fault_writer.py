"""Harness for the kill -9 test of the file store: append forever, print every ack.

``python fault_writer.py DIRECTORY [IN_FLIGHT [BLOCK_SIZE]]`` opens the file log in
DIRECTORY and prints ``S <next seq>``; then ``IN_FLIGHT`` writers append
continuously (each waits for its ack, so up to IN_FLIGHT messages are in flight)
and one committer group-commits whatever is staged.  After every durable commit it
prints ``A <first> <last>`` (the contiguous sequences it acknowledged) and ``R
<seq>`` for an acknowledged removal (every 10th sequence is removed again a little
later, so removal records are in the log too).  Output is flushed after each line;
it runs until killed.  Payloads are a function of the sequence (:func:`payload_of`).
"""

from __future__ import annotations

import asyncio
import sys
import time

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import FileLog


def payload_of(seq: int) -> bytes:
    """The payload the harness stores at ``seq``."""
    return b"%d:" % seq + bytes([seq % 251]) * (seq % 300)


def subject_of(seq: int) -> str:
    """The subject the harness stores at ``seq``."""
    return f"kill.{seq % 7}"


def removed(seq: int) -> bool:
    """Whether the harness removes ``seq`` after storing it."""
    return seq % 10 == 0


async def run(directory: str, in_flight: int, block_size: int) -> None:
    """Append with ``in_flight`` writers and one committer until killed."""
    log = FileLog(directory, sync="always", block_size=block_size)
    rec = await log.open()
    for _ in rec.records:  # type: ignore[union-attr]
        pass
    next_seq = rec.last_seq + 1
    out = sys.stdout
    out.write(f"S {next_seq}\n")
    out.flush()
    pending: list[tuple[int, asyncio.Future[None]]] = []
    to_remove: list[int] = []
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
            del pending[:]
            removals = to_remove[:]
            del to_remove[:]
            for seq in removals:
                log.remove(seq)
            await log.commit()
            lines = []
            if group:
                seqs = sorted(s for s, _ in group)
                lines.append(f"A {seqs[0]} {seqs[-1]}\n")
            lines.extend(f"R {s}\n" for s in removals)
            out.write("".join(lines))
            out.flush()
            for seq, fut in group:
                if removed(seq):
                    to_remove.append(seq)
                fut.set_result(None)

    tasks = [asyncio.create_task(writer()) for _ in range(in_flight)]
    await committer()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        run(
            args[0], int(args[1]) if len(args) > 1 else 64, int(args[2]) if len(args) > 2 else 65536
        )
    )
