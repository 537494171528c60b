"""Shared fixtures: a real natskern broker on loopback, a real nats-server when installed."""

from __future__ import annotations

import os

# The project's own tests never pick up whatever plugins happen to be installed.
os.environ.setdefault("NATSKERN_DISABLE_PLUGIN_AUTOLOAD", "1")

pytest_plugins = ["tests.support.fixtures"]
