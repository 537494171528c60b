"""bench/bench_store.py runs end to end with tiny counts and prints every figure (timing decides nothing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_store_prints_every_figure(tmp_path: Path) -> None:
    args = ["--count", "64", "--rss-msgs", "20000", "--restart-msgs", "20000"]
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_store.py"),
            *args,
            "--backends",
            "memory,sqlite-none",
            "--fsync-seconds",
            "0.05",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"disk fsync rate .*: [\d,]+/s", out)
    for label in (
        "always,   1 in flight",
        "always, 256 in flight",
        "lazy 10 ms, 1 in flight",
        "store_batch (1,000)",
        "sequential load_msg",
        "random load_msg",
        "load_last_msg(subject)",
    ):
        assert re.search(re.escape(label) + r"\s+[\d,]+ msgs/s", out), label
    assert re.search(r"index only\s+[\d.]+ bytes", out)
    assert re.search(r"checkpoint load \(clean restart\)\s+[\d.]+ s", out)
