"""Bad input and failing servers: one clear line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import pytest


def test_unreachable_server(cli, error_line, unused_port):
    port = unused_port
    line = error_line(cli("pub", "x", "y", "-s", f"nats://127.0.0.1:{port}"))
    assert f"could not connect to nats://127.0.0.1:{port}" in line


def test_unknown_context(cli, error_line):
    line = error_line(cli("pub", "x", "y", "--context", "nope"))
    assert 'unknown context "nope"' in line


@pytest.mark.parametrize("header", ["no-colon", "bad key:v"])
def test_malformed_header(cli, error_line, header):
    line = error_line(cli("pub", "x", "y", "-H", header, "-s", "nats://127.0.0.1:1"))
    assert "invalid header" in line and header in line


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("pub",), "Missing argument 'SUBJECT'"),
        (("pub", "x", "--count", "many"), "'many' is not a valid integer"),
        (("pub", "x", "y", "--sleep", "1q"), "invalid duration"),
        (("frobnicate",), "No such command 'frobnicate'"),
    ],
)
def test_usage_errors(cli, error_line, args, text):
    result = cli(*args)
    assert result.returncode == 2
    assert text in error_line(result)


def test_removing_selected_context_needs_force(cli, error_line):
    assert cli("context", "add", "sel", "--select").returncode == 0
    assert "--force" in error_line(cli("context", "rm", "sel"))


def test_authorization_and_permission_errors(cli, error_line, make_server, tmp_path):
    conf = tmp_path / "auth.conf"
    conf.write_text(
        'authorization { users = [ { user: "a", password: "b",'
        ' permissions: { publish: { deny: ["secret.>"] } } } ] }\n'
    )
    with make_server("nats-server", tmp_path, ("-c", str(conf))) as server:
        line = error_line(cli("pub", "x", "y", "-s", server.url, "--user", "a", "--password", "no"))
        assert "Authorization Violation" in line
        ok = cli("pub", "open", "y", "-s", server.url, "--user", "a", "--password", "b")
        assert ok.returncode == 0, ok.stderr
        denied = cli("pub", "secret.x", "y", "-s", server.url, "--user", "a", "--password", "b")
        assert "permissions violation" in error_line(denied).lower()
