"""A differential byte-level fuzzer: the same client byte session to natskern and nats-server.

A :class:`Session` is a list of protocol lines (valid ones and mutated ones) and a way of
writing them: in one write, cut in a few writes, or dripped a few bytes at a time.
:func:`play` sends it over a raw TCP socket and records a :class:`Transcript`: the INFO
line (with the per-server fields taken out), the frames received after each write, and
after which write the server closed the connection.  :func:`generate` makes sessions from
a seeded ``random.Random``; :func:`shrink` cuts a session that makes the two servers
disagree down to a minimal one.

Timing: after each write the reader waits until the server has been quiet for
:data:`QUIET` seconds (or closed); a session's last write waits longer, so that a close
that follows the last bytes is seen.  Writes are kept under nats-server's first read
buffer (512 bytes) so both servers see the same read boundaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "Session",
    "Transcript",
    "frames",
    "generate",
    "normalise_info",
    "play",
    "shrink",
]

#: How long a server must stay silent after a write before the next write goes out.
QUIET = 0.025
#: How long to wait for a close (or more output) after the last write.
FINAL_QUIET = 0.08
#: Pause between the writes of a dripped session.
DRIP_GAP = 0.003
#: The longest session that is dripped (it has to end well before the servers' first PING).
MAX_DRIP = 300
#: The largest single write (nats-server reads at most 512 bytes at first).
MAX_WRITE = 480

#: INFO fields that differ between servers (or connections) by design.
VOLATILE_INFO = frozenset(
    {
        "server_id",
        "server_name",
        "version",
        "go",
        "host",
        "port",
        "client_id",
        "client_ip",
        "nonce",
        "connect_urls",
        "git_commit",
        "xkey",
        "cluster",
        "domain",
        "jetstream",
    }
)


@dataclasses.dataclass(frozen=True)
class Session:
    """Client bytes (``ops`` joined) and how they are written.

    ``mode`` is ``whole`` (one write, or a few of at most :data:`MAX_WRITE` bytes),
    ``split`` (cut at the offsets ``cuts``, each part a write with a quiet wait after it)
    or ``drip`` (writes of 1 to 3 bytes, ``DRIP_GAP`` apart, output read at the end).
    """

    ops: tuple[bytes, ...]
    mode: str = "whole"
    cuts: tuple[int, ...] = ()
    seed: int = 0

    @property
    def data(self) -> bytes:
        """The whole byte stream."""
        return b"".join(self.ops)

    def chunks(self) -> list[bytes]:
        """The writes, in order."""
        data = self.data
        if self.mode == "drip":
            rng = random.Random(self.seed)
            out = []
            pos = 0
            while pos < len(data):
                n = rng.randint(1, 3)
                out.append(data[pos : pos + n])
                pos += n
            return out
        cuts = sorted({c for c in self.cuts if 0 < c < len(data)}) if self.mode == "split" else []
        out = []
        prev = 0
        for c in [*cuts, len(data)]:
            part = data[prev:c]
            out += [part[i : i + MAX_WRITE] for i in range(0, len(part), MAX_WRITE)]
            prev = c
        return [c for c in out if c]

    def replace(self, **changes: Any) -> Session:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        lines = [f"mode={self.mode}" + (f" cuts={list(self.cuts)}" if self.mode == "split" else "")]
        lines += [f"  {op!r}" for op in self.ops]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Transcript:
    """What a server answered: INFO (normalised), frames per write, and the close.

    ``closed`` is the index of the write after which the connection was found closed
    (``len(steps) - 1`` at most), or None when it stayed open.  A dripped session has
    one step.
    """

    info: tuple[tuple[str, str], ...]
    steps: tuple[tuple[bytes, ...], ...]
    closed: int | None

    def __str__(self) -> str:
        out = []
        for i, step in enumerate(self.steps):
            out.append(f"  after write {i}: {list(step)!r}")
        out.append(f"  closed after write: {self.closed}")
        return "\n".join(out)


def normalise_info(line: bytes) -> tuple[tuple[str, str], ...]:
    """INFO's fields without those that differ by design, as sorted (key, JSON) pairs."""
    if not line.startswith(b"INFO "):
        return (("<not INFO>", line.decode("latin-1")),)
    try:
        info = json.loads(line[5:])
    except ValueError:
        return (("<bad INFO>", line.decode("latin-1")),)
    return tuple(
        sorted(
            (k, json.dumps(v, sort_keys=True)) for k, v in info.items() if k not in VOLATILE_INFO
        )
    )


def frames(data: bytes) -> tuple[bytes, ...]:
    """Cut server output into frames: a control line, with its payload for MSG/HMSG."""
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        e = data.find(b"\r\n", pos)
        if e < 0:
            out.append(data[pos:])
            break
        line = data[pos : e + 2]
        end = e + 2
        words = line.split()
        if words and words[0] in (b"MSG", b"HMSG"):
            with contextlib.suppress(ValueError):
                end += int(words[-1]) + 2
        out.append(data[pos:end])
        pos = end
    return tuple(out)


async def _drain_output(reader: asyncio.StreamReader, quiet: float) -> tuple[bytes, bool]:
    """Read until ``quiet`` seconds pass without data; (bytes, whether the peer closed)."""
    out = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), quiet)
        except TimeoutError:
            return out, False
        except (ConnectionError, OSError):
            return out, True
        if not chunk:
            return out, True
        out += chunk


def _settled(session: Session, out: bytes) -> bool:
    """The last write ended with PING and every PING of the session has had its PONG."""
    data = session.data
    if not data.endswith(b"\nPING\r\n") and data != b"PING\r\n":
        return False
    return out.endswith(b"PONG\r\n") and out.count(b"PONG\r\n") >= data.count(b"PING\r\n")


async def play(host: str, port: int, session: Session) -> Transcript:
    """Send ``session`` to the server at host:port and record its answers."""
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        info = normalise_info(await asyncio.wait_for(reader.readline(), 5))
        chunks = session.chunks()
        steps: list[tuple[bytes, ...]] = []
        closed: int | None = None
        if session.mode == "drip":
            sink: list[bytes] = []
            peer_closed = asyncio.Event()

            async def pump() -> None:
                with contextlib.suppress(ConnectionError, OSError):
                    while chunk := await reader.read(65536):
                        sink.append(chunk)
                peer_closed.set()

            task = asyncio.create_task(pump())
            for chunk in chunks:
                if peer_closed.is_set():
                    break
                try:
                    writer.write(chunk)
                    await writer.drain()
                except (ConnectionError, OSError):
                    break
                await asyncio.sleep(DRIP_GAP)
            # Wait for a close, or until output has stopped for FINAL_QUIET.
            waits = 0
            while not peer_closed.is_set() and waits < 4:
                before = len(sink)
                await asyncio.sleep(FINAL_QUIET / 4)
                waits = waits + 1 if len(sink) == before else 0
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            steps.append(frames(b"".join(sink)))
            return Transcript(info, tuple(steps), 0 if peer_closed.is_set() else None)
        seen = b""
        for i, chunk in enumerate(chunks):
            try:
                writer.write(chunk)
                await writer.drain()
            except (ConnectionError, OSError):
                steps.append(())
                closed = i
                break
            last = i == len(chunks) - 1
            out, eof = await _drain_output(reader, QUIET)
            seen += out
            if last and not eof and not _settled(session, seen):
                more, eof = await _drain_output(reader, FINAL_QUIET)
                out += more
            steps.append(frames(out))
            if eof:
                closed = i
                break
        return Transcript(info, tuple(steps), closed)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


# -- generation ----------------------------------------------------------------------------

#: Bytes a mutation puts where a separator (or anything else) belongs.
CONTROL = [b" ", b"  ", b"\t", b"\x0c", b"\r", b"\x0b", b"\x00", b"\n", b" \t", b"\r\n"]
SUBJECTS = [b"a", b"a.b", b"foo.bar", b"a.*", b">", b"a.>", b"*", b"x.y.z"]
BAD_SUBJECTS = [b"a..b", b".", b"a.", b".a", b"a.>.b", b"\xff", b"a\x0cb", b"$GNR.x", b"a b"]
CONNECT_FIELDS = {
    "verbose": "bool",
    "pedantic": "bool",
    "echo": "bool",
    "headers": "bool",
    "no_responders": "bool",
    "tls_required": "bool",
    "new_account": "bool",
    "name": "str",
    "lang": "str",
    "version": "str",
    "user": "str",
    "pass": "str",
    "auth_token": "str",
    "account": "str",
    "nkey": "str",
    "jwt": "str",
    "sig": "str",
    "protocol": "int",
    "import": "perm",
    "export": "perm",
}
#: JSON texts of every type, to put where a field's type does not belong.
ANY_VALUES = [
    b"1",
    b"0",
    b"-1",
    b"1.5",
    b"1e2",
    b"-0",
    b"99999999999999999999",
    b'"1"',
    b'""',
    b'"true"',
    b"true",
    b"false",
    b"null",
    b"[]",
    b"[1]",
    b"{}",
    b'{"a":1}',
    b"NaN",
    b"Infinity",
    b'"\xfe"',
    b'"\xc3\xa9"',
    b'"\\u00e9"',
    b'"\\ud800"',
    b'"a\\"b"',
    b'"\x01"',
    b"tru",
]
GOOD_VALUES = {
    "bool": [b"true", b"false", b"null"],
    "str": [b'"x"', b'""', b'"n\xfe"', b'"\\u0041"', b"null"],
    "int": [b"0", b"1", b"null", b"2", b"-1"],
    "perm": [b"null", b"{}", b'{"allow":["a"]}', b'{"deny":"a"}', b'{"allow":[1]}'],
}


def _connect_json(rng: random.Random, token: bytes = b"") -> bytes:
    """A CONNECT JSON object: typical fields, some with wrong types, odd keys or bytes.

    With a ``token``, most objects carry it as ``auth_token`` (servers that require it).
    """
    fields: list[tuple[bytes, bytes]] = []
    if token and rng.random() < 0.75:
        fields.append((b"auth_token", b'"' + token + b'"'))
    if rng.random() < 0.7:
        fields.append((b"verbose", rng.choice([b"false", b"true"])))
        fields.append((b"pedantic", rng.choice([b"false", b"true", b"false"])))
    if rng.random() < 0.5:
        fields.append((b"headers", b"true"))
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        name = rng.choice(list(CONNECT_FIELDS))
        kind = CONNECT_FIELDS[name]
        value = rng.choice(GOOD_VALUES[kind] if rng.random() < 0.4 else ANY_VALUES)
        key = name.encode()
        r = rng.random()
        if r < 0.1:
            key = key.upper()
        elif r < 0.15:
            key = key.capitalize()
        elif r < 0.2:
            key = rng.choice([b"", b"\xfe", b"x", b"verbose ", b"verbo\\u0073e"])
        fields.append((key, value))
    rng.shuffle(fields)
    sep = rng.choice([b",", b",", b", ", b"\t,", b",\n"]) if rng.random() < 0.2 else b","
    colon = rng.choice([b":", b" : ", b":\t"]) if rng.random() < 0.15 else b":"
    body = b"{" + sep.join(b'"' + k + b'"' + colon + v for k, v in fields) + b"}"
    r = rng.random()
    if r < 0.05:
        body = body[: rng.randrange(len(body))]  # truncated
    elif r < 0.1:
        body += rng.choice([b" x", b"}", b" ", b"\t", b"{}", b"\x0c"])
    elif r < 0.13:
        body = rng.choice([b"[]", b"null", b"1", b'"s"', b"", b'{"verbose":false,}'])
    return body


def _op_word(rng: random.Random, word: bytes) -> bytes:
    """The op word, sometimes in lower or mixed case."""
    r = rng.random()
    if r < 0.1:
        return word.lower()
    if r < 0.15:
        return bytes(c ^ 32 if i % 2 and 65 <= c <= 90 else c for i, c in enumerate(word))
    return word


def _sep(rng: random.Random, p: float = 0.12) -> bytes:
    """An argument separator: a space, or with probability ``p`` a run of control bytes."""
    if rng.random() < p:
        return rng.choice(CONTROL)
    return b" "


def _eol(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.06:
        return b"\n"
    if r < 0.09:
        return rng.choice([b" \r\n", b"\t\r\n", b"\r\r\n", b"\x0c\r\n", b"\x00\r\n", b"\r"])
    return b"\r\n"


def _subject(rng: random.Random) -> bytes:
    if rng.random() < 0.15:
        return rng.choice(BAD_SUBJECTS)
    s = rng.choice(SUBJECTS)
    if rng.random() < 0.05:
        at = rng.randrange(len(s) + 1)
        s = s[:at] + rng.choice(CONTROL[2:]) + s[at:]
    return s


def _size(rng: random.Random, n: int) -> bytes:
    r = rng.random()
    if r < 0.05:
        return str(n + rng.choice([-1, 1])).encode() if n else b"1"
    if r < 0.08:
        return rng.choice([b"", b"x", b"-1", b"0" + str(n).encode(), b"1000000000", b"2000000"])
    return str(n).encode()


def _payload(rng: random.Random) -> bytes:
    return rng.choice([b"", b"hi", b"hello", b"x" * rng.randint(1, 40), b"a\r\nb", b"\x00\xff"])


def _line(rng: random.Random, token: bytes = b"") -> bytes:
    """One protocol operation (possibly mutated)."""
    kind = rng.choices(
        ["PUB", "HPUB", "SUB", "UNSUB", "PING", "PONG", "CONNECT", "+OK", "other"],
        [30, 12, 20, 8, 10, 4, 5, 2, 2],
    )[0]
    s = _sep
    if kind == "PUB":
        payload = _payload(rng)
        reply = s(rng) + rng.choice([b"r", b"_INBOX.x", b"a.b"]) if rng.random() < 0.2 else b""
        return (
            _op_word(rng, b"PUB")
            + s(rng)
            + _subject(rng)
            + reply
            + s(rng)
            + _size(rng, len(payload))
            + _eol(rng)
            + payload
            + (b"\r\n" if rng.random() > 0.04 else rng.choice([b"\n", b"", b"x\r\n"]))
        )
    if kind == "HPUB":
        hdr = rng.choice([b"NATS/1.0\r\n\r\n", b"NATS/1.0\r\nX-A: 1\r\n\r\n", b""])
        payload = _payload(rng)
        hsize = _size(rng, len(hdr)) if rng.random() < 0.85 else rng.choice([b"0", b"99", b"-"])
        reply = s(rng) + b"r" if rng.random() < 0.15 else b""
        return (
            _op_word(rng, b"HPUB")
            + s(rng)
            + _subject(rng)
            + reply
            + s(rng)
            + hsize
            + s(rng)
            + _size(rng, len(hdr) + len(payload))
            + _eol(rng)
            + hdr
            + payload
            + b"\r\n"
        )
    if kind == "SUB":
        queue = s(rng) + rng.choice([b"q", b"q1", b"_sys_", b"q.x"]) if rng.random() < 0.2 else b""
        sid = rng.choice([b"1", b"2", b"3", b"10", b"x"])
        return _op_word(rng, b"SUB") + s(rng) + _subject(rng) + queue + s(rng) + sid + _eol(rng)
    if kind == "UNSUB":
        mx = s(rng) + rng.choice([b"1", b"2", b"0", b"x", b"-1"]) if rng.random() < 0.3 else b""
        return _op_word(rng, b"UNSUB") + s(rng) + rng.choice([b"1", b"2", b"9"]) + mx + _eol(rng)
    if kind == "PING":
        tail = rng.choice([b"", b"", b"", b" x", b"\t", b"\x0c"])
        return _op_word(rng, b"PING") + tail + _eol(rng)
    if kind == "PONG":
        return _op_word(rng, b"PONG") + _eol(rng)
    if kind == "CONNECT":
        return _op_word(rng, b"CONNECT") + _sep(rng, 0.3) + _connect_json(rng, token) + _eol(rng)
    if kind == "+OK":
        return b"+OK" + _eol(rng)
    if rng.random() < 0.3:
        return _long_line(rng)
    return rng.choice(
        [b"FOO\r\n", b"PUBX a 1\r\n", b"MSG a 1 1\r\nx\r\n", b"INFO {}\r\n", b"-ERR 'x'\r\n"]
    )


def _long_line(rng: random.Random) -> bytes:
    """A control line around the 4096-byte limit (argument length, not line length)."""
    n = rng.choice([4090, 4092, 4093, 4094, 4095, 4096, 4097, 4100])
    kind = rng.choice(["PUB", "SUB", "CONNECT", "blanks"])
    if kind == "PUB":
        subject = b"a" * (n - 4)
        return b"PUB " + subject + b" 1\r\nx\r\n"
    if kind == "SUB":
        return b"SUB " + b"b" * (n - 2) + b" 1\r\n"
    if kind == "CONNECT":
        return b'CONNECT {"name":"' + b"n" * (n - 12) + b'"}\r\n'
    return b"PUB" + b" " * n + b"a 1\r\nx\r\n"


#: Bytes a generic mutation inserts or writes over another.
NOISE = [b"\t", b"\x0c", b"\r", b"\x0b", b"\x00", b"\n", b" ", b"\xff", b"\x7f", b".", b"*", b">"]


def _mutate(rng: random.Random, op: bytes) -> bytes:
    """One byte-level change anywhere in ``op``: insert, replace, delete or repeat."""
    if not op:
        return op
    at = rng.randrange(len(op))
    r = rng.random()
    if r < 0.4:
        return op[:at] + rng.choice(NOISE) + op[at:]
    if r < 0.7:
        return op[:at] + rng.choice(NOISE) + op[at + 1 :]
    if r < 0.9:
        return op[:at] + op[at + 1 :]
    return op[:at] + op[at : at + rng.randint(1, 4)] * 2 + op[at + 4 :]


def _request(rng: random.Random) -> list[bytes]:
    """A request nobody answers, with or without an inbox subscription (no responders)."""
    ops = [b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n']
    if rng.random() < 0.8:
        ops.append(b"SUB _INBOX.x 9\r\n")
    ops.append(b"PUB nobody _INBOX.x 2\r\nhi\r\n")
    if rng.random() < 0.5:
        ops.append(b"HPUB nobody _INBOX.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    return ops


def generate(rng: random.Random, seed: int, token: bytes = b"") -> Session:
    """A random session: usually a CONNECT, a few operations, a final PING.

    ``token``: the servers require it as ``auth_token`` (most CONNECTs carry it).
    """
    ops: list[bytes] = []
    if rng.random() < 0.08:
        ops += _request(rng)
    elif rng.random() < 0.85:
        ops.append(
            _op_word(rng, b"CONNECT") + _sep(rng, 0.15) + _connect_json(rng, token) + _eol(rng)
        )
    for _ in range(rng.randint(1, 5)):
        ops.append(_line(rng, token))
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        i = rng.randrange(len(ops))
        ops[i] = _mutate(rng, ops[i])
    if rng.random() < 0.85:
        ops.append(b"PING\r\n")
    mode = rng.choices(["whole", "split", "drip"], [55, 35, 10])[0]
    size = sum(map(len, ops))
    if mode == "drip" and size > MAX_DRIP:
        mode = "split"  # a long drip would outlast the servers' first PING
    cuts: tuple[int, ...] = ()
    if mode == "split":
        cuts = tuple(sorted(rng.sample(range(1, max(size, 2)), min(rng.randint(1, 3), size - 1))))
    return Session(tuple(ops), mode, cuts, seed)


# -- shrinking -----------------------------------------------------------------------------


async def shrink(
    session: Session,
    fails: Callable[[Session], Awaitable[bool]],
    *,
    budget: int = 250,
) -> Session:
    """A smaller session that still ``fails``: fewer writes, fewer operations, fewer bytes."""
    tried = 0

    async def still(candidate: Session) -> bool:
        nonlocal tried
        if tried >= budget or not candidate.data:
            return False
        tried += 1
        return await fails(candidate)

    best = session
    # Simpler writing first.
    if best.mode != "whole" and await still(best.replace(mode="whole", cuts=())):
        best = best.replace(mode="whole", cuts=())
    if best.mode == "split":
        for c in list(best.cuts):
            candidate = best.replace(cuts=tuple(x for x in best.cuts if x != c))
            if await still(candidate):
                best = candidate
    # Whole operations.
    i = 0
    while i < len(best.ops) and len(best.ops) > 1:
        candidate = _without_bytes(best, *_op_span(best, i))
        if await still(candidate):
            best = candidate
        else:
            i += 1
    # Byte ranges, halving the size.
    step = max(len(best.data) // 2, 1)
    while step >= 1 and tried < budget:
        pos = 0
        while pos < len(best.data) and tried < budget:
            candidate = _without_bytes(best, pos, pos + step)
            if await still(candidate):
                best = candidate
            else:
                pos += step
        step //= 2
    return best


def _op_span(session: Session, i: int) -> tuple[int, int]:
    start = sum(len(op) for op in session.ops[:i])
    return start, start + len(session.ops[i])


def _without_bytes(session: Session, start: int, end: int) -> Session:
    """``session`` without the bytes [start, end) of its stream; ops and cuts follow."""
    ops = []
    pos = 0
    for op in session.ops:
        lo = min(max(start - pos, 0), len(op))
        hi = min(max(end - pos, 0), len(op))
        pos += len(op)
        keep = op[:lo] + op[hi:]
        if keep:
            ops.append(keep)
    width = end - start
    cuts = tuple(c if c <= start else max(start, c - width) for c in session.cuts)
    return session.replace(ops=tuple(ops), cuts=cuts)
