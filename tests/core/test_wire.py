"""Byte-level exchanges, compared between natskern and the real nats-server.

Each case sends raw bytes after reading INFO and records what comes back until
the server goes quiet or closes.  Where nats-server is installed the same
exchange runs against both and must produce the same bytes (and the same
open/closed outcome).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.servers import NATS_SERVER, nats_server, natskern, raw_connect, serve

HEADERS_CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\n'

CASES: dict[str, bytes] = {
    "bare_connect_is_verbose": b"CONNECT {}\r\nPING\r\n",
    "verbose_pub_sub": b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n",
    "lowercase_ops": b'connect {"verbose":false}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nping\r\n',
    "tabs_and_spaces": b'CONNECT {"verbose":false}\r\nSUB\tfoo  \t 1\r\nPUB  foo\t\t2\r\nhi\r\nPING\r\n',
    "reply_subject": b'CONNECT {"verbose":false}\r\nSUB foo 1\r\nPUB foo bar 2\r\nhi\r\nPING\r\n',
    "queue_sub": b'CONNECT {"verbose":false}\r\nSUB foo q 1\r\nPUB foo 2\r\nhi\r\nPING\r\n',
    "empty_payload": b'CONNECT {"verbose":false}\r\nSUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n',
    "unknown_op": b"FOO bar\r\n",
    "garbage": b"\x00\x01\x02\xff\r\n",
    "payload_too_long": b'CONNECT {"verbose":false}\r\nPUB foo 2\r\nhello\r\n',
    "max_payload": b'CONNECT {"verbose":false}\r\nPUB big 2000000\r\n',
    "bad_protocol": b'CONNECT {"protocol":2,"verbose":false}\r\nPING\r\n',
    "no_responders_needs_headers": b'CONNECT {"no_responders":true,"verbose":false}\r\nPING\r\n',
    "pedantic_errors": (
        b'CONNECT {"verbose":true,"pedantic":true}\r\nPUB foo.* 1\r\nx\r\nSUB foo..bar 3\r\nPING\r\n'
    ),
    "invalid_sub_not_pedantic": b'CONNECT {"verbose":false}\r\nSUB foo..bar 3\r\nPING\r\n',
    "no_responders_503": HEADERS_CONNECT
    + b"SUB _INBOX.x 7\r\nPUB nobody _INBOX.x 2\r\nhi\r\nPING\r\n",
    "no_503_without_reply_sub": HEADERS_CONNECT + b"PUB nobody _INBOX.y 2\r\nhi\r\nPING\r\n",
    "hpub_fanout": (
        HEADERS_CONNECT
        + b"SUB a.* 8\r\nSUB a.> q1 9\r\nHPUB a.b r 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\nPING\r\n"
    ),
    "hpub_without_headers": b'CONNECT {"verbose":false}\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n',
    "unsub_max": (
        b'CONNECT {"verbose":false}\r\nSUB a 1\r\nUNSUB 1 2\r\n'
        b"PUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\nPING\r\n"
    ),
    "unsub_max_already_reached": (
        b'CONNECT {"verbose":false}\r\nSUB a 8\r\nPUB a 1\r\n1\r\nPING\r\n'
    ),
    "unsub_unknown_sid": b"CONNECT {}\r\nUNSUB 99\r\nPING\r\n",
    # One message, several matching subscriptions of one connection: nats-server's order
    # (the ">" node, then under "*", then the literal node, then the last "*").
    "overlapping_subs_order": (
        b'CONNECT {"verbose":false}\r\nSUB a.b 1\r\nSUB a.* 2\r\nSUB > 3\r\nSUB *.b 4\r\n'
        b"SUB a.> 5\r\nSUB *.* 6\r\nPUB a.b 1\r\nx\r\nPUB a.c 1\r\ny\r\nPING\r\n"
    ),
    "duplicate_sid": b'CONNECT {"verbose":false}\r\nSUB a 1\r\nSUB b 1\r\nPUB b 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n',
    "pub_before_connect": b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n",
    "pub_missing_size": b'CONNECT {"verbose":false}\r\nPUB foo\r\nPING\r\n',
    "pub_bad_size": b'CONNECT {"verbose":false}\r\nPUB foo abc\r\nPING\r\n',
    "sub_too_many_args": b'CONNECT {"verbose":false}\r\nSUB a b c d\r\nPING\r\n',
    "bad_json_connect": b"CONNECT {nope\r\nPING\r\n",
    "wildcard_chars_inside_tokens_are_literal": (
        b'CONNECT {"verbose":false}\r\nSUB a.b* 1\r\nSUB >x.y 2\r\n'
        b"PUB a.bx 1\r\n1\r\nPUB a.b* 1\r\n2\r\nPUB >x.y 1\r\n3\r\nPING\r\n"
    ),
    "reserved_reply_prefixes": (
        b'CONNECT {"verbose":false}\r\nSUB foo 1\r\n'
        b"PUB foo _R_.x 1\r\na\r\nPUB foo $JS.ACK.x 1\r\nb\r\nPUB foo _R_x 1\r\nc\r\nPING\r\n"
    ),
    "reserved_reply_prefixes_verbose": (
        b"CONNECT {}\r\nSUB foo 1\r\nPUB foo _R_.x 1\r\na\r\nPUB foo r 1\r\nc\r\nPING\r\n"
    ),
    "reserved_queue": b'CONNECT {"verbose":false}\r\nSUB a _sys_ 1\r\nPING\r\n',
}


async def exchange(url: str, data: bytes, *, quiet: float = 0.3) -> tuple[bytes, bool]:
    reader, writer = await raw_connect(url)
    info = await reader.readline()
    assert info.startswith(b"INFO {")
    writer.write(data)
    await writer.drain()
    out = b""
    closed = False
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), quiet)
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        out += chunk
    writer.close()
    return out, closed


@pytest.fixture(scope="module")
def reference_url():
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    with nats_server() as u:
        yield u


@pytest.mark.parametrize("kind", ["natskern", "pipe"])  # over TCP, over the in-memory pipe
@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_bytes_as_nats_server(name: str, kind: str, reference_url: str) -> None:
    data = CASES[name]
    async with serve(kind, {}, None) as (url, _):
        ours = await exchange(url, data)
    theirs = await exchange(reference_url, data)
    assert ours == theirs


async def test_info_fields() -> None:
    async with natskern() as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        line = await reader.readline()
        writer.close()
    assert line.endswith(b" \r\n")
    info = json.loads(line[5:])
    assert info["proto"] == 1
    assert info["headers"] is True
    assert info["max_payload"] == 1048576
    assert info["server_id"].startswith("N") and len(info["server_id"]) == 56
    assert info["version"].startswith("2.")
    assert isinstance(info["client_id"], int)
    assert info["client_ip"] == "127.0.0.1"
    assert "auth_required" not in info


async def test_first_pong_comes_before_anything_else() -> None:
    async with natskern() as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        await reader.readline()
        writer.write(HEADERS_CONNECT + b"SUB x 1\r\nPUB x 1\r\nz\r\n")
        writer.write(b"PING\r\n")
        # a message published before PING is delivered before the PONG, as in nats-server
        data = await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), 2)
        writer.close()
    assert data == b"MSG x 1 1\r\nz\r\nPONG\r\n"
