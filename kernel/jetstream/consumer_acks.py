"""Acknowledgements of a consumer (nats-server's ``processAck``): the reply subject, its payloads.

Delivered messages carry the 9-token ack subject
``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``; the 12-token form
(``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<token>``)
is accepted too.  :func:`parse_ack_subject` reads the sequences, :func:`parse_ack_body`
the payload: ``+ACK`` (or nothing, ``+OK``), ``-NAK`` (optionally ``{"delay": ns}`` or a
Go duration), ``+WPI``, ``+NXT`` (optionally a batch or a pull request), ``+TERM`` (with
a reason).
"""

from __future__ import annotations

import json
from typing import Final

from natskern.kernel.durations import parse_duration_ns

__all__ = ["ACK", "NAK", "NEXT", "PROGRESS", "TERM", "parse_ack_body", "parse_ack_subject"]

ACK: Final = "ack"
NAK: Final = "nak"
PROGRESS: Final = "wpi"
NEXT: Final = "nxt"
TERM: Final = "term"


def parse_ack_subject(subject: bytes) -> tuple[int, int, int] | None:
    """``(delivery count, stream seq, consumer seq)`` of an ack subject, or None."""
    tokens = subject.split(b".")
    n = len(tokens)
    try:
        if n == 9:
            return int(tokens[4]), int(tokens[5]), int(tokens[6])
        if n >= 11:
            return int(tokens[6]), int(tokens[7]), int(tokens[8])
    except ValueError:
        return None
    return None


def parse_ack_body(payload: bytes) -> tuple[str, bytes]:
    """``(kind, rest)`` of an ack payload; ``rest`` is what follows the keyword."""
    body = payload.strip()
    if not body or body in (b"+ACK", b"+OK"):
        return ACK, b""
    for word, kind in ((b"-NAK", NAK), (b"+WPI", PROGRESS), (b"+NXT", NEXT), (b"+TERM", TERM)):
        if body.startswith(word):
            return kind, body[len(word) :].strip()
    return ACK, b""


def nak_delay(rest: bytes) -> int:
    """The delay of ``-NAK <rest>`` in ns (0: redeliver now)."""
    if not rest:
        return 0
    if rest[:1] == b"{":
        try:
            doc = json.loads(rest)
        except ValueError:
            return 0
        delay = doc.get("delay", 0) if isinstance(doc, dict) else 0
        return delay if isinstance(delay, int) and delay > 0 else 0
    try:
        return max(parse_duration_ns(rest.decode(errors="replace")), 0)
    except ValueError:
        return 0
