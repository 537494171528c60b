"""The file store's format number, so that a natskern never misreads a newer store.

Each stream directory carries ``~format`` (one of the log's own metadata values, two
copies like the others): the number of the newest record format its data may hold.
Opening a directory whose number is above :data:`STORE_FORMAT` is refused with a
:class:`StoreIOError` that says so, before anything is read or written: an older
natskern would otherwise take records of a kind it does not know for corruption and,
for a removal record, bring the removed messages back.  A directory without the value
(written before it existed, format 1) gets the current number at open.

Formats: 1 — the records of the first releases; 2 — adds ``SET`` removal records
(kind 6).  Raise :data:`STORE_FORMAT` whenever a record kind or field is added that an
older reader would misread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from natskern.kernel.store.api import StoreIOError
from natskern.plugins.storage.filelog.group import fsync_dir
from natskern.plugins.storage.filelog.meta import write_meta_copy

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.log import FileLog

__all__ = ["FORMAT_KEY", "STORE_FORMAT", "check_format"]

STORE_FORMAT = 2
FORMAT_KEY = "~format"


def check_format(log: FileLog) -> None:
    """Refuse a store of a newer format; mark an older or unmarked one as current.

    Called by the recovery with the metadata read and the directory locked; on refusal
    the lock is released first.
    """
    raw = log.meta_small.get(FORMAT_KEY)
    if raw is not None:
        found = int(raw) if raw.isdigit() else None
        if found is None or found > STORE_FORMAT:
            log.release_lock()
            what = f"format {found}" if found is not None else f"an unreadable format {raw[:16]!r}"
            raise StoreIOError(
                f"stream directory {log.directory} holds a store of {what}, newer than "
                f"this natskern reads ({STORE_FORMAT}): refusing to open it"
            )
        if found == STORE_FORMAT:
            return
    value = b"%d" % STORE_FORMAT
    gen = log.meta_gen.get(FORMAT_KEY, 0) + 1
    if write_meta_copy(log.directory, FORMAT_KEY, gen, value):
        fsync_dir(log.directory)
    log.meta_gen[FORMAT_KEY] = gen
    log.meta_small[FORMAT_KEY] = value
