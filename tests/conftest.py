"""Shared fixtures: a real natskern broker on loopback, a real nats-server when installed."""

from __future__ import annotations

import os
import tempfile

# The project's own tests never pick up whatever plugins happen to be installed.
os.environ.setdefault("NATSKERN_DISABLE_PLUGIN_AUTOLOAD", "1")
# `natskern serve` keeps JetStream under the user's data directory: never the real one in tests.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="natskern-tests-data-")

pytest_plugins = ["tests.support.fixtures"]
