"""Harness for the kill -9 test of the file store: append forever, print every ack.

``python fault_writer.py store DIRECTORY [IN_FLIGHT [BLOCK_SIZE]]`` opens a
:class:`LogStore` over the file log in DIRECTORY and prints ``S <next seq>``; then
``IN_FLIGHT`` tasks call ``store_msg`` continuously (so up to IN_FLIGHT writes are
in flight and group-committed together) and print ``A <seq> <writer> <n>`` after
each ack (the payload is :func:`store_payload` of writer and n); a writer removes
its every 10th message again and prints ``R <seq>`` once the removal returned.

``python fault_writer.py store-big DIRECTORY ...`` does the same with payloads of
~40 KB (:data:`BIG_PAD`), each writer pausing up to 2 ms before each message: the
messages arrive spread out, as a socket's do, and enough is staged while a commit
syncs that the store commits the next groups meanwhile (written ahead of their
sync, :mod:`...filelog.pipeline`).

``python fault_writer.py log DIRECTORY ...`` drives the raw log instead: ``IN_FLIGHT``
writers append
continuously (each waits for its ack, so up to IN_FLIGHT messages are in flight)
and one committer group-commits whatever is staged.  After every durable commit it
prints ``A <first> <last>`` (the contiguous sequences it acknowledged) and ``R
<seq>`` for an acknowledged removal (every 10th sequence is removed again a little
later, so removal records are in the log too).  Output is flushed after each line;
it runs until killed.  Payloads are a function of the sequence (:func:`payload_of`).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from natskern.kernel.store.api import StoreConfig, StoredMsg
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog import FileLog

CONFIG = StoreConfig(name="KILL", subjects=["kill.>"])


#: What ``store-big`` adds to each payload.
BIG_PAD = 40_000


def store_payload(writer: int, n: int, big: bool = False) -> bytes:
    """The payload writer ``writer`` stores as its ``n``-th message (store modes)."""
    return b"w%d:%d:" % (writer, n) + bytes([n % 251]) * (n % 300 + (BIG_PAD if big else 0))


async def open_store(directory: str, block_size: int = 65536) -> LogStore:
    """The file-backed store of ``directory`` (also what the parent reopens)."""

    def factory(d: str, *, sync: str | int) -> FileLog:
        return FileLogFactory(d, sync=sync, block_size=block_size)

    store = await LogStore.factory(factory)(CONFIG, directory, sync="always")
    assert isinstance(store, LogStore)
    return store


async def run_store(directory: str, in_flight: int, block_size: int, big: bool = False) -> None:
    """Store with ``in_flight`` concurrent writers until killed."""
    store = await open_store(directory, block_size)
    out = sys.stdout
    out.write(f"S {store.state().last_seq + 1}\n")
    out.flush()

    async def writer(w: int) -> None:
        n = 0
        rng = random.Random(w)
        while True:
            n += 1
            if big:
                await asyncio.sleep(rng.random() * 0.002)
            seq, _ts = await store.store_msg(f"kill.{w}", None, store_payload(w, n, big))
            out.write(f"A {seq} {w} {n}\n")
            out.flush()
            if n % 10 == 0:
                await store.remove_msg(seq)
                out.write(f"R {seq}\n")
                out.flush()

    await asyncio.gather(*(writer(w) for w in range(in_flight)))


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
    mode, directory, *rest = sys.argv[1:]
    flight = int(rest[0]) if rest else 64
    size = int(rest[1]) if len(rest) > 1 else 65536
    if mode == "log":
        asyncio.run(run(directory, flight, size))
    else:
        asyncio.run(run_store(directory, flight, size, big=mode == "store-big"))
