"""Issue 14 item 11: ``--user/--pass`` on the command line with a ``users`` array in the file.

nats-server 2.9.10 starts and authenticates against the users array alone (the
flag user is refused); natskern-server does the same and logs a warning saying
the flags were ignored.  Checked against nats-server itself when installed.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from natskern.natsconf.flags import parse_flags
from natskern.natsconf.main import load
from natskern.natsconf.main import main as server_main
from natskern.testing import find_nats_server
from tests.natsconf.test_natsconf_main import free_port

CONF = "authorization { users = [ { user: a, password: b } ] }\n"
FLAGS = ("--user", "flagu", "--pass", "flagp")


def test_flag_user_is_ignored_with_a_users_array(tmp_path: Path) -> None:
    conf = tmp_path / "users.conf"
    conf.write_text(CONF)
    translation = load(parse_flags(["-c", str(conf), *FLAGS]))
    assert [line for line in translation.ignored if "--user and --pass ignored" in line]
    assert not translation.warnings
    dumped = repr(translation.model)
    assert "flagu" not in dumped and "flagp" not in dumped


def test_flag_user_without_users_array_still_applies(tmp_path: Path) -> None:
    translation = load(parse_flags(list(FLAGS)))
    assert "flagu" in repr(translation.model)
    assert not [line for line in translation.ignored if "ignored:" in line and "--user" in line]


def test_check_passes_like_nats_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    conf = tmp_path / "users.conf"
    conf.write_text(CONF)
    assert server_main(["-t", "-c", str(conf), *FLAGS]) == 0
    assert "is valid" in capsys.readouterr().err


def _connect(port: int, user: str, password: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.recv(65536)
        sock.sendall(b'CONNECT {"verbose":false,"user":"%s","pass":"%s"}\r\nPING\r\n'
                     % (user.encode(), password.encode()))  # fmt: skip
        data = b""
        while b"PONG" not in data and b"-ERR" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _serve(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(2000):  # bounded wait for the listener
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server did not listen")


@pytest.mark.parametrize("kind", ["nats-server", "natskern"])
def test_users_array_wins_at_start(tmp_path: Path, kind: str) -> None:
    conf = tmp_path / "users.conf"
    conf.write_text(CONF)
    port = free_port()
    if kind == "nats-server":
        binary = find_nats_server("2.9")
        if binary is None:
            pytest.skip("nats-server 2.9 is not installed")
        cmd = [binary]
    else:
        cmd = [sys.executable, "-m", "natskern.natsconf.main"]
    proc = _serve([*cmd, "-a", "127.0.0.1", "-p", str(port), "-c", str(conf), *FLAGS], port)
    try:
        assert b"PONG" in _connect(port, "a", "b")
        assert b"Authorization Violation" in _connect(port, "flagu", "flagp")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    if kind == "natskern":
        assert "--user and --pass ignored" in err, err
