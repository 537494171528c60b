"""Unit tests of the consumer's parsers: ack subjects and payloads, pull requests, statuses."""

from __future__ import annotations

import pytest
from natskern.kernel.jetstream.consumer_acks import (
    ACK,
    NAK,
    NEXT,
    PROGRESS,
    TERM,
    nak_delay,
    parse_ack_body,
    parse_ack_subject,
)
from natskern.kernel.jetstream.consumer_pull import (
    BadPullRequest,
    heartbeat,
    parse_request,
    status,
    status_pending,
)


def test_ack_subjects() -> None:
    assert parse_ack_subject(b"$JS.ACK.S.C.2.7.9.1700000000000000000.3") == (2, 7, 9)
    v2 = b"$JS.ACK._.ACCHASH.S.C.1.5.6.1700000000000000000.0.tok"
    assert parse_ack_subject(v2) == (1, 5, 6)
    assert parse_ack_subject(b"$JS.ACK.S.C.x.7.9.1.0") is None
    assert parse_ack_subject(b"$JS.ACK.S.C.1.2") is None


@pytest.mark.parametrize(
    "payload,kind,rest",
    [
        (b"", ACK, b""),
        (b"+ACK", ACK, b""),
        (b"+OK", ACK, b""),
        (b"-NAK", NAK, b""),
        (b'-NAK {"delay": 5000}', NAK, b'{"delay": 5000}'),
        (b"+WPI", PROGRESS, b""),
        (b"+NXT 5", NEXT, b"5"),
        (b"+TERM because", TERM, b"because"),
    ],
)
def test_ack_payloads(payload: bytes, kind: str, rest: bytes) -> None:
    assert parse_ack_body(payload) == (kind, rest)


def test_nak_delay() -> None:
    assert nak_delay(b"") == 0
    assert nak_delay(b'{"delay": 2000000000}') == 2_000_000_000
    assert nak_delay(b"1.5s") == 1_500_000_000
    assert nak_delay(b"{bad") == 0 and nak_delay(b'{"delay": -1}') == 0


def test_pull_requests() -> None:
    r = parse_request(b"", b"inbox")
    assert (r.batch, r.expires, r.no_wait, r.json) == (1, 0, False, False)
    assert parse_request(b" 12 ", b"i").batch == 12
    assert parse_request(b"junk", b"i").batch == 1
    r = parse_request(b'{"batch": 3, "expires": 1000, "no_wait": true, "max_bytes": 9}', b"i")
    assert (r.batch, r.no_wait, r.max_bytes, r.json) == (3, True, 9, True) and r.expires > 0
    with pytest.raises(BadPullRequest, match="heartbeat value too large"):
        parse_request(b'{"idle_heartbeat": 600, "expires": 1000}', b"i")
    with pytest.raises(BadPullRequest, match="cannot unmarshal string"):
        parse_request(b'{"batch": "3"}', b"i")
    with pytest.raises(BadPullRequest, match="invalid character"):
        parse_request(b"{bad", b"i")


def test_status_blocks() -> None:
    assert status(404, "No Messages") == b"NATS/1.0 404 No Messages\r\n\r\n"
    assert status_pending(408, "Request Timeout", 3, 0) == (
        b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n"
    )
    assert heartbeat(5, 9, b"$JS.FC.S.C.abcd") == (
        b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\nNats-Last-Stream: 9\r\n"
        b"Nats-Consumer-Stalled: $JS.FC.S.C.abcd\r\n\r\n"
    )
