"""natskern's stream snapshot archive: a checksummed, backend-independent tar (format v1).

nats-server's snapshots are an s2-compressed tar of its own file store; natskern's are
independent of the backend (memory, file, RocksDB, a third party's) so a snapshot taken
from one restores into any other.  An archive is a **gzip-compressed POSIX tar**
(``tar tzf`` lists it) of regular files, in this order:

``natskern-snapshot.json``
    ``{"format": "natskern-stream-snapshot", "version": 1, "stream", "created" (ns),
    "taken" (ns), "consumers" (bool), "config" (the stream config, JetStream JSON),
    "state" {"messages", "bytes", "first_seq", "last_seq", "first_ts", "last_ts"}}``.
    ``last_seq`` is the stream's last sequence when the snapshot was taken: messages
    above it are not in the archive, and the restored stream's next sequence follows it.
``messages/NNNNNNNN.bin``
    Segments of at most about 1 MiB of message records in ascending sequence order
    (strictly increasing across segments).  A record is, big-endian: ``seq`` u64,
    ``ts`` i64 (ns since the epoch), subject length u32, headers length u32
    (``0xFFFFFFFF``: no headers), payload length u32, then the subject (UTF-8), the raw
    ``NATS/1.0`` header block and the payload.  Sequences missing between
    ``state.first_seq`` and ``state.last_seq`` are the stream's deleted ones.
``consumers/NNNN.json``
    One per consumer (none with ``no_consumers``): ``{"name", "created" (ns), "config",
    "state": {"delivered": {"consumer_seq", "stream_seq"}, "ack_floor": {...},
    "pending": [[consumer_seq, stream_seq, delivered_ts], ...],
    "redelivered": [[stream_seq, count], ...]}}``.
``SUMS.json``
    Last: ``{"messages": N, "members": [{"name", "size", "sha256"}, ...]}``, every member
    before it.  A restore checks every size and SHA-256, the member order, the record
    framing, the sequence order and the counts before it creates anything.

The gzip stream carries its own CRC-32 too.  :class:`ArchiveWriter` builds the bytes
incrementally (memory bounded by one segment); :func:`read_archive` reads and checks a
file member by member.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from natskern.kernel.store.api import StoredMsg

__all__ = [
    "FORMAT",
    "VERSION",
    "ArchiveError",
    "ArchiveWriter",
    "ConsumerEntry",
    "SnapshotMeta",
    "decode_records",
    "encode_record",
    "read_archive",
]

FORMAT: Final = "natskern-stream-snapshot"
VERSION: Final = 1
META_NAME: Final = "natskern-snapshot.json"
SUMS_NAME: Final = "SUMS.json"
#: A message segment is closed once it holds this many bytes.
SEGMENT_BYTES: Final = 1024 * 1024
_RECORD: Final = struct.Struct(">QqIII")
_NO_HEADERS: Final = 0xFFFFFFFF
_BLOCK: Final = 512


class ArchiveError(ValueError):
    """The bytes are not a valid natskern snapshot (corrupt, truncated, or another format)."""


@dataclass(slots=True)
class SnapshotMeta:
    """What ``natskern-snapshot.json`` holds."""

    stream: str
    created: int
    taken: int
    consumers: bool
    config: dict[str, Any]
    state: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The member's JSON object."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "stream": self.stream,
            "created": self.created,
            "taken": self.taken,
            "consumers": self.consumers,
            "config": self.config,
            "state": self.state,
        }


@dataclass(slots=True)
class ConsumerEntry:
    """One consumer of the archive: name, creation time, config JSON and state JSON."""

    name: str
    created: int
    config: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


def encode_record(msg: StoredMsg) -> bytes:
    """One message record (see the module docstring)."""
    subject = msg.subject.encode("utf-8", "surrogateescape")
    hdr = msg.headers
    hlen = _NO_HEADERS if hdr is None else len(hdr)
    head = _RECORD.pack(msg.seq, msg.ts, len(subject), hlen, len(msg.payload))
    return b"".join((head, subject, hdr or b"", msg.payload))


def decode_records(data: bytes) -> Iterator[StoredMsg]:
    """The records of one segment, in order; :class:`ArchiveError` on a framing error."""
    view = memoryview(data)
    pos, end = 0, len(data)
    size = _RECORD.size
    while pos < end:
        if end - pos < size:
            raise ArchiveError("truncated message record")
        seq, ts, slen, hlen, plen = _RECORD.unpack_from(view, pos)
        pos += size
        body = slen + (0 if hlen == _NO_HEADERS else hlen) + plen
        if end - pos < body:
            raise ArchiveError(f"truncated message record at sequence {seq}")
        subject = bytes(view[pos : pos + slen]).decode("utf-8", "surrogateescape")
        pos += slen
        headers = None
        if hlen != _NO_HEADERS:
            headers = bytes(view[pos : pos + hlen])
            pos += hlen
        payload = bytes(view[pos : pos + plen])
        pos += plen
        yield StoredMsg(subject, seq, ts, headers, payload)


class ArchiveWriter:
    """Builds an archive incrementally: add members, take the compressed bytes as they come.

    ``add_meta``, then ``add_message`` in sequence order, then ``add_consumer``, then
    ``finish``; :meth:`take` returns (and forgets) the compressed bytes produced so far.
    """

    def __init__(self, *, level: int = 1) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip container
        self._out: list[bytes] = []
        self._sums: list[dict[str, Any]] = []
        self._segment: list[bytes] = []
        self._segment_size = 0
        self._segments = 0
        self._consumers = 0
        self._messages = 0
        self._mtime = 0
        self.raw_bytes = 0

    def _member(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = self._mtime
        info.mode = 0o644
        head = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        pad = -len(data) % _BLOCK
        for piece in (head, data, b"\0" * pad):
            self._out.append(self._z.compress(piece))
        self.raw_bytes += len(head) + len(data) + pad
        if name != SUMS_NAME:
            digest = hashlib.sha256(data).hexdigest()
            self._sums.append({"name": name, "size": len(data), "sha256": digest})

    def add_meta(self, meta: SnapshotMeta) -> None:
        """The first member."""
        self._mtime = meta.taken // 1_000_000_000
        self._member(META_NAME, _json(meta.to_json()))

    def add_message(self, msg: StoredMsg) -> None:
        """Append one message (sequences ascending); closes a full segment."""
        record = encode_record(msg)
        self._segment.append(record)
        self._segment_size += len(record)
        self._messages += 1
        if self._segment_size >= SEGMENT_BYTES:
            self._flush_segment()

    def _flush_segment(self) -> None:
        if not self._segment:
            return
        self._segments += 1
        self._member(f"messages/{self._segments:08d}.bin", b"".join(self._segment))
        self._segment = []
        self._segment_size = 0

    def add_consumer(self, entry: ConsumerEntry) -> None:
        """One consumer (after the messages)."""
        self._flush_segment()
        self._consumers += 1
        doc = {
            "name": entry.name,
            "created": entry.created,
            "config": entry.config,
            "state": entry.state,
        }
        self._member(f"consumers/{self._consumers:04d}.json", _json(doc))

    def finish(self) -> None:
        """The checksums member, the tar end and the gzip trailer."""
        self._flush_segment()
        sums = {"messages": self._messages, "members": self._sums}
        self._member(SUMS_NAME, _json(sums))
        self._out.append(self._z.compress(b"\0" * (2 * _BLOCK)))
        self.raw_bytes += 2 * _BLOCK
        self._out.append(self._z.flush())

    @property
    def pending(self) -> int:
        """Compressed bytes waiting to be taken."""
        return sum(len(b) for b in self._out)

    def take(self) -> bytes:
        """The compressed bytes produced since the last call."""
        out = b"".join(self._out)
        self._out = []
        return out


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


# -- reading -------------------------------------------------------------------------------

#: What :func:`read_archive` yields: ``("meta", SnapshotMeta)``, ``("messages",
#: list[StoredMsg])`` per segment, ``("consumer", ConsumerEntry)``, ``("end", count)``.
Item = tuple[str, Any]


def read_archive(path: str) -> Iterator[Item]:
    """The members of the archive in ``path``, checked as they are read.

    Raises :class:`ArchiveError` on anything wrong: not gzip/tar, a member out of
    order or unknown, a size or checksum that does not match ``SUMS.json``, broken
    record framing, sequences not strictly increasing or outside the snapshot's range,
    counts that disagree, or data after the end.
    """
    try:
        yield from _read(path)
    except ArchiveError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as err:
        raise ArchiveError(f"not a valid natskern snapshot archive: {err}") from None


def _read(path: str) -> Iterator[Item]:
    seen: list[dict[str, Any]] = []
    meta: SnapshotMeta | None = None
    last_seq = 0
    count = 0
    phase = 0  # 0: meta next, 1: messages, 2: consumers, 3: after SUMS
    with tarfile.open(path, mode="r|gz") as tar:
        for info in tar:
            if phase == 3:
                raise ArchiveError(f"unexpected member {info.name!r} after {SUMS_NAME}")
            if not info.isreg():
                raise ArchiveError(f"unexpected member {info.name!r} (not a regular file)")
            f = tar.extractfile(info)
            data = f.read() if f is not None else b""
            if len(data) != info.size:
                raise ArchiveError(f"member {info.name!r} is truncated")
            name = info.name
            if name == SUMS_NAME:
                if meta is None:
                    raise ArchiveError(f"{SUMS_NAME} before {META_NAME}")
                _check_sums(data, seen, count)
                phase = 3
                yield "end", count
                continue
            seen.append(
                {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            )
            if phase == 0:
                if name != META_NAME:
                    raise ArchiveError(f"not a natskern snapshot: first member is {name!r}")
                meta = _meta(data)
                last_seq = 0
                phase = 1
                yield "meta", meta
            elif name.startswith("messages/") and phase == 1:
                assert meta is not None
                msgs = list(decode_records(data))
                for msg in msgs:
                    if msg.seq <= last_seq:
                        raise ArchiveError(f"message sequence {msg.seq} out of order")
                    if msg.seq > meta.state["last_seq"]:
                        raise ArchiveError(
                            f"message sequence {msg.seq} beyond the snapshot's last sequence"
                        )
                    last_seq = msg.seq
                count += len(msgs)
                yield "messages", msgs
            elif name.startswith("consumers/") and phase in (1, 2):
                phase = 2
                yield "consumer", _consumer(data)
            else:
                raise ArchiveError(f"unexpected member {name!r}")
    if phase != 3:
        raise ArchiveError(f"the archive is truncated (no {SUMS_NAME})")


def _load(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as err:
        raise ArchiveError(f"{what} is not valid JSON: {err}") from None


def _meta(data: bytes) -> SnapshotMeta:
    doc = _load(data, META_NAME)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArchiveError("not a natskern stream snapshot")
    if doc.get("version") != VERSION:
        raise ArchiveError(f"unsupported snapshot version {doc.get('version')!r}")
    try:
        state = {k: int(v) for k, v in doc["state"].items()}
        state["first_seq"], state["last_seq"]
        return SnapshotMeta(
            stream=str(doc["stream"]),
            created=int(doc["created"]),
            taken=int(doc["taken"]),
            consumers=bool(doc["consumers"]),
            config=dict(doc["config"]),
            state=state,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ArchiveError(f"{META_NAME} is incomplete: {err}") from None


def _consumer(data: bytes) -> ConsumerEntry:
    doc = _load(data, "a consumer member")
    try:
        return ConsumerEntry(
            name=str(doc["name"]),
            created=int(doc["created"]),
            config=dict(doc["config"]),
            state=dict(doc["state"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ArchiveError(f"a consumer member is incomplete: {err}") from None


def _check_sums(data: bytes, seen: list[dict[str, Any]], count: int) -> None:
    doc = _load(data, SUMS_NAME)
    if not isinstance(doc, dict):
        raise ArchiveError(f"{SUMS_NAME} is not an object")
    if doc.get("members") != seen:
        listed = {m.get("name"): m for m in doc.get("members") or [] if isinstance(m, dict)}
        for got in seen:
            want = listed.get(got["name"])
            if want is None:
                raise ArchiveError(f"member {got['name']!r} is not listed in {SUMS_NAME}")
            if want != got:
                raise ArchiveError(f"checksum mismatch in member {got['name']!r}")
        raise ArchiveError(f"members listed in {SUMS_NAME} are missing")
    if doc.get("messages") != count:
        raise ArchiveError(f"{SUMS_NAME} counts {doc.get('messages')} messages, found {count}")
