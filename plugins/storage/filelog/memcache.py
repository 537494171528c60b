"""What a file log serves from memory without reading its blocks.

Two kinds of records, both verified and both only of messages the index still has:

* **recent**: the newest committed messages, up to :data:`RECENT_BYTES` of them,
  for the readers of a stream's tail (a consumer that keeps up reads each message
  right after its commit).  They are kept per commit group and evicted a whole
  group at a time, oldest first: one ``dict.update`` per group to add, one C loop
  of pops per group to evict, nothing per message in Python.  The budget counts
  each group's record bytes as written; a message removed later leaves the map at
  once but its bytes are counted until its group goes (the cache holds less than
  the budget then, never more).  A group written ahead of its sync (see
  :mod:`.pipeline`) enters as soon as it is written, so that this work is done
  while the disk syncs, not between the sync and the publishers' acks; a failed
  sync takes it back out (:meth:`ReadCache.drop`).
* **ahead**: the records after the one a disk read asked for (:data:`READ_AHEAD`
  bytes are read when the reader looks sequential), for that reader's next calls.
  A new read-ahead replaces the last.

The file log looks a sequence up in ``recent`` then ``ahead`` itself (two dict
lookups, inline on the read path).
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from typing import TYPE_CHECKING

from natskern.kernel.store.api import StoredMsg

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.blocks import Block
    from natskern.plugins.storage.filelog.group import EncodedGroup

__all__ = ["AHEAD_MSGS", "READ_AHEAD", "RECENT_BYTES", "ReadCache"]

#: Record bytes of the newest committed messages kept in memory for tail readers.
RECENT_BYTES = 4 << 20
#: A sequential reader's disk read takes this much, and keeps the records after the one
#: asked for (at most :data:`AHEAD_MSGS` of them).
READ_AHEAD = 32 << 10
AHEAD_MSGS = 4096
#: A read that does not look sequential takes this much (one record, usually).
SMALL_READ = 512


class ReadCache:
    """One file log's in-memory records (see the module docstring)."""

    __slots__ = (
        "_ahead_top",
        "_groups",
        "_last_disk",
        "_last_len",
        "ahead",
        "budget",
        "nbytes",
        "recent",
    )

    def __init__(self, budget: int | None = None) -> None:
        #: The newest committed messages, by sequence.
        self.recent: dict[int, StoredMsg] = {}
        #: Records read ahead of the last disk read, by sequence.
        self.ahead: dict[int, StoredMsg] = {}
        #: Record bytes ``recent`` may hold (:data:`RECENT_BYTES` unless given).
        self.budget = RECENT_BYTES if budget is None else budget
        #: Record bytes counted for the groups in ``recent``.
        self.nbytes = 0
        #: ``(sequences, bytes)`` of each group in ``recent``, oldest first.
        self._groups: deque[tuple[list[int], int]] = deque()
        self._last_disk = self._ahead_top = -1
        #: The length of the record the last disk read was for.
        self._last_len = 0

    def committed(self, msgs: dict[int, StoredMsg], g: EncodedGroup) -> None:
        """A group is written (and syncing: a failed sync :meth:`drop`s it again) or
        durable: drop what it removed, keep its messages."""
        self._drop_removed(g)
        if not msgs:
            return
        self.recent.update(msgs)
        size = sum(g.sizes)
        self._groups.append((list(msgs), size))
        self.nbytes += size
        if self.nbytes > self.budget:
            self._evict()

    def drop(self, msgs: dict[int, StoredMsg]) -> None:
        """Take a failed group's messages back out (its sequences may be handed out again)."""
        pop = self.recent.pop
        deque(map(pop, msgs, repeat(None)), maxlen=0)

    def _evict(self) -> None:
        """Drop the oldest groups until the budget holds."""
        groups, pop = self._groups, self.recent.pop
        while self.nbytes > self.budget and groups:
            seqs, size = groups.popleft()
            deque(map(pop, seqs, repeat(None)), maxlen=0)  # (a C loop over the group)
            self.nbytes -= size

    def _drop_removed(self, g: EncodedGroup) -> None:
        recent, ahead = self.recent, self.ahead
        for first, last, _h, _t in g.removals:
            if last - first < 64:  # (a scan of the maps per single removal)
                for s in range(first, last + 1):
                    recent.pop(s, None)
                    ahead.pop(s, None)
            else:
                for s in [s for s in recent if first <= s <= last]:
                    del recent[s]
                for s in [s for s in ahead if first <= s <= last]:
                    del ahead[s]
        rs = g.rm_set
        if rs is not None:
            deque(map(recent.pop, rs, repeat(None)), maxlen=0)
            if ahead:
                deque(map(ahead.pop, rs, repeat(None)), maxlen=0)

    def clear(self) -> None:
        """Forget every record (the next reads go to the disk)."""
        self.recent.clear()
        self.ahead = {}
        self._groups.clear()
        self.nbytes = 0

    def span(self, seq: int) -> int:
        """How much a disk read of ``seq`` takes: read ahead only for a sequential reader
        (the previous disk read was seq - 1, or the read-ahead ran out just before seq),
        and at least as much as the record read last (a reader of object chunks reads
        each in one go); a random read takes one small read."""
        if seq - 1 in (self._last_disk, self._ahead_top):
            last = self._last_len
            return last if last > READ_AHEAD else READ_AHEAD
        return SMALL_READ

    def read_from_disk(self, seq: int, length: int) -> None:
        """Note that ``seq``'s record (``length`` bytes) was read from its block (what
        :meth:`span` looks back at)."""
        self._last_disk = seq
        self._last_len = length

    def keep_ahead(self, blk: Block, off: int, ahead: list[tuple[int, int, StoredMsg]]) -> None:
        """Keep the records read after the one asked for, those the index still points at.

        ``ahead`` holds ``(seq, offset from off, message)``.  A new read-ahead replaces
        the last one (a sequential reader is past it; a dict trimmed from the front
        would be scanned over its dead slots each time).
        """
        cache: dict[int, StoredMsg] = {}
        offs, first = blk.offs, blk.first_seq  # (Block.locate, inline: once per message)
        count = len(offs)
        for s, rel, msg in ahead[:AHEAD_MSGS]:
            i = s - first
            if 0 <= i < count and offs[i] == off + rel:
                cache[s] = msg
                self._ahead_top = s
        self.ahead = cache
