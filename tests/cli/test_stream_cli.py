"""``natskern stream ...`` end to end against nats-server 2.15.1 and natskern with JetStream."""

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
    result = cli(*args, "-s", url)
    return result


def ok(cli, url: str, *args: str) -> str:
    result = run(cli, url, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_add_info_ls_rm(cli, js_url: str) -> None:
    out = ok(cli, js_url, "stream", "add", "ORDERS", "--subjects", "orders.>", "--storage",
             "memory", "--max-age", "1h", "--max-bytes", "1MiB", "--dupe-window", "1m",
             "--allow-rollup", "--defaults")  # fmt: skip
    assert out.startswith("Information for Stream ORDERS created ")
    for line in ("Subjects: orders.>", "Storage: Memory", "Retention: Limits",
                 "Maximum Age: 1h0m0s", "Maximum Bytes: 1.0 MiB", "Duplicate Window: 1m0s",
                 "Allows Rollups: true", "Maximum Messages: unlimited", "Messages: 0"):  # fmt: skip
        assert line in out, out
    info = json.loads(ok(cli, js_url, "stream", "info", "ORDERS", "--json"))
    assert "type" not in info and info["config"]["name"] == "ORDERS"
    assert info["config"]["max_age"] == 3600 * 10**9 and info["config"]["storage"] == "memory"
    publish(js_url, "orders.new", [b"one", b"two"])
    out = ok(cli, js_url, "stream", "info", "ORDERS")
    assert "Messages: 2" in out and "Last Sequence: 2 @ " in out
    assert ok(cli, js_url, "stream", "ls", "--names") == "ORDERS\n"
    table = ok(cli, js_url, "stream", "ls")
    assert "Streams" in table and "ORDERS" in table and "Last Message" in table
    report = ok(cli, js_url, "stream", "report")
    assert "Stream Report" in report and "Memory" in report
    assert json.loads(ok(cli, js_url, "stream", "ls", "--names", "--json")) == ["ORDERS"]
    refused = run(cli, js_url, "stream", "rm", "ORDERS")
    assert refused.returncode != 0 and "use -f" in refused.stderr
    ok(cli, js_url, "stream", "rm", "ORDERS", "-f")
    gone = run(cli, js_url, "stream", "info", "ORDERS")
    assert gone.returncode == 1 and gone.stdout == ""
    assert gone.stderr == "natskern: error: stream not found (10059)\n"


def test_edit(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "ED", "--subjects", "ed.*", "--defaults")
    out = ok(
        cli, js_url, "stream", "edit", "ED", "--max-msgs", "100", "--subjects", "ed.*,ed2", "-f"
    )
    assert "max_msgs: -1 -> 100" in out and "Maximum Messages: 100" in out
    assert "Subjects: ed.*, ed2" in out
    same = run(cli, js_url, "stream", "edit", "ED", "--max-msgs", "100", "-f")
    assert same.returncode == 1 and "no configuration change" in same.stderr
    ok(cli, js_url, "stream", "rm", "ED", "-f")


def test_messages_get_view_subjects_rmm_purge(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "MSGS", "--subjects", "m.>", "--defaults")
    publish(js_url, "m.a", [b"a1"], headers={"X-Test": "yes"})
    publish(js_url, "m.b", [b"b1", b"b2"])
    publish(js_url, "m.a", [b"a2"])
    out = ok(cli, js_url, "stream", "get", "MSGS", "1")
    assert out.startswith("Item: MSGS#1 received ") and "on Subject m.a\n" in out
    assert "Headers:\n  X-Test: yes\n\na1\n" in out
    out = ok(cli, js_url, "stream", "get", "MSGS", "--last-for", "m.b")
    assert "MSGS#3" in out and "b2" in out
    msg = json.loads(ok(cli, js_url, "stream", "get", "MSGS", "2", "--json"))
    assert msg["seq"] == 2 and msg["subject"] == "m.b"
    out = ok(cli, js_url, "stream", "view", "MSGS", "--count", "2")
    assert "[1] Subject: m.a Received: " in out and "[2] Subject: m.b" in out and "[3]" not in out
    out = ok(cli, js_url, "stream", "view", "MSGS")
    assert "[4] Subject: m.a" in out and out.endswith("Reached apparent end of data\n")
    out = ok(cli, js_url, "stream", "view", "MSGS", "--subject", "m.b")
    assert "[2] Subject: m.b" in out and "[3] Subject: m.b" in out and "m.a" not in out
    out = ok(cli, js_url, "stream", "subjects", "MSGS")
    assert "2 Subjects in stream" in out and "m.a" in out and "m.b" in out
    assert json.loads(ok(cli, js_url, "stream", "subjects", "MSGS", "m.b", "--json")) == {"m.b": 2}
    ok(cli, js_url, "stream", "rmm", "MSGS", "2", "-f")
    missing = run(cli, js_url, "stream", "get", "MSGS", "2")
    assert missing.returncode == 1 and missing.stderr.startswith(
        "natskern: error: no message found"
    )
    out = ok(cli, js_url, "stream", "purge", "MSGS", "-f", "--subject", "m.a", "--keep", "1")
    assert "Messages: 2" in out
    out = ok(cli, js_url, "stream", "purge", "MSGS", "-f")
    assert "Messages: 0" in out and "First Sequence: 5" in out
    ok(cli, js_url, "stream", "rm", "MSGS", "-f")


def test_config_file_and_errors(cli, js_url: str, tmp_path) -> None:
    conf = tmp_path / "s.json"
    conf.write_text(json.dumps({"name": "CF", "subjects": ["cf.>"], "max_msgs": 5}))
    out = ok(cli, js_url, "stream", "add", "--config", str(conf))
    assert "Information for Stream CF" in out and "Maximum Messages: 5" in out
    clash = run(cli, js_url, "stream", "add", "CF2", "--subjects", "cf.x", "--defaults")
    assert clash.returncode == 1 and clash.stderr.startswith("natskern: error: ")
    assert "Traceback" not in clash.stderr and "overlap" in clash.stderr
    ok(cli, js_url, "stream", "rm", "CF", "-f")
    usage = run(cli, js_url, "stream", "add", "X", "--storage", "disk")
    assert usage.returncode == 2 and usage.stderr.startswith("natskern: error: ")


def test_sub_stream(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "SUBS", "--subjects", "sub.>", "--defaults")
    publish(js_url, "sub.a", [b"first"])
    publish(js_url, "sub.b", [b"second"])
    out = ok(cli, js_url, "sub", "--stream", "SUBS", "--all", "-T")
    assert out.count("Received JetStream message: stream: SUBS") == 2
    assert "seq: 1 / pending: 1 / subject: sub.a / time: " in out and "second" in out
    out = ok(cli, js_url, "sub", "sub.b", "--last", "--count", "1", "--raw")
    assert out == "second\n"
    res = run(cli, js_url, "sub", "nothere.x", "--all", "-T")
    assert res.returncode == 1 and "no stream found with subject: nothere.x" in res.stderr
    out = ok(cli, js_url, "sub", "sub.a", "--durable", "D", "--count", "1", "--subjects-only")
    assert out.startswith("[#1] Received JetStream message: stream: SUBS seq: 1 ")
    names = ok(cli, js_url, "consumer", "ls", "SUBS", "--names")
    assert names == "D\n"  # the durable stays, the ephemeral ones are gone
    ok(cli, js_url, "stream", "rm", "SUBS", "-f")


def test_server_run_jetstream(cli) -> None:
    """``server run --jetstream`` serves JetStream to its ``local`` user's context."""
    from tests.cli.conftest import free_port

    port = free_port()
    bg = cli.spawn("server", "run", "jsdev", "--jetstream", "--port", str(port))
    # The banner, not "Server is ready": it comes once the contexts are saved (the log line
    # comes before, a command started at once may not find the context yet).
    bg.wait_for("Clean on Exit", stdout=True)
    out = cli("--context", "jsdev", "stream", "add", "DEV", "--subjects", "dev.>", "--defaults")
    assert out.returncode == 0, out.stderr
    assert "Information for Stream DEV" in out.stdout
    listed = cli("--context", "jsdev", "stream", "ls", "--names")
    assert listed.stdout == "DEV\n"
    assert (cli.home / ".local" / "share" / "nats" / "jsdev" / "jetstream").is_dir()
    bg.interrupt()
    bg.finish()


def test_copy_and_state(cli, js_url: str) -> None:
    ok(cli, js_url, "stream", "add", "CA", "--subjects", "ca.>", "--max-msgs", "9", "--defaults")
    out = ok(cli, js_url, "stream", "copy", "CA", "CB", "--subjects", "cb.>")
    assert "Information for Stream CB" in out and "Maximum Messages: 9" in out
    publish(js_url, "cb.x", [b"1"])
    out = ok(cli, js_url, "stream", "state", "CB")
    assert out.startswith("State for Stream CB created ") and "Messages: 1" in out
    assert "Limits:" not in out
    for name in ("CA", "CB"):
        ok(cli, js_url, "stream", "rm", name, "-f")


def test_without_jetstream(cli, gnatsd) -> None:
    res = cli("stream", "ls", "-s", gnatsd.url)
    assert res.returncode == 1
    assert res.stderr == "natskern: error: JetStream not enabled (no responders for the API)\n"
