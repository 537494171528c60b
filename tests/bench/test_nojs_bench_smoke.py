"""Smoke test of ``bench/run.py --reference natskern-nojs``: JetStream's cost to Core NATS.

The natskern slot runs natskern with JetStream on and the benchmark's streams defined, the
reference slot the same build with ``--no-jetstream``. A short counted run of two rounds checks that
both slots ran in both rounds, in alternating order, that each reports its rounds' median,
and that the table and the JSON report name them; timings decide nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COUNT = 300
STREAMS = {"ORDERS": ["orders.>"], "EVENTS": ["events.*"], "KV_cfg": ["$KV.cfg.>"]}


def _bench(*args: str, json_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(REPO / "bench" / "run.py"), *args]
    if json_path is not None:
        argv += ["--json", str(json_path)]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, cwd=REPO)


@pytest.fixture(scope="module")
def nojs_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run pubsub-16 on natskern with JetStream + streams and without; (output, JSON).

    The output is stdout (the table) then stderr (a line per measurement)."""
    report = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = _bench(
        "--reference",
        "natskern-nojs",
        "--scenarios",
        "pubsub-16",
        "--count",
        str(COUNT),
        "--seconds",
        "10",
        "--rounds",
        "2",
        json_path=report,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + "\n" + proc.stderr, json.loads(report.read_text())


def test_both_slots_ran_and_counted_every_message(nojs_run: tuple[str, dict[str, Any]]) -> None:
    """One outcome per slot, no error, a positive rate and every message delivered."""
    _, data = nojs_run
    outcomes = {o["server"]: o for o in data["outcomes"]}
    assert set(outcomes) == {"natskern", "natskern-nojs"}
    for outcome in outcomes.values():
        assert outcome["scenario"] == "pubsub-16"
        assert outcome["error"] is None, outcome
        assert outcome["value"] > 0
        assert outcome["details"]["received"] == [COUNT]


def test_each_slot_reports_the_median_of_its_rounds(
    nojs_run: tuple[str, dict[str, Any]],
) -> None:
    """Two rounds per slot, the reported value their median, the order alternating."""
    stdout, data = nojs_run
    assert data["meta"]["rounds"] == 2
    for outcome in data["outcomes"]:
        rounds = outcome["details"]["rounds"]
        assert len(rounds) == 2 and all(r > 0 for r in rounds)
        assert outcome["value"] == pytest.approx(sum(rounds) / 2)
    order = re.findall(r"^pubsub-16\s+(natskern-nojs|natskern)\s+[\d,.]+", stdout, re.M)
    assert order == ["natskern", "natskern-nojs", "natskern-nojs", "natskern"]
    [ratios] = re.findall(r"^pubsub-16\s+ratio per round: (.+)$", stdout, re.M)
    assert len(ratios.split(", ")) == 2


def test_json_names_the_reference_and_the_streams(nojs_run: tuple[str, dict[str, Any]]) -> None:
    """The summary keys both slots, the target is 0.95 and meta lists the streams."""
    _, data = nojs_run
    assert data["meta"]["reference"] == "natskern-nojs"
    assert data["meta"]["streams"] == STREAMS
    [row] = data["summary"]
    assert set(row) == {"scenario", "natskern", "natskern-nojs", "ratio", "target", "pass"}
    assert row["natskern"] > 0 and row["natskern-nojs"] > 0
    assert row["ratio"] == pytest.approx(row["natskern"] / row["natskern-nojs"])
    assert row["target"] == "ratio ≥ 0.95"
    assert isinstance(row["pass"], bool)


def test_table_names_both_slots(nojs_run: tuple[str, dict[str, Any]]) -> None:
    """The title and the column headers say JetStream + streams against JetStream off."""
    stdout, _ = nojs_run
    assert "natskern with JetStream + streams vs the same build with JetStream off" in stdout
    assert "natskern (JS + streams)" in stdout
    assert "natskern (no JS)" in stdout
    line = re.search(r"^\S pubsub-16 .*$", stdout, re.MULTILINE)
    assert line, stdout
    assert len(re.findall(r"[\d,]+/s", line.group(0))) == 2, line.group(0)
    assert "ratio ≥ 0.95" in line.group(0)
    assert "load average" in stdout


def test_streams_server_has_the_streams_and_nojs_server_has_no_jetstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """natskern-streams answers STREAM.NAMES with the three streams; natskern-nojs has no API."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import servers
    from loadgen import ProtocolError

    with servers.Server("natskern-streams", tmp_path) as server:
        sock = servers.open_conn(server.host, server.port, b"SUB _INBOX.t 1\r\n")
        try:
            sock.settimeout(30.0)
            sock.sendall(b"PUB $JS.API.STREAM.NAMES _INBOX.t 0\r\n\r\n")
            reader = servers.FrameReader(sock)
            frames = reader.read()
            while not frames:
                frames = reader.read()
        finally:
            sock.close()
        names = json.loads(frames[0][4])["streams"]
        assert sorted(names) == sorted(STREAMS)
    with (
        servers.Server("natskern-nojs", tmp_path) as server,
        pytest.raises(ProtocolError, match="503"),
    ):
        servers.define_streams(server.host, server.port, {"X": {"subjects": ["x.>"]}})
    stores = [p for p in tmp_path.iterdir() if p.name.startswith("streams-")]
    assert len(stores) == 1  # a fresh store for the JetStream server, none without it


@pytest.mark.parametrize(
    "args",
    [
        ("--scenarios", "js-pub-async"),
        ("--only", "nats-server"),
        ("--natskern-impl", "nats-server"),
    ],
)
def test_nojs_reference_refuses_what_it_cannot_compare(args: tuple[str, ...]) -> None:
    """JetStream scenarios, the nats-server slot or impl with natskern-nojs: a usage error."""
    proc = _bench("--reference", "natskern-nojs", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "natskern-nojs" in proc.stderr
