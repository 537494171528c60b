"""``natskern object ...`` (in process) against a natskern broker with JetStream."""

from __future__ import annotations

import hashlib
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
