"""Measure start-up time: exec of a server command to its first accepted connection.

Not a test (timing never decides a test); run it by hand::

    python tests/monitoring/startup_time.py [runs]

For each command it starts the server on a free loopback port, connects as soon
as the port accepts, waits for the INFO line and records the elapsed time, then
stops the server with SIGTERM.  Prints min / median / max in milliseconds.

Python commands run twice: as the environment says (where
``PYTHONDONTWRITEBYTECODE`` is set, every run compiles every module) and with a
warm bytecode cache in a temporary ``PYTHONPYCACHEPREFIX`` (what an installed
package gets).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from natskern.testing import find_nats_server


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_info(
    cmd: list[str], port: int, env: dict[str, str] | None = None, timeout: float = 20.0
) -> float:
    """Seconds from exec of ``cmd`` until a client on ``port`` has read INFO."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or os.environ
    )
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), 1.0) as sock:
                    if sock.recv(4096).startswith(b"INFO "):
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.0005)
        raise TimeoutError(" ".join(cmd))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def commands(port: int) -> dict[str, list[str]]:
    """The commands compared: nats-server, natskern-server, natskern serve (direct python)."""
    py = sys.executable
    cmds = {
        "natskern-server -p": [
            py,
            "-m",
            "natskern.natsconf.main",
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        "natskern serve -p": [py, "-m", "natskern.cli", "serve", "-p", str(port)],
    }
    for script in ("natskern-server",):
        path = shutil.which(script)
        if path:
            cmds[f"{script} (console script)"] = [path, "-a", "127.0.0.1", "-p", str(port)]
    nats = find_nats_server("2.9")
    if nats:
        cmds["nats-server -p"] = [nats, "-a", "127.0.0.1", "-p", str(port)]
    return cmds


def main() -> None:
    """Run every command ``runs`` times and print the timings."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cached = dict(os.environ)
    cached.pop("PYTHONDONTWRITEBYTECODE", None)
    cached["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="natskern-pyc-")
    variants: dict[str, tuple[str, dict[str, str] | None]] = {}
    for name in commands(0):
        variants[name] = (name, None)
        if not name.startswith("nats-server"):
            variants[name + " [pyc]"] = (name, cached)
    results: dict[str, list[float]] = {label: [] for label in variants}
    for name, env in variants.values():  # warm-up (fills the bytecode cache)
        port = free_port()
        time_to_info(commands(port)[name], port, env)
    for _ in range(runs):
        for label, (name, env) in variants.items():
            port = free_port()
            results[label].append(time_to_info(commands(port)[name], port, env) * 1000)
    for name, values in results.items():
        print(
            f"{name:42s} min {min(values):7.1f} ms  median {statistics.median(values):7.1f} ms"
            f"  max {max(values):7.1f} ms"
        )


if __name__ == "__main__":
    os.environ.setdefault("NATSKERN_DISABLE_PLUGIN_AUTOLOAD", "1")
    main()
