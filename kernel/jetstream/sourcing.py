"""Mirrors and sources within an account: copying an origin stream's messages in.

A :class:`SourceTask` follows one origin stream of the same account (``external``
origins are not served yet): it reads the origin's store from where it stopped, keeps
the messages its filter or transforms select, and stores them in its stream through the
stream's own write path (dedupe, consumers, republish).  A mirror keeps the origin's
sequences (gaps are skipped over); a source appends with a ``Nats-Stream-Source``
header (``<origin> <seq> <filter> <destination> <subject> <identity>``, nats-server
2.15's form: the identity is the origin stream's, a hash of its creation time), which is
also how a source finds its place again after a restart.  As in nats-server, a sourced
message loses the origin's own ``Nats-Stream-Source`` (daisy chains), and a sourced or
mirrored one its ``Nats-Expected-*`` and ``Nats-Batch-*`` headers.

New origin messages are noticed by polling the origin's last sequence (every
:data:`POLL` seconds while idle); no timing decides what is copied, only when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream.stream import MSG_ID
from natskern.kernel.jetstream.streamcheck import go_hash, source_iname
from natskern.kernel.jetstream.streamconfig import StreamSource
from natskern.kernel.jetstream.transforms import compile_transform
from natskern.kernel.jetstream.wire import format_time, parse_go_time, time_ns
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.subjects.tokens import matches

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["POLL", "HeaderedAnswer", "SourceTask", "identity_answer", "stream_identity"]

log = logging.getLogger("natskern.jetstream")

POLL: Final = 0.02
SOURCE_HDR: Final = b"Nats-Stream-Source"
_BATCH: Final = 256
#: Headers of an origin message a source drops (nats-server: a daisy chain's own source
#: header; expectations are not checked again; batching does not carry over).
_DROPPED: Final = (b"Nats-Expected-", b"Nats-Batch-")
_EMPTY_HDR: Final = b"NATS/1.0\r\n\r\n"


def stream_identity(created: int) -> str:
    """nats-server's stream ``identity()``: ``getHash`` of the creation time (RFC 3339 with
    nanoseconds, UTC), 8 characters of base 62 from SHA-256.  A recreated stream gets
    another one."""
    return go_hash(format_time(created))


class HeaderedAnswer(bytes):
    """An API answer sent with a header block (``headers``)."""

    headers: bytes | None = None


def identity_answer(answer: bytes, created: int) -> HeaderedAnswer:
    """``answer`` with the ``Nats-Stream-Identity`` header nats-server puts on the answer
    to a ``direct``/``sourcing`` consumer's create: how a source in another account learns
    the origin's identity for its ``Nats-Stream-Source`` headers."""
    out = HeaderedAnswer(answer)
    out.headers = (
        b"NATS/1.0\r\nNats-Stream-Identity: %s\r\n\r\n" % stream_identity(created).encode()
    )
    return out


class SourceTask:
    """Copies one origin stream into ``stream`` (a mirror when ``mirror``)."""

    def __init__(
        self,
        stream: Stream,
        source: StreamSource,
        lookup: Callable[[str], Stream | None],
        *,
        mirror: bool,
        functions: Any = None,
    ) -> None:
        self.stream = stream
        self.source = source
        self.lookup = lookup
        self.mirror = mirror
        self.iname = source_iname(source)
        parts = self.iname.split(" ")
        self._hdr_prefix = f"{parts[0]} "
        self._hdr_tail = f" {parts[1]} {parts[2]} " if len(parts) >= 3 else " > > "
        self.transforms = [
            (t.src or ">", compile_transform(t.src, t.dest, functions or {}) if t.dest else None)
            for t in source.subject_transforms
        ]
        self.next_seq = 0
        #: The origin sequence of the last message this source took (STREAM.INFO ``seq``).
        self.last_seq = 0
        self.last_active = 0
        #: The origin identity in the header of the last message found by _resume_seq.
        self.resume_ident = ""
        self._ident: tuple[int, str] = (-1, "")
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start copying in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop copying (what was stored stays)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- info ------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The ``StreamSourceInfo`` of STREAM.INFO's ``mirror`` / ``sources``."""
        origin = self.lookup(self.source.name)
        lag = 0
        if origin is not None and self.next_seq:
            lag = max(origin.store.state().last_seq - (self.next_seq - 1), 0)
        out: dict[str, Any] = {"name": self.source.name}
        if self.source.external is not None:
            out["external"] = {
                "api": self.source.external.api,
                "deliver": self.source.external.deliver,
            }
        out["lag"] = lag
        if self.last_seq and not self.mirror:
            out["seq"] = self.last_seq
        out["active"] = time.time_ns() - self.last_active if self.last_active else -1
        if self.source.filter_subject:
            out["filter_subject"] = self.source.filter_subject
        if self.source.subject_transforms:
            out["subject_transforms"] = [
                {"src": t.src, "dest": t.dest} for t in self.source.subject_transforms
            ]
        return out

    # -- copying ---------------------------------------------------------------------------

    def _identity(self, origin: Stream) -> str:
        """The origin's :func:`stream_identity` (computed once per origin creation)."""
        if self._ident[0] != origin.created:
            self._ident = (origin.created, stream_identity(origin.created))
        return self._ident[1]

    def _select(self, subject: str) -> str | None:
        """The subject to store ``subject`` under, or None when the source skips it."""
        if self.transforms:
            raw = subject.encode()
            for src, tr in self.transforms:
                if matches(src.encode(), raw):
                    if tr is None:
                        return subject
                    mapped = tr.apply(raw)
                    return mapped.decode() if mapped else subject
            return None
        f = self.source.filter_subject
        if f and not matches(f.encode(), subject.encode()):
            return None
        return subject

    async def _start_seq(self, origin: Stream) -> int:
        src = self.source
        state = self.stream.store.state()
        if self.mirror:
            if state.last_seq:
                return state.last_seq + 1
        else:
            resume = await self._resume_seq()
            if resume:
                return resume
        if src.opt_start_seq:
            return src.opt_start_seq
        if src.opt_start_time is not None:
            since = time_ns(parse_go_time(src.opt_start_time))
            seq = origin.store.state().first_seq
            while (msg := await origin.store.load_next_msg("", seq)) is not None:
                if msg.ts >= since:
                    return msg.seq
                seq = msg.seq + 1
            return seq
        return max(origin.store.state().first_seq, 1)

    async def _resume_seq(self) -> int:
        """After the last origin sequence this source stored here (0: nothing stored)."""
        store = self.stream.store
        seq = store.state().first_seq
        found = 0
        while (msg := await store.load_next_msg("", seq)) is not None:
            seq = msg.seq + 1
            if msg.headers:
                value = header_value(msg.headers, SOURCE_HDR)
                if value and value.decode(errors="replace").startswith(self._hdr_prefix):
                    parts = value.split(b" ")
                    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) > found:
                        found = int(parts[1])
                        self.resume_ident = parts[5].decode() if len(parts) > 5 else ""
        self.last_seq = found
        return found + 1 if found else 0

    async def _run(self) -> None:
        while True:
            origin = self.lookup(self.source.name)
            if origin is None:
                await asyncio.sleep(POLL)
                continue
            if not self.next_seq:
                self.next_seq = await self._start_seq(origin)
            try:
                copied = await self._copy(origin)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("JetStream: sourcing %r failed", self.source.name)
                copied = 0
            # Heard from the origin (nats-server's source heartbeats keep ``active`` fresh).
            self.last_active = time.time_ns()
            if not copied:
                await asyncio.sleep(POLL)

    async def _copy(self, origin: Stream) -> int:
        copied = 0
        stream = self.stream
        for _ in range(_BATCH):
            msg = await origin.store.load_next_msg("", self.next_seq)
            if msg is None:
                break
            self.next_seq = msg.seq + 1
            self.last_active = time.time_ns()
            subject = self._select(msg.subject)
            if subject is None:
                continue
            if not self.mirror:
                self.last_seq = msg.seq
            async with stream.lock:
                await stream.drain()
                if self.mirror:
                    gap = msg.seq - stream.store.state().last_seq - 1
                    if gap > 0:
                        await stream.store.skip_msgs(0, gap)
                    hdr = _strip_headers(msg.headers, source=False)
                else:
                    value = f"{self._hdr_prefix}{msg.seq}{self._hdr_tail}{msg.subject} "
                    hdr = _add_header(
                        _strip_headers(msg.headers, source=True),
                        SOURCE_HDR,
                        (value + self._identity(origin)).encode(),
                    )
                msg_id = ""
                if not self.mirror and hdr:
                    raw_id = header_value(hdr, MSG_ID)
                    msg_id = raw_id.decode(errors="surrogateescape") if raw_id else ""
                    if msg_id and stream._duplicate(msg_id) is not None:
                        continue
                await stream._store(subject, hdr, msg.payload, 0, msg_id, b"")
            copied += 1
        return copied


def _strip_headers(hdr: bytes | None, *, source: bool) -> bytes | None:
    """``hdr`` without the ``Nats-Expected-*``/``Nats-Batch-*`` headers, and without
    ``Nats-Stream-Source`` when ``source`` (nats-server's ``removeHeaderIfPresent`` /
    ``removeHeaderIfPrefixPresent``, case-sensitive); None when nothing is left."""
    if not hdr or (SOURCE_HDR not in hdr and not any(p in hdr for p in _DROPPED)):
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        name = line.partition(b":")[0]
        if (source and name == SOURCE_HDR) or name.startswith(_DROPPED):
            continue
        kept.append(line)
    out = b"\r\n".join(kept)
    return None if len(out) <= len(_EMPTY_HDR) else out


def _add_header(hdr: bytes | None, name: bytes, value: bytes) -> bytes:
    line = name + b": " + value + b"\r\n"
    if hdr:
        return hdr[: len(hdr) - 2] + line + b"\r\n"
    return b"NATS/1.0\r\n" + line + b"\r\n"
