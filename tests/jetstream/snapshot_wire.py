"""The snapshot/restore exchange driven by hand through nats-py (it has no API for it)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.msg import Msg


@dataclass
class Snapshot:
    """What a client received for one snapshot request."""

    response: dict[str, Any]
    data: bytes = b""
    #: (reply subject, payload length, headers) of every message on the deliver subject.
    chunks: list[tuple[str, int, dict[str, str] | None]] = field(default_factory=list)

    @property
    def end_headers(self) -> dict[str, str] | None:
        """The headers of the final (empty) message."""
        return self.chunks[-1][2] if self.chunks else None


async def request(nc: nats.NATS, subject: str, body: Any = b"", timeout: float = 5) -> Msg:
    """A request with a JSON body (bytes are sent as they are)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await nc.request(subject, data, timeout=timeout)


async def api(nc: nats.NATS, subject: str, body: Any = b"") -> dict[str, Any]:
    """A ``$JS.API`` request, its JSON answer."""
    return json.loads((await request(nc, "$JS.API." + subject, body)).data)  # type: ignore[no-any-return]


async def snapshot(
    nc: nats.NATS,
    stream: str,
    *,
    ack: bool = True,
    timeout: float = 20,
    **options: Any,
) -> Snapshot:
    """Take a snapshot: the response, then every chunk (acked unless ``ack`` is False)."""
    inbox = nc.new_inbox()
    done = asyncio.Event()
    out = Snapshot(response={})
    parts: list[bytes] = []

    async def on_chunk(msg: Msg) -> None:
        out.chunks.append((msg.reply, len(msg.data), msg.headers))
        if not msg.data:
            done.set()
            return
        parts.append(msg.data)
        if msg.reply and ack:
            await nc.publish(msg.reply, b"")

    sub = await nc.subscribe(inbox, cb=on_chunk, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        out.response = await api(
            nc, f"STREAM.SNAPSHOT.{stream}", {"deliver_subject": inbox, **options}
        )
        if "error" not in out.response:
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sub.unsubscribe()
    out.data = b"".join(parts)
    return out


async def restore(
    nc: nats.NATS,
    stream: str,
    data: bytes,
    body: dict[str, Any],
    *,
    chunk: int = 64 * 1024,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restore ``data``: the restore response, and the final answer (None when refused)."""
    first = await api(nc, f"STREAM.RESTORE.{stream}", body)
    if "error" in first:
        return first, None
    subject = first["deliver_subject"]
    for i in range(0, len(data), chunk):
        ack = await nc.request(subject, data[i : i + chunk], timeout=5)
        assert ack.data == b"", ack.data
    final = await nc.request(subject, b"", timeout=30)
    return first, json.loads(final.data)
