"""The consumer an external source asks its origin for, and the ack subjects it reads.

Helpers of :mod:`natskern.kernel.jetstream.sourcing_remote`: where the consumer starts
and what it filters (nats-server's ``setupMirrorConsumer`` / ``trySetupSourceConsumer``),
and what a delivery's ``$JS.ACK`` reply subject tells about it.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.streamconfig import StreamSource

__all__ = ["parse_ack_reply", "place", "token"]

_ALPHA: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def token(n: int = 8) -> str:
    """``n`` random base-62 characters (deliver and reply subjects)."""
    return "".join(secrets.choice(_ALPHA) for _ in range(n))


def place(cfg: dict[str, Any], src: StreamSource, mirror: bool, state_seq: int, state: Any) -> None:
    """Set the consumer config ``cfg``'s start and filters: after ``state_seq`` (the last
    origin sequence taken), or where the source's config says when nothing was taken yet
    (a mirror: while its store ``state`` never held a message)."""
    seq = state_seq + 1
    if mirror:
        st = state
        if st.messages == 0 and st.first_seq <= 1 and st.last_seq == 0:
            seq = 0
            if src.opt_start_seq:
                seq = src.opt_start_seq
            elif src.opt_start_time is not None:
                cfg["deliver_policy"] = "by_start_time"
                cfg["opt_start_time"] = src.opt_start_time
        if seq:
            cfg["deliver_policy"] = "by_start_sequence"
            cfg["opt_start_seq"] = seq
    elif seq <= 1:
        if src.opt_start_seq:
            cfg["deliver_policy"] = "by_start_sequence"
            cfg["opt_start_seq"] = src.opt_start_seq
        elif src.opt_start_time is not None:
            cfg["deliver_policy"] = "by_start_time"
            cfg["opt_start_time"] = src.opt_start_time
    else:
        cfg["deliver_policy"] = "by_start_sequence"
        cfg["opt_start_seq"] = seq
    filters = [t.src or ">" for t in src.subject_transforms]
    if src.filter_subject:
        cfg["filter_subject"] = src.filter_subject
    elif len(filters) == 1:
        cfg["filter_subject"] = filters[0]
    elif filters:
        cfg["filter_subjects"] = filters


def parse_ack_reply(reply: bytes) -> tuple[str, int, int, int, int] | None:
    """``(consumer, delivery count, origin seq, delivery seq, pending)`` of a ``$JS.ACK``
    subject (nats-server's two forms: 9 tokens, or 11 and more with domain and account)."""
    tokens = reply.split(b".")
    n = len(tokens)
    if (n != 9 and n < 11) or tokens[0] != b"$JS" or tokens[1] != b"ACK":
        return None
    at = 3 if n == 9 else 5
    try:
        dc, sseq, dseq = int(tokens[at + 1]), int(tokens[at + 2]), int(tokens[at + 3])
        pending = int(tokens[at + 5])
    except ValueError:
        return None
    return tokens[at].decode(errors="replace"), dc, sseq, dseq, pending


def _token(n: int = 8) -> str:
    return "".join(secrets.choice(_ALPHA) for _ in range(n))
