"""Issue 14, CLI items 4-7: exit status, one-line failures, help, subject case, queue line.

Nothing here is decided by timing: the requests that must fail wait for a
reply nobody sends (or the server's own no-responders status), and the
permission errors are confirmed by a server round trip before the CLI reports.
The tests that take ``cli_process`` see exit status and stderr as a shell does:
each command is a real ``python -m natskern.cli`` process; the others run the CLI
in process (tests/cli/conftest.py).
"""

from __future__ import annotations

import pytest

from natskern.cli.connect import restore_case


def _last_error(result) -> str:
    """The run failed; its stderr ends in one ``natskern: error:`` line; return it."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if not x.startswith("natskern: warning:")]
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == [lines[-1]], result.stderr
    assert lines[-1].startswith("natskern: error: "), result.stderr
    return lines[-1]


@pytest.mark.parametrize(
    "extra", [(), ("--raw",), ("--count", "3"), ("--replies", "2"), ("--replies", "0")]
)
def test_no_responders_fails(cli_process, server, extra):
    result = cli_process("request", "nobody.listens", "x", "-s", server.url, *extra)
    line = _last_error(result)
    assert line == 'natskern: error: No responders are available on "nobody.listens"'
    assert result.stdout == ""
    # With --count the first failure stops the run: one request, one error line.
    assert result.stderr.count("Sending request") == (0 if "--raw" in extra else 1)


@pytest.mark.parametrize("extra", [(), ("--raw",), ("--count", "2"), ("--replies", "0")])
def test_no_reply_within_timeout_fails(cli, server, extra):
    silent = cli.spawn("sub", "silent.Service", "-s", server.url)
    silent.wait_for("Subscribing on")
    result = cli("req", "silent.Service", "x", "--timeout", "300ms", "-s", server.url, *extra)
    assert _last_error(result) == 'natskern: error: no reply on "silent.Service" within 300ms'
    assert result.stdout == ""


def test_one_reply_of_several_is_success(cli, server):
    service = cli.spawn("reply", "one.reply", "hi", "--count", "1", "-s", server.url)
    service.wait_for("Listening")
    result = cli("req", "one.reply", "", "--replies", "2", "--raw", "-s", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"


@pytest.mark.parametrize("group", [(), ("context",), ("ctx",), ("server",), ("config",)])
def test_group_alone_prints_its_help(cli_process, group):
    result = cli_process(*group)
    assert result.returncode == 2, result
    assert "\nUsage: natskern" in "\n" + result.stderr, result.stderr
    assert "natskern: error" not in result.stderr
    assert "Commands:" in result.stderr


def test_help_flag_exits_zero(cli_process):
    for group in ((), ("context",), ("server",), ("config",)):
        result = cli_process(*group, "--help")
        assert result.returncode == 0, result
        assert result.stdout.startswith("Usage: natskern"), result.stdout


def test_restore_case():
    text = 'nats: permissions violation for subscription to "_inbox.6ijafp.x"'
    assert restore_case(text, ["_INBOX.6iJAfp.X", "other"]) == (
        'nats: permissions violation for subscription to "_INBOX.6iJAfp.X"'
    )
    assert restore_case('to "abc"', ["ABCD"]) == 'to "abc"'


@pytest.fixture
def denying_server(make_server, tmp_path):
    conf = tmp_path / "perm.conf"
    conf.write_text(
        'authorization { users = [ { user: "a", password: "b", permissions: {'
        ' publish: { deny: ["Secret.>"] }, subscribe: { deny: ["Private.>"] } } } ] }\n'
    )
    with make_server("nats-server", tmp_path, ("-c", str(conf))) as srv:
        yield srv


def test_publish_violation_keeps_subject_case(cli, denying_server):
    result = cli("pub", "Secret.MixedCase", "y", "-s", denying_server.url, "--user", "a",
                 "--password", "b")  # fmt: skip
    line = _last_error(result)
    assert '"Secret.MixedCase"' in line, line


def test_subscribe_violation_keeps_subject_case(cli, denying_server):
    result = cli("sub", "Private.MixedCase", "-s", denying_server.url, "--user", "a",
                 "--password", "b")  # fmt: skip
    line = _last_error(result)
    assert '"Private.MixedCase"' in line, line


def test_queue_subscription_names_its_group(cli, server):
    sub = cli.spawn("sub", "hello.world", "--queue", "greeter", "--count", "1", "-s", server.url)
    line = sub.wait_for("Subscribing on")
    assert line.rstrip("\n").endswith('Subscribing on hello.world in group "greeter"'), line
    assert cli("pub", "hello.world", "x", "-s", server.url).returncode == 0
    assert sub.finish()[0] == 0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("context", "validate", "nope"), 'context validation failed: "nope"'),
        (("context", "info", "nope"), 'unknown context "nope"'),
        (("sub", "a..b"), 'invalid subject "a..b"'),
        (("reply", "a..b", "x"), 'invalid subject "a..b"'),
    ],
)
def test_every_command_fails_with_one_line(cli_process, gnatsd, args, text):
    server = ("-s", gnatsd.url) if args[0] in ("sub", "reply") else ()
    line = _last_error(cli_process(*args, *server))
    assert text in line, line
