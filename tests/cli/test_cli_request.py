"""Request-reply from the walkthrough: ``reply`` in the background, ``req`` against it."""

from __future__ import annotations

import re
import sys


def test_reply_and_request_walkthrough(cli, server):
    service = cli.spawn("reply", "hello.johan", "Hello Johan :)", "--count", "1", "-s", server.url)
    assert 'Listening on "hello.johan" in group "NATS-RPLY-22"' in service.wait_for("Listening")
    result = cli("req", "hello.johan", "", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello Johan :)\n\n\n"
    assert 'Sending request on "hello.johan"' in result.stderr
    assert re.search(r"Received with rtt \d", result.stderr)
    code, out, err = service.finish()
    assert code == 0
    assert '[#0] Received on subject "hello.johan":' in err
    assert out == "\n\n"  # a blank line, then the (empty) request body


def test_no_responders_is_reported(cli, server):
    result = cli("request", "nobody.listens", "x", "-s", server.url)
    assert result.returncode == 1  # natscli exits 0 here (see README, exit codes)
    assert "No responders are available" in result.stderr
    assert result.stdout == ""


def test_reply_templates_and_echo(cli, server):
    templ = cli.spawn(
        "reply",
        "svc.templ",
        "got {{.Request}} #{{Count}} {{Request}}",
        "--count",
        "2",
        "-s",
        server.url,
    )
    templ.wait_for("Listening")
    first = cli("req", "svc.templ", "ping", "--raw", "-s", server.url)
    second = cli("req", "svc.templ", "pong", "--raw", "-s", server.url)
    assert (first.stdout, second.stdout) == ("got ping #0 ping\n", "got pong #1 pong\n")
    assert templ.finish()[0] == 0

    echo = cli.spawn("reply", "svc.echo", "--echo", "--count", "1", "-s", server.url)
    echo.wait_for("Listening")
    result = cli("req", "svc.echo", "body {{Count}}", "-H", "X-Trace: t{{Count}}", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "body 1\n\n\n"
    assert "X-Trace: t1" in result.stderr
    assert "NATS-Reply-Counter: 0" in result.stderr
    assert echo.finish()[0] == 0


def test_reply_command_uses_subject_tokens(cli, server):
    script = "import os,sys; print(sys.argv[1], os.environ['NATS_REQUEST_BODY'])"
    command = f'{sys.executable} -c "{script}" {{{{1}}}}'
    service = cli.spawn(
        "reply", "weather.>", "--command", command, "--count", "1", "-s", server.url
    )
    service.wait_for("Listening")
    result = cli("req", "weather.london", "today?", "--raw", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "london today?\n"
    assert service.finish()[0] == 0


def test_two_queues_give_two_replies(cli, server):
    services = [
        cli.spawn("reply", "multi", f"from {q}", "-q", q, "--count", "1", "-s", server.url)
        for q in ("a", "b")
    ]
    for service in services:
        service.wait_for("Listening")
    result = cli("req", "multi", "", "--replies", "2", "--raw", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["from a", "from b"]
    for service in services:
        assert service.finish()[0] == 0
