"""``natskern consumer ...`` end to end against nats-server 2.15.1 and natskern with JetStream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.js_support import KINDS, js_server, publish


@pytest.fixture(scope="module", params=KINDS)
def js_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with js_server(request.param, tmp_path_factory.mktemp("js")) as url:
        yield url


def run(cli, url: str, *args: str):
    return cli(*args, "-s", url)


def ok(cli, url: str, *args: str) -> str:
    result = run(cli, url, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pull_consumer_lifecycle(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "CP", "--subjects", "cp.>", "--defaults")
    publish(js_url, "cp.a", [b"m1", b"m2", b"m3"])
    out = ok(cli, js_url, "consumer", "add", "CP", "PULL", "--pull", "--filter", "cp.>",
             "--max-deliver", "5", "--wait", "10s", "--max-pending", "100", "--defaults")  # fmt: skip
    assert out.startswith("Information for Consumer CP > PULL created ")
    for line in ("Pull Mode: true", "Filter Subject: cp.>", "Deliver Policy: All",
                 "Ack Policy: Explicit", "Ack Wait: 10s", "Maximum Deliveries: 5",
                 "Max Ack Pending: 100", "Unprocessed Messages: 3"):  # fmt: skip
        assert line in out, out
    out = ok(cli, js_url, "consumer", "next", "CP", "PULL", "--count", "2")
    assert "subj: cp.a / tries: 1 / cons seq: 1 / str seq: 1 / pending: 2" in out
    assert "cons seq: 2 / str seq: 2 / pending: 1" in out
    assert out.count("Acknowledged message") == 2 and "m2" in out
    info = json.loads(ok(cli, js_url, "consumer", "info", "CP", "PULL", "--json"))
    assert info["ack_floor"]["stream_seq"] == 2 and info["num_pending"] == 1
    assert info["num_ack_pending"] == 0
    out = ok(cli, js_url, "consumer", "next", "CP", "PULL", "--no-ack")
    assert "str seq: 3" in out and "Acknowledged" not in out
    out = ok(cli, js_url, "consumer", "info", "CP", "PULL")
    assert "Outstanding Acks: 1 out of maximum 100" in out
    assert "Last Delivered Message: Consumer sequence: 3 Stream sequence: 3" in out
    out = ok(cli, js_url, "consumer", "edit", "CP", "PULL", "--max-deliver", "7", "-f")
    assert "max_deliver: 5 -> 7" in out and "Maximum Deliveries: 7" in out
    assert ok(cli, js_url, "consumer", "ls", "CP", "--names") == "PULL\n"
    table = ok(cli, js_url, "consumer", "ls", "CP")
    assert "Consumers" in table and "PULL" in table
    report = ok(cli, js_url, "consumer", "report", "CP")
    assert "Consumer report for CP with 1 consumers" in report and "Explicit" in report
    refused = run(cli, js_url, "consumer", "rm", "CP", "PULL")
    assert refused.returncode == 1 and "use -f" in refused.stderr
    ok(cli, js_url, "consumer", "rm", "CP", "PULL", "-f")
    gone = run(cli, js_url, "consumer", "info", "CP", "PULL")
    assert gone.returncode == 1 and gone.stderr == "natskern: error: consumer not found (10014)\n"
    ok(cli, js_url, "stream", "rm", "CP", "-f")


def test_push_consumer_and_sub(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "PS", "--subjects", "ps.>", "--defaults")
    publish(js_url, "ps.x", [b"p1", b"p2"])
    out = ok(cli, js_url, "consumer", "add", "PS", "PUSH", "--deliver", "deliver.push",
             "--deliver-policy", "all", "--defaults")  # fmt: skip
    assert "Delivery Subject: deliver.push" in out and "Ack Policy: None" in out
    out = ok(cli, js_url, "consumer", "sub", "PS", "PUSH", "--count", "2")
    assert "str seq: 1" in out and "str seq: 2" in out and "p2" in out
    refused = run(cli, js_url, "consumer", "next", "PS", "PUSH")
    assert refused.returncode == 1 and "is not a Pull consumer" in refused.stderr
    ok(cli, js_url, "consumer", "add", "PS", "PL", "--pull", "--deliver-policy", "2", "--defaults")
    out = ok(cli, js_url, "consumer", "sub", "PS", "PL", "--count", "1")
    assert "str seq: 2" in out and "Acknowledged message" in out
    info = json.loads(ok(cli, js_url, "consumer", "info", "PS", "PL", "--json"))
    assert info["num_ack_pending"] == 0 and info["config"]["opt_start_seq"] == 2
    ok(cli, js_url, "stream", "rm", "PS", "-f")


def test_consumer_errors(cli, js_url: str) -> None:
    res = run(cli, js_url, "consumer", "add", "NOSTREAM", "C", "--pull", "--defaults")
    assert res.returncode == 1 and res.stderr == "natskern: error: stream not found (10059)\n"
    res = run(cli, js_url, "consumer", "add", "S", "--pull")
    assert res.returncode == 1 and "consumer name is required" in res.stderr
    res = run(cli, js_url, "consumer", "add", "S", "C", "--ack", "sometimes")
    assert res.returncode == 2 and res.stderr.startswith("natskern: error: ")
