"""Raw-socket JetStream workers: publish with PubAcks, KV put/get, pull consume.

The replies of JetStream have variable sizes (a PubAck's sequence number grows, a direct
get answers with headers), so unlike ``loadgen_rr`` these workers parse every ``MSG`` and
``HMSG`` frame; the requests themselves are prebuilt PUB frames with a reply inbox.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from loadgen import (
    IDLE_TIMEOUT,
    PING,
    PONG,
    ProtocolError,
    open_conn,
    payload,
    run_worker,
    sub_line,
)

INBOX = b"_INBOX.jsb"
RECV_BYTES = 1 << 20


class FrameReader:
    """Cut a NATS byte stream into ``(op, subject, reply, headers, payload)`` frames.

    PINGs are answered on ``sock``; ``-ERR`` raises ``ProtocolError``; ``+OK``/PONG are
    dropped.
    """

    def __init__(self, sock: socket.socket) -> None:
        """Read from ``sock``."""
        self.sock = sock
        self.buf = bytearray()
        self.pongs = 0

    def read(self) -> list[tuple[bytes, bytes, bytes, bytes, bytes]]:
        """Block for one ``recv`` and return every whole frame now buffered."""
        try:
            chunk = self.sock.recv(RECV_BYTES)
        except TimeoutError:
            raise ProtocolError(f"no reply for {IDLE_TIMEOUT:g}s") from None
        if not chunk:
            raise ProtocolError(f"connection closed by server: {bytes(self.buf[-200:])!r}")
        self.buf += chunk
        return self._frames()

    def _frames(self) -> list[tuple[bytes, bytes, bytes, bytes, bytes]]:
        out: list[tuple[bytes, bytes, bytes, bytes, bytes]] = []
        buf = self.buf
        pos = 0
        pongs = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            line = bytes(buf[pos:eol])
            if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
                parts = line.split(b" ")
                hmsg = parts[0] == b"HMSG"
                total = int(parts[-1])
                hlen = int(parts[-2]) if hmsg else 0
                nfix = 3 if hmsg else 2  # op, subject, sid ... [hlen] total
                reply = parts[3] if len(parts) == nfix + 3 else b""
                end = eol + 2 + total + 2
                if end > len(buf):
                    break
                body = bytes(buf[eol + 2 : eol + 2 + total])
                out.append((parts[0], parts[1], reply, body[:hlen], body[hlen:]))
                pos = end
                continue
            if line == b"PING":
                pongs += 1
            elif line == b"PONG":
                self.pongs += 1
            elif line.startswith(b"-ERR"):
                raise ProtocolError(f"server error: {line[:200]!r}")
            pos = eol + 2
        if pongs:
            self.sock.sendall(PONG * pongs)
        del buf[:pos]
        return out


def _check_reply(op: bytes, headers: bytes, body: bytes) -> None:
    """Raise ``ProtocolError`` unless the reply is a PubAck or a found message."""
    if op == b"HMSG" and headers[8:9] == b" ":
        raise ProtocolError(f"status reply: {headers[:80]!r}")
    if op == b"MSG" and b'"error"' in body:
        raise ProtocolError(f"error reply: {body[:200]!r}")


def js_requester(
    conn: Connection,
    host: str,
    port: int,
    subjects: list[bytes],
    size: int,
    inflight: int,
    seconds: float,
    count: int | None,
) -> None:
    """Worker: keep ``inflight`` requests (PUB with a reply inbox) outstanding.

    Request i goes to ``subjects[i % len(subjects)]`` with a ``size``-byte payload; every
    reply must be a PubAck (MSG without ``"error"``) or a found message (HMSG without a
    status). Waits for ``"go"``. The result holds ``completed``, ``t0``, ``t_end`` (seconds).
    """
    run_worker(conn, _js_request, host, port, subjects, size, inflight, seconds, count)


def _js_request(
    conn: Connection,
    host: str,
    port: int,
    subjects: list[bytes],
    size: int,
    inflight: int,
    seconds: float,
    count: int | None,
) -> dict[str, Any]:
    sock = open_conn(host, port, sub_line(INBOX + b".*", b"1"))
    sock.settimeout(IDLE_TIMEOUT)
    tail = b" %d\r\n" % size + payload(size) + b"\r\n"
    # One prebuilt frame per subject: the reply inbox need not be unique (one in flight per
    # slot is not tracked, only counted), so frames are reused as they are.
    frames = [b"PUB " + s + b" " + INBOX + b".r" + tail for s in subjects]
    n = len(frames)
    limit = count if count is not None else sys.maxsize
    reader = FrameReader(sock)
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter
    sent = 0
    completed = 0
    t0 = clock()
    deadline = t0 + seconds

    def send(k: int) -> None:
        nonlocal sent
        sock.sendall(b"".join(frames[(sent + j) % n] for j in range(k)))
        sent += k

    send(min(inflight, limit))
    while completed < sent:
        replies = reader.read()
        for op, _subj, _reply, headers, body in replies:
            _check_reply(op, headers, body)
        completed += len(replies)
        more = min(len(replies), limit - sent)
        if more > 0 and clock() < deadline:
            send(more)
    t_end = clock()
    sock.close()
    return {"completed": completed, "t0": t0, "t_end": t_end}


def js_puller(
    conn: Connection,
    host: str,
    port: int,
    stream: str,
    consumer: str,
    batch: int,
    ack: bool,
    total: int,
    seconds: float,
) -> None:
    """Worker: fetch ``batch`` messages at a time from a pull consumer, one request at a time.

    With ``ack`` every message is acknowledged (``+ACK`` on its reply subject, sent as the
    messages arrive). Stops after ``total`` messages or ``seconds``. Waits for ``"go"``.
    The result holds ``received``, ``acked``, ``t0`` and ``t_end``.
    """
    run_worker(conn, _js_pull, host, port, stream, consumer, batch, ack, total, seconds)


def _js_pull(
    conn: Connection,
    host: str,
    port: int,
    stream: str,
    consumer: str,
    batch: int,
    ack: bool,
    total: int,
    seconds: float,
) -> dict[str, Any]:
    sock = open_conn(host, port, sub_line(INBOX + b".pull", b"1"))
    sock.settimeout(IDLE_TIMEOUT)
    api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}".encode()
    reader = FrameReader(sock)
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter
    received = acked = 0
    t0 = clock()
    deadline = t0 + seconds

    def request(k: int) -> None:
        body = json.dumps({"batch": k, "expires": int(IDLE_TIMEOUT * 1e9) // 2}).encode()
        sock.sendall(b"PUB %s %s.pull %d\r\n%s\r\n" % (api, INBOX, len(body), body))

    while received < total and clock() < deadline:
        want = min(batch, total - received)
        request(want)
        got = 0
        while got < want:
            acks = []
            for op, _subj, reply, headers, _body in reader.read():
                if op == b"HMSG" and headers[8:9] == b" ":  # a status (404/408/409)
                    raise ProtocolError(f"pull status: {headers[:80]!r}")
                got += 1
                if ack:
                    acks.append(b"PUB " + reply + b" 4\r\n+ACK\r\n")
            if acks:
                sock.sendall(b"".join(acks))
                acked += len(acks)
        received += got
    if ack:  # the acks are processed once the PING is answered
        sock.sendall(PING)
        while not reader.pongs:
            reader.read()
    t_end = clock()
    sock.close()
    return {"received": received, "acked": acked, "t0": t0, "t_end": t_end}
