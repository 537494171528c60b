"""Direct Get (``$JS.API.DIRECT.GET.<stream>[.<subject>]``, ADR-31): stored messages as is.

Served only for streams with ``allow_direct``.  The answer is the stored message itself
(its headers and payload) with ``Nats-Stream``, ``Nats-Subject``, ``Nats-Sequence`` and
``Nats-Time-Stamp`` appended to its headers; a batch request (``batch``) sends each
message with ``Nats-Num-Pending`` / ``Nats-Last-Sequence`` and ends with a ``204 EOB``
status.  Failures are header-only statuses: ``404 Message Not Found``, ``408 Empty
Request``, ``408 Malformed Request``, ``408 Bad Request``, ``412 Required Api Level``.
Mirrors nats-server's ``processDirectGetRequest`` and ``getDirectRequest``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.requests import MsgGetRequest, decode_body
from natskern.kernel.jetstream.wire import format_time
from natskern.kernel.protocol.headers import header_value

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.stream import Stream
    from natskern.kernel.store.api import StoredMsg

__all__ = ["direct_get"]

#: ``(headers, payload)`` of one reply message.
Reply = tuple[bytes, bytes]

NOT_FOUND: Final = b"NATS/1.0 404 Message Not Found\r\n\r\n"
EMPTY: Final = b"NATS/1.0 408 Empty Request\r\n\r\n"
MALFORMED: Final = b"NATS/1.0 408 Malformed Request\r\n\r\n"
BAD: Final = b"NATS/1.0 408 Bad Request\r\n\r\n"
LEVEL: Final = b"NATS/1.0 412 Required Api Level\r\n\r\n"
#: The default byte budget of a batch (nats-server uses the connection's max pending).
MAX_BATCH_BYTES: Final = 64 * 1024 * 1024


def _status(block: bytes) -> list[Reply]:
    return [(block, b"")]


def _decode(body: bytes) -> MsgGetRequest | None:
    """The request, or None when ``json.Unmarshal`` would fail (any error, strict or not)."""
    try:
        json.loads(body)
    except ValueError:
        return None
    try:
        return decode_body(MsgGetRequest, body)
    except ApiError:
        return None


def _headers(stored: bytes | None, pairs: list[tuple[str, str | int]]) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in pairs).encode()
    if stored:
        return stored[: len(stored) - 2] + extra + b"\r\n"
    return b"NATS/1.0\r\n" + extra + b"\r\n"


async def direct_get(
    stream: Stream, key: str | None, hdr: bytes | None, body: bytes
) -> list[Reply]:
    """The reply messages to a direct get; ``key`` is the subject of the subject form."""
    if hdr:
        level = header_value(hdr, b"Nats-Required-Api-Level")
        if level is not None and not (level.isdigit() and int(level) <= API_LEVEL):
            return _status(LEVEL)
    if key is not None:
        req = MsgGetRequest()
        if body:
            parsed = _decode(body)
            if parsed is None:
                return _status(MALFORMED)
            req = parsed
        if not key:
            return _status(BAD)
        if (
            req.last_by_subj
            or req.next_by_subj
            or req.multi_last
            or req.seq
            or req.batch
            or req.start_time is not None
            or req.up_to_seq
            or req.up_to_time is not None
        ):
            return _status(BAD)
        req.last_by_subj = key
        return await _get(stream, req)
    if not body:
        return _status(EMPTY)
    parsed = _decode(body)
    if parsed is None:
        return _status(MALFORMED)
    req = parsed
    last, nxt = req.last_by_subj, req.next_by_subj
    if not req.seq and not last and not nxt and not req.multi_last and req.start_time is None:
        return _status(EMPTY)
    if (
        (req.seq and last)
        or (req.seq and req.start_time is not None)
        or (req.start_time is not None and last)
        or (last and nxt)
        or (last and req.batch > 0)
        or (last and req.multi_last)
        or (nxt and req.multi_last)
        or (req.up_to_seq and req.up_to_time is not None)
    ):
        return _status(BAD)
    if req.multi_last or req.start_time is not None:
        return _status(BAD)  # multi_last and start_time are not implemented yet
    return await _get(stream, req)


async def _get(stream: Stream, req: MsgGetRequest) -> list[Reply]:
    store = stream.store
    name = stream.config.name
    seq = req.seq
    batch = req.batch
    is_batch = batch > 0
    pending = store.num_pending(seq, req.next_by_subj) if is_batch else 0
    budget = req.max_bytes or MAX_BATCH_BYTES
    out: list[Reply] = []
    last_seq = 0
    sent = 0
    for i in range(max(batch, 1)):
        msg: StoredMsg | None
        if seq > 0 and not req.next_by_subj:
            if i == 0 and not is_batch:
                msg = await store.load_msg(seq)
            else:
                msg = await store.load_next_msg(">", seq)
        elif req.next_by_subj:
            msg = await store.load_next_msg(req.next_by_subj, seq)
        else:
            msg = await store.load_last_msg(req.last_by_subj)
        if msg is None:
            if is_batch and i > 0:
                break
            return _status(NOT_FOUND)
        seq = msg.seq + 1
        block = b""
        if not req.no_hdr:
            pairs: list[tuple[str, str | int]] = [
                ("Nats-Stream", name),
                ("Nats-Subject", msg.subject),
                ("Nats-Sequence", msg.seq),
                ("Nats-Time-Stamp", format_time(msg.ts)),
            ]
            if is_batch:
                pending = max(pending - 1, 0)
                pairs += [("Nats-Num-Pending", pending), ("Nats-Last-Sequence", last_seq)]
            block = _headers(msg.headers, pairs)
        last_seq = msg.seq
        out.append((block, msg.payload))
        sent += len(msg.subject) + len(msg.headers or b"") + len(msg.payload)
        if sent >= budget:
            break
    if is_batch:
        eob = (
            f"NATS/1.0 204 EOB\r\nNats-Num-Pending: {pending}\r\n"
            f"Nats-Last-Sequence: {last_seq}\r\n\r\n"
        ).encode()
        out.append((eob, b""))
    return out
