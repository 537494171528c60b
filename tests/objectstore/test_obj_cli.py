"""``natskern object ...`` (in process) against a natskern broker with JetStream."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.kv.test_kv_cli import cli


def test_object_commands(thread_url: str, tmp_path: Path) -> None:
    rc, out, err = cli(thread_url, tmp_path, "object", "add", "files", "--description", "d")
    assert rc == 0, err
    assert "files Object Store Status" in out and "JetStream Stream: OBJ_files" in out
    src = tmp_path / "data.bin"
    data = hashlib.sha256(b"x").digest() * 10_000  # 320000 bytes, three chunks
    src.write_bytes(data)
    rc, out, err = cli(thread_url, tmp_path, "obj", "put", "files", str(src))
    assert rc == 0, err
    assert "Object information for files > data.bin" in out and "Chunks: 3" in out
    rc, out, err = cli(thread_url, tmp_path, "object", "put", "files", "--name", "s", stdin=b"hi")
    assert rc == 0, err
    rc, out, _ = cli(thread_url, tmp_path, "object", "ls", "files")
    assert "Bucket Contents" in out and "data.bin" in out and " s " in out
    target = tmp_path / "copy.bin"
    rc, out, err = cli(
        thread_url, tmp_path, "object", "get", "files", "data.bin", "-O", str(target)
    )
    assert rc == 0, err
    assert out.startswith(f"Wrote: 312.5 KiB to {target} in ") and target.read_bytes() == data
    rc, out, _ = cli(thread_url, tmp_path, "object", "info", "files", "data.bin")
    assert "Size: 312.5 KiB" in out
    assert f"Digest: SHA-256 {hashlib.sha256(data).hexdigest()}\n" in out  # (as sha256sum)
    assert re.search(r"Modification Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", out)
    rc, out, _ = cli(thread_url, tmp_path, "object", "rm", "files", "s", "-f")
    assert (rc, out) == (0, "Removed files > s\n")
    rc, _, err = cli(thread_url, tmp_path, "object", "info", "files", "s")
    assert rc != 0 and "object not found" in err
    rc, out, _ = cli(thread_url, tmp_path, "object", "ls", "-n")
    assert out == "files\n"
    rc, out, _ = cli(thread_url, tmp_path, "object", "seal", "files", "-f")
    assert (rc, out) == (0, "files has been sealed\n")
    rc, out, _ = cli(thread_url, tmp_path, "object", "info", "files")
    assert "Sealed: true" in out
    assert (cli(thread_url, tmp_path, "object", "rm", "files", "-f"))[0] == 0
    rc, out, _ = cli(thread_url, tmp_path, "object", "ls")
    assert out == "No Object Store buckets found\n"


def test_put_and_get_count_every_byte_through_the_progress_wrapper(
    thread_url: str, tmp_path: Path
) -> None:
    """``--no-progress`` is accepted; a missing object is one error line, no stray file."""
    assert cli(thread_url, tmp_path, "object", "add", "pg")[0] == 0
    src = tmp_path / "big.bin"
    data = bytes(range(256)) * 2048  # 512 KiB: four chunks
    src.write_bytes(data)
    rc, out, err = cli(thread_url, tmp_path, "object", "put", "pg", str(src), "--no-progress")
    assert rc == 0, err
    assert "Chunks: 4" in out and err == ""
    target = tmp_path / "back.bin"
    rc, out, err = cli(
        thread_url, tmp_path, "object", "get", "pg", "big.bin", "-O", str(target), "--no-progress"
    )
    assert rc == 0, err
    assert target.read_bytes() == data
    missing = tmp_path / "none.bin"
    rc, _, err = cli(thread_url, tmp_path, "object", "get", "pg", "nope", "-O", str(missing))
    assert rc != 0 and err.strip().endswith("object not found") and not missing.exists()


def test_counted_file_and_progress_bar(tmp_path: Path) -> None:
    """The wrapper counts what nats-py reads and writes; the bar reaches the total."""
    import io

    from natskern.plugins.objectstore.progress import CountedFile, transfer_progress
    from rich.console import Console

    seen: list[int] = []
    src = io.BytesIO(b"a" * 1000)
    counted = CountedFile(src, seen.append)
    buf = bytearray(300)
    while counted.readinto(buf):
        pass
    assert sum(seen) == 1000 and counted.tell() == 1000  # other calls reach the file
    sink = io.BytesIO()
    CountedFile(sink, seen.append).write(b"xyz")
    assert seen[-1] == 3 and sink.getvalue() == b"xyz"

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with transfer_progress("Putting big.bin", 1000, enabled=True, console=console) as advance:
        for _ in range(4):
            advance(250)
    text = screen.getvalue()
    assert "Putting big.bin" in text and "1.0/1.0 kB" in text
    with transfer_progress("quiet", 10, enabled=False) as advance:
        advance(10)  # nothing drawn, nothing raised
