"""Raw-socket load generator: NATS handshake, publisher and subscriber workers.

Each worker runs in its own process (see ``procs.py``) and talks to the parent over a
``multiprocessing`` pipe: it sends ``("ready", info)`` once its connections are set up,
waits for a command, and ends with ``("done", result)`` or ``("error", text)``.

The workers are deliberately lean: publishers ``sendall`` a prebuilt buffer of many PUB
frames; subscribers only count received bytes, since every MSG frame of a run has the same
size, and end with a PING/PONG round trip so every message queued before it has arrived.
"""

from __future__ import annotations

import resource
import selectors
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

CONNECT = (
    b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
    b'"no_responders":true,"protocol":1}\r\n'
)
PING = b"PING\r\n"
PONG = b"PONG\r\n"
#: Bytes per prebuilt publish buffer: large enough to amortise a syscall, small enough
#: that the time limit is checked often.
BATCH_BYTES = 64 * 1024
#: Receive buffer size of the counting subscriber.
RECV_BYTES = 1 << 20
#: Seconds a worker waits without any progress before it reports an error.
IDLE_TIMEOUT = 30.0
#: Bytes of received tail a subscriber keeps for the end check and error messages.
TAIL_BYTES = 64


class ProtocolError(Exception):
    """The server sent something the load generator did not expect."""


def raise_nofile_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def payload(size: int) -> bytes:
    """Return a payload of ``size`` bytes that can never look like a protocol line."""
    return b"x" * size


def pub_frame(subject: bytes, size: int, reply: bytes = b"") -> bytes:
    """Return one complete PUB frame with a ``size``-byte payload."""
    head = b"PUB " + subject + (b" " + reply if reply else b"") + b" %d\r\n" % size
    return head + payload(size) + b"\r\n"


def msg_frame_size(subject: bytes, sid: bytes, size: int, reply: bytes = b"") -> int:
    """Return the length of the MSG frame a server sends for one delivered message."""
    head = b"MSG " + subject + b" " + sid + (b" " + reply if reply else b"") + b" %d\r\n" % size
    return len(head) + size + 2


def sub_line(subject: bytes, sid: bytes, queue: bytes | None = None) -> bytes:
    """Return a SUB protocol line."""
    return b"SUB " + subject + (b" " + queue if queue else b"") + b" " + sid + b"\r\n"


def read_until_pong(sock: socket.socket, timeout: float = IDLE_TIMEOUT) -> bytes:
    """Read until a PONG arrives; return the bytes that followed it.

    PINGs from the server before the PONG are answered. Raises ``ProtocolError`` on
    ``-ERR``, a closed connection, or no PONG within ``timeout`` seconds.
    """
    sock.settimeout(timeout)
    data = b""
    answered = 0
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise ProtocolError(f"no PONG within {timeout:g}s; got {data[-200:]!r}") from None
            if not chunk:
                raise ProtocolError(f"connection closed by server: {data[-200:]!r}")
            data += chunk
            if b"-ERR" in data:
                raise ProtocolError(f"server error: {data[data.find(b'-ERR') :][:200]!r}")
            at = data.find(PONG)
            pings = data.count(PING, 0, at if at >= 0 else len(data))
            if pings > answered:
                sock.sendall(PONG * (pings - answered))
                answered = pings
            if at >= 0:
                return data[at + len(PONG) :]
    finally:
        sock.settimeout(None)


def open_conn(
    host: str, port: int, setup: bytes = b"", timeout: float = IDLE_TIMEOUT
) -> socket.socket:
    """Connect, send CONNECT + ``setup`` (e.g. SUB lines) + PING and wait for the PONG.

    Once this returns the server has processed ``setup``: subscriptions are in place.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(CONNECT + setup + PING)
    rest = read_until_pong(sock, timeout)
    while rest.startswith(b"INFO ") and b"\r\n" in rest:  # nats-server 2.10+ may resend INFO
        rest = rest[rest.find(b"\r\n") + 2 :]
    if rest:
        sock.close()
        raise ProtocolError(f"unexpected bytes after handshake PONG: {rest[:200]!r}")
    return sock


def occurrences(buf: bytearray, got: int, before: bytes, word: bytes) -> int:
    """Count ``word`` in ``buf[:got]``, including one that began in ``before`` (earlier bytes).

    Each occurrence is counted once, by the call whose chunk holds its last byte.
    """
    k = len(word) - 1
    edge = before[-k:] + bytes(buf[: min(k, got)])
    return buf.count(word, 0, got) + edge.count(word)


def run_worker(conn: Connection, body: Callable[..., dict[str, Any]], *args: Any) -> None:
    """Run ``body(conn, *args)`` and send its result (or the error) to the parent."""
    try:
        result = body(conn, *args)
    except Exception as exc:  # report every failure to the parent, never hang it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("done", result))
    finally:
        conn.close()


def publisher(
    conn: Connection,
    host: str,
    port: int,
    subjects: bytes | list[bytes],
    size: int,
    seconds: float,
    count: int | None,
) -> None:
    """Worker: publish ``size``-byte messages for ``seconds`` or ``count``.

    ``subjects`` is one subject, or several used in turn (message i goes to subject
    i mod n, so no two consecutive messages share a subject).  Waits for ``"go"`` from the
    parent after connecting. The result holds ``sent`` and the ``perf_counter`` times
    ``t0`` (first send), ``t_sent`` (last send) and ``t_end`` (PONG of the closing PING:
    the server has processed every PUB).
    """
    run_worker(conn, _publish, host, port, subjects, size, seconds, count)


def _publish(
    conn: Connection,
    host: str,
    port: int,
    subjects: bytes | list[bytes],
    size: int,
    seconds: float,
    count: int | None,
) -> dict[str, Any]:
    sock = open_conn(host, port)
    frames = [pub_frame(s, size) for s in ([subjects] if isinstance(subjects, bytes) else subjects)]
    cycle = b"".join(frames)
    per = max(1, BATCH_BYTES // len(cycle)) * len(frames)  # messages per block
    block = cycle * (per // len(frames))
    limit = count if count is not None else sys.maxsize
    conn.send(("ready", None))
    conn.recv()  # "go"
    sent = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    clock = time.perf_counter
    send = sock.sendall
    while sent < limit:
        n = limit - sent
        if n >= per:
            send(block)
            sent += per
        else:
            send(b"".join(frames[i % len(frames)] for i in range(n)))
            sent += n
        if clock() >= deadline:
            break
    t_sent = clock()
    sock.sendall(PING)
    read_until_pong(sock, IDLE_TIMEOUT + seconds)
    t_end = clock()
    sock.close()
    return {"sent": sent, "t0": t0, "t_sent": t_sent, "t_end": t_end}


def subscriber(
    conn: Connection,
    host: str,
    port: int,
    subs: list[tuple[bytes, bytes | None]],
    frame_size: int,
) -> None:
    """Worker: one connection per ``(subject, queue)`` in ``subs``, counting MSG frames.

    Every frame must be ``frame_size`` bytes; the server's PINGs among them are counted out
    and answered. After ``"finish"`` from the parent it sends a
    PING on every connection and stops each one at its PONG. The result holds, per
    connection, ``received`` and ``t_last`` (``perf_counter`` at the last message bytes).
    """
    run_worker(conn, _subscribe, host, port, subs, frame_size)


def _subscribe(
    conn: Connection,
    host: str,
    port: int,
    subs: list[tuple[bytes, bytes | None]],
    frame_size: int,
) -> dict[str, Any]:
    socks = [open_conn(host, port, sub_line(subj, b"1", queue)) for subj, queue in subs]
    n = len(socks)
    totals = [0] * n
    control = [0] * n  # bytes of PING/PONG lines among the MSG frames
    tails = [b""] * n
    t_last = [0.0] * n
    sel = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        sel.register(sock, selectors.EVENT_READ, i)
    sel.register(conn, selectors.EVENT_READ, None)
    buf = bytearray(RECV_BYTES)
    view = memoryview(buf)
    finishing = False
    remaining = n
    clock = time.perf_counter
    conn.send(("ready", None))
    while remaining:
        events = sel.select(IDLE_TIMEOUT)
        if not events:
            raise ProtocolError(f"no data for {IDLE_TIMEOUT}s (received {totals})")
        for key, _ in events:
            i = key.data
            if i is None:
                conn.recv()  # "finish"
                sel.unregister(conn)
                finishing = True
                for sock in socks:
                    sock.sendall(PING)
                continue
            sock = key.fileobj
            got = sock.recv_into(buf)  # type: ignore[union-attr]
            now = clock()
            if not got:
                raise ProtocolError(f"connection {i} closed by server: {tails[i]!r}")
            totals[i] += got
            pings = occurrences(buf, got, tails[i], PING)
            if pings:  # the server's keep-alive / RTT probe
                sock.sendall(PONG * pings)  # type: ignore[union-attr]
            pongs = occurrences(buf, got, tails[i], PONG) if finishing else 0
            control[i] += len(PING) * (pings + pongs)
            tails[i] = (tails[i] + bytes(view[max(0, got - TAIL_BYTES) : got]))[-TAIL_BYTES:]
            if got > len(PING) * (pings + pongs):
                t_last[i] = now
            if pongs:
                if pongs > 1 or (totals[i] - control[i]) % frame_size:
                    raise ProtocolError(
                        f"connection {i}: {totals[i] - control[i]} bytes is not whole "
                        f"{frame_size}-byte frames; tail {tails[i]!r}"
                    )
                sel.unregister(sock)
                remaining -= 1
    for sock in socks:
        sock.close()
    received = [(t - c) // frame_size for t, c in zip(totals, control, strict=True)]
    return {"received": received, "t_last": t_last}
