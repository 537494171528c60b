"""SIGTERM and SIGINT stop the server programs gracefully with exit status 0.

(nats-server 2.9 itself exits 1 on SIGTERM; natskern reports a requested,
clean shutdown as success, which is what service managers expect.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.monitoring.conftest import REPO, server_env
from tests.support.servers import free_port, wait_for_port

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.monitoring.conftest import ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_natskern_server_exits_0_and_removes_its_pid_file(
    natskern_server: Callable[..., ServerProcess], tmp_path: Path, sig: signal.Signals
) -> None:
    pid_file = tmp_path / "server.pid"
    server = natskern_server(f"listen: 127.0.0.1:{{port}}\npid_file: {pid_file}\n")
    assert pid_file.read_text() == str(server.proc.pid)
    server.proc.send_signal(sig)
    assert server.wait_exit() == 0
    log = server.log.read_text()
    assert log.index("Initiating Shutdown...") < log.index("Server Exiting..")
    assert not pid_file.exists()


def test_natskern_serve_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "natskern.cli", "serve", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env(),
            cwd=REPO,
        )
    try:
        wait_for_port(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Server Exiting.." in log.read_text()
