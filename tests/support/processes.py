"""Server processes for tests: start one, wait until it listens, stop it however the test ends.

One helper for what every process-based test needs (nats-server for the differential
tests, ``natskern-server`` and ``natskern serve`` for the end-to-end ones): the output
goes to a file (a pipe nobody reads fills up and blocks the server), a start that fails
raises with the tail of that output, and the process is stopped at the end of the block
(SIGTERM, then SIGKILL if it lingers; or SIGKILL at once, for crash tests).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Literal

__all__ = ["START_DEADLINE", "server_process", "wait_for_port"]

#: How long a server process may take to listen. A safety net only (a broken start fails
#: sooner, when its process exits): the suite runs in parallel workers on machines shared
#: with benchmarks, where a Python start has taken over 10 s.
START_DEADLINE = 60.0


def wait_for_port(
    port: int, timeout: float = START_DEADLINE, proc: subprocess.Popen | None = None
) -> None:
    """Block until something accepts on 127.0.0.1:port (or ``proc``, if given, exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TimeoutError(f"the server exited with {proc.returncode} before port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


@contextlib.contextmanager
def server_process(
    cmd: list[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    cwd: str | Path | None = None,
    stop: Literal["terminate", "kill"] = "terminate",
    stop_timeout: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` for the ``with`` block, once it listens on ``port``; yield the process.

    Its stdout and stderr go to ``log`` (kept for the test to read) or to a temporary
    file.  If it exits or never listens, :class:`RuntimeError` carries the last 2,000
    characters of that output.  At the end: ``stop="terminate"`` sends SIGTERM and, after
    ``stop_timeout`` seconds, SIGKILL; ``stop="kill"`` sends SIGKILL at once (a crash).
    """
    out: IO[bytes] = log.open("wb") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=cwd
        )
        try:
            try:
                wait_for_port(port, proc=proc)
            except TimeoutError as exc:
                out.flush()
                out.seek(0)
                tail = out.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{Path(cmd[0]).name} did not start ({exc}): {tail}") from None
            yield proc
        finally:
            _stop(proc, stop, stop_timeout)
    finally:
        out.close()


def _stop(proc: subprocess.Popen[bytes], how: str, timeout: float) -> None:
    if proc.poll() is not None:
        return
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
