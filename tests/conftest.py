"""Shared fixtures: a real natskern broker on loopback, a real nats-server when installed.

Safe under pytest-xdist (``tox`` runs ``pytest -n 3``): every server binds a port the OS
picks, every file goes under pytest's per-worker ``tmp_path``/``tmp_path_factory``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# The project's own tests never pick up whatever plugins happen to be installed.
os.environ.setdefault("NATSKERN_DISABLE_PLUGIN_AUTOLOAD", "1")

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _session_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`natskern serve` keeps JetStream under the user's data directory: never the real one.

    One directory per worker process (under its basetemp, which pytest cleans up), for what
    runs before a test's own fixtures: module- and session-scoped servers.
    """
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if old is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = old


@pytest.fixture(autouse=True)
def _data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and whatever it spawns) gets a data directory of its own."""
    base = tmp_path_factory.getbasetemp() / "xdg-data-per-test"
    base.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_DATA_HOME", tempfile.mkdtemp(dir=base))
