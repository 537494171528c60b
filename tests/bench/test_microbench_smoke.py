"""The in-process micro-benchmarks run and count what they claim (timing decides nothing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_route_reports_every_shape_asked_for() -> None:
    out = run("bench_route.py", "--count", "3000", "--runs", "1", "pubsub", "rot", "req", "queue")
    shapes = re.findall(r"^(\S+)\s*:\s+\d+ ns/msg", out, re.MULTILINE)
    assert shapes == ["pubsub", "rot", "req", "queue"]


def test_bench_route_refuses_an_unknown_shape() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_route.py"), "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown shape 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_bench_parser_counts_every_message() -> None:
    out = run("bench_parser.py", "--count", "20000", "--runs", "1")
    assert len(re.findall(r"^parser .*: 20,000 PUB x 16 B", out, re.MULTILINE)) == 3
