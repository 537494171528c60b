"""Fault-injection helpers for the file store's tests: record layout, bit flips, tmpfs."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from natskern.plugins.storage.filelog.codec import HEADER, MSG


@dataclass(frozen=True)
class Rec:
    """Where one record sits in a block file."""

    path: str
    off: int
    total: int
    kind: int
    seq: int
    slen: int
    hlen: int

    @property
    def subject_at(self) -> int:
        """Offset of its subject."""
        return self.off + HEADER.size

    @property
    def payload_at(self) -> int:
        """Offset of its payload."""
        return self.off + HEADER.size + self.slen + self.hlen


def blocks(directory: str) -> list[str]:
    """The block files, oldest first."""
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".blk"))


def layout(directory: str) -> list[Rec]:
    """Every record of every block (walking the lengths: use on intact files only), up to
    the zeros a block allocated ahead of its data has after it."""
    out = []
    for path in blocks(directory):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + HEADER.size <= len(data):
            magic, kind, _f, total, seq, _ts, _ttl, slen, hlen = HEADER.unpack_from(data, pos)
            if magic == 0 and total == 0:  # zeros allocated ahead of the data: its end
                break
            out.append(Rec(path, pos, total, kind, seq, slen, hlen))
            pos += total
    return out


def messages(directory: str) -> list[Rec]:
    """The message records."""
    return [r for r in layout(directory) if r.kind == MSG]


def flip_bit(path: str, offset: int, bit: int = 0) -> None:
    """Flip one bit of a file in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ (1 << bit)]))


def data_end(path: str) -> int:
    """Where a block's records end (its file may go on with zeros allocated ahead)."""
    ends = [r.off + r.total for r in layout(os.path.dirname(path)) if r.path == path]
    return max(ends, default=0)


def zero(path: str, start: int, end: int) -> None:
    """Overwrite bytes ``start..end`` of a file with zeros."""
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(bytes(end - start))


def truncate(path: str, size: int) -> None:
    """Cut a file to ``size`` bytes."""
    with open(path, "r+b") as f:
        f.truncate(size)


@contextlib.contextmanager
def tmpfs(path: str, size: str = "256k") -> Iterator[str | None]:
    """A tiny tmpfs mounted at ``path``; yields None when mounting is refused."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], capture_output=True)
