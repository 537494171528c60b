"""``natskern server run``: the development broker, its users and its contexts."""

from __future__ import annotations

import json
import re
import stat

import pytest

pytestmark = pytest.mark.usefixtures("require_natskern")


def start_dev(cli, *args: str):
    """Start ``server run`` and return (process, {user: password}, url) from its banner."""
    bg = cli.spawn("server", "run", *args)
    bg.wait_for("Clean on Exit", stdout=True)
    banner = "".join(bg.stdout)
    passwords = dict(re.findall(r"User: (\w+)\s+Password: (\w+) Context:", banner))
    url = re.search(r"URL: (nats://\S+)", banner).group(1)
    return bg, passwords, url


def test_dev_server_walkthrough(cli):
    bg, passwords, url = start_dev(cli, "devx")
    assert set(passwords) == {"local", "service", "system"}
    assert all(re.fullmatch(r"[a-zA-Z0-9]{32}", p) for p in passwords.values())
    for name, user in (("devx", "local"), ("devx_service", "service"), ("devx_system", "system")):
        path = cli.context_dir / f"{name}.json"
        saved = json.loads(path.read_text())
        assert (saved["user"], saved["password"], saved["url"]) == (user, passwords[user], url)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (
        "Local user access"
        in json.loads((cli.context_dir / "devx.json").read_text())["description"]
    )

    # The walkthrough: select the context, reply in the background, request.
    assert cli("context", "select", "devx").returncode == 0
    service = cli.spawn("reply", "hello.johan", "Hello Johan :)", "--count", "1")
    service.wait_for("Listening")
    # Accounts isolate: the SERVICE account does not reach USER's responder.
    other = cli("--context", "devx_service", "req", "hello.johan", "")
    assert "No responders are available" in other.stderr
    answer = cli("req", "hello.johan", "")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == "Hello Johan :)\n\n\n"
    assert service.finish()[0] == 0

    # A wrong password is refused with one line.
    refused = cli("pub", "x", "y", "--password", "wrong")
    assert refused.returncode == 1 and "Authorization Violation" in refused.stderr

    bg.proc.terminate()
    code, _, err = bg.finish()
    assert code == 0, err
    assert "Traceback" not in err


def test_restart_reuses_credentials_and_clean_removes_contexts(cli):
    first, passwords, url = start_dev(cli, "again")
    first.interrupt()
    assert first.finish()[0] == 0
    second, passwords2, url2 = start_dev(cli, "again", "--clean")
    assert (passwords2, url2) == (passwords, url)
    assert cli("--context", "again_system", "pub", "x", "y").returncode == 0
    second.interrupt()
    assert second.finish()[0] == 0
    assert not list(cli.context_dir.glob("again*.json"))


def test_service_import_from_service_account(cli):
    bg, _, _ = start_dev(cli, "imp")
    try:
        svc = cli.spawn("--context", "imp_service", "reply", "service.echo", "svc {{.Request}}",
                        "--count", "1")  # fmt: skip
        svc.wait_for("Listening")
        result = cli("--context", "imp", "req", "imports.SERVICE.echo", "hi", "--raw")
        assert result.stdout == "svc hi\n", result.stderr
    finally:
        bg.interrupt()
        bg.finish()
