"""Smoke test of the benchmark: every scenario runs against nats-server and counts exactly.

Runs ``bench/run.py`` as a user would, with a tiny message count so the test is fast;
timing decides nothing here, only that each scenario delivers what was sent and reports a
positive rate.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "pub",
    "pubsub-16",
    "pubsub-1k",
    "pubsub-rot",
    "fanout-4",
    "queue-2",
    "req-seq",
    "req-64",
    "mapped",
    "memory",
]
COUNT = 300

pytestmark = pytest.mark.skipif(
    shutil.which("nats-server") is None, reason="nats-server is not on PATH"
)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """Run every scenario once against nats-server; return (stdout, JSON report)."""
    report = tmp_path_factory.mktemp("bench") / "bench.json"
    argv = [
        sys.executable,
        str(REPO / "bench" / "run.py"),
        "--only",
        "nats-server",
        "--count",
        str(COUNT),
        "--seconds",
        "10",
        "--memory-conns",
        "100",
        "--memory-subs",
        "1000",
        "--json",
        str(report),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(report.read_text())


def test_table_has_every_scenario_with_a_positive_rate(bench_run: tuple[str, dict]) -> None:
    """The printed table has one line per scenario with a rate (or MiB) for nats-server."""
    stdout, _ = bench_run
    for name in SCENARIOS:
        line = re.search(rf"^\S {re.escape(name)} .*$", stdout, re.MULTILINE)
        assert line, f"{name} missing from:\n{stdout}"
        value = re.search(r"([\d,]+(?:\.\d+)?)(?:/s| MiB)", line.group(0))
        assert value, line.group(0)
        assert float(value.group(1).replace(",", "")) > 0


def test_summary_rates_are_positive_and_natskern_column_is_empty(
    bench_run: tuple[str, dict],
) -> None:
    """Every scenario has a positive nats-server value; --only leaves natskern unmeasured."""
    _, data = bench_run
    rows = {row["scenario"]: row for row in data["summary"]}
    assert list(rows) == SCENARIOS
    for name in SCENARIOS:
        assert rows[name]["nats-server"] > 0, rows[name]
        assert rows[name]["natskern"] is None
        assert rows[name]["ratio"] is None


def test_every_message_is_counted(bench_run: tuple[str, dict]) -> None:
    """With a message count, each subscriber/requester sees exactly what was published."""
    _, data = bench_run
    details = {o["scenario"]: o["details"] for o in data["outcomes"]}
    assert all(o["error"] is None for o in data["outcomes"])
    assert details["pub"]["sent"] == COUNT
    assert details["pubsub-16"]["received"] == [COUNT]
    assert details["pubsub-1k"]["received"] == [COUNT]
    assert details["fanout-4"]["received"] == [COUNT] * 4
    assert sum(details["queue-2"]["received"]) == COUNT
    assert len(details["queue-2"]["received"]) == 2
    assert details["req-seq"]["completed"] == COUNT
    assert details["req-64"]["completed"] == COUNT
    assert details["req-64"]["handled"] == COUNT
    assert details["mapped"]["received"] == [COUNT]
    assert details["mapped"]["baseline_rate"] > 0
    assert details["memory"]["conns"] == 100
    assert details["memory"]["subs"] == 1000


def test_subscriber_counts_server_pings_across_every_split() -> None:
    """PINGs among MSG frames are counted once however the stream is cut into reads."""
    spec = importlib.util.spec_from_file_location("bench_loadgen", REPO / "bench" / "loadgen.py")
    assert spec is not None and spec.loader is not None
    loadgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadgen)
    PING, occurrences = loadgen.PING, loadgen.occurrences
    frame = b"MSG bench.ps 1 16\r\n" + b"x" * 16 + b"\r\n"
    stream = frame * 2 + PING + frame + PING + PING + frame
    for a in range(len(stream) + 1):
        for b in range(a, len(stream) + 1):
            tail, seen = b"", 0
            for chunk in (stream[:a], stream[a:b], stream[b:]):
                buf = bytearray(chunk) + PING  # bytes past ``got`` must not count
                seen += occurrences(buf, len(chunk), tail, PING)
                tail = (tail + chunk)[-64:]
            assert seen == 3, (a, b)
