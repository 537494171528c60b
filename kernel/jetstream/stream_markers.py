"""Per-message TTL (``Nats-TTL``) and subject delete markers, for the stream.

:func:`parse_ttl` reads a ``Nats-TTL`` value as nats-server does; :class:`MarkerMixin`
gives :class:`~natskern.kernel.jetstream.stream.Stream` the markers: after an age removal
(``max_age`` or the message's TTL) empties a subject, a ``Nats-Marker-Reason: MaxAge``
message with ``subject_delete_marker_ttl`` is written on it.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Final

from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.jetstream.wire import go_duration
from natskern.kernel.protocol.headers import header_value

__all__ = ["MARKER_REASON", "TTL", "MarkerMixin", "parse_ttl"]

TTL: Final = b"Nats-TTL"
MARKER_REASON: Final = b"Nats-Marker-Reason"
#: How early a removal may come and still count as the message's expiry (ns).
_MARKER_SLACK: Final = 50_000_000
_SECOND: Final = 1_000_000_000
_DIGITS: Final = re.compile(rb"[0-9]+")
_now = time.time_ns


def parse_ttl(raw: bytes) -> int:
    """A ``Nats-TTL`` value in seconds (-1: never; 0: none); ValueError when invalid.

    A Go duration of at least one second (truncated to whole seconds), ``never``
    (any letter case) or a whole number of seconds, as nats-server reads it.
    """
    text = raw.decode(errors="replace")
    if text.lower() == "never":
        return -1
    try:
        ns = parse_duration_ns(text)
    except ValueError:
        if _DIGITS.fullmatch(raw):
            return int(raw)
        raise ValueError("invalid per-message TTL") from None
    if ns < _SECOND:
        raise ValueError("invalid per-message TTL")
    return ns // _SECOND


class MarkerMixin:
    """The subject-delete-marker side of :class:`~natskern.kernel.jetstream.stream.Stream`."""

    def _maybe_marker(self: Any, seq: int, subject: str) -> None:
        """After an age removal (``max_age`` or ``Nats-TTL``) emptied a subject: a marker.

        The store reports removals without their reason: a removal counts as an age
        removal when the message was due (its TTL or ``max_age`` had run out), which is
        how no other removal of it can look in practice.
        """
        meta = self._expiring.pop(seq, None)
        if meta is None:
            return
        ts, ttl, was_marker = meta
        cfg = self.config
        now = _now() + _MARKER_SLACK
        if ttl > 0:
            due = ts + ttl * _SECOND <= now
        else:
            due = ttl == 0 and cfg.max_age > 0 and ts + cfg.max_age <= now
        if was_marker or not due or self.store.filtered_state(subject).msgs:
            return
        marker_ttl = go_duration(cfg.subject_delete_marker_ttl // _SECOND * _SECOND)
        hdr = (
            b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: "
            + marker_ttl.encode()
            + b"\r\nNats-Rollup: sub\r\n\r\n"
        )
        task = asyncio.ensure_future(self._write_marker(subject.encode(), hdr))
        self._markers.add(task)
        task.add_done_callback(self._markers.discard)

    def _forget_purged(self: Any) -> None:
        """After a purge, compact or truncate: drop the entries of messages now gone.

        A purge makes no markers (nats-server's neither), so those entries are dead.
        """
        has = self.store.has_msg
        self._expiring = {s: meta for s, meta in self._expiring.items() if has(s)}

    def track_expiry(self: Any, seq: int, ts: int, hdr: bytes | None) -> None:
        """Remember a stored message's time and TTL (rebuilt after a restart) for markers."""
        ttl = 0
        raw = header_value(hdr, TTL) if hdr else None
        if raw:
            try:
                ttl = parse_ttl(raw)
            except ValueError:
                ttl = 0
        self._expiring[seq] = (ts, ttl, bool(hdr) and MARKER_REASON in hdr)  # type: ignore[operator]

    async def _write_marker(self: Any, subject: bytes, hdr: bytes) -> None:
        async with self.lock:
            await self.ingest([(subject, b"", hdr, b"")])
