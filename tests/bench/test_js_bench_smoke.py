"""Smoke test of the JetStream benchmark scenarios: they run and report a well-formed result.

Runs ``bench/run.py`` as a user would for about half a second per measurement; timings
decide nothing, only the structure of the JSON report and that messages were acknowledged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from natskern.testing import find_nats_server

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    report = tmp_path / "bench.json"
    argv = [sys.executable, str(REPO / "bench" / "run.py"), "--seconds", "0.5", "--quick"]
    argv += [*args, "--json", str(report)]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "load average" in proc.stdout
    return json.loads(report.read_text())


def test_js_pub_async_on_natskern_reports_acked_publishes(tmp_path: Path) -> None:
    """js-pub-async on natskern alone: one outcome, acks counted, a summary row."""
    data = _run(tmp_path, "--scenarios", "js-pub-async", "--only", "natskern")
    js = data["jetstream"]
    assert data["summary"] == []
    [outcome] = js["outcomes"]
    assert outcome["scenario"] == "js-pub-async"
    assert outcome["server"] == "natskern"
    assert outcome["error"] is None
    assert outcome["details"]["completed"] > 0
    assert outcome["value"] > 0
    [row] = js["summary"]
    assert row["scenario"] == "js-pub-async"
    assert row["natskern"] == outcome["value"]
    assert row["vs_default"] is None and row["vs_always"] is None
    assert row["target_vs_default"] == 0.5 and row["target_vs_always"] == 10.0


def test_js_rounds_report_each_slots_median(tmp_path: Path) -> None:
    """``--rounds 3``: each slot ran three times and reports the median of its rounds."""
    data = _run(tmp_path, "--scenarios", "kv-get-1", "--only", "natskern", "--rounds", "3")
    assert data["meta"]["rounds"] == 3
    [outcome] = data["jetstream"]["outcomes"]
    rounds = outcome["details"]["rounds"]
    assert len(rounds) == 3 and all(r > 0 for r in rounds)
    assert outcome["value"] == pytest.approx(sorted(rounds)[1])
    assert outcome["note"].endswith("median of 3")
    [row] = data["jetstream"]["summary"]
    assert row["natskern"] == outcome["value"]


@pytest.mark.skipif(find_nats_server("2.15") is None, reason="nats-server 2.15 not found")
def test_kv_get_compares_with_both_nats_server_modes(tmp_path: Path) -> None:
    """kv-get-64 runs on natskern, nats-server default and sync always, with both ratios."""
    data = _run(tmp_path, "--scenarios", "kv-get-64")
    js = data["jetstream"]
    servers = {o["server"]: o for o in js["outcomes"]}
    assert set(servers) == {"natskern", "nats-server", "nats-server always"}
    for outcome in servers.values():
        assert outcome["error"] is None, outcome
        assert outcome["details"]["completed"] > 0
    [row] = js["summary"]
    assert row["vs_default"] > 0 and row["vs_always"] > 0


def test_frame_reader_cuts_replies_across_every_split() -> None:
    """MSG and HMSG frames (with and without reply) are parsed however reads are cut."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_ljs", REPO / "bench" / "loadgen_js.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(REPO / "bench"))
    ack = b'{"stream":"B","seq":7}'
    head = b"NATS/1.0\r\nNats-Seq: 1\r\n\r\n"
    stream = (
        b"MSG _INBOX.jsb.r 1 %d\r\n%s\r\n" % (len(ack), ack)
        + b"PING\r\n"
        + b"HMSG _INBOX.jsb.r 1 %d %d\r\n%sxyz\r\n" % (len(head), len(head) + 3, head)
        + b"MSG _INBOX.jsb.pull 1 $JS.ACK.B.c.1.1.1.0.0 3\r\nabc\r\n"
    )

    class FakeSock:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks
            self.sent = b""

        def recv(self, _n: int) -> bytes:
            return self.chunks.pop(0)

        def sendall(self, data: bytes) -> None:
            self.sent += data

    for cut in range(1, len(stream)):
        sock = FakeSock([stream[:cut], stream[cut:]])
        reader = mod.FrameReader(sock)
        frames = reader.read() + reader.read()
        assert [f[0] for f in frames] == [b"MSG", b"HMSG", b"MSG"], cut
        assert frames[0][4] == ack
        assert frames[1][3] == head and frames[1][4] == b"xyz"
        assert frames[2][2] == b"$JS.ACK.B.c.1.1.1.0.0" and frames[2][4] == b"abc"
        assert sock.sent == b"PONG\r\n"
