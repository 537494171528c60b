"""The pub/sub part of the walkthrough, end to end against real servers."""

from __future__ import annotations

import re


def test_sub_then_pub_prints_natscli_shape(cli, server):
    sub = cli.spawn("sub", "hello.world", "--count", "2", "-s", server.url)
    assert sub.wait_for("Subscribing on hello.world").rstrip("\n").endswith("hello.world ")
    first = cli("pub", "hello.world", "Johan", "-s", server.url)
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r'\d\d:\d\d:\d\d Published 5 bytes to "hello.world"\n', first.stderr)
    second = cli(
        "pub", "hello.world", "Hi", "-H", "Hdr1: v1", "--reply", "my.reply", "-s", server.url
    )
    assert second.returncode == 0, second.stderr
    code, out, _ = sub.finish()
    assert code == 0
    assert out == (
        '[#1] Received on "hello.world"\nJohan\n\n\n'
        '[#2] Received on "hello.world" with reply "my.reply"\nHdr1: v1\n\nHi\n\n\n'
    )


def test_pub_count_and_sleep_publishes_each_with_templates(cli, server):
    sub = cli.spawn("sub", "tpl.*", "--raw", "--count", "3", "-s", server.url)
    sub.wait_for("Subscribing on")
    result = cli(
        "pub",
        "tpl.{{Count}}",
        "n={{Count}} c={{.Cnt}} r={{ Random 4 4 }} id={{ID}}",
        "--count=3",
        "--sleep=10ms",
        "-s",
        server.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Published") == 3
    assert '"tpl.3"' in result.stderr
    code, out, _ = sub.finish()
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines, 1):
        assert re.fullmatch(rf"n={number} c={number} r=[a-zA-Z0-9]{{4}} id=[0-9A-Za-z]{{22}}", line)


def test_pub_forever_stops_cleanly_on_interrupt(cli, server):
    sub = cli.spawn("sub", "forever", "--count", "2", "-s", server.url)
    sub.wait_for("Subscribing on")
    pub = cli.spawn("pub", "forever", "Johan", "--count=-1", "--sleep=20ms", "-s", server.url)
    pub.wait_for("Published 5 bytes")
    pub.wait_for("Published 5 bytes")
    pub.interrupt()
    code, _, err = pub.finish()
    assert code == 0
    assert "Traceback" not in err
    assert sub.finish()[0] == 0


def test_sub_interrupt_exits_zero(cli, server):
    sub = cli.spawn("sub", "quiet.subject", "-s", server.url)
    sub.wait_for("Subscribing on")
    sub.interrupt()
    code, out, err = sub.finish()
    assert code == 0
    assert out == ""
    assert "Traceback" not in err


def test_queue_group_splits_1000_between_two_subscribers(cli, server):
    members = [
        cli.spawn("sub", "hello.world", "--queue", "greeter", "-s", server.url) for _ in range(2)
    ]
    for member in members:
        member.wait_for("Subscribing on")
    result = cli("pub", "hello.world", "Johan", "--count=1000", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert "Published" not in result.stderr  # a progress bar (on a tty) replaces the lines
    counts = []
    for member in members:
        member.interrupt()  # drains: every message already delivered is printed
        code, out, _ = member.finish()
        assert code == 0
        counts.append(out.count('] Received on "hello.world"'))
    assert sum(counts) == 1000
    assert all(c > 0 for c in counts), counts


def test_wildcard_subscriptions(cli, server):
    patterns = {"hello.*": 1, "first.*.third": 1, "first.>": 2, ">": 4}
    subs = {
        p: cli.spawn("sub", p, "--count", str(n), "-s", server.url) for p, n in patterns.items()
    }
    for sub in subs.values():
        sub.wait_for("Subscribing on")
    for subject in ("hello.world", "first.second.third", "first.x", "other"):
        assert cli("pub", subject, subject, "-s", server.url).returncode == 0
    received = {}
    for pattern, sub in subs.items():
        code, out, _ = sub.finish()
        assert code == 0
        received[pattern] = re.findall(r'Received on "([^"]+)"', out)
    assert received == {
        "hello.*": ["hello.world"],
        "first.*.third": ["first.second.third"],
        "first.>": ["first.second.third", "first.x"],
        ">": ["hello.world", "first.second.third", "first.x", "other"],
    }


def test_headers_only_and_stdin_body(cli, server):
    sub = cli.spawn("sub", "stdin.body", "--count", "2", "--headers-only", "-s", server.url)
    sub.wait_for("Subscribing on")
    piped = cli("pub", "stdin.body", "-H", "K:V", "-s", server.url, input="from stdin")
    assert piped.returncode == 0, piped.stderr
    assert "Reading payload from STDIN" in piped.stderr
    assert "Published 10 bytes" in piped.stderr
    empty = cli("pub", "stdin.body", "", "-s", server.url)
    assert "Published 0 bytes" in empty.stderr
    code, out, _ = sub.finish()
    assert code == 0
    assert out == ('[#1] Received on "stdin.body"\nK: V\n\n[#2] Received on "stdin.body"\n')
