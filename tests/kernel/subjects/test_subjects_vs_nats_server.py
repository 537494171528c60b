"""Differential tests: subject validity and wildcard matching against a real nats-server.

Speaks the raw client protocol over loopback so every subject reaches the server byte for
byte. Skipped when ``nats-server`` is not on PATH.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import BinaryIO

import pytest
from natskern.kernel.subjects.sublist import Sublist
from natskern.kernel.subjects.tokens import is_valid_literal_subject, is_valid_subject, matches

NATS_SERVER = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    """A nats-server on a random loopback port; the port is read from its log."""
    proc = subprocess.Popen(
        [NATS_SERVER, "-a", "127.0.0.1", "-p", "-1"],  # type: ignore[list-item]
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        port = None
        assert proc.stderr is not None
        for line in proc.stderr:
            if b"Listening for client connections on" in line:
                port = int(line.rsplit(b":", 1)[1])
                break
        assert port is not None, "nats-server exited before listening"
        yield port
    finally:
        proc.terminate()
        proc.wait()


class RawClient:
    """A blocking protocol-level client; ``sync()`` returns every line up to the next PONG."""

    def __init__(self, port: int, options: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(30)  # only guards against a hang; never decides a result
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader: BinaryIO = self.sock.makefile("rb")
        assert self.reader.readline().startswith(b"INFO ")
        self.sock.sendall(b"CONNECT " + options + b"\r\n")

    def send(self, data: bytes) -> None:
        """Write raw protocol bytes."""
        self.sock.sendall(data)

    def sync(self, data: bytes = b"") -> list[bytes]:
        """Send ``data`` then PING; return the lines (without CRLF) received before PONG."""
        self.sock.sendall(data + b"PING\r\n")
        lines = []
        while (line := self.reader.readline()) != b"PONG\r\n":
            assert line, "connection closed"
            lines.append(line.rstrip(b"\r\n"))
        return lines

    def close(self) -> None:
        """Close the connection."""
        self.reader.close()
        self.sock.close()


# Odd tokens: empty, wildcards, wildcard characters inside literal text.
ODD_TOKENS = [b"a", b"*", b">", b"", b"*a", b">>", b"a>"]
ODD_SUBJECTS = [
    s
    for n in (1, 2, 3)
    for toks in itertools.product(ODD_TOKENS, repeat=n)
    if (s := b".".join(toks))
] + [b"foo.b\x0br", b"\xff\xfe", b"a\x00b", b"$JS.API.>", b"_INBOX.x.*"]


def test_sub_validity_agrees_with_nats_server(server_port: int) -> None:
    client = RawClient(server_port, b'{"verbose":true}')
    try:
        assert client.sync() == [b"+OK"]
        disagreements = []
        for sid, subject in enumerate(ODD_SUBJECTS):
            (reply,) = client.sync(b"SUB %s %d\r\n" % (subject, sid))
            server_ok = reply == b"+OK"
            assert server_ok or reply == b"-ERR 'Invalid Subject'", reply
            if server_ok != is_valid_subject(subject):
                disagreements.append((subject, reply))
        assert disagreements == []
    finally:
        client.close()


def test_pedantic_publish_validity_agrees_with_nats_server(server_port: int) -> None:
    client = RawClient(server_port, b'{"verbose":false,"pedantic":true}')
    try:
        disagreements = []
        for subject in ODD_SUBJECTS:
            lines = client.sync(b"PUB %s 0\r\n\r\n" % subject)
            server_ok = b"-ERR 'Invalid Publish Subject'" not in lines
            if server_ok != is_valid_literal_subject(subject):
                disagreements.append((subject, lines))
        assert disagreements == []
    finally:
        client.close()


PATTERNS = sorted(
    {
        b".".join((*toks[:-1], last))
        for n in (1, 2, 3)
        for toks in itertools.product([b"a", b"b", b"*"], repeat=n)
        for last in (toks[-1], b">")
    }
)
SUBJECTS = [
    b".".join(toks)
    for n in (1, 2, 3, 4)
    for toks in itertools.product([b"a", b"b", b"c"], repeat=n)
]


class Sub:
    """A subscription for the Sublist, remembering the sid it has on the server."""

    def __init__(self, subject: bytes, sid: int) -> None:
        self.subject = subject
        self.queue = None
        self.sid = sid


def test_wildcard_delivery_agrees_with_matches_and_sublist(server_port: int) -> None:
    client = RawClient(server_port, b'{"verbose":false}')
    sublist = Sublist()
    try:
        for sid, pattern in enumerate(PATTERNS):
            client.send(b"SUB %s %d\r\n" % (pattern, sid))
            sublist.insert(Sub(pattern, sid))
        assert client.sync() == []
        for subject in SUBJECTS:
            lines = client.sync(b"PUB %s 0\r\n\r\n" % subject)
            headers = lines[0::2]
            assert all(h.startswith(b"MSG " + subject + b" ") for h in headers)
            delivered = sorted(int(h.split()[2]) for h in headers)
            by_matches = [sid for sid, p in enumerate(PATTERNS) if matches(p, subject)]
            by_sublist = sorted(s.sid for s in sublist.match(subject).psubs)
            assert delivered == by_matches == by_sublist, subject
    finally:
        client.close()
