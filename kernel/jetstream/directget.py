"""Direct Get (``$JS.API.DIRECT.GET.<stream>[.<subject>]``, ADR-31): stored messages as is.

Served only for streams with ``allow_direct``.  The answer is the stored message itself
(its headers and payload) with ``Nats-Stream``, ``Nats-Subject``, ``Nats-Sequence`` and
``Nats-Time-Stamp`` appended to its headers; a batch request (``batch``) sends each
message with ``Nats-Num-Pending`` / ``Nats-Last-Sequence`` and ends with a ``204 EOB``
status.  Failures are header-only statuses: ``404 Message Not Found``, ``408 Empty
Request``, ``408 Malformed Request``, ``408 Bad Request``, ``412 Required Api Level``.
Mirrors nats-server's ``processDirectGetRequest`` and ``getDirectRequest``.

A mirror with ``mirror_direct`` also answers the direct gets made to its origin's name,
once it has nearly caught up (:class:`MirrorDirect`, nats-server's
``subscribeToMirrorDirect``: a member of the origin's queue group, so either answers,
each with its own name in ``Nats-Stream``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.requests import MsgGetRequest, decode_body
from natskern.kernel.jetstream.wire import format_time, time_ns
from natskern.kernel.protocol.headers import header_value

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.stream import Stream
    from natskern.kernel.store.api import StoredMsg, StreamStore

__all__ = ["MirrorDirect", "direct_get", "seq_from_time"]

#: ``(headers, payload)`` of one reply message.
Reply = tuple[bytes, bytes]

NOT_FOUND: Final = b"NATS/1.0 404 Message Not Found\r\n\r\n"
EMPTY: Final = b"NATS/1.0 408 Empty Request\r\n\r\n"
MALFORMED: Final = b"NATS/1.0 408 Malformed Request\r\n\r\n"
BAD: Final = b"NATS/1.0 408 Bad Request\r\n\r\n"
LEVEL: Final = b"NATS/1.0 412 Required Api Level\r\n\r\n"
NO_RESULTS: Final = b"NATS/1.0 404 No Results\r\n\r\n"
TOO_MANY: Final = b"NATS/1.0 413 Too Many Results\r\n\r\n"
#: The most messages one ``multi_last`` request may select.
MAX_MULTI: Final = 1024
#: The default byte budget of a batch (nats-server uses the connection's max pending).
MAX_BATCH_BYTES: Final = 64 * 1024 * 1024
#: A mirror joins its origin's direct gets once fewer messages than this are left to copy
#: (nats-server's ``dgetCaughtUpThresh``).
CAUGHT_UP: Final = 10


class MirrorDirect:
    """The account's ``mirror_direct`` mirrors, by origin name, and which of them serve.

    A mirror starts answering its origin's direct gets once it has stored a message and
    is less than :data:`CAUGHT_UP` messages behind (then it keeps answering, as
    nats-server's subscription stays until the config changes or the mirror goes).
    """

    def __init__(self) -> None:
        self.by_origin: dict[str, list[str]] = {}
        self._serving: set[str] = set()

    def add(self, mirror: str, origin: str) -> None:
        """Register ``mirror`` (a stream with ``mirror_direct``) for ``origin``."""
        self.by_origin.setdefault(origin, []).append(mirror)

    def remove(self, mirror: str) -> None:
        """Forget ``mirror`` (stopped, deleted or reconfigured)."""
        self._serving.discard(mirror)
        for origin, names in list(self.by_origin.items()):
            if mirror in names:
                names.remove(mirror)
                if not names:
                    del self.by_origin[origin]

    def pick(self, streams: Mapping[str, Stream], name: str) -> Stream | None:
        """The stream answering a direct get made to ``name``: the stream itself (with
        ``allow_direct``) or one of its serving mirrors, at random; None: nobody serves."""
        stream = streams.get(name)
        own = stream if stream is not None and stream.config.allow_direct else None
        mirrors = self.by_origin.get(name)
        if not mirrors:
            return own
        members = [own] if own is not None else []
        for mirror_name in mirrors:
            mirror = streams.get(mirror_name)
            if mirror is not None and self._ready(mirror, stream):
                members.append(mirror)
        if not members:
            return None
        return members[0] if len(members) == 1 else random.choice(members)

    def _ready(self, mirror: Stream, origin: Stream | None) -> bool:
        name = mirror.config.name
        if name in self._serving:
            return True
        last = mirror.store.state().last_seq
        if not last:
            return False
        m = mirror.config.mirror
        if m is not None and m.external is not None:
            origin = None  # a namesake here is not the origin
        if origin is not None and origin.store.state().last_seq - last >= CAUGHT_UP:
            return False
        self._serving.add(name)
        return True


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


_MESSAGE_HEADERS: Final = (
    b"%bNats-Stream: %b\r\nNats-Subject: %b\r\nNats-Sequence: %d\r\nNats-Time-Stamp: %b\r\n\r\n"
)


#: ``Nats-Time-Stamp`` texts of recently read messages (a KV get reads the same keys'
#: messages again and again; Go's RFC 3339 formatting is most of a header's cost).
_TIMES: dict[int, bytes] = {}
_TIMES_MAX: Final = 4096


def _time_text(ts: int) -> bytes:
    text = _TIMES.get(ts)
    if text is None:
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        text = _TIMES[ts] = format_time(ts).encode()
    return text


def _message_headers(stored: bytes | None, stream: str, msg: StoredMsg) -> bytes:
    """The headers of a direct get's answer of one message: the stored headers (if any)
    followed by ``Nats-Stream``, ``Nats-Subject``, ``Nats-Sequence``, ``Nats-Time-Stamp``
    (:func:`_headers` of those four pairs, in one format: this is every KV get's cost)."""
    head = stored[: len(stored) - 2] if stored else b"NATS/1.0\r\n"
    return _MESSAGE_HEADERS % (
        head,
        stream.encode(),
        msg.subject.encode(),
        msg.seq,
        _time_text(msg.ts),
    )


def direct_get_cached(stream: Stream, key: str) -> Reply | None:
    """The reply to a plain ``$JS.API.DIRECT.GET.<stream>.<subject>`` (no body, no headers)
    when the store holds the message in memory, else None (serve it with :func:`direct_get`).

    What a KV get sends: answered in the router callback, without a queue or a coroutine.
    """
    peek = getattr(stream.store, "peek_last_msg", None)
    if peek is None or not key:
        return None
    msg = peek(key)
    if not msg:
        return None  # False: it needs a read; None: not found (the slow path answers 404)
    return _message_headers(msg.headers, stream.config.name, msg), msg.payload


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
    if req.multi_last:
        return await _multi(stream, req)
    return await _get(stream, req)


async def seq_from_time(store: StreamStore, ts: int) -> int:
    """nats-server's ``GetSeqFromTime``: the first sequence stored at or after ``ts``.

    The last sequence plus one when every message is older.
    """
    state = store.state()
    lo, hi = state.first_seq, state.last_seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        msg = await store.load_next_msg("", mid)
        if msg is None or msg.ts >= ts:
            hi = mid
        else:
            lo = msg.seq + 1
    msg = await store.load_next_msg("", lo)
    return msg.seq if msg is not None else state.last_seq + 1


async def _last_up_to(store: StreamStore, subject: str, first: int, start: int, up_to: int) -> int:
    """The last sequence of ``subject`` in ``start..up_to`` (0: none)."""
    best = 0
    seq = max(first, start)
    while (msg := await store.load_next_msg(subject, seq)) is not None and msg.seq <= up_to:
        best = msg.seq
        seq = msg.seq + 1
    return best


async def _multi(stream: Stream, req: MsgGetRequest) -> list[Reply]:
    """``multi_last``: the newest message of every matching subject, in sequence order."""
    store = stream.store
    up_to = req.up_to_seq
    if req.up_to_time is not None:
        up_to = await seq_from_time(store, time_ns(req.up_to_time))
        if up_to <= store.state().first_seq:
            return _status(NO_RESULTS)
        up_to -= 1
    if up_to == 0:
        up_to = store.state().last_seq
    found: set[int] = set()
    for pattern in req.multi_last:
        for subject, st in store.subjects_state(pattern).items():
            if req.seq <= st.last <= up_to:
                found.add(st.last)
            elif st.first <= up_to:
                seq = await _last_up_to(store, subject, st.first, req.seq, up_to)
                if seq:
                    found.add(seq)
    if len(found) > MAX_MULTI:
        return _status(TOO_MANY)
    if not found:
        return _status(NO_RESULTS)
    seqs = sorted(found)
    total = len(seqs)
    budget = req.max_bytes or MAX_BATCH_BYTES
    name = stream.config.name
    out: list[Reply] = []
    last_seq = sent_bytes = sent = 0
    for seq in seqs:
        msg = await store.load_msg(seq)
        if msg is None:
            continue
        pairs: list[tuple[str, str | int]] = [
            ("Nats-Stream", name),
            ("Nats-Subject", msg.subject),
            ("Nats-Sequence", msg.seq),
            ("Nats-Time-Stamp", format_time(msg.ts)),
            ("Nats-Num-Pending", total - sent - 1),
            ("Nats-Last-Sequence", last_seq),
        ]
        out.append((_headers(msg.headers, pairs), msg.payload))
        last_seq = msg.seq
        sent += 1
        sent_bytes += len(msg.subject) + len(msg.headers or b"") + len(msg.payload)
        if sent_bytes >= budget or (req.batch > 0 and sent >= req.batch):
            break
    eob = (
        f"NATS/1.0 204 EOB\r\nNats-Num-Pending: {total - sent}\r\n"
        f"Nats-Last-Sequence: {last_seq}\r\nNats-UpTo-Sequence: {up_to}\r\n\r\n"
    ).encode()
    out.append((eob, b""))
    return out


async def _get(stream: Stream, req: MsgGetRequest) -> list[Reply]:
    store = stream.store
    name = stream.config.name
    seq = req.seq
    if req.start_time is not None:
        seq = await seq_from_time(store, time_ns(req.start_time))
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
        if req.no_hdr:
            pass
        elif is_batch:
            pending = max(pending - 1, 0)
            pairs: list[tuple[str, str | int]] = [
                ("Nats-Stream", name),
                ("Nats-Subject", msg.subject),
                ("Nats-Sequence", msg.seq),
                ("Nats-Time-Stamp", format_time(msg.ts)),
                ("Nats-Num-Pending", pending),
                ("Nats-Last-Sequence", last_seq),
            ]
            block = _headers(msg.headers, pairs)
        else:
            block = _message_headers(msg.headers, name, msg)
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
