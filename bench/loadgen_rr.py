"""Raw-socket workers for request-reply and for the idle-connection memory test.

Request and reply frames have a fixed size: the reply subject is an inbox with a
zero-padded request number, so both sides cut the stream into frames by length, and the
responder turns a whole batch of requests into replies with one ``bytes.replace``.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from loadgen import (
    CONNECT,
    IDLE_TIMEOUT,
    PING,
    PONG,
    ProtocolError,
    msg_frame_size,
    open_conn,
    payload,
    raise_nofile_limit,
    run_worker,
    sub_line,
)

SERVICE = b"svc"
INBOX = b"_INBOX.bench."
ID_WIDTH = 8
REQ_SIZE = 16
#: A request as the responder receives it: ``MSG svc 1 <inbox>.<id> 16``.
REQ_PREFIX = b"MSG " + SERVICE + b" 1 "
REQ_FRAME = msg_frame_size(SERVICE, b"1", REQ_SIZE, reply=INBOX + b"0" * ID_WIDTH)
#: A reply as the requester receives it: ``MSG <inbox>.<id> 1 16``.
REPLY_PREFIX = b"MSG " + INBOX
REPLY_FRAME = msg_frame_size(INBOX + b"0" * ID_WIDTH, b"1", REQ_SIZE)
_REQ_HEAD = b"PUB " + SERVICE + b" " + INBOX
_REQ_TAIL = b" %d\r\n" % REQ_SIZE + payload(REQ_SIZE) + b"\r\n"
_ID_AT = len(REPLY_PREFIX)


def _answer_pings(sock: socket.socket, pending: bytearray) -> bytearray:
    """Answer and remove the server's PINGs (they come between whole frames)."""
    sock.sendall(PONG * pending.count(PING))
    return pending.replace(PING, b"")


def responder(conn: Connection, host: str, port: int) -> None:
    """Worker: answer every request on ``svc`` with its own payload until the server closes.

    It blocks in ``recv`` alone (no select: one syscall less per request), so the parent
    ends it by stopping the server. The result holds ``handled``, the requests answered.
    """
    run_worker(conn, _respond, host, port)


def _respond(conn: Connection, host: str, port: int) -> dict[str, Any]:
    sock = open_conn(host, port, sub_line(SERVICE, b"1"))
    pending = bytearray()
    handled = 0
    conn.send(("ready", None))
    while True:
        try:
            chunk = sock.recv(262144)
        except ConnectionResetError:
            break
        if not chunk:
            break
        pending += chunk
        if PING in pending:
            pending = _answer_pings(sock, pending)
        whole = len(pending) // REQ_FRAME * REQ_FRAME
        if whole:
            block = bytes(pending[:whole])
            if not block.startswith(REQ_PREFIX):
                raise ProtocolError(f"unexpected request frame: {block[:80]!r}")
            sock.sendall(block.replace(REQ_PREFIX, b"PUB "))
            del pending[:whole]
            handled += whole // REQ_FRAME
    sock.close()
    return {"handled": handled}


def requester(
    conn: Connection,
    host: str,
    port: int,
    inflight: int,
    seconds: float,
    count: int | None,
) -> None:
    """Worker: keep ``inflight`` requests outstanding for ``seconds`` or ``count`` requests.

    Waits for ``"go"`` after connecting. The result holds ``completed``, ``t0``, ``t_end``
    and ``latencies_ns`` (one per request, send to reply).
    """
    run_worker(conn, _request, host, port, inflight, seconds, count)


def _request(
    conn: Connection,
    host: str,
    port: int,
    inflight: int,
    seconds: float,
    count: int | None,
) -> dict[str, Any]:
    sock = open_conn(host, port, sub_line(INBOX + b"*", b"1"))
    sock.settimeout(IDLE_TIMEOUT)
    limit = count if count is not None else sys.maxsize
    conn.send(("ready", None))
    conn.recv()  # "go"
    clock = time.perf_counter_ns
    sent_at: list[int] = []
    latencies: list[int] = []
    t0 = clock()
    deadline = t0 + int(seconds * 1e9)

    def send(k: int) -> None:
        first = len(sent_at)
        frames = [_REQ_HEAD + b"%0*d" % (ID_WIDTH, i) + _REQ_TAIL for i in range(first, first + k)]
        sent_at.extend([clock()] * k)
        sock.sendall(b"".join(frames))

    send(min(inflight, limit))
    outstanding = len(sent_at)
    pending = bytearray()
    while outstanding:
        try:
            chunk = sock.recv(262144)
        except TimeoutError:
            raise ProtocolError(
                f"{outstanding} replies missing after {IDLE_TIMEOUT:g}s "
                f"({len(latencies)} of {len(sent_at)} arrived)"
            ) from None
        now = clock()
        if not chunk:
            raise ProtocolError("requester connection closed by server")
        pending += chunk
        if PING in pending:
            pending = _answer_pings(sock, pending)
        whole = len(pending) // REPLY_FRAME
        if not whole:
            continue
        if not pending.startswith(REPLY_PREFIX):
            raise ProtocolError(f"unexpected reply frame: {bytes(pending[:80])!r}")
        for j in range(whole):
            at = j * REPLY_FRAME + _ID_AT
            latencies.append(now - sent_at[int(pending[at : at + ID_WIDTH])])
        del pending[: whole * REPLY_FRAME]
        outstanding -= whole
        more = min(whole, limit - len(sent_at))
        if more > 0 and now < deadline:
            send(more)
            outstanding += more
    t_end = clock()
    sock.close()
    return {"completed": len(latencies), "t0": t0, "t_end": t_end, "latencies_ns": latencies}


def memory_holder(
    conn: Connection,
    host: str,
    port: int,
    n_conns: int,
    subs_per_conn: int,
    window: int,
) -> None:
    """Worker: open ``n_conns`` idle connections with ``subs_per_conn`` subscriptions each.

    At most ``window`` connections are in their handshake at once (the server's listen
    backlog may be small). Sends ``("ready", info)`` when every connection has had its
    PONG, then holds them until ``"close"``.
    """
    run_worker(conn, _hold, host, port, n_conns, subs_per_conn, window)


def _hold(
    conn: Connection,
    host: str,
    port: int,
    n_conns: int,
    subs_per_conn: int,
    window: int,
) -> dict[str, Any]:
    raise_nofile_limit()
    t0 = time.perf_counter()
    held: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    opened = 0
    while len(held) < n_conns:
        while opened < n_conns and len(received) < window:
            subs = b"".join(
                sub_line(b"mem.%d.%d" % (opened, j), b"%d" % (j + 1)) for j in range(subs_per_conn)
            )
            sock = socket.create_connection((host, port), timeout=IDLE_TIMEOUT)
            sock.sendall(CONNECT + subs + PING)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            received[sock] = b""
            opened += 1
        events = sel.select(IDLE_TIMEOUT)
        if not events:
            raise ProtocolError(f"handshake stalled after {len(held)} connections")
        for key, _ in events:
            sock = key.fileobj  # type: ignore[assignment]
            chunk = sock.recv(65536)
            data = received[sock] + chunk
            if not chunk or b"-ERR" in data:
                raise ProtocolError(f"connection {len(held)} refused: {data[-200:]!r}")
            if PONG in data:
                sel.unregister(sock)
                del received[sock]
                held.append(sock)
            else:
                received[sock] = data
    setup_s = time.perf_counter() - t0
    conn.send(
        ("ready", {"conns": len(held), "subs": len(held) * subs_per_conn, "setup_s": setup_s})
    )
    conn.recv()  # "close"
    for sock in held:
        sock.close()
    return {"setup_s": setup_s}
