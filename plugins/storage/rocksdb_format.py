"""The RocksDB store's format number, so that a natskern never misreads a newer store.

Each stream database carries its format in the ``meta`` column family, two checksummed
copies (``F\\x00``, ``F\\x01``): the number of the newest value layout its records may
use (:mod:`.rocksdb_codec`).  Opening a database whose number is above
:data:`STORE_FORMAT` is refused with a :class:`StoreIOError` that says so, before any of
its records is read or written: an older natskern would take values of a layout it does
not know for corrupt ones and drop them.  A database without the mark (written before it
existed, or whose mark was lost with RocksDB's own metadata) gets one at open: the
current number when it is empty, else the format its newest record verifies under
(1 when none does).  A mark whose two copies both fail their checksum is refused as
unreadable (what it says is not known), never guessed.

A database keeps the format it was created with: one of format 1 is written in format
1 for good (values of one database are never mixed).

Formats: 1 — the layout of the first releases (BLAKE2b-64 checksums); 2 — message
values checksummed with XXH3-64 seeded with the sequence (about a seventh of the cost
per append; metadata and side logs keep BLAKE2b-64).  Raise :data:`STORE_FORMAT`
whenever the layout of a value or key changes in a way an older reader would misread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from natskern.kernel.store.api import StoreIOError
from natskern.plugins.storage import rocksdb_codec as codec

__all__ = [
    "FORMAT_KEYS",
    "STORE_FORMAT",
    "MsgCodec",
    "codec_of",
    "format_of_unmarked",
    "read_format",
    "refusal",
    "write_format",
]

STORE_FORMAT = 2
FORMAT_KEYS = (b"F\x00", b"F\x01")


def read_format(meta: Any) -> int | str | None:
    """The database's format number; None when unmarked; the raw text of a mark that is
    not a number, or ``"unreadable"`` when both copies fail their checksum."""
    present = False
    for key in FORMAT_KEYS:
        raw = meta.get(key)
        if raw is None:
            continue
        present = True
        value = codec.decode_meta(raw, key)
        if value is not None:
            return int(value) if value.isdigit() else value.decode("ascii", "replace")[:16]
    return "unreadable" if present else None


def refusal(path: str, found: int | str | None) -> StoreIOError | None:
    """The error that refuses a database of format ``found`` (None: it may be opened)."""
    if found is None or (isinstance(found, int) and found in _CODECS):
        return None
    if isinstance(found, int) and found > STORE_FORMAT:
        what = f"format {found}, newer than this natskern reads ({STORE_FORMAT})"
    elif isinstance(found, int):
        what = f"an unknown format {found} (this natskern reads 1 to {STORE_FORMAT})"
    else:
        what = f"an unreadable format ({found!r}; this natskern reads {STORE_FORMAT})"
    return StoreIOError(f"stream database {path} holds a store of {what}: refusing to open it")


def write_format(meta: Any, number: int = STORE_FORMAT) -> None:
    """Mark the database as of format ``number`` (both copies; made durable by the WAL
    sync of the next commit, or written again by the next open)."""
    value = b"%d" % number
    for key in FORMAT_KEYS:
        meta[key] = codec.encode_meta(value, key)


class MsgCodec(NamedTuple):
    """How a database of one format checksums its message values."""

    format: int
    #: ``encode(seq, key, subject, ts, ttl, headers, payload)``: a stored value.
    encode: Callable[[int, bytes, bytes, int, int, bytes | None, bytes], bytes]
    #: ``verify(key, value)``: whether the value is intact.
    verify: Callable[[bytes, bytes], bool]


_CODECS = {
    1: MsgCodec(1, codec.encode_fields, codec.verify_msg),
    2: MsgCodec(2, codec.encode_fields_xxh, codec.verify_msg_xxh),
}


def codec_of(number: int) -> MsgCodec:
    """The message codec of format ``number`` (one this natskern reads)."""
    return _CODECS[number]


def format_of_unmarked(msgs: Any, meta: Any) -> int:
    """The format of a database without a mark: :data:`STORE_FORMAT` when it holds
    nothing, else the one its newest record verifies under (1 when none does)."""
    newest = next(iter(msgs.items(backwards=True)), None)
    if newest is None:
        return STORE_FORMAT if next(iter(meta.keys()), None) is None else 1
    key, value = newest
    for number in sorted(_CODECS, reverse=True):
        if _CODECS[number].verify(key, value):
            return number
    return 1
