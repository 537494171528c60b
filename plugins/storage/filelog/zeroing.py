"""Zeros written ahead of the active block's data, so that its syncs flush data only.

``fallocate`` gives the active block its space without writing it: ext4 marks the
extents *unwritten*, and the first write into each one converts it, a metadata
change the next ``fdatasync`` must commit to the journal (a 10 KB group's write
and sync: ~200 instead of ~140 us here; commits of 64 small messages through the
log: 438-459 instead of 335-342 us).  PostgreSQL zero-fills its WAL segments for the same reason
(``wal_init_zero``).  So while a log commits small groups on the loop (the
direct writes of :class:`~.log.FileLog`), its write lane writes zeros over the
next stretch of the block and syncs them before any data gets there; the data's
syncs then find written extents and an unchanged file length.

The stretch's bytes are written twice (zeros, then data), so only a block that
takes direct writes gets them, a stretch at a time (64 KiB first, doubling up to
1 MiB, the steps of :func:`.group.reserve`), started when the space left
ahead falls under half a stretch.  The zeros stay in the page cache, so the
loop's writes into them never wait for a read of the disk.

The stretch lies past ``Block.alloc``, where no write goes, and ``alloc`` moves
past it only once the zeros are durable; the lane runs every other write of the
log (a new block, the cut of a torn tail, a seal's trim) in order with it.  A
failure (a full disk) cuts the file back to ``alloc``, and that block gets no
more zeros.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from natskern.plugins.storage.filelog.group import PREALLOC, PREALLOC_MIN

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.blocks import Block

__all__ = ["ZERO_MAX", "wants_zeros", "zero_ahead"]

logger = logging.getLogger("natskern.store")

#: The largest stretch zeroed at once, and a block's first (then each next one doubles).
ZERO_MAX = PREALLOC
ZERO_MIN = PREALLOC_MIN
_ZEROS = memoryview(bytes(ZERO_MAX))


def wants_zeros(blk: Block, end: int, block_size: int) -> bool:
    """Whether ``blk``, whose data now ends at ``end``, should get its next stretch."""
    return (
        not blk.zeroing
        and blk.alloc < block_size
        and blk.alloc - end < max(blk.ahead, ZERO_MIN) // 2
    )


def zero_ahead(blk: Block, active: Callable[[Block], bool], block_size: int) -> bool:
    """(In the write lane) write and sync zeros over the stretch after ``blk.alloc``.

    Nothing when ``blk`` is no longer the active block, is closing or its tail needs
    a cut.  False after a failure (a full disk): the block is left as it was, its data's
    writes allocate their space as before, and it gets no more zeros (the caller keeps
    ``blk.zeroing`` set; it clears it on the loop otherwise).
    """
    start = blk.alloc
    if blk.closing or blk.fd < 0 or blk.dirty_tail or start >= block_size or not active(blk):
        return True
    step = min(ZERO_MAX, max(ZERO_MIN, 2 * blk.ahead))
    end = min(start + step, block_size)
    try:
        done = 0
        while done < end - start:
            done += os.pwrite(blk.fd, _ZEROS[done : end - start], start + done)
        os.fdatasync(blk.fd)
    except OSError as e:
        logger.debug("%s: zeroing ahead failed: %s", blk.path, e)
        with contextlib.suppress(OSError):
            os.ftruncate(blk.fd, start)  # (no data lies past ``alloc``)
        return False
    blk.ahead = step
    blk.alloc = end
    return True
