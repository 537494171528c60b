"""Harness for the kill -9 test of the RocksDB store: append forever, print every ack.

``python rocks_fault_writer.py DIRECTORY [IN_FLIGHT]`` opens the ``rocksdb``
store (the shared ``LogStore`` over :class:`RocksLog`) in DIRECTORY, prints
``S <last seq>`` and then runs IN_FLIGHT writers, each looping on
``store_msg``; every acknowledged message is printed as ``A <seq> <payload>``
once ``store_msg`` returned, and every 50th is then removed again and printed
as ``R <seq>`` once ``remove_msg`` returned.  It runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.rocksdb import RocksLogFactory


def subject_of(token: int) -> str:
    """The subject the harness stores its ``token``-th message under."""
    return f"kill.{token % 7}"


async def run(directory: str, in_flight: int) -> None:
    """Append with ``in_flight`` concurrent writers until killed."""
    factory = LogStore.factory(RocksLogFactory())
    store = await factory(StoreConfig(name="KILL"), directory, sync="always")
    out = sys.stdout
    out.write(f"S {store.state().last_seq}\n")
    out.flush()
    counter = 0

    async def writer(w: int) -> None:
        nonlocal counter
        while True:
            counter += 1
            token = counter
            payload = b"%d-%d-" % (w, token) + b"x" * (token % 300)
            seq, _ = await store.store_msg(subject_of(token), None, payload)
            out.write(f"A {seq} {payload.decode()}\n")
            if token % 50 == 0:
                await store.remove_msg(seq)
                out.write(f"R {seq}\n")
            out.flush()

    await asyncio.gather(*(writer(w) for w in range(in_flight)))


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64))
