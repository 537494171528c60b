"""Bodies of the ``$JS.API.STREAM.*`` requests other than create/update, with their Go types.

Each is decoded like nats-server decodes it (:func:`decode_body`): the same field names,
types and Go error texts (``json: cannot unmarshal string into Go struct field
JSApiStreamNamesRequest.offset of type int``).
"""

# ruff: noqa: RUF009  (gofield is a dataclass field specifier)

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from natskern.kernel.jetstream.errors import INVALID_JSON
from natskern.kernel.jetstream.godecode import (
    BOOL,
    INT,
    STRING,
    TIME,
    UINT64,
    ListOf,
    Struct,
    decode,
    gofield,
)
from natskern.kernel.jetstream.gojson import GoJSONError

__all__ = [
    "MsgDeleteRequest",
    "MsgGetRequest",
    "PurgeRequest",
    "StreamInfoRequest",
    "StreamNamesRequest",
    "decode_body",
]

T = TypeVar("T")


@dataclass(slots=True)
class StreamNamesRequest:
    """``STREAM.NAMES`` / ``STREAM.LIST``: paging offset and a subject filter."""

    offset: int = gofield(INT, 0)
    subject: str = gofield(STRING, "")


@dataclass(slots=True)
class StreamInfoRequest:
    """``STREAM.INFO``: deleted sequences and per-subject counts on request."""

    offset: int = gofield(INT, 0)
    deleted_details: bool = gofield(BOOL, False)
    subjects_filter: str = gofield(STRING, "")


@dataclass(slots=True)
class PurgeRequest:
    """``STREAM.PURGE``: everything, a subject filter, below a sequence or all but the newest."""

    filter: str = gofield(STRING, "")
    seq: int = gofield(UINT64, 0)
    keep: int = gofield(UINT64, 0)


@dataclass(slots=True)
class MsgGetRequest:
    """``STREAM.MSG.GET`` (and the JSON form of ``DIRECT.GET``)."""

    seq: int = gofield(UINT64, 0)
    last_by_subj: str = gofield(STRING, "")
    next_by_subj: str = gofield(STRING, "")
    batch: int = gofield(INT, 0)
    max_bytes: int = gofield(INT, 0)
    start_time: str | None = gofield(TIME, None)
    multi_last: list[str] = gofield(ListOf(STRING, "[]string"), factory=list)
    up_to_seq: int = gofield(UINT64, 0)
    up_to_time: str | None = gofield(TIME, None)
    no_hdr: bool = gofield(BOOL, False)


@dataclass(slots=True)
class MsgDeleteRequest:
    """``STREAM.MSG.DELETE``: the sequence, and whether to skip overwriting it."""

    seq: int = gofield(UINT64, 0)
    no_erase: bool = gofield(BOOL, False)


_GO_NAMES: dict[type, str] = {
    StreamNamesRequest: "JSApiStreamNamesRequest",
    StreamInfoRequest: "JSApiStreamInfoRequest",
    PurgeRequest: "JSApiStreamPurgeRequest",
    MsgGetRequest: "JSApiMsgGetRequest",
    MsgDeleteRequest: "JSApiMsgDeleteRequest",
}
_STRUCTS: dict[type, Struct] = {}


def decode_body(cls: type[T], body: bytes) -> T:
    """``cls`` decoded from ``body``; raises the ``10025`` :class:`ApiError` with Go's text."""
    struct = _STRUCTS.get(cls)
    if struct is None:
        name = _GO_NAMES[cls]
        struct = _STRUCTS[cls] = Struct(cls, "server." + name)
    try:
        out: Any = decode(body, struct, _GO_NAMES[cls])
    except GoJSONError as err:
        raise INVALID_JSON(err=str(err)) from None
    return out  # type: ignore[no-any-return]
