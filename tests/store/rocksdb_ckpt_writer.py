"""The kill -9 writer of ``rocks_fault_writer.py`` with a periodic index checkpoint every 200 records.

``python rocksdb_ckpt_writer.py DIRECTORY [IN_FLIGHT]``: same protocol (``S``,
``A``, ``R`` lines), so the kill loop of the fault tests drives it.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import sys
from pathlib import Path

from natskern.plugins.storage.rocksdb import RocksLogFactory

_spec = importlib.util.spec_from_file_location(
    "rocks_fault_writer", Path(__file__).parent / "rocks_fault_writer.py"
)
assert _spec is not None and _spec.loader is not None
writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(writer)
writer.RocksLogFactory = functools.partial(RocksLogFactory, checkpoint_min=200, checkpoint_max=200)

if __name__ == "__main__":
    asyncio.run(writer.run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64))
