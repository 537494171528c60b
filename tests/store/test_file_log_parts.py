"""The file log writes a group as parts (``pwritev``): large payloads are never joined.

What the conformance suite cannot see: the parts land in order past IOV_MAX, a short
write resumes where it stopped (a real one, from RLIMIT_FSIZE in a child process), and
a block written from parts is the block the sidecar digest and the record checksums
describe (mixed small and large payloads, new blocks headed by metadata, removals).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.group import _IOV_MAX, write_parts

from tests.store import fault_tools as ft


def _parts(rng: random.Random, n: int) -> list[bytes]:
    sizes = [rng.choice((0, 1, 7, 100, 4096, 70_000)) for _ in range(n)]
    return [rng.randbytes(s) for s in sizes]


def test_parts_land_in_order_past_iov_max(tmp_path) -> None:
    rng = random.Random(7)
    parts = _parts(rng, 2 * _IOV_MAX + 37)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"H" * 10, 0)
        write_parts(fd, parts, 10)
        write_parts(fd, [b"one"], 10 + sum(map(len, parts)))
    finally:
        os.close(fd)
    assert path.read_bytes() == b"H" * 10 + b"".join(parts) + b"one"


def test_a_short_write_resumes_where_it_stopped(tmp_path) -> None:
    # RLIMIT_FSIZE cuts the pwritev that crosses it short (SIGXFSZ ignored); the
    # resumed write of the rest of the part then fails with EFBIG. The file holds
    # exactly the bytes before the limit, in order: the cut was placed right.
    script = textwrap.dedent(
        """
        import errno, os, random, resource, signal, sys
        from natskern.plugins.storage.filelog.group import write_parts
        rng = random.Random(3)
        parts = [rng.randbytes(rng.choice((5, 300, 5000))) for _ in range(400)]
        limit = sum(map(len, parts)) // 2 + 11
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
        try:
            write_parts(fd, parts, 0)
        except OSError as e:
            assert e.errno == errno.EFBIG, e
        else:
            raise SystemExit("no error past the limit")
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        data = open(sys.argv[1], "rb").read()
        assert data == b"".join(parts)[:limit], (len(data), limit)
        print("ok", limit)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "f")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


def _msg(seq: int, rng: random.Random) -> StoredMsg:
    size = rng.choice((0, 10, 4095, 4096, 9000, 40_000))
    headers = b"NATS/1.0\r\nA: b\r\n\r\n" if seq % 4 == 0 else None
    return StoredMsg(f"s.{seq % 3}", seq, 1_000 + seq, headers, rng.randbytes(size))


async def _crash(log: FileLog) -> None:
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)


async def test_blocks_written_from_parts_match_their_sidecars_and_checksums(tmp_path) -> None:
    rng = random.Random(11)
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=64 << 10)
    await log.open()
    sent = {}
    for seq in range(1, 121):
        m = sent[seq] = _msg(seq, rng)
        log.append(m)
        if seq % 5 == 0:
            log.remove(seq - 2)
            sent.pop(seq - 2)
        if seq % 9 == 0:
            log.put_meta("cfg", b"v%d" % seq)  # small metadata: also heads each new block
            await log.commit()
    await log.commit()
    nblocks = len(log.blocks)
    assert nblocks > 5
    await _crash(log)

    log = FileLog(path, block_size=64 << 10)
    rec = await log.open()
    assert log.sidecars_used == nblocks - 1 and rec.corrupt == []
    assert [m.seq for m in rec.records] == sorted(sent)
    for seq, m in sent.items():
        got = await log.read(seq)
        assert (got.subject, got.headers, got.payload) == (m.subject, m.headers, m.payload)
    await _crash(log)

    for f in os.listdir(path):  # a full scan checks every record's checksum
        if f.endswith(".idx"):
            os.unlink(os.path.join(path, f))
    log = FileLog(path, block_size=64 << 10)
    rec = await log.open()
    assert log.sidecars_used == 0 and rec.corrupt == []
    assert [m.seq for m in rec.records] == sorted(sent)
    assert await log.get_meta("cfg") == b"v117"
    await _crash(log)

    big = next(m for m in ft.messages(path) if m.seq in sent and len(sent[m.seq].payload) > 9000)
    ft.flip_bit(big.path, big.payload_at + 20_000, 3)  # inside a payload written as its own part
    log = FileLog(path, block_size=64 << 10)
    rec = await log.open()
    assert rec.corrupt == [big.seq]
    await log.close()
