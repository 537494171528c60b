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


def js_pusher(
    conn: Connection,
    host: str,
    port: int,
    stream: str,
    size: int,
    total: int,
    seconds: float,
) -> None:
    """Worker: read a stream through a push consumer with flow control, as natscli does.

    Creates an ephemeral push consumer (deliver all, ack none, flow control, idle heartbeat
    5 s) on ``stream`` and counts the ``size``-byte messages delivered, answering every
    flow-control request as it comes. Stops after ``total`` messages or ``seconds``. Waits
    for ``"go"``. The result holds ``received``, ``t0`` and ``t_end``.
    """
    run_worker(conn, _js_push, host, port, stream, size, total, seconds)


def _js_push(
    conn: Connection, host: str, port: int, stream: str, size: int, total: int, seconds: float
) -> dict[str, Any]:
    deliver = b"_INBOX.jsbpush"  # not matched by the replies' _INBOX.jsb.*
    created_reply = INBOX + b".c"
    sock = open_conn(host, port, sub_line(INBOX + b".*", b"1") + sub_line(deliver, b"2"))
    sock.settimeout(IDLE_TIMEOUT)
    config = {
        "deliver_policy": "all",
        "ack_policy": "none",
        "replay_policy": "instant",
        "flow_control": True,
        "idle_heartbeat": 5_000_000_000,
        "deliver_subject": deliver.decode(),
        "num_replicas": 1,
    }
    req = json.dumps({"stream_name": stream, "config": config}).encode()
    create = f"$JS.API.CONSUMER.CREATE.{stream}".encode()
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter
    t0 = clock()
    sock.sendall(b"PUB %s %s.c %d\r\n%s\r\n" % (create, INBOX, len(req), req))
    got, received, _last = _read_chunks(
        sock, bytearray(), size * total, created_reply, deadline=t0 + seconds
    )
    t_end = clock()
    sock.close()
    if got != received * size:
        raise ProtocolError(f"{got} bytes in {received} messages of {size}")
    return {"received": received, "t0": t0, "t_end": t_end}


# --- object store: one large object put and got, as nats.go does it -------------------

OBJ_CHUNK = 128 * 1024


def obj_putter(
    conn: Connection,
    host: str,
    port: int,
    bucket: str,
    name_subject: str,
    nuid: str,
    size: int,
    inflight: int,
) -> None:
    """Worker: put one ``size``-byte object into object store ``bucket``.

    nats.go's put: 128 KiB chunks published to ``$O.<bucket>.C.<nuid>`` with up to
    ``inflight`` PubAcks outstanding, then the object's info on ``name_subject`` with
    ``Nats-Rollup: sub``, acknowledged too. Waits for ``"go"``. The result holds
    ``bytes``, ``chunks``, ``t0`` and ``t_end``.
    """
    run_worker(conn, _obj_put, host, port, bucket, name_subject, nuid, size, inflight)


def _obj_info(bucket: str, name: str, nuid: str, size: int, chunks: int) -> bytes:
    info = {
        "name": name,
        "bucket": bucket,
        "nuid": nuid,
        "size": size,
        "chunks": chunks,
        "mtime": "0001-01-01T00:00:00Z",
        "digest": "",
        "options": {"max_chunk_size": OBJ_CHUNK},
    }
    return json.dumps(info).encode()


def _obj_put(
    conn: Connection,
    host: str,
    port: int,
    bucket: str,
    name_subject: str,
    nuid: str,
    size: int,
    inflight: int,
) -> dict[str, Any]:
    sock = open_conn(host, port, sub_line(INBOX + b".*", b"1"))
    sock.settimeout(IDLE_TIMEOUT)
    chunks = -(-size // OBJ_CHUNK)
    subject = f"$O.{bucket}.C.{nuid}".encode()
    full = b"PUB %s %s.r %d\r\n%s\r\n" % (subject, INBOX, OBJ_CHUNK, payload(OBJ_CHUNK))
    last_len = size - (chunks - 1) * OBJ_CHUNK
    last = b"PUB %s %s.r %d\r\n%s\r\n" % (subject, INBOX, last_len, payload(last_len))
    reader = FrameReader(sock)
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter
    t0 = clock()
    sent = acked = 0

    def send(k: int) -> None:
        nonlocal sent
        frames = []
        for _ in range(k):
            sent += 1
            frames.append(last if sent == chunks else full)
        sock.sendall(b"".join(frames))

    send(min(inflight, chunks))
    while acked < chunks:
        replies = reader.read()
        for op, _subj, _reply, headers, body in replies:
            _check_reply(op, headers, body)
        acked += len(replies)
        more = min(len(replies), chunks - sent)
        if more > 0:
            send(more)
    meta = _obj_info(bucket, name_subject, nuid, size, chunks)
    hdr = b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n"
    sock.sendall(
        b"HPUB %s %s.r %d %d\r\n%s%s\r\n"
        % (name_subject.encode(), INBOX, len(hdr), len(hdr) + len(meta), hdr, meta)
    )
    while not (replies := reader.read()):
        pass
    for op, _subj, _reply, headers, body in replies:
        _check_reply(op, headers, body)
    t_end = clock()
    sock.close()
    return {"bytes": size, "chunks": chunks, "t0": t0, "t_end": t_end}


def obj_getter(
    conn: Connection, host: str, port: int, bucket: str, name_subject: str, size: int
) -> None:
    """Worker: get one object of ``size`` bytes from object store ``bucket``.

    nats.go's get: a direct get of the object's info (``name_subject``), then an ordered
    push consumer on its chunks (flow control, idle heartbeats, ack none, memory), whose
    flow-control requests are answered as they come; done when ``size`` bytes arrived.
    Waits for ``"go"``. The result holds ``bytes``, ``chunks``, ``t0`` and ``t_end``.
    """
    run_worker(conn, _obj_get, host, port, bucket, name_subject, size)


def _obj_get(
    conn: Connection, host: str, port: int, bucket: str, name_subject: str, size: int
) -> dict[str, Any]:
    deliver = b"_INBOX.jsbobj"  # not matched by the replies' _INBOX.jsb.*
    created_reply = INBOX + b".c"
    sock = open_conn(host, port, sub_line(INBOX + b".*", b"1") + sub_line(deliver, b"2"))
    sock.settimeout(IDLE_TIMEOUT)
    reader = FrameReader(sock)
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter
    t0 = clock()
    stream = f"OBJ_{bucket}"
    get = f"$JS.API.DIRECT.GET.{stream}.{name_subject}".encode()
    sock.sendall(b"PUB %s %s.info 0\r\n\r\n" % (get, INBOX))
    while not (frames := reader.read()):
        pass
    op, _subj, _reply, headers, body = frames[0]
    _check_reply(op, headers, body)
    info = json.loads(body)
    config = {
        "deliver_policy": "all",
        "ack_policy": "none",
        "max_deliver": 1,
        "replay_policy": "instant",
        "flow_control": True,
        "idle_heartbeat": 5_000_000_000,
        "deliver_subject": deliver.decode(),
        "filter_subject": f"$O.{bucket}.C.{info['nuid']}",
        "mem_storage": True,
        "num_replicas": 1,
    }
    req = json.dumps({"stream_name": stream, "config": config}).encode()
    create = f"$JS.API.CONSUMER.CREATE.{stream}".encode()
    sock.sendall(b"PUB %s %s.c %d\r\n%s\r\n" % (create, INBOX, len(req), req))
    got, chunks, last_seq = _read_chunks(sock, bytearray(reader.buf), size, created_reply)
    t_end = clock()
    sock.close()
    if got != size:
        raise ProtocolError(f"got {got} bytes of {size}")
    return {"bytes": got, "chunks": chunks, "last_seq": last_seq, "t0": t0, "t_end": t_end}


def _read_chunks(
    sock: socket.socket,
    buf: bytearray,
    size: int,
    created_reply: bytes,
    deadline: float | None = None,
) -> tuple[int, int, int]:
    """Count the chunk bytes delivered until ``size`` arrived, answering flow control.

    A chunk's payload is counted, not kept: the bytes of a large one still to come are
    read into a scratch buffer and dropped (a Go client's reader keeps up with
    nats-server; one that copied each chunk would be its slow consumer).  Each chunk's
    stream sequence (from its ack subject) must follow the one before. With a
    ``deadline`` (a ``time.perf_counter`` value) it also returns once that has passed.
    """
    view = memoryview(bytearray(4 << 20))
    got = chunks = last_seq = skip = 0
    created = False
    while True:
        pos = 0
        answers = []
        while (eol := buf.find(b"\r\n", pos)) >= 0:
            line = bytes(buf[pos:eol])
            if line.startswith((b"MSG ", b"HMSG ")):
                parts = line.split(b" ")
                end = eol + 2 + int(parts[-1]) + 2
                if parts[0] == b"MSG" and parts[1] != created_reply:  # a chunk
                    seq = int(parts[3].split(b".")[-4])
                    if last_seq and seq != last_seq + 1:
                        raise ProtocolError(f"chunk of stream seq {seq} after {last_seq}: {line!r}")
                    last_seq = seq
                    got += int(parts[-1])
                    chunks += 1
                    if end > len(buf):  # the rest of it is read and dropped
                        skip, pos = end - len(buf), len(buf)
                        break
                elif end > len(buf):
                    break
                elif parts[0] == b"MSG":  # the CONSUMER.CREATE answer
                    if b'"error"' in buf[eol + 2 : end]:
                        raise ProtocolError(f"consumer create: {bytes(buf[eol + 2 : end])!r}")
                    created = True
                elif buf[eol + 10 : eol + 11] != b" ":
                    raise ProtocolError(f"unexpected message {line[:100]!r}")
                elif len(parts) == 6:  # flow control: answer it
                    answers.append(b"PUB " + parts[3] + b" 0\r\n\r\n")
                pos = end
                continue
            if line == b"PING":
                answers.append(PONG)
            elif line.startswith(b"-ERR"):
                raise ProtocolError(f"server error: {line[:200]!r}")
            pos = eol + 2
        del buf[:pos]
        if answers:
            sock.sendall(b"".join(answers))
        if created and (got >= size or (deadline is not None and time.perf_counter() > deadline)):
            return got, chunks, last_seq
        n = sock.recv_into(view)
        if not n:
            raise ProtocolError("connection closed by server")
        k = min(skip, n)
        skip -= k
        buf += view[k:n]
