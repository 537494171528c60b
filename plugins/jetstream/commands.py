"""The JetStream plugin's commands: ``natskern stream`` and ``natskern consumer``.

Registered through the ``register_commands`` hook.  When the root group can
import commands lazily (natskern's :class:`~natskern.cli.groups.AliasGroup`),
they are only imported when used, so ``natskern serve`` does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from natskern.kernel.hookspecs import hookimpl

#: command name → (``module:attribute``, natscli's aliases).
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "stream": ("natskern.plugins.jetstream.cli.stream:stream_group", ("str", "st", "ms", "s")),
    "consumer": ("natskern.plugins.jetstream.cli.consumer:consumer_group", ("con", "obs", "c")),
}


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``stream`` and ``consumer`` (with natscli's aliases) to the root group."""
    lazy = getattr(cli, "lazy", None)
    aliases = getattr(cli, "aliases", None)
    for name, (target, names) in COMMANDS.items():
        if isinstance(lazy, dict):
            lazy[name] = target
        else:
            module, _, attr = target.partition(":")
            cli.add_command(getattr(importlib.import_module(module), attr), name)
        if isinstance(aliases, dict):
            for alias in names:
                aliases.setdefault(alias, name)
