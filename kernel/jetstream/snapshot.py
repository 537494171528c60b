"""``$JS.API.STREAM.SNAPSHOT.<stream>``: a stream's archive, streamed in flow-controlled chunks.

As nats-server's ``jsStreamSnapshotRequest`` and ``streamSnapshot``: the request
``{deliver_subject, no_consumers, chunk_size, window_size, jsck}`` is answered with a
``stream_snapshot_response`` ``{config, state}``; a task then publishes the archive
(:mod:`~natskern.kernel.jetstream.snapshot_format`, natskern's own format) to
``deliver_subject`` in chunks of ``chunk_size`` (128 KiB, clamped to 1 KiB-1 MiB), each
with the reply subject ``$JS.SNAPSHOT.ACK.<stream>.<id>.<len>.<index>``.  At most
``window_size / chunk_size`` chunks are unacknowledged (8 MiB, clamped to 1 KiB-32 MiB):
the next waits for an ack.  The last, shorter chunk carries no reply; the end is a
message without payload, with the header ``NATS/1.0 204`` when at least one full chunk
went out (nats-server sends none otherwise), ``408 No Interest`` when the receiver left,
``408 No Flow Response`` after 5 s without an ack, ``500 <error>`` when reading failed.
``SNAPSHOT_CREATE`` and ``SNAPSHOT_COMPLETE`` advisories frame the transfer.

The archive is read from the store message by message while it is sent, so memory
stays within one segment and the window, whatever the stream's size.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.consumers import ensure_loaded
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.godecode import BOOL, INT, STRING, Struct, decode, gofield
from natskern.kernel.jetstream.gojson import GoJSONError, parse
from natskern.kernel.jetstream.snapshot_format import ArchiveWriter, ConsumerEntry, SnapshotMeta
from natskern.kernel.jetstream.wire import API_TYPE_PREFIX, dumps, format_time, to_wire
from natskern.kernel.store.api import ConsumerState
from natskern.kernel.subjects.tokens import is_valid_pub_subject

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["SnapshotRequest", "consumer_entries", "handle_snapshot", "new_id", "state_ints"]

log = logging.getLogger("natskern.jetstream.snapshot")

DEFAULT_CHUNK: Final = 128 * 1024
DEFAULT_WINDOW: Final = 8 * 1024 * 1024
#: How long the sender waits for an ack when the window is full (nats-server: 5 s).
ACK_TIMEOUT: Final = 5.0
#: How long the sender waits for a subscriber on the deliver subject (nats-server: 2 s).
INTEREST_WAIT: Final = 2.0
_KIND: Final = "stream_snapshot_response"
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_STATE_KEYS: Final = ("messages", "bytes", "first_seq", "first_ts", "last_seq", "last_ts")


@dataclass(slots=True)
class SnapshotRequest:
    """nats-server's ``JSApiStreamSnapshotRequest``."""

    deliver_subject: str = gofield(STRING, "")
    no_consumers: bool = gofield(BOOL, False)
    chunk_size: int = gofield(INT, 0)
    window_size: int = gofield(INT, 0)
    jsck: bool = gofield(BOOL, False)


_STRUCT: Final = Struct(SnapshotRequest, "server.JSApiStreamSnapshotRequest")


def is_empty_request(body: bytes) -> bool:
    """nats-server's ``isEmptyRequest``: nothing, ``{}``, or a JSON object without keys."""
    if not body or body == b"{}":
        return True
    try:
        values = parse(body)
    except GoJSONError:
        return False
    return len(values) == 1 and values[0].kind == "object" and not values[0].value


def new_id() -> str:
    """A random 22-character identifier (NUID alphabet) for the ack and restore subjects."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(22))


def state_ints(stream: Stream) -> dict[str, int]:
    """The archive's ``state``: the stream's counters and sequence range, times in ns."""
    st = stream.store.state()
    return {
        "messages": st.messages,
        "bytes": st.bytes,
        "first_seq": st.first_seq,
        "first_ts": st.first_ts if st.messages else 0,
        "last_seq": st.last_seq,
        "last_ts": st.last_ts,
    }


def _consumer_state(state: ConsumerState) -> dict[str, Any]:
    return {
        "delivered": {
            "consumer_seq": state.delivered_consumer_seq,
            "stream_seq": state.delivered_stream_seq,
        },
        "ack_floor": {
            "consumer_seq": state.ack_floor_consumer_seq,
            "stream_seq": state.ack_floor_stream_seq,
        },
        "pending": [[d, p.sseq, p.ts] for d, p in sorted(state.pending.items())],
        "redelivered": [[s, n] for s, n in sorted(state.redelivered.items())],
    }


def consumer_entries(stream: Stream) -> list[ConsumerEntry]:
    """Every consumer of ``stream`` with its config and current state."""
    out = []
    for name, consumer in sorted(stream.consumers.items()):
        out.append(
            ConsumerEntry(
                name=name,
                created=consumer.created,
                config=to_wire(consumer.config),
                state=_consumer_state(consumer.cstore.state()),
            )
        )
    return out


def _resp(body: dict[str, Any]) -> bytes:
    return dumps({"type": API_TYPE_PREFIX + _KIND, **body})


async def handle_snapshot(js: AccountJetStream, name: str, body: bytes) -> bytes:
    """Answer a snapshot request; on success a task streams the archive afterwards."""
    try:
        if is_empty_request(body):
            raise E.BAD_REQUEST()
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
        try:
            req: SnapshotRequest = decode(body, _STRUCT, "JSApiStreamSnapshotRequest")
        except GoJSONError as err:
            raise E.INVALID_JSON(err=str(err)) from None
        if not is_valid_pub_subject(req.deliver_subject.encode()):
            raise E.SNAPSHOT_DELIVER_SUBJECT_INVALID()
    except ApiError as err:
        js.api_errors += 1
        return _resp({"error": err.to_json()})
    from natskern.kernel.jetstream.api import state_json

    consumers: list[ConsumerEntry] = []
    if not req.no_consumers:
        await ensure_loaded(js, stream)
        consumers = consumer_entries(stream)
    meta = SnapshotMeta(
        stream=name,
        created=stream.created,
        taken=time.time_ns(),
        consumers=not req.no_consumers,
        config=to_wire(stream.config),
        state=state_ints(stream),
    )
    state = state_json(stream)
    answer = _resp({"config": meta.config, "state": state})
    sender = SnapshotSender(js, stream, req, meta, consumers, state)
    sender.task = asyncio.create_task(sender.run())
    _RUNNING.add(sender.task)
    sender.task.add_done_callback(_RUNNING.discard)
    return answer


_RUNNING: set[asyncio.Task[None]] = set()


async def archive_pieces(
    stream: Stream, meta: SnapshotMeta, consumers: list[ConsumerEntry], piece: int
) -> AsyncIterator[bytes]:
    """The archive's compressed bytes, in pieces of about ``piece`` bytes or more."""
    writer = ArchiveWriter()
    writer.add_meta(meta)
    store = stream.store
    last = meta.state["last_seq"]
    seq = meta.state["first_seq"]
    while seq <= last:
        msg = await store.load_next_msg("", seq)
        if msg is None or msg.seq > last:
            break
        seq = msg.seq + 1
        writer.add_message(msg)
        if writer.pending >= piece:
            yield writer.take()
    for entry in consumers:
        writer.add_consumer(entry)
    writer.finish()
    yield writer.take()


class SnapshotSender:
    """Streams one snapshot to its deliver subject under the client's flow control."""

    def __init__(
        self,
        js: AccountJetStream,
        stream: Stream,
        req: SnapshotRequest,
        meta: SnapshotMeta,
        consumers: list[ConsumerEntry],
        state: dict[str, Any],
    ) -> None:
        self.js = js
        self.stream = stream
        self.meta = meta
        self.consumers = consumers
        self.state = state
        self.deliver = req.deliver_subject.encode()
        chunk = req.chunk_size or DEFAULT_CHUNK
        window = req.window_size or DEFAULT_WINDOW
        self.chunk = min(max(1024, chunk), 1024 * 1024)
        window = max(min(max(1024, window), 32 * 1024 * 1024), self.chunk)
        self.max_inflight = window // self.chunk
        self.slots = self.max_inflight
        self._wake = asyncio.Event()
        self.ack_subject = f"$JS.SNAPSHOT.ACK.{meta.stream}.{new_id()}"
        self.task: asyncio.Task[None] | None = None
        self.chunks_sent = 0

    def _on_ack(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        if self.slots < self.max_inflight:
            self.slots += 1
            self._wake.set()
        return True

    def _interest(self) -> bool:
        result = self.js.client.account.sublist.match(self.deliver)
        return bool(result.psubs or result.qsubs)

    async def run(self) -> None:
        """Advise, stream, advise the outcome."""
        js, name = self.js, self.meta.stream
        start = time.time_ns()
        self._advise("SNAPSHOT_CREATE", "snapshot_create", {"stream": name, "state": self.state})
        error = ""
        try:
            error = await self._send()
        except Exception as err:  # a failure must still end the transfer and be advised
            log.exception("snapshot of %r failed", name)
            error = str(err)
        end = time.time_ns()
        body: dict[str, Any] = {"stream": name, "start": format_time(start)}
        body["end"] = format_time(end)
        self._advise("SNAPSHOT_COMPLETE", "snapshot_complete", body, error=error)
        if error:
            log.warning("snapshot of stream %r failed: %s", name, error)
        del js

    def _advise(self, event: str, kind: str, fields: dict[str, Any], *, error: str = "") -> None:
        js = self.js
        body: dict[str, Any] = {
            "type": "io.nats.jetstream.advisory.v1." + kind,
            "id": new_id(),
            "timestamp": format_time(time.time_ns()),
        }
        body.update(fields)
        body["client"] = {"acc": js.account.name, "server": js.server_name}
        if js.domain:
            body["domain"] = js.domain
        if error:
            body["error"] = error
        subject = f"$JS.EVENT.ADVISORY.STREAM.{event}.{self.meta.stream}".encode()
        js.client.publish(subject, dumps(body))

    async def _wait_interest(self) -> None:
        deadline = time.monotonic() + INTEREST_WAIT
        while not self._interest() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _slot(self) -> bool:
        """Take a window slot; False when no ack came within :data:`ACK_TIMEOUT`."""
        while self.slots <= 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), ACK_TIMEOUT)
            except TimeoutError:
                return False
        self.slots -= 1
        return True

    async def _send(self) -> str:
        """Send the chunks and the end message; the error text ("" when it went through)."""
        client = self.js.client
        sub = client.subscribe(self.ack_subject.encode() + b".>", self._on_ack)
        hdr: bytes | None = None
        error = ""
        try:
            await self._wait_interest()
            buf = bytearray()
            pieces = archive_pieces(self.stream, self.meta, self.consumers, self.chunk)
            done = False
            index = 1
            while True:
                while not done and len(buf) < self.chunk:
                    try:
                        buf += await anext(pieces)
                    except StopAsyncIteration:
                        done = True
                if not buf:
                    break
                if not await self._slot():
                    error = "no flow response"
                    hdr = b"NATS/1.0 408 No Flow Response\r\n\r\n"
                    break
                if not self._interest():
                    error = "no interest"
                    hdr = b"NATS/1.0 408 No Interest\r\n\r\n"
                    break
                if len(buf) < self.chunk:  # the last, shorter chunk: no reply, as nats-server
                    client.publish(self.deliver, bytes(buf))
                    break
                chunk = bytes(buf[: self.chunk])
                del buf[: self.chunk]
                reply = f"{self.ack_subject}.{len(chunk)}.{index}".encode()
                client.publish(self.deliver, chunk, reply)
                self.chunks_sent += 1
                if hdr is None:
                    hdr = b"NATS/1.0 204\r\n\r\n"
                index += 1
        except Exception as err:
            error = str(err) or type(err).__name__
            hdr = b"NATS/1.0 500 %s\r\n\r\n" % error.encode(errors="replace")
        finally:
            client.remove_subscription(sub)
        client.publish(self.deliver, b"", b"", hdr)
        return error
